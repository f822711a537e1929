#include "tools/source.h"

#include <cstdio>
#include <filesystem>
#include <thread>

#include "export/engine.h"
#include "export/lower.h"
#include "export/schedule.h"
#include "qat/checkpoint.h"
#include "qat/config_reader.h"
#include "qat/errors.h"
#include "train/evaluate.h"

namespace qat::exporter {
namespace fs = std::filesystem;

ExportSource resolve_source(const std::string& target, const std::string& checkpoint,
                            const std::vector<std::string>& overrides) {
  ExportSource s;
  std::string ckpt = checkpoint;
  fs::path t(target);
  if (!fs::exists(t)) throw ExportError(target + ": no such run directory, config or checkpoint");
  if (fs::is_regular_file(t) && (t.extension() == ".pt" || t.extension() == ".json")) {
    ckpt = target;
    const fs::path parent = t.parent_path().empty() ? fs::path(".") : t.parent_path();
    if (fs::exists(parent / "config.yaml")) s.run_dir = parent.string();
  } else {
    s.run_dir = run_dir_of(target, overrides);
  }
  if (!s.run_dir.empty()) s.run = load_run(s.run_dir, overrides);
  if (ckpt.empty()) ckpt = (fs::path(s.run_dir) / "model.pt").string();
  if (fs::path(ckpt).extension() == ".json") {
    s.model = IntModel::load(ckpt);
  } else {
    Checkpoint ck = load_checkpoint(ckpt);
    s.model = lower(*ck.model, ck.meta);
    s.model.source = ckpt;
    if (s.run) {
      s.model.budget_flash = s.run->budget.flash;
      s.model.budget_ram = s.run->budget.ram;
    }
  }
  return s;
}

Program export_program(ExportSource& s, const FusionFlags& flags) {
  if (flags.fuse != "auto" && flags.fuse != "off")
    throw Error("--fuse: '" + flags.fuse + "' is not one of: auto, off");
  if (!flags.ram_budget.empty()) {
    const std::optional<int64_t> bytes = parse_size(flags.ram_budget);
    if (!bytes)
      throw Error("--ram-budget: '" + flags.ram_budget +
                  "' is not a memory size; write a whole number of bytes > 0 with an optional "
                  "unit: B, KB (1000), KiB (1024), MB, MiB, e.g. 64KiB");
    s.model.budget_ram = bytes;
  }
  const Program layerwise = build_program(s.model);
  std::string report;
  Program p = program_for_budget(layerwise, {s.model.budget_ram, flags.fuse == "auto"}, &report);
  if (!report.empty()) std::printf("%s", report.c_str());
  return p;
}

TensorData test_split(const ExportSource& s) {
  if (!s.run)
    throw ExportError("no run directory known for " + s.model.source + ": cannot load test data");
  return load_test_split(*s.run,
                         {s.model.input_mean, s.model.input_std, s.model.graph.input_node().shape});
}

std::vector<TestVector> make_vectors(const ExportSource& s, const Program& p, int n) {
  std::vector<TestVector> vectors;
  Engine engine(p);
  const Shape& shape = s.model.graph.input_node().shape;
  if (s.run) {
    const TensorData test = test_split(s);
    const torch::Tensor x = test.x.contiguous();
    const int64_t numel = x[0].numel();
    for (int64_t i = 0; i < std::min<int64_t>(n, test.size()); ++i) {
      TestVector v;
      const float* sample = x.data_ptr<float>() + i * numel;
      v.input = quantize_input(sample, shape, s.model.input_format());
      // Raw input (before normalisation), channels-last, for the float helpers.
      std::vector<double> chw(static_cast<size_t>(numel));
      const int64_t c = shape[0], hw = numel / c;
      for (int64_t k = 0; k < numel; ++k)
        chw[static_cast<size_t>(k)] = sample[k] * s.model.input_std[static_cast<size_t>(k / hw)] +
                                      s.model.input_mean[static_cast<size_t>(k / hw)];
      for (double r : to_channels_last(chw.data(), shape)) v.raw.push_back(static_cast<float>(r));
      engine.run(v.input, v.output);
      vectors.push_back(std::move(v));
    }
    return vectors;
  }
  return random_test_vectors(s.model, p, n);
}

EvalResult evaluate_int(const ExportSource& s, const Program& p, const TensorData& test,
                        int threads, torch::Tensor* outputs) {
  const torch::Tensor x = test.x.contiguous();
  const std::vector<double> out = run_batch(s.model, p, x.data_ptr<float>(), test.size(), threads);
  const torch::Tensor o =
      torch::tensor(out, torch::kDouble).reshape({test.size(), p.output_elements()});
  if (outputs) *outputs = o;
  return score_outputs(s.model.head, o, test, s.run ? s.run->loss : LossConfig{});
}

}  // namespace qat::exporter
