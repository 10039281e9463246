#include "strongroom/barrier/data_barrier.h"

#include <algorithm>
#include <utility>

#include "strongroom/base/blocking.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/hmac.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/crypto/random.h"

namespace strongroom::barrier {

struct DataBarrier::SubjectCipher {
  SubjectCipher(keys::DataKey k, FieldCipher c, std::uint64_t b)
      : key(std::move(k)), cipher(std::move(c)), base(b) {}
  std::mutex mu;
  keys::DataKey key;   // kept to rewrap the key when its reservation grows
  FieldCipher cipher;  // counts encryptions since `base`
  std::uint64_t base;  // reservation when loaded: every use before it counts as spent
};

struct DataBarrier::Indexer {
  explicit Indexer(crypto::HmacSha256 h) : hmac(std::move(h)) {}
  std::mutex mu;
  crypto::HmacSha256 hmac;
  std::vector<std::uint8_t> buffer;
};

namespace {

// The same answer as for a subject that never existed: it tells nobody that one did.
Error Erased() { return Error(ErrorCode::kNotFound, "no such subject"); }

std::string SubjectPrefix(std::string_view tenant, std::string_view subject) {
  std::string prefix;
  prefix.reserve(tenant.size() + subject.size() + 2);
  prefix.append(tenant).push_back('/');
  prefix.append(subject).push_back('/');
  return prefix;
}

std::string CacheKey(std::string_view tenant, std::string_view subject, std::uint32_t version) {
  std::string key;
  key.reserve(tenant.size() + subject.size() + 12);
  key.append(tenant).push_back('/');
  key.append(subject).push_back('/');
  key.append(std::to_string(version));
  return key;
}

}  // namespace

DataBarrier::DataBarrier(keys::Keyring& keyring, std::size_t cache_capacity,
                         std::uint64_t max_encryptions_per_key, SubjectGate* gate,
                         HalfSpentListener half_spent)
    : keyring_(keyring),
      own_gate_(gate == nullptr ? std::make_unique<SubjectGate>() : nullptr),
      gate_(gate == nullptr ? own_gate_.get() : gate),
      cache_capacity_(std::max<std::size_t>(cache_capacity, 1)),
      max_encryptions_(max_encryptions_per_key),
      half_spent_(std::move(half_spent)) {}

DataBarrier::~DataBarrier() = default;

DataBarrier::Stats DataBarrier::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Result<void> DataBarrier::CreateSubjectKey(std::string_view tenant, std::string_view subject,
                                           storage::WriteBatch batch) {
  if (gate_->IsErased(tenant, subject)) return std::unexpected(Erased());
  auto key = keyring_.CreateSubjectKey(
      tenant, subject, std::min(kReservationBlock, max_encryptions_), std::move(batch));
  if (!key) return std::unexpected(key.error());
  // The subject's first key is its oldest: its pseudonym now saves the audit entry of its
  // creation a key lookup (none is kept if deriving it fails; the lookup then makes it).
  if (auto pseudonym = PseudonymUnder(*key, tenant, subject); pseudonym) {
    KeepPseudonym(tenant, subject, *pseudonym);
  }
  Adopt(tenant, subject, std::move(*key));
  return {};
}

void DataBarrier::InsertLocked(std::string key, std::shared_ptr<SubjectCipher> cipher) {
  if (current_.size() >= cache_capacity_) {
    previous_ = std::move(current_);
    current_.clear();
  }
  current_.insert_or_assign(std::move(key), std::move(cipher));
}

void DataBarrier::Adopt(std::string_view tenant, std::string_view subject, keys::DataKey key) {
  auto cipher = FieldCipher::Create(key.key.reveal(), key.version, key.reserved);
  if (!cipher) return;  // only a broken OpenSSL gets here; the key is simply loaded on first use
  const std::uint32_t version = key.version;
  auto entry = std::make_shared<SubjectCipher>(std::move(key), std::move(*cipher), /*base=*/0);
  std::lock_guard lock(mu_);
  if (gate_->IsErased(tenant, subject)) return;
  InsertLocked(CacheKey(tenant, subject, version), std::move(entry));
}

void DataBarrier::Forget(std::string_view tenant, std::string_view subject) {
  gate_->Erase(tenant, subject);
  const std::string prefix = SubjectPrefix(tenant, subject);
  std::vector<std::shared_ptr<SubjectCipher>> dropped;
  {
    std::lock_guard lock(mu_);
    for (auto* generation : {&current_, &previous_}) {
      for (auto it = generation->begin(); it != generation->end();) {
        if (it->first.starts_with(prefix)) {
          dropped.push_back(std::move(it->second));
          it = generation->erase(it);
        } else {
          ++it;
        }
      }
    }
  }
  {
    std::lock_guard lock(pseudonyms_mu_);
    pseudonyms_.erase(prefix);
    previous_pseudonyms_.erase(prefix);
  }
  // A thread that checked the gate before the mark may still be in Encrypt, about to save a
  // reservation (which rewrites the wrapped key): taking each cipher's mutex waits for it, so
  // that the caller's delete of the keys comes after any such write. Later users of these
  // ciphers check the gate under the same mutex.
  for (const auto& cipher : dropped) std::lock_guard wait_for_users(cipher->mu);
}

void DataBarrier::Unforget(std::string_view tenant, std::string_view subject) {
  gate_->Unerase(tenant, subject);
}

Result<std::shared_ptr<DataBarrier::SubjectCipher>> DataBarrier::Find(std::string_view tenant,
                                                                      std::string_view subject,
                                                                      std::uint32_t version,
                                                                      bool create_if_missing) {
  std::string cache_key = CacheKey(tenant, subject, version);
  // May wait for a miss that another thread is loading from disk: only tried on I/O threads.
  auto lock = LockOrWouldBlock(mu_);
  if (!lock) return std::unexpected(lock.error());
  if (auto it = current_.find(cache_key); it != current_.end()) return it->second;
  if (gate_->IsErased(tenant, subject)) return std::unexpected(Erased());
  if (auto it = previous_.find(cache_key); it != previous_.end()) {
    auto found = std::move(it->second);
    previous_.erase(it);
    InsertLocked(std::move(cache_key), found);
    return found;
  }
  // A miss: loads under the cache lock so that two threads never hold two ciphers (and two
  // reservations) for one key.
  auto loaded = keyring_.LoadSubjectKey(tenant, subject, version);
  if (!loaded) return std::unexpected(loaded.error());
  if (!*loaded) {
    if (!create_if_missing) {
      return Fail(ErrorCode::kDataLoss, "subject key version " + std::to_string(version) +
                                            " named by a ciphertext does not exist");
    }
    // The tenant's KEK was rotated after this subject's last key was made: a new DEK of the
    // version asked for (the current one, unless a rotation came since; either way wrapped under
    // the current KEK), so that the cache slot and the key agree.
    auto made = keyring_.CreateSubjectKey(tenant, subject, 0, {}, version);
    if (!made) return std::unexpected(made.error());
    loaded->emplace(std::move(*made));
  }
  ++stats_.key_loads;
  keys::DataKey key = std::move(**loaded);
  // Everything up to the persisted reservation may already have been used by an earlier run.
  auto cipher = FieldCipher::Create(key.key.reveal(), key.version, 0);
  if (!cipher) return std::unexpected(cipher.error());
  const std::uint64_t base = key.reserved;
  auto entry = std::make_shared<SubjectCipher>(std::move(key), std::move(*cipher), base);
  InsertLocked(std::move(cache_key), entry);
  return entry;
}

Result<void> DataBarrier::Encrypt(std::string_view tenant, std::string_view subject,
                                  std::span<const EncryptItem> items) {
  auto version = keyring_.CurrentKekVersion(tenant);
  if (!version) return std::unexpected(version.error());
  auto found = Find(tenant, subject, *version, /*create_if_missing=*/true);
  if (!found) return std::unexpected(found.error());
  SubjectCipher& entry = **found;
  std::lock_guard lock(entry.mu);
  if (gate_->IsErased(tenant, subject)) return std::unexpected(Erased());
  const std::uint64_t used = entry.base + entry.cipher.encryptions();
  if (used + items.size() > entry.key.reserved) {
    const std::uint64_t wanted = used + std::max<std::uint64_t>(kReservationBlock, items.size());
    const std::uint64_t reserved = std::min(wanted, max_encryptions_);
    if (used + items.size() > reserved) {
      return Fail(ErrorCode::kResourceExhausted,
                  "the subject's data key reached its encryption budget; rotate the tenant KEK");
    }
    const std::uint64_t previous = entry.key.reserved;
    entry.key.reserved = reserved;
    if (auto saved = keyring_.SaveReservation(tenant, subject, entry.key); !saved) {
      entry.key.reserved = previous;
      return std::unexpected(saved.error());
    }
    entry.cipher.set_max_encryptions(reserved - entry.base);
    {
      std::lock_guard stats_lock(mu_);
      ++stats_.reservations;
    }
    // At every reservation past half the budget, not only the first: a request a crash lost
    // comes again (the listener ignores versions already rotated away from).
    if (half_spent_ && reserved >= max_encryptions_ / 2) half_spent_(tenant, entry.key.version);
  }
  for (const auto& item : items) {
    if (auto done = entry.cipher.EncryptTo(item.location, item.plaintext, *item.out); !done) {
      return std::unexpected(done.error());
    }
  }
  return {};
}

Result<DocumentKey> DataBarrier::NewDocumentKey(std::string_view tenant,
                                                std::string_view subject,
                                                std::string_view document_id) {
  auto key = crypto::RandomSecret(crypto::Aes256Gcm::kKeySize);
  if (!key) return std::unexpected(key.error());
  auto cipher = DocumentCipher::Create(key->reveal());
  if (!cipher) return std::unexpected(cipher.error());
  DocumentKey out{std::move(*cipher), {}};
  const EncryptItem item{{tenant, kDocumentsCollection, document_id, "key"}, key->reveal(),
                         &out.wrapped};
  if (auto wrapped = Encrypt(tenant, subject, std::span(&item, 1)); !wrapped) {
    return std::unexpected(wrapped.error());
  }
  return out;
}

Result<DocumentCipher> DataBarrier::OpenDocumentKey(std::string_view tenant,
                                                    std::string_view subject,
                                                    std::string_view document_id,
                                                    std::span<const std::uint8_t> wrapped) {
  auto key = Decrypt(tenant, subject, {tenant, kDocumentsCollection, document_id, "key"}, wrapped);
  if (!key) return std::unexpected(key.error());
  if (key->size() != crypto::Aes256Gcm::kKeySize) {
    return Fail(ErrorCode::kDataLoss, "a document key of the wrong size");
  }
  return DocumentCipher::Create(key->reveal());
}

Result<SecretBytes> DataBarrier::Decrypt(std::string_view tenant, std::string_view subject,
                                         const FieldLocation& location,
                                         std::span<const std::uint8_t> ciphertext) {
  auto version = FieldCipher::KeyVersionOf(ciphertext);
  if (!version) return std::unexpected(version.error());
  auto found = Find(tenant, subject, *version, /*create_if_missing=*/false);
  if (!found) return std::unexpected(found.error());
  std::lock_guard lock((*found)->mu);
  if (gate_->IsErased(tenant, subject)) return std::unexpected(Erased());
  return (*found)->cipher.Decrypt(location, ciphertext);
}

Result<void> DataBarrier::DecryptTo(std::string_view tenant, std::string_view subject,
                                   const FieldLocation& location,
                                   std::span<const std::uint8_t> ciphertext,
                                   std::vector<std::uint8_t>& out) {
  auto version = FieldCipher::KeyVersionOf(ciphertext);
  if (!version) return std::unexpected(version.error());
  auto found = Find(tenant, subject, *version, /*create_if_missing=*/false);
  if (!found) return std::unexpected(found.error());
  // Encrypt() may hold it while it saves a nonce reservation: only tried on I/O threads.
  auto lock = LockOrWouldBlock((*found)->mu);
  if (!lock) return std::unexpected(lock.error());
  if (gate_->IsErased(tenant, subject)) return std::unexpected(Erased());
  return (*found)->cipher.DecryptTo(location, ciphertext, out);
}

namespace {

// HKDF (RFC 5869) of a 32-byte key for one use from the tenant's index key.
Result<SecretBytes> DeriveTenantKey(const SecretBytes& index_key, std::string_view info) {
  return crypto::HkdfSha256(index_key.reveal(), {},
                            {reinterpret_cast<const std::uint8_t*>(info.data()), info.size()}, 32);
}

}  // namespace

Result<std::optional<std::string>> DataBarrier::SubjectKeyPseudonym(std::string_view tenant,
                                                                    std::string_view subject) {
  // Not refused for a subject the gate hides: a grace period hides its data, but its keys and
  // so its pseudonym are still there, and what is written about it meanwhile should go with
  // them. An erased subject's keys are deleted (none is found below), and Forget empties this
  // cache after the gate is marked, which KeepPseudonym checks: it is never cached again.
  std::string cache_key = SubjectPrefix(tenant, subject);
  {
    PseudonymMap dropped;  // freed after the lock is released
    // Never held across I/O: a plain lock even on an I/O thread.
    std::lock_guard lock(pseudonyms_mu_);
    if (auto it = pseudonyms_.find(cache_key); it != pseudonyms_.end()) {
      return std::optional<std::string>(it->second);
    }
    if (auto it = previous_pseudonyms_.find(cache_key); it != previous_pseudonyms_.end()) {
      std::string found = std::move(it->second);
      previous_pseudonyms_.erase(it);
      InsertPseudonymLocked(std::move(cache_key), found, dropped);
      return std::optional<std::string>(std::move(found));
    }
  }
  if (!MayBlock()) return std::unexpected(WouldBlock("loading a subject key"));
  auto oldest = keyring_.LoadOldestSubjectKey(tenant, subject);
  if (!oldest) return std::unexpected(oldest.error());
  if (!*oldest) return std::optional<std::string>();
  auto pseudonym = PseudonymUnder(**oldest, tenant, subject);
  if (!pseudonym) return std::unexpected(pseudonym.error());
  KeepPseudonym(tenant, subject, *pseudonym);
  return std::optional<std::string>(std::move(*pseudonym));
}

Result<std::string> DataBarrier::PseudonymUnder(const keys::DataKey& oldest,
                                                std::string_view tenant, std::string_view subject) {
  constexpr std::string_view kInfo = "strongroom/subject-pseudonym/v1";
  auto key =
      crypto::HkdfSha256(oldest.key.reveal(), {},
                         {reinterpret_cast<const std::uint8_t*>(kInfo.data()), kInfo.size()}, 32);
  if (!key) return std::unexpected(key.error());
  auto hmac = crypto::HmacSha256::Create(key->reveal());
  if (!hmac) return std::unexpected(hmac.error());
  return SubjectPseudonymUnder(*hmac, tenant, subject);
}

Result<std::string> SubjectPseudonymUnder(const crypto::HmacSha256& mac, std::string_view tenant,
                                          std::string_view subject) {
  std::string input = "subject";
  input.push_back('\0');
  input.append(tenant);
  input.push_back('\0');
  input.append(subject);
  auto digest = mac.Compute({reinterpret_cast<const std::uint8_t*>(input.data()), input.size()});
  if (!digest) return std::unexpected(digest.error());
  return "psn_" + crypto::Base64UrlEncode(std::span<const std::uint8_t>(*digest).first(16));
}

void DataBarrier::KeepPseudonym(std::string_view tenant, std::string_view subject,
                                const std::string& pseudonym) {
  PseudonymMap dropped;  // freed after the lock is released
  std::lock_guard lock(pseudonyms_mu_);
  // Forget marks the gate before it empties this cache: checked under its mutex, an erasure
  // that began meanwhile never finds its subject cached afterwards (nor does a hidden one get in).
  if (gate_->IsErased(tenant, subject)) return;
  InsertPseudonymLocked(SubjectPrefix(tenant, subject), pseudonym, dropped);
}

// The pseudonym cache's one insert (as InsertLocked is the key cache's): a full current
// generation becomes the previous one, whose old entries go to `dropped`.
void DataBarrier::InsertPseudonymLocked(std::string key, const std::string& pseudonym,
                                        PseudonymMap& dropped) {
  if (pseudonyms_.size() >= cache_capacity_) {
    dropped = std::exchange(previous_pseudonyms_, std::move(pseudonyms_));
    pseudonyms_.clear();
  }
  pseudonyms_.insert_or_assign(std::move(key), pseudonym);
}

Result<std::shared_ptr<DataBarrier::Indexer>> DataBarrier::TenantMac(std::string_view tenant,
                                                                     MacKind kind) {
  auto& macs = macs_[static_cast<std::size_t>(kind)];
  {
    // mu_ is also held while a subject key loads from disk: an I/O thread does not wait on it.
    auto lock = LockOrWouldBlock(mu_);
    if (!lock) return std::unexpected(lock.error());
    if (auto it = macs.find(std::string(tenant)); it != macs.end()) return it->second;
  }
  auto key = keyring_.BlindIndexKey(tenant);
  if (!key) return std::unexpected(key.error());
  std::optional<SecretBytes> derived;
  // Pseudonyms and tokens must not equal the blind indexes stored in the database (nor each
  // other): their own keys, derived from the tenant's index key.
  if (kind != MacKind::kIndex) {
    auto made =
        DeriveTenantKey(*key, kind == MacKind::kPseudonym ? "strongroom/pseudonym/v1"
                                                          : "strongroom/token/deterministic/v1");
    if (!made) return std::unexpected(made.error());
    derived = std::move(*made);
  }
  auto hmac = crypto::HmacSha256::Create(derived ? derived->reveal() : key->reveal());
  if (!hmac) return std::unexpected(hmac.error());
  auto made = std::make_shared<Indexer>(std::move(*hmac));
  std::lock_guard lock(mu_);
  return macs.try_emplace(std::string(tenant), std::move(made)).first->second;
}

Result<std::shared_ptr<const crypto::Ff1>> DataBarrier::TenantFf1(std::string_view tenant) {
  {
    auto lock = LockOrWouldBlock(mu_);
    if (!lock) return std::unexpected(lock.error());
    if (auto it = ff1s_.find(std::string(tenant)); it != ff1s_.end()) return it->second;
  }
  auto key = keyring_.BlindIndexKey(tenant);
  if (!key) return std::unexpected(key.error());
  auto derived = DeriveTenantKey(*key, "strongroom/token/ff1/v1");
  if (!derived) return std::unexpected(derived.error());
  auto ff1 = crypto::Ff1::Create(derived->reveal(), 10);
  if (!ff1) return std::unexpected(ff1.error());
  auto made = std::make_shared<const crypto::Ff1>(std::move(*ff1));
  std::lock_guard lock(mu_);
  return ff1s_.try_emplace(std::string(tenant), std::move(made)).first->second;
}

Result<std::string> DataBarrier::MacToken(std::string_view tenant, MacKind kind,
                                          std::string_view prefix, std::string_view value) {
  auto mac = TenantMac(tenant, kind);
  if (!mac) return std::unexpected(mac.error());
  std::lock_guard lock((*mac)->mu);
  auto digest =
      (*mac)->hmac.Compute({reinterpret_cast<const std::uint8_t*>(value.data()), value.size()});
  if (!digest) return std::unexpected(digest.error());
  // 128 bits, as for pseudonyms: no collision within reach of any tenant's data.
  return std::string(prefix) + crypto::Base64UrlEncode(std::span(*digest).first(16));
}

Result<std::string> DataBarrier::DeterministicToken(std::string_view tenant,
                                                    std::string_view value) {
  return MacToken(tenant, MacKind::kToken, "tkd_", value);
}

Result<std::string> DataBarrier::OneWayToken(std::string_view tenant, std::string_view value) {
  return MacToken(tenant, MacKind::kOneWayToken, "tkh_", value);
}

Result<std::string> DataBarrier::FormatPreservingToken(std::string_view tenant,
                                                       std::string_view digits,
                                                       std::string_view tweak) {
  auto ff1 = TenantFf1(tenant);
  if (!ff1) return std::unexpected(ff1.error());
  return (*ff1)->EncryptText("0123456789", digits,
                             {reinterpret_cast<const std::uint8_t*>(tweak.data()), tweak.size()});
}

Result<std::string> DataBarrier::BlindIndex(std::string_view tenant, std::string_view collection,
                                            std::string_view field,
                                            std::string_view normalized_value) {
  auto indexer = TenantMac(tenant, MacKind::kIndex);
  if (!indexer) return std::unexpected(indexer.error());
  std::lock_guard lock((*indexer)->mu);
  auto& buffer = (*indexer)->buffer;
  buffer.clear();
  AppendAadPart(buffer, collection);
  AppendAadPart(buffer, field);
  AppendAadPart(buffer, normalized_value);
  auto digest = (*indexer)->hmac.Compute(buffer);
  // The buffer held a plaintext value: wipe it rather than leave it in a long-lived allocation.
  std::fill(buffer.begin(), buffer.end(), std::uint8_t{0});
  if (!digest) return std::unexpected(digest.error());
  return crypto::Base64UrlEncode(*digest);
}

Result<std::string> DataBarrier::Pseudonym(std::string_view tenant,
                                           std::string_view normalized_value) {
  auto mac = TenantMac(tenant, MacKind::kPseudonym);
  if (!mac) return std::unexpected(mac.error());
  std::lock_guard lock((*mac)->mu);
  auto digest = (*mac)->hmac.Compute(
      {reinterpret_cast<const std::uint8_t*>(normalized_value.data()), normalized_value.size()});
  if (!digest) return std::unexpected(digest.error());
  // 128 bits: collisions are out of reach for any tenant's data, and the text stays short.
  return "psn_" + crypto::Base64UrlEncode(std::span(*digest).first(16));
}

}  // namespace strongroom::barrier
