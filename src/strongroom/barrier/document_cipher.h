#pragma once
// DocumentCipher: encrypts a document (a raw file of any size) as a sequence of independently
// authenticated chunks, so it can be written and read as a stream and never held whole in
// memory. Format v1, byte by byte in docs/formats/document-v1.md:
//
//   each chunk: format (1 byte, 0x01) | nonce (12) | ciphertext | tag (16)
//   plaintext chunks are kDocumentChunkSize bytes, except the last (0..kDocumentChunkSize)
//
// Each chunk's associated data is the document's location (tenant, subject, document id), the
// chunk's index and a final flag set only on the last chunk. So a reordered chunk (wrong index),
// a chunk spliced in from another document (wrong location or key), and a document cut short
// at a chunk boundary (no chunk carries the final flag where the reader expects it) all fail
// with data_loss. This is the chunked-AEAD construction of age and Tink's streaming AEAD (STREAM,
// Hoang et al., CRYPTO 2015) with the counter and flag in the AAD instead of the nonce.
//
// Keys: one random 256-bit key per document, made and wrapped by the DataBarrier under the
// subject's DEK; with random 96-bit nonces a key may seal 2^32 chunks (NIST SP 800-38D §8.3),
// and a document is capped at kMaxDocumentChunks, far below.
//
// NOT thread-safe (one AES-GCM context): one instance per stream.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/crypto/aead.h"

namespace strongroom::barrier {

struct DocumentLocation {
  std::string_view tenant;
  std::string_view subject;
  std::string_view document_id;
};

inline constexpr std::uint8_t kDocumentFormatV1 = 0x01;
inline constexpr std::size_t kDocumentChunkSize = 64 << 10;
inline constexpr std::size_t kDocumentChunkHeaderSize = 1 + crypto::Aes256Gcm::kNonceSize;
inline constexpr std::size_t kDocumentChunkOverhead =
    kDocumentChunkHeaderSize + crypto::Aes256Gcm::kTagSize;
// 2^20 chunks (64 GiB): a 2^12 margin below the random-nonce bound of one key.
inline constexpr std::uint64_t kMaxDocumentChunks = std::uint64_t{1} << 20;

// The number of chunks a document of `size` plaintext bytes is stored in (an empty document is
// one empty, final chunk).
std::uint64_t DocumentChunkCount(std::uint64_t size);

class DocumentCipher {
 public:
  // `key` is the document's own 32-byte key (DataBarrier::NewDocumentKey / OpenDocumentKey).
  static Result<DocumentCipher> Create(std::span<const std::uint8_t> key);

  // Seals chunk `index` (at most kDocumentChunkSize bytes) into `out` (resized to fit).
  Result<void> SealChunk(const DocumentLocation& location, std::uint64_t index, bool final,
                         std::span<const std::uint8_t> plaintext, std::vector<std::uint8_t>& out);
  // Opens chunk `index`, which the caller expects to be the final one or not; anything that does
  // not authenticate as exactly that chunk of that document is data_loss, and `out` is left
  // empty.
  Result<void> OpenChunk(const DocumentLocation& location, std::uint64_t index, bool final,
                         std::span<const std::uint8_t> sealed, std::vector<std::uint8_t>& out);

 private:
  explicit DocumentCipher(crypto::Aes256Gcm aead) : aead_(std::move(aead)) {}
  void EncodeAad(const DocumentLocation& location, std::uint64_t index, bool final);

  crypto::Aes256Gcm aead_;
  std::vector<std::uint8_t> aad_;  // reused buffer
};

// The associated data of a chunk (exposed for tests and the format document): the format byte,
// tenant, subject and document id each as a 4-byte big-endian length and its bytes, the chunk
// index (8 bytes, big-endian) and the final flag (1 byte: 0x01 final, 0x00 not).
void EncodeDocumentChunkAad(const DocumentLocation& location, std::uint64_t index, bool final,
                            std::vector<std::uint8_t>& out);

}  // namespace strongroom::barrier
