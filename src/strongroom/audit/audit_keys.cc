#include "strongroom/audit/audit_keys.h"

#include <mutex>

#include "strongroom/base/blocking.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/observe/log.h"

namespace strongroom::audit {
namespace {

std::span<const std::uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

Result<SecretBytes> Derive(const SecretBytes& root, std::string_view purpose) {
  const std::string info = "strongroom/audit/" + std::string(purpose) + "/v1";
  return crypto::HkdfSha256(root.reveal(), {}, Bytes(info), 32);
}

}  // namespace

struct AuditKeys::Keys {
  std::weak_ptr<barrier::VaultKeys> owner;
  std::shared_ptr<const crypto::Ed25519Signer> signer;
  crypto::HmacSha256 hmac;
};

AuditKeys::AuditKeys(barrier::SealState& seal) : seal_(seal) {
  seal_.OnSeal([this] {
    std::unique_lock lock(mu_);
    keys_.reset();
  });
}

Result<std::shared_ptr<const AuditKeys::Keys>> AuditKeys::Current() {
  auto vault = seal_.keys();
  if (!vault) return Fail(ErrorCode::kSealed, "the vault is sealed");
  const auto same_owner = [&](const std::shared_ptr<const Keys>& k) {
    return k && !k->owner.owner_before(vault) && !vault.owner_before(k->owner);
  };
  {
    std::shared_lock lock(mu_);
    if (same_owner(keys_)) return keys_;
  }
  if (!MayBlock()) return std::unexpected(WouldBlock("deriving the audit keys"));
  auto root = vault->keyring->SystemKey("audit");
  if (!root) return std::unexpected(root.error());
  auto seed = Derive(*root, "checkpoint-signing");
  auto mac_key = Derive(*root, "pseudonyms");
  if (!seed || !mac_key) return Fail(ErrorCode::kInternal, "audit key derivation failed");
  auto signer = crypto::Ed25519Signer::FromSeed(seed->reveal());
  auto hmac = crypto::HmacSha256::Create(mac_key->reveal());
  if (!signer || !hmac) return Fail(ErrorCode::kInternal, "audit key derivation failed");
  auto keys = std::make_shared<const Keys>(Keys{
      vault, std::make_shared<const crypto::Ed25519Signer>(std::move(*signer)), std::move(*hmac)});
  std::unique_lock lock(mu_);
  if (!same_owner(keys_)) keys_ = keys;
  return keys_;
}

std::shared_ptr<const crypto::Ed25519Signer> AuditKeys::Signer() {
  auto keys = Current();
  if (!keys) {
    if (keys.error().code() != ErrorCode::kSealed) {
      observe::Error("audit.keys_unavailable", {{"reason", keys.error().message()}});
    }
    return nullptr;
  }
  return (*keys)->signer;
}

Result<std::optional<std::string>> AuditKeys::OwnPseudonym(std::string_view tenant,
                                                           std::string_view subject) {
  auto vault = seal_.keys();
  if (!vault) return Fail(ErrorCode::kSealed, "the vault is sealed");
  auto own = vault->barrier->SubjectKeyPseudonym(tenant, subject);
  if (!own && own.error().code() == ErrorCode::kDataLoss) {
    // A damaged key must not stop every request that names the subject from being audited (a
    // listing, a search): the audit key's pseudonym names it instead, which searches include.
    observe::Error("audit.subject_key_damaged",
                   {{"tenant", std::string(tenant)}, {"reason", own.error().message()}});
    return std::optional<std::string>();
  }
  return own;
}

Result<std::string> AuditKeys::SubjectPseudonym(std::string_view tenant, std::string_view subject) {
  auto own = OwnPseudonym(tenant, subject);
  if (!own) return std::unexpected(own.error());
  if (*own) return std::move(**own);
  return VaultPseudonym(tenant, subject);
}

Result<std::vector<std::string>> AuditKeys::SubjectPseudonyms(std::string_view tenant,
                                                              std::string_view subject) {
  auto own = OwnPseudonym(tenant, subject);
  if (!own) return std::unexpected(own.error());
  auto shared = VaultPseudonym(tenant, subject);
  if (!shared) return std::unexpected(shared.error());
  std::vector<std::string> out;
  if (*own) out.push_back(std::move(**own));
  out.push_back(std::move(*shared));
  return out;
}

Result<std::string> AuditKeys::VaultPseudonym(std::string_view tenant, std::string_view subject) {
  auto keys = Current();
  if (!keys) return std::unexpected(keys.error());
  return barrier::SubjectPseudonymUnder((*keys)->hmac, tenant, subject);
}

Result<std::string> AuditKeys::ValueHash(std::string_view value) {
  auto keys = Current();
  if (!keys) return std::unexpected(keys.error());
  std::string input = "value";
  input.push_back('\0');
  input.append(value);
  auto mac = (*keys)->hmac.Compute(Bytes(input));
  if (!mac) return std::unexpected(mac.error());
  return "hmac-sha256:" + crypto::HexEncode(*mac);
}

}  // namespace strongroom::audit
