// The host integer engine: executes a Program with the qk kernel library, exactly the calls the
// generated model.c makes on the target. `qat eval --engine int` reports accuracy from it.
#pragma once

#include <cstdint>
#include <vector>

#include "export/codegen.h"
#include "export/fusion.h"
#include "export/program.h"

namespace qat::exporter {

// How the engine reads packed 4-bit / 2-bit weights of unfused calls.
enum class PackedWeights {
  kAsStored,  // the packed kernels, on the bytes model.c stores: what the target runs
  // The same values unpacked once to int8 and the int8 kernel: identical outputs (the packed
  // kernels only read their weights differently), without unpacking per MAC, about four times
  // faster on the host. For scoring (run_batch); tests of the packed path use kAsStored.
  kUnpackedOnce
};

class Engine {
 public:
  explicit Engine(const Program& program, PackedWeights packed = PackedWeights::kAsStored);

  // One inference: input codes channels-last (program.input_elements()), output codes.
  void run(const std::vector<int32_t>& input, std::vector<int32_t>& output);

  // Test hook: after every call, overwrite the arena bytes of buffers whose lifetime ended and
  // of the call's scratch (where no live buffer is) with a pattern, so a plan that overlapped
  // live data, or a kernel that kept state in its scratch, changes the results.
  void set_poison_dead_buffers(bool on) { poison_ = on; }

  // Codes of one buffer after the last run (debugging, per-layer comparisons).
  std::vector<int32_t> buffer_codes(int buffer) const;

 private:
  void* ptr(int buffer);
  void poison_dead(size_t call);
  const Program& p_;
  std::vector<int64_t> arena_;  // 8-byte aligned storage
  std::vector<int64_t> input_;  // the external input buffer (the caller's on the target)
  // Per call, the weights in the kernel's storage type (empty for calls without weights).
  std::vector<std::vector<int8_t>> w8_;
  std::vector<std::vector<int16_t>> w16_;
  // Per call, the kernel the engine runs: the program's, or its int8 row under kUnpackedOnce.
  std::vector<const KernelEntry*> kernel_;
  // Per fused call: the executor's block description and its layers' weights.
  struct Fused {
    FusedDescriptor d;
    std::vector<std::vector<int8_t>> w8;
    std::vector<std::vector<int16_t>> w16;
  };
  std::vector<std::unique_ptr<Fused>> fused_;
  bool poison_ = false;
};

// Quantizes one normalised channel-first float sample into channels-last input codes.
std::vector<int32_t> quantize_input(const float* chw, const Shape& shape, const QFormat& f);

// Test vectors with uniformly random input codes (seeded) and the engine's outputs for them.
struct TestVector;
std::vector<TestVector> random_test_vectors(const IntModel& m, const Program& p, int n,
                                            uint32_t seed = 1234);

// Runs N normalised samples ([N, C, ...] floats, contiguous) and returns the dequantized outputs
// [N, outputs], using `threads` worker threads (one engine each, packed weights unpacked once).
std::vector<double> run_batch(const IntModel& m, const Program& p, const float* inputs, int64_t n,
                              int threads);

}  // namespace qat::exporter
