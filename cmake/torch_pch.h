// Precompiled header for every target that uses LibTorch (see cmake/QatTargets.cmake).
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
