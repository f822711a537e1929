#include <cstdio>
#include <filesystem>
#include <sstream>

#include <spdlog/spdlog.h>

#include "export/codegen.h"
#include "export/onnx_writer.h"
#include "qat/errors.h"
#include "tools/commands.h"
#include "tools/source.h"

namespace qat::cli {

Runner add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "export", "write the integer model: C library, ONNX QDQ, integer checkpoint");
  struct Args {
    std::string target, checkpoint, out, formats = "c,onnx,ckpt", name = "model";
    int vectors = 8;
    std::vector<std::string> set;
    exporter::FusionFlags fusion;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("run", a->target,
                  "run directory, its config, a checkpoint (.pt) or an integer checkpoint (.json)")
      ->required();
  cmd->add_option("--checkpoint", a->checkpoint, "checkpoint inside the run (default model.pt)");
  cmd->add_option("--format", a->formats, "comma-separated: c, onnx, ckpt (default all)");
  cmd->add_option("--out", a->out, "output directory (default RUN_DIR/export)");
  cmd->add_option("--name", a->name, "C symbol prefix and file stem (default model)");
  cmd->add_option("--vectors", a->vectors, "test vectors embedded in the C export (default 8)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--set", a->set, "override a config value");
  cmd->add_option("--ram-budget", a->fusion.ram_budget,
                  "RAM for one inference, static + stack (e.g. 64KiB; default: the run's "
                  "budget.ram): layers are fused to fit it");
  cmd->add_option("--fuse", a->fusion.fuse,
                  "auto: fuse layers when the RAM budget needs it (default); off: layer by layer");
  return [a, cmd] {
    const bool explicit_formats = cmd->count("--format") > 0;
    bool c = false, onnx = false, ckpt = false;
    std::stringstream ss(a->formats);
    for (std::string f; std::getline(ss, f, ',');) {
      if (f == "c")
        c = true;
      else if (f == "onnx")
        onnx = true;
      else if (f == "ckpt")
        ckpt = true;
      else
        throw Error("--format: unknown format '" + f + "'; allowed: c, onnx, ckpt");
    }
    if (c) exporter::check_export_name(a->name);  // before anything is written
    exporter::ExportSource src = exporter::resolve_source(a->target, a->checkpoint, a->set);
    const std::string out = !a->out.empty() ? a->out
                            : !src.run_dir.empty()
                                ? (std::filesystem::path(src.run_dir) / "export").string()
                                : "export";
    // Scheduled before anything is written: a bad --fuse / --ram-budget leaves no directory.
    const exporter::Program program = exporter::export_program(src, a->fusion);
    std::filesystem::create_directories(out);
    std::printf("%s\n", program.summary().c_str());
    if (ckpt) {
      const std::string path = (std::filesystem::path(out) / (a->name + ".qint.json")).string();
      src.model.save(path);
      std::printf("integer checkpoint: %s\n", path.c_str());
    }
    if (onnx) {
      const std::string path = (std::filesystem::path(out) / (a->name + ".onnx")).string();
      try {
        exporter::write_onnx(src.model, path);
        std::printf("ONNX (QDQ, opset 13): %s\n", path.c_str());
      } catch (const ExportError& e) {
        // Asked for explicitly: an error. With the default list (e.g. an int16 model, which
        // opset 13 QDQ cannot hold) the other formats are still written.
        if (explicit_formats) throw;
        spdlog::warn("ONNX skipped: {}", e.what());
      }
    }
    if (c) {
      const auto vectors = exporter::make_vectors(src, program, a->vectors);
      exporter::CodegenOptions opts;
      opts.name = a->name;
      const auto files = exporter::write_c_export(src.model, program, vectors, out, opts);
      std::printf("C library: %s/%s.c (+ %zu files; `make -C %s run` checks %zu test vectors)\n",
                  out.c_str(), a->name.c_str(), files.size() - 1, out.c_str(), vectors.size());
    }
    return 0;
  };
}

}  // namespace qat::cli
