/* SysTick tick counter (Armv7-M System Timer, ARMv7-M ARM section B3.3). */
#include "systick.h"

#define QAT_SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define QAT_SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define QAT_SYST_CVR (*(volatile uint32_t*)0xE000E018u)
#define QAT_SCB_ICSR (*(volatile uint32_t*)0xE000ED04u)

#define QAT_CSR_ENABLE (1u << 0)
#define QAT_CSR_TICKINT (1u << 1)
#define QAT_CSR_CLKSOURCE (1u << 2) /* 1: processor clock, 0: the board's reference clock */
#define QAT_ICSR_PENDSTSET (1u << 26)
#define QAT_ICSR_PENDSTCLR (1u << 25)

/* Overridable only to test the wrap handling with short periods. */
#ifndef QAT_SYSTICK_RELOAD
#define QAT_SYSTICK_RELOAD 0x00FFFFFFu
#endif
#define QAT_RELOAD ((uint32_t)QAT_SYSTICK_RELOAD)

static volatile uint32_t qat_wraps;

void SysTick_Handler(void) {
  ++qat_wraps;
}

void qat_systick_start(void) {
  QAT_SYST_CSR = 0u;
  QAT_SCB_ICSR = QAT_ICSR_PENDSTCLR;
  /* The reload value must be set before enabling: a zero reload stops the counter. */
  QAT_SYST_RVR = QAT_RELOAD;
  QAT_SYST_CVR = 0u; /* any write clears the counter; it reloads on the next tick */
  qat_wraps = 0u;
  QAT_SYST_CSR = QAT_CSR_CLKSOURCE | QAT_CSR_TICKINT | QAT_CSR_ENABLE;
}

void qat_systick_stop(void) {
  QAT_SYST_CSR = 0u;
  QAT_SCB_ICSR = QAT_ICSR_PENDSTCLR;
}

uint64_t qat_systick_now(void) {
  uint32_t primask, wraps, value;
  __asm__ volatile("mrs %0, primask" : "=r"(primask));
  __asm__ volatile("cpsid i" ::: "memory");
  wraps = qat_wraps;
  value = QAT_SYST_CVR;
  /* A wrap whose exception is still pending (it happened just before or after the read above)
   * is not in qat_wraps yet: count it and re-read, so the value is certainly post-wrap. */
  if ((QAT_SCB_ICSR & QAT_ICSR_PENDSTSET) != 0u) {
    value = QAT_SYST_CVR;
    ++wraps;
  }
  __asm__ volatile("msr primask, %0" ::"r"(primask) : "memory");
  /* Started at 0, the counter reloads on the first tick and then counts down, so t ticks after
   * the start it holds (-t) mod period, and the wrap exception (1 -> 0) has fired floor(t /
   * period) times. Hence t = wraps * period + (period - value) mod period. */
  return (uint64_t)wraps * (QAT_RELOAD + 1u) + ((QAT_RELOAD + 1u - value) % (QAT_RELOAD + 1u));
}

void qat_calibration_loop(uint32_t iterations) {
  /* Two 16-bit Thumb instructions per iteration; written in assembly so the count does not
   * depend on the compiler. */
  __asm__ volatile(
      "1:\n\t"
      "subs %0, %0, #1\n\t"
      "bne 1b"
      : "+l"(iterations)
      :
      : "cc");
}
