#include "strongroom/crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <sodium.h>

namespace strongroom::crypto {

Result<SecretBytes> HkdfSha256(std::span<const std::uint8_t> input_key,
                               std::span<const std::uint8_t> salt,
                               std::span<const std::uint8_t> info, std::size_t length) {
  constexpr std::size_t kMaxOutput = std::size_t{255} * 32;  // RFC 5869: 255 blocks of SHA-256
  if (length == 0 || length > kMaxOutput) {
    return Fail(ErrorCode::kInvalidArgument, "HKDF-SHA-256 output must be 1 to 8160 bytes");
  }
  static EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return Fail(ErrorCode::kInternal, "HKDF is not available");
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  if (ctx == nullptr) return Fail(ErrorCode::kInternal, "HKDF context failed");
  char digest[] = "SHA256";
  // OSSL_PARAM takes non-const pointers but does not write through them for these inputs.
  auto* ikm = const_cast<std::uint8_t*>(input_key.data());
  auto* salt_bytes = const_cast<std::uint8_t*>(salt.data());
  auto* info_bytes = const_cast<std::uint8_t*>(info.data());
  OSSL_PARAM params[5];
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm, input_key.size());
  if (!salt.empty()) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_bytes, salt.size());
  }
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_bytes, info.size());
  params[n] = OSSL_PARAM_construct_end();
  SecretBytes out(length);
  const bool ok = EVP_KDF_derive(ctx, out.mutable_bytes().data(), length, params) == 1;
  EVP_KDF_CTX_free(ctx);
  if (!ok) return Fail(ErrorCode::kInternal, "HKDF-SHA-256 failed");
  return out;
}

Result<SecretBytes> Argon2id(std::span<const std::uint8_t> passphrase,
                             std::span<const std::uint8_t, kArgon2SaltSize> salt,
                             const Argon2idParams& params, std::size_t length) {
  static_assert(kArgon2SaltSize == crypto_pwhash_SALTBYTES);
  static const bool initialised = sodium_init() >= 0;
  if (!initialised) return Fail(ErrorCode::kInternal, "libsodium failed to initialise");
  if (length < crypto_pwhash_BYTES_MIN || params.iterations < crypto_pwhash_OPSLIMIT_MIN ||
      params.memory_bytes < crypto_pwhash_MEMLIMIT_MIN || params.memory_bytes > (4ull << 30)) {
    return Fail(ErrorCode::kInvalidArgument, "Argon2id parameters out of range");
  }
  SecretBytes out(length);
  if (crypto_pwhash(out.mutable_bytes().data(), length,
                    reinterpret_cast<const char*>(passphrase.data()), passphrase.size(),
                    salt.data(), params.iterations, params.memory_bytes,
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Fail(ErrorCode::kResourceExhausted, "Argon2id could not allocate its memory");
  }
  return out;
}

}  // namespace strongroom::crypto
