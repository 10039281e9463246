#pragma once
// The structured logger: one JSON object per line, through spdlog.
//
// The API accepts only an event name fixed at compile time and typed, named fields, so no code
// path can log a formatted free-text message (the usual way personal data reaches logs):
//
//   observe::Info("server.listening", {{"api", address}, {"io_threads", 2}});
//
// String fields are for identifiers the code controls (routes, error codes, file paths), never
// for request content; request and response bodies are never logged. SecretBytes fields print as
// "<redacted>". The logger is process-wide (set up once by the composition root, before any
// thread starts) and thread-safe. With `async`, formatting happens on the caller and writing on a
// background thread in batches (every 100 ms, or at once for warnings and errors), so I/O threads
// never wait for the disk; a crash can lose at most the last 100 ms of info lines.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom::observe {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Result<LogLevel> from "debug" | "info" | "warn" | "error".
Result<LogLevel> ParseLogLevel(std::string_view text);

// An event name is a string literal: it names what happened and can never carry data.
class EventName {
 public:
  template <std::size_t N>
  consteval EventName(const char (&name)[N]) : name_(name, N - 1) {}
  std::string_view view() const { return name_; }

 private:
  std::string_view name_;
};

class LogValue {
 public:
  struct Redacted {};
  LogValue(bool v) : value_(v) {}
  LogValue(int v) : value_(static_cast<std::int64_t>(v)) {}
  LogValue(long v) : value_(static_cast<std::int64_t>(v)) {}
  LogValue(long long v) : value_(static_cast<std::int64_t>(v)) {}
  LogValue(unsigned v) : value_(static_cast<std::uint64_t>(v)) {}
  LogValue(unsigned long v) : value_(static_cast<std::uint64_t>(v)) {}
  LogValue(unsigned long long v) : value_(static_cast<std::uint64_t>(v)) {}
  LogValue(double v) : value_(v) {}
  LogValue(std::string_view v) : value_(v) {}
  LogValue(const std::string& v) : value_(std::string_view(v)) {}
  LogValue(const char* v) : value_(std::string_view(v)) {}
  LogValue(const SecretBytes&) : value_(Redacted{}) {}

  using Variant = std::variant<bool, std::int64_t, std::uint64_t, double, std::string_view, Redacted>;
  const Variant& get() const { return value_; }

 private:
  Variant value_;
};

struct Field {
  std::string_view name;
  LogValue value;
};

struct LogOptions {
  LogLevel level = LogLevel::kInfo;
  std::string file;  // empty: standard error
  bool async = true;
};

// Replaces the process logger. Call before starting threads that log.
Result<void> InitLogging(const LogOptions& options);
// Flushes and stops the background writer; later calls log synchronously to stderr.
void ShutdownLogging();

bool LogEnabled(LogLevel level);
void Log(LogLevel level, EventName event, std::initializer_list<Field> fields);
inline void Debug(EventName e, std::initializer_list<Field> f = {}) { Log(LogLevel::kDebug, e, f); }
inline void Info(EventName e, std::initializer_list<Field> f = {}) { Log(LogLevel::kInfo, e, f); }
inline void Warn(EventName e, std::initializer_list<Field> f = {}) { Log(LogLevel::kWarn, e, f); }
inline void Error(EventName e, std::initializer_list<Field> f = {}) { Log(LogLevel::kError, e, f); }

// The exact line Log writes (without newline), for tests and for callers that need the text.
// `unix_micros` is the timestamp in microseconds since the epoch.
void FormatLogLine(std::string& out, std::int64_t unix_micros, LogLevel level, EventName event,
                   std::initializer_list<Field> fields);

// Appends `text` to `out` as the inside of a JSON string (RFC 8259 escapes; invalid UTF-8 bytes
// become U+FFFD so a log line is always valid JSON).
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace strongroom::observe
