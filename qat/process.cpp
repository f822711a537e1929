#include "qat/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "qat/errors.h"

extern char** environ;

namespace qat {
namespace {

class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&a_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&a_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &a_; }

 private:
  posix_spawn_file_actions_t a_;
};

class SpawnAttributes {
 public:
  SpawnAttributes() { posix_spawnattr_init(&a_); }
  ~SpawnAttributes() { posix_spawnattr_destroy(&a_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  posix_spawnattr_t* get() { return &a_; }

 private:
  posix_spawnattr_t a_;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

pid_t spawn_process(const std::vector<std::string>& argv, const SpawnOptions& o) {
  if (argv.empty()) throw Error("empty command");
  const int flags = O_WRONLY | O_CREAT | (o.append ? O_APPEND : O_TRUNC);
  FileActions fa;
  posix_spawn_file_actions_addopen(fa.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  if (!o.stdout_path.empty()) {
    posix_spawn_file_actions_addopen(fa.get(), STDOUT_FILENO, o.stdout_path.c_str(), flags, 0644);
    if (o.stderr_path.empty())
      posix_spawn_file_actions_adddup2(fa.get(), STDOUT_FILENO, STDERR_FILENO);
    else
      posix_spawn_file_actions_addopen(fa.get(), STDERR_FILENO, o.stderr_path.c_str(), flags, 0644);
  }
  SpawnAttributes attr;
  if (o.own_process_group) {
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (const int s : {SIGINT, SIGTERM, SIGPIPE, SIGHUP}) sigaddset(&defaults, s);
    posix_spawnattr_setsigmask(attr.get(), &none);
    posix_spawnattr_setsigdefault(attr.get(), &defaults);
    posix_spawnattr_setpgroup(attr.get(), 0);
    posix_spawnattr_setflags(
        attr.get(), POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int rc = o.search_path
                     ? posix_spawnp(&pid, args[0], fa.get(), attr.get(), args.data(), environ)
                     : posix_spawn(&pid, args[0], fa.get(), attr.get(), args.data(), environ);
  if (rc != 0) throw Error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

std::optional<int> poll_process(pid_t pid) {
  int status = 0;
  const pid_t w = ::waitpid(pid, &status, WNOHANG);
  if (w == pid) return status;
  if (w < 0 && errno != EINTR)
    throw Error("waitpid failed for process " + std::to_string(pid) + ": " + std::strerror(errno));
  return std::nullopt;
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "stopped";
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& log_stem,
                          int timeout_seconds) {
  SpawnOptions o;
  o.stdout_path = log_stem + ".out";
  o.stderr_path = log_stem + ".err";
  const pid_t pid = spawn_process(argv, o);
  ProcessResult r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  auto pause = std::chrono::milliseconds(1);
  int status = 0;
  for (;;) {
    if (const auto s = poll_process(pid)) {
      status = *s;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);  // our own child, by its id
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  if (!r.timed_out && WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  r.out = read_file(o.stdout_path);
  r.err = read_file(o.stderr_path);
  return r;
}

std::string shell_quote(const std::string& word) {
  const bool safe = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || (c != 0 && std::strchr("@%+=:,./_-", c));
  });
  if (safe) return word;
  std::string q = "'";
  for (char c : word) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string command_line(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + shell_quote(a);
  return s;
}

}  // namespace qat
