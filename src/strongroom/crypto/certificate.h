#pragma once
// TLS certificates as files: creating the self-signed development certificate, and reading the
// facts about a PEM certificate that readiness and start-up checks need. Stateless; thread-safe.

#include <chrono>
#include <filesystem>
#include <string>

#include "strongroom/base/error.h"

namespace strongroom::crypto {

// Writes a fresh P-256 (prime256v1) key and a self-signed certificate valid for `valid_for`,
// with subjectAltName localhost, 127.0.0.1 and ::1. The key file is created with mode 0600; the
// call fails (already_exists) rather than overwrite either file, and on any failure leaves
// neither file behind.
Result<void> CreateDevelopmentCertificate(const std::filesystem::path& cert_file,
                                          const std::filesystem::path& key_file,
                                          std::chrono::seconds valid_for);

struct CertificateInfo {
  std::chrono::system_clock::time_point not_after;
  std::string key_type;  // "P-256", "P-384", "RSA-2048", ...
  std::string sha256_fingerprint;  // hex, of the DER encoding
};

Result<CertificateInfo> InspectCertificateFile(const std::filesystem::path& cert_file);

}  // namespace strongroom::crypto
