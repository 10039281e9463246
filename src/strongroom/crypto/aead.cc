#include "strongroom/crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

#include <array>
#include <atomic>
#include <climits>
#include <cstring>

#include "strongroom/crypto/random.h"

namespace strongroom::crypto {
namespace {

// Fetched once: an implicit EVP_aes_256_gcm() lookup per message is measurable.
const EVP_CIPHER* Cipher() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

bool FitsInt(std::size_t n) { return n <= static_cast<std::size_t>(INT_MAX); }

}  // namespace

struct Aes256Gcm::Contexts {
  CtxPtr seal;
  CtxPtr open;
};

Aes256Gcm::Aes256Gcm(std::unique_ptr<Contexts> contexts) : contexts_(std::move(contexts)) {}
Aes256Gcm::~Aes256Gcm() = default;
Aes256Gcm::Aes256Gcm(Aes256Gcm&&) noexcept = default;
Aes256Gcm& Aes256Gcm::operator=(Aes256Gcm&&) noexcept = default;

Result<Aes256Gcm> Aes256Gcm::Create(std::span<const std::uint8_t> key) {
  if (key.size() != kKeySize) {
    return Fail(ErrorCode::kInvalidArgument, "AES-256-GCM needs a 32-byte key");
  }
  if (Cipher() == nullptr) return Fail(ErrorCode::kInternal, "AES-256-GCM is not available");
  auto contexts = std::make_unique<Contexts>();
  contexts->seal.reset(EVP_CIPHER_CTX_new());
  contexts->open.reset(EVP_CIPHER_CTX_new());
  if (!contexts->seal || !contexts->open ||
      EVP_EncryptInit_ex2(contexts->seal.get(), Cipher(), key.data(), nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(contexts->open.get(), Cipher(), key.data(), nullptr, nullptr) != 1) {
    return Fail(ErrorCode::kInternal, "AES-256-GCM context setup failed");
  }
  return Aes256Gcm(std::move(contexts));
}

Result<void> Aes256Gcm::Seal(Nonce nonce, std::span<const std::uint8_t> aad,
                             std::span<const std::uint8_t> plaintext,
                             std::span<std::uint8_t> out) {
  if (out.size() != plaintext.size() + kTagSize || !FitsInt(plaintext.size()) ||
      !FitsInt(aad.size())) {
    return Fail(ErrorCode::kInvalidArgument, "AES-256-GCM seal: bad buffer sizes");
  }
  EVP_CIPHER_CTX* ctx = contexts_->seal.get();
  int len = 0;
  // The key stays in the context; only the nonce changes per message.
  const bool ok =
      EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) == 1 &&
      (aad.empty() ||
       EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
      (plaintext.empty() || EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(),
                                              static_cast<int>(plaintext.size())) == 1) &&
      EVP_EncryptFinal_ex(ctx, out.data() + plaintext.size(), &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                          out.data() + plaintext.size()) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return Fail(ErrorCode::kInternal, "AES-256-GCM seal failed");
  }
  return {};
}

Result<void> Aes256Gcm::Open(Nonce nonce, std::span<const std::uint8_t> aad,
                             std::span<const std::uint8_t> sealed, std::span<std::uint8_t> out) {
  if (sealed.size() < kTagSize || out.size() != sealed.size() - kTagSize ||
      !FitsInt(sealed.size()) || !FitsInt(aad.size())) {
    return Fail(ErrorCode::kInvalidArgument, "AES-256-GCM open: bad buffer sizes");
  }
  EVP_CIPHER_CTX* ctx = contexts_->open.get();
  const std::size_t ciphertext_size = sealed.size() - kTagSize;
  std::array<std::uint8_t, kTagSize> tag;
  std::memcpy(tag.data(), sealed.data() + ciphertext_size, kTagSize);
  int len = 0;
  const bool ok =
      EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) == 1 &&
      (aad.empty() ||
       EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1) &&
      (ciphertext_size == 0 || EVP_DecryptUpdate(ctx, out.data(), &len, sealed.data(),
                                                 static_cast<int>(ciphertext_size)) == 1) &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize), tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx, out.data() + ciphertext_size, &len) == 1;
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return Fail(ErrorCode::kDataLoss, "AES-256-GCM authentication failed");
  }
  return {};
}

namespace {
// Bumped in a child after fork(), so buffered random bytes are never used by two processes.
// (getpid() would be a syscall per nonce on current glibc.)
std::atomic<std::uint64_t> g_fork_generation{1};
const bool g_atfork_registered = [] {
  return ::pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1); }) == 0;
}();
}  // namespace

Result<void> NextNonce(std::span<std::uint8_t, Aes256Gcm::kNonceSize> out) {
  thread_local std::array<std::uint8_t, 4096> pool;
  thread_local std::size_t used = pool.size();
  thread_local std::uint64_t generation = 0;
  const std::uint64_t current = g_fork_generation.load(std::memory_order_relaxed);
  if (!g_atfork_registered || generation != current || used + out.size() > pool.size()) {
    if (auto filled = FillRandom(pool); !filled) return filled;
    used = 0;
    generation = current;
  }
  std::memcpy(out.data(), pool.data() + used, out.size());
  OPENSSL_cleanse(pool.data() + used, out.size());  // a nonce is handed out exactly once
  used += out.size();
  return {};
}

}  // namespace strongroom::crypto
