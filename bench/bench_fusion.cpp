// Fused-layer / patch-based execution benchmark: peak RAM and Cortex-M instructions of layer by
// layer execution against the fusion scheduler (export/schedule.h) at several arena budgets,
// measured by deploying each export on QEMU (static RAM, stack, instructions per inference, bit
// exactness against the host engine), for the networks of the fusion issue:
//   MobileNetV2 0.35 at 96, 144 and 176 px, ResNet-8 (MLPerf Tiny), TinyissimoYOLO 88x88,
//   ResNetv1-6 (UCI-HAR, the bundled demo's architecture).
// Budgets are arena (static RAM) budgets in bytes; `lw` is layer by layer; a budget the
// scheduler cannot meet is reported with the smallest arena it found. Random weights (fixed
// seed), pow2 int8, DSP kernels, -O2.
//
//   bench_fusion [--models mbv2_144,resnet8,...] [--target cortex-m4] [--vectors N]
//                [--ram-limit BYTES] [--json FILE]
// mbv2_320 runs only when named: bench_fusion --models mbv2_320 --target cortex-m7
// --ram-limit 524288 (the board's RAM cut to 512 KiB in the linker script).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <torch/torch.h>

#include "bench/bench_util.h"
#include "export/codegen.h"
#include "export/deploy.h"
#include "export/engine.h"
#include "export/lower.h"
#include "export/program.h"
#include "export/schedule.h"
#include "models/mobilenet.h"
#include "models/resnet.h"
#include "models/tinyissimo_yolo.h"
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
  ModelHead head;
  std::vector<int64_t> budgets;  // arena bytes
};

std::vector<ModelSpec> all_models() {
  std::vector<ModelSpec> m;
  for (int px : {96, 144, 176}) {
    models::MobileNetOptions o;
    o.input = {3, px, px};
    o.num_classes = 10;
    o.width = 0.35;
    std::vector<int64_t> b = {64 * 1024, 32 * 1024, 24 * 1024, 16 * 1024};
    m.push_back({"mbv2_" + std::to_string(px), "MobileNetV2 0.35 " + std::to_string(px) + "px",
                 models::build_mobilenet_v2(o), ModelHead::classification(), b});
  }
  {
    // Only when asked for (--models mbv2_320): the seed's claim, on the Cortex-M7 with 512 KiB.
    models::MobileNetOptions o;
    o.input = {3, 320, 320};
    o.num_classes = 10;
    o.width = 0.35;
    m.push_back({"mbv2_320",
                 "MobileNetV2 0.35 320px",
                 models::build_mobilenet_v2(o),
                 ModelHead::classification(),
                 {384 * 1024, 256 * 1024, 192 * 1024}});
  }
  m.push_back({"resnet8",
               "ResNet-8 (MLPerf Tiny) 32x32x3",
               models::build_resnet(models::mlperf_resnet8_options()),
               ModelHead::classification(),
               {40 * 1024, 32 * 1024, 24 * 1024}});
  {
    models::YoloOptions o;
    o.input = {3, 88, 88};
    o.batch_norm = true;
    m.push_back({"yolo88",
                 "TinyissimoYOLO 88x88",
                 models::build_tinyissimo_yolo(o),
                 ModelHead::detection(o.grid, o.boxes, o.classes),
                 {64 * 1024, 32 * 1024, 16 * 1024}});
  }
  {
    models::ResNetOptions o;
    o.input = {9, 128};
    m.push_back({"har16",
                 "ResNetv1-6 UCI-HAR f=16",
                 models::build_resnet(o),
                 ModelHead::classification(),
                 {5 * 1024, 4 * 1024, 3 * 1024}});
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> want;
  std::string target = "cortex-m4", json_path;
  int vectors = 2;
  int64_t ram_limit = 0;
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
      want = split(next());
    else if (a == "--target")
      target = next();
    else if (a == "--vectors")
      vectors = std::atoi(next().c_str());
    else if (a == "--ram-limit")
      ram_limit = std::atoll(next().c_str());
    else if (a == "--json")
      json_path = next();
    else {
      std::fprintf(
          stderr,
          "usage: bench_fusion [--models mbv2_96,mbv2_144,mbv2_176,resnet8,yolo88,har16] "
          "[--target cortex-m4|cortex-m7] [--vectors N] [--ram-limit BYTES] [--json FILE]\n");
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
  nlohmann::json json = nlohmann::json::array();
  bool all_exact = true;
  std::printf(
      "| model | budget (arena) | blocks | arena (B) | static RAM measured (B) | stack (B) | MACs "
      "ratio | instr/inference | instr ratio | schedule (s) | bit-exact |\n"
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n");
  std::fflush(stdout);
  for (const ModelSpec& spec : all_models()) {
    if (want.empty() ? spec.key == "mbv2_320"
                     : std::find(want.begin(), want.end(), spec.key) == want.end())
      continue;
    GraphModule q =
        random_calibrated_model(spec.graph, quant_config_for(Scheme::kPow2, 8), 1234, 2, 4);
    const IntModel im = lower(*q, identity_input_meta(spec.graph, spec.head));
    const Program lw = build_program(im);
    const std::vector<TestVector> tv = bench::random_normal_vectors(im, lw, vectors);
    double lw_instr = 0;
    std::vector<int64_t> budgets = {0};
    budgets.insert(budgets.end(), spec.budgets.begin(), spec.budgets.end());
    for (const int64_t budget : budgets) {
      Program p = lw;
      std::string blocks = "-";
      double seconds = 0;
      if (budget > 0) {
        if (budget >= lw.plan.arena_bytes) continue;
        const auto t0 = std::chrono::steady_clock::now();
        Schedule s = schedule_fusion(lw, {budget, 16});
        seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        std::fprintf(stderr, "%s budget %lld:\n%s", spec.key.c_str(),
                     static_cast<long long>(budget), s.report().c_str());
        if (!s.feasible()) {
          std::printf("| %s | %s | not met: smallest arena %s | | | | | | | %.1f | |\n",
                      spec.label.c_str(), thousands(double(budget)).c_str(),
                      thousands(double(s.arena)).c_str(), seconds);
          std::fflush(stdout);
          json.push_back({{"model", spec.key},
                          {"budget", budget},
                          {"feasible", false},
                          {"smallest_arena", s.arena}});
          continue;
        }
        blocks = std::to_string(s.blocks.size());
        p = std::move(s.program);
      }
      const fs::path dir =
          fs::temp_directory_path() / ("qat_bench_fusion_" + spec.key + "_" +
                                       std::to_string(budget) + "_" + std::to_string(::getpid()));
      fs::remove_all(dir);
      write_c_export(im, p, tv, dir.string(), CodegenOptions{});
      DeployOptions o;
      o.target = target;
      o.timeout_seconds = 1800;
      o.ram_limit_bytes = ram_limit;
      DeployResult r;
      try {
        r = deploy(dir.string(), o);
      } catch (const ExportError& e) {
        // With --ram-limit, an export that does not fit fails to link: a result, not an error.
        // Layer by layer is then run on the whole board for the instruction baseline.
        std::fprintf(stderr, "%s\n", e.what());
        std::string measured;
        if (budget == 0) {
          o.ram_limit_bytes = 0;
          const DeployResult full = deploy(dir.string(), o);
          all_exact = all_exact && full.passed();
          lw_instr = full.mean_instructions;
          measured = thousands(full.mean_instructions) + " (with 4 MiB)";
        }
        fs::remove_all(dir);
        std::printf("| %s | %s | %s | %s | does not fit %lld B of RAM | | | %s | | %.1f | |\n",
                    spec.label.c_str(),
                    budget ? thousands(double(budget)).c_str() : "layer by layer", blocks.c_str(),
                    thousands(double(p.plan.arena_bytes)).c_str(),
                    static_cast<long long>(ram_limit), measured.c_str(), seconds);
        std::fflush(stdout);
        continue;
      }
      fs::remove_all(dir);
      all_exact = all_exact && r.passed();
      if (budget == 0) lw_instr = r.mean_instructions;
      std::printf(
          "| %s | %s | %s | %s | %s | %s | %.3f | %s | %.2fx | %.1f | %s |\n", spec.label.c_str(),
          budget ? thousands(double(budget)).c_str() : "layer by layer", blocks.c_str(),
          thousands(double(p.plan.arena_bytes)).c_str(), thousands(double(r.ram_bytes())).c_str(),
          thousands(double(r.stack_bytes)).c_str(), double(p.macs()) / double(lw.macs()),
          thousands(r.mean_instructions).c_str(),
          lw_instr > 0 ? r.mean_instructions / lw_instr : 0.0, seconds,
          r.passed() ? (std::to_string(r.bit_exact) + "/" + std::to_string(r.vectors)).c_str()
                     : "NO");
      std::fflush(stdout);
      json.push_back({{"model", spec.key},
                      {"budget", budget},
                      {"feasible", true},
                      {"arena", p.plan.arena_bytes},
                      {"macs", p.macs()},
                      {"layerwise_macs", lw.macs()},
                      {"deploy", to_json(r)}});
    }
  }
  if (!json_path.empty()) std::ofstream(json_path) << json.dump(2) << "\n";
  return all_exact ? 0 : 1;
}
