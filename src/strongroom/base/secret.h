#pragma once
// SecretBytes: the only type secrets (keys, tokens, passphrases) live in above the barrier.
//
// Move-only so a secret has exactly one owner and is never copied by accident; the bytes are
// zeroed when the owner is destroyed or assigned over. Printing it (operator<<, the logger) shows
// `<redacted:NB>`, never the bytes. Reading the bytes is explicit: `reveal()`.
// Not thread-safe: one owner, one thread at a time, like std::vector.
// (Locking pages out of swap arrives with the key hierarchy, which owns long-lived key material.)

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string_view>
#include <vector>

namespace strongroom {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size) : bytes_(size) {}
  SecretBytes(std::span<const std::uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}
  explicit SecretBytes(std::string_view text)
      : bytes_(text.begin(), text.end()) {}
  ~SecretBytes();

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;

  std::size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  std::span<const std::uint8_t> reveal() const { return bytes_; }
  std::span<std::uint8_t> mutable_bytes() { return bytes_; }
  std::string_view reveal_as_text() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }

 private:
  void Wipe();
  std::vector<std::uint8_t> bytes_;
};

std::ostream& operator<<(std::ostream& out, const SecretBytes& secret);

}  // namespace strongroom
