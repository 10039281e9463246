#include "strongroom/keys/pkcs11/pkcs11_root_key.h"

// p11-kit loads the module (dlopen, C_GetFunctionList, C_Initialize with OS locking) and gives the
// standard PKCS#11 header: the library made for talking to PKCS#11 modules. libp11 would add
// nothing here (it is an OpenSSL engine for asymmetric keys), so the few calls below are direct.
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "strongroom/base/files.h"
#include "strongroom/crypto/random.h"
#include "strongroom/keys/sealed_key_file.h"

namespace strongroom::keys {
namespace {

// File format v1 (docs/formats/pkcs11-root-key-v1.md): magic | GCM IV | ciphertext | tag; the
// magic is the AAD.
constexpr std::array<std::uint8_t, 8> kMagic = {'S', 'R', 'P', '1', '1', 'R', 'K', '1'};
constexpr std::size_t kIvAt = 8;
constexpr std::size_t kIvSize = 12;
constexpr std::size_t kWrappedAt = kIvAt + kIvSize;
constexpr std::size_t kTagSize = 16;
static_assert(kWrappedAt + kRootKeySize + kTagSize == kPkcs11RootKeyFileSize);

std::string ReturnValueName(CK_RV rv) {
  switch (rv) {
    case CKR_PIN_INCORRECT:
      return "CKR_PIN_INCORRECT";
    case CKR_PIN_LOCKED:
      return "CKR_PIN_LOCKED";
    case CKR_TOKEN_NOT_PRESENT:
      return "CKR_TOKEN_NOT_PRESENT";
    case CKR_DEVICE_ERROR:
      return "CKR_DEVICE_ERROR";
    case CKR_MECHANISM_INVALID:
      return "CKR_MECHANISM_INVALID";
    case CKR_ENCRYPTED_DATA_INVALID:
      return "CKR_ENCRYPTED_DATA_INVALID";
    case CKR_USER_NOT_LOGGED_IN:
      return "CKR_USER_NOT_LOGGED_IN";
    default:
      break;
  }
  std::array<char, 24> hex{};
  (void)std::snprintf(hex.data(), hex.size(), "CKR 0x%lx", static_cast<unsigned long>(rv));
  return hex.data();
}

Error TokenError(std::string_view what, CK_RV rv) {
  return Error(ErrorCode::kFailedPrecondition,
               "PKCS#11 " + std::string(what) + " failed: " + ReturnValueName(rv));
}

// Labels in CK_TOKEN_INFO are 32 bytes padded with spaces.
std::string_view PaddedLabel(const unsigned char (&label)[32]) {
  std::string_view text(reinterpret_cast<const char*>(label), sizeof(label));
  while (!text.empty() && (text.back() == ' ' || text.back() == '\0')) text.remove_suffix(1);
  return text;
}

// A loaded, initialised module with one logged-in session on the configured token; everything
// is undone in the destructor (logout, close, finalize, release), whatever failed on the way.
class TokenSession {
 public:
  static Result<std::unique_ptr<TokenSession>> Open(const Pkcs11Settings& settings,
                                                    std::span<const std::uint8_t> pin,
                                                    bool read_write);
  TokenSession(const TokenSession&) = delete;
  TokenSession& operator=(const TokenSession&) = delete;
  ~TokenSession();

  // The AES secret key labelled `label`; nullopt when the token has none.
  Result<std::optional<CK_OBJECT_HANDLE>> FindKey(std::string_view label);
  Result<CK_OBJECT_HANDLE> MakeKey(std::string_view label);
  // Whether an existing key may wrap the root key: AES-256, kept in the token, never extractable
  // and always sensitive.
  Result<bool> Acceptable(CK_OBJECT_HANDLE key);
  // AES-256-GCM inside the token: `out` gets ciphertext || tag.
  Result<void> Encrypt(CK_OBJECT_HANDLE key, std::span<const std::uint8_t, kIvSize> iv,
                       std::span<const std::uint8_t> aad, std::span<const std::uint8_t> plain,
                       std::span<std::uint8_t> out);
  // `sealed` is ciphertext || tag; the plaintext is written to `out` only when the tag checks.
  Result<void> Decrypt(CK_OBJECT_HANDLE key, std::span<const std::uint8_t, kIvSize> iv,
                       std::span<const std::uint8_t> aad, std::span<const std::uint8_t> sealed,
                       SecretBytes& out);

 private:
  explicit TokenSession(CK_FUNCTION_LIST* module) : module_(module) {}
  Result<void> OpenSession(const Pkcs11Settings& settings, std::span<const std::uint8_t> pin,
                           bool read_write);

  CK_FUNCTION_LIST* module_;
  bool initialized_ = false;
  CK_SESSION_HANDLE session_ = CK_INVALID_HANDLE;
  bool logged_in_ = false;
};

Result<std::unique_ptr<TokenSession>> TokenSession::Open(const Pkcs11Settings& settings,
                                                         std::span<const std::uint8_t> pin,
                                                         bool read_write) {
  if (settings.module.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "no PKCS#11 module configured (keys.pkcs11_module)");
  }
  if (settings.token_label.empty() || settings.key_label.empty()) {
    return Fail(ErrorCode::kFailedPrecondition,
                "keys.pkcs11_token_label and keys.pkcs11_key_label must name the token and key");
  }
  CK_FUNCTION_LIST* module = p11_kit_module_load(settings.module.c_str(), 0);
  if (module == nullptr) {
    const char* why = p11_kit_message();
    return Fail(ErrorCode::kFailedPrecondition, "cannot load PKCS#11 module " +
                                                    settings.module.string() + ": " +
                                                    (why != nullptr ? why : "unknown error"));
  }
  std::unique_ptr<TokenSession> token(new TokenSession(module));
  if (CK_RV rv = p11_kit_module_initialize(module); rv != CKR_OK) {
    return std::unexpected(TokenError("C_Initialize", rv));
  }
  token->initialized_ = true;
  if (auto opened = token->OpenSession(settings, pin, read_write); !opened) {
    return std::unexpected(opened.error());
  }
  return token;
}

Result<void> TokenSession::OpenSession(const Pkcs11Settings& settings,
                                       std::span<const std::uint8_t> pin, bool read_write) {
  CK_ULONG count = 0;
  if (CK_RV rv = module_->C_GetSlotList(CK_TRUE, nullptr, &count); rv != CKR_OK) {
    return std::unexpected(TokenError("C_GetSlotList", rv));
  }
  std::vector<CK_SLOT_ID> slots(count);
  if (CK_RV rv = module_->C_GetSlotList(CK_TRUE, slots.data(), &count); rv != CKR_OK) {
    return std::unexpected(TokenError("C_GetSlotList", rv));
  }
  slots.resize(count);
  std::optional<CK_SLOT_ID> chosen;
  CK_FLAGS token_flags = 0;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    if (module_->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if (PaddedLabel(info.label) != settings.token_label) continue;
    if (chosen) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "several PKCS#11 tokens are labelled '" + settings.token_label + "'");
    }
    chosen = slot;
    token_flags = info.flags;
  }
  if (!chosen) {
    return Fail(ErrorCode::kFailedPrecondition,
                "no PKCS#11 token labelled '" + settings.token_label + "' in " +
                    settings.module.string() + " (" + std::to_string(slots.size()) +
                    " token(s) present)");
  }
  const CK_FLAGS flags = CKF_SERIAL_SESSION | (read_write ? CKF_RW_SESSION : 0);
  if (CK_RV rv = module_->C_OpenSession(*chosen, flags, nullptr, nullptr, &session_);
      rv != CKR_OK) {
    return std::unexpected(TokenError("C_OpenSession", rv));
  }
  // The unseal endpoint is open to whoever reaches it while the vault is sealed: it must not be
  // able to spend a real HSM's last PIN tries and lock the token (which takes its security
  // officer to undo). With one try left, only the token's own tools may use it.
  if ((token_flags & CKF_USER_PIN_LOCKED) != 0) {
    return Fail(ErrorCode::kPermissionDenied,
                "unseal failed: the PKCS#11 token's user PIN is locked (too many wrong PINs)");
  }
  if ((token_flags & CKF_USER_PIN_FINAL_TRY) != 0) {
    return Fail(ErrorCode::kPermissionDenied,
                "unseal refused without trying: the PKCS#11 token has one PIN try left; log in "
                "once with the token's own tools to reset its count");
  }
  // C_Login does not write through the PIN pointer; the header just lacks the const.
  auto* pin_bytes =
      const_cast<CK_UTF8CHAR*>(pin.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  const CK_RV rv = module_->C_Login(session_, CKU_USER, pin_bytes, pin.size());
  if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE || rv == CKR_ARGUMENTS_BAD) {
    return Fail(ErrorCode::kPermissionDenied, "unseal failed: wrong PIN for the PKCS#11 token");
  }
  if (rv == CKR_PIN_LOCKED) {
    return Fail(ErrorCode::kPermissionDenied,
                "unseal failed: the PKCS#11 token's user PIN is locked (too many wrong PINs)");
  }
  // Login is per process and token, not per session: "already logged in" would mean the PIN
  // was never checked, so it is an error, not a success.
  if (rv != CKR_OK) return std::unexpected(TokenError("C_Login", rv));
  logged_in_ = true;
  return {};
}

TokenSession::~TokenSession() {
  if (logged_in_) (void)module_->C_Logout(session_);
  if (session_ != CK_INVALID_HANDLE) (void)module_->C_CloseSession(session_);
  if (initialized_) (void)p11_kit_module_finalize(module_);
  p11_kit_module_release(module_);
}

Result<std::optional<CK_OBJECT_HANDLE>> TokenSession::FindKey(std::string_view label) {
  CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
  CK_KEY_TYPE key_type = CKK_AES;
  std::string label_copy(label);
  std::array<CK_ATTRIBUTE, 3> search = {{
      {CKA_CLASS, &key_class, sizeof(key_class)},
      {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
      {CKA_LABEL, label_copy.data(), label_copy.size()},
  }};
  if (CK_RV rv = module_->C_FindObjectsInit(session_, search.data(), search.size()); rv != CKR_OK) {
    return std::unexpected(TokenError("C_FindObjectsInit", rv));
  }
  std::array<CK_OBJECT_HANDLE, 2> found{};
  CK_ULONG count = 0;
  const CK_RV rv = module_->C_FindObjects(session_, found.data(), found.size(), &count);
  (void)module_->C_FindObjectsFinal(session_);
  if (rv != CKR_OK) return std::unexpected(TokenError("C_FindObjects", rv));
  if (count > 1) {
    return Fail(ErrorCode::kFailedPrecondition,
                "several AES keys in the token are labelled '" + label_copy + "'");
  }
  if (count == 0) return std::optional<CK_OBJECT_HANDLE>();
  return std::optional<CK_OBJECT_HANDLE>(found[0]);
}

Result<CK_OBJECT_HANDLE> TokenSession::MakeKey(std::string_view label) {
  CK_MECHANISM mechanism{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_CLASS key_class = CKO_SECRET_KEY;
  CK_KEY_TYPE key_type = CKK_AES;
  CK_ULONG length = 32;
  CK_BBOOL yes = CK_TRUE;
  CK_BBOOL no = CK_FALSE;
  std::string label_copy(label);
  // Kept in the token (CKA_TOKEN), usable only after login (CKA_PRIVATE), its value never
  // readable (CKA_SENSITIVE) nor wrappable out (CKA_EXTRACTABLE false); it only encrypts and
  // decrypts.
  std::array<CK_ATTRIBUTE, 12> attributes = {{
      {CKA_CLASS, &key_class, sizeof(key_class)},
      {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
      {CKA_VALUE_LEN, &length, sizeof(length)},
      {CKA_LABEL, label_copy.data(), label_copy.size()},
      {CKA_TOKEN, &yes, sizeof(yes)},
      {CKA_PRIVATE, &yes, sizeof(yes)},
      {CKA_SENSITIVE, &yes, sizeof(yes)},
      {CKA_EXTRACTABLE, &no, sizeof(no)},
      {CKA_ENCRYPT, &yes, sizeof(yes)},
      {CKA_DECRYPT, &yes, sizeof(yes)},
      {CKA_WRAP, &no, sizeof(no)},
      {CKA_UNWRAP, &no, sizeof(no)},
  }};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  if (CK_RV rv =
          module_->C_GenerateKey(session_, &mechanism, attributes.data(), attributes.size(), &key);
      rv != CKR_OK) {
    return std::unexpected(TokenError("C_GenerateKey (AES-256)", rv));
  }
  return key;
}

Result<bool> TokenSession::Acceptable(CK_OBJECT_HANDLE key) {
  CK_BBOOL never_extractable = CK_FALSE;
  CK_BBOOL always_sensitive = CK_FALSE;
  CK_BBOOL on_token = CK_FALSE;
  CK_ULONG length = 0;
  // NEVER_EXTRACTABLE and ALWAYS_SENSITIVE, not only their current values: a key that could
  // once be read out may have been.
  std::array<CK_ATTRIBUTE, 4> wanted = {{
      {CKA_NEVER_EXTRACTABLE, &never_extractable, sizeof(never_extractable)},
      {CKA_ALWAYS_SENSITIVE, &always_sensitive, sizeof(always_sensitive)},
      {CKA_TOKEN, &on_token, sizeof(on_token)},
      {CKA_VALUE_LEN, &length, sizeof(length)},
  }};
  if (CK_RV rv = module_->C_GetAttributeValue(session_, key, wanted.data(), wanted.size());
      rv != CKR_OK) {
    return std::unexpected(TokenError("C_GetAttributeValue", rv));
  }
  return never_extractable == CK_TRUE && always_sensitive == CK_TRUE && on_token == CK_TRUE &&
         length == 32;
}

CK_GCM_PARAMS GcmParameters(std::span<const std::uint8_t, kIvSize> iv,
                            std::span<const std::uint8_t> aad) {
  // The header lacks const on these pointers; the token only reads them.
  return CK_GCM_PARAMS{
      .iv_ptr =
          const_cast<unsigned char*>(iv.data()),  // NOLINT(cppcoreguidelines-pro-type-const-cast)
      .iv_len = iv.size(),
      .iv_bits = iv.size() * 8,
      .aad_ptr =
          const_cast<unsigned char*>(aad.data()),  // NOLINT(cppcoreguidelines-pro-type-const-cast)
      .aad_len = aad.size(),
      .tag_bits = kTagSize * 8,
  };
}

Result<void> TokenSession::Encrypt(CK_OBJECT_HANDLE key, std::span<const std::uint8_t, kIvSize> iv,
                                   std::span<const std::uint8_t> aad,
                                   std::span<const std::uint8_t> plain,
                                   std::span<std::uint8_t> out) {
  CK_GCM_PARAMS params = GcmParameters(iv, aad);
  CK_MECHANISM mechanism{CKM_AES_GCM, &params, sizeof(params)};
  if (CK_RV rv = module_->C_EncryptInit(session_, &mechanism, key); rv != CKR_OK) {
    return std::unexpected(TokenError("C_EncryptInit (AES-GCM)", rv));
  }
  CK_ULONG written = out.size();
  auto* in = const_cast<CK_BYTE*>(plain.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  if (CK_RV rv = module_->C_Encrypt(session_, in, plain.size(), out.data(), &written);
      rv != CKR_OK) {
    return std::unexpected(TokenError("C_Encrypt (AES-GCM)", rv));
  }
  if (written != out.size()) {
    return Fail(ErrorCode::kFailedPrecondition, "the PKCS#11 token's AES-GCM gave " +
                                                    std::to_string(written) + " bytes, not " +
                                                    std::to_string(out.size()));
  }
  return {};
}

Result<void> TokenSession::Decrypt(CK_OBJECT_HANDLE key, std::span<const std::uint8_t, kIvSize> iv,
                                   std::span<const std::uint8_t> aad,
                                   std::span<const std::uint8_t> sealed, SecretBytes& out) {
  CK_GCM_PARAMS params = GcmParameters(iv, aad);
  CK_MECHANISM mechanism{CKM_AES_GCM, &params, sizeof(params)};
  if (CK_RV rv = module_->C_DecryptInit(session_, &mechanism, key); rv != CKR_OK) {
    return std::unexpected(TokenError("C_DecryptInit (AES-GCM)", rv));
  }
  // Some tokens ask for room for the whole input before they take the tag off.
  SecretBytes plain(sealed.size());
  CK_ULONG written = plain.size();
  auto* in = const_cast<CK_BYTE*>(sealed.data());  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  const CK_RV rv =
      module_->C_Decrypt(session_, in, sealed.size(), plain.mutable_bytes().data(), &written);
  // Only a tag that does not check is "wrong key or altered file" (CKR_GENERAL_ERROR is what
  // SoftHSM2 answers for it; 0x35 is PKCS#11 3.0's CKR_AEAD_DECRYPT_FAILED, newer than p11-kit's
  // header). Anything else (a device or session error) is the token's problem, said as such.
  constexpr CK_RV kAeadDecryptFailed = 0x35;
  const bool refused = rv == CKR_ENCRYPTED_DATA_INVALID || rv == CKR_ENCRYPTED_DATA_LEN_RANGE ||
                       rv == CKR_GENERAL_ERROR || rv == kAeadDecryptFailed;
  if (rv != CKR_OK && !refused) return std::unexpected(TokenError("C_Decrypt (AES-GCM)", rv));
  if (rv != CKR_OK || written != kRootKeySize) {
    return Fail(ErrorCode::kPermissionDenied,
                "unseal failed: the token's key does not open the root key file (it was altered, "
                "or wrapped by another key)");
  }
  out = SecretBytes(plain.reveal().first(kRootKeySize));
  return {};
}

}  // namespace

// One token operation at a time in the process: C_Initialize/C_Finalize and the login state are
// per process, so two providers (or a provider and the CLI's checks) must not interleave.
std::mutex& TokenMutex() {
  static std::mutex mutex;
  return mutex;
}

Result<SecretBytes> Pkcs11RootKeyProvider::Unseal(std::span<const std::uint8_t> pin) const {
  std::ifstream in(file_, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot read root key file " + file_.string() + ": " + ErrnoMessage(errno));
  }
  std::vector<std::uint8_t> file((std::istreambuf_iterator<char>(in)),
                                 std::istreambuf_iterator<char>());
  if (file.size() != kPkcs11RootKeyFileSize ||
      !std::equal(kMagic.begin(), kMagic.end(), file.begin())) {
    return Fail(ErrorCode::kDataLoss,
                file_.string() + " is not a PKCS#11 root key file (format v1)");
  }
  std::scoped_lock lock(TokenMutex());
  auto token = TokenSession::Open(settings_, pin, /*read_write=*/false);
  if (!token) return std::unexpected(token.error());
  auto key = (*token)->FindKey(settings_.key_label);
  if (!key) return std::unexpected(key.error());
  if (!*key) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the PKCS#11 token has no AES key labelled '" + settings_.key_label + "'");
  }
  SecretBytes root;
  const std::span<const std::uint8_t> bytes(file);
  if (auto opened = (*token)->Decrypt(**key, bytes.subspan<kIvAt, kIvSize>(), bytes.first(kIvAt),
                                      bytes.subspan(kWrappedAt), root);
      !opened) {
    return std::unexpected(opened.error());
  }
  return root;
}

Result<void> Pkcs11RootKeyProvider::Adopt(std::span<const std::uint8_t> root,
                                          std::span<const std::uint8_t> pin) const {
  if (root.size() != kRootKeySize) {
    return Fail(ErrorCode::kInvalidArgument,
                "a root key is " + std::to_string(kRootKeySize) + " bytes");
  }
  std::error_code ec;
  if (std::filesystem::exists(file_, ec) || ec) {
    return Fail(ErrorCode::kAlreadyExists, "refusing to replace root key file " + file_.string());
  }
  std::array<std::uint8_t, kPkcs11RootKeyFileSize> file{};
  std::memcpy(file.data(), kMagic.data(), kMagic.size());
  const auto iv = std::span(file).subspan<kIvAt, kIvSize>();
  // A random 96-bit IV: each key wraps a handful of root keys in its life, far from the 2^32
  // random-IV bound of NIST SP 800-38D.
  if (auto r = crypto::FillRandom(iv); !r) return std::unexpected(r.error());

  std::scoped_lock lock(TokenMutex());
  auto token = TokenSession::Open(settings_, pin, /*read_write=*/true);
  if (!token) return std::unexpected(token.error());
  auto key = (*token)->FindKey(settings_.key_label);
  if (!key) return std::unexpected(key.error());
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  if (*key) {
    auto acceptable = (*token)->Acceptable(**key);
    if (!acceptable) return std::unexpected(acceptable.error());
    if (!*acceptable) {
      return Fail(ErrorCode::kFailedPrecondition,
                  "the token's key labelled '" + settings_.key_label +
                      "' is not an AES-256 token key that never left the token (never "
                      "extractable, always sensitive): give a new label and Strongroom makes one");
    }
    handle = **key;
  } else {
    auto made = (*token)->MakeKey(settings_.key_label);
    if (!made) return std::unexpected(made.error());
    handle = *made;
  }
  if (auto sealed = (*token)->Encrypt(handle, iv, std::span(file).first(kIvAt), root,
                                      std::span(file).subspan(kWrappedAt));
      !sealed) {
    return std::unexpected(sealed.error());
  }
  return WriteFileAtomically(
      file_, std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), 0600);
}

}  // namespace strongroom::keys
