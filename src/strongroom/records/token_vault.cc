#include "strongroom/records/token_vault.h"

#include <string.h>  // explicit_bzero

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <limits>
#include <vector>

#include "strongroom/barrier/data_barrier.h"
#include "strongroom/base/blocking.h"
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
// and dashes, is longer than kMaxFormatPreservingText, or has too few or too many digits.
std::optional<std::string> FormatPreservingDigits(std::string_view value) {
  if (value.size() > kMaxFormatPreservingText) return std::nullopt;
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

// explicit_bzero: a wipe the optimiser may not remove. The whole capacity, not the size: a
// moved-from short string keeps its bytes in its inline buffer with a size of 0.
void Wipe(std::string& text) { explicit_bzero(text.data(), text.capacity()); }

// FF1 of the value's digits, tweaked by the value's layout ("0000 000 0000"), so that the
// same digits laid out differently give unrelated tokens. "Cycle walked" (Black and Rogaway,
// "Ciphers with Arbitrary Finite Domains", 2002): while the result would read as a payment
// card number, encrypt it again. The value itself is no card number (refused before), so this
// stays a permutation of the values that are not, and no token is ever refused as card data
// where it is stored. About one FF1 in ten of 16 digits reads as one; 64 tries failing is not a
// real outcome.
Result<std::string> FormatPreservingToken(barrier::DataBarrier& barrier, std::string_view tenant,
                                          std::string_view value) {
  std::string digits = *FormatPreservingDigits(value);
  const std::string layout = WithDigits(value, std::string(digits.size(), '0'));
  for (int attempt = 0; attempt < 64; ++attempt) {
    auto encrypted = barrier.FormatPreservingToken(tenant, digits, layout);
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

// What is encrypted for a token: {"v": value}, and for a token of a record field its origin
// {"c": collection, "f": field}, which detokenizing checks against the caller's views.
std::string Envelope(const json::value& value, std::string_view collection = {},
                     std::string_view field = {}) {
  json::object o{{"v", value}};
  if (!collection.empty()) {
    o["c"] = collection;
    o["f"] = field;
  }
  return json::serialize(o);
}

// A token to keep: its envelope (wiped, whatever happens) and its ciphertext.
struct Pending {
  Pending() = default;
  Pending(Pending&&) = default;
  Pending& operator=(Pending&&) = default;
  ~Pending() { Wipe(plaintext); }
  std::string token;
  std::string plaintext;
  std::vector<std::uint8_t> ciphertext;
};

// Adds to `batch` what `holder` (a subject, or kTenantHolder) needs to hold `token`, unless it
// holds it already: the holder entry, and for a subject its link. A token `stored` before links
// existed has no holder at all: whose it was cannot be told, so the tenant keeps it too (no
// erasure deletes it). Called under the token's link lock.
Result<void> LinkFor(storage::Store& store, std::string_view tenant, std::string_view token,
                     std::string_view holder, bool stored, storage::WriteBatch& batch) {
  const std::string holders = Join({tenant, token}) + "/";
  auto held = store.Get(kTokenHolders, holders + std::string(holder));
  if (!held) return std::unexpected(held.error());
  if (held->has_value()) return {};
  if (stored && holder != kTenantHolder) {
    bool any = false;
    auto scanned = internal::ScanPrefix(store, kTokenHolders, holders, "", 1,
                                        [&](std::string_view, const storage::Bytes&) {
                                          any = true;
                                          return false;
                                        });
    if (!scanned) return std::unexpected(scanned.error());
    if (!any) batch.Put(kTokenHolders, holders + std::string(kTenantHolder), {});
  }
  batch.Put(kTokenHolders, holders + std::string(holder), {});
  if (holder != kTenantHolder) batch.Put(kTokenLinks, Join({tenant, holder, token}), {});
  return {};
}

// Encrypts every pending token's envelope and writes them in one durable batch, with whatever
// `batch` holds already (links).
Result<void> Keep(storage::Store& store, barrier::DataBarrier& barrier, std::string_view tenant,
                  std::vector<Pending>& pending, storage::WriteBatch batch = {}) {
  if (pending.empty()) return store.Write(std::move(batch));  // nothing, or links alone
  std::vector<barrier::EncryptItem> items;
  items.reserve(pending.size());
  for (auto& p : pending) {
    items.push_back(
        {{tenant, kTokenCollection, p.token, kTokenField}, AsBytes(p.plaintext), &p.ciphertext});
  }
  if (auto encrypted = barrier.Encrypt(tenant, kTokenSubject, items); !encrypted) {
    return encrypted;
  }
  for (auto& p : pending) {
    batch.Put(kTokensSpace, Join({tenant, p.token}), std::move(p.ciphertext));
  }
  return store.Write(std::move(batch));
}

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

Result<json::object> TokenVault::Tokenize(std::string_view tenant, const json::value& body,
                                          const SubjectExists& exists) {
  auto o = internal::BodyObject(body);
  if (!o) return std::unexpected(o.error());
  for (const auto& member : **o) {
    if (member.key() != "kind" && member.key() != "values" && member.key() != "subject_id") {
      return FailAt(JsonPathKey("$", member.key()), "unknown_field",
                    "is not a member of a tokenize request (kind, values, subject_id)");
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
  std::string_view subject;
  bool has_subject = false;
  if (const auto* named = (*o)->if_contains("subject_id"); named != nullptr) {
    if (!named->is_string()) return FailAt("$.subject_id", "type", "must be a subject id");
    subject = named->get_string();
    has_subject = true;
    if (*kind == TokenKind::kOneWay) {
      return FailAt("$.subject_id", "not_stored",
                    "one-way tokens are never stored: there is nothing to link to a subject");
    }
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
                        " digits, with spaces or dashes between them (" +
                        std::to_string(kMaxFormatPreservingText) + " characters at most)");
    }
  }
  auto keys = KeysOf(seal_);
  if (!keys) return std::unexpected(keys.error());
  barrier::DataBarrier& barrier = *(*keys)->barrier;

  json::array tokens;
  std::vector<Pending> pending;
  pending.reserve(list.size());  // EncryptItems point into these strings: no reallocation
  for (const auto& value : list) {
    const std::string_view text = value.get_string();
    Pending item;
    item.plaintext = Envelope(value);
    switch (*kind) {
      case TokenKind::kRandom: {
        auto id = internal::NewId("tkr_");
        if (!id) return std::unexpected(id.error());
        item.token = std::move(*id);
        break;
      }
      case TokenKind::kDeterministic: {
        // "\0" first: no collection name (the input of a field's token) starts so.
        std::string input = '\0' + json::serialize(value);
        auto token = barrier.DeterministicToken(tenant, input);
        Wipe(input);
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
        auto token = barrier.OneWayToken(tenant, text);
        if (!token) return std::unexpected(token.error());
        tokens.emplace_back(*token);
        continue;  // nothing to keep: it cannot be reversed
      }
    }
    tokens.emplace_back(item.token);
    // Equal values make equal deterministic and format-preserving tokens: kept once.
    if (*kind != TokenKind::kRandom) {
      const bool seen = std::any_of(pending.begin(), pending.end(),
                                    [&](const Pending& p) { return p.token == item.token; });
      if (seen) continue;
    }
    pending.push_back(std::move(item));
  }
  // Who holds the tokens (token_vault.h): the subject named, else the tenant for tokens another
  // request may link to a subject later (deterministic, format-preserving); a random token made
  // without a subject is never linked, and needs no holder.
  const std::string_view holder =
      has_subject ? subject : (*kind == TokenKind::kRandom ? std::string_view() : kTenantHolder);
  barrier::SubjectGate::WriteGuard guard;  // held until the batch is durable
  if (has_subject) {
    // Entered before the subject is looked up: an erasure either waits for this write (and
    // finds its links) or has marked the subject erased before the lookup (not_found).
    seal_.gate().Enter(guard, tenant, subject);
    auto found = internal::IsId(subject, "sub_") && !seal_.gate().IsErased(tenant, subject)
                     ? exists(subject)
                     : Result<bool>(false);
    if (!found) return std::unexpected(found.error());
    if (!*found) {
      Error missing(ErrorCode::kNotFound, "no such subject");
      missing.At("$.subject_id", "unknown_subject");
      return std::unexpected(missing);
    }
  }
  storage::WriteBatch links;
  // Taken before anything is looked up, held until the batch is durable: an erasure deleting
  // one of these tokens is either seen here or comes after (subject_erasure.cc).
  const auto locks = [&] {
    std::vector<std::string_view> distinct;  // pending's tokens are distinct already
    distinct.reserve(pending.size());
    for (const auto& p : pending) distinct.push_back(p.token);
    return LockTokenLinks(tenant, distinct);
  }();
  std::vector<Pending> to_store;
  to_store.reserve(pending.size());  // EncryptItems point into these strings: no reallocation
  for (auto& p : pending) {
    bool stored = false;
    if (*kind != TokenKind::kRandom) {  // a random token is new
      auto found = store_.Get(kTokensSpace, Join({tenant, p.token}));
      if (!found) return std::unexpected(found.error());
      stored = found->has_value();
    }
    if (!holder.empty()) {
      auto linked = LinkFor(store_, tenant, p.token, holder, stored, links);
      if (!linked) return std::unexpected(linked.error());
    }
    if (!stored) to_store.push_back(std::move(p));
  }
  if (auto kept = Keep(store_, barrier, tenant, to_store, std::move(links)); !kept) {
    return std::unexpected(kept.error());
  }
  json::object answer;
  answer["kind"] = TokenKindName(*kind);
  answer["tokens"] = std::move(tokens);
  if (has_subject) answer["subject_id"] = subject;  // the audit entry names it (pseudonym)
  return answer;
}

Result<json::object> TokenVault::Detokenize(std::string_view tenant, const json::value& body,
                                            const FieldReadable& readable,
                                            const SubjectReadable& subject_readable) {
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
    if (internal::IsId(list[i].get_string(), "tkh_")) {
      return FailAt(JsonPathIndex("$.tokens", i), "not_reversible",
                    "is a one-way token: nothing can turn it back");
    }
  }
  auto keys = KeysOf(seal_);
  if (!keys) return std::unexpected(keys.error());
  barrier::DataBarrier& barrier = *(*keys)->barrier;

  json::array values;
  std::vector<std::uint8_t> buffer;
  const auto wipe = [&buffer] { explicit_bzero(buffer.data(), buffer.size()); };
  HolderDecisions decided;  // each subject asked once per call, however many tokens it holds
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string_view token = list[i].get_string();
    const std::string path = JsonPathIndex("$.tokens", i);
    const bool shaped = internal::IsId(token, "tkr_") || internal::IsId(token, "tkd_") ||
                        FormatPreservingDigits(token).has_value();
    std::optional<storage::Bytes> stored;
    if (shaped) {
      auto found = store_.Get(kTokensSpace, Join({tenant, token}));
      if (!found) return std::unexpected(found.error());
      stored = std::move(*found);
    }
    // Never issued, issued to another tenant, or not a token at all: the same answer, which
    // does not echo the token (it may be a value pasted by mistake).
    const auto unknown = [&path] {
      Error missing(ErrorCode::kNotFound, "no such token in this tenant");
      missing.At(path, "unknown_token");
      return std::unexpected(missing);
    };
    if (!stored) return unknown();
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
    json::value envelope = json::parse(
        std::string_view(reinterpret_cast<const char*>(buffer.data()), buffer.size()), ec);
    wipe();
    const json::object* e = !ec && envelope.is_object() ? &envelope.get_object() : nullptr;
    const json::value* value = e != nullptr ? e->if_contains("v") : nullptr;
    if (value == nullptr) return Fail(ErrorCode::kDataLoss, "a stored token value is malformed");
    // A token of a record field gives back no more than reading that field would.
    if (const auto* c = e->if_contains("c"); c != nullptr) {
      const auto* f = e->if_contains("f");
      if (!c->is_string() || f == nullptr || !f->is_string()) {
        return Fail(ErrorCode::kDataLoss, "a stored token value is malformed");
      }
      auto allowed = readable(c->get_string(), f->get_string());
      if (!allowed) return std::unexpected(allowed.error());
      if (!*allowed) {
        Error denied(ErrorCode::kPermissionDenied,
                     "this token comes from a record field you may not read plain");
        denied.At(path, "field_not_readable");
        return std::unexpected(denied);
      }
    }
    // After the field's own check, so that the subjects' choices are told only to a caller who
    // may read the field.
    auto weighed = WeighHolders(tenant, token, path, subject_readable, decided);
    if (!weighed) {
      if (weighed.error().code() == ErrorCode::kNotFound) return unknown();
      return std::unexpected(weighed.error());
    }
    values.push_back(*value);
  }
  json::object answer;
  answer["values"] = std::move(values);
  return answer;
}

Result<void> TokenVault::WeighHolders(std::string_view tenant, std::string_view token,
                                      const std::string& path,
                                      const SubjectReadable& subject_readable,
                                      HolderDecisions& decided) {
  std::size_t holders = 0, present = 0;
  bool tenant_holds = false;
  std::optional<Error> refusal;
  Result<void> failure;
  auto scanned = internal::ScanPrefix(
      store_, kTokenHolders, Join({tenant, token}) + "/", "",
      std::numeric_limits<std::size_t>::max(), [&](std::string_view holder, const storage::Bytes&) {
        ++holders;
        if (holder == kTenantHolder) {
          tenant_holds = true;
          return true;
        }
        // Being erased or in its grace period: already as gone as its erasure will make it.
        if (seal_.gate().IsErased(tenant, holder)) return true;
        auto it = decided.find(holder);
        if (it == decided.end()) {
          it = decided.emplace(std::string(holder), subject_readable(holder)).first;
        }
        const Result<void>& decision = it->second;
        if (decision) {
          ++present;
          return true;
        }
        switch (decision.error().code()) {
          case ErrorCode::kNotFound:  // a link left by a subject that is gone
            return true;
          case ErrorCode::kPermissionDenied:
            ++present;
            if (!refusal) refusal = decision.error();
            return true;
          default:
            failure = std::unexpected(decision.error());
            return false;
        }
      });
  if (!scanned) return std::unexpected(scanned.error());
  if (!failure) return failure;
  // Linked only to subjects that are gone or going: as after their erasure, no such token.
  if (holders > 0 && present == 0 && !tenant_holds) {
    return Fail(ErrorCode::kNotFound, "no such token in this tenant");
  }
  if (!refusal) return {};
  // The subject's own rule only where the token is that subject's alone: a token the tenant or
  // another subject holds too would otherwise tell its other holders (or whoever tokenizes a
  // guessed value) what that subject chose.
  if (holders == 1) {
    Error refused = *refusal;
    refused.At(path, refused.rule());
    return std::unexpected(refused);
  }
  Error refused(ErrorCode::kPermissionDenied,
                "a data subject this value belongs to does not allow this purpose");
  refused.At(path, "subject_choices");
  return std::unexpected(refused);
}

Result<std::string> TokenVault::TokenizeField(std::string_view tenant, std::string_view collection,
                                              std::string_view field, const json::value& value,
                                              std::string_view subject) {
  auto keys = KeysOf(seal_);
  if (!keys) return std::unexpected(keys.error());
  barrier::DataBarrier& barrier = *(*keys)->barrier;
  std::string input =
      std::string(collection) + '\0' + std::string(field) + '\0' + json::serialize(value);
  auto token = barrier.DeterministicToken(tenant, input);
  Wipe(input);
  if (!token) return std::unexpected(token.error());
  // Held by the record's subject, or by the tenant for a record without one.
  const std::string_view holder = subject.empty() ? kTenantHolder : subject;
  const std::string key = Join({tenant, *token});
  const std::string held_key = Join({tenant, *token, holder});
  auto stored = store_.Get(kTokensSpace, key);
  if (!stored) return std::unexpected(stored.error());
  auto held = store_.Get(kTokenHolders, held_key);
  if (!held) return std::unexpected(held.error());
  if (*stored && *held) return token;  // the common case: nothing to write
  // The guard below may wait for an erasure: not on an I/O thread.
  if (!MayBlock()) return std::unexpected(WouldBlock("storing a token"));
  barrier::SubjectGate::WriteGuard guard;  // held until the batch is durable
  if (!subject.empty()) {
    seal_.gate().Enter(guard, tenant, subject);
    // Its record was read before the guard, and an erasure since may have purged already: the
    // read shows the token, as it began first, but nothing is kept for an erased subject.
    if (seal_.gate().IsErased(tenant, subject)) return token;
  }
  const std::string_view one[] = {*token};
  const auto locks = LockTokenLinks(tenant, one);
  // Again under the lock: an erasure may have deleted the token since the first look.
  stored = store_.Get(kTokensSpace, key);
  if (!stored) return std::unexpected(stored.error());
  storage::WriteBatch links;
  if (auto linked = LinkFor(store_, tenant, *token, holder, stored->has_value(), links); !linked) {
    return std::unexpected(linked.error());
  }
  std::vector<Pending> pending;
  if (!*stored) {
    pending.resize(1);
    pending[0].token = *token;
    pending[0].plaintext = Envelope(value, collection, field);
  }
  if (auto kept = Keep(store_, barrier, tenant, pending, std::move(links)); !kept) {
    return std::unexpected(kept.error());
  }
  return token;
}

std::vector<std::unique_lock<std::mutex>> LockTokenLinks(std::string_view tenant,
                                                         std::span<const std::string_view> tokens) {
  // Process-wide and striped: linking and an erasure's delete of one token must not interleave
  // (token_vault.h); 64 stripes keep unrelated tokens mostly apart.
  static std::array<std::mutex, 64> stripes;
  std::vector<std::size_t> which;
  for (const std::string_view token : tokens) {
    which.push_back(
        (std::hash<std::string_view>{}(tenant)*31 + std::hash<std::string_view>{}(token)) %
        stripes.size());
  }
  std::sort(which.begin(), which.end());  // one order for every caller: no deadlock
  which.erase(std::unique(which.begin(), which.end()), which.end());
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(which.size());
  for (const std::size_t i : which) locks.emplace_back(stripes[i]);
  return locks;
}

}  // namespace strongroom::records
