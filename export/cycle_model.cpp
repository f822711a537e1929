#include "export/cycle_model.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdlib>
#include <vector>

namespace qat::exporter {
namespace {

constexpr int kSp = 13, kLr = 14, kPc = 15;

uint16_t bit(int reg) {
  return static_cast<uint16_t>(1u << reg);
}

// r0..r15 under capstone's names (sb = r9, sl = r10, fp = r11, ip = r12), or -1.
int register_number(const std::string& word) {
  static const std::array<const char*, 7> aliases = {"sb", "sl", "fp", "ip", "sp", "lr", "pc"};
  static const std::array<int, 7> numbers = {9, 10, 11, 12, 13, 14, 15};
  if (word.size() >= 2 && word[0] == 'r' &&
      std::all_of(word.begin() + 1, word.end(), [](char c) { return std::isdigit(c) != 0; })) {
    const int n = std::atoi(word.c_str() + 1);
    return n <= 15 ? n : -1;
  }
  for (size_t i = 0; i < aliases.size(); ++i)
    if (word == aliases[i]) return numbers[i];
  return -1;
}

// Registers named in an operand text; "r4-r7" ranges included.
uint16_t registers_in(const std::string& text) {
  uint16_t mask = 0;
  int last = -1;       // the register just read, while only spaces follow it
  bool range = false;  // a '-' followed it
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (!std::isalpha(static_cast<unsigned char>(c))) {
      if (c == '-' && last >= 0) {
        range = true;
      } else if (!std::isspace(static_cast<unsigned char>(c))) {
        last = -1;
        range = false;
      }
      ++i;
      continue;
    }
    size_t j = i;
    while (j < text.size() && std::isalnum(static_cast<unsigned char>(text[j]))) ++j;
    const int reg = register_number(text.substr(i, j - i));
    if (reg >= 0) {
      if (range)
        for (int r = last; r <= reg; ++r) mask |= bit(r);
      mask |= bit(reg);
    }
    last = range ? -1 : reg;
    range = false;
    i = j;
  }
  return mask;
}

int count_bits(uint16_t mask) {
  int n = 0;
  for (; mask; mask &= static_cast<uint16_t>(mask - 1)) ++n;
  return n;
}

// Operands split at the commas that are outside [] and {}.
std::vector<std::string> split_operands(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  if (!cur.empty() || !out.empty()) out.push_back(cur);
  for (auto& s : out) {
    const size_t b = s.find_first_not_of(' ');
    const size_t e = s.find_last_not_of(' ');
    s = b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  }
  return out;
}

bool is_condition(const std::string& s) {
  static const std::array<const char*, 17> conds = {"eq", "ne", "cs", "hs", "cc", "lo",
                                                    "mi", "pl", "vs", "vc", "hi", "ls",
                                                    "ge", "lt", "gt", "le", "al"};
  for (const char* c : conds)
    if (s == c) return true;
  return false;
}

enum Shape { kDest, kCompare, kLongDest, kLongAccumulate, kLoadShape, kStoreShape, kNoRegs };

struct Base {
  const char* name;
  InsnClass cls;
  Shape shape;
  bool simd;
};

// Integer mnemonics by base name; the longest base that leaves a valid suffix (optional `s`,
// optional condition) wins, so "bls" is B + LS and "bl" is BL.
const std::vector<Base>& bases() {
  using C = InsnClass;
  static const std::vector<Base> b = {
      // data processing
      {"adc", C::kAlu, kDest, false},
      {"add", C::kAlu, kDest, false},
      {"addw", C::kAlu, kDest, false},
      {"adr", C::kAlu, kDest, false},
      {"and", C::kAlu, kDest, false},
      {"asr", C::kAlu, kDest, false},
      {"bfc", C::kAlu, kDest, false},
      {"bfi", C::kAlu, kDest, false},
      {"bic", C::kAlu, kDest, false},
      {"clz", C::kAlu, kDest, false},
      {"cmn", C::kAlu, kCompare, false},
      {"cmp", C::kAlu, kCompare, false},
      {"eor", C::kAlu, kDest, false},
      {"lsl", C::kAlu, kDest, false},
      {"lsr", C::kAlu, kDest, false},
      {"mov", C::kAlu, kDest, false},
      {"movw", C::kAlu, kDest, false},
      {"movt", C::kAlu, kDest, false},
      {"mvn", C::kAlu, kDest, false},
      {"neg", C::kAlu, kDest, false},
      {"orn", C::kAlu, kDest, false},
      {"orr", C::kAlu, kDest, false},
      {"pkhbt", C::kAlu, kDest, true},
      {"pkhtb", C::kAlu, kDest, true},
      {"rbit", C::kAlu, kDest, false},
      {"rev", C::kAlu, kDest, true},
      {"rev16", C::kAlu, kDest, true},
      {"revsh", C::kAlu, kDest, true},
      {"ror", C::kAlu, kDest, false},
      {"rrx", C::kAlu, kDest, false},
      {"rsb", C::kAlu, kDest, false},
      {"sbc", C::kAlu, kDest, false},
      {"sbfx", C::kAlu, kDest, false},
      {"sel", C::kAlu, kDest, true},
      {"ssat", C::kAlu, kDest, false},
      {"ssat16", C::kAlu, kDest, true},
      {"sub", C::kAlu, kDest, false},
      {"subw", C::kAlu, kDest, false},
      {"sxtab", C::kAlu, kDest, false},
      {"sxtab16", C::kAlu, kDest, true},
      {"sxtah", C::kAlu, kDest, false},
      {"sxtb", C::kAlu, kDest, false},
      {"sxtb16", C::kAlu, kDest, true},
      {"sxth", C::kAlu, kDest, false},
      {"teq", C::kAlu, kCompare, false},
      {"tst", C::kAlu, kCompare, false},
      {"ubfx", C::kAlu, kDest, false},
      {"usat", C::kAlu, kDest, false},
      {"usat16", C::kAlu, kDest, true},
      {"uxtab", C::kAlu, kDest, false},
      {"uxtab16", C::kAlu, kDest, true},
      {"uxtah", C::kAlu, kDest, false},
      {"uxtb", C::kAlu, kDest, false},
      {"uxtb16", C::kAlu, kDest, true},
      {"uxth", C::kAlu, kDest, false},
      {"usad8", C::kAlu, kDest, true},
      {"usada8", C::kAlu, kDest, true},
      // saturating and parallel add/subtract (one cycle, SIMD)
      {"qadd", C::kAlu, kDest, true},
      {"qsub", C::kAlu, kDest, true},
      {"qdadd", C::kAlu, kDest, true},
      {"qdsub", C::kAlu, kDest, true},
      {"qadd8", C::kAlu, kDest, true},
      {"qadd16", C::kAlu, kDest, true},
      {"qsub8", C::kAlu, kDest, true},
      {"qsub16", C::kAlu, kDest, true},
      {"qasx", C::kAlu, kDest, true},
      {"qsax", C::kAlu, kDest, true},
      {"sadd8", C::kAlu, kDest, true},
      {"sadd16", C::kAlu, kDest, true},
      {"ssub8", C::kAlu, kDest, true},
      {"ssub16", C::kAlu, kDest, true},
      {"sasx", C::kAlu, kDest, true},
      {"ssax", C::kAlu, kDest, true},
      {"shadd8", C::kAlu, kDest, true},
      {"shadd16", C::kAlu, kDest, true},
      {"shsub8", C::kAlu, kDest, true},
      {"shsub16", C::kAlu, kDest, true},
      {"uadd8", C::kAlu, kDest, true},
      {"uadd16", C::kAlu, kDest, true},
      {"usub8", C::kAlu, kDest, true},
      {"usub16", C::kAlu, kDest, true},
      {"uasx", C::kAlu, kDest, true},
      {"usax", C::kAlu, kDest, true},
      {"uhadd8", C::kAlu, kDest, true},
      {"uhadd16", C::kAlu, kDest, true},
      {"uqadd8", C::kAlu, kDest, true},
      {"uqadd16", C::kAlu, kDest, true},
      {"uqsub8", C::kAlu, kDest, true},
      {"uqsub16", C::kAlu, kDest, true},
      // multiplies
      {"mul", C::kMultiply, kDest, false},
      {"mla", C::kMultiply, kDest, false},
      {"mls", C::kMultiply, kDest, false},
      {"smlabb", C::kMultiply, kDest, true},
      {"smlabt", C::kMultiply, kDest, true},
      {"smlatb", C::kMultiply, kDest, true},
      {"smlatt", C::kMultiply, kDest, true},
      {"smlad", C::kMultiply, kDest, true},
      {"smladx", C::kMultiply, kDest, true},
      {"smlsd", C::kMultiply, kDest, true},
      {"smlsdx", C::kMultiply, kDest, true},
      {"smlawb", C::kMultiply, kDest, true},
      {"smlawt", C::kMultiply, kDest, true},
      {"smmla", C::kMultiply, kDest, true},
      {"smmlar", C::kMultiply, kDest, true},
      {"smmls", C::kMultiply, kDest, true},
      {"smmlsr", C::kMultiply, kDest, true},
      {"smmul", C::kMultiply, kDest, true},
      {"smmulr", C::kMultiply, kDest, true},
      {"smuad", C::kMultiply, kDest, true},
      {"smuadx", C::kMultiply, kDest, true},
      {"smulbb", C::kMultiply, kDest, true},
      {"smulbt", C::kMultiply, kDest, true},
      {"smultb", C::kMultiply, kDest, true},
      {"smultt", C::kMultiply, kDest, true},
      {"smulwb", C::kMultiply, kDest, true},
      {"smulwt", C::kMultiply, kDest, true},
      {"smusd", C::kMultiply, kDest, true},
      {"smusdx", C::kMultiply, kDest, true},
      {"smull", C::kMultiply, kLongDest, false},
      {"umull", C::kMultiply, kLongDest, false},
      {"smlal", C::kMultiply, kLongAccumulate, false},
      {"umlal", C::kMultiply, kLongAccumulate, false},
      {"smlalbb", C::kMultiply, kLongAccumulate, true},
      {"smlalbt", C::kMultiply, kLongAccumulate, true},
      {"smlaltb", C::kMultiply, kLongAccumulate, true},
      {"smlaltt", C::kMultiply, kLongAccumulate, true},
      {"smlald", C::kMultiply, kLongAccumulate, true},
      {"smlaldx", C::kMultiply, kLongAccumulate, true},
      {"smlsld", C::kMultiply, kLongAccumulate, true},
      {"smlsldx", C::kMultiply, kLongAccumulate, true},
      {"umaal", C::kMultiply, kLongAccumulate, false},
      {"sdiv", C::kDivide, kDest, false},
      {"udiv", C::kDivide, kDest, false},
      // loads and stores
      {"ldr", C::kLoad, kLoadShape, false},
      {"ldrb", C::kLoad, kLoadShape, false},
      {"ldrh", C::kLoad, kLoadShape, false},
      {"ldrsb", C::kLoad, kLoadShape, false},
      {"ldrsh", C::kLoad, kLoadShape, false},
      {"ldrt", C::kLoad, kLoadShape, false},
      {"ldrbt", C::kLoad, kLoadShape, false},
      {"ldrht", C::kLoad, kLoadShape, false},
      {"ldrex", C::kLoad, kLoadShape, false},
      {"ldrexb", C::kLoad, kLoadShape, false},
      {"ldrexh", C::kLoad, kLoadShape, false},
      {"ldrd", C::kLoadDouble, kLoadShape, false},
      {"ldm", C::kLoadMultiple, kLoadShape, false},
      {"ldmia", C::kLoadMultiple, kLoadShape, false},
      {"ldmdb", C::kLoadMultiple, kLoadShape, false},
      {"pop", C::kLoadMultiple, kLoadShape, false},
      {"str", C::kStore, kStoreShape, false},
      {"strb", C::kStore, kStoreShape, false},
      {"strh", C::kStore, kStoreShape, false},
      {"strt", C::kStore, kStoreShape, false},
      {"strex", C::kStore, kStoreShape, false},
      {"strexb", C::kStore, kStoreShape, false},
      {"strexh", C::kStore, kStoreShape, false},
      {"strd", C::kStoreDouble, kStoreShape, false},
      {"stm", C::kStoreMultiple, kStoreShape, false},
      {"stmia", C::kStoreMultiple, kStoreShape, false},
      {"stmdb", C::kStoreMultiple, kStoreShape, false},
      {"push", C::kStoreMultiple, kStoreShape, false},
      // control flow
      {"b", C::kBranch, kNoRegs, false},
      {"bl", C::kBranch, kNoRegs, false},
      {"blx", C::kBranchRegister, kNoRegs, false},
      {"bx", C::kBranchRegister, kNoRegs, false},
      {"cbz", C::kBranch, kNoRegs, false},
      {"cbnz", C::kBranch, kNoRegs, false},
      {"tbb", C::kTableBranch, kNoRegs, false},
      {"tbh", C::kTableBranch, kNoRegs, false},
      // system
      {"dsb", C::kBarrier, kNoRegs, false},
      {"dmb", C::kBarrier, kNoRegs, false},
      {"isb", C::kBarrier, kNoRegs, false},
      {"nop", C::kOther, kNoRegs, false},
      {"bkpt", C::kOther, kNoRegs, false},
      {"svc", C::kOther, kNoRegs, false},
      {"wfi", C::kOther, kNoRegs, false},
      {"wfe", C::kOther, kNoRegs, false},
      {"sev", C::kOther, kNoRegs, false},
      {"yield", C::kOther, kNoRegs, false},
      {"msr", C::kOther, kNoRegs, false},
      {"mrs", C::kOther, kDest, false},
      {"cpsid", C::kOther, kNoRegs, false},
      {"cpsie", C::kOther, kNoRegs, false},
      {"udf", C::kOther, kNoRegs, false},
  };
  return b;
}

bool is_one_source(const std::string& base) {
  static const std::array<const char*, 19> one = {
      "mov",  "mvn",  "movw", "movt",   "clz",    "rbit", "rev", "rev16", "revsh", "sxtb",
      "sxth", "uxtb", "uxth", "sxtb16", "uxtb16", "neg",  "adr", "rrx",   "mrs"};
  for (const char* b : one)
    if (base == b) return true;
  return false;
}

const Base* find_base(const std::string& m) {
  const Base* best = nullptr;
  size_t best_len = 0;
  for (const Base& b : bases()) {
    const size_t n = std::char_traits<char>::length(b.name);
    if (m.compare(0, n, b.name) != 0 || n < best_len) continue;
    std::string rest = m.substr(n);
    if (!rest.empty() && rest[0] == 's' && (rest.size() == 1 || rest.size() == 3))
      rest = rest.substr(1);
    if (rest.empty() || is_condition(rest)) {
      best = &b;
      best_len = n;
    }
  }
  return best;
}

bool has_shift(const std::string& operands) {
  for (const char* s : {"lsl #", "lsr #", "asr #", "ror #", "rrx", "lsl r", "lsr r", "asr r"})
    if (operands.find(s) != std::string::npos) return true;
  // Immediates beyond the low byte count as shifted on the M7.
  const size_t hash = operands.rfind('#');
  if (hash != std::string::npos && operands.find('[') == std::string::npos) {
    const long v = std::strtol(operands.c_str() + hash + 1, nullptr, 0);
    if (v > 255 || v < -255) return true;
  }
  return false;
}

void decode_vfp(const std::string& m, const std::vector<std::string>& ops, ArmInstruction& i) {
  const std::string base = m.substr(0, m.find('.'));
  const auto starts = [&](const char* p) { return base.rfind(p, 0) == 0; };
  if (starts("vldr")) {
    i.cls = InsnClass::kLoad;
  } else if (starts("vstr")) {
    i.cls = InsnClass::kStore;
  } else if (starts("vldm") || starts("vpop")) {
    i.cls = InsnClass::kLoadMultiple;
  } else if (starts("vstm") || starts("vpush")) {
    i.cls = InsnClass::kStoreMultiple;
  } else if (starts("vmla") || starts("vmls") || starts("vfma") || starts("vfms") ||
             starts("vnml") || starts("vfnm")) {
    i.cls = InsnClass::kFloatMac;
  } else if (starts("vdiv") || starts("vsqrt")) {
    i.cls = InsnClass::kFloatLong;
  } else {
    i.cls = InsnClass::kFloat;
  }
  uint16_t all = 0;
  for (const auto& op : ops) {
    all |= registers_in(op);
    if (op.find('[') != std::string::npos) i.address_regs |= registers_in(op);
    if (op.find('{') != std::string::npos)
      i.list_length = std::max(1, static_cast<int>(std::count(op.begin(), op.end(), ',')) + 1);
  }
  // vmov r0, s0 / vmrs: a core register first is written; otherwise core registers are read.
  if (!ops.empty() && register_number(ops[0]) >= 0 && i.cls == InsnClass::kFloat) {
    i.writes = registers_in(ops[0]);
    i.reads = static_cast<uint16_t>(all & ~i.writes);
  } else {
    i.reads = all;
  }
  if (i.cls == InsnClass::kLoadMultiple || i.cls == InsnClass::kStoreMultiple) {
    if (base.rfind("vpush", 0) == 0 || base.rfind("vpop", 0) == 0) {
      i.reads |= bit(kSp);
      i.writes |= bit(kSp);
    } else if (!ops.empty() && ops[0].find('!') != std::string::npos) {
      i.writes |= registers_in(ops[0]);
    }
  }
}

}  // namespace

ArmInstruction decode_instruction(uint32_t address, int size, const std::string& mnemonic,
                                  const std::string& operands) {
  ArmInstruction i;
  i.address = address;
  i.size = size;
  std::string m;
  for (char c : mnemonic) m += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (m.size() > 2 &&
      (m.compare(m.size() - 2, 2, ".w") == 0 || m.compare(m.size() - 2, 2, ".n") == 0))
    m.resize(m.size() - 2);
  i.mnemonic = m;
  const std::vector<std::string> ops = split_operands(operands);
  if (!m.empty() && m[0] == 'v') {
    decode_vfp(m, ops, i);
    return i;
  }
  if (m.size() >= 2 && m.compare(0, 2, "it") == 0 &&
      std::all_of(m.begin() + 2, m.end(), [](char c) { return c == 't' || c == 'e'; })) {
    i.cls = InsnClass::kIt;
    return i;
  }
  const Base* b = find_base(m);
  if (b == nullptr) {  // unknown: an ALU instruction writing its first operand
    if (!ops.empty()) i.writes = registers_in(ops[0]);
    for (size_t k = 1; k < ops.size(); ++k) i.reads |= registers_in(ops[k]);
    return i;
  }
  i.cls = b->cls;
  i.simd = b->simd;
  const std::string base = b->name;
  switch (b->shape) {
    case kDest:
      if (!ops.empty()) i.writes = registers_in(ops[0]);
      for (size_t k = 1; k < ops.size(); ++k) i.reads |= registers_in(ops[k]);
      if (base == "movt" || base == "bfi" || base == "bfc") i.reads |= i.writes;
      // Two-operand Thumb forms ("adds r0, #1", "muls r0, r1") read their destination, except
      // the moves and the one-source operations.
      if (ops.size() == 2 && !is_one_source(base)) i.reads |= i.writes;
      i.shifted_operand = has_shift(operands) || base == "bfi" || base == "bfc" || base == "ubfx" ||
                          base == "sbfx" || base.rfind("sxt", 0) == 0 || base.rfind("uxt", 0) == 0;
      if (i.writes & bit(kPc)) i.writes_pc = true;
      break;
    case kCompare:
      for (const auto& op : ops) i.reads |= registers_in(op);
      i.shifted_operand = has_shift(operands);
      break;
    case kLongDest:
    case kLongAccumulate:
      for (size_t k = 0; k < ops.size(); ++k) {
        if (k < 2)
          i.writes |= registers_in(ops[k]);
        else
          i.reads |= registers_in(ops[k]);
      }
      if (b->shape == kLongAccumulate) i.reads |= i.writes;
      break;
    case kLoadShape:
    case kStoreShape: {
      const bool load = b->shape == kLoadShape;
      if (base == "push" || base == "pop") {
        const uint16_t list = ops.empty() ? 0 : registers_in(ops[0]);
        i.list_length = count_bits(list);
        i.reads |= bit(kSp);
        i.writes |= bit(kSp);
        if (load)
          i.writes |= list;
        else
          i.reads |= list;
        i.address_regs = bit(kSp);
      } else if (i.cls == InsnClass::kLoadMultiple || i.cls == InsnClass::kStoreMultiple) {
        const uint16_t basereg = ops.empty() ? 0 : registers_in(ops[0]);
        const uint16_t list = ops.size() > 1 ? registers_in(ops[1]) : 0;
        i.list_length = count_bits(list);
        i.address_regs = basereg;
        i.reads |= basereg;
        if (!ops.empty() && ops[0].find('!') != std::string::npos) i.writes |= basereg;
        if (load)
          i.writes |= list;
        else
          i.reads |= list;
      } else {
        // LDR Rt, [Rn, ...]{!} / LDR Rt, [Rn], #imm|Rm; LDRD Rt, Rt2, [...]; STREX Rd, Rt, [...]
        size_t k = 0;
        uint16_t data = 0;
        while (k < ops.size() && ops[k].find('[') == std::string::npos)
          data |= registers_in(ops[k++]);
        if (k < ops.size()) {
          const std::string& addr = ops[k];
          i.address_regs = registers_in(addr);
          const size_t comma = addr.find(',');
          i.register_offset = comma != std::string::npos && registers_in(addr.substr(comma)) != 0;
          const bool pre_writeback = addr.find('!') != std::string::npos;
          const bool post_index = k + 1 < ops.size();
          const uint16_t basereg = registers_in(addr.substr(0, comma));
          if (post_index) i.address_regs |= registers_in(ops[k + 1]);
          if (pre_writeback || post_index) i.writes |= basereg;
        }
        i.reads |= i.address_regs;
        if (load) {
          i.writes |= data;
        } else if (base.rfind("strex", 0) == 0 && !ops.empty()) {
          i.writes |= registers_in(ops[0]);  // status
          i.reads |= static_cast<uint16_t>(data & ~registers_in(ops[0]));
        } else {
          i.reads |= data;
        }
      }
      if (load && (i.writes & bit(kPc))) i.writes_pc = true;
      break;
    }
    case kNoRegs:
      for (const auto& op : ops) i.reads |= registers_in(op);
      if (base == "bl" || base == "blx") i.writes |= bit(kLr);
      if (base == "blx" && !ops.empty() && ops[0].find('#') != std::string::npos)
        i.cls = InsnClass::kBranch;  // BLX #imm: target in the instruction
      break;
  }
  return i;
}

// Pipeline refill P (TRM: 1 to 3 cycles "depending on the alignment and width of the target
// instruction, and whether the processor manages to speculate the address early"): 1, +1 when
// the target comes from a register or a load (not speculated early), +1 when the target is a
// 32-bit instruction that is not word aligned (two fetches); plus the flash wait states.
int CycleModel::refill(const ArmInstruction& insn, const ArmInstruction* next) {
  ++refills_;
  int p = 1;
  if (insn.cls != InsnClass::kBranch) ++p;
  if (next != nullptr && next->size == 4 && (next->address & 3u) != 0) ++p;
  return p + options_.flash_wait_states;
}

double CycleModel::m4_cycles(const ArmInstruction& insn, bool taken, const ArmInstruction* next) {
  const ArmInstruction* prev = has_previous_ ? &previous_ : nullptr;
  // A load/store whose address the previous data-processing instruction computed waits one cycle
  // for the register bank (no forwarding path to the address generation).
  const bool agu_stall = prev != nullptr &&
                         (prev->cls == InsnClass::kAlu || prev->cls == InsnClass::kMultiply) &&
                         (insn.address_regs & prev->writes) != 0;
  // Neighbouring single loads/stores pipeline address and data phases when the address does
  // not depend on the previous load; nothing pipelines after a store.
  const bool after_load = prev != nullptr && prev->cls == InsnClass::kLoad && !prev->writes_pc &&
                          !previous_taken_ && (insn.address_regs & prev->writes) == 0;
  switch (insn.cls) {
    case InsnClass::kAlu:
      return insn.writes_pc ? 1 + refill(insn, next) : 1;
    case InsnClass::kMultiply:
      return 1;
    case InsnClass::kDivide:
      return 12;  // 2..12 with early termination on the operands; charged the maximum
    case InsnClass::kLoad:
      if (insn.writes_pc) return 2 + refill(insn, next) + (agu_stall ? 1 : 0);
      return (after_load ? 1 : 2) + (agu_stall ? 1 : 0);
    case InsnClass::kStore:
      // STR Rt, [Rn, #imm] is one cycle (the data phase overlaps the next instruction); with a
      // register offset two, or one when pipelined after a load.
      return (!insn.register_offset || after_load ? 1 : 2) + (agu_stall ? 1 : 0);
    case InsnClass::kLoadDouble:
    case InsnClass::kStoreDouble:
      return 3 + (agu_stall ? 1 : 0);
    case InsnClass::kLoadMultiple:
      return 1 + insn.list_length + (insn.writes_pc ? refill(insn, next) : 0);
    case InsnClass::kStoreMultiple:
      return 1 + insn.list_length;
    case InsnClass::kBranch:
      return taken ? 1 + refill(insn, next) : 1;
    case InsnClass::kBranchRegister:
      return 1 + refill(insn, next);
    case InsnClass::kTableBranch:
      return 2 + refill(insn, next);
    case InsnClass::kIt:
      // Folded onto a preceding 16-bit instruction.
      return prev != nullptr && prev->size == 2 && !previous_taken_ ? 0 : 1;
    case InsnClass::kFloat:
      return 1;
    case InsnClass::kFloatMac:
      return 3;
    case InsnClass::kFloatLong:
      return 14;
    case InsnClass::kBarrier:
      return insn.mnemonic.rfind("isb", 0) == 0 ? 1 + refill(insn, next) : 1;
    case InsnClass::kOther:
      return 1;
  }
  return 1;
}

// Cortex-M7 (coarse; docs/DEPLOY.md): in-order dual issue. An instruction issues in the same
// cycle as the previous one when that one opened the cycle, neither transfers control, they
// do not share the load/store unit, the MAC unit or the shifter, the second is not a DSP/SIMD
// instruction, has no dependency on the first, and neither is multi-cycle. Results: ALU next
// cycle, loads and multiplies two cycles later (a multiply-accumulate chain forwards its
// accumulator). Taken branches: predicted as the previous outcome of the same branch (the
// BTAC), 0 cycles when right, a refill when wrong or for register branches.
double CycleModel::m7_cycles(const ArmInstruction& insn, bool taken, const ArmInstruction* next) {
  (void)next;
  const ArmInstruction* prev = has_previous_ ? &previous_ : nullptr;
  const auto alone = [](const ArmInstruction& i) {
    switch (i.cls) {
      case InsnClass::kDivide:
      case InsnClass::kLoadMultiple:
      case InsnClass::kStoreMultiple:
      case InsnClass::kTableBranch:
      case InsnClass::kBarrier:
      case InsnClass::kOther:
      case InsnClass::kFloatLong:
        return true;
      default:
        return i.writes_pc;
    }
  };
  const auto memory = [](const ArmInstruction& i) {
    return i.cls == InsnClass::kLoad || i.cls == InsnClass::kStore ||
           i.cls == InsnClass::kLoadDouble || i.cls == InsnClass::kStoreDouble;
  };
  const uint16_t reads = static_cast<uint16_t>(insn.reads | insn.address_regs);
  const bool accumulate_forward =
      insn.cls == InsnClass::kMultiply && prev != nullptr && prev->cls == InsnClass::kMultiply;
  uint16_t waiting = static_cast<uint16_t>(m7_load_pending_ | m7_mul_pending_);
  if (accumulate_forward) waiting = static_cast<uint16_t>(waiting & ~(m7_mul_pending_ & reads));
  const bool stall = (reads & waiting) != 0;
  const bool pairs = prev != nullptr && m7_slot_free_ && !previous_taken_ && !stall &&
                     !alone(insn) && !alone(*prev) && !(memory(insn) && memory(*prev)) &&
                     !(insn.cls == InsnClass::kMultiply && prev->cls == InsnClass::kMultiply) &&
                     !(insn.shifted_operand && prev->shifted_operand) && !insn.simd &&
                     (reads & prev->writes) == 0 && (insn.writes & prev->writes) == 0 &&
                     insn.cls != InsnClass::kIt;
  double cost = 0;
  if (pairs) {
    m7_slot_free_ = false;
  } else {
    cost = 1 + (stall ? 1 : 0);
    m7_slot_free_ = true;
    // What is still in flight after this cycle: results two cycles after issue.
    m7_load_pending_ = 0;
    m7_mul_pending_ = 0;
  }
  if (memory(insn) && insn.cls != InsnClass::kStore && insn.cls != InsnClass::kStoreDouble)
    m7_load_pending_ |= insn.writes;
  if (insn.cls == InsnClass::kMultiply) m7_mul_pending_ |= insn.writes;
  switch (insn.cls) {
    case InsnClass::kDivide:
      cost += 11;
      break;
    case InsnClass::kLoadMultiple:
    case InsnClass::kStoreMultiple:
      cost += (insn.list_length + 1) / 2;  // 64-bit data path: two registers per cycle
      break;
    case InsnClass::kFloatLong:
      cost += 13;
      break;
    default:
      break;
  }
  if (alone(insn)) m7_slot_free_ = false;
  if (taken) {
    const bool predictable = insn.cls == InsnClass::kBranch;
    const auto seen = branch_history_.find(insn.address);
    const bool predicted = predictable && seen != branch_history_.end() && seen->second;
    if (!predicted) cost += refill(insn, nullptr) + 2;  // 6-stage pipeline: a longer refill
    m7_slot_free_ = false;
  }
  if (insn.cls == InsnClass::kBranch) branch_history_[insn.address] = taken;
  return cost;
}

double CycleModel::execute(const ArmInstruction& insn, bool taken, const ArmInstruction* next) {
  const double c = options_.core == CycleCore::kCortexM4 ? m4_cycles(insn, taken, next)
                                                         : m7_cycles(insn, taken, next);
  cycles_ += c;
  ++instructions_;
  previous_ = insn;
  previous_taken_ = taken;
  has_previous_ = true;
  return c;
}

}  // namespace qat::exporter
