#include "tools/sweep_runner.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "qat/atomic_file.h"
#include "qat/errors.h"
#include "qat/process.h"

namespace qat::sweep {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Starts argv with stdout + stderr appended to `log`, in a process group of its own: a terminal
// Ctrl-C reaches only the sweep, which then stops every child (and whatever the child started)
// with one kill(-pgid).
pid_t spawn(const std::vector<std::string>& argv, const std::string& log) {
  SpawnOptions o;
  o.stdout_path = log;
  o.append = true;
  o.own_process_group = true;
  o.search_path = true;
  return spawn_process(argv, o);
}

// "qat train" / "sh": what a failed step was, for the error column.
std::string step_name(const std::vector<std::string>& argv) {
  std::string name = fs::path(argv[0]).filename().string();
  if (argv.size() > 1 && !argv[1].empty() && argv[1][0] != '-' && argv[1].size() < 16)
    name += " " + argv[1];
  return name;
}

std::uintmax_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto n = fs::file_size(path, ec);
  return ec ? 0 : n;
}

void write_status(const Job& job, const RunnerOptions& opts, const JobResult& r) {
  const nlohmann::json j = {
      {"state", job_state_name(r.state)}, {"error", r.error}, {"seconds", r.seconds}};
  write_file_atomic((fs::path(job.dir) / opts.status_name).string(), j.dump(2) + "\n");
}

struct Active {
  size_t job = 0;
  size_t step = 0;
  pid_t pid = -1;
  Clock::time_point start;
  std::uintmax_t log_from = 0;  // this session's part of the log starts here
};

class Scheduler {
 public:
  Scheduler(const std::vector<Job>& jobs, const RunnerOptions& opts)
      : jobs_(jobs), opts_(opts), results_(jobs.size()) {}

  std::vector<JobResult> run() {
    for (size_t i = 0; i < jobs_.size(); ++i)
      if (jobs_[i].skip) finish(i, JobState::kSkipped, "", 0.0, false);
    while (true) {
      if (opts_.cancel && *opts_.cancel) {
        stop_all();
        break;
      }
      bool progressed = schedule();
      progressed = reap() || progressed;
      const bool pending = std::any_of(results_.begin(), results_.end(), [](const JobResult& r) {
        return r.state == JobState::kPending;
      });
      if (active_.empty() && !pending) break;
      if (active_.empty() && !progressed) {
        for (size_t i = 0; i < jobs_.size(); ++i)
          if (results_[i].state == JobState::kPending)
            finish(i, JobState::kFailed, "its dependencies form a cycle", 0.0);
        break;
      }
      if (!progressed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return results_;
  }

 private:
  bool schedule() {
    bool progressed = false;
    for (size_t i = 0; i < jobs_.size(); ++i) {
      if (results_[i].state != JobState::kPending) continue;
      bool ready = true;
      const JobResult* broken = nullptr;
      for (const size_t d : jobs_[i].deps) {
        const JobResult& r = results_.at(d);
        if (!broken && (r.state == JobState::kFailed || r.state == JobState::kInterrupted))
          broken = &r;
        ready = ready && (r.state == JobState::kDone || r.state == JobState::kSkipped);
      }
      if (broken) {
        // With the dependency's own error: a shared float run has no row of its own.
        const std::string why = broken->error.empty() ? "" : ": " + broken->error;
        finish(i, JobState::kFailed, jobs_[i].dependency_error + why, 0.0);
        progressed = true;
        continue;
      }
      if (!ready || static_cast<int>(active_.size()) >= std::max(1, opts_.jobs)) continue;
      start(i);
      progressed = true;
    }
    return progressed;
  }

  void start(size_t i) {
    const Job& job = jobs_[i];
    fs::create_directories(job.dir);
    fs::remove(fs::path(job.dir) / opts_.status_name);
    Active a;
    a.job = i;
    a.start = Clock::now();
    a.log_from = file_size_or_zero(log_of(job));
    results_[i].state = JobState::kRunning;
    if (opts_.on_event) opts_.on_event({JobEvent::Kind::kStarted, i, results_[i]});
    if (job.steps.empty()) {
      finish(i, JobState::kDone, "", 0.0);
      return;
    }
    std::string error;
    if (launch(a, error))
      active_.push_back(a);
    else
      finish(i, JobState::kFailed, error, seconds_since(a.start));
  }

  bool launch(Active& a, std::string& error) {
    const Job& job = jobs_[a.job];
    const auto& argv = job.steps[a.step];
    std::ofstream(log_of(job), std::ios::app) << "$ " << command_line(argv) << "\n";
    try {
      a.pid = spawn(argv, log_of(job));
      return true;
    } catch (const Error& e) {
      error = e.what();
      return false;
    }
  }

  bool reap() {
    bool progressed = false;
    for (auto it = active_.begin(); it != active_.end();) {
      Active& a = *it;
      int status = 0;
      const pid_t r = waitpid(a.pid, &status, WNOHANG);
      if (r == 0 || (r < 0 && errno == EINTR)) {
        ++it;
        continue;
      }
      progressed = true;
      const Job& job = jobs_[a.job];
      const bool ok = r == a.pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
      std::string error;
      if (ok && ++a.step < job.steps.size()) {
        if (launch(a, error)) {
          ++it;
          continue;
        }
      } else if (!ok) {
        const std::string what =
            r < 0 ? std::string("lost: ") + std::strerror(errno) : describe_exit(status);
        const std::string line = last_error_line(log_of(job), a.log_from);
        error = step_name(job.steps[a.step]) + " " + what + (line.empty() ? "" : ": " + line);
      }
      finish(a.job, error.empty() ? JobState::kDone : JobState::kFailed, error,
             seconds_since(a.start));
      it = active_.erase(it);
    }
    return progressed;
  }

  // Ctrl-C: SIGTERM to every child's process group, SIGKILL to those still alive after the
  // grace period. Checkpoints are written atomically, so a killed `qat train` resumes cleanly.
  void stop_all() {
    for (const Active& a : active_) kill(-a.pid, SIGTERM);
    const auto deadline = Clock::now() + std::chrono::duration<double>(opts_.kill_grace_seconds);
    for (const Active& a : active_) {
      int status = 0;
      while (waitpid(a.pid, &status, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
          kill(-a.pid, SIGKILL);
          waitpid(a.pid, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      finish(a.job, JobState::kInterrupted, "interrupted", seconds_since(a.start));
    }
    active_.clear();
  }

  void finish(size_t i, JobState state, const std::string& error, double seconds,
              bool record = true) {
    results_[i] = {state, error, seconds};
    if (record) {
      fs::create_directories(jobs_[i].dir);
      write_status(jobs_[i], opts_, results_[i]);
    }
    if (opts_.on_event) opts_.on_event({JobEvent::Kind::kFinished, i, results_[i]});
  }

  std::string log_of(const Job& job) const { return (fs::path(job.dir) / opts_.log_name).string(); }

  const std::vector<Job>& jobs_;
  const RunnerOptions& opts_;
  std::vector<JobResult> results_;
  std::vector<Active> active_;
};

}  // namespace

const char* job_state_name(JobState s) {
  switch (s) {
    case JobState::kPending:
      return "pending";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kSkipped:
      return "skipped";
    case JobState::kFailed:
      return "failed";
    case JobState::kInterrupted:
      return "interrupted";
  }
  return "?";
}

std::vector<JobResult> run_jobs(const std::vector<Job>& jobs, const RunnerOptions& opts) {
  return Scheduler(jobs, opts).run();
}

std::optional<JobResult> read_job_status(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  JobResult r;
  const std::string state = j.value("state", "");
  for (const JobState s :
       {JobState::kDone, JobState::kSkipped, JobState::kFailed, JobState::kInterrupted})
    if (state == job_state_name(s)) r.state = s;
  r.error = j.value("error", "");
  r.seconds = j.value("seconds", 0.0);
  return r;
}

std::string last_error_line(const std::string& log_path, std::uintmax_t from) {
  std::ifstream in(log_path);
  if (!in) return "";
  in.seekg(static_cast<std::streamoff>(from));
  std::string line, error, last;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto cr = line.rfind('\r');  // progress bars redraw with carriage returns
    if (cr != std::string::npos) line = line.substr(cr + 1);
    if (line.find_first_not_of(" \t") == std::string::npos || line.rfind("$ ", 0) == 0) continue;
    last = line;
    std::string lower = line;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (lower.find("error") != std::string::npos || lower.find("what():") != std::string::npos ||
        lower.find("terminate called") != std::string::npos)
      error = line;
  }
  std::string out = error.empty() ? last : error;
  // "[12:34:56] error message" -> "message": the time stamp and level say nothing in a table.
  if (out.size() > 11 && out[0] == '[' && out[9] == ']') {
    out = out.substr(11);
    if (out.rfind("error ", 0) == 0) out = out.substr(6);
  }
  constexpr size_t kMax = 400;
  if (out.size() > kMax) out = out.substr(0, kMax) + "...";
  return out;
}

}  // namespace qat::sweep
