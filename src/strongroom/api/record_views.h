#pragma once
// The field-level half of the access policy on records: which view of each field an answer
// shows (plain, masked, hashed, redacted, or withheld), and which fields a write may set. The
// action itself was already decided by the prologue (api_support.h, PolicyGateOf). Answers
// gain a "views" object naming the view of every field they carried; the audit entry records
// the same ("email:masked"). Included only by handler files, which compile Boost.JSON.
//
// A RecordViews holds what one request needs (the policy, its matching rules, the schema) and
// is used on that request's thread only.

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <memory>
#include <string>

#include "strongroom/api/vault_api.h"
#include "strongroom/auth/identity.h"
#include "strongroom/http/types.h"
#include "strongroom/policy/break_glass.h"
#include "strongroom/policy/policy.h"

namespace strongroom::api {

class RecordViews {
 public:
  // For `request` on its {collection} by `who` doing `action`. not_found for a collection that
  // does not exist (the caller may act on it: the prologue allowed the action).
  static Result<RecordViews> Prepare(const VaultApi& api, const http::Request& request,
                                     const auth::Caller& who, policy::Action action);

  // permission_denied at the path of the first field of `fields` (a record's "fields" object)
  // this caller may not write; "$.records[i].fields…" paths for a batch come from `path`.
  Result<void> CheckWrite(const boost::json::value* fields, const std::string& path) const;
  // The field a search matches on must be searchable by this caller with a plain view.
  Result<void> CheckSearch(const boost::json::value& body) const;
  // Renders one record answer ({"fields": …}), a list ({"records": [...]}) or a batch answer
  // ({"results": [{"record": …}]}) in the caller's *read* views, whatever the call: "views"
  // names every field of the schema the caller may not read as "withheld", held or not. Under
  // an active break-glass grant the fields it covers that the caller sees at all are plain,
  // and the answer names the grant ("break_glass": "brk_…") for the audit entry.
  // Each record's subject's choices are weighed first (CheckSubjectChoices): reading one
  // record of a subject who refuses the request's purpose is permission_denied; in a list or a
  // write's answer, such a record keeps its ids, shows every field "withheld" and says why
  // ("refused": "restricted" | "objected" | "consent_required", or "unavailable" when the
  // choices could not be read); a search leaves it out.
  Result<void> Apply(boost::json::object& answer) const;

 private:
  RecordViews() = default;
  // `whole`: the answer is this one record, read (a refusal fails the call).
  Result<void> ApplyToRecord(boost::json::object& record, bool whole) const;

  const VaultApi* api_ = nullptr;
  const http::Request* request_ = nullptr;  // the request and caller outlive the views
  const auth::Caller* who_ = nullptr;
  policy::Action action_ = policy::Action::kRead;
  std::string tenant_;
  std::shared_ptr<const policy::Policy> policy_;
  policy::Policy::Prepared prepared_;  // the call's own action: what it may write or search
  policy::Policy::Prepared read_;      // reading: what its answers show
  std::shared_ptr<const records::Schema> schema_;
  // An approved break-glass grant of this caller on this collection: its fields read plain.
  std::shared_ptr<const policy::BreakGlassGrant> grant_;
};

}  // namespace strongroom::api
