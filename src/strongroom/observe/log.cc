#include "strongroom/observe/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>
#include <thread>

#include "strongroom/base/card_numbers.h"

namespace strongroom::observe {
namespace {

// Batches log lines for a background writer. Hand-written because spdlog's async logger wakes its
// writer thread (a futex syscall) for every message and flushes every line: in a profile of
// GET /v1/health that was 30% of the server's CPU. Here callers append to a buffer under an
// uncontended mutex (no syscall), and the writer wakes once per batch: every kBatchInterval, when
// kWakeBytes are pending, or at once for a warning or error. Lines are written through the spdlog
// logger (its sink does the I/O) and flushed once per batch.
//
// If the sink stalls (a full disk), at most kMaxPendingBytes wait; later lines are dropped and
// counted, and a "log.dropped" line says how many once writing resumes. Thread-safe.
class BatchWriter {
 public:
  explicit BatchWriter(std::shared_ptr<spdlog::logger> sink)
      : sink_(std::move(sink)), thread_([this] { Run(); }) {}
  ~BatchWriter() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  void Append(LogLevel level, std::string_view line) {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      if (pending_.size() + line.size() > kMaxPendingBytes) {
        ++dropped_;
        return;
      }
      const bool was_below = pending_.size() < kWakeBytes;
      pending_.append(line);
      pending_.push_back('\n');
      if (level >= LogLevel::kWarn && !urgent_) urgent_ = wake = true;
      if (was_below && pending_.size() >= kWakeBytes) wake = true;
    }
    if (wake) wake_.notify_one();
  }

 private:
  static constexpr std::size_t kWakeBytes = 64 << 10;
  static constexpr std::size_t kMaxPendingBytes = 8 << 20;
  static constexpr auto kBatchInterval = std::chrono::milliseconds(100);

  void Run() {
    std::string batch;
    for (;;) {
      std::uint64_t dropped = 0;
      bool stopping = false;
      {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, kBatchInterval, [this] {
          return stopping_ || urgent_ || pending_.size() >= kWakeBytes;
        });
        batch.swap(pending_);
        urgent_ = false;
        dropped = std::exchange(dropped_, 0);
        stopping = stopping_;
      }
      Write(batch, dropped);
      batch.clear();
      if (stopping) return;
    }
  }

  void Write(std::string_view batch, std::uint64_t dropped) {
    if (batch.empty() && dropped == 0) return;
    while (!batch.empty()) {
      const auto end = batch.find('\n');
      sink_->log(spdlog::level::info, spdlog::string_view_t(batch.data(), end));
      batch.remove_prefix(end + 1);
    }
    if (dropped > 0) {
      std::string line;
      const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(
          std::chrono::system_clock::now());
      FormatLogLine(line, now.time_since_epoch().count(), LogLevel::kWarn, "log.dropped",
                    {{"lines", dropped}});
      sink_->log(spdlog::level::warn, spdlog::string_view_t(line.data(), line.size()));
    }
    sink_->flush();
  }

  std::shared_ptr<spdlog::logger> sink_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  std::uint64_t dropped_ = 0;
  bool urgent_ = false;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it uses exist
};

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::mutex g_logger_mutex;  // guards replacing the destinations; logging copies the pointers
std::shared_ptr<spdlog::logger> g_logger;  // synchronous destination (before InitLogging)
std::shared_ptr<BatchWriter> g_batch;      // batched destination, when async

std::shared_ptr<spdlog::logger> MakeStderrLogger() {
  auto logger = std::make_shared<spdlog::logger>("strongroom",
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  logger->flush_on(spdlog::level::trace);
  return logger;
}

struct Destination {
  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<BatchWriter> batch;
};

Destination CurrentDestination() {
  std::lock_guard lock(g_logger_mutex);
  if (!g_logger && !g_batch) g_logger = MakeStderrLogger();
  return {g_logger, g_batch};
}

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

spdlog::level::level_enum ToSpdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

template <typename T>
void AppendNumber(std::string& out, T value) {
  char buffer[32];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, ec == std::errc() ? end : buffer);
}

void AppendTimestamp(std::string& out, std::int64_t unix_micros) {
  const std::time_t seconds = static_cast<std::time_t>(unix_micros / 1'000'000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[40];
  const auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
  out.append(buffer, n);
  const auto micros = static_cast<unsigned>(unix_micros % 1'000'000);
  char fraction[16];
  (void)std::snprintf(fraction, sizeof fraction, ".%06uZ", micros);  // always fits
  out.append(fraction);
}

// Length of the valid UTF-8 sequence at text[i], or 0 when the bytes there are not valid UTF-8
// (overlongs, surrogates and code points above U+10FFFF included).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t len = 0;
  std::uint32_t cp = 0;
  if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
  else return 0;
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
    return 0;
  }
  return len;
}

}  // namespace

Result<LogLevel> ParseLogLevel(std::string_view text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  return Fail(ErrorCode::kInvalidArgument, "expected one of debug, info, warn, error");
}

// Hand-written: spdlog formats text, not JSON, and escaping per field into one reused buffer is
// what keeps logging off the allocator on hot paths. Boost.JSON would build a DOM per line.
void AppendJsonEscaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < text.size();) {
    // Runs of printable ASCII other than '"' and '\\' go in one append (ids, hashes, names:
    // nearly everything the log and the audit writer escape).
    std::size_t run = i;
    while (run < text.size()) {
      const auto r = static_cast<unsigned char>(text[run]);
      if (r < 0x20 || r >= 0x7F || r == '"' || r == '\\') break;
      ++run;
    }
    if (run > i) {
      out.append(text.data() + i, run - i);
      i = run;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t len = Utf8SequenceLength(text, i);
      if (len == 0) {
        out.append("\\ufffd");
        ++i;
      } else {
        out.append(text.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
}

namespace {

// Log values should never carry personal data at all; a card number that slips into one (a
// message quoting input, a path) is cut out here anyway, as the issuing rules require.
void AppendWithoutCardNumbers(std::string& out, std::string_view text) {
  if (!ContainsCardNumber(text)) return AppendJsonEscaped(out, text);
  std::size_t at = 0;
  for (const CardNumberSpan& card : FindCardNumbers(text)) {
    AppendJsonEscaped(out, text.substr(at, card.begin - at));
    out.append("<card number removed>");
    at = card.end;
  }
  AppendJsonEscaped(out, text.substr(at));
}

}  // namespace

void FormatLogLine(std::string& out, std::int64_t unix_micros, LogLevel level, EventName event,
                   std::initializer_list<Field> fields) {
  out.append("{\"ts\":\"");
  AppendTimestamp(out, unix_micros);
  out.append("\",\"level\":\"");
  out.append(LevelName(level));
  out.append("\",\"event\":\"");
  AppendJsonEscaped(out, event.view());
  out.push_back('"');
  for (const Field& field : fields) {
    out.append(",\"");
    AppendJsonEscaped(out, field.name);
    out.append("\":");
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, bool>) {
            out.append(v ? "true" : "false");
          } else if constexpr (std::is_same_v<T, std::string_view>) {
            out.push_back('"');
            AppendWithoutCardNumbers(out, v);
            out.push_back('"');
          } else if constexpr (std::is_same_v<T, LogValue::Redacted>) {
            out.append("\"<redacted>\"");
          } else if constexpr (std::is_same_v<T, double>) {
            if (std::isfinite(v)) AppendNumber(out, v);
            else out.append("null");
          } else {
            AppendNumber(out, v);
          }
        },
        field.value.get());
  }
  out.push_back('}');
}

Result<void> InitLogging(const LogOptions& options) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    spdlog::sink_ptr sink;
    if (options.file.empty()) {
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file, /*truncate=*/false);
    }
    logger = std::make_shared<spdlog::logger>("strongroom", sink);
  } catch (const spdlog::spdlog_ex& e) {
    return Fail(ErrorCode::kFailedPrecondition, std::string("cannot open log: ") + e.what());
  }
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::trace);
  // Batched writes flush once per batch; synchronous ones flush every line.
  logger->flush_on(options.async ? spdlog::level::off : spdlog::level::trace);
  auto batch = options.async ? std::make_shared<BatchWriter>(logger) : nullptr;
  g_level.store(options.level, std::memory_order_relaxed);
  std::shared_ptr<BatchWriter> old_batch;
  {
    std::lock_guard lock(g_logger_mutex);
    old_batch = std::exchange(g_batch, std::move(batch));
    g_logger = options.async ? nullptr : std::move(logger);
  }
  return {};  // old_batch (if any) drains and stops here, outside the lock
}

void ShutdownLogging() {
  std::shared_ptr<BatchWriter> old_batch;
  std::shared_ptr<spdlog::logger> old_logger;
  {
    std::lock_guard lock(g_logger_mutex);
    old_batch = std::exchange(g_batch, nullptr);
    old_logger = std::exchange(g_logger, MakeStderrLogger());
  }
  old_batch.reset();  // writes what is pending, then joins the writer
  if (old_logger) old_logger->flush();
}

bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= static_cast<int>(g_level.load(std::memory_order_relaxed));
}

void Log(LogLevel level, EventName event, std::initializer_list<Field> fields) {
  if (!LogEnabled(level)) return;
  thread_local std::string line;
  line.clear();
  const auto now = std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now());
  FormatLogLine(line, now.time_since_epoch().count(), level, event, fields);
  const Destination destination = CurrentDestination();
  if (destination.batch) {
    destination.batch->Append(level, line);
  } else {
    destination.logger->log(ToSpdlog(level), spdlog::string_view_t(line.data(), line.size()));
  }
}

}  // namespace strongroom::observe
