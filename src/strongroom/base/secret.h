#pragma once
// SecretBytes: the only type secrets (keys, tokens, passphrases) live in above the barrier.
//
// Move-only so a secret has exactly one owner and is never copied by accident. The bytes live in
// their own page-aligned anonymous mapping that is locked out of swap (mlock, best effort: an
// exhausted RLIMIT_MEMLOCK leaves it unlocked, see locked()) and excluded from core dumps
// (MADV_DONTDUMP); they are zeroed and unmapped when the owner is destroyed or assigned over.
// Printing it (operator<<, the logger) shows `<redacted:NB>`, never the bytes. Reading the
// bytes is explicit: `reveal()`. Not thread-safe: one owner, one thread at a time.

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <string_view>
#include <utility>

namespace strongroom {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::size_t size);  // zero-filled
  SecretBytes(std::span<const std::uint8_t> bytes);
  explicit SecretBytes(std::string_view text);
  ~SecretBytes();

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<const std::uint8_t> reveal() const { return {data_, size_}; }
  std::span<std::uint8_t> mutable_bytes() { return {data_, size_}; }
  std::string_view reveal_as_text() const {
    return {reinterpret_cast<const char*>(data_), size_};
  }
  // Whether the pages are locked in RAM (false when empty or when mlock was refused).
  bool locked() const { return locked_; }

 private:
  void Release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;  // bytes mapped: size_ rounded up to whole pages
  bool locked_ = false;
};

std::ostream& operator<<(std::ostream& out, const SecretBytes& secret);

}  // namespace strongroom
