#include "strongroom/keys/keyring.h"

#include <cstdio>

#include "strongroom/base/blocking.h"
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

std::vector<std::uint8_t> DekAad(std::string_view tenant, std::string_view subject,
                                 std::uint32_t version, std::uint64_t reserved) {
  std::vector<std::uint8_t> aad;
  AppendPart(aad, "strongroom/dek/v1");
  AppendPart(aad, tenant);
  AppendPart(aad, subject);
  AppendPart(aad, Version10(version));
  AppendU64(aad, reserved);
  return aad;
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
  return "dek/" + std::string(tenant) + "/" + std::string(subject) + "/" + Version10(version);
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
  // Not cached yet: the batch may still fail. TenantLocked() finds v1 once it is durable.
  return {};
}

Result<std::uint32_t> Keyring::RotateKek(std::string_view tenant) {
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
  auto kek = KekLocked(tenant, key.version);
  if (!kek) return std::unexpected(kek.error());
  auto wrapped = Wrap(**kek, key.key.reveal(), DekAad(tenant, subject, key.version, key.reserved));
  if (!wrapped) return std::unexpected(wrapped.error());
  std::vector<std::uint8_t> entry;
  entry.reserve(kReservationSize + wrapped->size());
  AppendU64(entry, key.reserved);
  entry.insert(entry.end(), wrapped->begin(), wrapped->end());
  return entry;
}

Result<DataKey> Keyring::NewSubjectKey(std::string_view tenant, std::string_view subject,
                                       std::uint64_t reserve, storage::WriteBatch& batch) {
  std::lock_guard lock(mu_);
  auto keks = TenantLocked(tenant);
  if (!keks) return std::unexpected(keks.error());
  auto secret = crypto::RandomSecret(kKeySize);
  if (!secret) return std::unexpected(secret.error());
  DataKey key{std::move(*secret), (*keks)->current, reserve};
  auto entry = WrapDekLocked(tenant, subject, key);
  if (!entry) return std::unexpected(entry.error());
  batch.Put(kKeysSpace, DekEntry(tenant, subject, key.version), std::move(*entry));
  return key;
}

Result<std::optional<DataKey>> Keyring::LoadSubjectKey(std::string_view tenant,
                                                       std::string_view subject,
                                                       std::uint32_t version) {
  auto entry = metadata_.Get(kKeysSpace, DekEntry(tenant, subject, version));
  if (!entry) return std::unexpected(entry.error());
  if (!*entry) return std::optional<DataKey>();
  if ((*entry)->size() != kReservationSize + kWrappedSize) {
    return Fail(ErrorCode::kDataLoss, "subject key entry has the wrong size");
  }
  const std::uint64_t reserved = ReadU64(**entry);
  // KekLocked may read the store under this lock: only tried on I/O threads (base/blocking.h).
  auto lock = LockOrWouldBlock(mu_);
  if (!lock) return std::unexpected(lock.error());
  auto kek = KekLocked(tenant, version);
  if (!kek) return std::unexpected(kek.error());
  auto key = Unwrap(**kek, std::span(**entry).subspan(kReservationSize),
                    DekAad(tenant, subject, version, reserved));
  if (!key) return std::unexpected(key.error());
  return std::optional<DataKey>(DataKey{std::move(*key), version, reserved});
}

Result<void> Keyring::SaveReservation(std::string_view tenant, std::string_view subject,
                                      const DataKey& key) {
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
  Result<SecretBytes> Unseal(std::span<const std::uint8_t> /*secret*/) const override {
    return SecretBytes(root_key_.reveal());
  }

 private:
  SecretBytes root_key_;
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
