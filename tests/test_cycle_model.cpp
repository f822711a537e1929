// The Cortex-M cycle model (export/cycle_model.h) on instruction sequences whose cycle counts
// the Arm technical reference manuals state, and the QEMU execution-log reader
// (export/qemu_trace.h) on a hand-written log.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "export/cycle_model.h"
#include "export/qemu_trace.h"

using namespace qat::exporter;

namespace {

struct Line {
  const char* mnemonic;
  const char* operands;
  int size = 2;
  bool taken = false;
};

// Runs the lines as straight-line code starting at 0x1000 (a taken branch's target is the next
// line) and returns the cycles.
double cycles_of(const std::vector<Line>& lines, CycleCore core = CycleCore::kCortexM4,
                 int wait_states = 0) {
  std::vector<ArmInstruction> insns;
  uint32_t address = 0x1000;
  for (const Line& l : lines) {
    insns.push_back(decode_instruction(address, l.size, l.mnemonic, l.operands));
    address += static_cast<uint32_t>(l.size);
  }
  CycleModel m({core, wait_states});
  for (size_t i = 0; i < insns.size(); ++i)
    m.execute(insns[i], lines[i].taken, i + 1 < insns.size() ? &insns[i + 1] : nullptr);
  EXPECT_EQ(m.instructions(), static_cast<int64_t>(lines.size()));
  return m.cycles();
}

}  // namespace

TEST(CycleModel, DecodesRegistersAddressesAndClasses) {
  const ArmInstruction ldr = decode_instruction(0, 4, "ldr.w", "r3, [r2, #0xd88]");
  EXPECT_EQ(ldr.cls, InsnClass::kLoad);
  EXPECT_EQ(ldr.mnemonic, "ldr");
  EXPECT_EQ(ldr.writes, 1u << 3);
  EXPECT_EQ(ldr.address_regs, 1u << 2);
  EXPECT_FALSE(ldr.register_offset);
  const ArmInstruction post = decode_instruction(0, 4, "ldr", "r7, [r5], #4");
  EXPECT_EQ(post.writes, (1u << 7) | (1u << 5));  // post-index writes the base back
  const ArmInstruction ldrd = decode_instruction(0, 4, "ldrd", "sl, fp, [r3, #-0x28]");
  EXPECT_EQ(ldrd.cls, InsnClass::kLoadDouble);
  EXPECT_EQ(ldrd.writes, (1u << 10) | (1u << 11));
  const ArmInstruction str = decode_instruction(0, 2, "strb", "r0, [r1, r2]");
  EXPECT_EQ(str.cls, InsnClass::kStore);
  EXPECT_TRUE(str.register_offset);
  EXPECT_EQ(str.writes, 0u);
  const ArmInstruction pop = decode_instruction(0, 4, "pop.w", "{r4, r5, r6, r7, r8, sb, sl, pc}");
  EXPECT_EQ(pop.cls, InsnClass::kLoadMultiple);
  EXPECT_EQ(pop.list_length, 8);
  EXPECT_TRUE(pop.writes_pc);
  const ArmInstruction range = decode_instruction(0, 4, "push", "{r4-r7, lr}");
  EXPECT_EQ(range.list_length, 5);
  EXPECT_EQ(decode_instruction(0, 2, "bls", "#0x30").cls, InsnClass::kBranch);  // B + LS
  const ArmInstruction bl = decode_instruction(0, 4, "bl", "#0x1078");
  EXPECT_EQ(bl.cls, InsnClass::kBranch);
  EXPECT_EQ(bl.writes, 1u << 14);
  EXPECT_EQ(decode_instruction(0, 2, "bx", "lr").cls, InsnClass::kBranchRegister);
  EXPECT_EQ(decode_instruction(0, 2, "itt", "lt").cls, InsnClass::kIt);
  EXPECT_EQ(decode_instruction(0, 2, "movlt", "r6, #1").cls, InsnClass::kAlu);
  EXPECT_EQ(decode_instruction(0, 4, "smladne", "r4, sb, sl, r4").cls, InsnClass::kMultiply);
  const ArmInstruction smlal = decode_instruction(0, 4, "smlal", "r0, r1, r2, r3");
  EXPECT_EQ(smlal.writes, 3u);
  EXPECT_EQ(smlal.reads, 15u);  // the accumulator pair is read too
  EXPECT_EQ(decode_instruction(0, 4, "sdiv", "r0, r1, r2").cls, InsnClass::kDivide);
  EXPECT_EQ(decode_instruction(0, 4, "vmla.f32", "s0, s1, s2").cls, InsnClass::kFloatMac);
  EXPECT_EQ(decode_instruction(0, 4, "cmp.w", "ip, r5").writes, 0u);
  const ArmInstruction mov_pc = decode_instruction(0, 2, "mov", "pc, lr");
  EXPECT_TRUE(mov_pc.writes_pc);
}

// Cortex-M4 TRM (DDI 0439), "Processor instruction timings" and "Load/store timings".
TEST(CycleModel, CortexM4LoadsPipelineUnlessTheAddressDependsOnTheLoad) {
  // "LDR R0,[R1]; LDR R1,[R2]: normally three cycles total".
  EXPECT_EQ(cycles_of({{"ldr", "r0, [r1]"}, {"ldr", "r1, [r2]"}}), 3);
  // The second address is the first load's result: no pipelining, 2 + 2.
  EXPECT_EQ(cycles_of({{"ldr", "r0, [r1]"}, {"ldr", "r1, [r0]"}}), 4);
  // "LDR R0,[R1,R2]; STR R0,[R3,#20]: normally three cycles total".
  EXPECT_EQ(cycles_of({{"ldr", "r0, [r1, r2]"}, {"str", "r0, [r3, #20]"}}), 3);
  // Nothing pipelines after a store: STR (1) then LDR (2).
  EXPECT_EQ(cycles_of({{"str", "r0, [r3, #20]"}, {"ldr", "r1, [r2]"}}), 3);
  // A run of N independent loads: N + 1.
  EXPECT_EQ(cycles_of({{"ldr", "r0, [r4]"},
                       {"ldr", "r1, [r4, #4]"},
                       {"ldr", "r2, [r4, #8]"},
                       {"ldr", "r3, [r4, #12]"}}),
            5);
  // LDRD / STRD: 1 + N with N = 2; LDM / STM / PUSH: 1 + N.
  EXPECT_EQ(cycles_of({{"ldrd", "r0, r1, [r2]", 4}}), 3);
  EXPECT_EQ(cycles_of({{"ldm", "r0!, {r1, r2, r3}"}}), 4);
  EXPECT_EQ(cycles_of({{"push", "{r4, r5, r6, r7, lr}"}}), 6);
  // An address computed by the instruction just before: one cycle more (no forwarding path).
  EXPECT_EQ(cycles_of({{"adds", "r1, #4"}, {"ldr", "r0, [r1]"}}), 1 + 3);
}

TEST(CycleModel, CortexM4MultipliesAreSingleCycleAndDivisionIsChargedItsMaximum) {
  EXPECT_EQ(cycles_of({{"mul", "r0, r1, r2", 4},
                       {"mla", "r0, r1, r2, r0", 4},
                       {"smlad", "r4, r5, r6, r4", 4},
                       {"smlal", "r0, r1, r2, r3", 4},
                       {"sxtb16", "r5, r7", 4},
                       {"ssat", "r0, #8, r0", 4}}),
            6);
  EXPECT_EQ(cycles_of({{"sdiv", "r0, r1, r2", 4}}), 12);
}

TEST(CycleModel, CortexM4BranchesPayTheRefill) {
  // Not taken: 1. Taken with an immediate target: 1 + P, P = 1 for an aligned target.
  EXPECT_EQ(cycles_of({{"bne", "#0x1000"}, {"adds", "r0, #1"}}), 2);
  EXPECT_EQ(cycles_of({{"bne", "#0x1000", 2, true}, {"adds", "r0, #1"}}), 3);
  // The subs/bne loop of the calibration: 1 + (1 + 1) per taken iteration.
  EXPECT_EQ(cycles_of({{"subs", "r0, #1"}, {"bne", "#0x1000", 2, true}}), 3);
  // Register targets are not speculated early: P = 2.
  EXPECT_EQ(cycles_of({{"bx", "lr"}, {"adds", "r0, #1"}}), 3 + 1);
  // A 32-bit target at a halfword address needs two fetches: P + 1.
  EXPECT_EQ(cycles_of({{"b", "#0x1002", 2, true}, {"add.w", "r0, r1, r2", 4}}), 3 + 1);
  // POP {..., pc}: 1 + N + P.
  EXPECT_EQ(cycles_of({{"pop", "{r4, pc}"}, {"adds", "r0, #1"}}), (1 + 2 + 2) + 1);
  // Flash wait states lengthen every refill.
  EXPECT_EQ(cycles_of({{"bne", "#0x1000", 2, true}, {"adds", "r0, #1"}}, CycleCore::kCortexM4, 3),
            3 + 3);
}

TEST(CycleModel, CortexM4FoldsItOntoA16BitInstruction) {
  EXPECT_EQ(cycles_of({{"cmp", "r6, #1"}, {"it", "lt"}, {"movlt", "r6, #1"}}), 2);
  EXPECT_EQ(cycles_of({{"cmp.w", "r6, #1", 4}, {"it", "lt"}, {"movlt", "r6, #1"}}), 3);
}

TEST(CycleModel, CortexM7DualIssuesIndependentPairs) {
  // Two independent ALU instructions issue together; a dependent one waits.
  EXPECT_EQ(cycles_of({{"adds", "r0, #1"}, {"adds", "r1, #1"}}, CycleCore::kCortexM7), 1);
  EXPECT_EQ(cycles_of({{"adds", "r0, #1"}, {"adds", "r0, #1"}}, CycleCore::kCortexM7), 2);
  // A load and an ALU instruction pair; two loads do not (one load/store unit).
  EXPECT_EQ(cycles_of({{"ldr", "r0, [r4]"}, {"adds", "r1, #1"}}, CycleCore::kCortexM7), 1);
  EXPECT_EQ(cycles_of({{"ldr", "r0, [r4]"}, {"ldr", "r1, [r4, #4]"}}, CycleCore::kCortexM7), 2);
  // Using a loaded register in the next cycle stalls one cycle.
  EXPECT_EQ(cycles_of({{"ldr", "r0, [r4]"}, {"adds", "r1, #1"}, {"adds", "r0, #1"}},
                      CycleCore::kCortexM7),
            1 + 2);
  // The M7 is never slower than the M4 model on the kernels' inner-loop pattern.
  const std::vector<Line> loop = {{"ldr", "r7, [r5], #4", 4},
                                  {"ldrd", "sl, fp, [r3], #0x30", 4},
                                  {"sxtb16", "sb, r7", 4},
                                  {"sxtb16", "r7, r7, ror #8", 4},
                                  {"smlad", "r4, sb, sl, r4", 4},
                                  {"smlad", "r4, r7, fp, r4", 4},
                                  {"ldrd", "sl, fp, [r3, #-0x28]", 4},
                                  {"smlad", "lr, sb, sl, lr", 4},
                                  {"smlad", "lr, r7, fp, lr", 4}};
  EXPECT_LE(cycles_of(loop, CycleCore::kCortexM7), cycles_of(loop, CycleCore::kCortexM4));
}

namespace {

// A QEMU log of: marker, caller, run function calling one kernel twice, marker. Block 2 of the
// kernel is stopped once (not executed) and block 1 is rewound once after two instructions.
const char* kLog = R"(----------------
IN: qat_profile_begin
0x00000100:  4770       bx       lr

Trace 0: 0x7f0000000100 [00800400/00000100/00000010/ff020200] qat_profile_begin
----------------
IN: main
0x00000200:  2000       movs     r0, #0
0x00000202:  f000 f8fd  bl       #0x400

Trace 0: 0x7f0000000200 [00800400/00000200/00000010/ff020200] main
----------------
IN: model_run
0x00000400:  b510       push     {r4, lr}
0x00000402:  f000 f8fd  bl       #0x600

Trace 0: 0x7f0000000400 [00800400/00000400/00000010/ff020200] model_run
----------------
IN: qk_kernel
0x00000600:  3801       subs     r0, #1
0x00000602:  3101       adds     r1, #1
0x00000604:  3201       adds     r2, #1
0x00000606:  d1fb       bne      #0x600

Trace 0: 0x7f0000000600 [00800400/00000600/00000010/ff020200] qk_kernel
Trace 0: 0x7f0000000600 [00800400/00000600/00000010/ff020200] qk_kernel
Stopped execution of TB chain before 0x7f0000000600 [00000600] qk_kernel
Trace 0: 0x7f0000000600 [00800400/00000600/00000010/ff020200] qk_kernel
cpu_io_recompile: rewound execution of TB to 00000604
----------------
IN: qk_kernel
0x00000604:  3201       adds     r2, #1
0x00000606:  d1fb       bne      #0x600

Trace 0: 0x7f0000000700 [00800400/00000604/00000010/ff020200] qk_kernel
----------------
IN: qk_kernel
0x00000608:  4770       bx       lr

Trace 0: 0x7f0000000800 [00800400/00000608/00000010/ff020200] qk_kernel
----------------
IN: model_run
0x00000406:  f000 f8fd  bl       #0x600

Trace 0: 0x7f0000000900 [00800400/00000406/00000010/ff020200] model_run
Trace 0: 0x7f0000000600 [00800400/00000600/00000010/ff020200] qk_kernel
Trace 0: 0x7f0000000800 [00800400/00000608/00000010/ff020200] qk_kernel
----------------
IN: model_run
0x0000040a:  bd10       pop      {r4, pc}

Trace 0: 0x7f0000000a00 [00800400/0000040a/00000010/ff020200] model_run
----------------
IN: main
0x00000206:  f000 f8fd  bl       #0x300

Trace 0: 0x7f0000000b00 [00800400/00000206/00000010/ff020200] main
----------------
IN: qat_profile_end
0x00000300:  4770       bx       lr

Trace 0: 0x7f0000000c00 [00800400/00000300/00000010/ff020200] qat_profile_end
Trace 0: 0x7f0000000100 [00800400/00000100/00000010/ff020200] qat_profile_begin
)";

}  // namespace

TEST(QemuTrace, CountsEachExecutedInstructionOnceAndSplitsByCall) {
  std::istringstream in(kLog);
  const InferenceTrace t = read_inference_trace(in, "model_run", "qat_profile_begin",
                                                "qat_profile_end", CycleModelOptions{});
  EXPECT_TRUE(t.began);
  EXPECT_TRUE(t.ended);
  // Kernel call 1: 4 (taken) + [stopped: 0] + 2 (rewound) + 2 (the rest, falls through) + 1 (bx).
  // Call 2: 4 (falls through: the next block starts at 0x608) + 1.
  ASSERT_EQ(t.calls.size(), 2u);
  EXPECT_EQ(t.calls[0].entry, "qk_kernel");
  EXPECT_EQ(t.calls[0].cost.instructions, 4 + 2 + 2 + 1);
  EXPECT_EQ(t.calls[1].cost.instructions, 4 + 1);
  EXPECT_EQ(t.body.instructions, 2 + 1 + 1);  // push, bl; bl; pop
  EXPECT_EQ(t.run.instructions, 9 + 5 + 4);
  EXPECT_EQ(t.caller.instructions, 2 + 1);  // movs, bl before; bl after (the markers excluded)
  // Cycles (M4): call 2 = subs, adds, adds (3) + bne not taken (1) + bx lr (1 + P 2) = 7.
  EXPECT_EQ(t.calls[1].cost.cycles, 7);
  // Call 1: the first pass branches back (3 + 1 + P 1 = 5), the rewound block (subs, adds) 2,
  // its rest (adds, bne not taken) 2, bx lr 4 (P = 2 + 1: it returns to a 32-bit instruction
  // at a halfword address, 0x406).
  EXPECT_EQ(t.calls[0].cost.cycles, 5 + 2 + 2 + 4);
}

TEST(QemuTrace, RefusesABlockWithoutDisassembly) {
  std::istringstream in(
      "Trace 0: 0x7f0000000100 [00800400/00000100/00000010/ff020200] qat_profile_begin\n");
  EXPECT_THROW(read_inference_trace(in, "model_run", "qat_profile_begin", "qat_profile_end",
                                    CycleModelOptions{}),
               std::exception);
}
