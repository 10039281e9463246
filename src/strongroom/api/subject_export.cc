// GET /v1/subjects/{id}/export: everything held about one data subject (GDPR arts. 15 and 20,
// CCPA "right to know"), as a signed, streamed JSON Lines archive (docs/formats/export-v1.md).
//
// The archive is produced while it is sent (chunked transfer coding: its length is known only at
// its end), one page of the stores at a time, so a subject with many records or large documents
// costs a bounded amount of memory. Its first line states how much there is (the client's
// progress); its last line signs the SHA-256 of every line before it with the vault's export key
// (Ed25519, derived from the root key: docs/keys.md). A stream cut short by an error has no
// signature line, so a truncated archive never verifies.
//
// What the caller may take: the policy's export action on @subjects lets the call run; records
// show the fields the caller's export view of their collection shows plain (the others are named
// under "withheld"; a collection it may not export at all is left out and counted); activity and
// documents come only where the caller may export @activity and @documents (the guardrail keeps
// both from administrators and operators), else a "withheld" line says so. Audit entries come as
// a projection (what was done, when, for which purpose, by what kind of principal, with what
// outcome), never the staff's ids, credentials or addresses, nor other subjects. The subject's
// choices are weighed first, like any read (a restricted subject is exported only for the
// purposes legal or subject-request). The first lines are read before the answer starts, so
// a failure there is an ordinary error answer.

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <map>

#include "strongroom/api/api_support.h"
#include "strongroom/api/vault_api.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/signature.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Method;
using http::Request;

constexpr std::string_view kFormat = "strongroom-export/v1";
// HKDF info of the export signing key (docs/keys.md).
constexpr std::string_view kExportSignInfo = "strongroom/export/sign/v1";
constexpr std::size_t kRecordPage = 50;
constexpr std::size_t kEventPage = 200;
constexpr std::size_t kDocumentChunk =
    std::size_t{48} * 1024;  // bytes of a document per line (64 KiB base64)
constexpr std::size_t kAuditChunk = 512;
// A "progress" line at least this often while the trail is scanned without a match, so a long
// scan keeps the stream (and the client's timeout) moving.
constexpr std::uint64_t kAuditProgressEvery = 16 * kAuditChunk;

// What an export says of one audit entry about the subject: no actor id, credential or source,
// and of the resource only this subject and the collection.
json::object AuditProjection(const json::object& entry, std::string_view pseudonym) {
  json::object out;
  for (const std::string_view key : {"seq", "time", "action", "purpose"}) {
    if (const auto* v = entry.if_contains(key)) out[key] = *v;
  }
  if (const auto* actor = entry.if_contains("actor"); actor != nullptr && actor->is_object()) {
    json::object who;
    for (const std::string_view key : {"kind", "roles", "via"}) {
      if (const auto* v = actor->as_object().if_contains(key)) who[key] = *v;
    }
    out["actor"] = std::move(who);
  } else {
    out["actor"] = nullptr;
  }
  if (const auto* resource = entry.if_contains("resource");
      resource != nullptr && resource->is_object()) {
    json::object shown;
    if (const auto* c = resource->as_object().if_contains("collection")) shown["collection"] = *c;
    shown["subject"] = pseudonym;
    out["resource"] = std::move(shown);
  }
  if (const auto* fields = entry.if_contains("fields")) out["fields"] = *fields;
  if (const auto* outcome = entry.if_contains("outcome");
      outcome != nullptr && outcome->is_object()) {
    json::object result;
    for (const std::string_view key : {"status", "code"}) {
      if (const auto* v = outcome->as_object().if_contains(key)) result[key] = *v;
    }
    out["outcome"] = std::move(result);
  }
  return out;
}

// The message the signature line signs: the format and the digest of the lines before it.
std::string SignedMessage(std::string_view digest_hex) {
  return std::string(kFormat) + "\n" + std::string(digest_hex);
}

class ExportStream final : public http::BodySource {
 public:
  struct Setup {
    std::string tenant, subject;
    // What the trail names the subject by (AuditKeys::SubjectPseudonyms): its own pseudonym,
    // then the audit key's (entries from before it had keys, e.g. a refused read of its id).
    std::vector<std::string> pseudonyms;
    std::shared_ptr<const policy::Policy> policy;
    policy::Context context;  // its views point into `roles` and `purpose` below
    std::vector<std::string> roles;
    std::string purpose;
    crypto::Ed25519Signer signer;
    json::object header;
    // Read before the answer starts (StartExport): the subject, its processing state and its
    // consent history.
    json::object subject_line, processing_line;
    json::array consents;
    bool activity_allowed = false, documents_allowed = false;
    bool archive_allowed = false;  // retention's archive (StartExport says when)
    std::uint64_t audit_first = 0, audit_end = 0;
  };

  ExportStream(const VaultApi& api, Setup setup) : api_(api), setup_(std::move(setup)) {
    setup_.context.roles = setup_.roles;
    setup_.context.purpose = setup_.purpose;
    audit_at_ = setup_.audit_first;
    audit_from_ = setup_.audit_first;
    last_progress_ = setup_.audit_first;
  }
  ~ExportStream() override { Wipe(); }
  ExportStream(const ExportStream&) = delete;
  ExportStream& operator=(const ExportStream&) = delete;

  Result<std::size_t> Read(std::span<std::uint8_t> out) override {
    while (offset_ == pending_.size()) {
      Wipe();
      if (stage_ == Stage::kDone) return 0;
      if (auto produced = Produce(); !produced) return std::unexpected(produced.error());
    }
    const std::size_t n = std::min(out.size(), pending_.size() - offset_);
    std::copy_n(pending_.data() + offset_, n, out.data());
    offset_ += n;
    return n;
  }

 private:
  enum class Stage {
    kHeader,
    kSubject,
    kProcessing,
    kConsents,
    kRecords,
    kArchivedRecords,  // retention's archive (docs/privacy.md): held, so exported
    kActivity,
    kArchivedActivity,
    kDocuments,
    kArchivedDocuments,
    kAudit,
    kSignature,
    kDone
  };

  // Personal data passes through pending_: zeroed once sent (the JSON library's temporaries and
  // the server's transfer buffer are not).
  void Wipe() {
    std::fill(pending_.begin(), pending_.end(), '\0');
    pending_.clear();
    offset_ = 0;
  }

  void Emit(const json::object& line, bool signed_part = true) {
    const std::size_t start = pending_.size();
    pending_ += json::serialize(line);
    pending_.push_back('\n');
    if (signed_part) {
      hasher_.Update({reinterpret_cast<const std::uint8_t*>(pending_.data() + start),
                      pending_.size() - start});
    }
  }

  // The next lines into pending_ (at least one, or the stage moves on).
  Result<void> Produce() {
    switch (stage_) {
      case Stage::kHeader:
        Emit(setup_.header);
        stage_ = Stage::kSubject;
        return {};
      case Stage::kSubject:
        Emit(setup_.subject_line);
        stage_ = Stage::kProcessing;
        return {};
      case Stage::kProcessing:
        Emit(setup_.processing_line);
        stage_ = Stage::kConsents;
        return {};
      case Stage::kConsents:
        for (auto& consent : setup_.consents) {
          Emit(json::object{{"kind", "consent"}, {"consent", std::move(consent)}});
          ++counts_.consents;
        }
        setup_.consents.clear();
        stage_ = Stage::kRecords;
        return {};
      case Stage::kRecords:
        return ProduceRecords(false);
      case Stage::kArchivedRecords:
        return ProduceRecords(true);
      case Stage::kActivity:
        return ProduceActivity(false);
      case Stage::kArchivedActivity:
        return ProduceActivity(true);
      case Stage::kDocuments:
        return ProduceDocuments(false);
      case Stage::kArchivedDocuments:
        return ProduceDocuments(true);
      case Stage::kAudit:
        return ProduceAudit();
      case Stage::kSignature: {
        const std::string digest = crypto::HexEncode(hasher_.Finish());
        const std::string message = SignedMessage(digest);
        const auto signature = setup_.signer.Sign(
            {reinterpret_cast<const std::uint8_t*>(message.data()), message.size()});
        Emit(json::object{{"kind", "signature"},
                          {"sha256", digest},
                          {"signature", crypto::Base64UrlEncode(signature)},
                          {"public_key", crypto::Base64UrlEncode(setup_.signer.public_key())},
                          {"counts", json::object{{"records", counts_.records},
                                                  {"activity_events", counts_.events},
                                                  {"documents", counts_.documents},
                                                  {"consents", counts_.consents},
                                                  {"audit_entries", counts_.audit},
                                                  {"records_withheld", counts_.records_withheld}}},
                          {"audit_entries_from", audit_from_}},
             false);
        stage_ = Stage::kDone;
        return {};
      }
      case Stage::kDone:
        return {};
    }
    return {};
  }

  // The live records, then the archived ones (marked "archived": true).
  Result<void> ProduceRecords(bool archived) {
    if (archived && !setup_.archive_allowed) {
      Emit(json::object{{"kind", "withheld"}, {"section", "archive"}});
      stage_ = Stage::kActivity;
      return {};
    }
    auto page = api_.service.ListSubjectRecords(setup_.tenant, setup_.subject,
                                                records::Page{kRecordPage, cursor_}, archived);
    if (!page) return std::unexpected(page.error());
    for (auto& item : page->at("records").as_array()) {
      json::object& record = item.as_object();
      auto shown = ApplyExportViews(record);
      if (!shown) return std::unexpected(shown.error());
      if (!*shown) {
        ++counts_.records_withheld;
        continue;
      }
      Emit(json::object{{"kind", "record"}, {"record", std::move(record)}});
      ++counts_.records;
    }
    NextPage(page->at("next_cursor"), archived ? Stage::kActivity : Stage::kArchivedRecords);
    return {};
  }

  // Only what the caller's export view shows plain; the rest is named, never shown. False: the
  // caller may not export the record's collection at all (the record is left out).
  Result<bool> ApplyExportViews(json::object& record) {
    const std::string collection(record.at("collection").as_string());
    auto found = views_.find(collection);
    if (found == views_.end()) {
      auto schema = api_.service.CollectionSchema(setup_.tenant, collection);
      if (!schema) return std::unexpected(schema.error());
      policy::Context context = setup_.context;
      context.collection = collection;
      found = views_.emplace(collection, CollectionViews{*schema, setup_.policy->Prepare(context)})
                  .first;
    }
    const auto& [schema, prepared] = found->second;
    if (!prepared.decision().allowed) return false;
    auto* fields = record.if_contains("fields");
    if (fields == nullptr || !fields->is_object()) return true;
    json::array withheld;
    std::vector<std::string> drop;
    for (const auto& member : fields->as_object()) {
      const records::FieldSpec* spec = schema->Find(member.key());
      const bool plain = spec != nullptr && prepared.FieldView(*spec) == privacy::View::kPlain;
      if (!plain) {
        drop.emplace_back(member.key());
        withheld.emplace_back(member.key());
      }
    }
    for (const auto& name : drop) fields->as_object().erase(name);
    if (!withheld.empty()) record["withheld"] = std::move(withheld);
    record.erase("flags");
    return true;
  }

  // The live events, then the archived ones (marked "archived": true).
  Result<void> ProduceActivity(bool archived) {
    if (archived && !setup_.archive_allowed) {  // (said once, at the archived records)
      stage_ = Stage::kDocuments;
      return {};
    }
    if (!setup_.activity_allowed) {
      Emit(json::object{{"kind", "withheld"}, {"section", "activity"}});
      stage_ = Stage::kDocuments;
      return {};
    }
    auto page = api_.service.ListActivity(setup_.tenant, setup_.subject, "", "",
                                          records::Page{kEventPage, cursor_}, archived);
    if (!page) return std::unexpected(page.error());
    for (auto& event : page->at("events").as_array()) {
      Emit(json::object{{"kind", "event"}, {"event", std::move(event)}});
      ++counts_.events;
    }
    NextPage(page->at("next_cursor"), archived ? Stage::kDocuments : Stage::kArchivedActivity);
    return {};
  }

  // One document's description, then its content a chunk per call.
  // The live documents, then the archived ones (marked "archived": true).
  Result<void> ProduceDocuments(bool archived) {
    if (!setup_.documents_allowed || (archived && !setup_.archive_allowed)) {
      if (!archived) Emit(json::object{{"kind", "withheld"}, {"section", "documents"}});
      stage_ = Stage::kAudit;
      return {};
    }
    if (reader_ != nullptr) {
      std::vector<std::uint8_t> chunk(kDocumentChunk);
      auto read = reader_->Read(chunk);
      if (!read) return std::unexpected(read.error());
      if (*read == 0) {
        reader_.reset();
        return {};  // the next document, or the next page
      }
      chunk.resize(*read);
      Emit(json::object{{"kind", "document_chunk"},
                        {"id", document_id_},
                        {"offset", document_offset_},
                        {"data", crypto::Base64Encode(chunk)}});
      std::fill(chunk.begin(), chunk.end(), std::uint8_t{0});
      document_offset_ += *read;
      return {};
    }
    if (documents_.empty() && !documents_done_) {
      auto page = api_.documents.List(setup_.tenant, setup_.subject,
                                      records::Page{kRecordPage, cursor_}, archived);
      if (!page) return std::unexpected(page.error());
      for (auto& document : page->at("documents").as_array()) {
        documents_.push_back(std::move(document.as_object()));
      }
      const auto& next = page->at("next_cursor");
      if (next.is_string()) {
        cursor_ = next.as_string();
      } else {
        documents_done_ = true;
      }
    }
    if (documents_.empty()) {
      cursor_.clear();
      documents_done_ = false;
      stage_ = archived ? Stage::kAudit : Stage::kArchivedDocuments;
      return {};
    }
    json::object document = std::move(documents_.front());
    documents_.erase(documents_.begin());
    document_id_ = document.at("id").as_string();
    auto reader = api_.documents.Open(setup_.tenant, setup_.subject, document_id_, archived);
    // Deleted since it was listed: left out.
    if (!reader && reader.error().code() == ErrorCode::kNotFound) return {};
    if (!reader) return std::unexpected(reader.error());
    reader_ = std::move(*reader);
    document_offset_ = 0;
    Emit(json::object{{"kind", "document"}, {"document", std::move(document)}});
    ++counts_.documents;
    return {};
  }

  // The audit entries that name the subject (its pseudonym), projected (AuditProjection).
  Result<void> ProduceAudit() {
    if (audit_at_ >= setup_.audit_end) {
      stage_ = Stage::kSignature;
      return {};
    }
    const auto want = static_cast<std::size_t>(
        std::min<std::uint64_t>(kAuditChunk, setup_.audit_end - audit_at_));
    auto chunk = api_.trail.Read(audit_at_, want);
    if (!chunk && chunk.error().code() == ErrorCode::kFailedPrecondition &&
        api_.trail.first() > audit_at_) {
      // Archived meanwhile (offline): the export goes on from the first live entry, and its
      // signature line says where its audit entries began.
      audit_at_ = api_.trail.first();
      audit_from_ = audit_at_;
      return {};
    }
    if (!chunk) return std::unexpected(chunk.error());
    if (chunk->empty()) {
      stage_ = Stage::kSignature;
      return {};
    }
    for (const std::string& raw : *chunk) {
      ++audit_at_;
      // Cheap test first: most entries do not name this subject.
      const auto named = std::find_if(
          setup_.pseudonyms.begin(), setup_.pseudonyms.end(),
          [&](const std::string& pseudonym) { return raw.find(pseudonym) != std::string::npos; });
      if (named == setup_.pseudonyms.end()) continue;
      boost::system::error_code ec;
      json::value entry = json::parse(raw, ec);
      if (ec || !entry.is_object())
        return Fail(ErrorCode::kDataLoss, "an audit entry does not parse");
      const auto* tenant = entry.as_object().if_contains("tenant");
      if (tenant == nullptr || !tenant->is_string() || tenant->as_string() != setup_.tenant) {
        continue;
      }
      Emit(json::object{{"kind", "audit"}, {"entry", AuditProjection(entry.as_object(), *named)}});
      ++counts_.audit;
      last_progress_ = audit_at_;
    }
    if (audit_at_ - last_progress_ >= kAuditProgressEvery) {
      Emit(json::object{{"kind", "progress"}, {"audit_scanned_to", audit_at_}});
      last_progress_ = audit_at_;
    }
    return {};
  }

  void NextPage(const json::value& next, Stage then) {
    if (next.is_string()) {
      cursor_ = next.as_string();
    } else {
      cursor_.clear();
      stage_ = then;
    }
  }

  struct CollectionViews {
    std::shared_ptr<const records::Schema> schema;
    policy::Policy::Prepared prepared;
  };
  struct Counts {
    std::uint64_t records = 0, events = 0, documents = 0, consents = 0, audit = 0;
    std::uint64_t records_withheld = 0;  // in collections the caller may not export
  };

  const VaultApi& api_;
  Setup setup_;
  Stage stage_ = Stage::kHeader;
  std::string pending_;
  std::size_t offset_ = 0;
  crypto::Sha256Hasher hasher_;
  std::string cursor_;
  std::map<std::string, CollectionViews, std::less<>> views_;
  std::vector<json::object> documents_;
  bool documents_done_ = false;
  std::unique_ptr<records::DocumentReader> reader_;
  std::string document_id_;
  std::uint64_t document_offset_ = 0;
  std::uint64_t audit_at_ = 0;
  std::uint64_t audit_from_ = 0;     // the first trail entry looked at
  std::uint64_t last_progress_ = 0;  // where the last audit or progress line was emitted
  Counts counts_;
};

Result<Answer> StartExport(const VaultApi& api, const Request& request, const auth::Caller& who) {
  if (!request.query.empty()) {
    return FailAt("query", "unknown_parameter", "this call takes no query");
  }
  const std::string_view subject = request.PathParam("id");
  auto policy = api.policies.For(who.tenant);
  if (!policy) return std::unexpected(policy.error());
  if (auto chosen = CheckSubjectChoices(api, **policy, request, who, subject); !chosen) {
    return std::unexpected(chosen.error());
  }
  const std::string_view purpose = request.headers->Get(kPurposeHeader).value_or("");
  // Retention's archive is read only for the legal purposes: `legal`, or `subject-request` (the
  // subject's own right of access reaches what is kept of it). Otherwise it is left out, and
  // not even counted.
  const bool archive_allowed =
      purpose == records::kLegalPurpose || purpose == records::kSubjectRequestPurpose;
  auto counts = api.service.CountSubjectData(who.tenant, subject, archive_allowed);
  if (!counts) return std::unexpected(counts.error());
  auto subject_object = api.service.GetSubject(who.tenant, subject);
  if (!subject_object) return std::unexpected(subject_object.error());
  auto processing = api.service.GetProcessing(who.tenant, subject);
  if (!processing) return std::unexpected(processing.error());
  processing->erase("subject_id");
  auto consents = api.service.ListConsents(who.tenant, subject);
  if (!consents) return std::unexpected(consents.error());
  const auto may_export = [&](std::string_view resource) {
    return (*policy)->Decide(CallContext(request, who, policy::Action::kExport, resource)).allowed;
  };
  std::uint64_t documents = 0;
  for (const bool archived : {false, true}) {
    if (archived && !archive_allowed) break;
    for (std::string cursor;;) {
      auto page = api.documents.List(who.tenant, subject,
                                     records::Page{records::kMaxPageSize, cursor}, archived);
      if (!page) return std::unexpected(page.error());
      documents += page->at("documents").as_array().size();
      const auto& next = page->at("next_cursor");
      if (!next.is_string()) break;
      cursor = next.as_string();
    }
  }
  auto keys = api.seal.keys();
  if (keys == nullptr) return Fail(ErrorCode::kSealed, "the vault is sealed; unseal it first");
  auto seed = keys->keyring->DeriveFromRoot(kExportSignInfo);
  if (!seed) return std::unexpected(seed.error());
  auto signer = crypto::Ed25519Signer::FromSeed(seed->reveal());
  if (!signer) return std::unexpected(signer.error());
  auto pseudonyms = api.audit_keys.SubjectPseudonyms(who.tenant, subject);
  if (!pseudonyms) return std::unexpected(pseudonyms.error());

  const std::uint64_t audit_first = api.trail.first();
  const std::uint64_t audit_end = api.trail.size();
  (*counts)["documents"] = documents;
  ExportStream::Setup setup{
      .tenant = who.tenant,
      .subject = std::string(subject),
      .pseudonyms = std::move(*pseudonyms),
      .policy = *policy,
      .context = CallContext(request, who, policy::Action::kExport, ""),
      .roles = who.roles,
      .purpose = std::string(purpose),
      .signer = std::move(*signer),
      .header = json::object{{"format", kFormat},
                             {"tenant", who.tenant},
                             {"subject_id", subject},
                             {"created_at", FormatRfc3339(std::chrono::system_clock::now())},
                             {"counts", std::move(*counts)},
                             {"audit_entries_from", audit_first},
                             {"audit_entries_to", audit_end}},
      .subject_line = json::object{{"kind", "subject"}, {"subject", std::move(*subject_object)}},
      .processing_line = json::object{{"kind", "processing"}, {"state", std::move(*processing)}},
      .consents = std::move(consents->at("history").as_array()),
      .activity_allowed = may_export(kActivityResource),
      .documents_allowed = may_export(kDocumentsResource),
      .archive_allowed = archive_allowed,
      .audit_first = audit_first,
      .audit_end = audit_end};
  http::Response r;
  r.content_type = "application/x-ndjson";
  r.headers.emplace_back("Content-Disposition", "attachment");
  r.body_chunked = true;
  r.body_source = std::make_unique<ExportStream>(api, std::move(setup));
  return Answer(std::move(r));
}

}  // namespace

void AddExportRoute(http::Router& router, const VaultApi& api) {
  router.Add(
      Method::kGet, "/v1/subjects/{id}/export", http::Execution::kWorker,
      Guarded(api, Access::kRead, true, [&api](const Request& request, const auth::Caller& who) {
        return StartExport(api, request, who);
      }));
}

}  // namespace strongroom::api
