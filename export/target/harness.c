/*
 * Deployment harness (C99): runs the test vectors of an exported model on the target, checks
 * every output code against the host integer engine's, times each inference with SysTick and
 * measures the stack the model uses. Results go out as machine-readable lines (semihosting):
 *
 *   QAT begin vectors <n> inputs <elements> outputs <elements>
 *   QAT calibration loop_instructions <i> ticks <t> overhead_ticks <o>
 *   QAT vector <v> ticks <t> mismatches <m>
 *   QAT stack bytes <b> painted <p> repeat_mismatches <r>
 *   QAT summary vectors <n> mismatches <m> repeat_mismatches <r> stack_bytes <b>
 *
 * (mismatches: output codes that differ from the expected ones; repeat_mismatches: codes of a
 * second run of vector 0 that differ from its first run, i.e. state leaking between inferences)
 * and the exit status is 0 when both are 0, 1 otherwise (3 on a fault).
 *
 * The model is chosen at compile time: -DQAT_MODEL=<name> (default `model`) selects <name>.h,
 * <name>_vectors.h and the symbols <name>_run, <name>_vector_inputs, <name>_vector_outputs.
 * -DQAT_VECTORS=<n> runs only the first n vectors.
 *
 * -DQAT_PROFILE builds the profiling image instead (`qat deploy` cycle estimate): one inference
 * of vector 0 between calls of qat_profile_begin() and qat_profile_end(), which a QEMU execution
 * trace uses to find the inference, then
 *
 *   QAT profile mismatches <m>
 */
#include <stddef.h>
#include <stdint.h>

#include "semihost.h"
#include "systick.h"

#ifndef QAT_MODEL
#define QAT_MODEL model
#endif

#define QAT_CAT_(a, b) a##b
#define QAT_CAT(a, b) QAT_CAT_(a, b)
#define QAT_SYM(suffix) QAT_CAT(QAT_MODEL, suffix)
#define QAT_STR_(x) #x
#define QAT_STR(x) QAT_STR_(x)

/* "<name>_vectors.h" (it includes <name>.h). */
#include QAT_STR(QAT_SYM(_vectors).h)

typedef QAT_SYM(_output_t) qat_act;

/* Sizes from the arrays themselves: the upper-case macros of the export (<NAME>_VECTORS) cannot
 * be formed from the lower-case prefix by the preprocessor. */
#define QAT_ALL_VECTORS (sizeof(QAT_SYM(_vector_inputs)) / sizeof(QAT_SYM(_vector_inputs)[0]))
#define QAT_INPUTS (sizeof(QAT_SYM(_vector_inputs)[0]) / sizeof(QAT_SYM(_vector_inputs)[0][0]))
#define QAT_OUTPUTS (sizeof(QAT_SYM(_vector_outputs)[0]) / sizeof(QAT_SYM(_vector_outputs)[0][0]))

#if defined(QAT_VECTORS)
#define QAT_RUN_VECTORS \
  ((size_t)QAT_VECTORS < QAT_ALL_VECTORS ? (size_t)QAT_VECTORS : QAT_ALL_VECTORS)
#else
#define QAT_RUN_VECTORS QAT_ALL_VECTORS
#endif

/* Iterations of the calibration loop: 2 million instructions, long enough for a tick
 * resolution of 40 instructions to be exact to 1 in 50000. */
#define QAT_CALIBRATION_ITERATIONS 1000000u

/* Stack painting pattern; the deepest word that no longer holds it marks the high-water mark. */
#define QAT_STACK_PATTERN 0xC5AC5AC5u

/* Lowest address of the stack region (end of .bss), from the linker script. */
extern uint32_t __stack_limit[];

static qat_act qat_output[QAT_OUTPUTS];

static uint32_t qat_count_mismatches(size_t vector) {
  uint32_t mismatches = 0u;
  size_t i;
  for (i = 0; i < QAT_OUTPUTS; ++i)
    if (qat_output[i] != QAT_SYM(_vector_outputs)[vector][i]) ++mismatches;
  return mismatches;
}

static void qat_print_pair(qat_line* line, const char* key, uint64_t value) {
  qat_line_str(line, " ");
  qat_line_str(line, key);
  qat_line_str(line, " ");
  qat_line_u64(line, value);
}

#if !defined(QAT_PROFILE)
static qat_act qat_first_output[QAT_OUTPUTS]; /* vector 0, first run */

/* Runs vector 0 once more with the stack below this function's frame painted and returns the
 * bytes the model used below the caller's stack pointer (*painted: bytes painted). noinline:
 * painting happens below this frame's stack pointer, so no call may be active meanwhile and
 * the frame itself must stay fixed while it runs. SysTick must be stopped, or its exception
 * frames would count as model stack. *repeat_mismatches: output codes that differ from the
 * first run of vector 0. */
static __attribute__((noinline)) uint32_t qat_measure_stack(uint32_t* painted,
                                                            uint32_t* repeat_mismatches) {
  uint32_t* sp;
  uint32_t* p;
  size_t i;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  for (p = __stack_limit; p < sp; ++p) *p = QAT_STACK_PATTERN;
  (void)QAT_SYM(_run)(QAT_SYM(_vector_inputs)[0], qat_output);
  for (p = __stack_limit; p < sp && *p == QAT_STACK_PATTERN; ++p) {
  }
  *painted = (uint32_t)((uintptr_t)sp - (uintptr_t)__stack_limit);
  *repeat_mismatches = 0u;
  for (i = 0; i < QAT_OUTPUTS; ++i)
    if (qat_output[i] != qat_first_output[i]) ++*repeat_mismatches;
  return (uint32_t)((uintptr_t)sp - (uintptr_t)p);
}
#endif

#if defined(QAT_PROFILE)
/* Markers for the execution trace. Different bodies, so that no identical-code folding merges
 * them; noinline, so that each is a call of its own. */
volatile uint32_t qat_profile_mark;
__attribute__((noinline)) void qat_profile_begin(void) {
  qat_profile_mark = 1u;
}
__attribute__((noinline)) void qat_profile_end(void) {
  qat_profile_mark = 2u;
}

int main(void) {
  qat_line line;
  qat_profile_begin();
  (void)QAT_SYM(_run)(QAT_SYM(_vector_inputs)[0], qat_output);
  qat_profile_end();
  qat_line_begin(&line, "QAT profile");
  qat_print_pair(&line, "mismatches", qat_count_mismatches(0));
  qat_line_end(&line);
  return 0;
}
#else
int main(void) {
  qat_line line;
  uint64_t start, ticks, overhead;
  uint32_t total_mismatches = 0u, stack_bytes, painted, repeat_mismatches;
  size_t v;

  qat_line_begin(&line, "QAT begin");
  qat_print_pair(&line, "vectors", QAT_RUN_VECTORS);
  qat_print_pair(&line, "inputs", QAT_INPUTS);
  qat_print_pair(&line, "outputs", QAT_OUTPUTS);
  qat_line_end(&line);

  /* Calibration: ticks for a loop of known instruction count, and for an empty interval (the
   * cost of reading the timer itself). */
  qat_systick_start();
  start = qat_systick_now();
  qat_calibration_loop(QAT_CALIBRATION_ITERATIONS);
  ticks = qat_systick_now() - start;
  start = qat_systick_now();
  overhead = qat_systick_now() - start;
  qat_line_begin(&line, "QAT calibration");
  qat_print_pair(&line, "loop_instructions", 2u * (uint64_t)QAT_CALIBRATION_ITERATIONS);
  qat_print_pair(&line, "ticks", ticks);
  qat_print_pair(&line, "overhead_ticks", overhead);
  qat_line_end(&line);

  for (v = 0; v < QAT_RUN_VECTORS; ++v) {
    uint32_t mismatches;
    start = qat_systick_now();
    (void)QAT_SYM(_run)(QAT_SYM(_vector_inputs)[v], qat_output);
    ticks = qat_systick_now() - start;
    mismatches = qat_count_mismatches(v);
    if (v == 0) {
      size_t i;
      for (i = 0; i < QAT_OUTPUTS; ++i) qat_first_output[i] = qat_output[i];
    }
    total_mismatches += mismatches;
    qat_line_begin(&line, "QAT vector");
    qat_line_str(&line, " ");
    qat_line_u64(&line, v);
    qat_print_pair(&line, "ticks", ticks);
    qat_print_pair(&line, "mismatches", mismatches);
    qat_line_end(&line);
  }
  qat_systick_stop();

  stack_bytes = qat_measure_stack(&painted, &repeat_mismatches);
  qat_line_begin(&line, "QAT stack");
  qat_print_pair(&line, "bytes", stack_bytes);
  qat_print_pair(&line, "painted", painted);
  qat_print_pair(&line, "repeat_mismatches", repeat_mismatches);
  qat_line_end(&line);

  qat_line_begin(&line, "QAT summary");
  qat_print_pair(&line, "vectors", QAT_RUN_VECTORS);
  qat_print_pair(&line, "mismatches", total_mismatches);
  qat_print_pair(&line, "repeat_mismatches", repeat_mismatches);
  qat_print_pair(&line, "stack_bytes", stack_bytes);
  qat_line_end(&line);
  return total_mismatches == 0u && repeat_mismatches == 0u ? 0 : 1;
}
#endif
