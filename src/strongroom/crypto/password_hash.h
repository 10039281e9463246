#pragma once
// Password hashes: Argon2id (RFC 9106) in the PHC string format
//   $argon2id$v=19$m=<KiB>,t=<iterations>,p=1$<salt, base64>$<hash, base64>
// through libsodium's crypto_pwhash_str API, so a stored hash names its own parameters: they can
// be raised later, and a hash made with older ones is upgraded at the holder's next successful
// sign-in (PasswordHashNeedsUpgrade). The salt is 16 random bytes per hash; the hash 32 bytes.
//
// Argon2id is CPU- and memory-heavy by design: never call these on an I/O thread. Stateless;
// thread-safe. Passwords are taken as views: the caller owns (and wipes) their memory.

#include <string>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/crypto/kdf.h"

namespace strongroom::crypto {

// invalid_argument for parameters out of range; resource_exhausted if the memory cannot be had.
Result<std::string> HashPassword(std::string_view password, const Argon2idParams& params);

// true when `password` matches `phc`, false when it does not. invalid_argument when `phc` is not
// an Argon2id PHC string (a stored hash that fails this is damaged: treat as data_loss).
Result<bool> VerifyPassword(std::string_view phc, std::string_view password);

// True when `phc` (valid) was made with other parameters than `params`.
bool PasswordHashNeedsUpgrade(std::string_view phc, const Argon2idParams& params);

}  // namespace strongroom::crypto
