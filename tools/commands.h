// Subcommands of the `qat` program; each registers itself on the CLI11 app and returns the
// function that runs it after parsing.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace qat::cli {

using Runner = std::function<int()>;

Runner add_train(CLI::App& app);
Runner add_eval(CLI::App& app);
Runner add_info(CLI::App& app);
Runner add_export(CLI::App& app);
Runner add_deploy(CLI::App& app);
Runner add_sweep(CLI::App& app);

// What `qat --version` prints: the version, LibTorch's, and whether distributed training is in.
std::string build_description();

}  // namespace qat::cli
