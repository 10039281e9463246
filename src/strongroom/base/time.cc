#include "strongroom/base/time.h"

#include <cstdio>
#include <ctime>

namespace strongroom {

std::string FormatRfc3339(std::chrono::system_clock::time_point time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  const auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buffer, n);
}

}  // namespace strongroom

namespace strongroom {

std::string FormatRfc3339Micros(std::chrono::system_clock::time_point time) {
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  const auto written = std::snprintf(buffer + n, sizeof buffer - n, ".%06lldZ",
                                     static_cast<long long>(micros % 1'000'000));
  return std::string(buffer, n + static_cast<std::size_t>(written));
}

}  // namespace strongroom
