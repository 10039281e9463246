#include "strongroom/records/service_support.h"

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>

#include "strongroom/base/time.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/json_input.h"
#include "strongroom/records/schema.h"

namespace strongroom::records::internal {

namespace json = boost::json;

std::string Now() { return FormatRfc3339(std::chrono::system_clock::now()); }

std::string TimeKey(std::int64_t micros) {
  char buffer[17];
  (void)std::snprintf(buffer, sizeof buffer, "%016llx",
                      static_cast<unsigned long long>(micros) + (1ull << 62));
  return buffer;
}

Result<std::string> NewId(std::string_view prefix) {
  std::array<std::uint8_t, 16> random{};
  if (auto filled = crypto::FillRandom(random); !filled) return std::unexpected(filled.error());
  return std::string(prefix) + crypto::Base64UrlEncode(random);
}

// Ids we issue: prefix + 22 base64url characters. Anything else cannot name a stored object.
bool IsId(std::string_view id, std::string_view prefix) {
  if (id.size() != prefix.size() + 22 || !id.starts_with(prefix)) return false;
  for (char c : id.substr(prefix.size())) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool IsTenantId(std::string_view id) {
  if (id.empty() || id.size() > 63 || id.front() == '-' || id.back() == '-') return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

storage::Bytes ToBytes(std::string_view text) { return {text.begin(), text.end()}; }
storage::Bytes Serialize(const json::value& v) { return ToBytes(json::serialize(v)); }
std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Result<json::object> ParseStored(const storage::Bytes& bytes, std::string_view what) {
  boost::system::error_code ec;
  json::value v =
      json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), ec);
  if (ec || !v.is_object())
    return Fail(ErrorCode::kDataLoss, "stored " + std::string(what) + " is malformed");
  return std::move(v.get_object());
}

std::string Join(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out.push_back('/');
    out.append(p);
  }
  return out;
}

Result<const json::object*> BodyObject(const json::value& body) {
  if (!body.is_object()) return FailAt("$", "type", "the body must be a JSON object");
  return &body.get_object();
}

// Scans `space` for keys starting with `prefix`, after `prefix + after` (or from the start of the
// prefix), calling `visit(key_suffix, value)` until it returns false or `limit` entries are seen.
Result<void> ScanPrefix(storage::Store& store, std::string_view space, const std::string& prefix,
                        std::string_view after, std::size_t limit,
                        const std::function<bool(std::string_view, const storage::Bytes&)>& visit) {
  std::string from = prefix + std::string(after);
  std::size_t seen = 0;
  while (seen < limit) {
    const std::size_t want = std::min<std::size_t>(limit - seen, 256);
    auto entries = store.Scan(space, from, want);
    if (!entries) return std::unexpected(entries.error());
    for (const auto& entry : *entries) {
      if (!entry.key.starts_with(prefix)) return {};
      ++seen;
      if (!visit(std::string_view(entry.key).substr(prefix.size()), entry.value)) return {};
      from = entry.key;
    }
    if (entries->size() < want) return {};
  }
  return {};
}

Result<std::size_t> PageLimit(const Page& page) {
  if (page.limit < 1 || page.limit > kMaxPageSize) {
    return FailAt("limit", "range", "limit must be from 1 to 200");
  }
  return page.limit;
}

// A page of the JSON objects stored under `prefix` in `space`: {"<name>": [...], "next_cursor"}.
// The cursor is the key suffix of the last item; `valid_cursor` refuses ones we never issued.
Result<json::object> StoredObjectPage(storage::Store& store, std::string_view space,
                                      const std::string& prefix, const Page& page,
                                      std::string_view name,
                                      bool (*valid_cursor)(std::string_view),
                                      const Presenter& present) {
  auto limit = PageLimit(page);
  if (!limit) return std::unexpected(limit.error());
  if (!page.cursor.empty() && !valid_cursor(page.cursor)) {
    return FailAt("cursor", "format", "cursor is not one this API issued");
  }
  json::array items;
  std::string last;
  Result<void> failure;
  auto scanned = ScanPrefix(store, space, prefix, page.cursor, *limit,
                            [&](std::string_view suffix, const storage::Bytes& value) {
                              auto parsed = ParseStored(value, name);
                              if (parsed && present) parsed = present(std::move(*parsed));
                              if (!parsed) {
                                failure = std::unexpected(parsed.error());
                                return false;
                              }
                              items.push_back(std::move(*parsed));
                              last = suffix;
                              return true;
                            });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return std::unexpected(failure.error());
  const bool full = items.size() == *limit;
  json::object out{{name, std::move(items)}};
  out["next_cursor"] = full ? json::value(last) : nullptr;
  return out;
}

bool IsSubjectId(std::string_view id) { return IsId(id, "sub_"); }

Result<storage::Bytes> SealEnvelope(barrier::VaultKeys& keys, std::string_view tenant,
                                    std::string_view subject, std::string_view collection,
                                    std::string_view id, std::string_view bound,
                                    const boost::json::object& object) {
  std::string plaintext = boost::json::serialize(object);
  std::vector<std::uint8_t> ciphertext;
  const barrier::EncryptItem item{{tenant, collection, id, bound}, AsBytes(plaintext), &ciphertext};
  auto encrypted = keys.barrier->Encrypt(tenant, subject, std::span(&item, 1));
  std::fill(plaintext.begin(), plaintext.end(), '\0');
  if (!encrypted) return std::unexpected(encrypted.error());
  return Serialize(boost::json::object{{"payload", crypto::Base64UrlEncode(ciphertext)}});
}

Result<boost::json::object> OpenEnvelope(barrier::VaultKeys& keys, std::string_view tenant,
                                         std::string_view subject, std::string_view collection,
                                         std::string_view id, std::string_view bound,
                                         const boost::json::object& envelope) {
  const auto* payload = envelope.if_contains("payload");
  std::optional<std::vector<std::uint8_t>> ciphertext;
  if (payload != nullptr && payload->is_string()) {
    ciphertext = crypto::Base64UrlDecode(payload->get_string());
  }
  if (!ciphertext) {
    LogRejectedCiphertext(tenant, collection, id, "payload");
    return Fail(ErrorCode::kDataLoss, "a stored envelope is not a ciphertext");
  }
  std::vector<std::uint8_t> plain;
  auto opened =
      keys.barrier->DecryptTo(tenant, subject, {tenant, collection, id, bound}, *ciphertext, plain);
  if (!opened) {
    if (opened.error().code() == ErrorCode::kDataLoss) {
      LogRejectedCiphertext(tenant, collection, id, "payload");
    }
    return std::unexpected(opened.error());
  }
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(
      std::string_view(reinterpret_cast<const char*>(plain.data()), plain.size()), ec);
  std::fill(plain.begin(), plain.end(), std::uint8_t{0});
  if (ec || !parsed.is_object())
    return Fail(ErrorCode::kDataLoss, "a decrypted envelope is not JSON");
  return std::move(parsed.get_object());
}

void LogRejectedCiphertext(std::string_view tenant, std::string_view collection,
                           std::string_view id, std::string_view field) {
  observe::Error("security.ciphertext_rejected",
                 {{"tenant", tenant},
                  {"collection", collection},
                  {"object_id", id},
                  {"field", field},
                  {"meaning",
                   "stored ciphertext failed authentication: tampered, moved or "
                   "truncated below the barrier"}});
}

}  // namespace strongroom::records::internal
