// Runs the jobs of a sweep as child processes, at most N at a time, in dependency order. A job is
// a list of commands (e.g. `qat train`, then `qat eval`) run one after the other in its own
// directory, with stdout and stderr appended to a log there. A failing job is recorded with the
// last error line of its log and does not stop the others; jobs that depend on it fail without
// running. On cancel (Ctrl-C) the children are terminated and the remaining jobs left pending.
// Torch-free: it knows nothing about training, so tests drive it with /bin/sh scripts.
#pragma once

#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace qat::sweep {

enum class JobState { kPending, kRunning, kDone, kSkipped, kFailed, kInterrupted };
const char* job_state_name(JobState s);  // "pending", "running", "done", "skipped", ...

struct Job {
  std::string id;
  std::string dir;  // created if missing; holds the log and the status file
  std::vector<std::vector<std::string>> steps;  // argv of each command, run in order
  std::vector<size_t> deps;                     // jobs that must end done (or skipped) first
  bool skip = false;                            // finished in an earlier session (--resume)
  std::string dependency_error = "a job it depends on failed";  // followed by that job's error
};

struct JobResult {
  JobState state = JobState::kPending;
  std::string error;     // failed: what went wrong (exit status and the log's last error line)
  double seconds = 0.0;  // wall time of this session's commands
};

struct JobEvent {
  enum class Kind { kStarted, kFinished };
  Kind kind;
  size_t job;
  const JobResult& result;
};

struct RunnerOptions {
  int jobs = 1;
  std::string log_name = "train.log";
  std::string status_name = "sweep_status.json";
  // Polled; when it becomes non-zero (e.g. from a SIGINT handler) the children are stopped.
  const volatile std::sig_atomic_t* cancel = nullptr;
  std::function<void(const JobEvent&)> on_event;
  double kill_grace_seconds = 5.0;  // SIGTERM first, SIGKILL after this
};

// Runs every job and returns one result per job (same order). Each finished job also gets
// <dir>/<status_name>: {"state", "error", "seconds"}.
std::vector<JobResult> run_jobs(const std::vector<Job>& jobs, const RunnerOptions& opts);

// The status file a job wrote, if any.
std::optional<JobResult> read_job_status(const std::string& path);

// The last line of `log_path` from byte `from` on that reports an error (an "error" log line or
// an exception), else its last non-empty line; "" when there is none.
std::string last_error_line(const std::string& log_path, std::uintmax_t from = 0);

}  // namespace qat::sweep
