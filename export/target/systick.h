/*
 * SysTick as a free-running tick counter for timing inferences (C99, Armv7-M).
 *
 * The 24-bit counter runs from the processor clock (CLKSOURCE = 1) with reload 0xFFFFFF, and the
 * SysTick exception counts wraps, so an interval may span any number of wraps (at 25 MHz one
 * wrap is 0.67 s, i.e. 671 million instructions under QEMU -icount shift=0).
 *
 * What one tick means depends on the clock: on hardware it is one processor cycle; under QEMU
 * with -icount shift=0 it is 40 instructions on the MPS2 boards (see docs/DEPLOY.md), which is
 * why the harness reports a calibration loop of known length next to every measurement.
 */
#ifndef QAT_SYSTICK_H
#define QAT_SYSTICK_H

#include <stdint.h>

/* Starts counting from 0 (resets the wrap count) with the SysTick exception enabled. */
void qat_systick_start(void);

/* Stops the counter and disables the SysTick exception. */
void qat_systick_stop(void);

/* Ticks since qat_systick_start(); monotonic, consistent across wraps. */
uint64_t qat_systick_now(void);

/* Executes exactly 2 * iterations instructions (a `subs` / `bne` loop) plus a few for the call,
 * to calibrate ticks against instructions. iterations must be >= 1. */
void qat_calibration_loop(uint32_t iterations);

/* The exception handler (installed in the vector table by startup.c). */
void SysTick_Handler(void);

#endif /* QAT_SYSTICK_H */
