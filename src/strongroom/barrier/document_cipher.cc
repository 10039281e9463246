#include "strongroom/barrier/document_cipher.h"

#include "strongroom/barrier/field_cipher.h"

namespace strongroom::barrier {

std::uint64_t DocumentChunkCount(std::uint64_t size) {
  return size == 0 ? 1 : (size + kDocumentChunkSize - 1) / kDocumentChunkSize;
}

void EncodeDocumentChunkAad(const DocumentLocation& location, std::uint64_t index, bool final,
                            std::vector<std::uint8_t>& out) {
  out.clear();
  out.push_back(kDocumentFormatV1);
  AppendAadPart(out, location.tenant);
  AppendAadPart(out, location.subject);
  AppendAadPart(out, location.document_id);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>(index >> shift));
  }
  out.push_back(final ? 0x01 : 0x00);
}

Result<DocumentCipher> DocumentCipher::Create(std::span<const std::uint8_t> key) {
  auto aead = crypto::Aes256Gcm::Create(key);
  if (!aead) return std::unexpected(aead.error());
  return DocumentCipher(std::move(*aead));
}

Result<void> DocumentCipher::SealChunk(const DocumentLocation& location, std::uint64_t index,
                                       bool final, std::span<const std::uint8_t> plaintext,
                                       std::vector<std::uint8_t>& out) {
  if (plaintext.size() > kDocumentChunkSize) {
    return Fail(ErrorCode::kInvalidArgument, "document chunk larger than the chunk size");
  }
  if (index >= kMaxDocumentChunks) {
    return Fail(ErrorCode::kResourceExhausted, "document has more chunks than one key may seal");
  }
  out.resize(kDocumentChunkOverhead + plaintext.size());
  out[0] = kDocumentFormatV1;
  auto nonce = std::span(out).subspan<1, crypto::Aes256Gcm::kNonceSize>();
  if (auto drawn = crypto::NextNonce(nonce); !drawn) return std::unexpected(drawn.error());
  EncodeDocumentChunkAad(location, index, final, aad_);
  return aead_.Seal(nonce, aad_, plaintext, std::span(out).subspan(kDocumentChunkHeaderSize));
}

Result<void> DocumentCipher::OpenChunk(const DocumentLocation& location, std::uint64_t index,
                                       bool final, std::span<const std::uint8_t> sealed,
                                       std::vector<std::uint8_t>& out) {
  out.clear();
  if (sealed.size() < kDocumentChunkOverhead ||
      sealed.size() > kDocumentChunkOverhead + kDocumentChunkSize ||
      sealed[0] != kDocumentFormatV1) {
    return Fail(ErrorCode::kDataLoss, "not a document chunk of format v1");
  }
  EncodeDocumentChunkAad(location, index, final, aad_);
  out.resize(sealed.size() - kDocumentChunkOverhead);
  auto opened = aead_.Open(sealed.subspan<1, crypto::Aes256Gcm::kNonceSize>(), aad_,
                           sealed.subspan(kDocumentChunkHeaderSize), out);
  if (!opened) {
    out.clear();
    return Fail(ErrorCode::kDataLoss, "document chunk " + std::to_string(index) +
                                          " failed to authenticate (altered, moved, reordered "
                                          "or cut short)");
  }
  return {};
}

}  // namespace strongroom::barrier
