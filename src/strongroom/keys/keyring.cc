#include "strongroom/keys/keyring.h"

#include <chrono>
#include <cstdio>

#include "strongroom/base/blocking.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/crypto/random.h"

namespace strongroom::keys {
namespace {

constexpr std::uint8_t kWrapFormatV1 = 0x01;
constexpr std::size_t kKeySize = 32;
constexpr std::size_t kNonce = crypto::Aes256Gcm::kNonceSize;
constexpr std::size_t kTag = crypto::Aes256Gcm::kTagSize;
constexpr std::size_t kWrappedSize = 1 + kNonce + kKeySize + kTag;  // 61
constexpr std::size_t kReservationSize = 8;
// A DEK entry: reservation | wrapped key (v1, wrapped under the KEK of the DEK's own version),
// or reservation | KEK version (4 bytes) | wrapped key (v2, what is written now). docs/keys.md.
constexpr std::size_t kDekEntryV1Size = kReservationSize + kWrappedSize;      // 69
constexpr std::size_t kDekEntryV2Size = kReservationSize + 4 + kWrappedSize;  // 73

void AppendPart(std::vector<std::uint8_t>& out, std::string_view part) {
  const auto n = static_cast<std::uint32_t>(part.size());
  out.insert(out.end(), {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                         static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
  out.insert(out.end(), part.begin(), part.end());
}

void AppendU64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

std::uint64_t ReadU64(std::span<const std::uint8_t> in) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | in[i];
  return v;
}

std::string Version10(std::uint32_t version) {
  char text[11];
  (void)std::snprintf(text, sizeof text, "%010u", version);
  return text;
}

// Associated data: a label naming the kind of key, then each identifying part length-prefixed.
std::vector<std::uint8_t> KekAad(std::string_view tenant, std::uint32_t version) {
  std::vector<std::uint8_t> aad;
  AppendPart(aad, "strongroom/kek/v1");
  AppendPart(aad, tenant);
  AppendPart(aad, Version10(version));
  return aad;
}

std::vector<std::uint8_t> IndexKeyAad(std::string_view tenant) {
  std::vector<std::uint8_t> aad;
  AppendPart(aad, "strongroom/index-key/v1");
  AppendPart(aad, tenant);
  return aad;
}

std::vector<std::uint8_t> SystemKeyAad(std::string_view name) {
  std::vector<std::uint8_t> aad;
  AppendPart(aad, "strongroom/system-key/v1");
  AppendPart(aad, name);
  return aad;
}

std::vector<std::uint8_t> DekAadV1(std::string_view tenant, std::string_view subject,
                                   std::uint32_t version, std::uint64_t reserved) {
  std::vector<std::uint8_t> aad;
  AppendPart(aad, "strongroom/dek/v1");
  AppendPart(aad, tenant);
  AppendPart(aad, subject);
  AppendPart(aad, Version10(version));
  AppendU64(aad, reserved);
  return aad;
}

// v2 also names the wrapping KEK, so an entry cannot be passed off as wrapped by another one.
std::vector<std::uint8_t> DekAadV2(std::string_view tenant, std::string_view subject,
                                   std::uint32_t version, std::uint32_t kek_version,
                                   std::uint64_t reserved) {
  std::vector<std::uint8_t> aad;
  AppendPart(aad, "strongroom/dek/v2");
  AppendPart(aad, tenant);
  AppendPart(aad, subject);
  AppendPart(aad, Version10(version));
  AppendPart(aad, Version10(kek_version));
  AppendU64(aad, reserved);
  return aad;
}

// A stored DEK entry, taken apart (views into the entry).
struct DekEntryParts {
  std::uint64_t reserved = 0;
  std::uint32_t kek_version = 0;
  std::span<const std::uint8_t> wrapped;
  bool v2 = false;
};

Result<DekEntryParts> ParseDekEntry(std::span<const std::uint8_t> entry, std::uint32_t version) {
  DekEntryParts parts;
  if (entry.size() == kDekEntryV1Size) {
    parts.reserved = ReadU64(entry);
    parts.kek_version = version;
    parts.wrapped = entry.subspan(kReservationSize);
    return parts;
  }
  if (entry.size() == kDekEntryV2Size) {
    parts.reserved = ReadU64(entry);
    const auto* k = entry.data() + kReservationSize;
    parts.kek_version = (std::uint32_t{k[0]} << 24) | (std::uint32_t{k[1]} << 16) |
                        (std::uint32_t{k[2]} << 8) | std::uint32_t{k[3]};
    parts.wrapped = entry.subspan(kReservationSize + 4);
    parts.v2 = true;
    return parts;
  }
  return Fail(ErrorCode::kDataLoss, "subject key entry has the wrong size");
}

std::vector<std::uint8_t> DekAadOf(std::string_view tenant, std::string_view subject,
                                   std::uint32_t version, const DekEntryParts& parts) {
  return parts.v2 ? DekAadV2(tenant, subject, version, parts.kek_version, parts.reserved)
                  : DekAadV1(tenant, subject, version, parts.reserved);
}

// "dek/<tenant>/<subject>/": every DEK entry of the subject, and no other subject's (subject ids
// have no '/').
std::string SubjectDekPrefix(std::string_view tenant, std::string_view subject) {
  return "dek/" + std::string(tenant) + "/" + std::string(subject) + "/";
}

// "dek/<tenant>/<subject>/<version:10>" -> subject and version; nullopt for anything else.
std::optional<std::pair<std::string, std::uint32_t>> SplitDekEntry(std::string_view entry,
                                                                   std::size_t prefix_size) {
  if (entry.size() < prefix_size + 12) return std::nullopt;
  const std::string_view rest = entry.substr(prefix_size);
  const std::size_t slash = rest.size() - 11;
  if (rest[slash] != '/') return std::nullopt;
  std::uint32_t version = 0;
  for (const char c : rest.substr(slash + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    version = version * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return std::pair{std::string(rest.substr(0, slash)), version};
}

Result<std::vector<std::uint8_t>> Wrap(crypto::Aes256Gcm& wrapping_key,
                                       std::span<const std::uint8_t> key,
                                       std::span<const std::uint8_t> aad) {
  std::vector<std::uint8_t> out(1 + kNonce + key.size() + kTag);
  out[0] = kWrapFormatV1;
  auto nonce = std::span(out).subspan<1, kNonce>();
  if (auto drawn = crypto::NextNonce(nonce); !drawn) return std::unexpected(drawn.error());
  if (auto sealed = wrapping_key.Seal(nonce, aad, key, std::span(out).subspan(1 + kNonce));
      !sealed) {
    return std::unexpected(sealed.error());
  }
  return out;
}

Result<SecretBytes> Unwrap(crypto::Aes256Gcm& wrapping_key, std::span<const std::uint8_t> wrapped,
                           std::span<const std::uint8_t> aad) {
  if (wrapped.size() != kWrappedSize || wrapped[0] != kWrapFormatV1) {
    return Fail(ErrorCode::kDataLoss, "wrapped key has the wrong size or format");
  }
  SecretBytes key(kKeySize);
  auto nonce = wrapped.subspan<1, kNonce>();
  if (auto opened = wrapping_key.Open(nonce, aad, wrapped.subspan(1 + kNonce), key.mutable_bytes());
      !opened) {
    return Fail(ErrorCode::kDataLoss, "wrapped key failed authentication");
  }
  return key;
}

}  // namespace

std::string Keyring::KekEntry(std::string_view tenant, std::uint32_t version) {
  return "kek/" + std::string(tenant) + "/" + Version10(version);
}

std::string Keyring::DekEntry(std::string_view tenant, std::string_view subject,
                              std::uint32_t version) {
  return SubjectDekPrefix(tenant, subject) + Version10(version);
}

Keyring::Keyring(SecretBytes root_key, crypto::Aes256Gcm root, storage::Store& metadata)
    : root_key_(std::move(root_key)), root_(std::move(root)), metadata_(metadata) {}

Keyring::~Keyring() = default;

Result<std::unique_ptr<Keyring>> Keyring::Create(SecretBytes root_key, storage::Store& metadata) {
  // The AES key schedule lives in OpenSSL's context (cleansed when freed); root_key's own pages
  // are locked and zeroed when the keyring goes.
  auto root = crypto::Aes256Gcm::Create(root_key.reveal());
  if (!root) return std::unexpected(root.error());
  return std::unique_ptr<Keyring>(new Keyring(std::move(root_key), std::move(*root), metadata));
}

Result<Keyring::TenantKeks*> Keyring::TenantLocked(std::string_view tenant) {
  if (auto it = tenants_.find(tenant); it != tenants_.end()) return &it->second;
  // Versions are zero-padded, so the last entry under the tenant's prefix is the current one.
  const std::string prefix = "kek/" + std::string(tenant) + "/";
  std::uint32_t current = 0;
  std::string after = prefix;
  for (;;) {
    auto entries = metadata_.Scan(kKeysSpace, after, 64);
    if (!entries) return std::unexpected(entries.error());
    bool done = entries->size() < 64;
    for (const auto& entry : *entries) {
      if (!entry.key.starts_with(prefix)) {
        done = true;
        break;
      }
      current = static_cast<std::uint32_t>(std::stoul(entry.key.substr(prefix.size())));
      after = entry.key;
    }
    if (done) break;
  }
  if (current == 0) return Fail(ErrorCode::kNotFound, "tenant has no keys");
  auto [it, inserted] = tenants_.emplace(std::string(tenant), TenantKeks{current, {}});
  return &it->second;
}

Result<crypto::Aes256Gcm*> Keyring::KekLocked(std::string_view tenant, std::uint32_t version) {
  auto keks = TenantLocked(tenant);
  if (!keks) return std::unexpected(keks.error());
  if (auto it = (*keks)->keks.find(version); it != (*keks)->keks.end()) return &it->second;
  auto wrapped = metadata_.Get(kKeysSpace, KekEntry(tenant, version));
  if (!wrapped) return std::unexpected(wrapped.error());
  if (!*wrapped) {
    return Fail(ErrorCode::kDataLoss, "KEK version " + std::to_string(version) + " is missing");
  }
  auto key = Unwrap(root_, **wrapped, KekAad(tenant, version));
  if (!key) return std::unexpected(key.error());
  auto aead = crypto::Aes256Gcm::Create(key->reveal());
  if (!aead) return std::unexpected(aead.error());
  auto [it, inserted] = (*keks)->keks.emplace(version, std::move(*aead));
  return &it->second;
}

Result<void> Keyring::AddTenantKeys(std::string_view tenant, storage::WriteBatch& batch) {
  std::lock_guard lock(mu_);
  auto existing = metadata_.Get(kKeysSpace, KekEntry(tenant, 1));
  if (!existing) return std::unexpected(existing.error());
  if (*existing) return Fail(ErrorCode::kAlreadyExists, "tenant already has keys");
  auto kek = crypto::RandomSecret(kKeySize);
  if (!kek) return std::unexpected(kek.error());
  auto wrapped_kek = Wrap(root_, kek->reveal(), KekAad(tenant, 1));
  if (!wrapped_kek) return std::unexpected(wrapped_kek.error());
  auto index_key = crypto::RandomSecret(kKeySize);
  if (!index_key) return std::unexpected(index_key.error());
  auto wrapped_index = Wrap(root_, index_key->reveal(), IndexKeyAad(tenant));
  if (!wrapped_index) return std::unexpected(wrapped_index.error());
  batch.Put(kKeysSpace, KekEntry(tenant, 1), std::move(*wrapped_kek));
  batch.Put(kKeysSpace, "idx/" + std::string(tenant), std::move(*wrapped_index));
  // Recorded with the key, so that the rotation's age check has nothing to write later (a
  // write of its own after the server starts would be a change for backups to capture).
  const std::string born = FormatRfc3339(std::chrono::system_clock::now());
  batch.Put(kKekAgesSpace, tenant, storage::Bytes(born.begin(), born.end()));
  // Not cached yet: the batch may still fail. TenantLocked() finds v1 once it is durable.
  return {};
}

Result<std::uint32_t> Keyring::RotateKek(
    std::string_view tenant,
    const std::function<void(std::uint32_t version, storage::WriteBatch&)>& also) {
  // dek_write_mu_ first: a DEK wrapped under the old current version lands before the new one
  // becomes current (a re-wrap listing from then on sees it), and none is wrapped under the old
  // one after.
  std::lock_guard write_lock(dek_write_mu_);
  std::lock_guard lock(mu_);
  auto keks = TenantLocked(tenant);
  if (!keks) return std::unexpected(keks.error());
  const std::uint32_t next = (*keks)->current + 1;
  auto kek = crypto::RandomSecret(kKeySize);
  if (!kek) return std::unexpected(kek.error());
  auto wrapped = Wrap(root_, kek->reveal(), KekAad(tenant, next));
  if (!wrapped) return std::unexpected(wrapped.error());
  storage::WriteBatch batch;
  batch.Put(kKeysSpace, KekEntry(tenant, next), std::move(*wrapped));
  if (also) also(next, batch);
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  (*keks)->current = next;
  return next;
}

Result<std::uint32_t> Keyring::CurrentKekVersion(std::string_view tenant) {
  std::lock_guard lock(mu_);
  auto keks = TenantLocked(tenant);
  if (!keks) return std::unexpected(keks.error());
  return (*keks)->current;
}

Result<std::vector<std::uint8_t>> Keyring::WrapDekLocked(std::string_view tenant,
                                                         std::string_view subject,
                                                         const DataKey& key) {
  auto keks = TenantLocked(tenant);
  if (!keks) return std::unexpected(keks.error());
  const std::uint32_t kek_version = (*keks)->current;
  auto kek = KekLocked(tenant, kek_version);
  if (!kek) return std::unexpected(kek.error());
  auto wrapped = Wrap(**kek, key.key.reveal(),
                      DekAadV2(tenant, subject, key.version, kek_version, key.reserved));
  if (!wrapped) return std::unexpected(wrapped.error());
  std::vector<std::uint8_t> entry;
  entry.reserve(kDekEntryV2Size);
  AppendU64(entry, key.reserved);
  entry.insert(
      entry.end(),
      {static_cast<std::uint8_t>(kek_version >> 24), static_cast<std::uint8_t>(kek_version >> 16),
       static_cast<std::uint8_t>(kek_version >> 8), static_cast<std::uint8_t>(kek_version)});
  entry.insert(entry.end(), wrapped->begin(), wrapped->end());
  return entry;
}

Result<DataKey> Keyring::CreateSubjectKey(std::string_view tenant, std::string_view subject,
                                          std::uint64_t reserve, storage::WriteBatch batch,
                                          std::optional<std::uint32_t> version) {
  auto write_lock = LockOrWouldBlock(dek_write_mu_);
  if (!write_lock) return std::unexpected(write_lock.error());
  DataKey key;
  {
    std::lock_guard lock(mu_);
    auto keks = TenantLocked(tenant);
    if (!keks) return std::unexpected(keks.error());
    const std::uint32_t made_as = version.value_or((*keks)->current);
    if (made_as == 0 || made_as > (*keks)->current) {
      return Fail(ErrorCode::kInvalidArgument, "no KEK version " + std::to_string(made_as));
    }
    // Never over a stored key: the values it sealed would be lost with it.
    auto existing = metadata_.Get(kKeysSpace, DekEntry(tenant, subject, made_as));
    if (!existing) return std::unexpected(existing.error());
    if (*existing) return Fail(ErrorCode::kAlreadyExists, "the subject key exists already");
    // Nor below the subject's oldest key, which would change what is derived from it (its
    // pseudonym): only a caller that read the current version before a rotation and a seal
    // could ask for that. Rare (a key made after a rotation), so the scan costs little.
    if (version) {
      const std::string prefix = SubjectDekPrefix(tenant, subject);
      auto first = metadata_.Scan(kKeysSpace, prefix, 1);
      if (!first) return std::unexpected(first.error());
      // Versions are zero-padded: entry names order as their versions do.
      if (!first->empty() && first->front().key.starts_with(prefix) &&
          first->front().key > DekEntry(tenant, subject, made_as)) {
        return Fail(ErrorCode::kUnavailable, "the tenant's keys changed meanwhile; try again");
      }
    }
    auto secret = crypto::RandomSecret(kKeySize);
    if (!secret) return std::unexpected(secret.error());
    key = DataKey{std::move(*secret), made_as, reserve};
    auto entry = WrapDekLocked(tenant, subject, key);
    if (!entry) return std::unexpected(entry.error());
    batch.Put(kKeysSpace, DekEntry(tenant, subject, key.version), std::move(*entry));
  }
  // Written under dek_write_mu_: a retirement's check cannot run between the wrap under the
  // then-current KEK and the entry's landing.
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return key;
}

Result<std::optional<DataKey>> Keyring::LoadSubjectKey(std::string_view tenant,
                                                       std::string_view subject,
                                                       std::uint32_t version) {
  // Twice at most: between reading the entry and looking up its KEK, a re-wrap may move it and a
  // retirement delete that KEK; the entry read again names the current one.
  for (int attempt = 0;; ++attempt) {
    auto entry = metadata_.Get(kKeysSpace, DekEntry(tenant, subject, version));
    if (!entry) return std::unexpected(entry.error());
    if (!*entry) return std::optional<DataKey>();
    auto parts = ParseDekEntry(**entry, version);
    if (!parts) return std::unexpected(parts.error());
    // KekLocked may read the store under this lock: only tried on I/O threads (base/blocking.h).
    auto lock = LockOrWouldBlock(mu_);
    if (!lock) return std::unexpected(lock.error());
    auto kek = KekLocked(tenant, parts->kek_version);
    if (!kek) {
      if (attempt == 0) continue;
      return std::unexpected(kek.error());
    }
    auto key = Unwrap(**kek, parts->wrapped, DekAadOf(tenant, subject, version, *parts));
    if (!key) return std::unexpected(key.error());
    return std::optional<DataKey>(DataKey{std::move(*key), version, parts->reserved});
  }
}

Result<std::optional<DataKey>> Keyring::LoadOldestSubjectKey(std::string_view tenant,
                                                             std::string_view subject) {
  // Versions are zero-padded, so the first entry under the subject's prefix is its oldest key.
  const std::string prefix = SubjectDekPrefix(tenant, subject);
  auto first = metadata_.Scan(kKeysSpace, prefix, 1);
  if (!first) return std::unexpected(first.error());
  if (first->empty() || !first->front().key.starts_with(prefix)) return std::optional<DataKey>();
  const storage::Entry& entry = first->front();
  auto split = SplitDekEntry(entry.key, prefix.size() - subject.size() - 1);
  if (!split || split->first != subject) {
    return Fail(ErrorCode::kDataLoss, "a subject key entry has a damaged name");
  }
  const std::uint32_t version = split->second;
  // Unwrapped from the scan's own copy (one store read, not two); only if its KEK is gone (a
  // re-wrap moved the entry and a retirement deleted that KEK since the scan) is it read again.
  auto parts = ParseDekEntry(entry.value, version);
  if (!parts) return std::unexpected(parts.error());
  {
    auto lock = LockOrWouldBlock(mu_);
    if (!lock) return std::unexpected(lock.error());
    if (auto kek = KekLocked(tenant, parts->kek_version); kek) {
      auto key = Unwrap(**kek, parts->wrapped, DekAadOf(tenant, subject, version, *parts));
      if (!key) return std::unexpected(key.error());
      return std::optional<DataKey>(DataKey{std::move(*key), version, parts->reserved});
    }
  }
  return LoadSubjectKey(tenant, subject, version);
}

Result<void> Keyring::SaveReservation(std::string_view tenant, std::string_view subject,
                                      const DataKey& key) {
  auto write_lock = LockOrWouldBlock(dek_write_mu_);
  if (!write_lock) return std::unexpected(write_lock.error());
  std::vector<std::uint8_t> entry;
  {
    std::lock_guard lock(mu_);
    auto wrapped = WrapDekLocked(tenant, subject, key);
    if (!wrapped) return std::unexpected(wrapped.error());
    entry = std::move(*wrapped);
  }
  storage::WriteBatch batch;
  batch.Put(kKeysSpace, DekEntry(tenant, subject, key.version), std::move(entry));
  return metadata_.Write(std::move(batch));
}

Result<std::vector<SubjectKeyRef>> Keyring::ListSubjectKeys(std::string_view tenant,
                                                            std::string_view after,
                                                            std::size_t limit) {
  const std::string prefix = "dek/" + std::string(tenant) + "/";
  const std::string from = after.empty() ? prefix : std::string(after);
  auto entries = metadata_.Scan(kKeysSpace, from, limit);
  if (!entries) return std::unexpected(entries.error());
  std::vector<SubjectKeyRef> refs;
  refs.reserve(entries->size());
  for (const auto& entry : *entries) {
    if (!entry.key.starts_with(prefix)) break;
    // A damaged entry is listed with KEK version 0 rather than stop every scan of the tenant.
    auto split = SplitDekEntry(entry.key, prefix.size());
    if (!split) {
      refs.push_back({entry.key, "", 0, 0});
      continue;
    }
    auto parts = ParseDekEntry(entry.value, split->second);
    refs.push_back(
        {entry.key, std::move(split->first), split->second, parts ? parts->kek_version : 0});
  }
  return refs;
}

Result<RewrapResult> Keyring::Rewrap(std::string_view tenant, std::span<const SubjectKeyRef> keys,
                                     const RewrapAlso& also) {
  std::lock_guard write_lock(dek_write_mu_);
  RewrapResult result;
  storage::WriteBatch batch;
  for (const auto& ref : keys) {
    if (ref.subject.empty()) {  // a name ListSubjectKeys could not take apart
      result.damaged.push_back(ref.entry);
      continue;
    }
    // Read again under dek_write_mu_: the entry may have a newer reservation, or be gone.
    auto stored = metadata_.Get(kKeysSpace, DekEntry(tenant, ref.subject, ref.version));
    if (!stored) return std::unexpected(stored.error());
    if (!*stored) continue;
    auto parts = ParseDekEntry(**stored, ref.version);
    if (!parts) {
      result.damaged.push_back(ref.entry);
      continue;
    }
    std::lock_guard lock(mu_);
    auto keks = TenantLocked(tenant);
    if (!keks) return std::unexpected(keks.error());
    if (parts->kek_version == (*keks)->current) continue;
    auto kek = KekLocked(tenant, parts->kek_version);
    if (!kek && kek.error().code() != ErrorCode::kDataLoss) return std::unexpected(kek.error());
    auto key =
        kek ? Unwrap(**kek, parts->wrapped, DekAadOf(tenant, ref.subject, ref.version, *parts))
            : Result<SecretBytes>(std::unexpected(kek.error()));
    if (!key) {  // altered, or under a KEK that is gone: nothing here can repair it
      result.damaged.push_back(ref.entry);
      continue;
    }
    auto entry =
        WrapDekLocked(tenant, ref.subject, DataKey{std::move(*key), ref.version, parts->reserved});
    if (!entry) return std::unexpected(entry.error());
    batch.Put(kKeysSpace, DekEntry(tenant, ref.subject, ref.version), std::move(*entry));
    ++result.rewrapped;
  }
  if (also) also(result, batch);
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return result;
}

Result<std::vector<std::string>> Keyring::Tenants(std::string_view after, std::size_t limit) {
  // Every tenant has exactly one index key, "idx/<tenant>".
  auto entries = metadata_.Scan(kKeysSpace, "idx/" + std::string(after), limit);
  if (!entries) return std::unexpected(entries.error());
  std::vector<std::string> tenants;
  for (const auto& entry : *entries) {
    if (!entry.key.starts_with("idx/")) break;
    tenants.push_back(entry.key.substr(4));
  }
  return tenants;
}

Result<KekUsage> Keyring::Usage(std::string_view tenant) {
  KekUsage usage;
  {
    std::lock_guard lock(mu_);
    auto keks = TenantLocked(tenant);
    if (!keks) return std::unexpected(keks.error());
    usage.current = (*keks)->current;
  }
  const std::string kek_prefix = "kek/" + std::string(tenant) + "/";
  auto keks = metadata_.Scan(kKeysSpace, kek_prefix, 4096);
  if (!keks) return std::unexpected(keks.error());
  for (const auto& entry : *keks) {
    if (!entry.key.starts_with(kek_prefix)) break;
    usage
        .subject_keys[static_cast<std::uint32_t>(std::stoul(entry.key.substr(kek_prefix.size())))] =
        0;
  }
  std::string after;
  for (;;) {
    auto page = ListSubjectKeys(tenant, after, 1024);
    if (!page) return std::unexpected(page.error());
    for (const auto& ref : *page) {
      if (ref.kek_version == 0) {
        ++usage.damaged;
      } else {
        ++usage.subject_keys[ref.kek_version];
      }
    }
    if (page->size() < 1024) break;
    after = page->back().entry;
  }
  return usage;
}

Result<void> Keyring::RetireKek(std::string_view tenant, std::uint32_t version) {
  {
    std::lock_guard lock(mu_);
    auto keks = TenantLocked(tenant);
    if (!keks) return std::unexpected(keks.error());
    if (version == (*keks)->current) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "KEK version " + std::to_string(version) + " is current: rotate first");
    }
  }
  // Every DEK write wraps under the current KEK inside dek_write_mu_, and a rotation takes it
  // too: once the writes in flight now have landed, nothing is ever wrapped under `version`
  // again, so the count below can only fall, and the scan need not hold up every write.
  { std::lock_guard wait_for_writes(dek_write_mu_); }
  auto usage = Usage(tenant);
  if (!usage) return std::unexpected(usage.error());
  const auto it = usage->subject_keys.find(version);
  if (it == usage->subject_keys.end()) {
    return Fail(ErrorCode::kNotFound, "no KEK version " + std::to_string(version));
  }
  if (it->second > 0) {
    return Fail(ErrorCode::kFailedPrecondition,
                std::to_string(it->second) + " subject keys are still wrapped under KEK version " +
                    std::to_string(version) + ": wait for the re-wrap to finish");
  }
  storage::WriteBatch batch;
  batch.Delete(kKeysSpace, KekEntry(tenant, version));
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  std::lock_guard lock(mu_);
  if (auto found = tenants_.find(tenant); found != tenants_.end())
    found->second.keks.erase(version);
  return {};
}

Result<SecretBytes> Keyring::BlindIndexKey(std::string_view tenant) {
  auto wrapped = metadata_.Get(kKeysSpace, "idx/" + std::string(tenant));
  if (!wrapped) return std::unexpected(wrapped.error());
  if (!*wrapped) return Fail(ErrorCode::kNotFound, "tenant has no index key");
  std::lock_guard lock(mu_);
  return Unwrap(root_, **wrapped, IndexKeyAad(tenant));
}

Result<SecretBytes> Keyring::DeriveFromRoot(std::string_view info) const {
  return DeriveFromRootKey(root_key_.reveal(), info);
}

Result<SecretBytes> Keyring::DeriveFromRootKey(std::span<const std::uint8_t> root_key,
                                               std::string_view info) {
  return crypto::HkdfSha256(
      root_key, {}, std::span(reinterpret_cast<const std::uint8_t*>(info.data()), info.size()),
      kKeySize);
}

namespace {
class CopiedRootKeyProvider final : public RootKeyProvider {
 public:
  explicit CopiedRootKeyProvider(std::span<const std::uint8_t> root_key) : root_key_(root_key) {}
  std::string_view kind() const override { return "copied_root_key"; }
  // Kept in memory only: no file, and nothing can be put in it.
  const std::filesystem::path& file() const override { return no_file_; }
  Result<SecretBytes> Unseal(std::span<const std::uint8_t> /*secret*/) const override {
    return SecretBytes(root_key_.reveal());
  }
  Result<void> Adopt(std::span<const std::uint8_t> /*root*/,
                     std::span<const std::uint8_t> /*secret*/) const override {
    return Fail(ErrorCode::kFailedPrecondition, "a copied root key is kept nowhere");
  }

 private:
  SecretBytes root_key_;
  std::filesystem::path no_file_;
};
}  // namespace

std::unique_ptr<RootKeyProvider> Keyring::CopyProvider() const {
  return std::make_unique<CopiedRootKeyProvider>(root_key_.reveal());
}

Result<SecretBytes> Keyring::SystemKey(std::string_view name) {
  const std::string entry = "sys/" + std::string(name);
  std::lock_guard lock(mu_);
  auto wrapped = metadata_.Get(kKeysSpace, entry);
  if (!wrapped) return std::unexpected(wrapped.error());
  if (*wrapped) return Unwrap(root_, **wrapped, SystemKeyAad(name));
  auto key = crypto::RandomSecret(kKeySize);
  if (!key) return std::unexpected(key.error());
  auto sealed = Wrap(root_, key->reveal(), SystemKeyAad(name));
  if (!sealed) return std::unexpected(sealed.error());
  storage::WriteBatch batch;
  batch.Put(kKeysSpace, entry, std::move(*sealed));
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  return key;
}

}  // namespace strongroom::keys
