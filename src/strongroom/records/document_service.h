#pragma once
// DocumentService: the documents (raw files: scans, PDFs, photos) of data subjects, streamed in
// and out in chunks so that no document is ever whole in memory, and stored encrypted in the
// documents store (documents.db), apart from every other kind of data:
//
//   documents  "<tenant>/<subject>/<document>"  manifest (JSON): id, subject, created_at, chunk
//                                               count, the document key wrapped under the
//                                               subject's DEK, and the encrypted metadata
//                                               (content type, size, plaintext SHA-256)
//   chunks     "<tenant>/<document>/<index>"    the chunks (barrier/document_cipher.h)
//   uploads    "<tenant>/<subject>/<document>"  present while an upload is unfinished
//   archived_documents  "<tenant>/<subject>/<document>"  the manifest of a document retention
//                                               moved into the archive (its chunks stay where
//                                               they are; docs/privacy.md "The archive")
//
// An upload's chunks are written in durable batches of kChunksPerWrite as they arrive; the
// manifest is written last, in one batch that also clears the upload marker, and only then is the
// upload acknowledged. An abandoned upload deletes its chunks; one cut short by a crash leaves its
// marker, and SweepAbandonedUploads() (run at start) deletes what it names.
//
// Thread-safe; a DocumentUpload or DocumentReader is used by one thread at a time. Borrows the
// stores and the seal state, which must outlive it and every upload and reader it made.

#include <array>
#include <boost/json/object.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/barrier/document_cipher.h"
#include "strongroom/barrier/seal_state.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/records/vault_service.h"
#include "strongroom/storage/store.h"

namespace strongroom::records {

inline constexpr std::uint64_t kDefaultMaxDocumentBytes = 64 << 20;
// 16 chunks of 64 KiB: an fsync per MiB uploaded, and at most 1 MiB of ciphertext in memory.
inline constexpr std::size_t kChunksPerWrite = 16;

class DocumentService;

// One upload in progress. Write() the plaintext in pieces of any size, then Commit(). Destroyed
// without a successful Commit(), it deletes the chunks it wrote.
class DocumentUpload {
 public:
  ~DocumentUpload();
  DocumentUpload(const DocumentUpload&) = delete;
  DocumentUpload& operator=(const DocumentUpload&) = delete;

  // payload_too_large past the service's limit; sealed if the vault was sealed meanwhile.
  Result<void> Write(std::span<const std::uint8_t> data);
  // Seals the last chunk, writes the manifest; the answer is the document's description.
  Result<boost::json::object> Commit();

 private:
  friend class DocumentService;
  DocumentUpload(DocumentService& service, std::shared_ptr<barrier::VaultKeys> keys,
                 std::string tenant, std::string subject, std::string id, std::string content_type,
                 barrier::DocumentCipher cipher, std::vector<std::uint8_t> wrapped_key);
  Result<void> SealPending(bool final);
  Result<void> Flush();
  void Discard();
  barrier::DocumentLocation location() const { return {tenant_, subject_, id_}; }

  DocumentService& service_;
  std::shared_ptr<barrier::VaultKeys> keys_;
  std::string tenant_, subject_, id_, content_type_;
  barrier::DocumentCipher cipher_;
  std::vector<std::uint8_t> wrapped_key_;
  crypto::Sha256Hasher hasher_;
  std::vector<std::uint8_t> pending_;  // plaintext of the chunk being filled (wiped)
  std::vector<std::uint8_t> sealed_;   // reused chunk ciphertext buffer
  storage::WriteBatch batch_;
  std::size_t chunks_in_batch_ = 0;
  std::uint64_t next_index_ = 0;     // chunks sealed so far
  std::uint64_t flushed_index_ = 0;  // chunks durable so far
  std::uint64_t size_ = 0;
  bool marker_written_ = false;
  bool committed_ = false;
  bool failed_ = false;
};

// A document being read: its type, size and digest, then its plaintext in order. Every chunk is
// authenticated before any of its bytes is returned; data_loss (and the security event
// `security.ciphertext_rejected`) for a chunk that was altered, moved, reordered or removed.
class DocumentReader {
 public:
  const std::string& content_type() const { return content_type_; }
  const crypto::Sha256Digest& sha256() const { return sha256_; }
  std::uint64_t size() const { return size_; }
  // Up to out.size() next bytes; 0 at the end.
  Result<std::size_t> Read(std::span<std::uint8_t> out);
  ~DocumentReader();

 private:
  friend class DocumentService;
  DocumentReader(storage::Store& store, std::string tenant, std::string subject, std::string id,
                 barrier::DocumentCipher cipher)
      : store_(store),
        tenant_(std::move(tenant)),
        subject_(std::move(subject)),
        id_(std::move(id)),
        cipher_(std::move(cipher)) {}
  Result<void> LoadChunk();

  storage::Store& store_;
  std::string tenant_, subject_, id_;
  barrier::DocumentCipher cipher_;
  std::string content_type_;
  crypto::Sha256Digest sha256_{};
  std::uint64_t size_ = 0;
  std::uint64_t chunks_ = 0;
  std::uint64_t next_chunk_ = 0;
  std::vector<std::uint8_t> plain_;  // the current chunk's plaintext (wiped)
  std::size_t offset_ = 0;           // into plain_
};

class DocumentService {
 public:
  DocumentService(storage::Store& metadata, storage::Store& documents, barrier::SealState& seal,
                  std::uint64_t max_document_bytes = kDefaultMaxDocumentBytes);

  std::uint64_t max_document_bytes() const { return max_document_bytes_; }

  // Starts an upload for an existing subject. `content_type` is the document's media type
  // (empty: application/octet-stream); invalid_argument if it is not one.
  Result<std::unique_ptr<DocumentUpload>> BeginUpload(std::string_view tenant,
                                                      std::string_view subject,
                                                      std::string_view content_type);
  // Opens a document for reading: checks the manifest, the key and the first chunk, so a
  // document damaged at the start fails here, before anything is sent.
  // With `archived`, one in retention's archive (read for the purpose legal only: the API's).
  Result<std::unique_ptr<DocumentReader>> Open(std::string_view tenant, std::string_view subject,
                                               std::string_view id, bool archived = false);
  // {"documents": [descriptions], "next_cursor"}; with `archived`, those in the archive (each
  // marked "archived": true).
  Result<boost::json::object> List(std::string_view tenant, std::string_view subject,
                                   const Page& page, bool archived = false);
  Result<void> Delete(std::string_view tenant, std::string_view subject, std::string_view id);
  // Deletes the chunks of uploads a crash cut short; returns how many uploads it cleared.
  Result<std::size_t> SweepAbandonedUploads();
  // Retention (records/retention.h): deletes the tenant's documents uploaded longer ago than the
  // shortest `days` of the rules naming "@documents" (by created_at; nothing is decrypted), or
  // moves them into the archive when the rules keep one (archive_days), and deletes archived
  // ones once their days and archive days are over (RetentionBounds).
  Result<void> SweepExpired(std::string_view tenant, std::span<const RetentionRule> rules,
                            const SweepControl& control, SweepResult& result);
  // Checkpoints the documents store (as VaultService::CheckpointStores).
  void CheckpointStore();

 private:
  friend class DocumentUpload;
  Result<void> SubjectExists(std::string_view tenant, std::string_view subject);
  Result<std::shared_ptr<barrier::VaultKeys>> Keys() const;
  // Decrypts a manifest's metadata into a description; fills the reader fields if given.
  Result<boost::json::object> Describe(barrier::VaultKeys& keys, std::string_view tenant,
                                       const boost::json::object& manifest, DocumentReader* reader);
  // Adds the deletion of the document whose manifest is at `key` of `space` and of its chunks
  // to `batch`; data_loss for a manifest without a valid chunk count.
  static Result<void> DeleteDocumentRows(std::string_view tenant, std::string_view space,
                                         const std::string& key, std::string_view id,
                                         const boost::json::object& manifest,
                                         storage::WriteBatch& batch);
  // Serialises a DELETE of a document with retention's move or deletion of it, so that neither
  // acts on a manifest the other has just removed (the archive would keep a document without
  // its chunks).
  std::mutex& DocumentLock(std::string_view id);

  storage::Store& metadata_;
  storage::Store& documents_;
  barrier::SealState& seal_;
  const std::uint64_t max_document_bytes_;
  std::array<std::mutex, 64> document_locks_;
};

}  // namespace strongroom::records
