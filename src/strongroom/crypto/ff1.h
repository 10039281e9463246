#pragma once
// FF1 format-preserving encryption (NIST SP 800-38G, March 2016, with Rev. 1's domain rule):
// encrypts a string of numerals in base `radix` into another string of the same length and
// radix (digits stay digits), under an AES key (128, 192 or 256 bits) and a public tweak.
//
// Used by desensitization (privacy/) for values that must keep their shape. FF1 is
// deterministic: the same key, tweak and input give the same output, so it hides values but not
// their equality; callers choose the tweak to scope that (tenant, field).
//
// An Ff1 holds its key as secret bytes and builds a fresh AES context per call: const calls
// are thread-safe. Written by hand on OpenSSL's AES and BIGNUM: neither OpenSSL nor any Debian
// library implements FF1. The tests run NIST's published FF1 samples (all nine).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"

namespace strongroom::crypto {

class Ff1 {
 public:
  static constexpr std::size_t kMaxNumerals = 4096;
  static constexpr std::size_t kMaxTweakBytes = 256;

  // invalid_argument unless the key has 16, 24 or 32 bytes and 2 <= radix <= 65536.
  static Result<Ff1> Create(std::span<const std::uint8_t> key, unsigned radix);

  // invalid_argument for a numeral >= radix, fewer numerals than the domain rule allows
  // (radix^n >= 1,000,000, n >= 2), more than kMaxNumerals, or a tweak over kMaxTweakBytes.
  Result<std::vector<std::uint16_t>> Encrypt(std::span<const std::uint16_t> numerals,
                                             std::span<const std::uint8_t> tweak) const;
  Result<std::vector<std::uint16_t>> Decrypt(std::span<const std::uint16_t> numerals,
                                             std::span<const std::uint8_t> tweak) const;

  // The same over text whose characters are all in `alphabet` (radix = alphabet size, at most
  // 256 single-byte characters): "0123456789" keeps digits digits. invalid_argument for a
  // character outside it.
  Result<std::string> EncryptText(std::string_view alphabet, std::string_view text,
                                  std::span<const std::uint8_t> tweak) const;
  Result<std::string> DecryptText(std::string_view alphabet, std::string_view text,
                                  std::span<const std::uint8_t> tweak) const;

  unsigned radix() const { return radix_; }

 private:
  Ff1(SecretBytes key, unsigned radix) : key_(std::move(key)), radix_(radix) {}
  Result<std::vector<std::uint16_t>> Run(std::span<const std::uint16_t> numerals,
                                         std::span<const std::uint8_t> tweak, bool encrypt) const;
  Result<std::string> RunText(std::string_view alphabet, std::string_view text,
                              std::span<const std::uint8_t> tweak, bool encrypt) const;

  SecretBytes key_;
  unsigned radix_;
};

}  // namespace strongroom::crypto
