// Child processes for the tools that run other programs (qat deploy: compiler, linker, QEMU;
// qat sweep: `qat train` / `qat eval`). posix_spawn rather than fork + exec: callers may be
// multi-threaded (LibTorch, OpenMP), where only async-signal-safe calls are allowed between
// fork and exec. stdin is always /dev/null.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace qat {

struct SpawnOptions {
  std::string stdout_path;  // empty: the child writes to this process's stdout and stderr
  std::string stderr_path;  // empty: stderr goes to stdout_path too
  bool append = false;      // append to the files instead of truncating them
  // The child leads a process group of its own (a terminal Ctrl-C then reaches only the parent,
  // which can stop the child and everything it started with kill(-pid)), with the default
  // disposition of SIGINT / SIGTERM / SIGPIPE / SIGHUP and nothing blocked.
  bool own_process_group = false;
  bool search_path = false;  // look argv[0] up in $PATH; else it is a path
};

// Starts argv; throws Error naming the program when it cannot be started.
pid_t spawn_process(const std::vector<std::string>& argv, const SpawnOptions& options);

// Non-blocking: the wait status once the child has ended, nullopt while it runs. Throws Error
// when the child is not ours (waitpid fails for another reason than EINTR).
std::optional<int> poll_process(pid_t pid);

// "exited with status 2", "killed by signal Killed".
std::string describe_exit(int status);

struct ProcessResult {
  int exit_code = -1;  // -1: killed by a signal
  bool timed_out = false;
  std::string out, err;
};

// Runs argv (a path) to completion with stdout / stderr captured in log_stem.out / .err, killing
// it after timeout_seconds (then timed_out is set).
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& log_stem,
                          int timeout_seconds);

// POSIX shell quoting for logs and scripts: words of safe characters stay as they are, others
// are single-quoted with each embedded ' written as '\''.
std::string shell_quote(const std::string& word);
std::string command_line(const std::vector<std::string>& argv);

}  // namespace qat
