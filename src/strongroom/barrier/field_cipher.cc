#include "strongroom/barrier/field_cipher.h"

#include <cstring>

namespace strongroom::barrier {
namespace {

void PutU32(std::uint8_t* out, std::uint32_t v) {
  out[0] = static_cast<std::uint8_t>(v >> 24);
  out[1] = static_cast<std::uint8_t>(v >> 16);
  out[2] = static_cast<std::uint8_t>(v >> 8);
  out[3] = static_cast<std::uint8_t>(v);
}

}  // namespace

void AppendAadPart(std::vector<std::uint8_t>& out, std::string_view part) {
  const std::size_t at = out.size();
  out.resize(at + 4 + part.size());
  PutU32(out.data() + at, static_cast<std::uint32_t>(part.size()));
  if (!part.empty()) std::memcpy(out.data() + at + 4, part.data(), part.size());
}

void EncodeFieldAad(const FieldLocation& location, std::uint8_t format,
                    std::vector<std::uint8_t>& out) {
  out.clear();
  out.push_back(format);
  AppendAadPart(out, location.tenant);
  AppendAadPart(out, location.collection);
  AppendAadPart(out, location.record_id);
  AppendAadPart(out, location.field);
}

Result<FieldCipher> FieldCipher::Create(std::span<const std::uint8_t> key, std::uint32_t key_version,
                                        std::uint64_t max_encryptions) {
  if (max_encryptions > kMaxEncryptionsPerKey) {
    return Fail(ErrorCode::kInvalidArgument, "encryption budget above the safe maximum");
  }
  auto aead = crypto::Aes256Gcm::Create(key);
  if (!aead) return std::unexpected(aead.error());
  return FieldCipher(std::move(*aead), key_version, max_encryptions);
}

Result<std::vector<std::uint8_t>> FieldCipher::Encrypt(const FieldLocation& location,
                                                       std::span<const std::uint8_t> plaintext) {
  std::vector<std::uint8_t> out;
  if (auto done = EncryptTo(location, plaintext, out); !done) return std::unexpected(done.error());
  return out;
}

Result<void> FieldCipher::EncryptTo(const FieldLocation& location,
                                    std::span<const std::uint8_t> plaintext,
                                    std::vector<std::uint8_t>& out) {
  if (encryptions_ >= max_encryptions_) {
    return Fail(ErrorCode::kResourceExhausted,
                "data key version " + std::to_string(key_version_) +
                    " reached its encryption limit; rotate it");
  }
  out.resize(kFieldOverhead + plaintext.size());
  out[0] = kFieldFormatV1;
  PutU32(out.data() + 1, key_version_);
  auto nonce = std::span(out).subspan<5, crypto::Aes256Gcm::kNonceSize>();
  if (auto drawn = crypto::NextNonce(nonce); !drawn) return std::unexpected(drawn.error());
  EncodeFieldAad(location, kFieldFormatV1, aad_);
  // The key version is authenticated too: it is in the AAD by way of the header bytes below.
  aad_.insert(aad_.end(), out.begin() + 1, out.begin() + 5);
  if (auto sealed = aead_.Seal(nonce, aad_, plaintext, std::span(out).subspan(kFieldHeaderSize));
      !sealed) {
    return std::unexpected(sealed.error());
  }
  ++encryptions_;
  return {};
}

Result<std::uint32_t> FieldCipher::KeyVersionOf(std::span<const std::uint8_t> ciphertext) {
  if (ciphertext.size() < kFieldOverhead || ciphertext[0] != kFieldFormatV1) {
    return Fail(ErrorCode::kDataLoss, "not a field ciphertext of format v1");
  }
  return (std::uint32_t{ciphertext[1]} << 24) | (std::uint32_t{ciphertext[2]} << 16) |
         (std::uint32_t{ciphertext[3]} << 8) | std::uint32_t{ciphertext[4]};
}

Result<SecretBytes> FieldCipher::Decrypt(const FieldLocation& location,
                                         std::span<const std::uint8_t> ciphertext) {
  if (ciphertext.size() < kFieldOverhead) {
    return Fail(ErrorCode::kDataLoss, "not a field ciphertext of format v1");
  }
  SecretBytes plaintext(ciphertext.size() - kFieldOverhead);
  if (auto opened = DecryptInto(location, ciphertext, plaintext.mutable_bytes()); !opened) {
    return std::unexpected(opened.error());
  }
  return plaintext;
}

Result<void> FieldCipher::DecryptTo(const FieldLocation& location,
                                    std::span<const std::uint8_t> ciphertext,
                                    std::vector<std::uint8_t>& out) {
  out.resize(ciphertext.size() < kFieldOverhead ? 0 : ciphertext.size() - kFieldOverhead);
  auto opened = DecryptInto(location, ciphertext, out);
  if (!opened) out.clear();  // Open() has already zeroed what it wrote
  return opened;
}

Result<void> FieldCipher::DecryptInto(const FieldLocation& location,
                                      std::span<const std::uint8_t> ciphertext,
                                      std::span<std::uint8_t> out) {
  auto version = KeyVersionOf(ciphertext);
  if (!version) return std::unexpected(version.error());
  if (*version != key_version_) {
    return Fail(ErrorCode::kDataLoss, "field ciphertext names key version " +
                                          std::to_string(*version) + ", this key is version " +
                                          std::to_string(key_version_));
  }
  EncodeFieldAad(location, kFieldFormatV1, aad_);
  aad_.insert(aad_.end(), ciphertext.begin() + 1, ciphertext.begin() + 5);
  const auto nonce = ciphertext.subspan<5, crypto::Aes256Gcm::kNonceSize>();
  if (auto opened = aead_.Open(nonce, aad_, ciphertext.subspan(kFieldHeaderSize), out); !opened) {
    return Fail(ErrorCode::kDataLoss,
                "field ciphertext failed authentication (altered, truncated, or moved)");
  }
  return {};
}

}  // namespace strongroom::barrier
