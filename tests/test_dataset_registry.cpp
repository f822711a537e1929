// The `dataset:` section: validated without loading, paths resolved, loaders dispatched.
#include <gtest/gtest.h>

#include "datasets/registry.h"
#include "qat/config_reader.h"
#include "qat/errors.h"

namespace qat::data {
namespace {

const std::string kSamples = std::string(QAT_SOURCE_DIR) + "/datasets/samples";

DatasetSpec spec(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  LoadedConfig c = load_config_string(yaml, "d.yaml", overrides);
  ConfigNode root(c.root, "", c.source);
  return parse_dataset_spec(root.child("dataset"), kSamples);
}

TEST(DatasetRegistry, UciHarFirstExistingPath) {
  const DatasetSpec s =
      spec("dataset: {name: uci_har, path: [/nonexistent, \"uci-har/UCI HAR Dataset\"]}\n");
  EXPECT_EQ(s.input, (std::vector<int64_t>{9, 128}));
  EXPECT_EQ(s.num_classes, 6);
  EXPECT_EQ(s.task, TaskKind::kClassification);
  EXPECT_NE(s.resolved_yaml.find(kSamples + "/uci-har/UCI HAR Dataset"), std::string::npos)
      << s.resolved_yaml;
  const ArrayDataset test = load_classification(s, Split::kTest);
  EXPECT_EQ(test.size(), 120u);
}

TEST(DatasetRegistry, GtsrbOptionsShapeTheInput) {
  const DatasetSpec s =
      spec("dataset: {name: gtsrb, path: gtsrb, width: 24, height: 20, roi_crop: true}\n");
  EXPECT_EQ(s.input, (std::vector<int64_t>{3, 20, 24}));
  EXPECT_EQ(s.num_classes, 43);
  const ArrayDataset train = load_classification(s, Split::kTrain);
  EXPECT_EQ(train.shape, (std::vector<int64_t>{3, 20, 24}));
  EXPECT_EQ(train.size(), 15u);
  const DatasetSpec capped = spec("dataset: {name: gtsrb, path: gtsrb, max_test: 4}\n");
  EXPECT_EQ(load_classification(capped, Split::kTest).size(), 4u);
}

TEST(DatasetRegistry, CocoCategoriesAndSources) {
  const DatasetSpec s = spec(
      "dataset:\n"
      "  name: coco\n"
      "  train: [{images: coco/val2017, annotations: coco/annotations/instances_val2017.json}]\n"
      "  test: {images: coco/val2017, annotations: coco/annotations/instances_val2017.json}\n"
      "  categories: [person, dog]\n"
      "  width: 64\n  height: 48\n");
  EXPECT_EQ(s.task, TaskKind::kDetection);
  EXPECT_EQ(s.num_classes, 2);
  EXPECT_EQ(s.input, (std::vector<int64_t>{3, 48, 64}));
  const DetectionDataset d = load_detection(s, Split::kTrain);
  EXPECT_EQ(d.size(), 6u);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"person", "dog"}));
  for (const auto& boxes : d.boxes)
    for (const auto& b : boxes) EXPECT_LT(b.cls, 2);
}

TEST(DatasetRegistry, ErrorsNameTheKey) {
  try {
    spec("dataset: {name: coco, test: {images: coco/val2017, annotations: x.json}}\n");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("dataset.train"), std::string::npos) << e.what();
  }
  try {
    spec(
        "dataset:\n  name: coco\n  train: {images: coco/val2017, annotations: missing.json}\n"
        "  test: {images: coco/val2017, annotations: missing.json}\n");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("d.yaml:3:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos) << e.what();
  }
  try {
    spec(
        "dataset: {name: yolo_txt, train: {images: coco/val2017, labels: coco},"
        " test: {images: coco/val2017, labels: coco}}\n");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("needs the list of class names"), std::string::npos)
        << e.what();
  }
  try {
    spec("dataset: {name: mnist}\n");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("allowed: uci_har, gtsrb, coco, yolo_txt"),
              std::string::npos);
  }
  try {
    spec("dataset: {name: gtsrb, path: gtsrb, widht: 32}\n");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown key 'widht' in 'dataset'"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace qat::data
