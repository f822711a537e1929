/* Packed weights and the conversions between int8 and int16 tensors. */
#include "qk.h"
#include "qk_internal.h"

void qk_unpack_s8(const uint8_t* packed, int32_t bits, int32_t first, int32_t n, int8_t* out) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t k = first + i;
    out[i] = (int8_t)(bits == 4   ? qk__w4_at(packed, k)
                      : bits == 2 ? qk__w2_at(packed, k)
                                  : (int32_t)(int8_t)packed[k]);
  }
}

void qk_cast_s8_s16(int32_t size, const int8_t* in, int16_t* out) {
  int32_t i;
  for (i = 0; i < size; ++i) out[i] = in[i];
}

void qk_cast_s16_s8(int32_t size, const int16_t* in, int8_t* out) {
  int32_t i;
  for (i = 0; i < size; ++i)
    out[i] = (int8_t)(in[i] > INT8_MAX ? INT8_MAX : in[i] < INT8_MIN ? INT8_MIN : in[i]);
}
