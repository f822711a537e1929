#include "qat/process_group.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#ifdef QAT_HAVE_C10D_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace qat {
namespace {

std::string where(const DistributedConfig& c) {
  return c.master_host + ":" + std::to_string(c.master_port);
}

}  // namespace

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  if (!ok) throw Error("cannot find a free TCP port on 127.0.0.1");
  return ntohs(addr.sin_port);
}

#ifdef QAT_HAVE_C10D_GLOO

bool distributed_training_available() {
  return true;
}
std::string distributed_backend_description() {
  return "c10d Gloo (TCPStore rendezvous, ProcessGroupGloo collectives)";
}

namespace {

// c10d and Gloo messages carry a backtrace after their first line.
std::string first_line(const std::string& message) {
  return message.substr(0, message.find('\n'));
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

constexpr const char* kHeartbeatKey = "qat/heartbeat/";
constexpr auto kHeartbeatPeriod = std::chrono::seconds(1);
// A rank whose heartbeat did not move for this long is named as the one that stopped.
constexpr auto kHeartbeatSilence = std::chrono::seconds(3);

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kMin:
      return c10d::ReduceOp::MIN;
    case ReduceOp::kMax:
      return c10d::ReduceOp::MAX;
    case ReduceOp::kSum:
      break;
  }
  return c10d::ReduceOp::SUM;
}

c10::intrusive_ptr<c10d::TCPStore> open_store(const DistributedConfig& c, bool server) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<std::uint16_t>(c.master_port);
  o.isServer = server;
  o.waitWorkers = false;  // the join below counts the ranks and says how many came
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(c.timeout);
  return c10::make_intrusive<c10d::TCPStore>(c.master_host, o);
}

// String values of the store (the string collectives): set, and wait for then read.
void write_key(c10d::Store& store, const std::string& key, const std::string& value) {
  store.set(key, std::vector<uint8_t>(value.begin(), value.end()));
}
std::string read_key(c10d::Store& store, const std::string& key, std::chrono::seconds timeout) {
  store.wait({key}, std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  const std::vector<uint8_t> v = store.get(key);
  return std::string(v.begin(), v.end());
}

// Increments this rank's counter once a second on a store connection of its own.
class Heartbeat {
 public:
  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int rank)
      : store_(std::move(store)), key_(kHeartbeatKey + std::to_string(rank)) {
    thread_ = std::thread([this] { run(); });
  }
  ~Heartbeat() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      try {
        store_->add(key_, 1);
      } catch (const std::exception&) {
        return;  // the store (rank 0) is gone; the next collective reports it
      }
      wake_.wait_for(lock, kHeartbeatPeriod, [this] { return stop_; });
    }
  }
  c10::intrusive_ptr<c10d::Store> store_;
  std::string key_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;  // rank 0: the server
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::unique_ptr<Heartbeat> heartbeat;
};

ProcessGroup::ProcessGroup(const DistributedConfig& config)
    : config_(config), impl_(std::make_unique<Impl>()) {}

ProcessGroup::~ProcessGroup() {
  if (impl_) impl_->heartbeat.reset();
}

std::shared_ptr<ProcessGroup> ProcessGroup::connect(const DistributedConfig& c) {
  if (c.world_size < 1 || c.rank < 0 || c.rank >= c.world_size)
    throw DistributedError("rank " + std::to_string(c.rank) + " is outside the world of " +
                           std::to_string(c.world_size) + " processes");
  if (c.master_port < 1 || c.master_port > 65535)
    throw DistributedError("master port " + std::to_string(c.master_port) +
                           " is not a TCP port (1..65535)");
  std::shared_ptr<ProcessGroup> pg(new ProcessGroup(c));
  Impl& impl = *pg->impl_;
  try {
    impl.store = open_store(c, c.rank == 0);
  } catch (const std::exception& e) {
    const std::string msg = first_line(e.what());
    if (c.rank == 0)
      throw DistributedError("cannot listen on " + where(c) +
                             " for the rendezvous (is the port in use by another run? choose "
                             "another with --master HOST:PORT or MASTER_PORT): " +
                             msg);
    throw DistributedError("cannot reach the master (rank 0) at " + where(c) + " within " +
                           std::to_string(c.timeout.count()) +
                           " s: is rank 0 running, and are the address and port right? (" + msg +
                           ")");
  }
  // Join: every rank adds one; wait until all have (the server never blocks on absent ranks,
  // so a missing rank is a message with the count, not a silent hang).
  const auto deadline = std::chrono::steady_clock::now() + c.timeout;
  int64_t joined = impl.store->add("qat/joined", 1);
  while (joined < c.world_size) {
    if (std::chrono::steady_clock::now() > deadline)
      throw DistributedError("only " + std::to_string(joined) + " of " +
                             std::to_string(c.world_size) + " ranks joined at " + where(c) +
                             " within " + std::to_string(c.timeout.count()) + " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    joined = impl.store->add("qat/joined", 0);
  }
  impl.heartbeat = std::make_unique<Heartbeat>(open_store(c, false), c.rank);

  auto options = c10d::ProcessGroupGloo::Options::create(
      std::chrono::duration_cast<std::chrono::milliseconds>(c.timeout));
  const char* iface = std::getenv("GLOO_SOCKET_IFNAME");
  if (is_loopback(c.master_host))
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  else if (iface && *iface)
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
  else
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  options->threads = 2;
  try {
    impl.group = c10::make_intrusive<c10d::ProcessGroupGloo>(
        c10::make_intrusive<c10d::PrefixStore>("gloo", impl.store), c.rank, c.world_size, options);
  } catch (const std::exception& e) {
    throw DistributedError("Gloo could not connect the " + std::to_string(c.world_size) +
                           " ranks (rendezvous at " + where(c) + "): " + e.what());
  }
  return pg;
}

void ProcessGroup::fail(const std::string& what, const std::string& cause) {
  // Whose heartbeat stopped? Two readings kHeartbeatSilence apart, on a fresh connection (the
  // main one may be in a broken state after the failure).
  std::string who;
  try {
    DistributedConfig probe = config_;
    probe.timeout = std::chrono::seconds(5);
    auto store = open_store(probe, false);
    std::vector<int64_t> first;
    for (int r = 0; r < size(); ++r)
      first.push_back(store->add(kHeartbeatKey + std::to_string(r), 0));
    std::this_thread::sleep_for(kHeartbeatSilence);
    for (int r = 0; r < size(); ++r)
      if (r != rank() && store->add(kHeartbeatKey + std::to_string(r), 0) == first[r])
        who += (who.empty() ? "rank " : ", rank ") + std::to_string(r);
    if (!who.empty())
      who += " stopped (no heartbeat for " + std::to_string(kHeartbeatSilence.count()) + " s)";
  } catch (const std::exception&) {
    who = "rank 0 (the master at " + where(config_) + ") stopped";
  }
  // A stopped (SIGSTOP) process loses its heartbeat too; live heartbeats mean a rank whose
  // training thread hangs, the network, or the collective itself.
  if (who.empty())
    who = "every rank's heartbeat is alive (a hung rank, the network, or the collective failed)";
  throw DistributedError(what + " failed on rank " + std::to_string(rank()) + ": " + who + " [" +
                         first_line(cause) + "]");
}

template <class F>
void ProcessGroup::guarded(const char* what, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  try {
    f();
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& e) {
    fail(what, e.what());
  }
  collective_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++collective_calls_;
}

void ProcessGroup::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (tensors.empty()) return;
  guarded("broadcast", [&] {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    // Gloo broadcasts a list of tensors in one operation only when they share a type; one
    // call per tensor keeps it general (used at start and on resume, not per step).
    for (auto& t : tensors) {
      // Gloo has no bool type: flags (observer state) travel as bytes.
      const bool flag = t.scalar_type() == torch::kBool;
      std::vector<at::Tensor> one{flag ? t.to(torch::kUInt8) : t};
      impl_->group->broadcast(one, o)->wait();
      if (flag) t.copy_(one[0]);
    }
  });
}

void ProcessGroup::allreduce(std::vector<torch::Tensor>& tensors, ReduceOp op) {
  if (tensors.empty()) return;
  guarded("allreduce", [&] {
    c10d::AllreduceOptions o;
    o.reduceOp = to_c10d(op);
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{t};
      impl_->group->allreduce(one, o)->wait();
    }
  });
}

void ProcessGroup::allreduce(torch::Tensor& tensor, ReduceOp op) {
  std::vector<torch::Tensor> one{tensor};
  allreduce(one, op);
}

torch::Tensor ProcessGroup::allgather_rows(const torch::Tensor& local_in) {
  const torch::Tensor local = local_in.contiguous();
  torch::Tensor rows = torch::full({1}, local.size(0), torch::kLong);
  std::vector<std::vector<at::Tensor>> counts_out(1);
  for (int r = 0; r < size(); ++r) counts_out[0].push_back(torch::empty({1}, torch::kLong));
  std::vector<at::Tensor> counts_in{rows};
  guarded("allgather", [&] { impl_->group->allgather(counts_out, counts_in)->wait(); });
  int64_t most = 0;
  for (const auto& c : counts_out[0]) most = std::max(most, c.item<int64_t>());
  std::vector<int64_t> shape = local.sizes().vec();
  shape[0] = most;
  torch::Tensor padded = torch::zeros(shape, local.options());
  if (local.size(0) > 0) padded.narrow(0, 0, local.size(0)).copy_(local);
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size(); ++r) out[0].push_back(torch::empty(shape, local.options()));
  std::vector<at::Tensor> in{padded};
  guarded("allgather", [&] { impl_->group->allgather(out, in)->wait(); });
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < size(); ++r)
    parts.push_back(out[0][r].narrow(0, 0, counts_out[0][r].item<int64_t>()));
  return torch::cat(parts);
}

std::vector<std::string> ProcessGroup::allgather_strings(const std::string& mine) {
  const std::string prefix = "qat/gather/" + std::to_string(++sequence_) + "/";
  std::vector<std::string> all(static_cast<size_t>(size()));
  guarded("string exchange", [&] {
    write_key(*impl_->store, prefix + std::to_string(rank()), mine);
    for (int r = 0; r < size(); ++r)
      all[static_cast<size_t>(r)] =
          read_key(*impl_->store, prefix + std::to_string(r), config_.timeout);
  });
  return all;
}

std::string ProcessGroup::broadcast_string(const std::string& s, int root) {
  const std::string key = "qat/broadcast/" + std::to_string(++sequence_);
  std::string out = s;
  guarded("string broadcast", [&] {
    if (rank() == root)
      write_key(*impl_->store, key, s);
    else
      out = read_key(*impl_->store, key, config_.timeout);
  });
  return out;
}

void ProcessGroup::barrier() {
  guarded("barrier", [&] { impl_->group->barrier()->wait(); });
}

#else  // no c10d Gloo in this build

bool distributed_training_available() {
  return false;
}
std::string distributed_backend_description() {
  return "not available (this build found no c10d Gloo headers: install libgloo-dev and "
         "rebuild)";
}

struct ProcessGroup::Impl {};
ProcessGroup::ProcessGroup(const DistributedConfig& config) : config_(config) {}
ProcessGroup::~ProcessGroup() = default;
std::shared_ptr<ProcessGroup> ProcessGroup::connect(const DistributedConfig& c) {
  throw DistributedError("distributed training (rank " + std::to_string(c.rank) + " of " +
                         std::to_string(c.world_size) + ", master " + where(c) + ") is " +
                         distributed_backend_description());
}
void ProcessGroup::broadcast(std::vector<torch::Tensor>&, int) {}
void ProcessGroup::allreduce(std::vector<torch::Tensor>&, ReduceOp) {}
void ProcessGroup::allreduce(torch::Tensor&, ReduceOp) {}
torch::Tensor ProcessGroup::allgather_rows(const torch::Tensor& local) {
  return local;
}
std::vector<std::string> ProcessGroup::allgather_strings(const std::string& mine) {
  return {mine};
}
std::string ProcessGroup::broadcast_string(const std::string& s, int) {
  return s;
}
void ProcessGroup::barrier() {}

#endif

}  // namespace qat
