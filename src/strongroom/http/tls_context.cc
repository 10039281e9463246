#include "strongroom/http/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

namespace strongroom::http {
namespace {

namespace ssl = boost::asio::ssl;

constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

std::string OpenSslReason() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

Result<std::shared_ptr<ssl::context>> BuildContext(const std::filesystem::path& cert_file,
                                                   const std::filesystem::path& key_file) {
  ERR_clear_error();
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  const bool policy_ok =
      SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) == 1 &&
      SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION) == 1 &&
      SSL_CTX_set_cipher_list(native, kTls12Ciphers) == 1 &&
      SSL_CTX_set_ciphersuites(native, kTls13Suites) == 1 &&
      SSL_CTX_set1_groups_list(native, "X25519:P-256:P-384") == 1;
  if (!policy_ok) return Fail(ErrorCode::kInternal, "TLS policy rejected: " + OpenSslReason());
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                  SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot load TLS certificate " + cert_file.string() + ": " + OpenSslReason());
  }
  if (SSL_CTX_use_PrivateKey_file(native, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot load TLS key " + key_file.string() + ": " + OpenSslReason());
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    return Fail(ErrorCode::kFailedPrecondition, "TLS key " + key_file.string() +
                                                    " does not match certificate " +
                                                    cert_file.string());
  }
  return context;
}

}  // namespace

TlsContextStore::TlsContextStore(std::filesystem::path cert_file, std::filesystem::path key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

Result<std::unique_ptr<TlsContextStore>> TlsContextStore::Load(std::filesystem::path cert_file,
                                                               std::filesystem::path key_file) {
  std::unique_ptr<TlsContextStore> store(
      new TlsContextStore(std::move(cert_file), std::move(key_file)));
  if (auto loaded = store->Reload(); !loaded) return std::unexpected(loaded.error());
  return store;
}

Result<void> TlsContextStore::Reload() {
  auto context = BuildContext(cert_file_, key_file_);
  if (!context) return std::unexpected(context.error());
  auto info = crypto::InspectCertificateFile(cert_file_);
  if (!info) return std::unexpected(info.error());
  std::lock_guard lock(mutex_);
  current_ = std::move(*context);
  certificate_ = std::move(*info);
  return {};
}

std::shared_ptr<ssl::context> TlsContextStore::Current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

crypto::CertificateInfo TlsContextStore::certificate() const {
  std::lock_guard lock(mutex_);
  return certificate_;
}

}  // namespace strongroom::http
