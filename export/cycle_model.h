// Cycle estimate for Cortex-M4 and Cortex-M7 from an executed instruction stream (torch-free).
//
// QEMU counts instructions exactly (-icount shift=0) but has no timing model; the DWT cycle
// counter is not modelled. This file supplies one: each executed instruction, decoded from its
// disassembly (the text QEMU's `-d in_asm` prints, capstone syntax), is charged the cycles of the
// core's documented timing, with the dynamic facts a trace shows (branch taken or not, the
// previous instruction for load pipelining and dependencies). docs/DEPLOY.md, "Cycles", lists
// the rules with their sources and what the model cannot see (data-dependent division, failed
// IT conditions, memory contention, caches).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

namespace qat::exporter {

enum class CycleCore { kCortexM4, kCortexM7 };

// What the timing rules distinguish.
enum class InsnClass {
  kAlu,             // data processing, moves, shifts, compares, extends, SIMD add/sub, saturate
  kMultiply,        // MUL, MLA, MLS, SMLAD, SMULBB, SMULL, UMLAL, ...
  kDivide,          // SDIV, UDIV
  kLoad,            // LDR, LDRB, LDRH, LDRSB, LDRSH, LDREX, VLDR
  kStore,           // STR, STRB, STRH, STREX, VSTR
  kLoadDouble,      // LDRD
  kStoreDouble,     // STRD
  kLoadMultiple,    // LDM, POP, VLDM, VPOP
  kStoreMultiple,   // STM, PUSH, VSTM, VPUSH
  kBranch,          // B, BL, CBZ, CBNZ, BLX #imm (target in the instruction)
  kBranchRegister,  // BX, BLX Rm (target from a register)
  kTableBranch,     // TBB, TBH
  kIt,              // IT blocks
  kFloat,           // other VFP instructions (VADD, VMUL, VMOV, VCVT, ...)
  kFloatMac,        // VMLA, VMLS, VFMA, VFMS, VNMLA, ...
  kFloatLong,       // VDIV, VSQRT
  kBarrier,         // DSB, DMB, ISB
  kOther,           // NOP, BKPT, SVC, WFI, MSR, MRS, CPS, ...
};

// One decoded instruction. Register sets are bit masks over r0..r15 (sp = 13, lr = 14, pc = 15).
struct ArmInstruction {
  uint32_t address = 0;
  int size = 2;  // bytes: 2 or 4
  InsnClass cls = InsnClass::kAlu;
  std::string mnemonic;  // without width suffix, e.g. "ldr", "smladne"
  uint16_t reads = 0, writes = 0;
  uint16_t address_regs = 0;     // registers forming a load/store address
  int list_length = 0;           // registers transferred by LDM/STM/PUSH/POP/VLDM/...
  bool register_offset = false;  // load/store with a register offset ([Rn, Rm])
  bool writes_pc = false;        // a branch by data processing or load (POP {pc}, LDR pc, ...)
  bool shifted_operand = false;  // an operand shifted by the instruction (M7 pairing rule)
  bool simd = false;             // DSP/SIMD (M7: issues only in the first slot of a pair)
};

// Decodes one line of disassembly: address, size in bytes, mnemonic and operand text as capstone
// prints them ("ldr.w", "r3, [r2, #0xd88]"). Unknown mnemonics decode as kAlu with the first
// operand written (a documented default, not an error: the estimate must not stop on a rare
// instruction).
ArmInstruction decode_instruction(uint32_t address, int size, const std::string& mnemonic,
                                  const std::string& operands);

struct CycleModelOptions {
  CycleCore core = CycleCore::kCortexM4;
  // Flash wait states added to every pipeline refill (taken branch): the fetch of a branch
  // target cannot be prefetched. Sequential fetches are assumed hidden by the flash's wide lines
  // and prefetch buffer, and data loads from flash are not charged (the trace has no addresses).
  int flash_wait_states = 0;
};

// Charges a stream of executed instructions, in execution order.
class CycleModel {
 public:
  explicit CycleModel(CycleModelOptions options) : options_(options) {}

  // One executed instruction. `taken`: it transferred control (a taken branch, a load or data
  // processing that wrote pc); `next` is the instruction executed after it when known (its
  // alignment and size decide the refill cost), else nullptr.
  // Returns the cycles charged to this instruction.
  double execute(const ArmInstruction& insn, bool taken, const ArmInstruction* next);

  double cycles() const { return cycles_; }
  int64_t instructions() const { return instructions_; }
  // Pipeline refills charged so far: each costs flash_wait_states more, so the cycles at other
  // wait states are cycles() + (w - flash_wait_states) * refills().
  int64_t refills() const { return refills_; }
  // Forget the previous instruction (after a discontinuity such as an exception entry).
  void break_pipeline() { has_previous_ = false; }

 private:
  double m4_cycles(const ArmInstruction& insn, bool taken, const ArmInstruction* next);
  double m7_cycles(const ArmInstruction& insn, bool taken, const ArmInstruction* next);
  int refill(const ArmInstruction& insn, const ArmInstruction* next);

  CycleModelOptions options_;
  double cycles_ = 0;
  int64_t instructions_ = 0;
  int64_t refills_ = 0;
  bool has_previous_ = false;
  ArmInstruction previous_;
  bool previous_taken_ = false;
  // Cortex-M7: whether the previous instruction opened a cycle whose second slot is free.
  bool m7_slot_free_ = false;
  uint16_t m7_load_pending_ = 0;  // registers a load of the previous cycle is still writing
  uint16_t m7_mul_pending_ = 0;   // registers a multiply of the previous cycle is still writing
  std::unordered_map<uint32_t, bool> branch_history_;  // M7: last outcome per branch address
};

}  // namespace qat::exporter
