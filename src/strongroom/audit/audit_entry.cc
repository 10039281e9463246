#include "strongroom/audit/audit_entry.h"

#include <charconv>

#include "strongroom/base/time.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/observe/log.h"

namespace strongroom::audit {
namespace {

// Written by hand, not through Boost.JSON: the writer thread encodes every entry (the target is
// 100,000 a second) and the member order is part of the format.
void String(std::string& out, std::string_view text) {
  out.push_back('"');
  observe::AppendJsonEscaped(out, text);
  out.push_back('"');
}

void Member(std::string& out, std::string_view name, std::string_view value) {
  out.push_back(',');
  String(out, name);
  out.push_back(':');
  String(out, value);
}

void Array(std::string& out, const std::vector<std::string>& values) {
  out.push_back('[');
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    String(out, values[i]);
  }
  out.push_back(']');
}

void List(std::string& out, std::string_view name, const std::vector<std::string>& values) {
  out.push_back(',');
  String(out, name);
  out.push_back(':');
  Array(out, values);
}

void Number(std::string& out, std::uint64_t n) {
  char buffer[24];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, n);
  out.append(buffer, end);
}

// RFC 3339 with microseconds; the part up to the second is formatted once a second (per thread).
void Time(std::string& out, std::chrono::system_clock::time_point time) {
  thread_local std::int64_t cached_second = -1;
  thread_local std::string cached;  // "2026-11-22T10:15:30"
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(time.time_since_epoch()).count();
  std::int64_t second = micros / 1'000'000, fraction = micros % 1'000'000;
  if (fraction < 0) {
    --second;
    fraction += 1'000'000;
  }
  if (second != cached_second) {
    const std::string full = FormatRfc3339(
        std::chrono::system_clock::time_point(std::chrono::seconds(second)));  // "…:30Z"
    cached = full.substr(0, full.size() - 1);
    cached_second = second;
  }
  out.append(cached);
  char digits[8] = {'.', '0', '0', '0', '0', '0', '0', 'Z'};
  for (int i = 6; i >= 1; --i) {
    digits[i] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  out.append(digits, sizeof digits);
}

void HexTo(std::string& out, const Hash& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  for (const std::uint8_t b : hash) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
}

constexpr std::string_view kHeadStart = R"({"v":1,"seq":)";
constexpr std::string_view kTimeMember = R"(,"time":")";

}  // namespace

std::string EncodeEntry(std::uint64_t seq, const Hash& prev, const Event& e) {
  std::string out;
  out.reserve(512);
  out.append(kHeadStart);
  Number(out, seq);
  out.append(kTimeMember);
  Time(out, e.time);
  out.append(R"(","prev":")");
  HexTo(out, prev);
  out.push_back('"');
  Member(out, "tenant", e.tenant);
  out.append(R"(,"actor":)");
  if (e.actor) {
    out.push_back('{');
    String(out, "id");
    out.push_back(':');
    String(out, e.actor->id);
    Member(out, "kind", e.actor->kind);
    List(out, "roles", e.actor->roles);
    Member(out, "via", e.actor->via);
    Member(out, "credential", e.actor->credential);
    out.push_back('}');
  } else {
    out.append("null");
  }
  Member(out, "source", e.source);
  Member(out, "request_id", e.request_id);
  Member(out, "action", e.action);
  out.append(R"(,"resource":{)");
  bool first = true;
  auto member_or_list = [&](std::string_view name, auto&& write) {
    if (!first) out.push_back(',');
    first = false;
    String(out, name);
    out.push_back(':');
    write();
  };
  if (!e.collection.empty()) member_or_list("collection", [&] { String(out, e.collection); });
  if (!e.ids.empty()) member_or_list("ids", [&] { Array(out, e.ids); });
  if (!e.subjects.empty()) member_or_list("subjects", [&] { Array(out, e.subjects); });
  if (!e.target.empty()) member_or_list("target", [&] { String(out, e.target); });
  out.push_back('}');
  List(out, "fields", e.fields);
  if (!e.values.empty()) List(out, "values", e.values);
  out.append(R"(,"purpose":)");
  if (e.purpose.empty()) {
    out.append("null");
  } else {
    String(out, e.purpose);
  }
  if (!e.policy_rule.empty()) {
    out.append(R"(,"policy":{"version":)");
    Number(out, e.policy_version);
    Member(out, "rule", e.policy_rule);
    out.push_back('}');
  }
  out.append(R"(,"outcome":{"status":)");
  Number(out, static_cast<std::uint64_t>(e.status));
  Member(out, "code", e.code);
  if (!e.detail_path.empty() || !e.detail_rule.empty()) {
    out.append(R"(,"details":{"path":)");
    String(out, e.detail_path);
    out.append(R"(,"rule":)");
    String(out, e.detail_rule);
    out.push_back('}');
  }
  out.append("}}");
  return out;
}

Result<EntryHead> ReadEntryHead(std::span<const std::uint8_t> entry) {
  const std::string_view text(reinterpret_cast<const char*>(entry.data()), entry.size());
  auto bad = [](std::string_view what) {
    return Fail(ErrorCode::kInvalidArgument, "not an audit-v1 entry: " + std::string(what));
  };
  if (!text.starts_with(kHeadStart)) return bad("no {\"v\":1,\"seq\": prefix");
  EntryHead head;
  const char* begin = text.data() + kHeadStart.size();
  const char* end = text.data() + text.size();
  auto [after_seq, ec] = std::from_chars(begin, end, head.seq);
  if (ec != std::errc() || after_seq == begin || (*begin == '0' && after_seq - begin > 1)) {
    return bad("bad seq");
  }
  std::string_view rest(after_seq, static_cast<std::size_t>(end - after_seq));
  if (!rest.starts_with(kTimeMember)) return bad("no time");
  rest.remove_prefix(kTimeMember.size());
  const auto time_end = rest.find('"');
  if (time_end == std::string_view::npos || time_end > 40) return bad("bad time");
  head.time = rest.substr(0, time_end);
  rest.remove_prefix(time_end + 1);
  constexpr std::string_view kPrev = R"(,"prev":")";
  if (!rest.starts_with(kPrev) || rest.size() < kPrev.size() + 65) return bad("no prev");
  rest.remove_prefix(kPrev.size());
  const auto prev = crypto::HexDecode(rest.substr(0, 64));
  if (!prev || prev->size() != 32 || rest[64] != '"') return bad("bad prev");
  std::copy(prev->begin(), prev->end(), head.prev.begin());
  if (!text.ends_with('}')) return bad("unterminated");
  return head;
}

}  // namespace strongroom::audit
