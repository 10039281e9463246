#include "strongroom/records/token_vault.h"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <vector>

#include "strongroom/barrier/data_barrier.h"
#include "strongroom/base/card_numbers.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"
#include "strongroom/records/json_input.h"
#include "strongroom/records/schema.h"
#include "strongroom/records/service_support.h"

namespace strongroom::records {
namespace {

namespace json = boost::json;
using internal::AsBytes;
using internal::Join;

constexpr std::string_view kTokensSpace = "tokens";  // profiles store
// The key owner of every token of a tenant: not a subject id (those are "sub_…"), so its key
// and ciphertexts can never be taken for a data subject's.
constexpr std::string_view kTokenSubject = "$tokens";
constexpr std::string_view kTokenCollection = "$tokens";
constexpr std::string_view kTokenField = "value";

constexpr std::array<std::string_view, 4> kKindNames = {"random", "deterministic",
                                                        "format-preserving", "one-way"};

bool IsSeparator(char c) { return c == ' ' || c == '-'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// The digits of a format-preserving value, or nullopt if it has anything but digits, spaces
// and dashes, or too few or too many digits.
std::optional<std::string> FormatPreservingDigits(std::string_view value) {
  std::string digits;
  for (char c : value) {
    if (IsDigit(c)) {
      digits.push_back(c);
    } else if (!IsSeparator(c)) {
      return std::nullopt;
    }
  }
  if (digits.size() < kMinFormatPreservingDigits || digits.size() > kMaxFormatPreservingDigits) {
    return std::nullopt;
  }
  return digits;
}

// `value` with its digits replaced, in order, by `digits` (separators stay in place).
std::string WithDigits(std::string_view value, std::string_view digits) {
  std::string out(value);
  std::size_t next = 0;
  for (char& c : out) {
    if (IsDigit(c)) c = digits[next++];
  }
  return out;
}

void Wipe(std::string& text) { std::fill(text.begin(), text.end(), '\0'); }

// FF1 of the value's digits, "cycle walked" (Black and Rogaway, "Ciphers with Arbitrary
// Finite Domains", 2002): while the result would read as a payment card number, encrypt it
// again. The value itself is no card number (refused before), so this stays a permutation of
// the values that are not, and no token is ever refused as card data where it is stored.
// About one FF1 in ten of 16 digits reads as one; 64 tries failing is not a real outcome.
Result<std::string> FormatPreservingToken(barrier::DataBarrier& barrier, std::string_view tenant,
                                          std::string_view value) {
  std::string digits = *FormatPreservingDigits(value);
  for (int attempt = 0; attempt < 64; ++attempt) {
    auto encrypted = barrier.FormatPreservingToken(tenant, digits);
    Wipe(digits);
    if (!encrypted) return std::unexpected(encrypted.error());
    std::string token = WithDigits(value, *encrypted);
    if (!ContainsCardNumber(token)) return token;
    digits = std::move(*encrypted);
  }
  Wipe(digits);
  return Fail(ErrorCode::kInternal, "format-preserving tokenization did not leave card numbers");
}

Result<std::shared_ptr<barrier::VaultKeys>> KeysOf(barrier::SealState& seal) {
  auto keys = seal.keys();
  if (!keys) return Fail(ErrorCode::kSealed, "the vault is sealed; unseal it first");
  return keys;
}

// The request's `member`: an array of 1 to kMaxTokenBatch strings.
Result<const json::array*> StringList(const json::object& request, std::string_view member) {
  const std::string path = "$." + std::string(member);
  const auto* found = request.if_contains(member);
  if (found == nullptr) return FailAt(path, "required", "is required");
  if (!found->is_array()) return FailAt(path, "type", "must be an array of strings");
  const auto& list = found->get_array();
  if (list.empty() || list.size() > kMaxTokenBatch) {
    return FailAt(path, "size", "must hold 1 to " + std::to_string(kMaxTokenBatch) + " items");
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string()) return FailAt(JsonPathIndex(path, i), "type", "must be a string");
  }
  return &list;
}

// A token to keep: its value as stored (JSON text, wiped after encryption) and its ciphertext.
struct Pending {
  std::string token;
  std::string plaintext;  // the value's JSON
  std::vector<std::uint8_t> ciphertext;
};

}  // namespace

std::string_view TokenKindName(TokenKind kind) {
  return kKindNames[static_cast<std::size_t>(kind)];
}

std::optional<TokenKind> TokenKindFromName(std::string_view name) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) return static_cast<TokenKind>(i);
  }
  return std::nullopt;
}

TokenVault::TokenVault(storage::Store& store, barrier::SealState& seal)
    : store_(store), seal_(seal) {}

Result<json::object> TokenVault::Tokenize(std::string_view tenant, const json::value& body) {
  auto o = internal::BodyObject(body);
  if (!o) return std::unexpected(o.error());
  for (const auto& member : **o) {
    if (member.key() != "kind" && member.key() != "values") {
      return FailAt(JsonPathKey("$", member.key()), "unknown_field",
                    "is not a member of a tokenize request (kind, values)");
    }
  }
  const auto* kind_value = (*o)->if_contains("kind");
  if (kind_value == nullptr) return FailAt("$.kind", "required", "is required");
  const auto kind =
      kind_value->is_string() ? TokenKindFromName(kind_value->get_string()) : std::nullopt;
  if (!kind) {
    return FailAt("$.kind", "enum",
                  "must be \"random\", \"deterministic\", \"format-preserving\" or \"one-way\"");
  }
  auto strings = StringList(**o, "values");
  if (!strings) return std::unexpected(strings.error());
  const json::array& list = **strings;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string path = JsonPathIndex("$.values", i);
    if (list[i].get_string().size() > kMaxTokenValueBytes) {
      return FailAt(path, "max_length",
                    "is longer than " + std::to_string(kMaxTokenValueBytes) + " bytes");
    }
    if (auto refused = RefuseCardNumbers(list[i], path); !refused) {
      return std::unexpected(refused.error());
    }
    if (*kind == TokenKind::kFormatPreserving && !FormatPreservingDigits(list[i].get_string())) {
      return FailAt(path, "format",
                    "a format-preserving token takes " +
                        std::to_string(kMinFormatPreservingDigits) + " to " +
                        std::to_string(kMaxFormatPreservingDigits) +
                        " digits, with spaces or dashes between them");
    }
  }
  auto keys = KeysOf(seal_);
  if (!keys) return std::unexpected(keys.error());
  barrier::DataBarrier& barrier = *(*keys)->barrier;

  json::array tokens;
  std::vector<Pending> pending;
  pending.reserve(list.size());  // EncryptItems below point into these strings
  for (const auto& value : list) {
    const std::string_view text = value.get_string();
    Pending item;
    switch (*kind) {
      case TokenKind::kRandom: {
        auto id = internal::NewId("tkr_");
        if (!id) return std::unexpected(id.error());
        item.token = std::move(*id);
        break;
      }
      case TokenKind::kDeterministic: {
        item.plaintext = json::serialize(value);
        auto token = barrier.DeterministicToken(tenant, item.plaintext);
        if (!token) return std::unexpected(token.error());
        item.token = std::move(*token);
        break;
      }
      case TokenKind::kFormatPreserving: {
        auto token = FormatPreservingToken(barrier, tenant, text);
        if (!token) return std::unexpected(token.error());
        item.token = std::move(*token);
        break;
      }
      case TokenKind::kOneWay: {
        auto pseudonym = barrier.Pseudonym(tenant, text);
        if (!pseudonym) return std::unexpected(pseudonym.error());
        tokens.emplace_back(*pseudonym);
        continue;  // nothing to keep: it cannot be reversed
      }
    }
    tokens.emplace_back(item.token);
    // Equal values make equal deterministic and format-preserving tokens: kept once.
    if (*kind != TokenKind::kRandom) {
      const bool seen = std::any_of(pending.begin(), pending.end(),
                                    [&](const Pending& p) { return p.token == item.token; });
      if (seen) {
        Wipe(item.plaintext);
        continue;
      }
      auto stored = store_.Get(kTokensSpace, Join({tenant, item.token}));
      if (!stored) return std::unexpected(stored.error());
      if (*stored) {
        Wipe(item.plaintext);
        continue;
      }
    }
    if (item.plaintext.empty()) item.plaintext = json::serialize(value);
    pending.push_back(std::move(item));
  }

  const auto wipe_all = [&pending] {
    for (auto& p : pending) Wipe(p.plaintext);
  };
  if (!pending.empty()) {
    std::vector<barrier::EncryptItem> items;
    items.reserve(pending.size());
    for (auto& p : pending) {
      items.push_back(
          {{tenant, kTokenCollection, p.token, kTokenField}, AsBytes(p.plaintext), &p.ciphertext});
    }
    auto encrypted = barrier.Encrypt(tenant, kTokenSubject, items);
    wipe_all();
    if (!encrypted) return std::unexpected(encrypted.error());
    storage::WriteBatch batch;
    for (auto& p : pending) {
      batch.Put(kTokensSpace, Join({tenant, p.token}), std::move(p.ciphertext));
    }
    if (auto written = store_.Write(std::move(batch)); !written) {
      return std::unexpected(written.error());
    }
  }
  json::object answer;
  answer["kind"] = TokenKindName(*kind);
  answer["tokens"] = std::move(tokens);
  return answer;
}

Result<json::object> TokenVault::Detokenize(std::string_view tenant, const json::value& body) {
  auto o = internal::BodyObject(body);
  if (!o) return std::unexpected(o.error());
  for (const auto& member : **o) {
    if (member.key() != "tokens") {
      return FailAt(JsonPathKey("$", member.key()), "unknown_field",
                    "is not a member of a detokenize request (tokens)");
    }
  }
  auto strings = StringList(**o, "tokens");
  if (!strings) return std::unexpected(strings.error());
  const json::array& list = **strings;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (internal::IsId(list[i].get_string(), "psn_")) {
      return FailAt(JsonPathIndex("$.tokens", i), "not_reversible",
                    "is a one-way token: nothing can turn it back");
    }
  }
  auto keys = KeysOf(seal_);
  if (!keys) return std::unexpected(keys.error());
  barrier::DataBarrier& barrier = *(*keys)->barrier;

  json::array values;
  std::vector<std::uint8_t> buffer;
  const auto wipe = [&buffer] { std::fill(buffer.begin(), buffer.end(), std::uint8_t{0}); };
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string_view token = list[i].get_string();
    const bool shaped = internal::IsId(token, "tkr_") || internal::IsId(token, "tkd_") ||
                        (token.size() <= 2 * kMaxFormatPreservingDigits &&
                         FormatPreservingDigits(token).has_value());
    std::optional<storage::Bytes> stored;
    if (shaped) {
      auto found = store_.Get(kTokensSpace, Join({tenant, token}));
      if (!found) return std::unexpected(found.error());
      stored = std::move(*found);
    }
    // Never issued, issued to another tenant, or not a token at all: the same answer, which
    // does not echo the token (it may be a value pasted by mistake).
    if (!stored) {
      Error missing(ErrorCode::kNotFound, "no such token in this tenant");
      missing.At(JsonPathIndex("$.tokens", i), "unknown_token");
      return std::unexpected(missing);
    }
    auto opened = barrier.DecryptTo(
        tenant, kTokenSubject, {tenant, kTokenCollection, token, kTokenField}, *stored, buffer);
    if (!opened) {
      if (opened.error().code() == ErrorCode::kDataLoss) {
        internal::LogRejectedCiphertext(tenant, kTokenCollection, "token", kTokenField);
      }
      wipe();
      return std::unexpected(opened.error());
    }
    boost::system::error_code ec;
    json::value value = json::parse(
        std::string_view(reinterpret_cast<const char*>(buffer.data()), buffer.size()), ec);
    wipe();
    if (ec) return Fail(ErrorCode::kDataLoss, "a stored token value is not JSON");
    values.push_back(std::move(value));
  }
  json::object answer;
  answer["values"] = std::move(values);
  return answer;
}

Result<std::string> TokenVault::TokenizeValue(std::string_view tenant, const json::value& value) {
  auto keys = KeysOf(seal_);
  if (!keys) return std::unexpected(keys.error());
  barrier::DataBarrier& barrier = *(*keys)->barrier;
  std::string plaintext = json::serialize(value);
  auto token = barrier.DeterministicToken(tenant, plaintext);
  if (!token) {
    Wipe(plaintext);
    return std::unexpected(token.error());
  }
  auto stored = store_.Get(kTokensSpace, Join({tenant, *token}));
  if (!stored || *stored) {
    Wipe(plaintext);
    if (!stored) return std::unexpected(stored.error());
    return token;
  }
  std::vector<std::uint8_t> ciphertext;
  const barrier::EncryptItem item{
      {tenant, kTokenCollection, *token, kTokenField}, AsBytes(plaintext), &ciphertext};
  auto encrypted = barrier.Encrypt(tenant, kTokenSubject, std::span(&item, 1));
  Wipe(plaintext);
  if (!encrypted) return std::unexpected(encrypted.error());
  storage::WriteBatch batch;
  batch.Put(kTokensSpace, Join({tenant, *token}), std::move(ciphertext));
  if (auto written = store_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return token;
}

}  // namespace strongroom::records
