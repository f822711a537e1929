// Gloo ring allreduce cost on this machine: two ranks in two processes (this program forks
// itself) over loopback TCP, float32 tensors of 1 to 4M values, median of repeated calls.
// Prints the per-hop latency alpha and per-byte cost beta of the ring allreduce model
// t_N = 2 (N - 1) alpha + 2 (N - 1) / N * bytes * beta for N ranks (what
// bench/distributed_speed.sh uses for its on-paper scaling).
//   build/bench/bench_allreduce [--repeats 30]
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "qat/process_group.h"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int run_rank(int rank, int port, int repeats, const std::vector<int64_t>& sizes) {
  qat::DistributedConfig c;
  c.world_size = 2;
  c.rank = rank;
  c.master_port = port;
  c.timeout = std::chrono::seconds(60);
  auto g = qat::ProcessGroup::connect(c);
  std::vector<double> xs, ys;
  if (rank == 0) std::printf("%12s %12s %14s\n", "values", "bytes", "median us");
  for (const int64_t n : sizes) {
    torch::Tensor t = torch::ones({n});
    std::vector<double> times;
    for (int i = 0; i < repeats + 3; ++i) {
      g->barrier();
      const auto t0 = std::chrono::steady_clock::now();
      g->allreduce(t, qat::ReduceOp::kSum);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 3) times.push_back(s);  // the first calls set up buffers
    }
    const double m = median(times);
    xs.push_back(static_cast<double>(n * 4));
    ys.push_back(m);
    if (rank == 0)
      std::printf("%12lld %12lld %14.1f\n", static_cast<long long>(n),
                  static_cast<long long>(n * 4), m * 1e6);
  }
  if (rank == 0) {
    // Latency from the smallest message, per-byte cost from the slope between the smallest and
    // the largest (a least-squares fit over sizes four decades apart would be ruled by the
    // large messages and get the latency wrong). For two ranks the ring allreduce is two hops:
    // t_2 = 2 alpha + bytes * beta.
    const double beta = (ys.back() - ys.front()) / (xs.back() - xs.front());
    const double alpha = ys.front() / 2;
    std::printf(
        "ring model (2 ranks): per-hop latency %.1f us, per-byte cost %.3f ns (%.2f GB/s)\n",
        alpha * 1e6, beta * 1e9, 1e-9 / beta);
    std::printf("ALLREDUCE alpha_hop_us=%.3f beta_ns_per_byte=%.5f\n", alpha * 1e6, beta * 1e9);
  }
  g->barrier();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 30;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--repeats") == 0) repeats = std::stoi(argv[i + 1]);
  if (!qat::distributed_training_available()) {
    std::fprintf(stderr, "bench_allreduce: distributed training is %s\n",
                 qat::distributed_backend_description().c_str());
    return 1;
  }
  torch::set_num_threads(1);
  const std::vector<int64_t> sizes = {1, 256, 4096, 65536, 262144, 1048576, 4194304};
  const int port = qat::free_local_port();
  const pid_t child = fork();  // before any thread exists (torch's pools start lazily)
  if (child == 0) _exit(run_rank(1, port, repeats, sizes));
  const int rc = run_rank(0, port, repeats, sizes);
  int status = 0;
  waitpid(child, &status, 0);
  return rc != 0 ? rc : (WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}
