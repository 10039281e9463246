#include "strongroom/auth/password_policy.h"

#include "strongroom/auth/common_passwords.h"

#include <string.h>  // explicit_bzero
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>
#include <zxcvbn.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>

namespace strongroom::auth {
namespace {

// libunistring returns malloc'd buffers; these hold password text, so they are wiped first.
struct WipedBuffer {
  std::uint8_t* data = nullptr;
  std::size_t size = 0;
  WipedBuffer() = default;
  WipedBuffer(const WipedBuffer&) = delete;
  WipedBuffer& operator=(const WipedBuffer&) = delete;
  ~WipedBuffer() {
    if (data != nullptr) {
      explicit_bzero(data, size);
      std::free(data);
    }
  }
  std::string_view view() const { return {reinterpret_cast<const char*>(data), size}; }
};

const std::uint8_t* U8(std::string_view s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

bool Normalise(std::string_view text, WipedBuffer& out) {
  out.data = u8_normalize(UNINORM_NFKC, U8(text), text.size(), nullptr, &out.size);
  return out.data != nullptr;
}

bool CaseFold(std::string_view text, WipedBuffer& out) {
  out.data = u8_casefold(U8(text), text.size(), nullptr, UNINORM_NFKC, nullptr, &out.size);
  return out.data != nullptr;
}

Error Refuse(std::string rule, std::string message) {
  Error error(ErrorCode::kInvalidArgument, std::move(message));
  error.At("$.password", std::move(rule));
  return error;
}

bool HasControlCharacter(std::string_view utf8) {
  const std::uint8_t* at = U8(utf8);
  const std::uint8_t* end = at + utf8.size();
  while (at < end) {
    ucs4_t c = 0;
    const int n = u8_mbtoucr(&c, at, end - at);
    if (n <= 0) return true;
    if (c < 0x20 || (c >= 0x7f && c < 0xa0)) return true;
    at += n;
  }
  return false;
}

}  // namespace

PasswordPolicy::PasswordPolicy(PasswordPolicySettings settings,
                               const std::vector<std::string>& blocklist)
    : settings_(settings) {
  for (const std::string& entry : blocklist) {
    WipedBuffer folded;
    if (u8_check(U8(entry), entry.size()) == nullptr && CaseFold(entry, folded)) {
      blocklist_.emplace(folded.view());
    }
  }
}

Result<std::vector<std::string>> PasswordPolicy::LoadBlocklist(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Fail(ErrorCode::kFailedPrecondition, "cannot read " + file.string());
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseBlocklist(text, file.string());
}

Result<std::vector<std::string>> PasswordPolicy::ParseBlocklist(std::string_view text,
                                                                std::string_view origin) {
  std::vector<std::string> entries;
  int number = 0;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string line(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    if (u8_check(U8(line), line.size()) != nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  std::string(origin) + ":" + std::to_string(number) + ": not UTF-8");
    }
    entries.push_back(std::move(line));
  }
  return entries;
}

std::vector<std::string> PasswordPolicy::ShippedBlocklist() {
  auto entries = ParseBlocklist(CommonPasswordsText(), "data/common-passwords.txt");
  return entries ? std::move(*entries) : std::vector<std::string>();  // checked by a unit test
}

int PasswordPolicy::Strength(std::string_view password, std::span<const std::string> user_words) {
  std::vector<const char*> dictionary;
  for (const std::string& word : user_words) dictionary.push_back(word.c_str());
  dictionary.push_back(nullptr);
  std::string terminated(password);  // zxcvbn wants a C string
  const double bits = ZxcvbnMatch(terminated.c_str(), dictionary.data(), nullptr);
  explicit_bzero(terminated.data(), terminated.size());
  // zxcvbn's score from its guess estimate (guesses = 2^bits): < 10^3, 10^6, 10^8, 10^10.
  const double guesses_log10 = bits * std::log10(2.0);
  if (guesses_log10 < 3) return 0;
  if (guesses_log10 < 6) return 1;
  if (guesses_log10 < 8) return 2;
  if (guesses_log10 < 10) return 3;
  return 4;
}

Result<SecretBytes> NormalizePassword(std::string_view password) {
  if (u8_check(U8(password), password.size()) != nullptr) {
    return std::unexpected(Refuse("encoding", "the password is not valid UTF-8"));
  }
  WipedBuffer normalised;
  if (!Normalise(password, normalised)) {
    return Fail(ErrorCode::kResourceExhausted, "cannot normalise the password");
  }
  return SecretBytes(normalised.view());
}

Result<SecretBytes> PasswordPolicy::Check(std::string_view password, std::string_view username,
                                          std::span<const std::string_view> context) const {
  if (u8_check(U8(password), password.size()) != nullptr) {
    return std::unexpected(Refuse("encoding", "the password is not valid UTF-8"));
  }
  WipedBuffer normalised;
  if (!Normalise(password, normalised)) {
    return Fail(ErrorCode::kResourceExhausted, "cannot normalise the password");
  }
  if (HasControlCharacter(normalised.view())) {
    return std::unexpected(Refuse("encoding", "the password contains control characters"));
  }
  const std::size_t length = u8_mbsnlen(normalised.data, normalised.size);
  if (length < static_cast<std::size_t>(settings_.min_length)) {
    return std::unexpected(Refuse(
        "min_length",
        "the password must have at least " + std::to_string(settings_.min_length) + " characters"));
  }
  if (length > static_cast<std::size_t>(settings_.max_length)) {
    return std::unexpected(Refuse(
        "max_length",
        "the password may have at most " + std::to_string(settings_.max_length) + " characters"));
  }
  WipedBuffer folded;
  if (!CaseFold(normalised.view(), folded)) {
    return Fail(ErrorCode::kResourceExhausted, "cannot case-fold the password");
  }
  std::vector<std::string> user_words;
  WipedBuffer folded_user;
  if (!username.empty() && u8_check(U8(username), username.size()) == nullptr &&
      CaseFold(username, folded_user)) {
    if (folded_user.size >= 3 && folded.view().find(folded_user.view()) != std::string_view::npos) {
      return std::unexpected(Refuse("contains_username", "the password contains the username"));
    }
    user_words.emplace_back(folded_user.view());
  }
  if (blocklist_.contains(folded.view())) {
    return std::unexpected(
        Refuse("blocklisted", "the password is on the list of common or breached passwords"));
  }
  for (const std::string_view word : context) user_words.emplace_back(word);
  if (Strength(normalised.view(), user_words) < settings_.min_strength) {
    return std::unexpected(
        Refuse("too_weak",
               "the password is too easy to guess; a longer passphrase of unrelated "
               "words is both stronger and easier to remember"));
  }
  return SecretBytes(normalised.view());
}

}  // namespace strongroom::auth
