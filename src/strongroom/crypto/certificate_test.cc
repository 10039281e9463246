#include "strongroom/crypto/certificate.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "support/scratch_dir.h"

namespace strongroom::crypto {
namespace {

class CertificateTest : public ::testing::Test {
 protected:
  testing::ScratchDir scratch_;
  const std::filesystem::path& dir_ = scratch_.path();
};

TEST_F(CertificateTest, DevelopmentCertificateIsP256WithPrivateKeyFile) {
  const auto cert = dir_ / "server.crt";
  const auto key = dir_ / "server.key";
  ASSERT_TRUE(CreateDevelopmentCertificate(cert, key, std::chrono::hours(24)));
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  const auto info = InspectCertificateFile(cert);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->key_type, "P-256");
  EXPECT_EQ(info->sha256_fingerprint.size(), 64u);
  const auto remaining = info->not_after - std::chrono::system_clock::now();
  EXPECT_GT(remaining, std::chrono::hours(23));
  EXPECT_LT(remaining, std::chrono::hours(25));
}

TEST_F(CertificateTest, NeverOverwritesExistingFiles) {
  const auto cert = dir_ / "server.crt";
  const auto key = dir_ / "server.key";
  std::ofstream(key) << "operator's key";
  const auto created = CreateDevelopmentCertificate(cert, key, std::chrono::hours(1));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code(), ErrorCode::kAlreadyExists);
  std::ifstream in(key);
  std::string content;
  std::getline(in, content);
  EXPECT_EQ(content, "operator's key");
}

TEST_F(CertificateTest, FailureLeavesNoFilesSoARetryWorks) {
  const auto cert = dir_ / "server.crt";
  const auto key = dir_ / "server.key";
  std::filesystem::create_directory(dir_ / "server.crt.tmp");  // makes writing the cert fail
  const auto failed = CreateDevelopmentCertificate(cert, key, std::chrono::hours(1));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kAlreadyExists);
  EXPECT_FALSE(std::filesystem::exists(key));
  EXPECT_FALSE(std::filesystem::exists(key.string() + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(cert));
  std::filesystem::remove(dir_ / "server.crt.tmp");
  ASSERT_TRUE(CreateDevelopmentCertificate(cert, key, std::chrono::hours(1)));
  EXPECT_TRUE(InspectCertificateFile(cert));
}

TEST_F(CertificateTest, InspectRefusesNonCertificates) {
  const auto path = dir_ / "junk.pem";
  std::ofstream(path) << "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
  const auto info = InspectCertificateFile(path);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code(), ErrorCode::kInvalidArgument);
  const auto missing = InspectCertificateFile(dir_ / "absent.pem");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), ErrorCode::kFailedPrecondition);
}

}  // namespace
}  // namespace strongroom::crypto
