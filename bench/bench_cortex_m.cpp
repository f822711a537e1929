// Cortex-M kernel benchmark: instructions per MAC of the portable reference kernels vs the
// optimized Armv7E-M (DSP) kernels, on emulated Cortex-M4 / Cortex-M7 (QEMU, -icount shift=0),
// with flash, static RAM and stack, for the networks of the kernel issue:
//   - MicroAI ResNetv1-6 (UCI-HAR input [9, 128]) at 16, 32, 48, 64, 80 filters,
//   - MLPerf Tiny ResNet-8 (32x32x3, 16/32/64 filters, 10 classes),
//   - MobileNetV2 0.35 at 96x96 (10 classes).
// Each model gets random weights (fixed seed), is calibrated on random inputs, lowered to an
// IntModel, exported as C with test vectors from the host integer engine, and deployed twice
// per core: with -DQK_USE_DSP (optimized kernels) and without (reference). Both must be
// bit-exact against the host engine. Results: a table on stdout, and JSON with --json FILE.
//
//   bench_cortex_m [--models resnet8,har16,...] [--targets cortex-m4,cortex-m7]
//                  [--formats pow2,affine,w4,mixed,int16] [--vectors N] [--json FILE] [--keep DIR]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "bench/bench_util.h"
#include "export/codegen.h"
#include "export/deploy.h"
#include "export/engine.h"
#include "export/lower.h"
#include "export/program.h"
#include "models/mobilenet.h"
#include "models/resnet.h"
#include "qat/errors.h"
#include "qat/graph_module.h"
#include "qat/random_model.h"

namespace {

namespace fs = std::filesystem;
using namespace qat;
using namespace qat::exporter;
using bench::split;
using bench::thousands;

struct ModelSpec {
  std::string key, label;
  Graph graph;
  int vectors;  // test vectors per deployment (fewer for the big models)
};

std::vector<ModelSpec> all_models() {
  std::vector<ModelSpec> m;
  for (int f : {16, 32, 48, 64, 80}) {
    models::ResNetOptions o;  // MicroAI ResNetv1-6 defaults (3 kernels, strides 1,1,2, max pool)
    o.input = {9, 128};
    o.num_classes = 6;
    o.filters = {f, f, f};
    o.batch_norm = false;
    m.push_back({"har" + std::to_string(f), "ResNetv1-6 UCI-HAR f=" + std::to_string(f),
                 models::build_resnet(o), 4});
  }
  {
    const models::ResNetOptions r8 = models::mlperf_resnet8_options();
    m.push_back({"resnet8", "ResNet-8 (MLPerf Tiny) 32x32x3", models::build_resnet(r8), 2});
  }
  {
    models::MobileNetOptions o;
    o.input = {3, 96, 96};
    o.num_classes = 10;
    o.width = 0.35;
    m.push_back({"mbv2", "MobileNetV2 0.35 96x96", models::build_mobilenet_v2(o), 1});
  }
  return m;
}

// The formats: pow2 / affine int8, pow2 with 4-bit weights (w4a8), pow2 mixed precision
// (mixed_precision_config: 4 / 2 / 8-bit weights in turn, int16 input and every third layer),
// pow2 int16 (16-bit weights and activations, a Qm.n per tensor).
QuantConfig format_config(const std::string& fmt, const Graph& g) {
  if (fmt == "affine") return quant_config_for(Scheme::kAffine, 8);
  if (fmt == "w4") return weight_bits_config(Scheme::kPow2, 4);
  if (fmt == "mixed") return mixed_precision_config(g, Scheme::kPow2);
  if (fmt == "int16") return quant_config_for(Scheme::kPow2, 16);
  return quant_config_for(Scheme::kPow2, 8);
}

std::string format_label(const std::string& fmt) {
  return fmt == "affine"  ? "affine int8"
         : fmt == "w4"    ? "pow2 w4a8"
         : fmt == "mixed" ? "pow2 mixed"
         : fmt == "int16" ? "pow2 int16"
                          : "pow2 int8";
}

// Random weights (fixed seed), batchnorm statistics randomised then folded, calibrated on
// random normal inputs, lowered.
IntModel prepare(const Graph& g, const std::string& fmt) {
  GraphModule q = random_calibrated_model(g, format_config(fmt, g), 1234, 3, 8);
  return lower(*q, identity_input_meta(g));
}

// Writes the C export with `n` test vectors: random normal inputs quantized with the model's
// input format, expected outputs from the host integer engine.
void write_export(const IntModel& im, const Program& p, int n, const fs::path& dir) {
  const std::vector<TestVector> tv = bench::random_normal_vectors(im, p, n);
  fs::remove_all(dir);
  write_c_export(im, p, tv, dir.string(), CodegenOptions{});
}

struct Row {
  std::string model, format, target;
  int64_t macs = 0, scratch = 0, arena = 0;
  DeployResult ref, opt;
};

void print_table(const std::vector<Row>& rows) {
  std::printf(
      "\n| model | format | core | MACs | weights + constants (B) | instr/inference ref | "
      "instr/inference opt | instr/MAC ref | instr/MAC opt | speedup | flash ref / opt (B) | "
      "static RAM (arena; largest scratch, inside it) (B) | stack ref / opt (B) | bit-exact |\n"
      "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | "
      "--- |\n");
  for (const auto& r : rows) {
    const bool exact = r.ref.passed() && r.opt.passed();
    std::printf(
        "| %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %.2fx | %s / %s | %s (%s; %s) | "
        "%lld / %lld | %s |\n",
        r.model.c_str(), r.format.c_str(), r.target.c_str(), thousands(double(r.macs)).c_str(),
        thousands(double(r.opt.weight_bytes)).c_str(), thousands(r.ref.mean_instructions).c_str(),
        thousands(r.opt.mean_instructions).c_str(), r.ref.instructions_per_mac,
        r.opt.instructions_per_mac, r.ref.mean_instructions / r.opt.mean_instructions,
        thousands(double(r.ref.flash_bytes())).c_str(),
        thousands(double(r.opt.flash_bytes())).c_str(),
        thousands(double(r.opt.ram_bytes())).c_str(), thousands(double(r.arena)).c_str(),
        thousands(double(r.scratch)).c_str(), static_cast<long long>(r.ref.stack_bytes),
        static_cast<long long>(r.opt.stack_bytes),
        exact ? (std::to_string(r.opt.vectors) + "/" + std::to_string(r.opt.vectors)).c_str()
              : "NO");
  }
  // Cycles (export/cycle_model.h): the M4 and M7 timing models applied to a traced inference of
  // vector 0; the wait-state column adds 5 cycles per pipeline refill (the NUCLEO-L4R5ZI of the
  // MLPerf Tiny v1.0 Cortex-M4 results runs at 120 MHz with 5 flash wait states), with no
  // instruction cache (an upper bound where the ART accelerator caches the loops).
  std::printf(
      "\n| model | format | core | est. cycles ref | est. cycles opt | cycles/MAC ref | "
      "cycles/MAC opt | cycles/instr opt | cycles/MAC opt, 5 wait states | ms opt at 120 MHz |\n"
      "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const auto& r : rows) {
    if (!r.ref.cycles || !r.opt.cycles) continue;
    const CycleEstimate& a = *r.ref.cycles;
    const CycleEstimate& b = *r.opt.cycles;
    std::printf("| %s | %s | %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.1f |\n", r.model.c_str(),
                r.format.c_str(), r.target.c_str(), thousands(a.cycles).c_str(),
                thousands(b.cycles).c_str(), a.cycles_per_mac(r.macs), b.cycles_per_mac(r.macs),
                b.cycles / static_cast<double>(b.instructions),
                b.cycles_at_wait_states(5) / static_cast<double>(r.macs), b.cycles / 120e3);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> want_models, targets = {"cortex-m4", "cortex-m7"},
                                        formats = {"pow2", "affine"};
  int vectors_override = 0;
  std::string json_path, keep;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--models")
      want_models = split(next());
    else if (a == "--targets")
      targets = split(next());
    else if (a == "--formats")
      formats = split(next());
    else if (a == "--vectors")
      vectors_override = std::atoi(next().c_str());
    else if (a == "--json")
      json_path = next();
    else if (a == "--keep")
      keep = next();
    else {
      std::fprintf(
          stderr,
          "usage: bench_cortex_m [--models har16,...,resnet8,mbv2] [--targets "
          "cortex-m4,cortex-m7] [--formats pow2,affine,w4,mixed,int16] [--vectors N] [--json FILE] "
          "[--keep DIR]\n");
      return 2;
    }
  }
  try {
    check_deploy_tools();
  } catch (const ExportError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  torch::set_num_threads(1);

  std::vector<Row> rows;
  nlohmann::json json = nlohmann::json::array();
  bool all_exact = true;
  for (const auto& spec : all_models()) {
    if (!want_models.empty() &&
        std::find(want_models.begin(), want_models.end(), spec.key) == want_models.end())
      continue;
    for (const auto& fmt : formats) {
      if (fmt != "pow2" && fmt != "affine" && fmt != "w4" && fmt != "mixed" && fmt != "int16") {
        std::fprintf(stderr, "unknown format '%s'; allowed: pow2, affine, w4, mixed, int16\n",
                     fmt.c_str());
        return 2;
      }
      const IntModel im = prepare(spec.graph, fmt);
      const Program p = build_program(im);
      const int n = vectors_override > 0 ? vectors_override : spec.vectors;
      const fs::path dir =
          keep.empty() ? fs::temp_directory_path() / ("qat_bench_cortex_m_" + spec.key + "_" + fmt +
                                                      "_" + std::to_string(::getpid()))
                       : fs::path(keep) / (spec.key + "_" + fmt);
      write_export(im, p, n, dir);
      for (const auto& target : targets) {
        Row r;
        r.model = spec.label;
        r.format = format_label(fmt);
        r.target = target;
        r.macs = p.macs();
        r.scratch = p.scratch_bytes;
        r.arena = p.plan.arena_bytes;
        DeployOptions o;
        o.target = target;
        o.timeout_seconds = 1800;
        // With --keep, the builds stay next to the export (image, map, build.sh).
        if (!keep.empty()) o.build_dir = (dir / ("build-" + target + "-ref")).string();
        o.extra_cflags = {};  // portable reference kernels
        r.ref = deploy(dir.string(), o);
        if (!keep.empty()) o.build_dir = (dir / ("build-" + target + "-opt")).string();
        o.extra_cflags = {"-DQK_USE_DSP"};
        r.opt = deploy(dir.string(), o);
        all_exact = all_exact && r.ref.passed() && r.opt.passed();
        std::fprintf(stderr,
                     "%-34s %-12s %-10s ref %.2f opt %.2f instr/MAC, opt %.2f est. cycles/MAC "
                     "(%s)\n",
                     r.model.c_str(), r.format.c_str(), target.c_str(), r.ref.instructions_per_mac,
                     r.opt.instructions_per_mac,
                     r.opt.cycles ? r.opt.cycles->cycles_per_mac(r.macs) : 0.0,
                     r.ref.passed() && r.opt.passed() ? "bit-exact" : "MISMATCH");
        json.push_back({{"model", spec.key},
                        {"label", spec.label},
                        {"format", r.format},
                        {"target", target},
                        {"macs", r.macs},
                        {"scratch_bytes", r.scratch},
                        {"arena_bytes", r.arena},
                        {"reference", to_json(r.ref)},
                        {"optimized", to_json(r.opt)}});
        rows.push_back(std::move(r));
      }
      if (keep.empty()) fs::remove_all(dir);
    }
  }
  print_table(rows);
  if (!json_path.empty()) std::ofstream(json_path) << json.dump(2) << "\n";
  return all_exact ? 0 : 1;
}
