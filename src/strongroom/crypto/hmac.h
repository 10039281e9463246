#pragma once
// HMAC-SHA-256 (RFC 2104, FIPS 198-1) with one key held in a reusable context: blind indexes
// and audit hashes compute many MACs under the same key. Compute() is const and safe to call from
// many threads at once: it only reads the keyed context (through a const pointer, as
// openssl-threads(7) allows) to duplicate it, and works on the duplicate. Moving is not.

#include <cstdint>
#include <memory>
#include <span>

#include "strongroom/base/error.h"
#include "strongroom/crypto/digest.h"

namespace strongroom::crypto {

class HmacSha256 {
 public:
  static Result<HmacSha256> Create(std::span<const std::uint8_t> key);
  ~HmacSha256();
  HmacSha256(HmacSha256&&) noexcept;
  HmacSha256& operator=(HmacSha256&&) noexcept;

  Result<Sha256Digest> Compute(std::span<const std::uint8_t> data) const;

 private:
  struct State;
  explicit HmacSha256(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace strongroom::crypto
