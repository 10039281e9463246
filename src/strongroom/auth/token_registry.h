#pragma once
// TokenRegistry: who holds which API token. A token is stored only as its SHA-256 (api_token.h)
// in the metadata store (space "tokens", keyed by that hash) with its principal: tenant, name and
// roles. The bootstrap administrator `init` created is read from <data_dir>/auth/.
//
// Roles today: "admin" (tenants, tokens, seal, and data in its tenant) and "service" (data in its
// tenant). The policy issue gives roles their full meaning.
//
// Thread-safe: lookups take a shared lock on an in-memory copy kept in step with the store, so
// a revoked token stops working on the very next request.

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/auth/api_token.h"
#include "strongroom/base/error.h"
#include "strongroom/storage/store.h"

namespace strongroom::auth {

struct Principal {
  std::string token_id;
  std::string tenant;
  std::string name;
  std::vector<std::string> roles;
  std::string created_at;
  bool bootstrap = false;

  bool HasRole(std::string_view role) const;
};

inline constexpr std::string_view kDefaultTenant = "default";

class TokenRegistry {
 public:
  static Result<std::unique_ptr<TokenRegistry>> Open(storage::Store& metadata,
                                                     const std::filesystem::path& bootstrap_file);

  // The principal for an `Authorization` header value ("Bearer srt_..."); unauthenticated for a
  // missing, malformed, unknown or revoked token (one message for all: no oracle).
  Result<Principal> Authenticate(std::optional<std::string_view> authorization) const;

  struct Created {
    IssuedToken token;
    Principal principal;
  };
  // invalid_argument (with a path) for a bad name or role.
  Result<Created> Create(std::string_view tenant, std::string_view name,
                         std::vector<std::string> roles);
  // not_found if there is no such token in `tenant_scope` ("" = any tenant);
  // failed_precondition for the bootstrap token.
  Result<void> Revoke(std::string_view token_id, std::string_view tenant_scope);
  std::vector<Principal> List(std::string_view tenant) const;

 private:
  explicit TokenRegistry(storage::Store& metadata) : metadata_(metadata) {}

  storage::Store& metadata_;
  mutable std::shared_mutex mu_;
  std::map<std::string, Principal, std::less<>> by_hash_;  // sha256 hex -> principal
};

}  // namespace strongroom::auth
