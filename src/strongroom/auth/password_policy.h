#pragma once
// PasswordPolicy: which passwords a principal may choose, after NIST SP 800-63B §5.1.1.2.
//   - any Unicode, normalised to NFKC before it is checked or hashed (so the same password typed
//     on two keyboards is the same password), valid UTF-8 without control characters;
//   - a minimum length (default 12) and a maximum of at least 64, counted in characters;
//   - no composition rules; refused instead when zxcvbn (libzxcvbn, Dropbox's estimator in C)
//     scores it below a minimum (default 3 of 4: about 10^8 guesses or more), when it contains
//     the username, or when it is on the blocklist (a file of one password per line, compared
//     case-folded and normalised; the deployment's own list).
// Every refusal is invalid_argument with details.path "$.password" and a rule naming the check:
// encoding, min_length, max_length, contains_username, blocklisted, too_weak. Messages never
// quote the password.
//
// Immutable after construction; thread-safe.

#include <filesystem>
#include <functional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom::auth {

struct PasswordPolicySettings {
  int min_length = 12;   // characters (NIST's minimum is 8; we ask more)
  int max_length = 128;  // characters; NIST: at least 64
  int min_strength = 3;  // zxcvbn score 0-4
};

// The password as it is hashed and verified (NFKC), without the policy's checks: what a sign-in
// compares. invalid_argument (rule "encoding") when it is not valid UTF-8.
Result<SecretBytes> NormalizePassword(std::string_view password);

class PasswordPolicy {
 public:
  explicit PasswordPolicy(PasswordPolicySettings settings = {},
                          const std::vector<std::string>& blocklist = {});

  // One password per line (UTF-8; blank lines and lines starting with '#' ignored).
  static Result<std::vector<std::string>> LoadBlocklist(const std::filesystem::path& file);
  // The same format from text; `origin` names it in errors.
  static Result<std::vector<std::string>> ParseBlocklist(std::string_view text,
                                                         std::string_view origin);
  // The common passwords shipped with Strongroom (data/common-passwords.txt, compiled in).
  static std::vector<std::string> ShippedBlocklist();

  // The password as it is to be hashed (NFKC), or why it is refused. `context` words (the
  // tenant's name, the product's) count against the strength like the username does.
  Result<SecretBytes> Check(std::string_view password, std::string_view username,
                            std::span<const std::string_view> context = {}) const;

  // zxcvbn's score (0-4) of an already normalised password, with `user_words` as extra
  // dictionary words. Exposed for tests and for explaining a refusal.
  static int Strength(std::string_view password, std::span<const std::string> user_words);

 private:
  PasswordPolicySettings settings_;
  std::set<std::string, std::less<>> blocklist_;  // case-folded NFKC
};

}  // namespace strongroom::auth
