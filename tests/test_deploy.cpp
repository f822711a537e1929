// Deployment on emulated Cortex-M (export/deploy.h): a lowered ResNetv1-6 export built with
// arm-none-eabi-gcc and run on QEMU (mps2-an386 = Cortex-M4F, mps2-an500 = Cortex-M7) must match
// the host integer engine bit for bit, give deterministic instruction counts and plausible
// memory figures, for pow2 int8, pow2 int16, affine int8, packed 4-bit weights and mixed
// precision. Skipped (with a message) when the
// toolchain or QEMU is not installed; the missing-tool error is tested either way.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include <torch/torch.h>

#include "export/budget.h"
#include "export/codegen.h"
#include "export/deploy.h"
#include "export/engine.h"
#include "export/kernel_sources.h"
#include "export/lower.h"
#include "export/program.h"
#include "export/schedule.h"
#include "models/mobilenet.h"
#include "models/resnet.h"
#include "qat/errors.h"
#include "qat/graph_module.h"
#include "qat/random_model.h"
#include "tests/fusion_blocks.h"

namespace qat::exporter {
namespace {

namespace fs = std::filesystem;

constexpr const char* kInstallCommand =
    "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm";

bool tools_present() {
  try {
    check_deploy_tools();
    return true;
  } catch (const ExportError&) {
    return false;
  }
}

#define SKIP_WITHOUT_TOOLS()                                                                 \
  if (!tools_present())                                                                      \
  GTEST_SKIP() << "arm-none-eabi-gcc, arm-none-eabi-size or qemu-system-arm not installed (" \
               << kInstallCommand << ")"

enum class Fmt { kPow2Int8, kPow2Int16, kAffineInt8, kMixedPow2, kPow2W4 };

QuantConfig config(Fmt f, const Graph& g) {
  if (f == Fmt::kMixedPow2) return mixed_precision_config(g, Scheme::kPow2);
  if (f == Fmt::kPow2W4) return weight_bits_config(Scheme::kPow2, 4);
  return quant_config_for(f == Fmt::kAffineInt8 ? Scheme::kAffine : Scheme::kPow2,
                          f == Fmt::kPow2Int16 ? 16 : 8);
}

// Removes the export directory when the test ends.
struct TempExport {
  fs::path dir;
  Program program;
  ~TempExport() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

// ResNetv1-6 for UCI-HAR-shaped input [9, 128] with random weights, calibrated on random data,
// lowered and written as a C export with `vectors` random input vectors whose expected outputs
// come from the host engine. corrupt: the expected output code 0 of vector 1 is off by one.
// fuse: turns the layer-by-layer program into the one exported (fused blocks); the expected
// outputs still come from layer-by-layer execution.
using Transform = std::function<Program(const Program&)>;

Graph har_resnet() {
  models::ResNetOptions o;
  o.input = {9, 128};
  o.batch_norm = false;
  return models::build_resnet(o);
}

void make_export(TempExport& e, Fmt f, const std::string& tag, int vectors, bool corrupt = false,
                 const Graph& g = har_resnet(), const Transform& fuse = nullptr) {
  GraphModule m = random_calibrated_model(g, config(f, g), 7);
  const IntModel im = lower(*m, identity_input_meta(g));
  e.program = build_program(im);
  std::vector<TestVector> tv = random_test_vectors(im, e.program, vectors, 42);
  if (corrupt) tv[1].output[0] += tv[1].output[0] < 0 ? 1 : -1;
  if (fuse) e.program = fuse(e.program);
  e.dir = fs::temp_directory_path() / ("qat_test_deploy_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(e.dir);
  write_c_export(im, e.program, tv, e.dir.string(), CodegenOptions{});
}

// The cycle estimate traced the same inference SysTick measured (vector 0, to the timer's
// resolution and its own reading overhead), attributed every instruction to a call of the
// program, in order, and charged at least the issue rate of the core.
void expect_cycle_estimate(const DeployResult& r, const TempExport& e) {
  ASSERT_TRUE(r.cycles.has_value());
  const CycleEstimate& c = *r.cycles;
  EXPECT_EQ(c.core, r.target);
  EXPECT_LE(std::abs(c.instructions - r.instructions.at(0)), 2 * r.instructions_per_tick)
      << "traced " << c.instructions << ", SysTick " << r.instructions.at(0);
  int64_t sum = 0;
  std::vector<std::string> layers;
  for (const auto& row : c.rows) {
    sum += row.instructions;
    if (row.layer.front() != '(' && row.layer != r.name + "_run") layers.push_back(row.layer);
  }
  EXPECT_EQ(sum, c.instructions);
  std::vector<std::string> calls;
  for (const auto& call : e.program.calls)
    calls.push_back(call.kind() == CallKind::kFused ? call.fused->name : call.node);
  EXPECT_EQ(layers, calls);
  if (r.target == "cortex-m4") {
    EXPECT_GT(c.cycles, static_cast<double>(c.instructions));
  } else {
    EXPECT_GE(c.cycles, 0.5 * static_cast<double>(c.instructions));
  }
  EXPECT_NEAR(c.cycles_at_wait_states(2) - c.cycles, 2.0 * static_cast<double>(c.refills), 1e-6);
  EXPECT_GT(c.refills, 0);
  EXPECT_NE(format_report(r, true).find("per call (vector 0)"), std::string::npos);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void expect_sound_without_cycles(const DeployResult& r, const TempExport& e, int vectors) {
  SCOPED_TRACE(r.target + "\n" + r.output);
  EXPECT_TRUE(r.passed());
  EXPECT_EQ(r.vectors, vectors);
  EXPECT_EQ(r.bit_exact, vectors);
  EXPECT_EQ(r.mismatching_outputs, 0);
  ASSERT_EQ(static_cast<int>(r.instructions.size()), vectors);
  // The calibration loop converts ticks to instructions exactly (to one tick).
  ASSERT_GT(r.instructions_per_tick, 0);
  EXPECT_LE(std::abs(r.calibration_ticks * r.instructions_per_tick - r.calibration_instructions),
            r.instructions_per_tick);
  // An inference executes at least one instruction per MAC.
  for (int64_t i : r.instructions) EXPECT_GT(i, e.program.macs());
  EXPECT_GT(r.instructions_per_mac, 1.0);
  EXPECT_EQ(r.macs, e.program.macs());
  // Weights and constants are in the model's flash; the arena is in its static RAM.
  EXPECT_GE(r.model.rodata, e.program.weight_bytes());
  EXPECT_GT(r.model.text, 0);
  EXPECT_GE(r.ram_bytes(), e.program.plan.arena_bytes);
  EXPECT_EQ(r.arena_bytes, e.program.plan.arena_bytes);
  EXPECT_GT(r.stack_bytes, 0);
  EXPECT_LT(r.stack_bytes, 16 * 1024);
  // The test vectors, the harness and the runtime library are in the image, not in the model.
  EXPECT_GT(r.test_vectors.rodata, 0);
  EXPECT_GT(r.harness.text, 0);
  EXPECT_GE(r.image.flash(), r.model.flash() + r.test_vectors.flash() + r.harness.flash());
  EXPECT_GE(r.image.ram(), r.model.ram());
  EXPECT_TRUE(r.build_dir.empty()) << "temporary build directory reported";
  // The memory budget's flash estimate (weights and constants + the kernel paths qk_config.h
  // links + call glue) against the image it predicts (the M4 build the sizes were measured on);
  // the image of a library-default qk_config.h (every path) is not what it predicts.
  // (Every deploy here builds with the defaults, -O2 and QK_USE_DSP.)
  const std::string config = read_file(e.dir / "kernels" / "qk_config.h");
  if (r.target == "cortex-m4" && config.find("generated by `qat export`") != std::string::npos) {
    const int64_t estimate = e.program.weight_bytes() + estimate_code_bytes(e.program);
    const double ratio = static_cast<double>(estimate) / static_cast<double>(r.model.flash());
    std::printf("flash estimate %lld B, image %lld B (%.3f)\n", static_cast<long long>(estimate),
                static_cast<long long>(r.model.flash()), ratio);
    EXPECT_GE(ratio, 0.99) << "the budget underestimates the flash";
    EXPECT_LE(ratio, 1.04) << "the budget overestimates the flash";
  }
}

void expect_sound(const DeployResult& r, const TempExport& e, int vectors) {
  expect_sound_without_cycles(r, e, vectors);
  expect_cycle_estimate(r, e);
}

void check_format(Fmt f, const std::string& tag, const Graph& g = har_resnet(),
                  const Transform& fuse = nullptr) {
  SKIP_WITHOUT_TOOLS();
  TempExport e;
  make_export(e, f, tag, 3, false, g, fuse);
  for (const char* target : {"cortex-m4", "cortex-m7"}) {
    DeployOptions opts;
    opts.target = target;
    const DeployResult r = deploy(e.dir.string(), opts);
    std::printf("%s", format_report(r).c_str());
    EXPECT_EQ(r.machine, std::string(target) == "cortex-m4" ? "mps2-an386" : "mps2-an500");
    expect_sound(r, e, 3);
  }
}

TEST(Deploy, Int8BitExactAndDeterministicOnM4AndM7) {
  SKIP_WITHOUT_TOOLS();
  TempExport e;
  make_export(e, Fmt::kPow2Int8, "int8", 4);
  DeployOptions m4;
  m4.target = "cortex-m4";
  const DeployResult a = deploy(e.dir.string(), m4);
  expect_sound(a, e, 4);
  // Same image, same emulator: -icount makes the counts repeatable exactly.
  const DeployResult b = deploy(e.dir.string(), m4);
  EXPECT_EQ(a.ticks, b.ticks);
  EXPECT_EQ(a.instructions, b.instructions);
  EXPECT_EQ(a.stack_bytes, b.stack_bytes);
  EXPECT_EQ(a.model.flash(), b.model.flash());
  DeployOptions m7;
  m7.target = "cortex-m7";
  const DeployResult c = deploy(e.dir.string(), m7);
  expect_sound(c, e, 4);
  // A subset of the vectors, and the figures in JSON.
  m7.vectors = 2;
  const DeployResult d = deploy(e.dir.string(), m7);
  expect_sound(d, e, 2);
  const nlohmann::json j = to_json(d);
  EXPECT_EQ(j.at("target"), "cortex-m7");
  EXPECT_EQ(j.at("bit_exact"), 2);
  EXPECT_EQ(j.at("flash_bytes"), d.flash_bytes());
  EXPECT_NE(format_report(d).find("2/2 vectors"), std::string::npos) << format_report(d);
}

TEST(Deploy, Int16BitExactOnM4AndM7) {
  check_format(Fmt::kPow2Int16, "int16");
}

TEST(Deploy, AffineInt8BitExactOnM4AndM7) {
  check_format(Fmt::kAffineInt8, "affine");
}

// Packed 4-bit weights everywhere (the DSP sub-byte kernels), and mixed precision: 4 / 2 / 8-bit
// weights, int8 and int16 layers with the conversions between them.
TEST(Deploy, PackedFourBitWeightsBitExactOnM4AndM7) {
  check_format(Fmt::kPow2W4, "w4");
}

TEST(Deploy, MixedPrecisionBitExactOnM4AndM7) {
  check_format(Fmt::kMixedPow2, "mixed");
}

// Fused execution (qk_fused_run driving the DSP kernels on bands of rows / columns and patches):
// the scheduler's 1D line-buffer blocks under a tight budget, int8 and mixed precision; 2D
// MobileNetV2 blocks as one-row bands and as 5x5 patches (depthwise and pointwise kernels on
// windows, in place).
Transform scheduled(int64_t arena_budget) {
  return [arena_budget](const Program& lw) {
    Schedule s = schedule_fusion(lw, {arena_budget, 16});
    EXPECT_TRUE(s.feasible()) << s.report();
    EXPECT_FALSE(s.blocks.empty());
    return std::move(s.program);
  };
}

Transform every_block(int tile_h, int tile_w, bool retain) {
  return [=](const Program& lw) {
    const std::vector<BlockChoice> blocks = maximal_blocks(lw, tile_h, tile_w, retain, true, 12);
    EXPECT_FALSE(blocks.empty());
    return fuse(lw, blocks);
  };
}

Graph small_mobilenet_v2() {
  models::MobileNetOptions o;
  o.input = {3, 24, 24};
  o.width = 0.35;
  return models::build_mobilenet_v2(o);
}

TEST(Deploy, FusedLineBuffersBitExactOnM4AndM7) {
  check_format(Fmt::kPow2Int8, "fused_int8", har_resnet(), scheduled(4096));
}

TEST(Deploy, FusedMixedPrecisionBitExactOnM4AndM7) {
  check_format(Fmt::kMixedPow2, "fused_mixed", har_resnet(), every_block(1, 3, true));
}

TEST(Deploy, FusedBandsAndPatchesBitExactOnM4AndM7) {
  check_format(Fmt::kPow2Int8, "fused_bands", small_mobilenet_v2(), every_block(1, 1 << 30, true));
  check_format(Fmt::kAffineInt8, "fused_patches", small_mobilenet_v2(), every_block(5, 5, false));
}

// The export's kernels/qk_config.h switches on only the paths its calls take; the image then
// links no portable fallback and no unused DSP kernel, stays bit-exact, and is smaller than with
// the library's default (every path).
TEST(Deploy, LinksOnlyTheKernelPathsTheModelTakes) {
  SKIP_WITHOUT_TOOLS();
  TempExport e;
  make_export(e, Fmt::kPow2Int8, "config", 2);
  const std::string config = read_file(e.dir / "kernels" / "qk_config.h");
  EXPECT_NE(config.find("QK_CONFIG_CONV_S8_DSP_GENERAL 1"), std::string::npos) << config;
  EXPECT_NE(config.find("QK_CONFIG_CONV_S8_DSP_DEPTHWISE 0"), std::string::npos) << config;
  EXPECT_NE(config.find("QK_CONFIG_CONV_S8_DSP_DEPTHWISE3 0"), std::string::npos) << config;
  EXPECT_NE(config.find("QK_CONFIG_CONV_S8_REFERENCE 0"), std::string::npos) << config;
  EXPECT_NE(config.find("QK_CONFIG_ADD_SATURATING 0"), std::string::npos) << config;
  EXPECT_NE(config.find("QK_CONFIG_ADD_INT64 0"), std::string::npos) << config;
  EXPECT_NE(config.find("QK_CONFIG_EPI_AFFINE_S8 0"), std::string::npos) << config;  // pow2 model
  DeployOptions o;
  o.estimate_cycles = false;
  const DeployResult small = deploy(e.dir.string(), o);
  expect_sound_without_cycles(small, e, 2);
  EXPECT_EQ(small.model_files.count("qk_conv.c"), 0u) << "portable conv linked";
  EXPECT_EQ(small.model_files.count("qk_dw_s8_dsp.c"), 0u) << "depthwise kernel linked";
  EXPECT_EQ(small.model_files.count("qk_dw3_s8_dsp.c"), 0u) << "3-wide depthwise kernel linked";
  EXPECT_GT(small.model_files.at("qk_conv_s8_dsp.c").flash(), 0);
  // The library's own file: every path.
  for (const auto& [file, content] : kernel_sources())
    if (file == "qk_config.h") std::ofstream(e.dir / "kernels" / file) << content;
  const DeployResult full = deploy(e.dir.string(), o);
  EXPECT_TRUE(full.passed());
  // The small image: the classifier head (below 1% of the MACs) on the portable linear kernel
  // (a few hundred instructions more for about 1 KB less), epilogue switches with only the
  // model's kinds (a few thousand fewer): about as fast.
  EXPECT_LT(small.instructions.at(0), full.instructions.at(0) * 1.001);
  EXPECT_GT(full.model_files.at("qk_conv.c").flash(), 0);
  EXPECT_LT(small.flash_bytes() + 2000, full.flash_bytes());

  // int16 (pow2, input zero point 0): the SMLALD kernels take every conv and linear.
  TempExport s16;
  make_export(s16, Fmt::kPow2Int16, "config_s16", 2);
  const std::string sconfig = read_file(s16.dir / "kernels" / "qk_config.h");
  EXPECT_NE(sconfig.find("QK_CONFIG_CONV_S16_REFERENCE 0"), std::string::npos) << sconfig;
  EXPECT_NE(sconfig.find("QK_CONFIG_LINEAR_S16_REFERENCE 0"), std::string::npos) << sconfig;
  const DeployResult r16 = deploy(s16.dir.string(), o);
  expect_sound_without_cycles(r16, s16, 2);
  EXPECT_EQ(r16.model_files.count("qk_conv.c"), 0u) << "portable int16 conv linked";
  EXPECT_GT(r16.model_files.at("qk_conv_s16_dsp.c").flash(), 0);

  // A MobileNetV2 layer by layer: both depthwise kernels (stride 1 on planar rows, stride 2
  // four channels per word) and the general path, each linked.
  TempExport m;
  make_export(m, Fmt::kAffineInt8, "config_mbv2", 1, false, small_mobilenet_v2());
  const std::string mconfig = read_file(m.dir / "kernels" / "qk_config.h");
  EXPECT_NE(mconfig.find("QK_CONFIG_CONV_S8_DSP_DEPTHWISE 1"), std::string::npos) << mconfig;
  EXPECT_NE(mconfig.find("QK_CONFIG_CONV_S8_DSP_DEPTHWISE3 1"), std::string::npos) << mconfig;
  EXPECT_NE(mconfig.find("QK_CONFIG_CONV_S8_DSP_GENERAL 1"), std::string::npos) << mconfig;
  const DeployResult mr = deploy(m.dir.string(), o);
  expect_sound_without_cycles(mr, m, 1);
  EXPECT_GT(mr.model_files.at("qk_dw3_s8_dsp.c").flash(), 0);
  EXPECT_GT(mr.model_files.at("qk_dw_s8_dsp.c").flash(), 0);
}

// A damaged <name>_layers.json (the per-call names of the cycle table) is an error naming the
// file, not a table with wrong rows.
TEST(Deploy, DamagedLayerListNamesTheFile) {
  SKIP_WITHOUT_TOOLS();
  TempExport e;
  make_export(e, Fmt::kPow2Int8, "layers", 1);
  const fs::path layers = e.dir / "model_layers.json";
  ASSERT_TRUE(fs::exists(layers));
  std::ofstream(layers) << "{\"calls\": [{\"layer\": \"conv1\", \"kernel\": 7}]}";
  try {
    deploy(e.dir.string(), DeployOptions{});
    FAIL() << "a damaged layer list was accepted";
  } catch (const ExportError& err) {
    EXPECT_NE(std::string(err.what()).find(layers.string()), std::string::npos) << err.what();
  }
}

// A board with less RAM (the linker script's region cut): an image that fits runs as before; one
// whose .data + .bss leave less than the 16 KiB minimum stack does not link, and says so.
TEST(Deploy, RamLimitLinksOnlyWhatFits) {
  SKIP_WITHOUT_TOOLS();
  TempExport e;
  make_export(e, Fmt::kPow2Int8, "ram_limit", 2);
  DeployOptions opts;
  opts.ram_limit_bytes = 64 * 1024;
  expect_sound(deploy(e.dir.string(), opts), e, 2);
  opts.ram_limit_bytes = 16 * 1024 + 1024;
  try {
    deploy(e.dir.string(), opts);
    FAIL() << "an arena of " << e.program.plan.arena_bytes
           << " B linked into 17 KiB with a 16 KiB stack";
  } catch (const ExportError& err) {
    EXPECT_NE(std::string(err.what()).find("linking"), std::string::npos) << err.what();
  }
  // A limit the linker script cannot take is refused before linking.
  opts.ram_limit_bytes = 64 * 1024 + 4;
  try {
    deploy(e.dir.string(), opts);
    FAIL() << "a RAM limit of 65,540 B was accepted";
  } catch (const ExportError& err) {
    EXPECT_NE(std::string(err.what()).find("a multiple of 8 up to the board's 4 MiB"),
              std::string::npos)
        << err.what();
  }
}

TEST(Deploy, ReportsMismatchesAndKeepsTheBuild) {
  SKIP_WITHOUT_TOOLS();
  TempExport e;
  make_export(e, Fmt::kPow2Int8, "corrupt", 3, /*corrupt=*/true);
  DeployOptions opts;
  opts.keep_build = true;
  const DeployResult r = deploy(e.dir.string(), opts);
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.bit_exact, 2);
  EXPECT_EQ(r.mismatching_outputs, 1);
  EXPECT_TRUE(r.repeat_matched) << "the output itself is stable; only the expectation is wrong";
  EXPECT_EQ(fs::path(r.build_dir), e.dir / "build-cortex-m4");
  for (const char* f : {"image.elf", "image.map", "build.sh", "console.txt", "target/harness.c",
                        "target/mps2_an386.ld"})
    EXPECT_TRUE(fs::exists(e.dir / "build-cortex-m4" / f)) << f;
  opts.vectors = 4;
  try {
    deploy(e.dir.string(), opts);
    FAIL() << "accepted more vectors than the export holds";
  } catch (const ExportError& err) {
    EXPECT_NE(std::string(err.what()).find("--vectors 4"), std::string::npos) << err.what();
  }
}

TEST(Deploy, MissingToolchainNamesTheInstallCommand) {
  const char* old = std::getenv("PATH");
  const std::string saved = old ? old : "";
  const fs::path empty =
      fs::temp_directory_path() / ("qat_test_empty_path_" + std::to_string(::getpid()));
  fs::create_directories(empty);
  setenv("PATH", empty.c_str(), 1);
  std::string check_msg, deploy_msg;
  try {
    check_deploy_tools();
  } catch (const ExportError& e) {
    check_msg = e.what();
  }
  try {
    deploy(empty.string(), DeployOptions{});
  } catch (const ExportError& e) {
    deploy_msg = e.what();
  }
  setenv("PATH", saved.c_str(), 1);
  fs::remove_all(empty);
  EXPECT_NE(check_msg.find(kInstallCommand), std::string::npos) << check_msg;
  EXPECT_NE(check_msg.find("arm-none-eabi-gcc"), std::string::npos) << check_msg;
  EXPECT_NE(check_msg.find("qemu-system-arm"), std::string::npos) << check_msg;
  EXPECT_NE(deploy_msg.find(kInstallCommand), std::string::npos) << deploy_msg;
}

TEST(Deploy, RejectsUnknownTargetsAndDirectoriesWithoutAnExport) {
  DeployOptions opts;
  opts.target = "cortex-m0";
  EXPECT_THROW(deploy(fs::temp_directory_path().string(), opts), ExportError);
  const fs::path empty =
      fs::temp_directory_path() / ("qat_test_no_export_" + std::to_string(::getpid()));
  fs::create_directories(empty);
  try {
    detect_export_name(empty.string());
    FAIL() << "found an export in an empty directory";
  } catch (const ExportError& e) {
    EXPECT_NE(std::string(e.what()).find("qat export"), std::string::npos) << e.what();
  }
  fs::remove_all(empty);
}

TEST(Deploy, LinkMapAttributesSectionsToFilesAndLibraryMembersToTheirUsers) {
  const std::string map = R"(Archive member included to satisfy reference by file (symbol)

/usr/lib/libgcc.a(_aeabi_ldivmod.o)
                              obj/model/qk_common.o (__aeabi_ldivmod)
/usr/lib/libgcc.a(_udivmoddi4.o)
                              /usr/lib/libgcc.a(_aeabi_ldivmod.o) (__udivmoddi4)
/usr/lib/libc_nano.a(lib_a-memcpy.o)
                              obj/harness/startup.o (memcpy)

Discarded input sections

 .text.unused   0x00000000       0x40 obj/model/model.o

Memory Configuration

Linker script and memory map

LOAD obj/model/model.o
.text           0x00000000      0x200
 *(.isr_vector)
 .isr_vector    0x00000000       0xc0 obj/harness/startup.o
                0x00000000                qat_vectors
 .text.model_run
                0x000000c0      0x1bc obj/model/model.o
                0x000000c0                model_run
 *fill*         0x0000027c        0x4
 .text          0x00000280       0x34 /usr/lib/libc_nano.a(lib_a-memcpy.o)

.rodata         0x00000300      0x120
 .rodata.conv1_w
                0x00000300      0x100 obj/model/model.o
 .rodata        0x00000400       0x20 obj/vectors/model_vectors.o

.data           0x20000000        0x8 load address 0x00000420
 .data.x        0x20000000        0x8 obj/model/model.o

.bss            0x20000008     0x1800
 .bss.model_arena
                0x20000008     0x1800 obj/model/model.o
 COMMON         0x20001808        0x4 obj/harness/harness.o

.comment        0x00000000       0x26
 .comment       0x00000000       0x26 obj/model/model.o
)";
  const auto files = parse_link_map(map);
  const SectionBytes& model = files.at("obj/model/model.o");
  EXPECT_EQ(model.text, 0x1bc);  // the discarded 0x40 and the .comment do not count
  EXPECT_EQ(model.rodata, 0x100);
  EXPECT_EQ(model.data, 8);
  EXPECT_EQ(model.bss, 0x1800);
  EXPECT_EQ(files.at("obj/harness/startup.o").text, 0xc0);
  EXPECT_EQ(files.at("obj/harness/harness.o").bss, 4);
  EXPECT_EQ(files.at("obj/vectors/model_vectors.o").rodata, 0x20);
  EXPECT_EQ(files.at("/usr/lib/libc_nano.a(lib_a-memcpy.o)").text, 0x34);
  EXPECT_EQ(files.size(), 5u);
  const auto refs = parse_archive_references(map);
  ASSERT_EQ(refs.size(), 3u);
  EXPECT_EQ(refs.at("/usr/lib/libgcc.a(_aeabi_ldivmod.o)"), "obj/model/qk_common.o");
  EXPECT_EQ(refs.at("/usr/lib/libgcc.a(_udivmoddi4.o)"), "/usr/lib/libgcc.a(_aeabi_ldivmod.o)");
  EXPECT_EQ(refs.at("/usr/lib/libc_nano.a(lib_a-memcpy.o)"), "obj/harness/startup.o");
}

}  // namespace
}  // namespace qat::exporter
