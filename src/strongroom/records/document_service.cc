#include "strongroom/records/document_service.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "strongroom/base/media_type.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/service_support.h"

namespace strongroom::records {

namespace json = boost::json;
using namespace internal;  // NOLINT(google-build-using-namespace): this module's own helpers

namespace {

bool IsDocumentId(std::string_view id) { return IsId(id, "doc_"); }

std::string ChunkKey(std::string_view tenant, std::string_view id, std::uint64_t index) {
  char digits[21];
  (void)std::snprintf(digits, sizeof digits, "%010llu", static_cast<unsigned long long>(index));
  return Join({tenant, id, digits});  // zero-padded: chunks scan in order
}

// Adds the deletion of chunks [from, to) of a document to `batch`.
void DeleteChunks(std::string_view tenant, std::string_view id, std::uint64_t from,
                  std::uint64_t to, storage::WriteBatch& batch) {
  for (std::uint64_t i = from; i < to; ++i) batch.Delete(kChunks, ChunkKey(tenant, id, i));
}

void Wipe(std::vector<std::uint8_t>& buffer) {
  std::fill(buffer.begin(), buffer.end(), std::uint8_t{0});
  buffer.clear();
}

}  // namespace

// ---- DocumentUpload -----------------------------------------------------------------------

DocumentUpload::DocumentUpload(DocumentService& service, std::shared_ptr<barrier::VaultKeys> keys,
                               std::string tenant, std::string subject, std::string id,
                               std::string content_type, barrier::DocumentCipher cipher,
                               std::vector<std::uint8_t> wrapped_key)
    : service_(service),
      keys_(std::move(keys)),
      tenant_(std::move(tenant)),
      subject_(std::move(subject)),
      id_(std::move(id)),
      content_type_(std::move(content_type)),
      cipher_(std::move(cipher)),
      wrapped_key_(std::move(wrapped_key)) {
  pending_.reserve(barrier::kDocumentChunkSize);
}

DocumentUpload::~DocumentUpload() {
  Wipe(pending_);
  if (!committed_) Discard();
}

Result<void> DocumentUpload::Write(std::span<const std::uint8_t> data) {
  if (failed_ || committed_) return Fail(ErrorCode::kFailedPrecondition, "the upload is over");
  if (size_ + pending_.size() + data.size() > service_.max_document_bytes_) {
    failed_ = true;
    return Fail(ErrorCode::kPayloadTooLarge,
                "document exceeds " + std::to_string(service_.max_document_bytes_) + " bytes");
  }
  while (!data.empty()) {
    // A full chunk is sealed only once a byte after it arrives: until then it may be the last.
    if (pending_.size() == barrier::kDocumentChunkSize) {
      if (auto sealed = SealPending(false); !sealed) return sealed;
    }
    const std::size_t take = std::min(data.size(), barrier::kDocumentChunkSize - pending_.size());
    pending_.insert(pending_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data = data.subspan(take);
  }
  return {};
}

Result<void> DocumentUpload::SealPending(bool final) {
  auto sealed = cipher_.SealChunk(location(), next_index_, final, pending_, sealed_);
  if (!sealed) {
    failed_ = true;
    return sealed;
  }
  batch_.Put(kChunks, ChunkKey(tenant_, id_, next_index_), std::move(sealed_));
  sealed_ = {};
  hasher_.Update(pending_);
  size_ += pending_.size();
  Wipe(pending_);
  ++next_index_;
  if (++chunks_in_batch_ >= kChunksPerWrite && !final) return Flush();
  return {};
}

Result<void> DocumentUpload::Flush() {
  if (service_.seal_.sealed()) {
    failed_ = true;
    return Fail(ErrorCode::kSealed, "the vault was sealed during the upload");
  }
  // Held until the chunks are durable: an erasure of the subject waits for them (and deletes
  // them with the upload's marker), or came first and nothing more is written.
  barrier::SubjectGate::WriteGuard guard;
  service_.seal_.gate().Enter(guard, tenant_, subject_);
  if (service_.seal_.gate().IsErased(tenant_, subject_)) {
    failed_ = true;
    return Fail(ErrorCode::kNotFound, "no such subject");
  }
  if (!marker_written_) batch_.Put(kUploads, Join({tenant_, subject_, id_}), {});
  auto written = service_.documents_.Write(std::move(batch_));
  batch_ = {};
  chunks_in_batch_ = 0;
  if (!written) {
    failed_ = true;
    return written;
  }
  marker_written_ = true;
  flushed_index_ = next_index_;
  return {};
}

Result<json::object> DocumentUpload::Commit() {
  if (failed_ || committed_) return Fail(ErrorCode::kFailedPrecondition, "the upload is over");
  if (auto sealed = SealPending(true); !sealed) return std::unexpected(sealed.error());
  if (service_.seal_.sealed()) {
    failed_ = true;
    return Fail(ErrorCode::kSealed, "the vault was sealed during the upload");
  }
  barrier::SubjectGate::WriteGuard guard;  // as in Flush; Encrypt below checks the gate
  service_.seal_.gate().Enter(guard, tenant_, subject_);
  const std::string sha256 = crypto::HexEncode(hasher_.Finish());
  const std::string created_at = Now();
  const std::string meta = json::serialize(
      json::object{{"content_type", content_type_}, {"size", size_}, {"sha256", sha256}});
  std::vector<std::uint8_t> meta_ciphertext;
  const barrier::EncryptItem item{
      {tenant_, barrier::kDocumentsCollection, id_, "meta"}, AsBytes(meta), &meta_ciphertext};
  if (auto encrypted = keys_->barrier->Encrypt(tenant_, subject_, std::span(&item, 1));
      !encrypted) {
    failed_ = true;
    return std::unexpected(encrypted.error());
  }
  const json::object manifest{{"id", id_},
                              {"subject", subject_},
                              {"created_at", created_at},
                              {"chunks", next_index_},
                              {"key", crypto::Base64UrlEncode(wrapped_key_)},
                              {"meta", crypto::Base64UrlEncode(meta_ciphertext)}};
  batch_.Put(kDocuments, Join({tenant_, subject_, id_}), Serialize(manifest));
  if (marker_written_) batch_.Delete(kUploads, Join({tenant_, subject_, id_}));
  auto written = service_.documents_.Write(std::move(batch_));
  batch_ = {};
  if (!written) {
    failed_ = true;
    return std::unexpected(written.error());
  }
  committed_ = true;
  return json::object{{"id", id_},     {"subject", subject_}, {"content_type", content_type_},
                      {"size", size_}, {"sha256", sha256},    {"created_at", created_at}};
}

void DocumentUpload::Discard() {
  if (flushed_index_ == 0 && !marker_written_) return;  // nothing of it reached the store
  storage::WriteBatch batch;
  DeleteChunks(tenant_, id_, 0, flushed_index_, batch);
  batch.Delete(kUploads, Join({tenant_, subject_, id_}));
  if (auto written = service_.documents_.Write(std::move(batch)); !written) {
    // The marker stays, so the sweep at the next start finishes the job.
    observe::Warn("documents.discard_failed",
                  {{"tenant", tenant_}, {"document", id_}, {"reason", written.error().message()}});
  }
}

// ---- DocumentReader -----------------------------------------------------------------------

DocumentReader::~DocumentReader() { Wipe(plain_); }

Result<std::size_t> DocumentReader::Read(std::span<std::uint8_t> out) {
  if (offset_ == plain_.size()) {
    if (next_chunk_ == chunks_) return 0;
    if (auto loaded = LoadChunk(); !loaded) return std::unexpected(loaded.error());
  }
  const std::size_t n = std::min(out.size(), plain_.size() - offset_);
  std::memcpy(out.data(), plain_.data() + offset_, n);
  offset_ += n;
  return n;
}

Result<void> DocumentReader::LoadChunk() {
  const std::uint64_t index = next_chunk_;
  const bool final = index + 1 == chunks_;
  const auto rejected = [&](std::string message) -> Result<void> {
    LogRejectedCiphertext(tenant_, barrier::kDocumentsCollection, id_,
                          "chunk " + std::to_string(index));
    return Fail(ErrorCode::kDataLoss, std::move(message));
  };
  auto stored = store_.Get(kChunks, ChunkKey(tenant_, id_, index));
  if (!stored) return std::unexpected(stored.error());
  Wipe(plain_);
  offset_ = 0;
  if (!*stored) return rejected("document chunk " + std::to_string(index) + " is missing");
  if (auto opened = cipher_.OpenChunk({tenant_, subject_, id_}, index, final, **stored, plain_);
      !opened) {
    return rejected(opened.error().message());
  }
  const std::uint64_t expected =
      final ? size_ - index * barrier::kDocumentChunkSize : barrier::kDocumentChunkSize;
  if (plain_.size() != expected) {
    Wipe(plain_);
    return rejected("document chunk " + std::to_string(index) + " has the wrong size");
  }
  ++next_chunk_;
  return {};
}

// ---- DocumentService ----------------------------------------------------------------------

DocumentService::DocumentService(storage::Store& metadata, storage::Store& documents,
                                 barrier::SealState& seal, std::uint64_t max_document_bytes)
    : metadata_(metadata),
      documents_(documents),
      seal_(seal),
      max_document_bytes_(max_document_bytes) {}

Result<std::shared_ptr<barrier::VaultKeys>> DocumentService::Keys() const {
  auto keys = seal_.keys();
  if (!keys) return Fail(ErrorCode::kSealed, "the vault is sealed; unseal it first");
  return keys;
}

Result<void> DocumentService::SubjectExists(std::string_view tenant, std::string_view subject) {
  if (!IsSubjectId(subject)) return Fail(ErrorCode::kNotFound, "no such subject");
  auto found = metadata_.Get(kSubjects, Join({tenant, subject}));
  if (!found) return std::unexpected(found.error());
  if (!*found) return Fail(ErrorCode::kNotFound, "no such subject");
  return {};
}

Result<std::unique_ptr<DocumentUpload>> DocumentService::BeginUpload(
    std::string_view tenant, std::string_view subject, std::string_view content_type) {
  const std::string_view type = content_type.empty() ? "application/octet-stream" : content_type;
  if (!IsMediaType(type)) {
    return FailAt("Content-Type", "media_type",
                  "Content-Type must be a media type such as application/pdf (at most 255 "
                  "characters)");
  }
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  // Wrapping the document's key may save a reservation (a write of the subject's wrapped key):
  // held like any write (vault_service.h), so an erasure never finds its key rewritten after.
  barrier::SubjectGate::WriteGuard guard;
  seal_.gate().Enter(guard, tenant, subject);
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  auto id = NewId("doc_");
  if (!id) return std::unexpected(id.error());
  auto key = (*keys)->barrier->NewDocumentKey(tenant, subject, *id);
  if (!key) return std::unexpected(key.error());
  return std::unique_ptr<DocumentUpload>(new DocumentUpload(
      *this, std::move(*keys), std::string(tenant), std::string(subject), std::move(*id),
      std::string(type), std::move(key->cipher), std::move(key->wrapped)));
}

Result<json::object> DocumentService::Describe(barrier::VaultKeys& keys, std::string_view tenant,
                                               const json::object& manifest,
                                               DocumentReader* reader) {
  const auto text = [&](std::string_view name) -> std::string_view {
    const auto* v = manifest.if_contains(name);
    return v != nullptr && v->is_string() ? std::string_view(v->get_string()) : "";
  };
  const std::string_view id = text("id"), subject = text("subject");
  const auto* chunks = manifest.if_contains("chunks");
  auto meta_ciphertext = crypto::Base64UrlDecode(text("meta"));
  if (!IsDocumentId(id) || !IsSubjectId(subject) || chunks == nullptr || !chunks->is_int64() ||
      !meta_ciphertext) {
    return Fail(ErrorCode::kDataLoss, "a stored document manifest is malformed");
  }
  auto meta = keys.barrier->Decrypt(
      tenant, subject, {tenant, barrier::kDocumentsCollection, id, "meta"}, *meta_ciphertext);
  if (!meta) {
    if (meta.error().code() == ErrorCode::kDataLoss) {
      LogRejectedCiphertext(tenant, barrier::kDocumentsCollection, id, "meta");
    }
    return std::unexpected(meta.error());
  }
  boost::system::error_code ec;
  const json::value parsed = json::parse(meta->reveal_as_text(), ec);
  const auto* o = parsed.if_object();
  const auto* content_type = o ? o->if_contains("content_type") : nullptr;
  const auto* size = o ? o->if_contains("size") : nullptr;
  const auto* sha256 = o ? o->if_contains("sha256") : nullptr;
  if (ec || content_type == nullptr || !content_type->is_string() || size == nullptr ||
      !(size->is_uint64() || size->is_int64()) || sha256 == nullptr || !sha256->is_string()) {
    return Fail(ErrorCode::kDataLoss, "a stored document's metadata is malformed");
  }
  const std::uint64_t bytes = size->to_number<std::uint64_t>();
  // The chunk count in the clear must agree with the authenticated size, or chunks were cut.
  if (static_cast<std::uint64_t>(chunks->get_int64()) != barrier::DocumentChunkCount(bytes)) {
    LogRejectedCiphertext(tenant, barrier::kDocumentsCollection, id, "chunks");
    return Fail(ErrorCode::kDataLoss, "a stored document's chunk count was altered");
  }
  if (reader != nullptr) {
    auto digest = crypto::HexDecode(sha256->get_string());
    if (!digest || digest->size() != reader->sha256_.size()) {
      return Fail(ErrorCode::kDataLoss, "a stored document's digest is malformed");
    }
    std::copy(digest->begin(), digest->end(), reader->sha256_.begin());
    reader->content_type_ = content_type->get_string();
    reader->size_ = bytes;
    reader->chunks_ = barrier::DocumentChunkCount(bytes);
  }
  return json::object{{"id", id},
                      {"subject", subject},
                      {"content_type", content_type->get_string()},
                      {"size", bytes},
                      {"sha256", sha256->get_string()},
                      {"created_at", text("created_at")}};
}

Result<std::unique_ptr<DocumentReader>> DocumentService::Open(std::string_view tenant,
                                                              std::string_view subject,
                                                              std::string_view id, bool archived) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  if (!IsDocumentId(id)) return Fail(ErrorCode::kNotFound, "no such document");
  auto stored =
      documents_.Get(archived ? kArchivedDocuments : kDocuments, Join({tenant, subject, id}));
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such document");
  auto manifest = ParseStored(**stored, "document");
  if (!manifest) return std::unexpected(manifest.error());
  const auto* key = manifest->if_contains("key");
  auto wrapped = key != nullptr && key->is_string() ? crypto::Base64UrlDecode(key->get_string())
                                                    : std::nullopt;
  if (!wrapped) return Fail(ErrorCode::kDataLoss, "a stored document manifest is malformed");
  auto cipher = (*keys)->barrier->OpenDocumentKey(tenant, subject, id, *wrapped);
  if (!cipher) {
    if (cipher.error().code() == ErrorCode::kDataLoss) {
      LogRejectedCiphertext(tenant, barrier::kDocumentsCollection, id, "key");
    }
    return std::unexpected(cipher.error());
  }
  std::unique_ptr<DocumentReader> reader(new DocumentReader(
      documents_, std::string(tenant), std::string(subject), std::string(id), std::move(*cipher)));
  if (auto described = Describe(**keys, tenant, *manifest, reader.get()); !described) {
    return std::unexpected(described.error());
  }
  if (auto first = reader->LoadChunk(); !first) return std::unexpected(first.error());
  return reader;
}

Result<json::object> DocumentService::List(std::string_view tenant, std::string_view subject,
                                           const Page& page, bool archived) {
  auto keys = Keys();
  if (!keys) return std::unexpected(keys.error());
  if (auto exists = SubjectExists(tenant, subject); !exists) {
    return std::unexpected(exists.error());
  }
  return StoredObjectPage(documents_, archived ? kArchivedDocuments : kDocuments,
                          Join({tenant, subject}) + "/", page, "documents", &IsDocumentId,
                          [&](const json::object& manifest) -> Result<json::object> {
                            auto described = Describe(**keys, tenant, manifest, nullptr);
                            if (described && archived) (*described)["archived"] = true;
                            return described;
                          });
}

std::mutex& DocumentService::DocumentLock(std::string_view id) {
  return document_locks_[std::hash<std::string_view>{}(id) % document_locks_.size()];
}

Result<void> DocumentService::Delete(std::string_view tenant, std::string_view subject,
                                     std::string_view id) {
  if (auto exists = SubjectExists(tenant, subject); !exists) return exists;
  if (!IsDocumentId(id)) return Fail(ErrorCode::kNotFound, "no such document");
  const std::lock_guard lock(DocumentLock(id));
  const std::string key = Join({tenant, subject, id});
  auto stored = documents_.Get(kDocuments, key);
  if (!stored) return std::unexpected(stored.error());
  if (!*stored) return Fail(ErrorCode::kNotFound, "no such document");
  auto manifest = ParseStored(**stored, "document");
  if (!manifest) return std::unexpected(manifest.error());
  storage::WriteBatch batch;
  if (auto rows = DeleteDocumentRows(tenant, kDocuments, key, id, *manifest, batch); !rows) {
    return rows;
  }
  return documents_.Write(std::move(batch));  // secure_delete: the pages are zeroed
}

Result<void> DocumentService::SweepExpired(std::string_view tenant,
                                           std::span<const RetentionRule> rules,
                                           const SweepControl& control, SweepResult& result) {
  result.purged.resize(rules.size());
  result.archived.resize(rules.size());
  result.archive_purged.resize(rules.size());
  const RetentionBounds bounds = BoundsNaming(rules, kDocumentsData);
  if (bounds.live < 0) return {};
  const auto& live = rules[static_cast<std::size_t>(bounds.live)];
  const auto& whole = rules[static_cast<std::size_t>(bounds.whole)];
  // Before `purge_cutoff` a document is deleted (live or archived: `whole`'s days and archive
  // days are over); a live one before `live_cutoff` is archived when the rules keep an archive,
  // else deleted (under `live`).
  const auto live_cutoff = control.now - std::chrono::days(live.days);
  const auto purge_cutoff = control.now - std::chrono::days(TotalDays(whole));
  const bool archive = bounds.Archives(rules);
  // Keys are "<subject>/<document>" under the tenant; a document is deleted or moved in a write
  // of its own (it may have a thousand chunks), under its lock and re-read there.
  const std::string prefix = std::string(tenant) + "/";
  const std::size_t batch_size = std::max<std::size_t>(control.batch, 1);
  for (const std::string_view space : {kDocuments, kArchivedDocuments}) {
    const bool archived_stage = space == kArchivedDocuments;
    std::string after;
    for (;;) {  // bounded: every page moves `after` forward, and a short page ends it
      std::vector<std::string> expired;
      std::size_t seen = 0;
      auto scanned = ScanPrefix(
          documents_, space, prefix, after, batch_size,
          [&](std::string_view key, const storage::Bytes& value) {
            ++seen;
            after = key;
            auto manifest = ParseStored(value, "document");
            const auto* at = manifest ? manifest->if_contains("created_at") : nullptr;
            const auto created =
                at != nullptr && at->is_string() ? ParseRfc3339(at->get_string()) : std::nullopt;
            const std::string_view subject = key.substr(0, key.find('/'));
            if (!created) {
              ++result.unreadable;
            } else if (*created >= (archived_stage ? purge_cutoff : live_cutoff)) {
              return true;
            } else if (control.held != nullptr && control.held->contains(subject)) {
              ++result.held;
            } else {
              expired.emplace_back(key);
            }
            return true;
          });
      if (!scanned) return std::unexpected(scanned.error());
      result.scanned += seen;
      std::size_t purged = 0, archived = 0;
      for (const auto& key : expired) {
        const auto slash = key.find('/');
        const std::string_view subject = std::string_view(key).substr(0, slash);
        const std::string_view id = std::string_view(key).substr(slash + 1);
        const std::lock_guard lock(DocumentLock(id));
        auto stored = documents_.Get(space, prefix + key);
        if (!stored) return std::unexpected(stored.error());
        if (!*stored) continue;  // deleted meanwhile
        auto manifest = ParseStored(**stored, "document");
        if (!manifest) continue;  // counted as unreadable by the scan
        const auto* at = manifest->if_contains("created_at");
        const auto created =
            at != nullptr && at->is_string() ? ParseRfc3339(at->get_string()) : std::nullopt;
        if (!created) continue;
        const bool move = !archived_stage && archive && *created >= purge_cutoff;
        storage::WriteBatch batch;
        // A manifest without a valid chunk count could never be deleted from the archive: it
        // stays where it is, counted unreadable (as the delete path does).
        if (storage::WriteBatch check;
            move && !DeleteDocumentRows(tenant, space, prefix + key, id, *manifest, check)) {
          ++result.unreadable;
          continue;
        }
        barrier::SubjectGate::WriteGuard guard;  // a move writes a row of the subject
        if (move) {
          if (!control.dry_run) {
            seal_.gate().Enter(guard, tenant, subject);
            if (seal_.gate().IsErased(tenant, subject)) continue;  // its erasure deletes it
            batch.Delete(kDocuments, prefix + key);
            batch.Put(kArchivedDocuments, prefix + key, std::move(**stored));
          }
        } else if (auto rows =
                       DeleteDocumentRows(tenant, space, prefix + key, id, *manifest, batch);
                   !rows) {
          ++result.unreadable;
          continue;
        }
        if (!control.dry_run) {
          if (auto written = documents_.Write(std::move(batch)); !written) return written;
        }
        if (move) {
          ++archived;
          ++result.archived[static_cast<std::size_t>(bounds.live)];
        } else {
          ++purged;
          const int rule = archived_stage || *created < purge_cutoff ? bounds.whole : bounds.live;
          ++(archived_stage ? result.archive_purged
                            : result.purged)[static_cast<std::size_t>(rule)];
        }
      }
      if (control.pace && !control.pace(seen, purged, archived)) {
        result.stopped = true;
        return {};
      }
      if (seen < batch_size) break;
    }
  }
  return {};
}

void DocumentService::CheckpointStore() {
  if (auto done = documents_.Checkpoint(); !done) {
    observe::Warn("retention.checkpoint_failed",
                  {{"store", "documents"}, {"reason", done.error().message()}});
  }
}

Result<void> DocumentService::DeleteDocumentRows(std::string_view tenant, std::string_view space,
                                                 const std::string& key, std::string_view id,
                                                 const json::object& manifest,
                                                 storage::WriteBatch& batch) {
  const auto* chunks = manifest.if_contains("chunks");
  if (chunks == nullptr || !chunks->is_int64() || chunks->get_int64() < 1 ||
      static_cast<std::uint64_t>(chunks->get_int64()) > barrier::kMaxDocumentChunks) {
    return Fail(ErrorCode::kDataLoss, "a stored document manifest is malformed");
  }
  batch.Delete(space, key);
  DeleteChunks(tenant, id, 0, static_cast<std::uint64_t>(chunks->get_int64()), batch);
  return {};
}

Result<std::size_t> DocumentService::SweepAbandonedUploads() {
  std::size_t swept = 0;
  // Bounded: each round deletes what it scanned, so the marker space shrinks every time.
  for (int round = 0; round < 1'000'000; ++round) {
    auto markers = documents_.Scan(kUploads, "", 1);
    if (!markers) return std::unexpected(markers.error());
    if (markers->empty()) return swept;
    const std::string& marker = markers->front().key;
    const auto first = marker.find('/'), last = marker.rfind('/');
    storage::WriteBatch batch;
    batch.Delete(kUploads, marker);
    if (first != std::string::npos && last != first) {
      const std::string prefix = Join({std::string_view(marker).substr(0, first),
                                       std::string_view(marker).substr(last + 1)}) +
                                 "/";
      auto scanned = ScanPrefix(documents_, kChunks, prefix, "", barrier::kMaxDocumentChunks,
                                [&](std::string_view suffix, const storage::Bytes&) {
                                  batch.Delete(kChunks, prefix + std::string(suffix));
                                  return true;
                                });
      if (!scanned) return std::unexpected(scanned.error());
    }
    if (auto written = documents_.Write(std::move(batch)); !written) {
      return std::unexpected(written.error());
    }
    ++swept;
  }
  return swept;
}

}  // namespace strongroom::records
