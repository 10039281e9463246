#include "strongroom/auth/token_registry.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <fstream>
#include <iterator>

#include "strongroom/base/time.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"

namespace strongroom::auth {
namespace {

namespace json = boost::json;
constexpr std::string_view kTokens = "tokens";
constexpr std::string_view kBearer = "Bearer ";
constexpr std::string_view kKnownRoles[] = {"admin", "service"};

Result<Principal> PrincipalFrom(const json::value& v) {
  if (!v.is_object()) return Fail(ErrorCode::kDataLoss, "stored token is malformed");
  const auto& o = v.get_object();
  Principal p;
  const auto text = [&](std::string_view key) -> std::string {
    const auto* found = o.if_contains(key);
    return found && found->is_string() ? std::string(found->get_string()) : std::string();
  };
  p.token_id = text("token_id");
  p.tenant = text("tenant");
  p.name = text("name");
  p.created_at = text("created_at");
  if (const auto* roles = o.if_contains("roles"); roles && roles->is_array()) {
    for (const auto& r : roles->get_array()) {
      if (r.is_string()) p.roles.emplace_back(r.get_string());
    }
  }
  if (p.token_id.empty() || p.tenant.empty()) {
    return Fail(ErrorCode::kDataLoss, "stored token is malformed");
  }
  return p;
}

bool IsSha256Hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

bool Principal::HasRole(std::string_view role) const {
  for (const auto& r : roles) {
    if (r == role) return true;
  }
  return false;
}

Result<std::unique_ptr<TokenRegistry>> TokenRegistry::Open(
    storage::Store& metadata, const std::filesystem::path& bootstrap_file) {
  std::unique_ptr<TokenRegistry> registry(new TokenRegistry(metadata));
  std::ifstream in(bootstrap_file, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot read the bootstrap admin file " + bootstrap_file.string());
  }
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  boost::system::error_code ec;
  json::value bootstrap = json::parse(content, ec);
  const json::value* hash =
      ec || !bootstrap.is_object() ? nullptr : bootstrap.get_object().if_contains("token_sha256");
  if (hash == nullptr || !hash->is_string() || !IsSha256Hex(hash->get_string())) {
    return Fail(ErrorCode::kDataLoss,
                "bootstrap admin file " + bootstrap_file.string() + " is malformed");
  }
  Principal admin;
  const auto& o = bootstrap.get_object();
  admin.token_id = o.contains("token_id") && o.at("token_id").is_string()
                       ? std::string(o.at("token_id").get_string())
                       : "tok_bootstrap";
  admin.tenant = std::string(kDefaultTenant);
  admin.name = "bootstrap-admin";
  admin.roles = {"admin"};
  admin.bootstrap = true;
  registry->by_hash_.emplace(std::string(hash->get_string()), std::move(admin));

  std::string after;
  for (;;) {
    auto entries = metadata.Scan(kTokens, after, 256);
    if (!entries) return std::unexpected(entries.error());
    for (const auto& entry : *entries) {
      boost::system::error_code parse_error;
      json::value v = json::parse(
          std::string_view(reinterpret_cast<const char*>(entry.value.data()), entry.value.size()),
          parse_error);
      if (parse_error) return Fail(ErrorCode::kDataLoss, "stored token is malformed");
      auto principal = PrincipalFrom(v);
      if (!principal) return std::unexpected(principal.error());
      registry->by_hash_.insert_or_assign(entry.key, std::move(*principal));
      after = entry.key;
    }
    if (entries->size() < 256) break;
  }
  return registry;
}

Result<Principal> TokenRegistry::Authenticate(std::optional<std::string_view> authorization) const {
  auto refuse = [] {
    return Fail(ErrorCode::kUnauthenticated,
                "a valid API token is required: Authorization: Bearer <token>");
  };
  // The scheme name is case-insensitive (RFC 9110 §11.1); the token itself is not.
  if (!authorization || authorization->size() <= kBearer.size()) return refuse();
  for (std::size_t i = 0; i < kBearer.size(); ++i) {
    const char c = (*authorization)[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    const char want = (kBearer[i] >= 'A' && kBearer[i] <= 'Z')
                          ? static_cast<char>(kBearer[i] - 'A' + 'a')
                          : kBearer[i];
    if (lower != want) return refuse();
  }
  const std::string_view token = authorization->substr(kBearer.size());
  if (!token.starts_with("srt_") || token.size() > 100) return refuse();
  // Looked up by the SHA-256 of the token: the map never compares the secret itself, and the hash
  // reveals nothing an attacker could steer byte by byte.
  const std::string hash = crypto::HexEncode(crypto::Sha256(token));
  std::shared_lock lock(mu_);
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return refuse();
  return it->second;
}

Result<TokenRegistry::Created> TokenRegistry::Create(std::string_view tenant, std::string_view name,
                                                     std::vector<std::string> roles) {
  if (name.empty()) return FailAt("$.name", "min_length", "must not be empty");
  if (name.size() > 100) return FailAt("$.name", "max_length", "must be at most 100 bytes");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7F) return FailAt("$.name", "format", "contains control characters");
  }
  if (roles.empty()) return FailAt("$.roles", "min_items", "needs at least one role");
  for (std::size_t i = 0; i < roles.size(); ++i) {
    bool known = false;
    for (auto k : kKnownRoles) known = known || roles[i] == k;
    if (!known) {
      return FailAt("$.roles[" + std::to_string(i) + "]", "enum", "must be one of: admin, service");
    }
  }
  auto issued = IssueApiToken();
  if (!issued) return std::unexpected(issued.error());
  Principal principal;
  principal.token_id = issued->token_id;
  principal.tenant = std::string(tenant);
  principal.name = std::string(name);
  principal.roles = std::move(roles);
  principal.created_at = FormatRfc3339(std::chrono::system_clock::now());
  json::array role_list;
  for (const auto& r : principal.roles) role_list.emplace_back(r);
  json::object stored{{"token_id", principal.token_id},
                      {"tenant", principal.tenant},
                      {"name", principal.name},
                      {"roles", std::move(role_list)},
                      {"created_at", principal.created_at}};
  const std::string serialized = json::serialize(stored);
  storage::WriteBatch batch;
  batch.Put(kTokens, issued->sha256_hex, storage::Bytes(serialized.begin(), serialized.end()));
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  {
    std::unique_lock lock(mu_);
    by_hash_.insert_or_assign(issued->sha256_hex, principal);
  }
  return Created{std::move(*issued), std::move(principal)};
}

Result<void> TokenRegistry::Revoke(std::string_view token_id, std::string_view tenant_scope) {
  std::string hash;
  {
    std::shared_lock lock(mu_);
    for (const auto& [h, p] : by_hash_) {
      if (p.token_id == token_id && (tenant_scope.empty() || p.tenant == tenant_scope)) {
        if (p.bootstrap) {
          return Fail(ErrorCode::kFailedPrecondition,
                      "the bootstrap admin token cannot be revoked "
                      "through the API");
        }
        hash = h;
      }
    }
  }
  if (hash.empty()) return Fail(ErrorCode::kNotFound, "no such token");
  storage::WriteBatch batch;
  batch.Delete(kTokens, hash);
  if (auto written = metadata_.Write(std::move(batch)); !written) {
    return std::unexpected(written.error());
  }
  std::unique_lock lock(mu_);
  by_hash_.erase(hash);
  return {};
}

std::vector<Principal> TokenRegistry::List(std::string_view tenant) const {
  std::vector<Principal> out;
  std::shared_lock lock(mu_);
  for (const auto& [hash, p] : by_hash_) {
    if (tenant.empty() || p.tenant == tenant) out.push_back(p);
  }
  return out;
}

}  // namespace strongroom::auth
