/*
 * Startup for the deployment harness on Armv7-M (Cortex-M4F / Cortex-M7), C99.
 *
 * The core loads the initial stack pointer from word 0 of the vector table and jumps to the
 * reset handler (word 1). The reset handler enables the FPU, copies .data from its load address
 * in the code region, zeroes .bss, runs main() and reports its return value as the exit status.
 * Symbols come from the board linker script (mps2_an386.ld / mps2_an500.ld).
 */
#include <stdint.h>

#include "semihost.h"
#include "systick.h"

extern uint32_t __data_load[];
extern uint32_t __data_start[];
extern uint32_t __data_end[];
extern uint32_t __bss_start[];
extern uint32_t __bss_end[];
extern uint32_t __stack_top[];

int main(void);
void qat_reset_handler(void);
void qat_fault_handler(void);
void qat_unexpected_handler(void);

#define QAT_SCB_CPACR (*(volatile uint32_t*)0xE000ED88u)
#define QAT_SCB_CFSR (*(volatile uint32_t*)0xE000ED28u)
#define QAT_SCB_HFSR (*(volatile uint32_t*)0xE000ED2Cu)

/* A vector is a handler address, except entry 0 which is the initial stack pointer; a union
 * keeps the table free of object-to-function pointer casts (not valid ISO C). */
typedef union {
  void (*handler)(void);
  uint32_t* stack;
} qat_vector;

/* 16 system exceptions + 32 external interrupts (the MPS2 AN386/AN500 images use fewer). No
 * interrupt is enabled by the harness; a stray one is reported instead of running off. */
__attribute__((section(".isr_vector"), used))
const qat_vector qat_vectors[48] = {{.stack = __stack_top},
                                    {qat_reset_handler},
                                    {qat_fault_handler}, /* NMI */
                                    {qat_fault_handler}, /* HardFault */
                                    {qat_fault_handler}, /* MemManage */
                                    {qat_fault_handler}, /* BusFault */
                                    {qat_fault_handler}, /* UsageFault */
                                    {0},
                                    {0},
                                    {0},
                                    {0},
                                    {qat_unexpected_handler}, /* SVCall */
                                    {qat_unexpected_handler}, /* DebugMonitor */
                                    {0},
                                    {qat_unexpected_handler}, /* PendSV */
                                    {SysTick_Handler},
                                    /* External interrupts 0..31. */
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler},
                                    {qat_unexpected_handler}};

void qat_reset_handler(void) {
  uint32_t* src = __data_load;
  uint32_t* dst = __data_start;
  /* CP10/CP11 full access first: code built with -mfloat-abi=hard may use FPU registers (even
   * for plain moves), and an FPU instruction with the coprocessor disabled is a UsageFault. */
  QAT_SCB_CPACR |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  while (dst < __data_end) *dst++ = *src++;
  for (dst = __bss_start; dst < __bss_end; ++dst) *dst = 0u;
  qat_exit(main());
}

static void qat_report_exception(const char* what) {
  qat_line line;
  uint32_t ipsr;
  __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
  qat_line_begin(&line, "QAT fault ");
  qat_line_str(&line, what);
  qat_line_str(&line, " exception ");
  qat_line_u64(&line, ipsr & 0x1FFu);
  qat_line_str(&line, " cfsr ");
  qat_line_hex(&line, QAT_SCB_CFSR);
  qat_line_str(&line, " hfsr ");
  qat_line_hex(&line, QAT_SCB_HFSR);
  qat_line_end(&line);
  qat_exit(3);
}

void qat_fault_handler(void) {
  qat_report_exception("fault");
}

void qat_unexpected_handler(void) {
  qat_report_exception("unexpected");
}
