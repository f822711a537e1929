// Deployment on an emulated Cortex-M (torch-free): builds a C export (`qat export`) together
// with the target support files (export/target: startup, board linker scripts, semihosting,
// SysTick, the test-vector harness) with arm-none-eabi-gcc, runs it on QEMU's MPS2 boards with
// -icount shift=0 and reports what the target measured:
//   - bit exactness of every test vector against the host integer engine's outputs,
//   - instructions per inference (SysTick ticks, converted with an in-image calibration loop),
//   - flash and static RAM of the model + kernels (from the linker map, after --gc-sections),
//   - the stack high-water mark of <name>_run().
// See docs/DEPLOY.md for what is measured and how.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace qat::exporter {

struct DeployOptions {
  std::string target = "cortex-m4";  // cortex-m4 (QEMU mps2-an386) or cortex-m7 (mps2-an500)
  int vectors = 0;                   // run the first N test vectors of the export; 0: all
  std::string optimization = "-O2";
  // QK_USE_DSP selects the Armv7E-M SIMD kernels in qk_dispatch.c (int8 conv, depthwise,
  // linear); both cores have the DSP extension.
  std::vector<std::string> extra_cflags = {"-DQK_USE_DSP"};
  bool keep_build = false;  // keep the build directory (sources, objects, map, ELF, logs)
  // Build directory. Empty: EXPORT_DIR/build-<target> when kept, else a temporary directory
  // that is removed afterwards. A directory given here is never removed.
  std::string build_dir;
  std::string name;           // C prefix of the export; empty: the only <name>_vectors.h in it
  int timeout_seconds = 600;  // wall-clock limit of the emulator run
  // RAM the board has, for .data + .bss + stack (the linker script's region shortened to it);
  // 0: the board's 4 MiB. The image does not link when the model does not fit.
  int64_t ram_limit_bytes = 0;
  // Cycle estimate: one inference of vector 0 in a second image traced by QEMU (in_asm, exec)
  // and charged by the core's timing model (export/cycle_model.h; docs/DEPLOY.md, "Cycles").
  bool estimate_cycles = true;
  int flash_wait_states = 0;  // added to every pipeline refill
  double clock_mhz = 100;     // for the milliseconds in the report
};

// One call of <name>_run in the cycle estimate: a layer (or fused block) of the export, or a
// runtime routine the run function called directly ("(memcpy)").
struct CycleRow {
  std::string layer, kernel;  // kernel: the function entered
  int64_t macs = 0;
  int64_t instructions = 0;
  double cycles = 0;
};

struct CycleEstimate {
  std::string core;  // "cortex-m4" / "cortex-m7": the timing model applied
  int flash_wait_states = 0;
  double clock_mhz = 0;
  // One inference of vector 0: <name>_run and everything it calls, as SysTick measures it.
  int64_t instructions = 0;
  double cycles = 0;
  int64_t refills = 0;         // pipeline refills: each costs one cycle more per flash wait state
  std::vector<CycleRow> rows;  // the calls in order, then "<name>_run" itself (argument setup)
  double cycles_per_mac(int64_t macs) const { return macs > 0 ? cycles / macs : 0; }
  double milliseconds() const { return clock_mhz > 0 ? cycles / (clock_mhz * 1e3) : 0; }
  // The estimate at another number of flash wait states.
  double cycles_at_wait_states(int w) const {
    return cycles + static_cast<double>(w - flash_wait_states) * static_cast<double>(refills);
  }
};

// Allocated bytes by output section kind.
struct SectionBytes {
  int64_t text = 0, rodata = 0, data = 0, bss = 0;
  // What is stored in flash: code, constants and the initial values of .data.
  int64_t flash() const { return text + rodata + data; }
  // What occupies RAM statically (the stack comes on top).
  int64_t ram() const { return data + bss; }
  SectionBytes& operator+=(const SectionBytes& o);
};

struct DeployResult {
  std::string target, machine, name, export_dir, build_dir;
  // Bit exactness: vectors whose every output code matched the expected one.
  int vectors = 0, bit_exact = 0;
  int64_t mismatching_outputs = 0;
  bool repeat_matched = false;  // a second run of vector 0 gave the same output (no stale state)
  // Timing. instructions = ticks * instructions_per_tick (resolution: one tick).
  std::vector<int64_t> ticks, instructions;  // per vector
  int64_t calibration_instructions = 0, calibration_ticks = 0, instructions_per_tick = 0;
  int64_t min_instructions = 0, max_instructions = 0;
  double mean_instructions = 0, instructions_per_mac = 0;
  int64_t macs = 0, arena_bytes = 0, weight_bytes = 0;  // from <name>.h
  // The memory budget the export was made for (<NAME>_BUDGET_*_BYTES), when it has one.
  std::optional<int64_t> budget_flash, budget_ram;
  // Memory, from the linker map (only what survived --gc-sections). `model` = <name>.c and the
  // qk kernels; the other parts are in the image but not part of the model's footprint.
  SectionBytes model, test_vectors, harness;
  // `model` by source file ("model.c", "qk_conv_s8_dsp.c", ...): what each kernel file costs.
  std::map<std::string, SectionBytes> model_files;
  // libgcc + newlib routines (e.g. 64-bit division, memcpy), split by what pulled them into
  // the link: the model / kernels, or the harness and startup code.
  SectionBytes model_runtime, runtime;
  SectionBytes image;         // whole ELF (arm-none-eabi-size)
  int64_t stack_bytes = 0;    // high-water mark below the caller of <name>_run()
  int64_t stack_painted = 0;  // bytes the harness painted (a mark this high = overflow)
  std::string output;         // the harness's console output
  std::optional<CycleEstimate> cycles;

  int64_t flash_bytes() const { return model.flash(); }
  int64_t ram_bytes() const { return model.ram(); }
  // What one inference needs of RAM: static RAM + the stack's high-water mark.
  int64_t inference_ram_bytes() const { return ram_bytes() + stack_bytes; }
  // The measured flash (model + kernels) and RAM (static + stack) within the budget (true
  // without one).
  bool within_budget() const {
    return (!budget_flash || flash_bytes() <= *budget_flash) &&
           (!budget_ram || inference_ram_bytes() <= *budget_ram);
  }
  bool passed() const { return vectors > 0 && bit_exact == vectors && repeat_matched; }
};

// Builds, runs and measures the export in export_dir. Throws ExportError when a tool is
// missing (with the install command), the export is incomplete, compiling or linking fails, or
// the emulator does not finish; a mismatching output is reported in the result, not thrown.
DeployResult deploy(const std::string& export_dir, const DeployOptions& options);

// Throws ExportError naming the missing tools and how to install them.
void check_deploy_tools();

// The C prefix of the export in dir (the only <name>_vectors.h); throws when there is none or
// several.
std::string detect_export_name(const std::string& dir);

// Test vectors in the export (<NAME>_VECTORS of <name>_vectors.h).
int export_vector_count(const std::string& dir, const std::string& name);

// Human-readable report and machine-readable figures; `profile` adds the per-layer cycle table.
std::string format_report(const DeployResult& r, bool profile = false);
nlohmann::json to_json(const DeployResult& r);

// Allocated bytes per input file (object or "archive.a(member.o)") of a GNU ld map file, after
// garbage collection; only sections placed in .text / .rodata / .ARM.exidx / .data / .bss.
std::map<std::string, SectionBytes> parse_link_map(const std::string& map_text);

// Archive members of a GNU ld map file and the file whose reference pulled each one into the
// link ("Archive member included to satisfy reference by file").
std::map<std::string, std::string> parse_archive_references(const std::string& map_text);

// The export/target files embedded at build time (export/embed_kernels.cmake): (name, content).
const std::vector<std::pair<std::string, std::string>>& target_sources();

}  // namespace qat::exporter
