#include "strongroom/crypto/certificate.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"

namespace strongroom::crypto {
namespace {

struct Deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  // Files written here are flushed and fsynced explicitly before success is reported, so a
  // failing fclose cannot lose acknowledged data.
  void operator()(std::FILE* f) const { (void)std::fclose(f); }
};
template <typename T>
using Owned = std::unique_ptr<T, Deleter>;

// Opens `path` for writing with `mode`, refusing to follow or replace an existing file.
Result<Owned<std::FILE>> CreateExclusive(const std::filesystem::path& path, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    const int err = errno;
    return Fail(ErrorCodeForErrno(err), "cannot create " + path.string() + ": " + ErrnoMessage(err));
  }
  std::FILE* file = ::fdopen(fd, "w");
  if (file == nullptr) {
    ::close(fd);
    return Fail(ErrorCode::kInternal, "fdopen failed for " + path.string());
  }
  return Owned<std::FILE>(file);
}

Result<void> Check(int ok, const char* what) {
  if (ok != 1) return Fail(ErrorCode::kInternal, std::string("certificate creation failed at ") + what);
  return {};
}

}  // namespace

Result<void> CreateDevelopmentCertificate(const std::filesystem::path& cert_file,
                                          const std::filesystem::path& key_file,
                                          std::chrono::seconds valid_for) {
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (!key) return Fail(ErrorCode::kInternal, "P-256 key generation failed");
  Owned<X509> cert(X509_new());
  if (!cert) return Fail(ErrorCode::kInternal, "X509_new failed");

  std::uint8_t serial[16];
  // A random positive 127-bit serial, as CA/B baseline requirements ask of real CAs.
  if (auto filled = FillRandom(serial); !filled) return filled;
  serial[0] &= 0x7F;
  BIGNUM* serial_bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_ok = serial_bn != nullptr &&
                         BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(cert.get())) != nullptr;
  BN_free(serial_bn);
  if (!serial_ok) return Fail(ErrorCode::kInternal, "serial encoding failed");

  if (auto r = Check(X509_set_version(cert.get(), X509_VERSION_3), "version"); !r) return r;
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(valid_for.count()));
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Strongroom development"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  if (auto r = Check(X509_set_issuer_name(cert.get(), name), "issuer"); !r) return r;
  if (auto r = Check(X509_set_pubkey(cert.get(), key.get()), "pubkey"); !r) return r;

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
  const std::pair<int, const char*> extensions[] = {
      {NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1"},
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "serverAuth"},
  };
  for (const auto& [nid, value] : extensions) {
    Owned<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
    if (!ext || X509_add_ext(cert.get(), ext.get(), -1) != 1) {
      return Fail(ErrorCode::kInternal, "certificate extension failed");
    }
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) {
    return Fail(ErrorCode::kInternal, "certificate signing failed");
  }

  // Both files are written under temporary names and renamed into place only when both are
  // complete, so a failure (a full disk) leaves nothing behind and init can simply run again.
  for (const auto* final_path : {&key_file, &cert_file}) {
    std::error_code ec;
    if (std::filesystem::exists(*final_path, ec) || ec) {
      return Fail(ErrorCode::kAlreadyExists, "refusing to overwrite " + final_path->string());
    }
  }
  const std::filesystem::path key_temp = key_file.string() + ".tmp";
  const std::filesystem::path cert_temp = cert_file.string() + ".tmp";
  ::unlink(key_temp.c_str());
  ::unlink(cert_temp.c_str());
  const auto discard = [&] {
    ::unlink(key_temp.c_str());
    ::unlink(cert_temp.c_str());
  };
  {
    auto key_out = CreateExclusive(key_temp, 0600);
    if (!key_out) return std::unexpected(key_out.error());
    if (PEM_write_PrivateKey(key_out->get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        std::fflush(key_out->get()) != 0 || ::fsync(::fileno(key_out->get())) != 0) {
      const int err = errno;
      discard();
      return Fail(ErrorCodeForErrno(err), "cannot write " + key_file.string());
    }
    auto cert_out = CreateExclusive(cert_temp, 0644);
    if (!cert_out) {
      discard();
      return std::unexpected(cert_out.error());
    }
    if (PEM_write_X509(cert_out->get(), cert.get()) != 1 || std::fflush(cert_out->get()) != 0 ||
        ::fsync(::fileno(cert_out->get())) != 0) {
      const int err = errno;
      discard();
      return Fail(ErrorCodeForErrno(err), "cannot write " + cert_file.string());
    }
  }
  if (::rename(key_temp.c_str(), key_file.c_str()) != 0 ||
      ::rename(cert_temp.c_str(), cert_file.c_str()) != 0) {
    const int err = errno;
    discard();
    ::unlink(key_file.c_str());
    return Fail(ErrorCodeForErrno(err), "cannot rename certificate files into place: " +
                                            ErrnoMessage(err));
  }
  return {};
}

Result<CertificateInfo> InspectCertificateFile(const std::filesystem::path& cert_file) {
  Owned<std::FILE> file(std::fopen(cert_file.c_str(), "re"));
  if (!file) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot read certificate " + cert_file.string() + ": " + ErrnoMessage(errno));
  }
  Owned<X509> cert(PEM_read_X509(file.get(), nullptr, nullptr, nullptr));
  if (!cert) {
    return Fail(ErrorCode::kInvalidArgument, cert_file.string() + " is not a PEM certificate");
  }
  CertificateInfo info;
  std::tm not_after{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert.get()), &not_after) != 1) {
    return Fail(ErrorCode::kInvalidArgument, cert_file.string() + " has an unreadable expiry");
  }
  info.not_after = std::chrono::system_clock::from_time_t(timegm(&not_after));

  const EVP_PKEY* key = X509_get0_pubkey(cert.get());
  char group[64] = {0};
  std::size_t group_len = 0;
  if (key != nullptr && EVP_PKEY_is_a(key, "EC") &&
      EVP_PKEY_get_group_name(key, group, sizeof group, &group_len) == 1) {
    const std::string curve(group, group_len);
    info.key_type = curve == "prime256v1" ? "P-256" : curve == "secp384r1" ? "P-384" : curve;
  } else if (key != nullptr) {
    info.key_type = std::string(EVP_PKEY_get0_type_name(key)) + "-" +
                    std::to_string(EVP_PKEY_get_bits(key));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  X509_digest(cert.get(), EVP_sha256(), md, &md_len);
  info.sha256_fingerprint = HexEncode({md, md_len});
  return info;
}

}  // namespace strongroom::crypto
