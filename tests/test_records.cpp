// The typed records that cross boundaries (checkpoint metadata, model head, run summary and
// state) and the process helpers: round trips, and a missing or mistyped field is an error
// naming the file and the field's path.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "qat/checkpoint_meta.h"
#include "qat/json_fields.h"
#include "qat/process.h"
#include "train/run_record.h"

namespace qat {
namespace {

namespace fs = std::filesystem;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

fs::path temp_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / "qat_records_tests";
  fs::create_directories(dir);
  std::ofstream(dir / name) << text;
  return dir / name;
}

TEST(Records, ModelHeadRoundTripsInTheStoredFormat) {
  const ModelHead c = ModelHead::classification();
  EXPECT_EQ(nlohmann::json(c), nlohmann::json::parse(R"({"task": "classification"})"));
  EXPECT_EQ(c.metric_name(), "acc");
  const ModelHead d = ModelHead::detection(4, 2, 3);
  const nlohmann::json j = d;
  EXPECT_EQ(j, nlohmann::json::parse(R"({"task": "detection", "grid": 4, "boxes": 2, "classes": 3,
                                          "order": "cell_major"})"));
  EXPECT_EQ(j.get<ModelHead>(), d);
  const ModelHead conv = ModelHead::detection(11, 2, 3, GridOrder::kChannelMajor);
  EXPECT_EQ(nlohmann::json(conv).get<ModelHead>(), conv);
  EXPECT_EQ(nlohmann::json(conv)["order"], "channel_major");
  // Records written before convolutional heads carry no order: their heads are linear.
  EXPECT_EQ(nlohmann::json::parse(R"({"task": "detection", "grid": 4, "boxes": 2, "classes": 3})")
                .get<ModelHead>(),
            d);
  EXPECT_EQ(error_of([] {
              nlohmann::json::parse(
                  R"({"task": "detection", "grid": 4, "boxes": 2, "classes": 3, "order": "hwc"})")
                  .get<ModelHead>();
            }),
            "field 'order' is 'hwc'; allowed: cell_major, channel_major");
  EXPECT_EQ(d.metric_name(), "mAP50");
  EXPECT_EQ(error_of([] { nlohmann::json::parse(R"({"task": "segmentation"})").get<ModelHead>(); }),
            "field 'task' is 'segmentation'; allowed: classification, detection");
  EXPECT_EQ(error_of([] {
              nlohmann::json::parse(R"({"task": "detection", "grid": 4})").get<ModelHead>();
            }),
            "field 'boxes' is missing");
}

TEST(Records, CheckpointMetaRoundTripsWithOptionalFields) {
  CheckpointMeta m;
  m.run = "r";
  m.phase = Phase::kQat;
  m.epoch = 3;
  m.head = ModelHead::detection(2, 1, 5);
  m.input = {{0.5, -1.0}, {2.0, 1.0}, {2, 16}};
  m.dataset = "coco";
  m.metric = "mAP50";
  const nlohmann::json j = m;
  EXPECT_FALSE(j.contains("test"));
  EXPECT_FALSE(j.contains("seconds"));
  CheckpointMeta back = j.get<CheckpointMeta>();
  EXPECT_EQ(back.phase, Phase::kQat);
  EXPECT_EQ(back.input.std, (std::vector<double>{2.0, 1.0}));
  EXPECT_FALSE(back.test.has_value());
  m.test = TestFigures{0.25, 0.75};
  m.seconds = 1.5;
  back = nlohmann::json(m).get<CheckpointMeta>();
  ASSERT_TRUE(back.test.has_value());
  EXPECT_DOUBLE_EQ(back.test->metric, 0.75);
  EXPECT_DOUBLE_EQ(*back.seconds, 1.5);

  nlohmann::json broken = m;
  broken["input"].erase("std");
  EXPECT_EQ(error_of([&] { broken.get<CheckpointMeta>(); }), "field 'input.std' is missing");
  broken = m;
  broken["phase"] = "warmup";
  EXPECT_EQ(error_of([&] { broken.get<CheckpointMeta>(); }),
            "field 'phase' is 'warmup'; allowed: float, ptq, qat, done");
  broken = m;
  broken["test"]["metric"] = "high";
  EXPECT_NE(error_of([&] {
              broken.get<CheckpointMeta>();
            }).find("field 'test.metric' is invalid: type must be number, but is string"),
            std::string::npos);
}

TEST(Records, RunSummaryFileErrorsNameTheFileAndTheField) {
  RunSummary s;
  s.run_dir = "runs/x";
  s.metric_name = "acc";
  s.float_phase = {true, 0.5, 0.9, 2.0};
  s.parameters = 10;
  const fs::path good = temp_file("summary.json", nlohmann::json(s).dump());
  const RunSummary back = read_json_file<RunSummary>(good.string());
  EXPECT_DOUBLE_EQ(back.float_phase.metric, 0.9);
  EXPECT_EQ(back.parameters, 10);

  nlohmann::json renamed = s;
  renamed["float"].erase("seconds");
  renamed["float"]["secs"] = 2.0;
  const fs::path bad = temp_file("renamed.json", renamed.dump());
  EXPECT_EQ(error_of([&] { read_json_file<RunSummary>(bad.string()); }),
            bad.string() + ": field 'float.seconds' is missing");
  const fs::path garbage = temp_file("garbage.json", "{\"run_dir\": ");
  EXPECT_NE(error_of([&] {
              read_json_file<RunSummary>(garbage.string());
            }).find(garbage.string() + ": not valid JSON"),
            std::string::npos);
  EXPECT_EQ(error_of([] { read_json_file<RunState>("/nonexistent/state.json"); }),
            "/nonexistent/state.json: cannot open");
}

TEST(Records, RunStateRoundTrips) {
  const RunState s{Phase::kPtq, 7};
  const RunState back = nlohmann::json(s).get<RunState>();
  EXPECT_EQ(back.phase, Phase::kPtq);
  EXPECT_EQ(back.epoch, 7);
  EXPECT_EQ(phase_from_name("done"), Phase::kDone);
  EXPECT_FALSE(phase_from_name("Done").has_value());
}

TEST(Process, ShellQuotingSurvivesEveryCharacter) {
  EXPECT_EQ(shell_quote("plain/path-1.2_x=y,z:@%+"), "plain/path-1.2_x=y,z:@%+");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote("$HOME;rm -rf *"), "'$HOME;rm -rf *'");
  EXPECT_EQ(command_line({"qat", "train", "--set", "name=it's mine"}),
            "qat train --set 'name=it'\\''s mine'");
  // What the shell reads back is the original word.
  const std::string word = "a 'quoted' \"word\" with $x, `y` and \\z";
  const fs::path out = temp_file("echo.out", "");
  const ProcessResult r =
      run_process({"/bin/sh", "-c", "printf %s " + shell_quote(word)}, out.string(), 30);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, word);
}

TEST(Process, RunProcessReportsExitStatusAndTimeout) {
  const fs::path log = temp_file("proc", "");
  const ProcessResult fail =
      run_process({"/bin/sh", "-c", "echo oops >&2; exit 3"}, log.string(), 30);
  EXPECT_EQ(fail.exit_code, 3);
  EXPECT_EQ(fail.err, "oops\n");
  const ProcessResult slow = run_process({"/bin/sh", "-c", "sleep 5"}, log.string(), 1);
  EXPECT_TRUE(slow.timed_out);
  EXPECT_NE(error_of([&] {
              run_process({"/nonexistent/tool"}, log.string(), 1);
            }).find("cannot start /nonexistent/tool"),
            std::string::npos);
}

}  // namespace
}  // namespace qat
