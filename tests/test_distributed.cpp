// Data-parallel training on c10d Gloo.
//   In one process, two ranks on two threads (real TCPStore + ProcessGroupGloo over loopback):
//   each collective, SyncBatchNorm, the observers' reduction and the gradient allreduce against
//   one process computing the whole batch.
//   Through the qat binary, real processes: 2 ranks == 1 process with the same global batch,
//   the ranks hold the same weights and observer state bit for bit, a killed rank stops the
//   other with a message naming it (the checkpoint loads), resume == uninterrupted, a budget
//   planned by sensitivity gives every rank the same bits, and a
//   mismatched config, a port in use, an unreachable master are clear errors.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <thread>

#include "qat/checkpoint.h"
#include "qat/observer.h"
#include "qat/process.h"
#include "qat/process_group.h"
#include "qat/sync_batchnorm.h"
#include "train/data_parallel.h"
#include "train/task.h"

namespace qat {
namespace {

namespace fs = std::filesystem;

#define SKIP_WITHOUT_GLOO()                                                          \
  if (!distributed_training_available()) {                                           \
    GTEST_SKIP() << "distributed training is " << distributed_backend_description(); \
  }

// Runs f(group) on ranks 0 and 1, each on its own thread with its own ProcessGroup.
template <class F>
void on_two_ranks(F f) {
  const int port = free_local_port();
  std::vector<std::future<void>> done;
  for (int r = 0; r < 2; ++r)
    done.push_back(std::async(std::launch::async, [&, r] {
      DistributedConfig c;
      c.world_size = 2;
      c.rank = r;
      c.master_port = port;
      c.timeout = std::chrono::seconds(30);
      std::shared_ptr<ProcessGroup> g = ProcessGroup::connect(c);
      f(*g);
      g->barrier();
    }));
  for (auto& d : done) d.get();  // rethrows a rank's failure
}

// The message of the DistributedError f() throws; "" when it throws none.
template <class F>
std::string distributed_error(F f) {
  try {
    f();
  } catch (const DistributedError& e) {
    return e.what();
  }
  return "";
}

TEST(Distributed, ShardsCoverTheBatchInOrder) {
  for (int64_t n : {1, 2, 5, 7, 64, 65})
    for (int w : {1, 2, 3, 4}) {
      int64_t next = 0;
      for (int r = 0; r < w; ++r) {
        const Shard s = shard_of(n, r, w);
        EXPECT_EQ(s.begin, next);
        EXPECT_LE(s.count, n / w + 1);
        EXPECT_GE(s.count, n / w);
        next += s.count;
      }
      EXPECT_EQ(next, n);
    }
}

TEST(Distributed, CollectivesAreExact) {
  SKIP_WITHOUT_GLOO();
  on_two_ranks([](ProcessGroup& g) {
    const int r = g.rank();
    torch::Tensor s = torch::tensor({1.0 + r, -2.0 * r}, torch::kDouble);
    g.allreduce(s, ReduceOp::kSum);
    EXPECT_TRUE(torch::equal(s, torch::tensor({3.0, -2.0}, torch::kDouble)));
    torch::Tensor mx = torch::tensor({static_cast<float>(r), 5.0f - r});
    g.allreduce(mx, ReduceOp::kMax);
    EXPECT_TRUE(torch::equal(mx, torch::tensor({1.0f, 5.0f})));
    torch::Tensor mn = torch::tensor({static_cast<float>(r), 5.0f - r});
    g.allreduce(mn, ReduceOp::kMin);
    EXPECT_TRUE(torch::equal(mn, torch::tensor({0.0f, 4.0f})));
    // Rows of different counts come back in rank order.
    const torch::Tensor mine = torch::full({r == 0 ? 3 : 1, 2}, static_cast<float>(r));
    const torch::Tensor all = g.allgather_rows(mine);
    ASSERT_EQ(all.size(0), 4);
    EXPECT_TRUE(torch::equal(all.narrow(0, 0, 3), torch::zeros({3, 2})));
    EXPECT_TRUE(torch::equal(all.narrow(0, 3, 1), torch::ones({1, 2})));
    std::vector<torch::Tensor> b{torch::full({4}, static_cast<float>(7 + r))};
    g.broadcast(b, 0);
    EXPECT_TRUE(torch::equal(b[0], torch::full({4}, 7.0f)));
    EXPECT_EQ(g.broadcast_string(r == 0 ? "from rank 0" : "ignored"), "from rank 0");
    EXPECT_EQ(g.allgather_strings("r" + std::to_string(r)), (std::vector<std::string>{"r0", "r1"}));
  });
}

TEST(Distributed, SyncBatchNormEqualsTheWholeBatch) {
  SKIP_WITHOUT_GLOO();
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{9, 3, 7}, std::vector<int64_t>{6, 4, 5, 3}}) {
    torch::manual_seed(3);
    const torch::Tensor x = torch::randn(shape) * 2 + 0.5;
    const torch::Tensor probe = torch::randn(shape);  // loss = sum(y * probe)
    const torch::Tensor w0 = torch::rand({shape[1]}) + 0.5, b0 = torch::randn({shape[1]});
    // One process, the whole batch.
    torch::Tensor xf = x.clone().requires_grad_(true);
    torch::Tensor wf = w0.clone().requires_grad_(true), bf = b0.clone().requires_grad_(true);
    torch::Tensor rm = torch::zeros({shape[1]}), rv = torch::ones({shape[1]});
    const torch::Tensor yf = torch::batch_norm(xf, wf, bf, rm, rv, true, 0.1, 1e-5, false);
    (yf * probe).sum().backward();

    on_two_ranks([&](ProcessGroup& g) {
      const Shard s = shard_of(shape[0], g.rank(), 2);
      torch::Tensor xs = x.narrow(0, s.begin, s.count).clone().requires_grad_(true);
      torch::Tensor ws = w0.clone().requires_grad_(true), bs = b0.clone().requires_grad_(true);
      torch::Tensor rms = torch::zeros({shape[1]}), rvs = torch::ones({shape[1]});
      const torch::Tensor ys = sync_batch_norm(xs, ws, bs, rms, rvs, 0.1, 1e-5, g);
      (ys * probe.narrow(0, s.begin, s.count)).sum().backward();
      EXPECT_TRUE(torch::allclose(ys, yf.narrow(0, s.begin, s.count), 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(xs.grad(), xf.grad().narrow(0, s.begin, s.count), 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(rms, rm, 1e-6, 1e-6));
      EXPECT_TRUE(torch::allclose(rvs, rv, 1e-6, 1e-6));
      // The parameter gradients are local; their sum over the ranks is the whole batch's.
      std::vector<torch::Tensor> grads{ws.grad().clone(), bs.grad().clone()};
      g.allreduce(grads, ReduceOp::kSum);
      EXPECT_TRUE(torch::allclose(grads[0], wf.grad(), 1e-5, 1e-5));
      EXPECT_TRUE(torch::allclose(grads[1], bf.grad(), 1e-5, 1e-5));
    });
  }
}

TEST(Distributed, ObserversSeeTheGlobalBatchBitForBit) {
  SKIP_WITHOUT_GLOO();
  for (ObserverKind kind : {ObserverKind::kRunningMinMax, ObserverKind::kEma, ObserverKind::kMse,
                            ObserverKind::kPercentile}) {
    QuantSpec spec;
    spec.observer = kind;
    torch::manual_seed(5);
    std::vector<torch::Tensor> batches;
    for (int i = 0; i < 3; ++i) batches.push_back(torch::randn({7, 3, 11}) * (1 + i));
    Observer single(spec, 1);
    for (const auto& b : batches) single->update(b);
    on_two_ranks([&](ProcessGroup& g) {
      Observer mine(spec, 1);
      mine->set_process_group(&g);
      for (const auto& b : batches) {
        const Shard s = shard_of(b.size(0), g.rank(), 2);
        mine->update(b.narrow(0, s.begin, s.count));
      }
      EXPECT_TRUE(torch::equal(mine->min(), single->min())) << static_cast<int>(kind);
      EXPECT_TRUE(torch::equal(mine->max(), single->max())) << static_cast<int>(kind);
    });
  }
}

TEST(Distributed, GradientAllreduceSumsEveryBucket) {
  SKIP_WITHOUT_GLOO();
  on_two_ranks([](ProcessGroup& g) {
    const float r = static_cast<float>(g.rank());
    std::vector<torch::Tensor> params;
    for (int64_t n : {5, 300, 7, 1000}) {
      torch::Tensor p = torch::zeros({n}, torch::requires_grad());
      p.mutable_grad() = torch::arange(n, torch::kFloat) * (r + 1);
      params.push_back(p);
    }
    params.push_back(torch::zeros({3}, torch::requires_grad()));  // no gradient: zeros
    GradientAllreduce reduce(g, /*bucket_bytes=*/1024);           // several buckets
    std::vector<double> extras{0.25 + r, 2.0 * r};
    reduce.run(params, extras);
    EXPECT_GT(reduce.buckets(), 2);
    for (size_t i = 0; i + 1 < params.size(); ++i)
      EXPECT_TRUE(
          torch::equal(params[i].grad(), torch::arange(params[i].numel(), torch::kFloat) * 3));
    EXPECT_TRUE(torch::equal(params.back().grad(), torch::zeros({3})));
    EXPECT_DOUBLE_EQ(extras[0], 1.5);
    EXPECT_DOUBLE_EQ(extras[1], 2.0);
  });
}

TEST(Distributed, RanksMustAgree) {
  SKIP_WITHOUT_GLOO();
  on_two_ranks([](ProcessGroup& g) {
    check_ranks_agree(g, "config", "same", [](auto&, auto&) { return std::string(); });
    const std::string e = distributed_error([&] {
      check_ranks_agree(g, "config", g.rank() == 0 ? "a: 1" : "a: 2",
                        [](auto&, auto&) { return std::string("a"); });
    });
    EXPECT_NE(e.find("rank 1's config differs from rank 0's in a"), std::string::npos) << e;
  });
}

TEST(Distributed, PortInUseAndUnreachableMasterAreClearErrors) {
  SKIP_WITHOUT_GLOO();
  // A port somebody listens on.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  DistributedConfig c;
  c.world_size = 2;
  c.master_port = ntohs(addr.sin_port);
  c.timeout = std::chrono::seconds(5);
  const std::string in_use = distributed_error([&] { ProcessGroup::connect(c); });
  EXPECT_NE(in_use.find("cannot listen on 127.0.0.1:"), std::string::npos) << in_use;
  ::close(fd);
  c.rank = 1;
  c.master_port = free_local_port();  // nobody there
  const auto t0 = std::chrono::steady_clock::now();
  const std::string nobody = distributed_error([&] { ProcessGroup::connect(c); });
  EXPECT_NE(nobody.find("cannot reach the master (rank 0)"), std::string::npos) << nobody;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(30));
}

// Sharded evaluation: every rank returns the whole split's figures, equal to one process's.
TEST(Distributed, ShardedEvaluationEqualsOneProcess) {
  SKIP_WITHOUT_GLOO();
  for (const ModelHead& head : {ModelHead::classification(), ModelHead::detection(2, 1, 3)}) {
    const bool detection = head.task == TaskKind::kDetection;
    Graph g;
    const std::string x = g.input("input", {3, 4, 4});
    g.linear("out", g.flatten("flat", x), detection ? 2 * 2 * (5 + 3) : 5);
    torch::manual_seed(11);
    GraphModule model(g, QuantConfig{});
    model->eval();
    TensorData d;
    d.x = torch::randn({37, 3, 4, 4});
    if (detection) {
      for (int64_t i = 0; i < 37; ++i)
        d.boxes.push_back(
            {Box{0.25f + 0.01f * static_cast<float>(i % 5), 0.3f, 0.2f, 0.3f, i % 3}});
    } else {
      d.labels = torch::randint(0, 5, {37}, torch::kLong);
    }
    const std::unique_ptr<Task> task = make_task(head);
    const EvalResult one = task->evaluate(*model, d, 8, "[one]", false);
    on_two_ranks([&](ProcessGroup& pg) {
      GraphModule mine(g, QuantConfig{});
      mine->copy_weights_from(*model);
      mine->eval();
      const EvalResult r = task->evaluate(*mine, d, 8, "[shard]", false, &pg);
      EXPECT_EQ(r.metric, one.metric) << head.metric_name();
      // The loss is a float32 sum over other batch boundaries (the shards).
      EXPECT_NEAR(r.loss, one.loss, 1e-6 * std::abs(one.loss)) << head.metric_name();
      EXPECT_EQ(r.samples, 37);
    });
  }
}

// ---- Real processes through the qat binary, on the bundled UCI-HAR sample. ----

struct Cli {
  fs::path work;
  Cli() {
    work = fs::temp_directory_path() /
           ("qat_dist_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(work);
    fs::create_directories(work);
  }
  ~Cli() { fs::remove_all(work); }
  // qat train on the demo config (2 float epochs, 1 QAT epoch) with extra arguments.
  ProcessResult train(const std::string& out, std::vector<std::string> extra,
                      int timeout = 600) const {
    std::vector<std::string> argv = {
        QAT_BINARY,      "train",          std::string(QAT_SOURCE_DIR) + "/configs/demo.yaml",
        "--no-progress", "--set",          "output=" + (work / out).string(),
        "--set",         "train.epochs=2", "--set",
        "qat.epochs=1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_process(argv, (work / (out + "_log")).string(), timeout);
  }
};

// Largest |a - b| / max |a| over every parameter and floating-point buffer (batchnorm
// statistics, observer ranges).
double relative_difference(GraphModuleImpl& a, GraphModuleImpl& b) {
  double worst = 0;
  const auto compare = [&](const torch::Tensor& xa, const torch::Tensor& yb) {
    if (!xa.is_floating_point() || xa.numel() == 0) return;
    const torch::Tensor x = xa.detach().to(torch::kDouble), y = yb.detach().to(torch::kDouble);
    const double scale = std::max(x.abs().max().item<double>(), 1e-12);
    worst = std::max(worst, (x - y).abs().max().item<double>() / scale);
  };
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& item : pa) compare(item.value(), pb[item.key()]);
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& item : ba) compare(item.value(), bb[item.key()]);
  return worst;
}

bool identical_state(GraphModuleImpl& a, GraphModuleImpl& b, std::string& first_difference) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  for (const auto& item : pa)
    if (!torch::equal(item.value(), pb[item.key()])) {
      first_difference = item.key();
      return false;
    }
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  for (const auto& item : ba)
    if (!torch::equal(item.value(), bb[item.key()])) {
      first_difference = item.key();
      return false;
    }
  return true;
}

// Largest relative difference of checkpoint `file` between run directories a and b.
double run_difference(const fs::path& a, const fs::path& b, const char* file) {
  Checkpoint ca = load_checkpoint((a / file).string());
  Checkpoint cb = load_checkpoint((b / file).string());
  const double rel = relative_difference(*ca.model, *cb.model);
  std::printf("%s: largest relative difference 1 vs 2 processes %.3g\n", file, rel);
  return rel;
}

// 1 process vs `qat train --nproc 2` with `sets` on top of the demo config.
void expect_two_processes_equal_one(const std::vector<std::string>& sets) {
  Cli cli;
  const auto with = [&](std::vector<std::string> more) {
    std::vector<std::string> all = sets;
    all.insert(all.end(), more.begin(), more.end());
    return all;
  };
  const std::string ranks = (cli.work / "ranks").string();
  const ProcessResult one = cli.train("one", with({"--set", "threads=1"}));
  ASSERT_EQ(one.exit_code, 0) << one.out << one.err;
  const ProcessResult two = cli.train("two", with({"--nproc", "2", "--rank-state-dir", ranks}));
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  // Every rank holds the same weights, batchnorm-folded model and observer state, bit for bit.
  Checkpoint r0 = load_checkpoint((cli.work / "ranks/rank0.pt").string());
  Checkpoint r1 = load_checkpoint((cli.work / "ranks/rank1.pt").string());
  std::string diff;
  EXPECT_TRUE(identical_state(*r0.model, *r1.model, diff)) << "ranks differ in " << diff;
  EXPECT_TRUE(fs::exists(cli.work / "two/summary.json"));
  // 2 x half batch == 1 x whole batch, up to float summation order (batchnorm statistics, the
  // gradient sum of the allreduce): 2 float epochs, weights and batchnorm statistics.
  EXPECT_LT(run_difference(cli.work / "one", cli.work / "two", "float.pt"), 1e-5);
  // Calibration and QAT from the same float model: a float difference of 1e-6 moves affine
  // scales in their 7th digit and then the rounding of a few values, which QAT amplifies, so
  // the quantized phases are compared from one float checkpoint.
  const std::string init = "train.init_from=" + (cli.work / "one/float.pt").string();
  const auto from_float = [&](std::vector<std::string> more) {
    more.insert(more.end(), {"--set", init, "--set", "train.epochs=0"});
    return with(more);
  };
  ASSERT_EQ(cli.train("one_q", from_float({"--set", "threads=1"})).exit_code, 0);
  ASSERT_EQ(cli.train("two_q", from_float({"--nproc", "2", "--rank-state-dir", ranks})).exit_code,
            0);
  EXPECT_LT(run_difference(cli.work / "one_q", cli.work / "two_q", "ptq.pt"), 1e-5);
  EXPECT_LT(run_difference(cli.work / "one_q", cli.work / "two_q", "qat.pt"), 1e-5);
  Checkpoint a = load_checkpoint((cli.work / "one_q/model.pt").string());
  Checkpoint b = load_checkpoint((cli.work / "ranks/rank1.pt").string());
  for (const auto& n : a.model->graph().nodes()) {
    if (!a.model->has_layer(n.name) || !a.model->layer(n.name)->act_quantizer) continue;
    EXPECT_EQ(a.model->activation_format(n.name).str(), b.model->activation_format(n.name).str())
        << n.name;
  }
}

TEST(DistributedCli, TwoProcessesEqualOneWithTheSameGlobalBatch) {
  SKIP_WITHOUT_GLOO();
  expect_two_processes_equal_one({});
}

// Synchronised batchnorm (folded before calibration) and affine observers.
TEST(DistributedCli, TwoProcessesEqualOneWithBatchnormAndAffine) {
  SKIP_WITHOUT_GLOO();
  expect_two_processes_equal_one(
      {"--set", "model.batch_norm=true", "--set", "quant.scheme=affine"});
}

// budget.order sensitivity: rank 0 measures, every rank plans the same bits from its figures,
// the bits one process plans from the same float model.
TEST(DistributedCli, EveryRankPlansTheBitsRankZeroMeasured) {
  SKIP_WITHOUT_GLOO();
  Cli cli;
  const std::vector<std::string> budget = {"--set", "model.filters=64",
                                           "--set", "budget.flash=48KiB",
                                           "--set", "budget.order=sensitivity",
                                           "--set", "budget.samples=64",
                                           "--set", "qat.epochs=1"};
  const auto with = [&](std::vector<std::string> more) {
    more.insert(more.begin(), budget.begin(), budget.end());
    return more;
  };
  const ProcessResult one = cli.train("one", with({"--set", "threads=1"}));
  ASSERT_EQ(one.exit_code, 0) << one.out << one.err;
  const std::string ranks = (cli.work / "ranks").string();
  const ProcessResult two = cli.train(
      "two", with({"--set", "train.init_from=" + (cli.work / "one/float.pt").string(), "--set",
                   "train.epochs=0", "--nproc", "2", "--rank-state-dir", ranks}));
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  const auto bits = [](const fs::path& model) {
    const Checkpoint ck = load_checkpoint(model.string());
    std::map<std::string, int> out;
    for (const auto& n : ck.model->graph().nodes())
      if (n.has_weights()) out[n.name] = ck.model->quant_config().weights_for(n.name).bits;
    return out;
  };
  const auto planned = bits(cli.work / "one/model.pt");
  EXPECT_EQ(planned, bits(cli.work / "ranks/rank0.pt"));
  EXPECT_EQ(planned, bits(cli.work / "ranks/rank1.pt"));
  int cut = 0;
  for (const auto& entry : planned) cut += entry.second < 8;
  EXPECT_GT(cut, 0) << "the budget cut no layer";
  EXPECT_TRUE(fs::exists(cli.work / "one/sensitivity.json"));
  EXPECT_TRUE(fs::exists(cli.work / "two/sensitivity.json"));
}

TEST(DistributedCli, KilledRankStopsTheOtherAndTheCheckpointLoads) {
  SKIP_WITHOUT_GLOO();
  Cli cli;
  const auto t0 = std::chrono::steady_clock::now();
  const ProcessResult r =
      cli.train("killed", {"--nproc", "2", "--kill-rank", "1:1", "--set", "train.epochs=4"});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.exit_code, 0);
  const std::string all = r.out + r.err;
  EXPECT_NE(all.find("rank 1 (pid"), std::string::npos) << all;
  EXPECT_NE(all.find("killed by signal"), std::string::npos) << all;
  EXPECT_NE(all.find("rank 1 stopped"), std::string::npos) << all;  // rank 0's own message
  EXPECT_LT(seconds, 120.0);
  const Checkpoint ck = load_checkpoint((cli.work / "killed/float.pt").string());
  EXPECT_GE(ck.meta.epoch, 1);
}

TEST(DistributedCli, ResumeContinuesLikeAnUninterruptedRun) {
  SKIP_WITHOUT_GLOO();
  Cli cli;
  ASSERT_EQ(cli.train("whole", {"--nproc", "2"}).exit_code, 0);
  const ProcessResult first = cli.train("parts", {"--nproc", "2", "--stop-after", "1"});
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  ASSERT_FALSE(fs::exists(cli.work / "parts/summary.json"));
  const ProcessResult second = cli.train("parts", {"--nproc", "2", "--resume"});
  ASSERT_EQ(second.exit_code, 0) << second.out << second.err;
  Checkpoint a = load_checkpoint((cli.work / "whole/model.pt").string());
  Checkpoint b = load_checkpoint((cli.work / "parts/model.pt").string());
  std::string diff;
  EXPECT_TRUE(identical_state(*a.model, *b.model, diff)) << "resumed run differs in " << diff;
}

TEST(DistributedCli, MismatchedConfigIsAnErrorNamingTheKey) {
  SKIP_WITHOUT_GLOO();
  Cli cli;
  const std::string master = "127.0.0.1:" + std::to_string(free_local_port());
  const std::string config = std::string(QAT_SOURCE_DIR) + "/configs/demo.yaml";
  const std::string out = "output=" + (cli.work / "run").string();
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    SpawnOptions o;
    o.stdout_path = (cli.work / ("rank" + std::to_string(r) + ".log")).string();
    // Rank 0 from options, rank 1 from torchrun's environment variables.
    const std::string epochs = r == 0 ? "train.epochs=2" : "train.epochs=3";
    const size_t colon = master.rfind(':');
    const std::vector<std::string> by_options = {
        QAT_BINARY,     "train", config,      "--no-progress",
        "--set",        out,     "--set",     epochs,
        "--world-size", "2",     "--rank",    "0",
        "--master",     master,  "--timeout", "30"};
    const std::vector<std::string> by_environment = {"/usr/bin/env",
                                                     "WORLD_SIZE=2",
                                                     "RANK=1",
                                                     "MASTER_ADDR=" + master.substr(0, colon),
                                                     "MASTER_PORT=" + master.substr(colon + 1),
                                                     QAT_BINARY,
                                                     "train",
                                                     config,
                                                     "--no-progress",
                                                     "--set",
                                                     out,
                                                     "--set",
                                                     epochs,
                                                     "--timeout",
                                                     "30"};
    pids.push_back(spawn_process(r == 0 ? by_options : by_environment, o));
  }
  for (size_t r = 0; r < pids.size(); ++r) {
    std::optional<int> s;
    for (int i = 0; i < 1200 && !s; ++i) {
      s = poll_process(pids[r]);
      if (!s) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(s.has_value()) << "rank " << r << " did not stop";
    EXPECT_NE(*s, 0) << "rank " << r;
    std::ifstream in(cli.work / ("rank" + std::to_string(r) + ".log"));
    const std::string log((std::istreambuf_iterator<char>(in)), {});
    EXPECT_NE(log.find("rank 1's config differs from rank 0's in train.epochs"), std::string::npos)
        << log;
  }
}

}  // namespace
}  // namespace qat
