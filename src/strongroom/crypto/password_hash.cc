#include "strongroom/crypto/password_hash.h"

#include <sodium.h>

#include <array>
#include <optional>

#include "strongroom/crypto/argon2_memory.h"

namespace strongroom::crypto {
namespace {

constexpr std::string_view kPrefix = "$argon2id$";

bool SodiumReady() {
  static const bool initialised = sodium_init() >= 0;
  return initialised;
}

bool InRange(const Argon2idParams& params) {
  return params.iterations >= crypto_pwhash_OPSLIMIT_MIN &&
         params.iterations <= crypto_pwhash_OPSLIMIT_MAX &&
         params.memory_bytes >= crypto_pwhash_MEMLIMIT_MIN && params.memory_bytes <= (4ull << 30);
}

// libsodium wants a NUL-terminated string no longer than crypto_pwhash_STRBYTES - 1.
std::optional<std::array<char, crypto_pwhash_STRBYTES>> Terminated(std::string_view phc) {
  if (phc.size() >= crypto_pwhash_STRBYTES || !phc.starts_with(kPrefix) ||
      phc.find('\0') != std::string_view::npos) {
    return std::nullopt;
  }
  std::array<char, crypto_pwhash_STRBYTES> out{};
  phc.copy(out.data(), phc.size());
  return out;
}

}  // namespace

Result<std::string> HashPassword(std::string_view password, const Argon2idParams& params) {
  if (!SodiumReady()) return Fail(ErrorCode::kInternal, "libsodium failed to initialise");
  if (!InRange(params))
    return Fail(ErrorCode::kInvalidArgument, "Argon2id parameters out of range");
  std::array<char, crypto_pwhash_STRBYTES> out{};
  int status = 0;
  {
    const internal::LendKeptArgon2Memory lend;  // Argon2id's memory (argon2_memory.h)
    status = crypto_pwhash_str_alg(out.data(), password.data(), password.size(), params.iterations,
                                   params.memory_bytes, crypto_pwhash_ALG_ARGON2ID13);
  }
  if (status != 0) {
    return Fail(ErrorCode::kResourceExhausted, "Argon2id could not allocate its memory");
  }
  return std::string(out.data());
}

Result<bool> VerifyPassword(std::string_view phc, std::string_view password) {
  if (!SodiumReady()) return Fail(ErrorCode::kInternal, "libsodium failed to initialise");
  auto terminated = Terminated(phc);
  // needs_rehash parses the whole string and answers -1 for anything it cannot use, which
  // crypto_pwhash_str_verify would report exactly like a wrong password.
  if (!terminated || crypto_pwhash_str_needs_rehash(terminated->data(), crypto_pwhash_OPSLIMIT_MIN,
                                                    crypto_pwhash_MEMLIMIT_MIN) < 0) {
    return Fail(ErrorCode::kInvalidArgument, "not an Argon2id password hash");
  }
  const internal::LendKeptArgon2Memory lend;
  return crypto_pwhash_str_verify(terminated->data(), password.data(), password.size()) == 0;
}

bool PasswordHashNeedsUpgrade(std::string_view phc, const Argon2idParams& params) {
  if (!SodiumReady() || !InRange(params)) return false;
  auto terminated = Terminated(phc);
  return terminated && crypto_pwhash_str_needs_rehash(terminated->data(), params.iterations,
                                                      params.memory_bytes) == 1;
}

}  // namespace strongroom::crypto
