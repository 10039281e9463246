#pragma once
// The CLI's HTTPS client: one request to a running server, verifying its certificate against a
// given CA file (the vault's own certificate by default). Blocking; bounded by a timeout.
// `strongroom unseal` posts the passphrase; the administration commands (`principal`, `token`)
// call the API with a bearer token.

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/base/net_address.h"
#include "strongroom/base/secret.h"

namespace strongroom::cli {

struct UnsealReply {
  int status = 0;
  std::string body;         // the server's JSON answer (never contains the passphrase)
  std::string retry_after;  // the Retry-After header, if any
};

Result<UnsealReply> PostUnseal(const NetAddress& server, const std::filesystem::path& ca_file,
                               const SecretBytes& passphrase,
                               std::chrono::seconds timeout = std::chrono::seconds(30));

struct ApiCall {
  std::string method;  // GET, POST, PATCH, PUT, DELETE
  std::string target;  // "/v1/principals"
  std::string body;    // JSON, or empty
};
struct ApiReply {
  int status = 0;
  std::string body;
};
// unavailable when the server cannot be reached; failed_precondition for an unreadable CA file.
// `body` may hold a password: the request's copy is wiped after sending.
Result<ApiReply> CallApi(const NetAddress& server, const std::filesystem::path& ca_file,
                         const SecretBytes& token, ApiCall call,
                         std::chrono::seconds timeout = std::chrono::seconds(30));

}  // namespace strongroom::cli
