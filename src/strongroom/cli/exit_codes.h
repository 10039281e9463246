#pragma once
// The exit codes every `strongroom` command uses: 0 success; 1 a failure at run time (the server
// refused or could not be reached, a port is taken); 2 a usage, configuration or missing-file
// error, reported as one line on standard error.

#include <iostream>
#include <string_view>

namespace strongroom::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

inline int UsageError(std::string_view message) {
  std::cerr << "strongroom: error: " << message << "\n";
  return kExitUsage;
}

}  // namespace strongroom::cli
