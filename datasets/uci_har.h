// UCI Human Activity Recognition (smartphone IMU) in its original text layout:
//   <root>/{train,test}/Inertial Signals/{body_acc,body_gyro,total_acc}_{x,y,z}_<split>.txt
//   <root>/{train,test}/y_<split>.txt, subject_<split>.txt, <root>/activity_labels.txt
// where <root> is the "UCI HAR Dataset" folder.
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace qat::data {

constexpr int64_t kUciHarChannels = 9;
constexpr int64_t kUciHarWindow = 128;

// The 9 signal names in channel order (body_acc_x .. total_acc_z).
const std::vector<std::string>& uci_har_channel_names();

// Samples [9, 128] (channel-major: body_acc_x,y,z, body_gyro_x,y,z, total_acc_x,y,z), labels
// 0..5 (file labels 1..6), groups = subject ids. Class names from activity_labels.txt when the
// file exists, else WALKING .. LAYING. Throws DatasetError naming file and line on bad input.
ArrayDataset load_uci_har(const std::string& root, Split split);

}  // namespace qat::data
