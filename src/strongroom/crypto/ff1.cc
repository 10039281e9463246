#include "strongroom/crypto/ff1.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <memory>

namespace strongroom::crypto {
namespace {

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_clear_free(bn); }
};
struct BnCtxFree {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

Bn NewBn() { return Bn(BN_secure_new()); }

// AES-ECB of single blocks (the cipher CIPH_K of SP 800-38G), fetched once per key size.
const EVP_CIPHER* Ecb(std::size_t key_size) {
  static EVP_CIPHER* aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  static EVP_CIPHER* aes192 = EVP_CIPHER_fetch(nullptr, "AES-192-ECB", nullptr);
  static EVP_CIPHER* aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr);
  return key_size == 16 ? aes128 : key_size == 24 ? aes192 : aes256;
}

using Block = std::array<std::uint8_t, 16>;

// Wipes the working copies of the value (the halves, the PRF input and output) on every return.
struct Wipe {
  std::vector<std::vector<std::uint16_t>*> numerals;
  std::vector<std::vector<std::uint8_t>*> bytes;
  std::uint8_t* block = nullptr;
  ~Wipe() {
    for (auto* v : numerals) OPENSSL_cleanse(v->data(), v->size() * sizeof(std::uint16_t));
    for (auto* v : bytes) OPENSSL_cleanse(v->data(), v->size());
    if (block != nullptr) OPENSSL_cleanse(block, 16);
  }
};

Error Broken() { return Error(ErrorCode::kInternal, "FF1: an OpenSSL call failed"); }

}  // namespace

Result<Ff1> Ff1::Create(std::span<const std::uint8_t> key, unsigned radix) {
  if (key.size() != 16 && key.size() != 24 && key.size() != 32) {
    return Fail(ErrorCode::kInvalidArgument, "FF1 keys have 16, 24 or 32 bytes");
  }
  if (radix < 2 || radix > 65536) {
    return Fail(ErrorCode::kInvalidArgument, "FF1 radix must be between 2 and 65536");
  }
  return Ff1(SecretBytes(key), radix);
}

Result<std::vector<std::uint16_t>> Ff1::Encrypt(std::span<const std::uint16_t> numerals,
                                                std::span<const std::uint8_t> tweak) const {
  return Run(numerals, tweak, true);
}

Result<std::vector<std::uint16_t>> Ff1::Decrypt(std::span<const std::uint16_t> numerals,
                                                std::span<const std::uint8_t> tweak) const {
  return Run(numerals, tweak, false);
}

// SP 800-38G Algorithms 7 (FF1.Encrypt) and 8 (FF1.Decrypt); step numbers refer to them.
Result<std::vector<std::uint16_t>> Ff1::Run(std::span<const std::uint16_t> numerals,
                                            std::span<const std::uint8_t> tweak,
                                            bool encrypt) const {
  const std::size_t n = numerals.size();
  const std::size_t t = tweak.size();
  if (n < 2 || n > kMaxNumerals) {
    return Fail(ErrorCode::kInvalidArgument, "FF1 takes 2 to 4096 numerals");
  }
  if (t > kMaxTweakBytes) return Fail(ErrorCode::kInvalidArgument, "FF1 tweak is too long");
  for (const std::uint16_t x : numerals) {
    if (x >= radix_) return Fail(ErrorCode::kInvalidArgument, "FF1 numeral out of range");
  }
  std::unique_ptr<BN_CTX, BnCtxFree> bn_ctx(BN_CTX_secure_new());
  std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> aes(EVP_CIPHER_CTX_new());
  if (!bn_ctx || !aes ||
      EVP_EncryptInit_ex2(aes.get(), Ecb(key_.size()), key_.reveal().data(), nullptr, nullptr) !=
          1 ||
      EVP_CIPHER_CTX_set_padding(aes.get(), 0) != 1) {
    return std::unexpected(Broken());
  }
  const auto cipher_block = [&](const Block& in, Block& out) {
    int len = 0;
    return EVP_EncryptUpdate(aes.get(), out.data(), &len, in.data(), 16) == 1 && len == 16;
  };

  // 1-2. u = floor(n/2), v = n - u; A and B are the halves.
  const std::size_t u = n / 2, v = n - u;
  // radix^u, radix^v; the domain rule radix^n >= 10^6 (Rev. 1).
  Bn radix_bn = NewBn(), radix_u = NewBn(), radix_v = NewBn(), exponent = NewBn();
  Bn domain = NewBn(), million = NewBn(), y = NewBn(), num = NewBn(), c = NewBn();
  if (!radix_bn || !radix_u || !radix_v || !exponent || !domain || !million || !y || !num || !c ||
      BN_set_word(radix_bn.get(), radix_) != 1 || BN_set_word(exponent.get(), u) != 1 ||
      BN_exp(radix_u.get(), radix_bn.get(), exponent.get(), bn_ctx.get()) != 1 ||
      BN_set_word(exponent.get(), v) != 1 ||
      BN_exp(radix_v.get(), radix_bn.get(), exponent.get(), bn_ctx.get()) != 1 ||
      BN_mul(domain.get(), radix_u.get(), radix_v.get(), bn_ctx.get()) != 1 ||
      BN_set_word(million.get(), 1'000'000) != 1) {
    return std::unexpected(Broken());
  }
  if (BN_cmp(domain.get(), million.get()) < 0) {
    return Fail(ErrorCode::kInvalidArgument,
                "FF1 needs radix^length >= 1,000,000 (NIST SP 800-38G Rev. 1)");
  }
  // 3. b = ceil(ceil(v * log2(radix)) / 8): the bytes of radix^v - 1, computed exactly.
  Bn top = NewBn();
  if (!top || BN_copy(top.get(), radix_v.get()) == nullptr || BN_sub_word(top.get(), 1) != 1) {
    return std::unexpected(Broken());
  }
  const std::size_t b = static_cast<std::size_t>(BN_num_bytes(top.get()));
  // 4. d = 4 * ceil(b / 4) + 4.
  const std::size_t d = 4 * ((b + 3) / 4) + 4;
  // 5. P = [1]^1 || [2]^1 || [1]^1 || [radix]^3 || [10]^1 || [u mod 256]^1 || [n]^4 || [t]^4.
  std::vector<std::uint8_t> pq = {1,
                                  2,
                                  1,
                                  static_cast<std::uint8_t>(radix_ >> 16),
                                  static_cast<std::uint8_t>(radix_ >> 8),
                                  static_cast<std::uint8_t>(radix_),
                                  10,
                                  static_cast<std::uint8_t>(u % 256),
                                  static_cast<std::uint8_t>(n >> 24),
                                  static_cast<std::uint8_t>(n >> 16),
                                  static_cast<std::uint8_t>(n >> 8),
                                  static_cast<std::uint8_t>(n),
                                  static_cast<std::uint8_t>(t >> 24),
                                  static_cast<std::uint8_t>(t >> 16),
                                  static_cast<std::uint8_t>(t >> 8),
                                  static_cast<std::uint8_t>(t)};
  // Q = T || [0]^((-t-b-1) mod 16) || [i]^1 || [NUM_radix(B)]^b, after P.
  const std::size_t zeros = (16 - (t + b + 1) % 16) % 16;
  pq.insert(pq.end(), tweak.begin(), tweak.end());
  pq.insert(pq.end(), zeros, 0);
  const std::size_t round_at = pq.size();
  pq.resize(round_at + 1 + b);

  std::vector<std::uint16_t> a(numerals.begin(), numerals.begin() + static_cast<std::ptrdiff_t>(u));
  std::vector<std::uint16_t> bb(numerals.begin() + static_cast<std::ptrdiff_t>(u), numerals.end());
  const auto num_radix = [&](const std::vector<std::uint16_t>& x, BIGNUM* out) {
    BN_zero(out);
    for (const std::uint16_t digit : x) {
      if (BN_mul_word(out, radix_) != 1 || BN_add_word(out, digit) != 1) return false;
    }
    return true;
  };
  std::vector<std::uint8_t> s((d + 15) / 16 * 16);
  std::vector<std::uint16_t> numerals_c;
  Block r{};
  Wipe wipe{{&a, &bb, &numerals_c}, {&pq, &s}, r.data()};
  for (int step = 0; step < 10; ++step) {
    const int i = encrypt ? step : 9 - step;
    // 6.i. The round's Q: its number and NUM_radix of the half that feeds the round (B when
    // encrypting, A when decrypting) as b bytes.
    pq[round_at] = static_cast<std::uint8_t>(i);
    if (!num_radix(encrypt ? bb : a, num.get()) ||
        BN_bn2binpad(num.get(), pq.data() + round_at + 1, static_cast<int>(b)) < 0) {
      return std::unexpected(Broken());
    }
    // 6.ii. R = PRF(P || Q): CBC-MAC with a zero IV, the last block.
    r.fill(0);
    for (std::size_t at = 0; at < pq.size(); at += 16) {
      for (std::size_t k = 0; k < 16; ++k) r[k] ^= pq[at + k];
      if (!cipher_block(r, r)) return std::unexpected(Broken());
    }
    // 6.iii. S = the first d bytes of R || CIPH(R xor [1]^16) || CIPH(R xor [2]^16) || ...
    std::copy(r.begin(), r.end(), s.begin());
    for (std::size_t j = 1; j < s.size() / 16; ++j) {
      Block in = r;
      for (std::size_t k = 0; k < 8; ++k) in[15 - k] ^= static_cast<std::uint8_t>(j >> (8 * k));
      Block out{};
      if (!cipher_block(in, out)) return std::unexpected(Broken());
      std::copy(out.begin(), out.end(), s.begin() + static_cast<std::ptrdiff_t>(16 * j));
    }
    // 6.iv-vi. y = NUM(S); m = u for even rounds, v for odd;
    // c = (NUM_radix(A) + y) mod radix^m, or (NUM_radix(B) - y) mod radix^m to decrypt.
    const std::size_t m = i % 2 == 0 ? u : v;
    const BIGNUM* modulus = i % 2 == 0 ? radix_u.get() : radix_v.get();
    if (BN_bin2bn(s.data(), static_cast<int>(d), y.get()) == nullptr ||
        !num_radix(encrypt ? a : bb, num.get()) ||
        (encrypt ? BN_mod_add(c.get(), num.get(), y.get(), modulus, bn_ctx.get())
                 : BN_mod_sub(c.get(), num.get(), y.get(), modulus, bn_ctx.get())) != 1) {
      return std::unexpected(Broken());
    }
    // 6.vii. C = STR^m_radix(c).
    numerals_c.assign(m, 0);
    for (std::size_t k = m; k-- > 0;) {
      const BN_ULONG digit = BN_div_word(c.get(), radix_);
      if (digit == static_cast<BN_ULONG>(-1)) return std::unexpected(Broken());
      numerals_c[k] = static_cast<std::uint16_t>(digit);
    }
    // 6.viii-ix. Encrypt: A = B, B = C. Decrypt: B = A, A = C.
    if (encrypt) {
      a.swap(bb);
      bb.swap(numerals_c);
    } else {
      bb.swap(a);
      a.swap(numerals_c);
    }
  }
  // 7. A || B (a copy: the working vectors are wiped).
  std::vector<std::uint16_t> result(a);
  result.insert(result.end(), bb.begin(), bb.end());
  return result;
}

Result<std::string> Ff1::EncryptText(std::string_view alphabet, std::string_view text,
                                     std::span<const std::uint8_t> tweak) const {
  return RunText(alphabet, text, tweak, true);
}

Result<std::string> Ff1::DecryptText(std::string_view alphabet, std::string_view text,
                                     std::span<const std::uint8_t> tweak) const {
  return RunText(alphabet, text, tweak, false);
}

Result<std::string> Ff1::RunText(std::string_view alphabet, std::string_view text,
                                 std::span<const std::uint8_t> tweak, bool encrypt) const {
  if (alphabet.size() != radix_) {
    return Fail(ErrorCode::kInvalidArgument, "FF1 alphabet size must equal the radix");
  }
  std::array<int, 256> index{};
  index.fill(-1);
  for (std::size_t k = 0; k < alphabet.size(); ++k) {
    auto& slot = index[static_cast<unsigned char>(alphabet[k])];
    if (slot != -1) return Fail(ErrorCode::kInvalidArgument, "FF1 alphabet repeats a character");
    slot = static_cast<int>(k);
  }
  std::vector<std::uint16_t> numerals;
  numerals.reserve(text.size());
  for (const char ch : text) {
    const int k = index[static_cast<unsigned char>(ch)];
    if (k < 0) return Fail(ErrorCode::kInvalidArgument, "a character is not in the FF1 alphabet");
    numerals.push_back(static_cast<std::uint16_t>(k));
  }
  auto out = Run(numerals, tweak, encrypt);
  if (!out) return std::unexpected(out.error());
  std::string result;
  result.reserve(out->size());
  for (const std::uint16_t k : *out) result.push_back(alphabet[k]);
  return result;
}

}  // namespace strongroom::crypto
