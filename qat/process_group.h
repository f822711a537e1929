// The processes of a data-parallel run and the collectives between them, on LibTorch's c10d:
// rendezvous through a TCPStore hosted by rank 0, collectives through ProcessGroupGloo (ring
// allreduce over TCP). Only process_group.cpp sees c10d; everything above uses this class.
//
// Failures are errors that say what happened: a port in use, a master that cannot be reached,
// and a rank that stops. Every rank sends a heartbeat to the store once a second (a thread of
// its own, on its own store connection); when a collective fails, the survivors look at whose
// heartbeat stopped and name that rank ("rank 1 stopped (no heartbeat for 3 s) ..."). A rank
// that hangs without dying is caught by the collective timeout.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "qat/errors.h"

namespace qat {

// Where this process is in a distributed run (torchrun's conventions).
struct DistributedConfig {
  int world_size = 1;
  int rank = 0;
  int local_world_size = 1;  // ranks on this machine (threads per rank = cores / this)
  std::string master_host = "127.0.0.1";
  int master_port = 29500;
  // How long a collective (and the rendezvous) may wait for the other ranks.
  std::chrono::seconds timeout{120};
  bool distributed() const { return world_size > 1; }
};

// A collective failed, the rendezvous did not complete, or the ranks disagree.
struct DistributedError : Error {
  using Error::Error;
};

// True when this build has c10d with Gloo (the only backend of Debian's CPU LibTorch).
bool distributed_training_available();
// "c10d Gloo (TCPStore, ProcessGroupGloo)" or why not.
std::string distributed_backend_description();

enum class ReduceOp { kSum, kMin, kMax };

// A TCP port of 127.0.0.1 that nobody listens on now (bound and released; the caller takes it
// within a moment): the rendezvous port of local runs and tests.
int free_local_port();

class ProcessGroup {
 public:
  // Rendezvous with the other world_size - 1 ranks (rank 0 listens at master_host:master_port).
  // Throws DistributedError: port in use, master unreachable within the timeout, no build support.
  static std::shared_ptr<ProcessGroup> connect(const DistributedConfig& config);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return config_.rank; }
  int size() const { return config_.world_size; }
  const DistributedConfig& config() const { return config_; }

  // In place, CPU tensors (contiguous). One collective for all the tensors of a call.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  void allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op);
  void allreduce(torch::Tensor& tensor, ReduceOp op);
  // Every rank's `local` concatenated along dim 0 in rank order (the row counts may differ;
  // the other dims must not).
  torch::Tensor allgather_rows(const torch::Tensor& local);
  // Every rank's string, in rank order (through the store).
  std::vector<std::string> allgather_strings(const std::string& mine);
  // Root's string on every rank.
  std::string broadcast_string(const std::string& s, int root = 0);
  void barrier();

  // Wall time spent in collectives since the last reset (what the benchmark reports).
  double collective_seconds() const { return collective_seconds_; }
  int64_t collective_calls() const { return collective_calls_; }
  void reset_collective_time() {
    collective_seconds_ = 0;
    collective_calls_ = 0;
  }

  struct Impl;

 private:
  explicit ProcessGroup(const DistributedConfig& config);
  // Runs a collective; turns a failure into a DistributedError naming the rank that stopped.
  template <class F>
  void guarded(const char* what, F&& f);
  [[noreturn]] void fail(const std::string& what, const std::string& cause);

  DistributedConfig config_;
  std::unique_ptr<Impl> impl_;
  int64_t sequence_ = 0;  // numbers the store keys of string collectives
  double collective_seconds_ = 0;
  int64_t collective_calls_ = 0;
};

}  // namespace qat
