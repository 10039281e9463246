#pragma once
// Registers the standard process_* metrics (Prometheus client conventions) and
// strongroom_build_info. Values are read from /proc at scrape time.

#include <string_view>

#include "strongroom/observe/metrics.h"

namespace strongroom::observe {

void RegisterProcessMetrics(MetricsRegistry& registry, std::string_view version);

}  // namespace strongroom::observe
