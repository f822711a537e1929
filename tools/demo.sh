#!/usr/bin/env bash
# The bundled default job: installs what is missing, builds, then
#   1. trains the MicroAI ResNetv1-6 on the UCI-HAR sample shipped in datasets/samples
#      (float -> int8 power-of-two PTQ -> QAT), printing the accuracy of each step;
#   2. evaluates the integer model with the C kernel library and checks it against the
#      integer-exact simulation (bit for bit);
#   3. exports it (C library + ONNX QDQ + integer checkpoint) and runs the generated C;
#   4. deploys it on an emulated Cortex-M4 and reports instructions, estimated cycles, flash and
#      RAM.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
QAT=build/tools/qat
$QAT train configs/demo.yaml
$QAT eval runs/demo --engine int --compare
$QAT export runs/demo --out runs/demo/export
make -s -C runs/demo/export run
$QAT deploy runs/demo/export --target cortex-m4
