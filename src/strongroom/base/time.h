#pragma once
// Time formatting shared by logs, files and API bodies. Stateless; thread-safe.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace strongroom {

// "2026-11-22T06:30:00Z" (RFC 3339, UTC, whole seconds).
std::string FormatRfc3339(std::chrono::system_clock::time_point time);
// The inverse, strictly: exactly "YYYY-MM-DDTHH:MM:SSZ" with a real date and time; nullopt
// otherwise (lowercase t/z, offsets, fractions, "2026-02-30" all refused).
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

}  // namespace strongroom

namespace strongroom {

// "2026-11-22T06:30:00.123456Z" (RFC 3339, UTC, microseconds): audit entries, whose order
// within a second matters to a reader.
std::string FormatRfc3339Micros(std::chrono::system_clock::time_point time);

}  // namespace strongroom
