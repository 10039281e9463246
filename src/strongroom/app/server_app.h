#pragma once
// The composition root of `strongroom serve`: builds every part from the validated Config, wires
// them explicitly (no static registration), serves until drained, and tears down in order.

#include "strongroom/config/config.h"

namespace strongroom::app {

// Returns the process exit code: 0 after a clean drain, 1 when the server could not start
// (a configuration the file system contradicts, a port in use), with the reason logged.
int RunServer(const config::Config& config);

}  // namespace strongroom::app
