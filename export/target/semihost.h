/*
 * Semihosting output and exit for the deployment harness (C99).
 *
 * Semihosting lets the program print and report its exit status through the debugger or the
 * emulator (QEMU: -semihosting-config enable=on,target=native) without any UART driver. Each
 * call is a `bkpt 0xAB`: on a board without a debugger attached it faults, so a real-board port
 * replaces this file with a UART writer (see docs/DEPLOY.md).
 */
#ifndef QAT_SEMIHOST_H
#define QAT_SEMIHOST_H

#include <stdint.h>

/* Writes a NUL-terminated string to the host console (SYS_WRITE0). */
void qat_write(const char* text);

/* Ends the program with an exit status the host sees (SYS_EXIT_EXTENDED). Never returns. */
void qat_exit(int status);

/* One output line assembled in a fixed buffer and written with a single call, so lines from
 * the harness never interleave with anything else. Overlong lines are truncated. */
typedef struct {
  char text[256];
  uint32_t length;
} qat_line;

void qat_line_begin(qat_line* line, const char* text);
void qat_line_str(qat_line* line, const char* text);
void qat_line_u64(qat_line* line, uint64_t value);
void qat_line_hex(qat_line* line, uint32_t value);
void qat_line_end(qat_line* line); /* appends '\n' and writes the line */

#endif /* QAT_SEMIHOST_H */
