#pragma once
// `strongroom unseal`: POST /v1/sys/unseal to a running server over HTTPS, verifying its
// certificate against a given CA file (the development certificate by default). Blocking; one
// request; bounded by a timeout.

#include <chrono>
#include <filesystem>
#include <string>

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

}  // namespace strongroom::cli
