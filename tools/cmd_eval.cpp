#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "export/budget.h"
#include "qat/cpu.h"
#include "qat/errors.h"
#include "qat/json_fields.h"
#include "tools/commands.h"
#include "tools/detection_images.h"
#include "tools/eval_report.h"
#include "tools/plot.h"
#include "tools/source.h"
#include "train/evaluate.h"

namespace qat::cli {
namespace {

// Accuracy of the float32 fake-quantized forward (what QAT trained) with the observers frozen,
// to compare with the integer engine: the two differ where float32 rounding or the affine
// fixed-point requantization differs from the fake-quant arithmetic.
EvalResult fake_quant_result(const std::string& checkpoint, const TensorData& test,
                             const LossConfig& loss) {
  const Checkpoint ck = load_checkpoint(checkpoint);
  GraphModule m = ck.model;
  m->eval();
  m->set_mode(Mode::kQat);
  m->freeze_observers(true);
  torch::NoGradGuard no_grad;
  return make_task(ck.meta.head, loss)->evaluate(*m, test, kEvalBatchSize, "[fake-quant]", false);
}

// `--pr-curve FILE.png`: the precision/recall curve of every class at IoU 0.5 (detection runs).
void write_pr_curve(const EvalResult& r, const std::string& path) {
  if (path.empty()) return;
  if (!r.detection)
    throw Error("--pr-curve " + path + ": only detection runs have a precision/recall curve");
  plot::LinePlot p;
  p.title = "precision (envelope) / recall at IoU 0.5";
  p.x_label = "recall";
  p.y_label = "precision";
  const detect::DetectionFigures& f = *r.detection;
  for (size_t c = 0; c < f.curves50.size(); ++c) {
    if (f.gt_per_class[c] == 0) continue;
    plot::Series s;
    char label[64];
    std::snprintf(label, sizeof label, "class %zu (AP %.1f%%)", c, 100.0 * f.ap50_voc_per_class[c]);
    s.label = label;
    // The interpolated curve the APs integrate: the precision envelope (the best precision at
    // this recall or beyond), one point per distinct recall.
    const detect::PrCurve& curve = f.curves50[c];
    std::vector<double> envelope = curve.precision;
    for (size_t k = envelope.size(); k-- > 1;)
      envelope[k - 1] = std::max(envelope[k - 1], envelope[k]);
    for (size_t k = 0; k < curve.recall.size(); ++k)
      if (k + 1 == curve.recall.size() || curve.recall[k + 1] > curve.recall[k])
        s.points.push_back({curve.recall[k], envelope[k], 0.0});
    if (s.points.empty()) s.points.push_back({0.0, 0.0, 0.0});  // no detections of the class
    p.series.push_back(s);
  }
  plot::write_png(p, path);
  std::printf("precision/recall curve: %s\n", path.c_str());
}

// `--draw DIR`: the first `count` test images with true and predicted boxes (detection runs).
// The split is normalised as the model sees it; mean/stdev undo that for display.
struct DrawRequest {
  std::string dir;
  int count = 8;
  double min_score = 0.25;
};

void write_detection_images(const EvalResult& r, const TensorData& test,
                            const std::vector<double>& mean, const std::vector<double>& stdev,
                            const DrawRequest& req) {
  if (req.dir.empty()) return;
  if (!r.detection) throw Error("--draw " + req.dir + ": only detection runs have boxes to draw");
  const std::vector<std::vector<detect::Detection>>& dets = r.detection->detections;
  const torch::Tensor x = test.x.to(torch::kFloat).contiguous();
  if (x.dim() != 4 || x.size(1) != 3)
    throw Error("--draw " + req.dir + ": the test inputs are not RGB images");
  if (mean.size() != 3 || stdev.size() != 3)
    throw Error("--draw " + req.dir + ": the run's input normalisation has " +
                std::to_string(mean.size()) + " channels, not 3");
  std::filesystem::create_directories(req.dir);
  const int64_t n = std::min<int64_t>({req.count, test.size(), static_cast<int64_t>(dets.size())});
  draw::DrawStyle style;
  style.min_score = static_cast<float>(req.min_score);
  const auto per_channel = [](const std::vector<double>& v) {
    return torch::tensor(v, torch::kDouble).to(torch::kFloat).reshape({3, 1, 1});
  };
  const torch::Tensor scale = per_channel(stdev), shift = per_channel(mean);
  for (int64_t i = 0; i < n; ++i) {
    draw::DetectionImage im;
    im.height = x.size(2);
    im.width = x.size(3);
    const torch::Tensor c = (x[i] * scale + shift).contiguous();
    im.rgb_chw.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    im.truth = test.boxes[static_cast<size_t>(i)];
    im.predicted = dets[static_cast<size_t>(i)];
    char name[32];
    std::snprintf(name, sizeof name, "test_%03lld.png", static_cast<long long>(i));
    draw::write_detection_png(im, test.class_names, style,
                              (std::filesystem::path(req.dir) / name).string());
  }
  std::printf("%lld test images with true (green) and predicted (red, score >= %.2f) boxes: %s\n",
              static_cast<long long>(n), req.min_score, req.dir.c_str());
}

// Detection runs: the COCO figures next to the VOC mAP@0.5 the metric is, and per class.
void print_detection_figures(const EvalResult& r) {
  if (!r.detection) return;
  const detect::DetectionFigures& f = *r.detection;
  std::printf(
      "detection: mAP@0.5 %.2f%% (VOC all-point), COCO 101-point: mAP@0.5 %.2f%%  "
      "mAP@0.75 %.2f%%  mAP@0.5:0.95 %.2f%%\n",
      100.0 * f.map50_voc, 100.0 * f.map50, 100.0 * f.map75, 100.0 * f.map50_95);
  for (size_t c = 0; c < f.gt_per_class.size(); ++c) {
    if (f.gt_per_class[c] == 0) continue;
    std::printf("  class %zu: %lld boxes, AP@0.5 %.2f%%, AP@0.5:0.95 %.2f%%\n", c,
                static_cast<long long>(f.gt_per_class[c]), 100.0 * f.ap50_voc_per_class[c],
                100.0 * f.ap50_95_per_class[c]);
  }
}

EvalReport report_of(const std::string& engine, const std::string& metric_name, const EvalResult& r,
                     const std::string& checkpoint) {
  EvalReport j;
  j.engine = engine;
  j.metric_name = metric_name;
  j.metric = r.metric;
  j.loss = r.loss;
  j.samples = r.samples;
  j.checkpoint = checkpoint;
  return j;
}

}  // namespace

Runner add_eval(CLI::App& app) {
  auto* cmd = app.add_subcommand("eval", "evaluate a trained run on its test split");
  struct Args {
    std::string target, checkpoint, engine = "int", json, pr_curve;
    DrawRequest draw;
    bool compare = false;
    int threads = 0;
    std::vector<std::string> set;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("run", a->target, "run directory, the config that produced it, or a checkpoint")
      ->required();
  cmd->add_option("--checkpoint", a->checkpoint,
                  "checkpoint (default RUN_DIR/model.pt); .json = integer checkpoint");
  cmd->add_option("--engine", a->engine,
                  "int: the C kernel library (default for quantized models) / sim: integer-exact "
                  "simulation in LibTorch / float: float forward")
      ->check(CLI::IsMember({"int", "sim", "float"}));
  cmd->add_flag("--compare", a->compare,
                "with --engine int: also run sim and count identical outputs");
  cmd->add_option("--set", a->set, "override a config value (e.g. dataset.path=...)");
  cmd->add_option("--json", a->json,
                  "also write the figures to this file (metric, memory, MACs; with --engine int "
                  "also the fake-quant metric)");
  cmd->add_option("--threads", a->threads, "threads (0: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--pr-curve", a->pr_curve,
                  "detection runs: write the precision/recall curve per class (IoU 0.5) as PNG");
  cmd->add_option("--draw", a->draw.dir,
                  "detection runs: write test images with true and predicted boxes (PNG) here");
  cmd->add_option("--draw-count", a->draw.count, "--draw: how many test images (default 8)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--draw-score", a->draw.min_score,
                  "--draw: the lowest score of a prediction drawn (default 0.25)")
      ->check(CLI::Range(0.0, 1.0));
  return [a] {
    namespace fs = std::filesystem;
    const int threads = a->threads > 0 ? a->threads : qat::available_cores();
    if (a->threads > 0) torch::set_num_threads(threads);
    const bool int_ckpt =
        fs::path(a->checkpoint.empty() ? a->target : a->checkpoint).extension() == ".json";
    if (a->engine == "int" || int_ckpt) {
      const exporter::ExportSource src = exporter::resolve_source(a->target, a->checkpoint, a->set);
      const exporter::Program program = exporter::build_program(src.model);
      const TensorData test = exporter::test_split(src);
      torch::Tensor int_out;
      const EvalResult r = exporter::evaluate_int(src, program, test, threads, &int_out);
      std::printf("%s  integer engine (C kernels)  %s %.2f%%  loss %.4f  (%lld samples)\n",
                  src.model.source.c_str(), src.model.metric.c_str(), 100.0 * r.metric, r.loss,
                  static_cast<long long>(r.samples));
      print_detection_figures(r);
      write_pr_curve(r, a->pr_curve);
      write_detection_images(r, test, src.model.input_mean, src.model.input_std, a->draw);
      if (!a->json.empty()) {
        EvalReport j = report_of("int", src.model.metric, r, src.model.source);
        j.parameters = src.model.graph.parameter_count();
        j.macs = program.macs();
        j.weight_bytes = program.weight_bytes();
        j.arena_bytes = program.plan.arena_bytes;
        j.arena_lower_bound = program.plan.lower_bound;
        j.scratch_bytes = program.scratch_bytes;
        // Weights and constants exactly, the kernels' code estimated for a Cortex-M4 with the
        // DSP kernels (export/budget.h); `qat deploy` measures the real flash.
        j.flash_estimate = program.weight_bytes() + exporter::estimate_code_bytes(program);
        if (!int_ckpt) {
          const EvalResult fq =
              fake_quant_result(src.model.source, test, src.run ? src.run->loss : LossConfig{});
          std::printf("fake-quant forward (float32)  %s %.2f%%  loss %.4f\n",
                      src.model.metric.c_str(), 100.0 * fq.metric, fq.loss);
          j.fake_quant_metric = fq.metric;
          j.fake_quant_loss = fq.loss;
        }
        write_json_file(a->json, j);
      }
      if (a->compare && !int_ckpt) {
        const Checkpoint ck = load_checkpoint(src.model.source);
        GraphModule m = ck.model;
        m->eval();
        m->set_mode(Mode::kEval);
        torch::NoGradGuard ng;
        std::vector<torch::Tensor> outs;
        for (int64_t i = 0; i < test.size(); i += 256)
          outs.push_back(m->forward(test.x.narrow(0, i, std::min<int64_t>(256, test.size() - i))));
        const torch::Tensor sim = torch::cat(outs).to(torch::kDouble).reshape(int_out.sizes());
        const int64_t same = sim.eq(int_out).all(1).sum().item<int64_t>();
        std::printf(
            "integer engine vs integer-exact simulation: %lld/%lld samples with identical "
            "outputs\n",
            static_cast<long long>(same), static_cast<long long>(test.size()));
        if (same != test.size()) return 2;
      }
      return 0;
    }
    const std::string dir = run_dir_of(a->target, a->set);
    const RunConfig cfg = load_run(dir, a->set);
    const std::string path =
        a->checkpoint.empty() ? (fs::path(dir) / "model.pt").string() : a->checkpoint;
    const Checkpoint ck = load_checkpoint(path);
    const TensorData test = load_test_split(cfg, ck.meta.input);
    const bool quantized = ck.model->mode() == Mode::kEval;
    const Mode mode = a->engine == "float" || !quantized ? Mode::kFloat : Mode::kEval;
    const EvalResult r = evaluate_checkpoint(ck, test, mode, true, cfg.loss);
    const std::string& metric_name = ck.meta.metric;
    std::printf("%s  %s  %s %.2f%%  loss %.4f  (%lld samples)\n", path.c_str(),
                mode == Mode::kEval ? "integer-exact simulation" : "float forward",
                metric_name.c_str(), 100.0 * r.metric, r.loss, static_cast<long long>(r.samples));
    print_detection_figures(r);
    write_pr_curve(r, a->pr_curve);
    write_detection_images(r, test, ck.meta.input.mean, ck.meta.input.std, a->draw);
    if (!a->json.empty()) {
      EvalReport j = report_of(mode == Mode::kEval ? "sim" : "float", metric_name, r, path);
      const Graph& g = ck.model->graph();
      j.parameters = g.parameter_count();
      j.macs = g.macs();
      // A float model deployed as is stores every parameter as float32; its arena and flash are
      // not planned (only integer programs are), so they stay null rather than guessed.
      if (mode == Mode::kFloat) j.weight_bytes = 4 * g.parameter_count();
      write_json_file(a->json, j);
    }
    return 0;
  };
}

}  // namespace qat::cli
