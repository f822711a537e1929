#include "tools/sweep_jobs.h"

#include <filesystem>
#include <map>

#include <yaml-cpp/yaml.h>

namespace qat::sweep {
namespace fs = std::filesystem;
namespace {

// An interrupted run continues with the thread count it started with: the trainer refuses to
// resume when the resolved config differs, and --jobs may have changed since.
int64_t threads_of(const fs::path& config, int64_t fallback) {
  try {
    const YAML::Node n = YAML::LoadFile(config.string());
    return n["threads"] ? n["threads"].as<int64_t>() : fallback;
  } catch (const YAML::Exception&) {
    return fallback;
  }
}

void add_set(std::vector<std::string>& argv, const std::string& override_text) {
  argv.push_back("--set");
  argv.push_back(override_text);
}

}  // namespace

std::vector<Job> make_jobs(const SweepSpec& spec, const JobOptions& opts) {
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < spec.runs.size(); ++i) index[spec.runs[i].id] = i;
  std::vector<Job> jobs;
  for (const SweepRun& r : spec.runs) {
    Job j;
    j.id = r.id;
    j.dir = spec.run_dir(r);
    const fs::path dir(j.dir);
    const bool trained = fs::exists(dir / "summary.json"),
               evaluated = fs::exists(dir / "eval.json");
    const bool started = fs::exists(dir / "state.json");
    j.skip = opts.resume && trained && evaluated;
    int64_t threads = opts.threads;
    std::vector<std::string> train = {opts.exe, "train", spec.base, "--no-progress"};
    if (opts.nproc > 1) train.insert(train.end(), {"--nproc", std::to_string(opts.nproc)});
    for (const auto& o : spec.overrides_of(r)) add_set(train, o);
    if (!r.float_run.empty()) {
      const SweepRun& f = *spec.find(r.float_run);
      add_set(train, "train.init_from=" + (fs::path(spec.run_dir(f)) / "float.pt").string());
      add_set(train, "train.epochs=0");
      j.deps = {index.at(f.id)};
      j.dependency_error = "float run " + f.id + " failed";
    }
    if (opts.resume && started && !trained) {
      threads = threads_of(dir / "config.yaml", threads);
      train.push_back("--resume");
    }
    add_set(train, "output=" + j.dir);
    add_set(train, "name=" + r.id);
    add_set(train, "threads=" + std::to_string(threads));
    const std::vector<std::string> eval = {opts.exe,
                                           "eval",
                                           j.dir,
                                           "--engine",
                                           is_quantized(r.method) ? "int" : "float",
                                           "--json",
                                           (dir / "eval.json").string(),
                                           "--threads",
                                           std::to_string(threads)};
    if (opts.resume && trained) {
      j.steps = {eval};  // trained, but the evaluation did not finish
    } else {
      j.steps = {train, eval};
    }
    jobs.push_back(std::move(j));
  }
  return jobs;
}

}  // namespace qat::sweep
