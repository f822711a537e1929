#include "qat/checkpoint.h"

#include <filesystem>
#include <fstream>

#include <torch/serialize.h>

#include "qat/errors.h"
#include "qat/json_fields.h"

namespace qat {

namespace fs = std::filesystem;

void save_checkpoint(const std::string& path, GraphModuleImpl& model, const CheckpointMeta& meta,
                     torch::optim::Optimizer* optimizer,
                     const std::map<std::string, torch::Tensor>& tensors) {
  nlohmann::json all = meta;
  all["_tensors"] = nlohmann::json::array();
  for (const auto& [k, t] : tensors) all["_tensors"].push_back(k);
  all["_model"] = {{"graph", model.graph().to_json()},
                   {"quant", model.quant_config().to_json()},
                   {"mode", mode_name(model.mode())}};
  torch::serialize::OutputArchive archive;
  archive.write("meta", c10::IValue(all.dump()));
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  for (const auto& [k, t] : tensors) archive.write("tensor_" + k, t);
  if (optimizer) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  const std::string tmp = path + ".tmp";
  archive.save_to(tmp);
  fs::rename(tmp, path);
}

namespace {

Checkpoint read_archive(torch::serialize::InputArchive& archive, const std::string& path,
                        torch::optim::Optimizer* optimizer) {
  c10::IValue meta_value;
  if (!archive.try_read("meta", meta_value) || !meta_value.isString())
    throw Error(path + ": checkpoint has no metadata");
  Checkpoint ck;
  const nlohmann::json all = nlohmann::json::parse(meta_value.toStringRef(), nullptr, false);
  if (all.is_discarded()) throw Error(path + ": checkpoint metadata is not valid JSON");
  nlohmann::json m;
  std::vector<std::string> tensor_names;
  try {
    ck.meta = all.get<CheckpointMeta>();
    m = json_field<nlohmann::json>(all, "_model");
    tensor_names = json_field<std::vector<std::string>>(all, "_tensors");
  } catch (const JsonFieldError& e) {
    throw Error(path + ": checkpoint metadata: " + e.what());
  }
  ck.model = GraphModule(Graph::from_json(m.at("graph")), QuantConfig::from_json(m.at("quant")));
  torch::serialize::InputArchive model_archive;
  archive.read("model", model_archive);
  ck.model->load(model_archive);
  const std::string mode = m.at("mode").get<std::string>();
  for (Mode md : {Mode::kFloat, Mode::kCalibrate, Mode::kQat, Mode::kEval})
    if (mode == mode_name(md)) ck.model->set_mode(md);
  for (const std::string& k : tensor_names) {
    torch::Tensor t;
    archive.read("tensor_" + k, t);
    ck.tensors[k] = t;
  }
  if (optimizer) {
    torch::serialize::InputArchive opt_archive;
    if (archive.try_read("optimizer", opt_archive)) optimizer->load(opt_archive);
  }
  return ck;
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path, torch::optim::Optimizer* optimizer) {
  if (!fs::exists(path)) throw Error(path + ": checkpoint not found");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path);
  } catch (const c10::Error& e) {
    throw Error(path + ": not a readable checkpoint (" + std::string(e.what_without_backtrace()) +
                ")");
  }
  return read_archive(archive, path, optimizer);
}

Checkpoint load_checkpoint_bytes(const std::string& bytes, const std::string& origin,
                                 torch::optim::Optimizer* optimizer) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(bytes.data(), bytes.size());
  } catch (const c10::Error& e) {
    throw Error(origin + ": not a readable checkpoint (" + std::string(e.what_without_backtrace()) +
                ")");
  }
  return read_archive(archive, origin, optimizer);
}

}  // namespace qat
