#include "export/deploy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <regex>
#include <sstream>
#include <thread>

#include "export/qemu_trace.h"
#include "qat/atomic_file.h"
#include "qat/errors.h"
#include "qat/process.h"

namespace qat::exporter {
namespace fs = std::filesystem;

SectionBytes& SectionBytes::operator+=(const SectionBytes& o) {
  text += o.text;
  rodata += o.rodata;
  data += o.data;
  bss += o.bss;
  return *this;
}

namespace {

constexpr const char* kInstall =
    "sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm "
    "(or run tools/setup.sh)";

struct TargetSpec {
  const char* name;
  const char* machine;  // QEMU machine
  std::vector<std::string> cpu_flags;
  const char* linker_script;
};

const std::vector<TargetSpec>& targets() {
  static const std::vector<TargetSpec> t = {
      {"cortex-m4",
       "mps2-an386",
       {"-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"},
       "mps2_an386.ld"},
      {"cortex-m7",
       "mps2-an500",
       {"-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"},
       "mps2_an500.ld"},
  };
  return t;
}

const TargetSpec& target_spec(const std::string& name) {
  std::string names;
  for (const auto& t : targets()) {
    if (name == t.name) return t;
    names += (names.empty() ? "" : ", ") + std::string(t.name);
  }
  throw ExportError("unknown deploy target '" + name + "'; supported: " + names);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ExportError("cannot read " + p.string());
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Absolute path of an executable found in $PATH (read at call time), or "".
std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  for (std::string dir; std::getline(ss, dir, ':');) {
    if (dir.empty()) continue;
    const fs::path p = fs::path(dir) / name;
    std::error_code ec;
    if (fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return "";
}

// Value of `#define <macro> <integer>` in a header, or -1.
int64_t header_define(const std::string& text, const std::string& macro) {
  const std::regex re("#define[ \\t]+" + macro + "[ \\t]+(-?[0-9]+)");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return -1;
  return std::stoll(m[1].str());
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Removes a temporary build directory on every exit path unless told to keep it.
struct DirGuard {
  fs::path dir;
  bool remove = false;
  ~DirGuard() {
    std::error_code ec;
    if (remove) fs::remove_all(dir, ec);
  }
};

// A fresh path in the temporary directory (process id + counter: unique across processes and
// threads).
fs::path temporary_build_dir(const std::string& target) {
  static std::atomic<int> counter{0};
  return fs::temp_directory_path() / ("qat-deploy-" + target + "-" + std::to_string(::getpid()) +
                                      "-" + std::to_string(counter++));
}

// Parsed "QAT ..." lines of the harness.
struct HarnessOutput {
  bool begun = false, summary = false, stack = false, calibration = false;
  int vectors = 0;
  int64_t calibration_instructions = 0, calibration_ticks = 0;
  std::vector<int64_t> ticks, mismatches;
  int64_t stack_bytes = 0, stack_painted = 0, repeat_mismatches = -1;
  int64_t summary_mismatches = -1;
  std::string fault;
};

// "key value" pairs after the first `skip` words of a line.
std::map<std::string, int64_t> pairs(const std::vector<std::string>& words, size_t skip) {
  std::map<std::string, int64_t> kv;
  for (size_t i = skip; i + 1 < words.size(); i += 2) kv[words[i]] = std::stoll(words[i + 1]);
  return kv;
}

HarnessOutput parse_harness(const std::string& text) {
  HarnessOutput h;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<std::string> w;
    for (std::string word; ls >> word;) w.push_back(word);
    if (w.size() < 2 || w[0] != "QAT") continue;
    try {
      if (w[1] == "begin") {
        h.begun = true;
        h.vectors = static_cast<int>(pairs(w, 2)["vectors"]);
      } else if (w[1] == "calibration") {
        auto kv = pairs(w, 2);
        h.calibration = true;
        h.calibration_instructions = kv["loop_instructions"];
        h.calibration_ticks = kv["ticks"];
      } else if (w[1] == "vector" && w.size() >= 3) {
        auto kv = pairs(w, 3);
        h.ticks.push_back(kv.at("ticks"));
        h.mismatches.push_back(kv.at("mismatches"));
      } else if (w[1] == "stack") {
        auto kv = pairs(w, 2);
        h.stack = true;
        h.stack_bytes = kv.at("bytes");
        h.stack_painted = kv.at("painted");
        h.repeat_mismatches = kv.at("repeat_mismatches");
      } else if (w[1] == "summary") {
        h.summary = true;
        h.summary_mismatches = pairs(w, 2).at("mismatches");
      } else if (w[1] == "fault") {
        h.fault = line;
      }
    } catch (const std::exception&) {
      throw ExportError("unexpected harness output line: " + line);
    }
  }
  return h;
}

// Whole-image section sizes from `arm-none-eabi-size -A -d`.
SectionBytes parse_size_output(const std::string& text) {
  SectionBytes s;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string name;
    int64_t size = 0;
    if (!(ls >> name >> size)) continue;
    if (name == ".text")
      s.text += size;
    else if (name == ".rodata" || name.rfind(".ARM.exidx", 0) == 0)
      s.rodata += size;
    else if (name == ".data")
      s.data += size;
    else if (name == ".bss")
      s.bss += size;
  }
  return s;
}

std::string thousands(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return (v < 0 ? "-" : "") + s;
}

}  // namespace

std::map<std::string, SectionBytes> parse_link_map(const std::string& map_text) {
  std::map<std::string, SectionBytes> files;
  const size_t start = map_text.find("Linker script and memory map");
  if (start == std::string::npos) return files;
  std::istringstream in(map_text.substr(start));
  std::string output_section;  // current output section (line starting in column 0)
  // An input section name alone on its line: address, size and file follow on the next one.
  std::string pending_input;
  const auto account = [&](uint64_t size, const std::string& file) {
    if (size == 0 || file.empty()) return;
    SectionBytes& b = files[file];
    const auto sz = static_cast<int64_t>(size);
    if (output_section == ".text")
      b.text += sz;
    else if (output_section == ".rodata" || output_section == ".ARM.exidx")
      b.rodata += sz;
    else if (output_section == ".data")
      b.data += sz;
    else if (output_section == ".bss")
      b.bss += sz;
  };
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] != ' ') {
      // Output section header: ".text 0x... 0x..." (or the name alone when it is long).
      std::istringstream ls(line);
      ls >> output_section;
      if (output_section.empty() || output_section[0] != '.') output_section.clear();
      pending_input.clear();
      continue;
    }
    std::istringstream ls(line);
    std::vector<std::string> w;
    for (std::string word; ls >> word;) w.push_back(word);
    if (w.empty()) continue;
    // Input section lines: " .name 0xADDR 0xSIZE file" or " .name" + "  0xADDR 0xSIZE file".
    // Symbol lines are " 0xADDR symbol" (two words), fill lines " *fill* 0xADDR 0xSIZE".
    size_t at = 0;
    if (w[0][0] == '.' || w[0] == "COMMON") {
      at = 1;
      if (w.size() == 1) {
        pending_input = w[0];
        continue;
      }
    } else if (pending_input.empty() || w[0].rfind("0x", 0) != 0) {
      pending_input.clear();
      continue;
    }
    pending_input.clear();
    if (w.size() < at + 3 || w[at].rfind("0x", 0) != 0 || w[at + 1].rfind("0x", 0) != 0) continue;
    // The file name may contain spaces: it is the rest of the line.
    std::string file = w[at + 2];
    for (size_t i = at + 3; i < w.size(); ++i) file += " " + w[i];
    account(std::stoull(w[at + 1], nullptr, 16), file);
  }
  return files;
}

std::map<std::string, std::string> parse_archive_references(const std::string& map_text) {
  std::map<std::string, std::string> refs;
  const std::string heading = "Archive member included to satisfy reference by file (symbol)";
  const size_t start = map_text.find(heading);
  if (start == std::string::npos) return refs;
  std::istringstream in(map_text.substr(start + heading.size()));
  std::string member;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line[0] != ' ') {
      // The next section (e.g. "Discarded input sections") ends the list; members have a
      // "(member.o)" suffix.
      if (line.back() != ')') break;
      member = line;
      continue;
    }
    const size_t first = line.find_first_not_of(' ');
    const size_t paren = line.rfind(" (");
    if (member.empty() || first == std::string::npos || paren == std::string::npos ||
        paren <= first)
      continue;
    refs[member] = line.substr(first, paren - first);
    member.clear();
  }
  return refs;
}

void check_deploy_tools() {
  std::vector<std::string> missing;
  for (const char* tool : {"arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm"})
    if (find_program(tool).empty()) missing.push_back(tool);
  if (!missing.empty()) {
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    throw ExportError("qat deploy needs " + names + " (not found in PATH). Install: " + kInstall);
  }
}

std::string detect_export_name(const std::string& dir) {
  if (!fs::is_directory(dir)) throw ExportError(dir + ": no such export directory");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    const std::string suffix = "_vectors.h";
    if (f.size() > suffix.size() && f.compare(f.size() - suffix.size(), suffix.size(), suffix) == 0)
      names.push_back(f.substr(0, f.size() - suffix.size()));
  }
  if (names.empty())
    throw ExportError(
        dir +
        " holds no C export (no <name>_vectors.h); write one with `qat export RUN_DIR --out " +
        dir + "`");
  if (names.size() > 1) {
    std::sort(names.begin(), names.end());
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw ExportError(dir + " holds several exports (" + list + "); choose one by name");
  }
  return names[0];
}

int export_vector_count(const std::string& dir, const std::string& name) {
  const fs::path h = fs::path(dir) / (name + "_vectors.h");
  const int64_t n = header_define(read_text(h), upper(name) + "_VECTORS");
  if (n < 0) throw ExportError(h.string() + ": no " + upper(name) + "_VECTORS");
  return static_cast<int>(n);
}

namespace {

struct Tools {
  std::string gcc, size, qemu;
};

// The cross tools, and newlib (a separate package from the compiler: without it nano.specs is
// unknown).
Tools find_tools() {
  check_deploy_tools();
  Tools t{find_program("arm-none-eabi-gcc"), find_program("arm-none-eabi-size"),
          find_program("qemu-system-arm")};
  const fs::path probe = temporary_build_dir("probe");
  const ProcessResult p = run_process({t.gcc, "-print-file-name=nano.specs"}, probe.string(), 60);
  fs::remove(probe.string() + ".out");
  fs::remove(probe.string() + ".err");
  const std::string path = p.out.substr(0, p.out.find('\n'));
  if (p.exit_code != 0 || !fs::path(path).is_absolute() || !fs::exists(path))
    throw ExportError("arm-none-eabi-gcc has no newlib (nano.specs not found). Install: " +
                      std::string(kInstall));
  return t;
}

// The export's name, files, test vectors and the figures its header records.
void read_export(const std::string& export_dir, const DeployOptions& options, DeployResult& r) {
  r.export_dir = fs::absolute(export_dir).lexically_normal().string();
  r.name = options.name.empty() ? detect_export_name(export_dir) : options.name;
  const bool identifier = !r.name.empty() && !std::isdigit(static_cast<unsigned char>(r.name[0])) &&
                          std::all_of(r.name.begin(), r.name.end(), [](char c) {
                            return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                          });
  if (!identifier) throw ExportError("export name '" + r.name + "' is not a C identifier");
  const fs::path dir(r.export_dir);
  for (const std::string& f :
       {r.name + ".c", r.name + ".h", r.name + "_vectors.c", r.name + "_vectors.h"})
    if (!fs::exists(dir / f))
      throw ExportError(r.export_dir + ": missing " + f + " (incomplete C export)");
  const int available = export_vector_count(r.export_dir, r.name);
  if (options.vectors < 0) throw ExportError("deploy: the number of vectors must be >= 0");
  if (options.vectors > available)
    throw ExportError(r.export_dir + " holds " + std::to_string(available) + " test vectors, " +
                      std::to_string(options.vectors) +
                      " requested; re-export with `qat export ... --vectors " +
                      std::to_string(options.vectors) + "` (qat deploy RUN_DIR does this itself)");
  const std::string N = upper(r.name);
  const std::string model_header = read_text(dir / (r.name + ".h"));
  r.macs = header_define(model_header, N + "_MACS");
  r.arena_bytes = header_define(model_header, N + "_ARENA_BYTES");
  r.weight_bytes = header_define(model_header, N + "_WEIGHT_BYTES");
  const int64_t flash = header_define(model_header, N + "_BUDGET_FLASH_BYTES");
  const int64_t ram = header_define(model_header, N + "_BUDGET_RAM_BYTES");
  if (flash > 0) r.budget_flash = flash;
  if (ram > 0) r.budget_ram = ram;
}

// The build directory with the target support files written into it; `guard` removes a
// temporary one afterwards.
fs::path prepare_build_dir(const DeployOptions& options, const DeployResult& r, DirGuard& guard) {
  fs::path build;
  if (!options.build_dir.empty()) {
    build = options.build_dir;
  } else if (options.keep_build) {
    build = fs::path(r.export_dir) / ("build-" + r.target);
  } else {
    build = temporary_build_dir(r.target);
    guard.dir = build;
    guard.remove = true;
  }
  build = fs::absolute(build).lexically_normal();
  fs::remove_all(build / "obj");
  fs::remove_all(build / "logs");
  fs::create_directories(build / "logs");
  fs::create_directories(build / "target");
  for (const auto& [file, content] : target_sources())
    write_file_atomic((build / "target" / file).string(), content);
  return build;
}

// Runs one build step, recording its command line in the build script.
ProcessResult build_step(const std::vector<std::string>& argv, const fs::path& log_stem,
                         std::vector<std::string>& script) {
  script.push_back(command_line(argv));
  return run_process(argv, log_stem.string(), 300);
}

// The compiler flags of every object of the image.
std::vector<std::string> target_cflags(const TargetSpec& spec, const DeployOptions& options,
                                       const DeployResult& r, const fs::path& build) {
  std::vector<std::string> cflags = spec.cpu_flags;
  cflags.push_back(options.optimization);
  for (const char* f : {"-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror",
                        "-ffunction-sections", "-fdata-sections"})
    cflags.push_back(f);
  for (const auto& f : options.extra_cflags) cflags.push_back(f);
  cflags.push_back("-DQAT_MODEL=" + r.name);
  if (options.vectors > 0) cflags.push_back("-DQAT_VECTORS=" + std::to_string(options.vectors));
  cflags.push_back("-I" + r.export_dir);
  cflags.push_back("-I" + (build / "target").string());
  return cflags;
}

// Compiles one source into obj/<part>/<stem>.o (the log as logs/<part>-<stem>); returns the object.
fs::path compile_one(const Tools& tools, const std::vector<std::string>& cflags,
                     const fs::path& file, const fs::path& build, const std::string& part,
                     std::vector<std::string>& script) {
  const fs::path obj = build / "obj" / part / (file.stem().string() + ".o");
  fs::create_directories(obj.parent_path());
  std::vector<std::string> argv = {tools.gcc};
  argv.insert(argv.end(), cflags.begin(), cflags.end());
  argv.insert(argv.end(), {"-c", file.string(), "-o", obj.string()});
  const ProcessResult p =
      build_step(argv, build / "logs" / (part + "-" + file.stem().string()), script);
  if (p.exit_code != 0)
    throw ExportError("arm-none-eabi-gcc failed on " + file.string() + ":\n" + p.err + p.out);
  return obj;
}

// Compiles the model, the kernels, the vectors and the harness. Objects go to obj/<part>/ so the
// map file attributes every section to a part: model (the model and the kernels), vectors,
// harness (harness + startup + semihosting + SysTick).
std::vector<std::string> compile(const Tools& tools, const TargetSpec& spec,
                                 const DeployOptions& options, const DeployResult& r,
                                 const fs::path& build, std::vector<std::string>& script) {
  const fs::path dir(r.export_dir);
  const std::vector<std::string> cflags = target_cflags(spec, options, r, build);

  struct Source {
    fs::path file;
    std::string part;
  };
  std::vector<Source> sources = {{dir / (r.name + ".c"), "model"}};
  std::vector<fs::path> kernels;
  if (fs::is_directory(dir / "kernels"))
    for (const auto& e : fs::directory_iterator(dir / "kernels"))
      if (e.path().extension() == ".c") kernels.push_back(e.path());
  if (kernels.empty()) throw ExportError(r.export_dir + ": no kernels/*.c (incomplete C export)");
  std::sort(kernels.begin(), kernels.end());
  for (const auto& k : kernels) sources.push_back({k, "model"});
  sources.push_back({dir / (r.name + "_vectors.c"), "vectors"});
  for (const auto& [file, content] : target_sources())
    if (fs::path(file).extension() == ".c") sources.push_back({build / "target" / file, "harness"});

  std::vector<std::string> objects;
  for (const auto& s : sources)
    objects.push_back(compile_one(tools, cflags, s.file, build, s.part, script).string());
  return objects;
}

// A board with less RAM: the linker script's RAM region shortened to the limit, so that the
// image only links when .data + .bss + the minimum stack fit, and the stack starts at its top.
void limit_ram(const fs::path& script_path, const DeployOptions& options, const DeployResult& r) {
  std::ifstream in(script_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  in.close();
  const std::string from = "RAM  (rwx) : ORIGIN = 0x20000000, LENGTH = 4M";
  const size_t at = text.find(from);
  if (at == std::string::npos)
    throw ExportError(script_path.string() + ": no RAM region line to limit for " + r.target);
  if (options.ram_limit_bytes % 8 != 0 || options.ram_limit_bytes > (int64_t{4} << 20))
    throw ExportError("RAM limit " + std::to_string(options.ram_limit_bytes) +
                      " B: a multiple of 8 up to the board's 4 MiB");
  text.replace(
      at, from.size(),
      "RAM  (rwx) : ORIGIN = 0x20000000, LENGTH = " + std::to_string(options.ram_limit_bytes));
  write_file_atomic(script_path.string(), text);
}

// Links with the board's memory map, newlib nano (memcpy/memset) without its startup files
// (startup.c is the reset handler) and without its syscalls (the harness uses semihosting).
void link(const Tools& tools, const TargetSpec& spec, const DeployResult& r,
          const std::vector<std::string>& objects, const fs::path& build,
          std::vector<std::string>& script, const std::string& image = "image") {
  std::vector<std::string> argv = {tools.gcc};
  argv.insert(argv.end(), spec.cpu_flags.begin(), spec.cpu_flags.end());
  argv.insert(argv.end(), {"-nostartfiles", "--specs=nano.specs", "--specs=nosys.specs",
                           "-Wl,--gc-sections", "-Wl,-Map=" + (build / (image + ".map")).string(),
                           "-T", (build / "target" / spec.linker_script).string()});
  argv.insert(argv.end(), objects.begin(), objects.end());
  argv.insert(argv.end(), {"-o", (build / (image + ".elf")).string()});
  const ProcessResult p = build_step(argv, build / "logs" / ("link-" + image), script);
  if (p.exit_code != 0)
    throw ExportError("linking the " + r.target + " image failed:\n" + p.err + p.out);
}

// Flash and RAM per part, from arm-none-eabi-size and the linker map: every input file goes to
// the part of its object; a runtime-library member to the part whose object first referenced it
// (following references between members, e.g. __aeabi_ldivmod -> __udivmoddi4).
void measure_memory(const Tools& tools, const fs::path& build, std::vector<std::string>& script,
                    DeployResult& r) {
  const ProcessResult p = build_step({tools.size, "-A", "-d", (build / "image.elf").string()},
                                     build / "logs" / "size", script);
  if (p.exit_code != 0) throw ExportError("arm-none-eabi-size failed:\n" + p.err);
  r.image = parse_size_output(p.out);
  const std::string map_text = read_text(build / "image.map");
  const auto refs = parse_archive_references(map_text);
  const auto part_of = [&](const std::string& file) -> std::string {
    std::string f = file;
    for (int depth = 0; depth < 64; ++depth) {
      const fs::path path(f);
      if (path.parent_path().parent_path() == build / "obj")
        return path.parent_path().filename().string();
      const auto it = refs.find(f);
      if (it == refs.end()) return "";
      f = it->second;
    }
    return "";
  };
  for (const auto& [file, bytes] : parse_link_map(map_text)) {
    const bool library = fs::path(file).parent_path().parent_path() != build / "obj";
    const std::string part = part_of(file);
    if (!library && part == "model") {
      r.model += bytes;
      r.model_files[fs::path(file).stem().string() + ".c"] += bytes;
    } else if (!library && part == "vectors")
      r.test_vectors += bytes;
    else if (!library && part == "harness")
      r.harness += bytes;
    else if (library && part == "model")
      r.model_runtime += bytes;
    else
      r.runtime += bytes;
  }
}

// The emulator command line: the board, no display or monitor, the semihosting console to a file
// of its own (by default QEMU writes it to stderr, mixed with its own diagnostics), -icount
// shift=0, then `extra` (log options) before the image.
std::vector<std::string> qemu_command(const Tools& tools, const TargetSpec& spec,
                                      const fs::path& console, const fs::path& elf,
                                      const std::vector<std::string>& extra) {
  std::vector<std::string> run = {tools.qemu, "-M",   spec.machine, "-nographic",
                                  "-monitor", "none", "-serial",    "none"};
  run.insert(run.end(), {"-chardev", "file,id=qatconsole,path=" + console.string()});
  run.insert(run.end(), {"-semihosting-config", "enable=on,target=native,chardev=qatconsole"});
  run.insert(run.end(), {"-icount", "shift=0"});
  run.insert(run.end(), extra.begin(), extra.end());
  run.insert(run.end(), {"-kernel", elf.string()});
  return run;
}

void write_build_script(const fs::path& build, const std::vector<std::string>& script) {
  std::string s;
  for (const auto& l : script) s += l + "\n";
  write_file_atomic((build / "build.sh").string(), s);
}

// Runs the image. -icount shift=0: every instruction advances virtual time by exactly 1 ns, so
// the SysTick readings are instruction counts and the run is deterministic. The semihosting
// console goes to a file of its own (by default QEMU writes it to stderr, mixed with its own
// diagnostics). Returns the parsed harness output; writes build.sh with every command run.
HarnessOutput run_on_qemu(const Tools& tools, const TargetSpec& spec, const DeployOptions& options,
                          const fs::path& build, std::vector<std::string>& script,
                          DeployResult& r) {
  const fs::path console = build / "console.txt";
  fs::remove(console);
  const std::vector<std::string> run = qemu_command(tools, spec, console, build / "image.elf", {});
  script.push_back(command_line(run));
  write_build_script(build, script);
  const ProcessResult p =
      run_process(run, (build / "logs" / "qemu").string(), options.timeout_seconds);
  r.output = fs::exists(console) ? read_text(console) : "";
  const std::string all_output = r.output + p.out + p.err;
  if (p.timed_out)
    throw ExportError("QEMU (" + std::string(spec.machine) + ") did not finish within " +
                      std::to_string(options.timeout_seconds) + " s; output so far:\n" +
                      all_output);
  if (p.err.find("unsupported machine type") != std::string::npos)
    throw ExportError("this qemu-system-arm has no " + std::string(spec.machine) +
                      " machine (added in QEMU 6.0): " + p.err +
                      "Install a newer one: " + kInstall);
  const HarnessOutput h = parse_harness(r.output);
  if (!h.fault.empty())
    throw ExportError("the " + r.target + " image faulted: " + h.fault + "\n" + all_output);
  if (!h.begun || !h.summary || !h.stack || !h.calibration ||
      static_cast<int>(h.ticks.size()) != h.vectors)
    throw ExportError("the harness did not finish on " + std::string(spec.machine) +
                      " (exit status " + std::to_string(p.exit_code) + "):\n" + all_output);
  const bool all_match = h.summary_mismatches == 0 && h.repeat_mismatches == 0;
  if ((p.exit_code == 0) != all_match)
    throw ExportError("harness exit status " + std::to_string(p.exit_code) +
                      " contradicts its summary:\n" + all_output);
  if (h.calibration_ticks <= 0)
    throw ExportError("SysTick did not count during the calibration loop:\n" + all_output);
  return h;
}

// Ticks -> instructions. The calibration loop executes a known number of instructions; with
// -icount shift=0 the ratio is an exact integer (40 for the 25 MHz processor clock of the MPS2
// boards). Readings are whole ticks, so each figure is exact to one tick.
void read_measurements(const HarnessOutput& h, DeployResult& r) {
  r.calibration_instructions = h.calibration_instructions;
  r.calibration_ticks = h.calibration_ticks;
  r.instructions_per_tick =
      std::llround(static_cast<double>(h.calibration_instructions) / h.calibration_ticks);
  if (r.instructions_per_tick < 1) r.instructions_per_tick = 1;
  r.vectors = h.vectors;
  r.ticks = h.ticks;
  for (size_t v = 0; v < h.ticks.size(); ++v) {
    r.instructions.push_back(h.ticks[v] * r.instructions_per_tick);
    if (h.mismatches[v] == 0) ++r.bit_exact;
    r.mismatching_outputs += h.mismatches[v];
  }
  r.repeat_matched = h.repeat_mismatches == 0;
  if (!r.instructions.empty()) {
    r.min_instructions = *std::min_element(r.instructions.begin(), r.instructions.end());
    r.max_instructions = *std::max_element(r.instructions.begin(), r.instructions.end());
    r.mean_instructions = std::accumulate(r.instructions.begin(), r.instructions.end(), 0.0) /
                          static_cast<double>(r.instructions.size());
    if (r.macs > 0) r.instructions_per_mac = r.mean_instructions / static_cast<double>(r.macs);
  }
  r.stack_bytes = h.stack_bytes;
  r.stack_painted = h.stack_painted;
  if (r.stack_bytes >= r.stack_painted)
    throw ExportError("the model used the whole stack (" + std::to_string(r.stack_painted) +
                      " bytes) on " + r.target);
}

// The calls of <name>_run as the export lists them (<name>_layers.json), in call order.
std::vector<CycleRow> export_layers(const DeployResult& r) {
  const fs::path path = fs::path(r.export_dir) / (r.name + "_layers.json");
  std::vector<CycleRow> rows;
  if (!fs::exists(path)) return rows;  // an export from before the file existed
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text(path));
    for (const auto& c : j.at("calls"))
      rows.push_back({c.at("layer").get<std::string>(), c.at("kernel").get<std::string>(),
                      c.at("macs").get<int64_t>(), 0, 0});
  } catch (const nlohmann::json::exception& e) {
    throw ExportError(path.string() + ": " + e.what());
  }
  return rows;
}

// Reads QEMU's log from a FIFO while QEMU runs (a log of a large model would take gigabytes on
// disk). The reader keeps draining the pipe after an error, so QEMU never blocks on it.
class TraceFifo {
 public:
  TraceFifo(fs::path path, std::string run, CycleModelOptions options) : path_(std::move(path)) {
    fs::remove(path_);
    if (::mkfifo(path_.c_str(), 0600) != 0)
      throw ExportError("cannot create the trace pipe " + path_.string() + ": " +
                        std::strerror(errno));
    reader_ = std::thread([this, run = std::move(run), options] {
      std::ifstream in(path_);
      try {
        trace_ = read_inference_trace(in, run, "qat_profile_begin", "qat_profile_end", options);
      } catch (...) {
        error_ = std::current_exception();
        char buf[65536];
        while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        }
      }
    });
  }
  // After QEMU ended: waits for the reader (unblocking it if QEMU never opened the log).
  InferenceTrace finish() {
    stop();
    if (error_) std::rethrow_exception(error_);
    return std::move(trace_);
  }
  ~TraceFifo() { stop(); }
  TraceFifo(const TraceFifo&) = delete;
  TraceFifo& operator=(const TraceFifo&) = delete;

 private:
  // Opening the pipe for writing (and closing it) ends a reader still waiting in its open.
  void stop() {
    if (reader_.joinable()) {
      const int fd = ::open(path_.c_str(), O_WRONLY | O_NONBLOCK);
      if (fd >= 0) ::close(fd);
      reader_.join();
    }
    std::error_code ec;
    fs::remove(path_, ec);
  }

  fs::path path_;
  std::thread reader_;
  InferenceTrace trace_;
  std::exception_ptr error_;
};

// The cycle estimate: the same model objects linked with the profiling harness (one inference
// between two marker calls), run with QEMU's execution trace, each executed instruction charged
// by the core's timing model.
CycleEstimate estimate_cycles(const Tools& tools, const TargetSpec& spec,
                              const DeployOptions& options, const DeployResult& r,
                              const fs::path& build, std::vector<std::string> objects,
                              std::vector<std::string>& script) {
  std::vector<std::string> cflags = target_cflags(spec, options, r, build);
  cflags.push_back("-DQAT_PROFILE");
  const fs::path obj =
      compile_one(tools, cflags, build / "target" / "harness.c", build, "profile", script);
  for (auto& o : objects)
    if (fs::path(o) == build / "obj" / "harness" / "harness.o") o = obj.string();
  link(tools, spec, r, objects, build, script, "image-profile");

  CycleModelOptions model;
  model.core = spec.name == std::string("cortex-m7") ? CycleCore::kCortexM7 : CycleCore::kCortexM4;
  model.flash_wait_states = options.flash_wait_states;
  const fs::path console = build / "console-profile.txt";
  fs::remove(console);
  const fs::path fifo = build / "trace.fifo";
  const std::vector<std::string> run =
      qemu_command(tools, spec, console, build / "image-profile.elf",
                   {"-d", "in_asm,exec,nochain", "-D", fifo.string()});
  script.push_back("# cycle estimate: the execution log goes to a pipe that qat deploy reads");
  script.push_back(command_line(run));
  write_build_script(build, script);
  TraceFifo reader(fifo, r.name + "_run", model);
  const ProcessResult p =
      run_process(run, (build / "logs" / "qemu-profile").string(), options.timeout_seconds);
  const InferenceTrace trace = reader.finish();
  const std::string out = (fs::exists(console) ? read_text(console) : "") + p.out + p.err;
  if (p.timed_out)
    throw ExportError("the traced QEMU run for the cycle estimate did not finish within " +
                      std::to_string(options.timeout_seconds) + " s (--timeout, or --no-cycles)");
  // (Mismatching outputs are the first run's finding; this run only has to complete.)
  if (p.exit_code != 0 || out.find("QAT profile mismatches ") == std::string::npos)
    throw ExportError("the profiling image did not complete (exit status " +
                      std::to_string(p.exit_code) + "):\n" + out);
  if (!trace.began || !trace.ended || trace.run.instructions == 0)
    throw ExportError("the execution trace holds no complete inference (markers " +
                      std::string(trace.began ? "" : "qat_profile_begin ") +
                      std::string(trace.ended ? "" : "qat_profile_end ") + "missing)");

  CycleEstimate e;
  e.core = spec.name;
  e.flash_wait_states = options.flash_wait_states;
  e.clock_mhz = options.clock_mhz;
  e.instructions = trace.run.instructions;
  e.cycles = trace.run.cycles;
  e.refills = trace.refills;
  const std::vector<CycleRow> layers = export_layers(r);
  size_t next = 0;
  for (const TraceCall& call : trace.calls) {
    CycleRow row;
    if (next < layers.size() && layers[next].kernel == call.entry) {
      row = layers[next++];
    } else {
      row.layer = "(" + call.entry + ")";
      row.kernel = call.entry;
    }
    row.instructions = call.cost.instructions;
    row.cycles = call.cost.cycles;
    e.rows.push_back(row);
  }
  e.rows.push_back(
      {r.name + "_run", r.name + "_run", 0, trace.body.instructions, trace.body.cycles});
  return e;
}

}  // namespace

DeployResult deploy(const std::string& export_dir, const DeployOptions& options) {
  const TargetSpec& spec = target_spec(options.target);
  const Tools tools = find_tools();
  DeployResult r;
  r.target = spec.name;
  r.machine = spec.machine;
  read_export(export_dir, options, r);
  DirGuard guard;
  const fs::path build = prepare_build_dir(options, r, guard);
  r.build_dir = build.string();
  std::vector<std::string> script = {
      "#!/bin/sh", "# Commands `qat deploy` ran for " + r.export_dir + " on " + r.target, "set -e"};
  const std::vector<std::string> objects = compile(tools, spec, options, r, build, script);
  if (options.ram_limit_bytes > 0) limit_ram(build / "target" / spec.linker_script, options, r);
  link(tools, spec, r, objects, build, script);
  measure_memory(tools, build, script, r);
  read_measurements(run_on_qemu(tools, spec, options, build, script, r), r);
  if (options.estimate_cycles)
    r.cycles = estimate_cycles(tools, spec, options, r, build, objects, script);
  if (!options.keep_build && options.build_dir.empty()) r.build_dir.clear();
  return r;
}

namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// The per-call table of the cycle estimate.
std::string cycle_table(const CycleEstimate& e) {
  size_t width = 5;
  for (const auto& row : e.rows) width = std::max(width, row.layer.size());
  std::ostringstream o;
  const auto cell = [](const std::string& s, size_t w, bool left) {
    return left ? s + std::string(w > s.size() ? w - s.size() : 0, ' ')
                : std::string(w > s.size() ? w - s.size() : 0, ' ') + s;
  };
  o << "  per call (vector 0):\n    " << cell("layer", width, true) << "  "
    << cell("kernel", 24, true) << cell("MACs", 12, false) << cell("instructions", 14, false)
    << cell("est. cycles", 14, false) << cell("cycles/MAC", 11, false) << cell("share", 8, false)
    << "\n";
  for (const auto& row : e.rows) {
    o << "    " << cell(row.layer, width, true) << "  " << cell(row.kernel, 24, true)
      << cell(row.macs > 0 ? thousands(row.macs) : "", 12, false)
      << cell(thousands(row.instructions), 14, false)
      << cell(thousands(std::llround(row.cycles)), 14, false)
      << cell(row.macs > 0 ? fixed(row.cycles / row.macs, 2) : "", 11, false)
      << cell(fixed(e.cycles > 0 ? 100.0 * row.cycles / e.cycles : 0, 1) + "%", 8, false) << "\n";
  }
  return o.str();
}

}  // namespace

std::string format_report(const DeployResult& r, bool profile) {
  std::ostringstream o;
  const auto row = [&o](const std::string& label, const std::string& value) {
    o << "  " << label << std::string(label.size() < 28 ? 28 - label.size() : 1, ' ') << value
      << "\n";
  };
  char per_mac[32];
  std::snprintf(per_mac, sizeof(per_mac), "%.2f", r.instructions_per_mac);
  o << "deploy " << r.name << " on " << r.target << " (QEMU " << r.machine
    << ", -icount shift=0)\n";
  row("bit-exact",
      std::to_string(r.bit_exact) + "/" + std::to_string(r.vectors) + " vectors (" +
          std::to_string(r.mismatching_outputs) + " output codes differ" +
          (r.repeat_matched ? "" : "; a repeated run of vector 0 gave another output") + ")");
  row("instructions / inference",
      thousands(std::llround(r.mean_instructions)) + " mean, " + thousands(r.min_instructions) +
          " min, " + thousands(r.max_instructions) +
          " max (1 SysTick tick = " + std::to_string(r.instructions_per_tick) + " instructions)");
  row("instructions / MAC", std::string(per_mac) + " (" + thousands(r.macs) + " MACs)");
  if (r.cycles) {
    const CycleEstimate& e = *r.cycles;
    row("estimated cycles", thousands(std::llround(e.cycles)) + " / inference, " +
                                fixed(e.cycles_per_mac(r.macs), 2) + " / MAC, " +
                                fixed(e.milliseconds(), 2) + " ms at " + fixed(e.clock_mhz, 0) +
                                " MHz (--clock)");
    row("", (e.core == "cortex-m7" ? std::string("Cortex-M7 timing model (coarse)")
                                   : std::string("Cortex-M4 timing model")) +
                ", " + std::to_string(e.flash_wait_states) +
                " flash wait states; vector 0 traced: " + thousands(e.instructions) +
                " instructions (docs/DEPLOY.md, Cycles)");
  }
  row("flash, model + kernels",
      thousands(r.flash_bytes()) + " B (.text " + thousands(r.model.text) + " + .rodata " +
          thousands(r.model.rodata) + " + .data " + thousands(r.model.data) +
          "; weights and constants " + thousands(r.weight_bytes) + " B)");
  if (r.model_runtime.flash() > 0)
    row("  + runtime library",
        thousands(r.model_runtime.flash()) +
            " B of libgcc / newlib routines the model calls (not in the flash above)");
  if (!r.model_files.empty()) {
    std::vector<std::pair<std::string, SectionBytes>> files(r.model_files.begin(),
                                                            r.model_files.end());
    std::stable_sort(files.begin(), files.end(), [](const auto& a, const auto& b) {
      return a.second.flash() > b.second.flash();
    });
    std::string list;
    for (const auto& [file, bytes] : files)
      if (bytes.flash() > 0)
        list += (list.empty() ? "" : ", ") + file + " " + thousands(bytes.flash());
    row("  by file (B)", list);
  }
  row("static RAM, model + kernels",
      thousands(r.ram_bytes()) + " B (.data " + thousands(r.model.data) + " + .bss " +
          thousands(r.model.bss) + "; arena " + thousands(r.arena_bytes) + " B)");
  row("stack, " + r.name + "_run()", thousands(r.stack_bytes) + " B (high-water mark)");
  if (r.budget_flash || r.budget_ram) {
    std::string b;
    if (r.budget_flash)
      b += "flash " + thousands(r.flash_bytes()) + " of " + thousands(*r.budget_flash) + " B " +
           (r.flash_bytes() <= *r.budget_flash ? "(within)" : "(OVER)");
    if (r.budget_ram)
      b += std::string(b.empty() ? "" : ", ") + "RAM (static " + thousands(r.ram_bytes()) +
           " + stack " + thousands(r.stack_bytes) + ") " + thousands(r.inference_ram_bytes()) +
           " of " + thousands(*r.budget_ram) + " B " +
           (r.inference_ram_bytes() <= *r.budget_ram ? "(within)" : "(OVER)");
    row("memory budget", b);
  }
  row("whole image",
      "flash " + thousands(r.image.flash()) + " B, static RAM " + thousands(r.image.ram()) +
          " B; outside the model figures: harness + startup " + thousands(r.harness.flash()) +
          " B, test vectors " + thousands(r.test_vectors.flash()) +
          " B, their libgcc / newlib routines " + thousands(r.runtime.flash()) + " B of flash");
  if (!r.build_dir.empty()) row("build directory", r.build_dir);
  if (profile && r.cycles) o << cycle_table(*r.cycles);
  return o.str();
}

nlohmann::json to_json(const DeployResult& r) {
  const auto sections = [](const SectionBytes& s) {
    return nlohmann::json{{"text", s.text}, {"rodata", s.rodata}, {"data", s.data},
                          {"bss", s.bss},   {"flash", s.flash()}, {"ram", s.ram()}};
  };
  nlohmann::json cycles;
  if (r.cycles) {
    const CycleEstimate& e = *r.cycles;
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : e.rows)
      rows.push_back({{"layer", row.layer},
                      {"kernel", row.kernel},
                      {"macs", row.macs},
                      {"instructions", row.instructions},
                      {"cycles", row.cycles}});
    cycles = {{"core_model", e.core},
              {"flash_wait_states", e.flash_wait_states},
              {"clock_mhz", e.clock_mhz},
              {"instructions", e.instructions},
              {"cycles", e.cycles},
              {"pipeline_refills", e.refills},
              {"cycles_per_mac", e.cycles_per_mac(r.macs)},
              {"milliseconds", e.milliseconds()},
              {"calls", rows}};
  }
  return {{"target", r.target},
          {"cycles", cycles},
          {"machine", r.machine},
          {"name", r.name},
          {"export_dir", r.export_dir},
          {"vectors", r.vectors},
          {"bit_exact", r.bit_exact},
          {"mismatching_outputs", r.mismatching_outputs},
          {"repeat_matched", r.repeat_matched},
          {"passed", r.passed()},
          {"instructions", r.instructions},
          {"ticks", r.ticks},
          {"instructions_per_tick", r.instructions_per_tick},
          {"calibration",
           {{"loop_instructions", r.calibration_instructions}, {"ticks", r.calibration_ticks}}},
          {"instructions_mean", r.mean_instructions},
          {"instructions_min", r.min_instructions},
          {"instructions_max", r.max_instructions},
          {"macs", r.macs},
          {"instructions_per_mac", r.instructions_per_mac},
          {"flash_bytes", r.flash_bytes()},
          {"ram_bytes", r.ram_bytes()},
          {"arena_bytes", r.arena_bytes},
          {"weight_bytes", r.weight_bytes},
          {"stack_bytes", r.stack_bytes},
          {"budget",
           {{"flash", r.budget_flash ? nlohmann::json(*r.budget_flash) : nlohmann::json()},
            {"ram", r.budget_ram ? nlohmann::json(*r.budget_ram) : nlohmann::json()},
            {"within", r.within_budget()}}},
          {"memory",
           {{"model", sections(r.model)},
            {"model_files",
             [&] {
               nlohmann::json f = nlohmann::json::object();
               for (const auto& [file, bytes] : r.model_files) f[file] = sections(bytes);
               return f;
             }()},
            {"test_vectors", sections(r.test_vectors)},
            {"harness", sections(r.harness)},
            {"model_runtime_library", sections(r.model_runtime)},
            {"runtime_library", sections(r.runtime)},
            {"image", sections(r.image)}}}};
}

}  // namespace qat::exporter
