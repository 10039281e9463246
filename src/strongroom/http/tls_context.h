#pragma once
// TlsContextStore: the server's TLS configuration, built from PEM files and swapped atomically
// on reload (SIGHUP). Connections take a shared_ptr to the context current when they were
// accepted, so a reload never disturbs an open connection.
//
// Policy (not configurable, on purpose): TLS 1.2 and 1.3 only; ECDHE key exchange with AEAD
// ciphers only (AES-GCM, ChaCha20-Poly1305); groups X25519, P-256, P-384; no compression, no
// renegotiation, no session tickets (stateless tickets under a never-rotated key would undo
// forward secrecy).
//
// Thread-safe: Current() and Reload() may race.

#include <filesystem>
#include <memory>
#include <mutex>

#include "strongroom/base/error.h"
#include "strongroom/crypto/certificate.h"

namespace boost::asio::ssl {
class context;
}

namespace strongroom::http {

class TlsContextStore {
 public:
  static Result<std::unique_ptr<TlsContextStore>> Load(std::filesystem::path cert_file,
                                                       std::filesystem::path key_file);

  // Re-reads the files. On any error the previous context stays in force.
  Result<void> Reload();

  std::shared_ptr<boost::asio::ssl::context> Current() const;
  crypto::CertificateInfo certificate() const;

 private:
  TlsContextStore(std::filesystem::path cert_file, std::filesystem::path key_file);

  const std::filesystem::path cert_file_;
  const std::filesystem::path key_file_;
  mutable std::mutex mutex_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  crypto::CertificateInfo certificate_;
};

}  // namespace strongroom::http
