#include "strongroom/crypto/hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace strongroom::crypto {
namespace {

EVP_MAC* Mac() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

}  // namespace

struct HmacSha256::State {
  // A context initialised with the key; each Compute() works on a cheap duplicate of it, so
  // the key is processed once.
  EVP_MAC_CTX* keyed = nullptr;
  ~State() { EVP_MAC_CTX_free(keyed); }
};

HmacSha256::HmacSha256(std::unique_ptr<State> state) : state_(std::move(state)) {}
HmacSha256::~HmacSha256() = default;
HmacSha256::HmacSha256(HmacSha256&&) noexcept = default;
HmacSha256& HmacSha256::operator=(HmacSha256&&) noexcept = default;

Result<HmacSha256> HmacSha256::Create(std::span<const std::uint8_t> key) {
  if (key.empty()) return Fail(ErrorCode::kInvalidArgument, "HMAC key must not be empty");
  if (Mac() == nullptr) return Fail(ErrorCode::kInternal, "HMAC is not available");
  auto state = std::make_unique<State>();
  state->keyed = EVP_MAC_CTX_new(Mac());
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_END};
  if (state->keyed == nullptr ||
      EVP_MAC_init(state->keyed, key.data(), key.size(), params) != 1) {
    return Fail(ErrorCode::kInternal, "HMAC-SHA-256 setup failed");
  }
  return HmacSha256(std::move(state));
}

Result<Sha256Digest> HmacSha256::Compute(std::span<const std::uint8_t> data) const {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(state_->keyed);
  Sha256Digest out{};
  std::size_t len = 0;
  const bool ok = ctx != nullptr && EVP_MAC_update(ctx, data.data(), data.size()) == 1 &&
                  EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
  EVP_MAC_CTX_free(ctx);
  if (!ok) return Fail(ErrorCode::kInternal, "HMAC-SHA-256 failed");
  return out;
}

}  // namespace strongroom::crypto
