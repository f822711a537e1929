// qat deploy EXPORT_DIR|RUN_DIR --target cortex-m4|cortex-m7 [--vectors N] [--keep-build]
// Builds the C export for the target, runs its test vectors on QEMU and reports bit exactness,
// instructions per inference and the memory footprint (export/deploy.h, docs/DEPLOY.md).
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "export/codegen.h"
#include "export/deploy.h"
#include "qat/atomic_file.h"
#include "qat/config_reader.h"
#include "qat/errors.h"
#include "tools/commands.h"
#include "tools/source.h"
#include "train/evaluate.h"

namespace qat::cli {
namespace fs = std::filesystem;
namespace {

// The integer model and, when it can be found, the run (for real test inputs) behind an
// existing export directory: its integer checkpoint, with the run found next to it
// (RUN_DIR/export) or where the checkpoint was lowered from; else the parent run's model.pt.
exporter::ExportSource source_of_export(const fs::path& dir, const std::string& name) {
  const fs::path ckpt = dir / (name + ".qint.json");
  const auto is_run = [](const fs::path& d) { return !d.empty() && fs::exists(d / "config.yaml"); };
  const fs::path parent = fs::absolute(dir).lexically_normal().parent_path();
  if (fs::exists(ckpt)) {
    exporter::ExportSource s;
    s.model = exporter::IntModel::load(ckpt.string());
    // The checkpoint records what it was lowered from; keep that (not the .json path) as the
    // source, so the rewritten checkpoint still leads back to the run next time.
    std::ifstream in(ckpt);
    const auto j = nlohmann::json::parse(in, nullptr, false);
    std::string lowered_from = j.is_object() ? j.value("source", "") : "";
    if (!lowered_from.empty() && fs::exists(lowered_from))
      lowered_from = fs::absolute(lowered_from).lexically_normal().string();
    if (!lowered_from.empty()) s.model.source = lowered_from;
    fs::path run;
    if (is_run(parent))
      run = parent;
    else if (!lowered_from.empty() && is_run(fs::path(lowered_from).parent_path()))
      run = fs::path(lowered_from).parent_path();
    if (!run.empty()) {
      s.run_dir = run.string();
      s.run = load_run(s.run_dir);
    }
    return s;
  }
  if (is_run(parent)) return exporter::resolve_source(parent.string(), "");
  throw ExportError(
      dir.string() + " has no integer checkpoint (" + ckpt.filename().string() +
      ") and is not inside a run directory: cannot write more test vectors; re-export with "
      "`qat export RUN_DIR --vectors N --out " +
      dir.string() + "`");
}

// The C export (and its integer checkpoint) of `src` with n test vectors, written into out.
void write_export(exporter::ExportSource src, const fs::path& out, int n, const std::string& name,
                  const exporter::FusionFlags& fusion) {
  fs::create_directories(out);
  const exporter::Program program = exporter::export_program(src, fusion);
  const auto vectors = exporter::make_vectors(src, program, n);
  if (static_cast<int>(vectors.size()) < n)
    spdlog::warn("the test split has only {} samples: exporting {} vectors", vectors.size(),
                 vectors.size());
  if (!src.run)
    spdlog::warn("no run known for {}: the test vectors are random input codes", src.model.source);
  exporter::CodegenOptions opts;
  opts.name = name;
  exporter::write_c_export(src.model, program, vectors, out.string(), opts);
  src.model.save((out / (name + ".qint.json")).string());
  std::printf("exported %s with %zu test vectors to %s\n", name.c_str(), vectors.size(),
              out.string().c_str());
}

// deploy.json in the export directory holds one entry per target; other targets are kept.
void write_deploy_json(const fs::path& export_dir, const exporter::DeployResult& r) {
  const fs::path path = export_dir / "deploy.json";
  nlohmann::json all = nlohmann::json::object();
  if (fs::exists(path)) {
    std::ifstream in(path);
    all = nlohmann::json::parse(in, nullptr, false);
    if (!all.is_object()) all = nlohmann::json::object();
  }
  all[r.target] = exporter::to_json(r);
  write_file_atomic(path.string(), all.dump(2) + "\n");
  std::printf("figures: %s\n", path.string().c_str());
}

}  // namespace

Runner add_deploy(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "deploy",
      "build an export for Cortex-M, run its test vectors on QEMU and measure speed and memory");
  struct Args {
    std::string dir, target = "cortex-m4", name, optimization = "-O2";
    int vectors = 0, timeout = 600;
    bool keep_build = false, no_dsp = false, no_cycles = false, profile = false;
    int flash_wait_states = 0;
    double clock_mhz = 100;
    std::vector<std::string> cflags;
    exporter::FusionFlags fusion;
    std::string ram_limit;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("export_dir", a->dir,
                  "export directory (qat export), or a run directory to export first")
      ->required();
  cmd->add_option("--target", a->target, "cortex-m4 (QEMU mps2-an386) or cortex-m7 (mps2-an500)")
      ->check(CLI::IsMember({"cortex-m4", "cortex-m7"}));
  cmd->add_option(
         "--vectors", a->vectors,
         "test vectors to run (default: all in the export; 8 when exporting a run); more than the "
         "export holds re-exports it")
      ->check(CLI::Range(0, 100000));
  cmd->add_flag("--keep-build", a->keep_build,
                "keep the build directory (EXPORT_DIR/build-<target>)");
  cmd->add_option("--name", a->name,
                  "C prefix of the export (default: detected; `model` when exporting)");
  cmd->add_option("--opt", a->optimization, "optimization flag (default -O2)")
      ->check(CLI::IsMember({"-O0", "-O1", "-O2", "-O3", "-Os", "-Og", "-Ofast"}));
  cmd->add_option("--cflag", a->cflags, "extra compiler flag (repeatable)");
  cmd->add_flag("--no-dsp", a->no_dsp, "compile without -DQK_USE_DSP (portable kernels only)");
  cmd->add_option("--ram-budget", a->fusion.ram_budget,
                  "when exporting: RAM for one inference, static + stack (default: the run's "
                  "budget.ram); layers are fused to fit it, and the deploy checks it");
  cmd->add_option("--fuse", a->fusion.fuse, "when exporting: auto (default) or off")
      ->check(CLI::IsMember({"auto", "off"}));
  cmd->add_option("--ram-limit", a->ram_limit,
                  "the board's RAM (e.g. 512KiB; default its 4 MiB): the image must fit it with "
                  "the harness and a 16 KiB minimum stack");
  cmd->add_option("--timeout", a->timeout, "emulator time limit in seconds (default 600)")
      ->check(CLI::Range(1, 86400));
  cmd->add_flag("--profile", a->profile,
                "per-layer table of the cycle estimate: kernel, MACs, instructions, cycles, share");
  cmd->add_flag("--no-cycles", a->no_cycles,
                "skip the cycle estimate (a second, traced emulator run of one inference)");
  cmd->add_option("--clock", a->clock_mhz, "core clock in MHz for the milliseconds (default 100)")
      ->check(CLI::Range(0.001, 10000.0));
  cmd->add_option("--flash-wait-states", a->flash_wait_states,
                  "flash wait states added to every pipeline refill (default 0)")
      ->check(CLI::Range(0, 15));
  return [a] {
    if (a->profile && a->no_cycles)
      throw Error("--profile needs the cycle estimate: drop --no-cycles");
    exporter::check_deploy_tools();  // before any lowering: fail fast with the install command
    fs::path export_dir = a->dir;
    std::string name = a->name;
    if (fs::exists(export_dir / "config.yaml")) {
      // A run directory: export it (the same code path as `qat export`) with N real test inputs.
      const exporter::ExportSource src = exporter::resolve_source(a->dir, "");
      if (name.empty()) name = "model";
      export_dir = export_dir / "export";
      write_export(src, export_dir, a->vectors > 0 ? a->vectors : 8, name, a->fusion);
    } else {
      if (name.empty()) name = exporter::detect_export_name(export_dir.string());
      const int available = exporter::export_vector_count(export_dir.string(), name);
      if (a->vectors > available) {
        spdlog::info("{} holds {} test vectors, {} requested: re-exporting", export_dir.string(),
                     available, a->vectors);
        // The integer checkpoint keeps the budget: the same schedule is made again.
        write_export(source_of_export(export_dir, name), export_dir, a->vectors, name, a->fusion);
      }
    }
    exporter::DeployOptions opts;
    opts.target = a->target;
    opts.name = name;
    opts.vectors = std::min(a->vectors, exporter::export_vector_count(export_dir.string(), name));
    opts.optimization = a->optimization;
    if (a->no_dsp) opts.extra_cflags.clear();
    for (const auto& f : a->cflags) opts.extra_cflags.push_back(f);
    opts.keep_build = a->keep_build;
    opts.timeout_seconds = a->timeout;
    opts.estimate_cycles = !a->no_cycles;
    opts.clock_mhz = a->clock_mhz;
    opts.flash_wait_states = a->flash_wait_states;
    if (!a->ram_limit.empty()) {
      const std::optional<int64_t> bytes = parse_size(a->ram_limit);
      if (!bytes) throw Error("--ram-limit: '" + a->ram_limit + "' is not a memory size");
      opts.ram_limit_bytes = *bytes;
    }
    exporter::DeployResult r = exporter::deploy(export_dir.string(), opts);
    if (!a->fusion.ram_budget.empty()) {
      // Checked against the budget asked for, also when an existing export is deployed.
      const std::optional<int64_t> bytes = parse_size(a->fusion.ram_budget);
      if (!bytes) throw Error("--ram-budget: '" + a->fusion.ram_budget + "' is not a memory size");
      r.budget_ram = bytes;
    }
    std::printf("%s", exporter::format_report(r, a->profile).c_str());
    write_deploy_json(export_dir, r);
    if (!r.passed()) {
      spdlog::error("{}: {} of {} test vectors differ from the host integer engine on {}",
                    export_dir.string(), r.vectors - r.bit_exact, r.vectors, r.target);
      std::printf("%s", r.output.c_str());
      return 1;
    }
    if (!r.within_budget()) {
      spdlog::error(
          "{}: the export exceeds its memory budget on {} (see `memory budget` above); "
          "for flash, lower budget.flash so the allocator cuts more weight bits; for RAM, export "
          "with --ram-budget (fusion) or lower budget.ram; or raise the budget",
          export_dir.string(), r.target);
      return 3;
    }
    return 0;
  };
}

}  // namespace qat::cli
