#include "strongroom/observe/process_metrics.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace strongroom::observe {

void RegisterProcessMetrics(MetricsRegistry& registry, std::string_view version) {
  registry.GetGauge("strongroom_build_info", "Build information; the value is always 1",
                    {{"version", std::string(version)}})
      .Set(1);
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  registry.GetGauge("process_start_time_seconds", "Start time of the process since the Unix epoch")
      .Set(std::chrono::duration<double>(now).count());
  registry.AddGaugeCallback("process_resident_memory_bytes", "Resident memory size in bytes", [] {
    std::ifstream statm("/proc/self/statm");
    long pages_total = 0, pages_resident = 0;
    statm >> pages_total >> pages_resident;
    return static_cast<double>(pages_resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  });
  registry.AddGaugeCallback("process_open_fds", "Number of open file descriptors", [] {
    std::error_code ec;
    double count = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      ++count;
    }
    return count;
  });
}

}  // namespace strongroom::observe
