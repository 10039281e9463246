#include "strongroom/policy/break_glass.h"

#include <algorithm>
#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "strongroom/base/card_numbers.h"
#include "strongroom/base/time.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"

namespace strongroom::policy {
namespace {

namespace json = boost::json;
using std::chrono::system_clock;

constexpr std::string_view kSpace = "break_glass";

std::string Key(std::string_view tenant, std::string_view id) {
  return std::string(tenant) + "/" + std::string(id);
}

std::int64_t Seconds(system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
system_clock::time_point FromSeconds(std::int64_t s) {
  return system_clock::time_point(std::chrono::seconds(s));
}

storage::Bytes Encode(const BreakGlassGrant& g) {
  json::array fields;
  for (const auto& f : g.fields) fields.emplace_back(f);
  json::array roles;
  for (const auto& r : g.roles) roles.emplace_back(r);
  const json::object o{{"id", g.id},
                       {"roles", std::move(roles)},
                       {"purpose", g.purpose},
                       {"tenant", g.tenant},
                       {"requester", g.requester},
                       {"collection", g.collection},
                       {"fields", std::move(fields)},
                       {"reason", g.reason},
                       {"minutes", g.minutes},
                       {"requested_at", Seconds(g.requested_at)},
                       {"approved_by", g.approved_by},
                       {"approved_at", Seconds(g.approved_at)},
                       {"expires_at", Seconds(g.expires_at)},
                       {"revoked_by", g.revoked_by}};
  const std::string s = json::serialize(o);
  return storage::Bytes(s.begin(), s.end());
}

Result<BreakGlassGrant> Decode(const storage::Bytes& bytes) {
  boost::system::error_code ec;
  const json::value v =
      json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), ec);
  const auto bad = [] {
    return Fail(ErrorCode::kDataLoss, "a stored break-glass grant is malformed");
  };
  if (ec || !v.is_object()) return bad();
  const auto& o = v.get_object();
  BreakGlassGrant g;
  const auto text = [&](std::string_view name, std::string& out) {
    const auto* m = o.if_contains(name);
    if (m == nullptr || !m->is_string()) return false;
    out = m->get_string();
    return true;
  };
  const auto number = [&](std::string_view name, std::int64_t& out) {
    const auto* m = o.if_contains(name);
    if (m == nullptr || !m->is_int64()) return false;
    out = m->get_int64();
    return true;
  };
  std::int64_t requested = 0, approved = 0, expires = 0;
  if (!text("id", g.id) || !text("tenant", g.tenant) || !text("requester", g.requester) ||
      !text("collection", g.collection) || !text("reason", g.reason) ||
      !text("approved_by", g.approved_by) || !text("revoked_by", g.revoked_by) ||
      !number("minutes", g.minutes) || !number("requested_at", requested) ||
      !number("approved_at", approved) || !number("expires_at", expires)) {
    return bad();
  }
  // Grants stored before roles and purpose were kept have neither: they match no call.
  if (o.contains("purpose") && !text("purpose", g.purpose)) return bad();
  for (const auto& [name, out] : {std::pair{"fields", &g.fields}, std::pair{"roles", &g.roles}}) {
    const auto* list = o.if_contains(name);
    if (list == nullptr && std::string_view(name) == "roles") continue;
    if (list == nullptr || !list->is_array()) return bad();
    for (const auto& item : list->get_array()) {
      if (!item.is_string()) return bad();
      out->emplace_back(item.get_string());
    }
  }
  g.requested_at = FromSeconds(requested);
  g.approved_at = FromSeconds(approved);
  g.expires_at = FromSeconds(expires);
  return g;
}

Error Rule(ErrorCode code, std::string message, std::string path, std::string rule) {
  Error error(code, std::move(message));
  error.At(std::move(path), std::move(rule));
  return error;
}

}  // namespace

BreakGlassGrant::Status BreakGlassGrant::StatusAt(system_clock::time_point now) const {
  if (!revoked_by.empty()) return Status::kRevoked;
  if (approved_by.empty()) {
    return now < requested_at + kPendingLifetime ? Status::kPending : Status::kExpired;
  }
  return now < expires_at ? Status::kActive : Status::kExpired;
}

bool BreakGlassGrant::Covers(std::string_view field) const {
  return std::find(fields.begin(), fields.end(), field) != fields.end();
}

bool BreakGlassGrant::Matches(std::span<const std::string> caller_roles,
                              std::string_view caller_purpose) const {
  if (caller_purpose != purpose || caller_roles.size() != roles.size()) return false;
  return std::all_of(caller_roles.begin(), caller_roles.end(), [this](const std::string& r) {
    return std::binary_search(roles.begin(), roles.end(), r);
  });
}

std::string_view StatusName(BreakGlassGrant::Status status) {
  constexpr std::array<std::string_view, 4> kNames = {"pending", "active", "expired", "revoked"};
  return kNames[static_cast<std::size_t>(status)];
}

BreakGlass::BreakGlass(storage::Store& metadata, WallClock clock)
    : metadata_(metadata), clock_(std::move(clock)) {}

Result<void> BreakGlass::Load() {
  std::string after;
  std::map<std::string, std::shared_ptr<const BreakGlassGrant>, std::less<>> loaded;
  std::vector<std::shared_ptr<const BreakGlassGrant>> live;
  const auto now = clock_();
  for (;;) {
    auto page = metadata_.Scan(kSpace, after, 500);
    if (!page) return std::unexpected(page.error());
    for (auto& entry : *page) {
      auto grant = Decode(entry.value);
      if (!grant) return std::unexpected(grant.error());
      auto shared = std::make_shared<const BreakGlassGrant>(std::move(*grant));
      if (shared->StatusAt(now) == BreakGlassGrant::Status::kActive) live.push_back(shared);
      loaded.emplace(entry.key, std::move(shared));
    }
    if (page->size() < 500) break;
    after = page->back().key;
  }
  std::unique_lock lock(mu_);
  grants_ = std::move(loaded);
  live_ = std::move(live);
  live_count_ = live_.size();
  return {};
}

Result<void> BreakGlass::Save(const BreakGlassGrant& grant) {
  storage::WriteBatch batch;
  batch.Put(kSpace, Key(grant.tenant, grant.id), Encode(grant));
  if (auto written = metadata_.Write(std::move(batch)); !written) return written;
  // Published only once durable; expired grants leave the live list here.
  auto shared = std::make_shared<const BreakGlassGrant>(grant);
  const auto now = clock_();
  std::unique_lock lock(mu_);
  grants_.insert_or_assign(Key(grant.tenant, grant.id), shared);
  std::erase_if(live_, [&](const auto& g) {
    return g->id == grant.id || g->StatusAt(now) != BreakGlassGrant::Status::kActive;
  });
  if (shared->StatusAt(now) == BreakGlassGrant::Status::kActive) live_.push_back(shared);
  live_count_ = live_.size();
  return {};
}

Result<std::shared_ptr<const BreakGlassGrant>> BreakGlass::Find(std::string_view tenant,
                                                                std::string_view id) const {
  std::shared_lock lock(mu_);
  auto it = grants_.find(Key(tenant, id));
  if (it == grants_.end()) {
    return std::unexpected(
        Rule(ErrorCode::kNotFound, "no such break-glass request", "id", "unknown_request"));
  }
  return it->second;
}

Result<BreakGlassGrant> BreakGlass::Request(NewRequest request) {
  if (request.reason.empty() || request.reason.size() > kMaxBreakGlassReason) {
    return FailAt("$.reason", "length",
                  "say why, in 1 to " + std::to_string(kMaxBreakGlassReason) +
                      " characters (name a ticket, not a person: the reason is kept as written)");
  }
  if (ContainsCardNumber(request.reason)) {
    return std::unexpected(Rule(ErrorCode::kCardDataRefused,
                                "a payment card number is never stored, not even in a reason",
                                "$.reason", "card_number"));
  }
  if (request.fields.empty()) {
    return FailAt("$.fields", "nothing_to_lift", "a break-glass request lifts at least one field");
  }
  if (request.minutes < 1 || request.minutes > kMaxBreakGlassMinutes) {
    return FailAt("$.minutes", "range",
                  "must be 1 to " + std::to_string(kMaxBreakGlassMinutes) + " minutes");
  }
  std::array<std::uint8_t, 16> random{};
  if (auto filled = crypto::FillRandom(random); !filled) return std::unexpected(filled.error());
  BreakGlassGrant grant;
  grant.id = "brk_" + crypto::Base64UrlEncode(random);
  grant.tenant = std::move(request.tenant);
  grant.requester = std::move(request.requester);
  grant.collection = std::move(request.collection);
  grant.fields = std::move(request.fields);
  grant.roles = std::move(request.roles);
  std::sort(grant.roles.begin(), grant.roles.end());
  grant.purpose = std::move(request.purpose);
  grant.reason = std::move(request.reason);
  grant.minutes = request.minutes;
  grant.requested_at = clock_();
  std::lock_guard write(write_mu_);
  if (auto saved = Save(grant); !saved) return std::unexpected(saved.error());
  return grant;
}

Result<BreakGlassGrant> BreakGlass::Change(
    std::string_view tenant, std::string_view id,
    const std::function<std::optional<Error>(BreakGlassGrant&, TimePoint)>& change) {
  std::lock_guard write(write_mu_);
  auto found = Find(tenant, id);
  if (!found) return std::unexpected(found.error());
  BreakGlassGrant grant = **found;
  if (auto refused = change(grant, clock_())) return std::unexpected(std::move(*refused));
  if (auto saved = Save(grant); !saved) return std::unexpected(saved.error());
  return grant;
}

Result<BreakGlassGrant> BreakGlass::Approve(std::string_view tenant, std::string_view id,
                                            const Approver& approver) {
  return Change(tenant, id, [&](BreakGlassGrant& grant, TimePoint now) -> std::optional<Error> {
    if (grant.requester == approver.principal) {
      return Rule(ErrorCode::kPermissionDenied,
                  "a break-glass request needs a second administrator: its requester cannot "
                  "approve it",
                  "principal", "same_principal");
    }
    // A person at a console, not a script: an API token (which the requester might hold) or a
    // session without a second factor does not approve.
    if (!approver.two_factor_session) {
      return Rule(ErrorCode::kPermissionDenied,
                  "approve break-glass in a session signed in with a second factor", "principal",
                  "two_factor_session");
    }
    // Both times are RFC 3339 UTC with whole seconds: they compare as text. The same second
    // counts as after (refused): this errs on the side of a second person.
    const std::string asked = FormatRfc3339(grant.requested_at);
    if (approver.created_at >= asked || approver.updated_at >= asked) {
      return Rule(ErrorCode::kPermissionDenied,
                  "this account was created or changed after the request was made: an account "
                  "made, promoted or reset for the occasion does not approve",
                  "principal", "approver_changed");
    }
    if (grant.StatusAt(now) != BreakGlassGrant::Status::kPending) {
      return Rule(ErrorCode::kFailedPrecondition,
                  "only a pending request can be approved; this one is " +
                      std::string(StatusName(grant.StatusAt(now))),
                  "id", "not_pending");
    }
    grant.approved_by = approver.principal;
    grant.approved_at = now;
    grant.expires_at = now + std::chrono::minutes(grant.minutes);
    return std::nullopt;
  });
}

Result<BreakGlassGrant> BreakGlass::Revoke(std::string_view tenant, std::string_view id,
                                           std::string_view by) {
  return Change(tenant, id, [&](BreakGlassGrant& grant, TimePoint now) -> std::optional<Error> {
    const auto status = grant.StatusAt(now);
    if (status != BreakGlassGrant::Status::kPending && status != BreakGlassGrant::Status::kActive) {
      return Rule(ErrorCode::kFailedPrecondition,
                  "this request is already " + std::string(StatusName(status)), "id", "not_live");
    }
    grant.revoked_by = by;
    return std::nullopt;
  });
}

std::vector<BreakGlassGrant> BreakGlass::List(std::string_view tenant) const {
  std::vector<BreakGlassGrant> out;
  const std::string prefix = std::string(tenant) + "/";
  std::shared_lock lock(mu_);
  for (auto it = grants_.lower_bound(prefix); it != grants_.end() && it->first.starts_with(prefix);
       ++it) {
    out.push_back(*it->second);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.requested_at < b.requested_at; });
  return out;
}

std::shared_ptr<const BreakGlassGrant> BreakGlass::Active(std::string_view tenant,
                                                          std::string_view principal,
                                                          std::string_view collection) const {
  if (live_count_.load(std::memory_order_acquire) == 0) return nullptr;
  const auto now = clock_();
  std::shared_ptr<const BreakGlassGrant> best;
  std::shared_lock lock(mu_);
  for (const auto& g : live_) {
    if (g->tenant != tenant || g->requester != principal || g->collection != collection) continue;
    if (g->StatusAt(now) != BreakGlassGrant::Status::kActive) continue;
    if (!best || g->approved_at > best->approved_at) best = g;
  }
  return best;
}

}  // namespace strongroom::policy
