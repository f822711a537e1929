#include "qat/number_format.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "qat/errors.h"

namespace qat {

const char* scheme_name(Scheme s) {
  return s == Scheme::kPow2 ? "pow2" : "affine";
}
const char* granularity_name(Granularity g) {
  return g == Granularity::kPerTensor ? "tensor" : "channel";
}

IntRange int_range(int bits, bool is_signed) {
  if (bits < 2 || bits > 32) throw Error("bit width " + std::to_string(bits) + " not in 2..32");
  if (is_signed) return {-(int64_t{1} << (bits - 1)), (int64_t{1} << (bits - 1)) - 1};
  return {0, (int64_t{1} << bits) - 1};
}

int64_t round_half_up(double x) {
  return static_cast<int64_t>(std::floor(x + 0.5));
}

int pow2_frac_bits(double max_abs, int bits) {
  const int64_t qmax = int_range(bits, true).qmax;
  if (!(max_abs > 0.0) || !std::isfinite(max_abs)) return bits - 1;
  // Start from the textbook bits - 1 - ceil(log2(max)) and step down while max would saturate.
  int n = bits - 1 - static_cast<int>(std::ceil(std::log2(max_abs)));
  while (round_half_up(std::ldexp(max_abs, n)) > qmax) --n;
  // ...and up while the next finer format still holds max (log2 rounding at exact powers of 2).
  while (round_half_up(std::ldexp(max_abs, n + 1)) <= qmax) ++n;
  return n;
}

AffineParams affine_params(double min, double max, int bits, bool symmetric, bool is_signed) {
  const IntRange r = int_range(bits, is_signed);
  min = std::min(min, 0.0);
  max = std::max(max, 0.0);
  if (symmetric) {
    const double amax = std::max(-min, max);
    if (is_signed) {
      const double scale = amax > 0 ? amax / static_cast<double>(r.qmax) : 1.0;
      return {scale, 0};
    }
    // Unsigned symmetric: zero at the middle code.
    const int64_t mid = (r.qmax + 1) / 2;
    const double scale = amax > 0 ? amax / static_cast<double>(r.qmax - mid) : 1.0;
    return {scale, mid};
  }
  if (!(max - min > 0.0)) return {1.0, is_signed ? 0 : r.qmin};
  const double scale = (max - min) / static_cast<double>(r.qmax - r.qmin);
  const int64_t zp = std::clamp(r.qmin - round_half_up(min / scale), r.qmin, r.qmax);
  return {scale, zp};
}

QFormat QFormat::pow2(int bits, std::vector<int> frac_bits, bool per_channel) {
  QFormat f;
  f.scheme = Scheme::kPow2;
  f.bits = bits;
  f.is_signed = true;
  f.per_channel = per_channel;
  for (int n : frac_bits) {
    f.scale.push_back(std::ldexp(1.0, -n));
    f.zero_point.push_back(0);
  }
  f.frac_bits = std::move(frac_bits);
  return f;
}

QFormat QFormat::affine(int bits, bool is_signed, std::vector<double> scale,
                        std::vector<int64_t> zero_point, bool per_channel) {
  QFormat f;
  f.scheme = Scheme::kAffine;
  f.bits = bits;
  f.is_signed = is_signed;
  f.per_channel = per_channel;
  f.scale = std::move(scale);
  f.zero_point = std::move(zero_point);
  return f;
}

int64_t QFormat::quantize(double x, size_t c) const {
  const int64_t q = scheme == Scheme::kPow2 ? round_half_up(std::ldexp(x, frac_bits_at(c)))
                                            : round_half_up(x / scale_at(c)) + zero_point_at(c);
  return std::clamp(q, qmin(), qmax());
}

double QFormat::dequantize(int64_t q, size_t c) const {
  return static_cast<double>(q - zero_point_at(c)) * scale_at(c);
}

std::string QFormat::str() const {
  std::ostringstream o;
  const std::string type = std::string(is_signed ? "int" : "uint") + std::to_string(bits);
  if (scheme == Scheme::kPow2) {
    if (per_channel) {
      const auto [lo, hi] = std::minmax_element(frac_bits.begin(), frac_bits.end());
      o << "pow2 " << type << " per-channel n=" << *lo << ".." << *hi;
    } else {
      o << "Q" << bits - frac_bits[0] << "." << frac_bits[0] << " (" << type << ")";
    }
  } else if (per_channel) {
    const auto [lo, hi] = std::minmax_element(scale.begin(), scale.end());
    o << "affine " << type << " per-channel s=" << *lo << ".." << *hi;
  } else {
    o << "affine " << type << " s=" << scale[0] << " zp=" << zero_point[0];
  }
  return o.str();
}

nlohmann::json QFormat::to_json() const {
  nlohmann::json j{{"scheme", scheme_name(scheme)}, {"bits", bits},   {"signed", is_signed},
                   {"per_channel", per_channel},    {"scale", scale}, {"zero_point", zero_point}};
  if (scheme == Scheme::kPow2) j["frac_bits"] = frac_bits;
  return j;
}

QFormat QFormat::from_json(const nlohmann::json& j) {
  const std::string s = j.at("scheme").get<std::string>();
  const int bits = j.at("bits").get<int>();
  if (bits < 1 || bits > 32) throw Error("format bits " + std::to_string(bits) + " not in 1..32");
  if (s == "pow2") {
    const auto frac_bits = j.at("frac_bits").get<std::vector<int>>();
    for (int n : frac_bits)
      if (n < -64 || n > 64)
        throw Error("format frac_bits " + std::to_string(n) + " not in -64..64");
    return pow2(bits, frac_bits, j.at("per_channel").get<bool>());
  }
  if (s == "affine")
    return affine(bits, j.at("signed").get<bool>(), j.at("scale").get<std::vector<double>>(),
                  j.at("zero_point").get<std::vector<int64_t>>(), j.at("per_channel").get<bool>());
  throw Error("unknown quantization scheme '" + s + "' (allowed: pow2, affine)");
}

bool QFormat::operator==(const QFormat& o) const {
  return scheme == o.scheme && bits == o.bits && is_signed == o.is_signed &&
         per_channel == o.per_channel && frac_bits == o.frac_bits && scale == o.scale &&
         zero_point == o.zero_point;
}

FixedMultiplier quantize_multiplier(double m, int mult_bits) {
  if (!(m > 0.0) || !std::isfinite(m))
    throw Error("requantization multiplier must be positive and finite, got " + std::to_string(m));
  int e = 0;
  const double frac = std::frexp(m, &e);  // m = frac * 2^e, frac in [0.5, 1)
  int64_t mult = round_half_up(std::ldexp(frac, mult_bits));
  if (mult == (int64_t{1} << mult_bits)) {
    mult /= 2;
    ++e;
  }
  int shift = mult_bits - e;
  if (shift > 62) {  // tiny multiplier: keep the largest shift, lose leading precision
    mult = round_half_up(std::ldexp(m, 62));
    shift = 62;
  }
  if (shift < 0)
    throw Error("requantization multiplier " + std::to_string(m) + " is too large for a " +
                std::to_string(mult_bits) + "-bit fixed-point multiplier");
  return {mult, shift};
}

int64_t shift_round(int64_t x, int shift) {
  if (shift > 0) {
    if (shift >= 63) return 0;  // |x| < 2^62 always holds for accumulators
    // floor((x + 2^(s-1)) / 2^s): arithmetic shift of a signed value.
    return (x + (int64_t{1} << (shift - 1))) >> shift;
  }
  if (shift == 0) return x;
  // Exact left shift. Anything beyond 2^32 saturates every supported output type, so clamp first
  // (keeps the product in range) and cap the shift at 30 (1 << 30 saturates int16 already).
  const int k = std::min(-shift, 30);
  const int64_t lim = int64_t{1} << 32;
  return std::clamp(x, -lim, lim) * (int64_t{1} << k);
}

int64_t apply_multiplier(int64_t acc, const FixedMultiplier& fm) {
  return shift_round(acc * fm.multiplier, fm.shift);
}

int multiplier_bits_for(int64_t acc_bound) {
  int bitlen = 0;
  while (bitlen < 63 && (int64_t{1} << bitlen) <= acc_bound) ++bitlen;
  return std::min(31, 62 - bitlen);
}

int64_t Requant::apply(int64_t acc, size_t c) const {
  if (scheme == Scheme::kPow2) return shift_round(acc, shift[shift.size() > 1 ? c : 0]);
  return apply_multiplier(acc, multiplier[multiplier.size() > 1 ? c : 0]);
}

Requant make_requant(const QFormat& in, const QFormat& weight, const QFormat& out,
                     int64_t acc_bound) {
  if (in.per_channel || out.per_channel) throw Error("activation formats must be per tensor");
  if (in.scheme != weight.scheme || in.scheme != out.scheme)
    throw Error(std::string("mixed quantization schemes (input ") + scheme_name(in.scheme) +
                ", weights " + scheme_name(weight.scheme) + ", output " + scheme_name(out.scheme) +
                ") are not supported in one layer");
  Requant r;
  r.scheme = in.scheme;
  const size_t channels = weight.channels();
  for (size_t c = 0; c < channels; ++c) {
    if (r.scheme == Scheme::kPow2) {
      r.shift.push_back(in.frac_bits[0] + weight.frac_bits_at(c) - out.frac_bits[0]);
    } else {
      const int bits = multiplier_bits_for(acc_bound);
      if (bits < 16)
        throw Error("accumulator bound " + std::to_string(acc_bound) +
                    " leaves fewer than 16 bits for the affine requantization multiplier");
      r.multiplier.push_back(
          quantize_multiplier(in.scale[0] * weight.scale_at(c) / out.scale[0], bits));
    }
  }
  return r;
}

AddRescale make_add_rescale(const QFormat& a, const QFormat& b, const QFormat& out) {
  if (a.per_channel || b.per_channel || out.per_channel)
    throw Error("add: activation formats must be per tensor");
  if (a.scheme != out.scheme || b.scheme != out.scheme)
    throw Error("add: inputs and output must use the same quantization scheme");
  AddRescale r;
  if (out.scheme == Scheme::kPow2) {
    const int na = a.frac_bits[0], nb = b.frac_bits[0], ny = out.frac_bits[0];
    r.shift = std::max({0, na - ny, nb - ny});
    const int ea = r.shift + ny - na, eb = r.shift + ny - nb;
    if (ea > 30 || eb > 30)
      throw Error("add: output format Q" + std::to_string(out.bits - ny) + "." +
                  std::to_string(ny) + " is more than 2^30 finer than an input");
    r.ma = int64_t{1} << ea;
    r.mb = int64_t{1} << eb;
    return r;
  }
  const double ra = a.scale[0] / out.scale[0], rb = b.scale[0] / out.scale[0];
  int e = 0;
  std::frexp(std::max(ra, rb), &e);  // max ratio in [2^(e-1), 2^e)
  r.shift = std::min(46, 31 - e);
  if (r.shift < 0) throw Error("add: input scale more than 2^31 times the output scale");
  r.ma = round_half_up(std::ldexp(ra, r.shift));
  r.mb = round_half_up(std::ldexp(rb, r.shift));
  if (r.ma >= (int64_t{1} << 31) || r.mb >= (int64_t{1} << 31)) {
    --r.shift;
    r.ma = round_half_up(std::ldexp(ra, r.shift));
    r.mb = round_half_up(std::ldexp(rb, r.shift));
  }
  return r;
}

int64_t rounded_mean(int64_t sum, int64_t count) {
  // floor((2 sum + count) / (2 count)) with floor division for negative numerators.
  const int64_t num = 2 * sum + count, den = 2 * count;
  int64_t q = num / den;
  if ((num % den != 0) && (num < 0)) --q;
  return q;
}

}  // namespace qat
