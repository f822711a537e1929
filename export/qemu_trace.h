// Reads a QEMU execution log (`-d in_asm,exec,nochain`) of one inference and charges every
// executed instruction to the cycle model (export/cycle_model.h), split by the calls the
// model's run function makes (torch-free).
//
// The log holds, for every translated block, its disassembly ("IN: symbol" and one line per
// instruction) and, for every execution of a block, a "Trace" line naming the block's host
// code address, guest pc and symbol. With `nochain` every block execution is logged. Two more
// lines correct the record: "cpu_io_recompile: rewound execution of TB to <pc>" (the block ran
// only up to pc; the rest is re-executed as a new block) and "Stopped execution of TB chain
// before <host> [<pc>]" (the logged block did not run: the instruction budget ran out first).
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "export/cycle_model.h"

namespace qat::exporter {

struct TraceCost {
  int64_t instructions = 0;
  double cycles = 0;
  TraceCost& operator+=(const TraceCost& o) {
    instructions += o.instructions;
    cycles += o.cycles;
    return *this;
  }
};

// One call the run function made, in execution order: the function entered and everything
// executed until control came back.
struct TraceCall {
  std::string entry;  // symbol of the first block executed after the call
  TraceCost cost;
};

struct InferenceTrace {
  TraceCost run;     // the run function and everything it calls (what SysTick measures)
  TraceCost body;    // instructions of the run function itself (calls, argument setup, copy)
  TraceCost caller;  // the caller between the markers (argument setup of the call)
  std::vector<TraceCall> calls;
  bool began = false, ended = false;  // both markers seen
  int64_t refills = 0;                // pipeline refills in `run` (CycleModel::refills)
};

// Counts the region between the first execution of `begin_marker` and of `end_marker`
// (functions of the profiling harness), excluding the markers. Throws ExportError on a log that
// names a block it never disassembled.
InferenceTrace read_inference_trace(std::istream& log, const std::string& run_function,
                                    const std::string& begin_marker, const std::string& end_marker,
                                    const CycleModelOptions& options);

}  // namespace qat::exporter
