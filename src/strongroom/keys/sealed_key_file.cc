#include "strongroom/keys/sealed_key_file.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "strongroom/base/files.h"
#include "strongroom/crypto/aead.h"
#include "strongroom/crypto/random.h"

namespace strongroom::keys {
namespace {

constexpr std::array<std::uint8_t, 8> kMagic = {'S', 'R', 'S', 'E', 'A', 'L', 'K', '1'};
constexpr std::size_t kIterationsAt = 8;
constexpr std::size_t kMemoryAt = 12;
constexpr std::size_t kSaltAt = 16;
constexpr std::size_t kNonceAt = 32;
constexpr std::size_t kSealedAt = 44;  // everything before this is the AAD
static_assert(kSealedAt + kRootKeySize + crypto::Aes256Gcm::kTagSize == kSealedKeyFileSize);

// Bounds checked before running Argon2id on a file's word: an altered file must not be able to
// make unsealing take minutes or gigabytes.
constexpr std::uint32_t kMaxIterations = 16;
constexpr std::uint32_t kMinMemoryKiB = 8;
constexpr std::uint32_t kMaxMemoryKiB = 1u << 20;  // 1 GiB

bool WithinBounds(std::uint64_t iterations, std::uint64_t memory_kib) {
  return iterations >= 1 && iterations <= kMaxIterations && memory_kib >= kMinMemoryKiB &&
         memory_kib <= kMaxMemoryKiB;
}

void PutU32(std::uint8_t* out, std::uint32_t v) {
  out[0] = static_cast<std::uint8_t>(v >> 24);
  out[1] = static_cast<std::uint8_t>(v >> 16);
  out[2] = static_cast<std::uint8_t>(v >> 8);
  out[3] = static_cast<std::uint8_t>(v);
}

std::uint32_t GetU32(const std::uint8_t* in) {
  return (std::uint32_t{in[0]} << 24) | (std::uint32_t{in[1]} << 16) |
         (std::uint32_t{in[2]} << 8) | std::uint32_t{in[3]};
}

Result<SecretBytes> WrappingKey(std::span<const std::uint8_t> passphrase, const std::uint8_t* file) {
  const crypto::Argon2idParams params{.iterations = GetU32(file + kIterationsAt),
                                      .memory_bytes = std::uint64_t{GetU32(file + kMemoryAt)} << 10};
  return crypto::Argon2id(passphrase,
                          std::span<const std::uint8_t, crypto::kArgon2SaltSize>(file + kSaltAt,
                                                                                 crypto::kArgon2SaltSize),
                          params, crypto::Aes256Gcm::kKeySize);
}

Result<void> WriteSealed(const std::filesystem::path& path, std::span<const std::uint8_t> root,
                         std::span<const std::uint8_t> passphrase,
                         const crypto::Argon2idParams& params);

}  // namespace

Result<SecretBytes> CreateSealedKeyFile(const std::filesystem::path& path,
                                        std::span<const std::uint8_t> passphrase,
                                        const crypto::Argon2idParams& params) {
  auto root = crypto::RandomSecret(kRootKeySize);
  if (!root) return std::unexpected(root.error());
  if (auto sealed = SealRootKeyFile(path, root->reveal(), passphrase, params); !sealed) {
    return std::unexpected(sealed.error());
  }
  return std::move(*root);
}

Result<void> SealRootKeyFile(const std::filesystem::path& path, std::span<const std::uint8_t> root,
                             std::span<const std::uint8_t> passphrase,
                             const crypto::Argon2idParams& params) {
  if (passphrase.empty()) return Fail(ErrorCode::kInvalidArgument, "the unseal passphrase is empty");
  if (root.size() != kRootKeySize) {
    return Fail(ErrorCode::kInvalidArgument,
                "a root key is " + std::to_string(kRootKeySize) + " bytes");
  }
  const std::uint64_t memory_kib = params.memory_bytes >> 10;
  if (!WithinBounds(params.iterations, memory_kib)) {
    return Fail(ErrorCode::kInvalidArgument, "sealing parameters outside the accepted bounds");
  }
  std::error_code ec;
  if (std::filesystem::exists(path, ec) || ec) {
    return Fail(ErrorCode::kAlreadyExists, "refusing to replace sealed key file " + path.string());
  }
  return WriteSealed(path, root, passphrase, params);
}

Result<void> ResealKeyFile(const std::filesystem::path& path,
                           std::span<const std::uint8_t> old_passphrase,
                           std::span<const std::uint8_t> new_passphrase,
                           const crypto::Argon2idParams& params) {
  if (new_passphrase.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the new unseal passphrase is empty");
  }
  if (!WithinBounds(params.iterations, params.memory_bytes >> 10)) {
    return Fail(ErrorCode::kInvalidArgument, "sealing parameters outside the accepted bounds");
  }
  if (std::ranges::equal(old_passphrase, new_passphrase)) {
    return Fail(ErrorCode::kInvalidArgument, "the new unseal passphrase is the current one");
  }
  auto root = UnsealKeyFile(path, old_passphrase);
  if (!root) return std::unexpected(root.error());
  return WriteSealed(path, root->reveal(), new_passphrase, params);
}

namespace {

// Seals `root` under `passphrase` with a fresh salt and nonce and writes `path` (0600, atomically:
// a crash leaves the old file or the new one, never a mix).
Result<void> WriteSealed(const std::filesystem::path& path, std::span<const std::uint8_t> root,
                         std::span<const std::uint8_t> passphrase,
                         const crypto::Argon2idParams& params) {
  const std::uint64_t memory_kib = params.memory_bytes >> 10;
  std::array<std::uint8_t, kSealedKeyFileSize> file{};
  std::memcpy(file.data(), kMagic.data(), kMagic.size());
  PutU32(file.data() + kIterationsAt, static_cast<std::uint32_t>(params.iterations));
  PutU32(file.data() + kMemoryAt, static_cast<std::uint32_t>(memory_kib));
  if (auto r = crypto::FillRandom(std::span(file).subspan(kSaltAt, crypto::kArgon2SaltSize)); !r) {
    return std::unexpected(r.error());
  }
  auto nonce = std::span(file).subspan<kNonceAt, crypto::Aes256Gcm::kNonceSize>();
  if (auto r = crypto::NextNonce(nonce); !r) return std::unexpected(r.error());

  auto wrapping_key = WrappingKey(passphrase, file.data());
  if (!wrapping_key) return std::unexpected(wrapping_key.error());
  auto aead = crypto::Aes256Gcm::Create(wrapping_key->reveal());
  if (!aead) return std::unexpected(aead.error());
  if (auto sealed = aead->Seal(nonce, std::span(file).first(kSealedAt), root,
                               std::span(file).subspan(kSealedAt));
      !sealed) {
    return std::unexpected(sealed.error());
  }
  return WriteFileAtomically(
      path, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), 0600);
}

}  // namespace

Result<SecretBytes> UnsealKeyFile(const std::filesystem::path& path,
                                  std::span<const std::uint8_t> passphrase) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot read sealed key file " + path.string() + ": " + ErrnoMessage(errno));
  }
  std::vector<std::uint8_t> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (file.size() != kSealedKeyFileSize || !std::equal(kMagic.begin(), kMagic.end(), file.begin())) {
    return Fail(ErrorCode::kDataLoss, path.string() + " is not a sealed key file (format v1)");
  }
  const std::uint32_t iterations = GetU32(file.data() + kIterationsAt);
  const std::uint32_t memory_kib = GetU32(file.data() + kMemoryAt);
  if (!WithinBounds(iterations, memory_kib)) {
    return Fail(ErrorCode::kDataLoss, path.string() + " has key-derivation parameters outside safe bounds");
  }
  auto wrapping_key = WrappingKey(passphrase, file.data());
  if (!wrapping_key) return std::unexpected(wrapping_key.error());
  auto aead = crypto::Aes256Gcm::Create(wrapping_key->reveal());
  if (!aead) return std::unexpected(aead.error());
  SecretBytes root(kRootKeySize);
  const auto nonce = std::span<const std::uint8_t>(file).subspan<kNonceAt, crypto::Aes256Gcm::kNonceSize>();
  if (auto opened = aead->Open(nonce, std::span(file).first(kSealedAt),
                               std::span(file).subspan(kSealedAt), root.mutable_bytes());
      !opened) {
    return Fail(ErrorCode::kPermissionDenied,
                "unseal failed: wrong passphrase, or the sealed key file was altered");
  }
  return root;
}

}  // namespace strongroom::keys
