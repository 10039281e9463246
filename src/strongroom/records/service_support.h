#pragma once
// Small helpers shared by the translation units of VaultService (vault_service.cc,
// vault_records.cc, vault_activity.cc): store spaces, ids, stored-JSON pages. Internal to
// records/; stateless and thread-safe.

#include <boost/json/value.hpp>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "strongroom/barrier/seal_state.h"
#include "strongroom/base/error.h"
#include "strongroom/records/vault_service.h"
#include "strongroom/storage/store.h"

namespace strongroom::records::internal {

// Store spaces (docs/architecture.md, "Data at rest").
inline constexpr std::string_view kTenants = "tenants";          // metadata
inline constexpr std::string_view kCollections = "collections";  // metadata
inline constexpr std::string_view kSubjects = "subjects";        // metadata
inline constexpr std::string_view kRecords = "records";          // profiles
inline constexpr std::string_view kIndex = "index";              // profiles
inline constexpr std::string_view kBySubject = "by_subject";     // profiles
inline constexpr std::string_view kEvents = "events";            // activity
inline constexpr std::string_view kConsents = "consents";        // activity
inline constexpr std::string_view kProcessing = "processing";    // activity
inline constexpr std::string_view kDocuments = "documents";      // documents
inline constexpr std::string_view kChunks = "chunks";            // documents
inline constexpr std::string_view kUploads = "uploads";          // documents
// The archive (retention's stage before the purge, docs/privacy.md "The archive"): what a rule
// with archive_days let expire, in the store of its kind, out of the live spaces.
inline constexpr std::string_view kArchivedRecords = "archived_records";       // profiles
inline constexpr std::string_view kArchivedBySubject = "archived_by_subject";  // profiles
inline constexpr std::string_view kArchivedEvents = "archived_events";         // activity
inline constexpr std::string_view kArchivedDocuments = "archived_documents";   // documents

std::string Now();  // RFC 3339, UTC
// An activity event's key part for its time: 16 hex digits of (micros + 2^62), so that keys
// sort by time, negative times too.
std::string TimeKey(std::int64_t micros);
Result<std::string> NewId(std::string_view prefix);
// Ids we issue: prefix + 22 base64url characters. Anything else cannot name a stored object.
bool IsId(std::string_view id, std::string_view prefix);
bool IsTenantId(std::string_view id);
bool IsSubjectId(std::string_view id);
std::span<const std::uint8_t> AsBytes(std::string_view s);
storage::Bytes ToBytes(std::string_view text);
storage::Bytes Serialize(const boost::json::value& value);  // compact JSON
// data_loss if the stored bytes are not a JSON object.
Result<boost::json::object> ParseStored(const storage::Bytes& bytes, std::string_view what);
std::string Join(std::initializer_list<std::string_view> parts);  // "a/b/c"
Result<const boost::json::object*> BodyObject(const boost::json::value& body);
// Scans `space` for keys starting with `prefix`, after `prefix + after`, calling
// `visit(key_suffix, value)` until it returns false or `limit` entries are seen.
Result<void> ScanPrefix(storage::Store& store, std::string_view space, const std::string& prefix,
                        std::string_view after, std::size_t limit,
                        const std::function<bool(std::string_view, const storage::Bytes&)>& visit);
Result<std::size_t> PageLimit(const Page& page);
// A page of the JSON objects stored under `prefix`: {"<name>": [...], "next_cursor"}, each
// passed through `present` when given (to turn a stored object into its public form).
using Presenter = std::function<Result<boost::json::object>(boost::json::object)>;
Result<boost::json::object> StoredObjectPage(storage::Store& store, std::string_view space,
                                             const std::string& prefix, const Page& page,
                                             std::string_view name,
                                             bool (*valid_cursor)(std::string_view),
                                             const Presenter& present = nullptr);
// The JSON object sealed in a stored envelope {"payload": base64url ciphertext} under the
// subject's key at {tenant, collection, id, bound} (activity events, consent records). A
// payload that is missing or fails to authenticate is data_loss and logged as a security event.
Result<boost::json::object> OpenEnvelope(barrier::VaultKeys& keys, std::string_view tenant,
                                         std::string_view subject, std::string_view collection,
                                         std::string_view id, std::string_view bound,
                                         const boost::json::object& envelope);
// The stored envelope {"payload": base64url ciphertext} of `object` sealed under the subject's
// key at {tenant, collection, id, bound}: what OpenEnvelope opens. The plaintext is wiped.
Result<storage::Bytes> SealEnvelope(barrier::VaultKeys& keys, std::string_view tenant,
                                    std::string_view subject, std::string_view collection,
                                    std::string_view id, std::string_view bound,
                                    const boost::json::object& object);
// The security event for stored ciphertext that fails to authenticate (ids only, never values).
void LogRejectedCiphertext(std::string_view tenant, std::string_view collection,
                           std::string_view id, std::string_view field);

}  // namespace strongroom::records::internal
