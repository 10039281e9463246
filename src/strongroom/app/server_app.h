#pragma once
// The composition root of `strongroom serve`: builds every part from the validated Config, wires
// them explicitly (no static registration), serves until drained, and tears down in order.

#include "strongroom/config/config.h"

namespace strongroom::app {

// Returns the process exit code, with the reason logged: 0 after a clean drain; 2 when files the
// configuration names are missing or unusable (no vault, unreadable certificate); 1 when the
// server could not start for another reason (a port in use).
int RunServer(const config::Config& config);

}  // namespace strongroom::app
