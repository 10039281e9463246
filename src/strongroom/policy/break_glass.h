#pragma once
// BreakGlass: time-boxed plain access for one principal to fields of one collection that the
// access policy shows it in a lesser view (docs/policy.md, "Break-glass"). A request names the
// collection, optionally the fields, a reason and a duration; it does nothing until an
// administrator other than the requester approves it; from then it lasts the duration and
// expires by itself (checked at every use against the wall clock). A pending request lapses
// after kPendingLifetime. An administrator may revoke a grant at any time. The API audits the
// request, the approval, the revocation and every read the grant changes.
//
// Grants live in the metadata store (space "break_glass", key "<tenant>/<id>") and in memory:
// all of them are loaded at start (Load) and every change is durable before it is visible.
// Active() is on every record read: a shared lock and, when nothing is granted anywhere, not
// even that. Thread-safe; borrows the store, which must outlive it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/storage/store.h"

namespace strongroom::policy {

using WallClock = std::function<std::chrono::system_clock::time_point()>;

inline constexpr std::chrono::hours kPendingLifetime{24};
inline constexpr std::int64_t kMaxBreakGlassMinutes = 240;
inline constexpr std::size_t kMaxBreakGlassReason = 500;

struct BreakGlassGrant {
  enum class Status : std::uint8_t { kPending, kActive, kExpired, kRevoked };

  std::string id;  // "brk_" + 22 base64url characters
  std::string tenant;
  std::string requester;  // principal id
  std::string collection;
  // The fields it lifts: those the requester saw in a lesser view when asking (never fields
  // added or opened to it later).
  std::vector<std::string> fields;
  // What the requester asked with: the grant applies only to calls with the same roles and
  // purpose (a role taken away, or another purpose stated, ends its effect).
  std::vector<std::string> roles;  // sorted
  std::string purpose;
  std::string reason;
  std::int64_t minutes = 0;
  std::chrono::system_clock::time_point requested_at;
  std::string approved_by;  // "" while pending
  std::chrono::system_clock::time_point approved_at, expires_at;
  std::string revoked_by;

  Status StatusAt(std::chrono::system_clock::time_point now) const;
  bool Covers(std::string_view field) const;
  // Whether a call with these roles and purpose is the one the grant was asked for.
  bool Matches(std::span<const std::string> caller_roles, std::string_view caller_purpose) const;
};
std::string_view StatusName(BreakGlassGrant::Status status);  // "pending", "active", …

class BreakGlass {
 public:
  explicit BreakGlass(storage::Store& metadata, WallClock clock = std::chrono::system_clock::now);

  // Reads every stored grant (at start, before serving).
  Result<void> Load();

  struct NewRequest {
    std::string tenant, requester, collection;
    std::vector<std::string> fields;  // resolved by the caller: never empty
    std::vector<std::string> roles;
    std::string purpose;
    std::string reason;
    std::int64_t minutes = 60;
  };
  // Who approves: an administrator's account (the caller checks the role) signed in
  // interactively with a second factor, which existed unchanged before the request was made (so
  // that an account made, promoted or reset for the occasion cannot approve).
  struct Approver {
    std::string_view principal;
    std::string_view created_at, updated_at;  // RFC 3339, whole seconds (PrincipalInfo)
    bool two_factor_session = false;
  };
  // The caller checks the collection and fields; this checks the reason and duration
  // (invalid_argument at "$.reason" / "$.minutes"; card_data_refused for a card number).
  Result<BreakGlassGrant> Request(NewRequest request);
  // permission_denied at "principal" (rules "same_principal", "two_factor_session",
  // "approver_changed"); not_found for another tenant's or an unknown id; failed_precondition
  // (rule "not_pending") unless pending.
  Result<BreakGlassGrant> Approve(std::string_view tenant, std::string_view id,
                                  const Approver& approver);
  // failed_precondition unless pending or active.
  Result<BreakGlassGrant> Revoke(std::string_view tenant, std::string_view id, std::string_view by);
  std::vector<BreakGlassGrant> List(std::string_view tenant) const;  // oldest first
  // The active grant for this principal on this collection now, if any (the latest approved).
  std::shared_ptr<const BreakGlassGrant> Active(std::string_view tenant, std::string_view principal,
                                                std::string_view collection) const;
  std::chrono::system_clock::time_point Now() const { return clock_(); }

 private:
  using TimePoint = std::chrono::system_clock::time_point;
  Result<void> Save(const BreakGlassGrant& grant);
  // Under the write lock: finds the grant, lets `change` refuse (an error) or alter it, saves.
  Result<BreakGlassGrant> Change(
      std::string_view tenant, std::string_view id,
      const std::function<std::optional<Error>(BreakGlassGrant&, TimePoint)>& change);
  Result<std::shared_ptr<const BreakGlassGrant>> Find(std::string_view tenant,
                                                      std::string_view id) const;

  storage::Store& metadata_;
  WallClock clock_;
  std::mutex write_mu_;  // one change at a time: read, check, write, publish
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const BreakGlassGrant>, std::less<>> grants_;  // by key
  // Approved and not revoked (some perhaps expired since: pruned at each change). Active()
  // scans only these, and skips its lock when there are none.
  std::vector<std::shared_ptr<const BreakGlassGrant>> live_;
  std::atomic<std::size_t> live_count_{0};
};

}  // namespace strongroom::policy
