#include "export/packing.h"

#include <string>

#include "qat/errors.h"

namespace qat::exporter {

int64_t packed_bytes(int64_t count, int bits) {
  return (count * bits + 7) / 8;
}

std::vector<uint8_t> pack_weights(const std::vector<int32_t>& values, int bits) {
  if (bits != 2 && bits != 4)
    throw ExportError("packed weights are 2 or 4 bits, not " + std::to_string(bits));
  const int32_t lo = -(1 << (bits - 1)), hi = (1 << (bits - 1)) - 1;
  const uint32_t mask = (1u << bits) - 1u;
  std::vector<uint8_t> out(
      static_cast<size_t>(packed_bytes(static_cast<int64_t>(values.size()), bits)), 0);
  for (size_t i = 0; i < values.size(); ++i) {
    const int32_t v = values[i];
    if (v < lo || v > hi)
      throw ExportError("weight " + std::to_string(v) + " at index " + std::to_string(i) +
                        " does not fit " + std::to_string(bits) + " bits");
    const size_t bit = i * static_cast<size_t>(bits);
    out[bit / 8] =
        static_cast<uint8_t>(out[bit / 8] | ((static_cast<uint32_t>(v) & mask) << (bit % 8)));
  }
  return out;
}

}  // namespace qat::exporter
