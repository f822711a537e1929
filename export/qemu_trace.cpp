#include "export/qemu_trace.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "qat/errors.h"

namespace qat::exporter {
namespace {

struct Block {
  std::string symbol;
  std::vector<ArmInstruction> insns;
};

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

// The two correction lines, each followed by a hexadecimal address.
constexpr const char* kRewound = "cpu_io_recompile: rewound execution of TB to ";
constexpr const char* kStopped = "Stopped execution of TB chain before ";

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

bool is_hex_group(const std::string& s) {
  if (s.size() != 4) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

// "0x000016d8:  e92d 47f0  push.w   {r4, r5, lr}" -> the decoded instruction.
bool parse_instruction_line(const std::string& line, ArmInstruction& out) {
  const size_t colon = line.find(':');
  if (colon == std::string::npos || colon < 3) return false;
  char* end = nullptr;
  const unsigned long address = std::strtoul(line.c_str() + 2, &end, 16);
  if (end != line.c_str() + colon) return false;
  size_t pos = colon + 1;
  const auto next_word = [&](std::string& w) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    const size_t b = pos;
    while (pos < line.size() && line[pos] != ' ') ++pos;
    w = line.substr(b, pos - b);
    return !w.empty();
  };
  int size = 0;
  std::string word;
  size_t before = pos;
  while (size < 4 && next_word(word) && is_hex_group(word)) {
    size += 2;
    before = pos;
  }
  if (size == 0) return false;
  pos = before;
  std::string mnemonic;
  if (!next_word(mnemonic)) return false;
  out = decode_instruction(static_cast<uint32_t>(address), size, mnemonic, trim(line.substr(pos)));
  return true;
}

bool transfers_control(const ArmInstruction& i) {
  switch (i.cls) {
    case InsnClass::kBranch:
    case InsnClass::kBranchRegister:
    case InsnClass::kTableBranch:
      return true;
    default:
      return i.writes_pc;
  }
}

class TraceReader {
 public:
  TraceReader(const std::string& run, const std::string& begin, const std::string& end,
              const CycleModelOptions& options)
      : run_(run), begin_(begin), end_(end), model_(options) {}

  void line(const std::string& l) {
    if (starts_with(l, "Trace ")) {
      trace(l);
    } else if (starts_with(l, "IN:")) {
      translating_ = std::make_shared<Block>();
      translating_->symbol = trim(l.substr(3));
      in_block_ = true;
    } else if (in_block_ && starts_with(l, "0x")) {
      ArmInstruction insn;
      if (parse_instruction_line(l, insn)) translating_->insns.push_back(insn);
    } else if (starts_with(l, kRewound)) {
      const auto pc =
          static_cast<uint32_t>(std::strtoul(l.c_str() + std::strlen(kRewound), nullptr, 16));
      if (pending_) {
        size_t k = 0;
        while (k < pending_count_ && pending_->insns[k].address < pc) ++k;
        pending_count_ = k;
      }
      in_block_ = false;
    } else if (starts_with(l, kStopped)) {
      const uint64_t host = std::strtoull(l.c_str() + std::strlen(kStopped), nullptr, 16);
      if (pending_ && pending_host_ == host) pending_.reset();
      in_block_ = false;
    } else if (trim(l).empty() || starts_with(l, "----")) {
      in_block_ = false;
    }
  }

  InferenceTrace finish() {
    if (pending_) finalize(nullptr);
    return std::move(result_);
  }

 private:
  // "Trace 0: 0x7f966c000100 [00800408/00003734/00000110/ff020200] qat_reset_handler"
  void trace(const std::string& l) {
    const size_t colon = l.find(": ", 6);
    const size_t bracket = l.find('[', colon == std::string::npos ? 0 : colon);
    const size_t slash = bracket == std::string::npos ? std::string::npos : l.find('/', bracket);
    if (colon == std::string::npos || slash == std::string::npos)
      throw ExportError("execution trace: cannot read the line '" + l + "'");
    const uint64_t host = std::strtoull(l.c_str() + colon + 2, nullptr, 16);
    const auto pc = static_cast<uint32_t>(std::strtoul(l.c_str() + slash + 1, nullptr, 16));
    in_block_ = false;
    std::shared_ptr<Block> block;
    if (translating_ && !translating_->insns.empty() && translating_->insns[0].address == pc) {
      block = translating_;
      blocks_[host] = block;
      translating_.reset();
    } else {
      const auto it = blocks_.find(host);
      if (it == blocks_.end() || it->second->insns.empty() || it->second->insns[0].address != pc)
        throw ExportError("execution trace: block at pc 0x" + hex(pc) +
                          " executed without its disassembly (QEMU needs -d in_asm with a "
                          "disassembler; line: '" +
                          l + "')");
      block = it->second;
    }
    if (pending_) finalize(block.get());
    pending_ = block;
    pending_host_ = host;
    pending_count_ = block->insns.size();
  }

  static std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08x", v);
    return buf;
  }

  // Charges the pending block, now that the block executed after it is known.
  void finalize(const Block* next) {
    const std::shared_ptr<Block> block = std::move(pending_);
    const std::string& sym = block->symbol;
    if (!result_.began) {
      result_.began = sym == begin_;
      return;
    }
    if (result_.ended || sym == begin_) return;
    if (sym == end_) {
      result_.ended = true;
      return;
    }
    const ArmInstruction* next_first =
        next != nullptr && !next->insns.empty() ? &next->insns[0] : nullptr;
    TraceCost cost;
    const int64_t refills_before = model_.refills();
    for (size_t k = 0; k < pending_count_; ++k) {
      const ArmInstruction& insn = block->insns[k];
      const bool last = k + 1 == pending_count_;
      const ArmInstruction* after = last ? next_first : &block->insns[k + 1];
      const bool discontinuous =
          last && next_first != nullptr && next_first->address != insn.address + insn.size;
      const bool taken = discontinuous && transfers_control(insn);
      cost.cycles += model_.execute(insn, taken, after);
      ++cost.instructions;
      // A jump that no instruction made: an exception entry or return.
      if (discontinuous && !taken) model_.break_pipeline();
    }
    const int64_t refills = model_.refills() - refills_before;
    if (sym != run_ && (!seen_run_ || (!in_call_ && sym == caller_))) {
      if (caller_.empty()) caller_ = sym;
      result_.caller += cost;
      return;
    }
    result_.run += cost;
    result_.refills += refills;
    if (sym == run_) {
      result_.body += cost;
      in_call_ = false;
      seen_run_ = true;
    } else {
      if (!in_call_) result_.calls.push_back({sym, {}});
      in_call_ = true;
      result_.calls.back().cost += cost;
    }
  }

  std::string run_, begin_, end_, caller_;
  CycleModel model_;
  std::unordered_map<uint64_t, std::shared_ptr<Block>> blocks_;
  std::shared_ptr<Block> translating_;
  bool in_block_ = false;
  std::shared_ptr<Block> pending_;
  uint64_t pending_host_ = 0;
  size_t pending_count_ = 0;
  bool seen_run_ = false, in_call_ = false;
  InferenceTrace result_;
};

}  // namespace

InferenceTrace read_inference_trace(std::istream& log, const std::string& run_function,
                                    const std::string& begin_marker, const std::string& end_marker,
                                    const CycleModelOptions& options) {
  TraceReader reader(run_function, begin_marker, end_marker, options);
  for (std::string l; std::getline(log, l);) reader.line(l);
  return reader.finish();
}

}  // namespace qat::exporter
