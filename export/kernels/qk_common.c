/* Scalar arithmetic shared by every kernel: the one rounding rule and requantization. */
#include "qk.h"
#include "qk_internal.h"

int64_t qk_shift_round(int64_t x, int32_t shift) {
  return qk__shift_round(x, shift);
}

int64_t qk_requantize(int64_t acc, const qk_requant* rq, int32_t channel) {
  return qk__requantize(acc, rq, channel);
}
