#pragma once
// SubjectRequests: the log of data-subject requests (GDPR arts. 15-22, CCPA): what a person asked
// for (access, portability, rectification, erasure, restriction, objection), about which subject,
// when it was received, its deadline, and where it stands (docs/privacy.md, "Data-subject
// requests").
//
// The deadline is one calendar month after receipt (GDPR art. 12(3); a receipt on the 31st is
// due on the last day of a shorter month), extendable once by two further months. A request is
// `received`, then `in_progress`, then `completed` or `rejected` (with a reason code); a closed
// request no longer changes. `overdue` is computed when read: open and past its deadline. The
// open requests' deadlines are also kept in memory, for the overdue metric and its warning.
//
// Entries hold ids, codes and times only, never personal data (no free text: a note would be the
// first place someone pastes an e-mail). Stored as JSON in the metadata store, space
// `subject_requests`, key `<tenant>/<id>`. Thread-safe: each call is one read or one write of one
// entry (an update re-reads under a mutex, so two updates of one request do not interleave).

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/records/vault_service.h"
#include "strongroom/storage/store.h"

namespace strongroom::records {

inline constexpr std::string_view kSubjectRequests = "subject_requests";

class SubjectRequests {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;
  SubjectRequests(storage::Store& metadata, VaultService& vault,
                  Clock clock = std::chrono::system_clock::now);

  // {"subject_id"?, "kind", "received_at"?}: 201's object. A subject named must exist
  // (invalid_argument at $.subject_id); none (absent or null): someone the vault holds nothing
  // about. received_at (RFC 3339 UTC, default now) may be at most 5 minutes ahead (clock skew)
  // and at most a year back. Deadlines are counted on the UTC calendar, to the time of receipt.
  Result<boost::json::object> Create(std::string_view tenant, const boost::json::value& body,
                                     std::string_view by);
  Result<boost::json::object> Get(std::string_view tenant, std::string_view id);
  // `status`: "" (all), "open" (received or in progress) or one status; `overdue_only`: open and
  // past the deadline.
  Result<boost::json::object> List(std::string_view tenant, const Page& page,
                                   std::string_view status, bool overdue_only);
  // {"status"?: "in_progress"|"completed"|"rejected", "reason"?: (required to reject),
  //  "extend"?: true}. failed_precondition for a closed request, a second extension, or an
  //  extension after the first deadline passed.
  Result<boost::json::object> Update(std::string_view tenant, std::string_view id,
                                     const boost::json::value& body, std::string_view by);

  // The open requests' deadlines, read from the store once (the server calls it at start).
  // Create and Update keep them since, so that OpenCounts never reads the store.
  Result<void> LoadOpen();
  // Open requests and those past their deadline, every tenant (the metrics
  // strongroom_subject_requests_open and _overdue). The first time a request is seen overdue, it
  // is logged once as the warning `privacy.request_overdue` (tenant and request id only).
  struct OpenCounts {
    std::size_t open = 0;
    std::size_t overdue = 0;
  };
  OpenCounts CountOpen();

  // `received` plus `months` calendar months, the day clamped to the month's last.
  static std::chrono::system_clock::time_point AddMonths(
      std::chrono::system_clock::time_point received, int months);

 private:
  boost::json::object Present(boost::json::object stored) const;
  // After a write of `stored` (tenant/id): tracked while open, forgotten once closed.
  void Track(std::string_view tenant, std::string_view id, const boost::json::object& stored);

  storage::Store& metadata_;
  VaultService& vault_;
  const Clock clock_;
  std::mutex update_mu_;
  struct OpenRequest {
    std::chrono::system_clock::time_point due;
    bool warned = false;  // logged as overdue already
  };
  std::mutex open_mu_;
  std::map<std::string, OpenRequest, std::less<>> open_;  // "<tenant>/<id>"
};

}  // namespace strongroom::records
