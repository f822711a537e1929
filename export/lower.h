// Lowering: a trained, calibrated GraphModule -> IntModel. Uses the module's own integer view
// (GraphModuleImpl::int_layer, formats, quant plan) so the integer model is by construction the
// one the evaluation mode simulated.
#pragma once

#include "export/int_model.h"
#include "qat/checkpoint_meta.h"
#include "qat/graph_module.h"

namespace qat::exporter {

// `meta` is the checkpoint metadata (input normalisation, head, metric).
IntModel lower(GraphModuleImpl& model, const CheckpointMeta& meta);

}  // namespace qat::exporter
