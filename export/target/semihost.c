/* Semihosting calls (Arm semihosting specification v2, M-profile: `bkpt 0xAB`, r0 = operation,
 * r1 = argument). */
#include "semihost.h"

#define QAT_SYS_WRITE0 0x04u
#define QAT_SYS_EXIT 0x18u
#define QAT_SYS_EXIT_EXTENDED 0x20u
#define QAT_ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t qat_semihost_call(uint32_t operation, const void* argument) {
  register uint32_t r0 __asm__("r0") = operation;
  register const void* r1 __asm__("r1") = argument;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void qat_write(const char* text) {
  (void)qat_semihost_call(QAT_SYS_WRITE0, text);
}

void qat_exit(int status) {
  /* The 32-bit SYS_EXIT cannot carry a status (only "application exit" = success vs anything
   * else = failure); SYS_EXIT_EXTENDED takes {reason, status} and QEMU returns the status. */
  uint32_t block[2];
  block[0] = QAT_ADP_STOPPED_APPLICATION_EXIT;
  block[1] = (uint32_t)status;
  (void)qat_semihost_call(QAT_SYS_EXIT_EXTENDED, block);
  /* A host without the extended call: report at least success/failure. */
  (void)qat_semihost_call(
      QAT_SYS_EXIT, (const void*)(uintptr_t)(status == 0 ? QAT_ADP_STOPPED_APPLICATION_EXIT : 0u));
  for (;;) {
  }
}

void qat_line_begin(qat_line* line, const char* text) {
  line->length = 0;
  line->text[0] = '\0';
  qat_line_str(line, text);
}

void qat_line_str(qat_line* line, const char* text) {
  /* Keep two bytes for the final '\n' and the terminator. */
  while (*text != '\0' && line->length + 2u < sizeof(line->text))
    line->text[line->length++] = *text++;
  line->text[line->length] = '\0';
}

void qat_line_u64(qat_line* line, uint64_t value) {
  char digits[21];
  int n = 20;
  digits[n] = '\0';
  do {
    digits[--n] = (char)('0' + (int)(value % 10u));
    value /= 10u;
  } while (value != 0u);
  qat_line_str(line, digits + n);
}

void qat_line_hex(qat_line* line, uint32_t value) {
  static const char hex[] = "0123456789abcdef";
  char digits[11];
  int i;
  digits[0] = '0';
  digits[1] = 'x';
  for (i = 0; i < 8; ++i) digits[2 + i] = hex[(value >> (28 - 4 * i)) & 0xFu];
  digits[10] = '\0';
  qat_line_str(line, digits);
}

void qat_line_end(qat_line* line) {
  line->text[line->length++] = '\n';
  line->text[line->length] = '\0';
  qat_write(line->text);
}
