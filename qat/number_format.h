// Number formats and the integer arithmetic shared by training (fake quantization), the host
// integer engine and the exporter. Torch-free. The one rounding rule is round half up,
// floor(x + 0.5); every requantization saturates to the target range (DESIGN.md contract).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace qat {

enum class Scheme { kPow2, kAffine };
enum class Granularity { kPerTensor, kPerChannel };

const char* scheme_name(Scheme s);
const char* granularity_name(Granularity g);

struct IntRange {
  int64_t qmin;
  int64_t qmax;
};
// [-2^(b-1), 2^(b-1)-1] signed, [0, 2^b-1] unsigned; bits in 2..32.
IntRange int_range(int bits, bool is_signed);

// floor(x + 0.5): 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, 2.5 -> 3.
int64_t round_half_up(double x);

// Power of two: the largest n such that max_abs * 2^n rounds (half up) to at most qmax, i.e.
// the finest Qm.n format that does not clip the observed range. max_abs == 0 gives bits - 1.
// Equals bits - 1 - ceil(log2(max_abs)) except where that format would saturate max_abs.
int pow2_frac_bits(double max_abs, int bits);

struct AffineParams {
  double scale;
  int64_t zero_point;
};
// Range [min, max] (widened to contain 0) -> scale and zero point. Symmetric: zero point 0 (or
// the mid code for unsigned), scale = max|x| / qmax. A degenerate range gives scale 1.
AffineParams affine_params(double min, double max, int bits, bool symmetric, bool is_signed);

// The quantization format of one tensor: per tensor (one entry) or per output channel.
struct QFormat {
  Scheme scheme = Scheme::kPow2;
  int bits = 8;
  bool is_signed = true;
  bool per_channel = false;
  std::vector<int> frac_bits;       // pow2 only: scale = 2^-frac_bits
  std::vector<double> scale;        // real = scale * (q - zero_point)
  std::vector<int64_t> zero_point;  // 0 for pow2 and symmetric affine

  int64_t qmin() const { return int_range(bits, is_signed).qmin; }
  int64_t qmax() const { return int_range(bits, is_signed).qmax; }
  size_t channels() const { return scale.size(); }
  double scale_at(size_t c) const { return scale[per_channel ? c : 0]; }
  int64_t zero_point_at(size_t c) const { return zero_point[per_channel ? c : 0]; }
  int frac_bits_at(size_t c) const { return frac_bits[per_channel ? c : 0]; }

  static QFormat pow2(int bits, std::vector<int> frac_bits, bool per_channel = false);
  static QFormat affine(int bits, bool is_signed, std::vector<double> scale,
                        std::vector<int64_t> zero_point, bool per_channel = false);

  // Integer code of a real value (per-tensor formats, or channel c).
  int64_t quantize(double x, size_t c = 0) const;
  double dequantize(int64_t q, size_t c = 0) const;

  std::string str() const;  // "Q3.5 (int8)", "affine int8 s=0.0123 zp=-5", "pow2 int8 per-channel"
  nlohmann::json to_json() const;
  static QFormat from_json(const nlohmann::json& j);
  bool operator==(const QFormat& o) const;
};

// A positive real multiplier as an integer and a right shift: M ~= multiplier * 2^-shift, with
// multiplier < 2^mult_bits (normalised to [2^(mult_bits-1), 2^mult_bits) when possible) and
// shift in [0, 62]. Applied as (acc * multiplier + 2^(shift-1)) >> shift in 64 bits.
struct FixedMultiplier {
  int64_t multiplier = 0;
  int shift = 0;
};
FixedMultiplier quantize_multiplier(double m, int mult_bits = 31);

// Round-half-up arithmetic right shift of a 64-bit value (shift 0 is the identity; shift < 0 is
// an exact left shift). The reference for the C kernels' requantization.
int64_t shift_round(int64_t x, int shift);
// (acc * fm.multiplier + 2^(shift-1)) >> shift, requires |acc * multiplier| < 2^62.
int64_t apply_multiplier(int64_t acc, const FixedMultiplier& fm);

// Largest multiplier precision such that |acc| <= acc_bound keeps acc * multiplier within 2^62.
int multiplier_bits_for(int64_t acc_bound);

// Requantization of a conv/linear accumulator (scale s_in * s_w[c]) into the output format,
// per output channel. pow2: a pure shift by n_in + n_w[c] - n_out (negative: left shift).
// affine: fixed-point multiplier s_in * s_w[c] / s_out.
struct Requant {
  Scheme scheme = Scheme::kPow2;
  std::vector<int> shift;                   // pow2: right shift per channel
  std::vector<FixedMultiplier> multiplier;  // affine: per channel
  int64_t apply(int64_t acc, size_t c) const;
};
Requant make_requant(const QFormat& in, const QFormat& weight, const QFormat& out,
                     int64_t acc_bound);

// Rescaling of an add: y = zp_y + shift_round((a - zp_a) * ma + (b - zp_b) * mb, shift).
// pow2: exact powers of two; affine: ma/mb ~= s_a / s_y * 2^shift, both < 2^31.
struct AddRescale {
  int64_t ma = 1;
  int64_t mb = 1;
  int shift = 0;
  int64_t apply(int64_t a_minus_zp, int64_t b_minus_zp) const {
    return shift_round(a_minus_zp * ma + b_minus_zp * mb, shift);
  }
};
AddRescale make_add_rescale(const QFormat& a, const QFormat& b, const QFormat& out);

// Round-half-up integer mean used by average pooling: floor(sum / count + 1/2).
int64_t rounded_mean(int64_t sum, int64_t count);

}  // namespace qat
