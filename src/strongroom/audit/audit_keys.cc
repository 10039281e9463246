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

Result<std::string> AuditKeys::SubjectPseudonym(std::string_view tenant, std::string_view subject) {
  auto keys = Current();
  if (!keys) return std::unexpected(keys.error());
  std::string input = "subject";
  input.push_back('\0');
  input.append(tenant);
  input.push_back('\0');
  input.append(subject);
  auto mac = (*keys)->hmac.Compute(Bytes(input));
  if (!mac) return std::unexpected(mac.error());
  return "psn_" + crypto::Base64UrlEncode(std::span<const std::uint8_t>(*mac).first(16));
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
