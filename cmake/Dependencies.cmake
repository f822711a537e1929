# All third-party dependencies come from Debian packages (tools/setup.sh installs them).
find_package(Torch REQUIRED)
find_package(OpenCV REQUIRED COMPONENTS core imgproc imgcodecs)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(Protobuf REQUIRED)
find_package(ONNX REQUIRED)
find_package(Threads REQUIRED)
if(QAT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# Distributed training (qat/process_group.cpp): c10d's ProcessGroupGloo headers ship with
# libtorch-dev but include gloo's, from libgloo-dev; without them the build trains in one
# process and says so (`qat --version`).
find_path(QAT_GLOO_INCLUDE gloo/config.h)
find_path(QAT_C10D_INCLUDE torch/csrc/distributed/c10d/ProcessGroupGloo.hpp
  HINTS ${TORCH_INCLUDE_DIRS})
if(QAT_GLOO_INCLUDE AND QAT_C10D_INCLUDE)
  set(QAT_HAVE_C10D_GLOO ON)
  message(STATUS "distributed training: c10d Gloo")
else()
  set(QAT_HAVE_C10D_GLOO OFF)
  message(STATUS "distributed training: off (no c10d Gloo headers; install libgloo-dev)")
endif()
