#pragma once
// GET /v1/health (liveness: the process answers) and GET /v1/ready (readiness: every dependency
// is in a state to serve; 503 and the failing dependency named otherwise).
//
// Dependencies are registered by the composition root as named checks, so each later module
// (storage, keys, audit) adds its own without this file knowing it. Checks run on the worker pool
// (they may touch the disk) and must be quick and thread-safe.

#include <functional>
#include <string>
#include <vector>

#include "strongroom/http/router.h"

namespace strongroom::api {

struct DependencyStatus {
  bool ok = false;
  // "ok", or a short machine-readable reason: "draining", "expired", ...; "degraded" with ok
  // set: still serving, near a limit (the readiness status says "degraded", with 200).
  std::string state;
  std::string detail;  // optional, for operators: never personal data
};

struct DependencyCheck {
  std::string name;
  std::function<DependencyStatus()> check;
};

void AddHealthRoutes(http::Router& router, std::vector<DependencyCheck> checks);

}  // namespace strongroom::api
