// Packed sub-byte weights (the layout of qk.h, "Packed weights"): values in [-2^(bits-1),
// 2^(bits-1) - 1] as one little-endian stream, `bits` (4 or 2) bits each, the first in the lowest
// bits of byte 0, ceil(count * bits / 8) bytes, the unused high bits of the last byte zero. The
// host engine and the C generator both store packed weights through pack_weights(), and the
// kernels read them back with the inverse (qk_unpack_s8 and the kernels' own unpacking).
#pragma once

#include <cstdint>
#include <vector>

namespace qat::exporter {

int64_t packed_bytes(int64_t count, int bits);
// Throws ExportError when a value does not fit `bits` or bits is not 2 or 4.
std::vector<uint8_t> pack_weights(const std::vector<int32_t>& values, int bits);

}  // namespace qat::exporter
