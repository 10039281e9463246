#include "strongroom/backup/backup_format.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/crypto/random.h"

namespace strongroom::backup {
namespace {

namespace json = boost::json;

std::span<const std::uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

json::array PiecesToJson(const std::vector<PieceRef>& pieces) {
  json::array out;
  for (const PieceRef& piece : pieces) {
    out.push_back(
        json::object{{"file", piece.file}, {"bytes", piece.bytes}, {"sha256", piece.sha256}});
  }
  return out;
}

// Reads members of a parsed manifest, remembering the first problem for the error message.
class Reader {
 public:
  std::string String(const json::object& object, std::string_view name) {
    const json::value* value = object.if_contains(name);
    if (value == nullptr || !value->is_string()) {
      Note(name, "a string");
      return {};
    }
    return std::string(value->as_string());
  }
  std::uint64_t Number(const json::object& object, std::string_view name) {
    const json::value* value = object.if_contains(name);
    if (value != nullptr && value->is_uint64()) return value->as_uint64();
    if (value != nullptr && value->is_int64() && value->as_int64() >= 0) {
      return static_cast<std::uint64_t>(value->as_int64());
    }
    Note(name, "a whole number");
    return 0;
  }
  const json::array& Array(const json::object& object, std::string_view name) {
    static const json::array kEmpty;
    const json::value* value = object.if_contains(name);
    if (value == nullptr || !value->is_array()) {
      Note(name, "an array");
      return kEmpty;
    }
    return value->as_array();
  }
  const json::object& Object(const json::value& value, std::string_view what) {
    static const json::object kEmpty;
    if (!value.is_object()) {
      Note(what, "an object");
      return kEmpty;
    }
    return value.as_object();
  }
  std::vector<PieceRef> Pieces(const json::object& object) {
    std::vector<PieceRef> pieces;
    for (const json::value& item : Array(object, "pieces")) {
      const json::object& piece = Object(item, "pieces[]");
      pieces.push_back({String(piece, "file"), Number(piece, "bytes"), String(piece, "sha256")});
    }
    return pieces;
  }
  const std::string& problem() const { return problem_; }

 private:
  void Note(std::string_view name, std::string_view expected) {
    if (problem_.empty())
      problem_ = "\"" + std::string(name) + "\" must be " + std::string(expected);
  }
  std::string problem_;
};

// The wrapped data key is bound to its backup: moved into another manifest, it fails to unwrap.
std::string WrapAad(std::string_view backup_id) {
  std::string aad = std::string(kFormat) + " key";
  aad.push_back('\0');
  aad.append(backup_id);
  return aad;
}

constexpr std::string_view kWrapInfo = "strongroom-backup-v1 wrap";
constexpr std::string_view kSignInfo = "strongroom-backup-v1 sign";
constexpr std::string_view kMacInfo = "strongroom-backup-v1 file-mac";

}  // namespace

std::string StoreStreamName(std::string_view store) { return "store:" + std::string(store); }
std::string FileStreamName(std::string_view path) { return "file:" + std::string(path); }

std::string SerializeManifest(const Manifest& m) {
  json::array stores;
  for (const StoreStream& s : m.stores) {
    stores.push_back(json::object{{"name", s.name},
                                  {"store_id", s.store_id},
                                  {"seq", s.seq},
                                  {"since", s.since},
                                  {"page_size", s.page_size},
                                  {"puts", s.puts},
                                  {"deletes", s.deletes},
                                  {"pieces", PiecesToJson(s.pieces)}});
  }
  json::array files;
  for (const FileStream& f : m.files) {
    files.push_back(json::object{{"path", f.path},
                                 {"offset", f.offset},
                                 {"size", f.size},
                                 {"digest", f.digest},
                                 {"pieces", PiecesToJson(f.pieces)}});
  }
  json::object out{{"format", kFormat},        {"id", m.id},
                   {"kind", m.kind},           {"created_at", m.created_at},
                   {"parent_id", m.parent_id}, {"parent_manifest_sha256", m.parent_manifest_sha256},
                   {"full_id", m.full_id},     {"wrapped_key", m.wrapped_key},
                   {"bytes", m.bytes},         {"stores", std::move(stores)},
                   {"files", std::move(files)}};
  return json::serialize(out);
}

Result<Manifest> ParseManifest(std::string_view text) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(text, ec);
  if (ec) return Fail(ErrorCode::kDataLoss, "manifest is not JSON");
  Reader read;
  const json::object& root = read.Object(parsed, "manifest");
  if (!read.problem().empty()) return Fail(ErrorCode::kDataLoss, "manifest " + read.problem());
  if (read.String(root, "format") != kFormat) {
    return Fail(ErrorCode::kDataLoss, "manifest is not " + std::string(kFormat));
  }
  Manifest m;
  m.id = read.String(root, "id");
  m.kind = read.String(root, "kind");
  m.created_at = read.String(root, "created_at");
  m.parent_id = read.String(root, "parent_id");
  m.parent_manifest_sha256 = read.String(root, "parent_manifest_sha256");
  m.full_id = read.String(root, "full_id");
  m.wrapped_key = read.String(root, "wrapped_key");
  m.bytes = read.Number(root, "bytes");
  for (const json::value& item : read.Array(root, "stores")) {
    const json::object& s = read.Object(item, "stores[]");
    StoreStream store;
    store.name = read.String(s, "name");
    store.store_id = read.String(s, "store_id");
    store.seq = read.Number(s, "seq");
    store.since = read.Number(s, "since");
    store.page_size = static_cast<int>(read.Number(s, "page_size"));
    store.puts = read.Number(s, "puts");
    store.deletes = read.Number(s, "deletes");
    store.pieces = read.Pieces(s);
    m.stores.push_back(std::move(store));
  }
  for (const json::value& item : read.Array(root, "files")) {
    const json::object& f = read.Object(item, "files[]");
    FileStream file;
    file.path = read.String(f, "path");
    file.offset = read.Number(f, "offset");
    file.size = read.Number(f, "size");
    file.digest = read.String(f, "digest");
    file.pieces = read.Pieces(f);
    m.files.push_back(std::move(file));
  }
  if (!read.problem().empty()) return Fail(ErrorCode::kDataLoss, "manifest " + read.problem());
  if (m.kind != "full" && m.kind != "incremental") {
    return Fail(ErrorCode::kDataLoss, "manifest kind must be full or incremental");
  }
  if ((m.kind == "full") != m.parent_id.empty()) {
    return Fail(ErrorCode::kDataLoss, "a full backup has no parent; an incremental has one");
  }
  return m;
}

Result<PieceCipher> PieceCipher::Create(std::span<const std::uint8_t> data_key,
                                        std::string backup_id) {
  auto aead = crypto::Aes256Gcm::Create(data_key);
  if (!aead) return std::unexpected(aead.error());
  return PieceCipher(std::move(*aead), std::move(backup_id));
}

std::vector<std::uint8_t> PieceCipher::Aad(std::string_view stream, std::uint64_t index,
                                           bool final) const {
  std::string aad = std::string(kFormat);
  for (std::string_view part : {std::string_view(backup_id_), stream}) {
    aad.push_back('\0');
    aad.append(part);
  }
  aad.push_back('\0');
  aad += std::to_string(index);
  aad.push_back('\0');
  aad.push_back(final ? '1' : '0');
  return {aad.begin(), aad.end()};
}

Result<std::vector<std::uint8_t>> PieceCipher::Seal(std::string_view stream, std::uint64_t index,
                                                    bool final,
                                                    std::span<const std::uint8_t> plaintext) {
  std::vector<std::uint8_t> out(kPieceHeaderBytes);
  out.insert(out.end(), plaintext.begin(), plaintext.end());
  if (auto sealed = SealInPlace(stream, index, final, out); !sealed) {
    return std::unexpected(sealed.error());
  }
  return out;
}

Result<void> PieceCipher::SealInPlace(std::string_view stream, std::uint64_t index, bool final,
                                      std::vector<std::uint8_t>& piece) {
  constexpr std::size_t kNonce = crypto::Aes256Gcm::kNonceSize;
  static_assert(kPieceHeaderBytes == kNonce);
  if (piece.size() < kNonce) return Fail(ErrorCode::kInternal, "piece without room for a nonce");
  const std::size_t plaintext_bytes = piece.size() - kNonce;
  piece.resize(piece.size() + crypto::Aes256Gcm::kTagSize);
  if (auto nonce = crypto::NextNonce(std::span<std::uint8_t, kNonce>(piece.data(), kNonce));
      !nonce) {
    return std::unexpected(nonce.error());
  }
  const std::span<std::uint8_t> body = std::span<std::uint8_t>(piece).subspan(kNonce);
  return aead_.Seal(std::span<const std::uint8_t, kNonce>(piece.data(), kNonce),
                    Aad(stream, index, final), body.first(plaintext_bytes), body);
}

Result<std::vector<std::uint8_t>> PieceCipher::Open(std::string_view stream, std::uint64_t index,
                                                    bool final,
                                                    std::span<const std::uint8_t> sealed) {
  constexpr std::size_t kNonce = crypto::Aes256Gcm::kNonceSize;
  if (sealed.size() < kNonce + crypto::Aes256Gcm::kTagSize) {
    return Fail(ErrorCode::kDataLoss, "piece is too short");
  }
  std::vector<std::uint8_t> out(sealed.size() - kNonce - crypto::Aes256Gcm::kTagSize);
  if (auto opened = aead_.Open(std::span<const std::uint8_t, kNonce>(sealed.data(), kNonce),
                               Aad(stream, index, final), sealed.subspan(kNonce), out);
      !opened) {
    return Fail(ErrorCode::kDataLoss, "piece does not decrypt (altered, or not this piece)");
  }
  return out;
}

Result<BackupKeys> BackupKeys::Derive(std::span<const std::uint8_t> root_key) {
  return FromRoot(
      [&](std::string_view info) { return crypto::HkdfSha256(root_key, {}, Bytes(info), 32); });
}

Result<BackupKeys> BackupKeys::FromRoot(const RootDerivation& derive) {
  auto wrap_key = derive(kWrapInfo);
  auto seed = derive(kSignInfo);
  auto mac_key = derive(kMacInfo);
  if (!wrap_key || !seed || !mac_key) return Fail(ErrorCode::kInternal, "backup key derivation");
  auto wrap = crypto::Aes256Gcm::Create(wrap_key->reveal());
  auto signer = crypto::Ed25519Signer::FromSeed(seed->reveal());
  auto mac = crypto::HmacSha256::Create(mac_key->reveal());
  if (!wrap) return std::unexpected(wrap.error());
  if (!signer) return std::unexpected(signer.error());
  if (!mac) return std::unexpected(mac.error());
  return BackupKeys(std::move(*wrap), std::move(*signer), std::move(*mac));
}

Result<std::pair<SecretBytes, std::string>> BackupKeys::NewDataKey(std::string_view backup_id) {
  auto key = crypto::RandomSecret(32);
  if (!key) return std::unexpected(key.error());
  constexpr std::size_t kNonce = crypto::Aes256Gcm::kNonceSize;
  std::vector<std::uint8_t> wrapped(kNonce + 32 + crypto::Aes256Gcm::kTagSize);
  if (auto nonce = crypto::NextNonce(std::span<std::uint8_t, kNonce>(wrapped.data(), kNonce));
      !nonce) {
    return std::unexpected(nonce.error());
  }
  const std::string aad = WrapAad(backup_id);
  if (auto sealed =
          wrap_.Seal(std::span<const std::uint8_t, kNonce>(wrapped.data(), kNonce), Bytes(aad),
                     key->reveal(), std::span<std::uint8_t>(wrapped).subspan(kNonce));
      !sealed) {
    return std::unexpected(sealed.error());
  }
  return std::pair<SecretBytes, std::string>(std::move(*key), crypto::Base64UrlEncode(wrapped));
}

Result<SecretBytes> BackupKeys::UnwrapDataKey(std::string_view backup_id,
                                              std::string_view wrapped) {
  constexpr std::size_t kNonce = crypto::Aes256Gcm::kNonceSize;
  const auto bytes = crypto::Base64UrlDecode(wrapped);
  if (!bytes || bytes->size() != kNonce + 32 + crypto::Aes256Gcm::kTagSize) {
    return Fail(ErrorCode::kDataLoss, "the manifest's wrapped key is malformed");
  }
  SecretBytes key(32);
  const std::string aad = WrapAad(backup_id);
  if (auto opened =
          wrap_.Open(std::span<const std::uint8_t, kNonce>(bytes->data(), kNonce), Bytes(aad),
                     std::span<const std::uint8_t>(*bytes).subspan(kNonce), key.mutable_bytes());
      !opened) {
    return Fail(ErrorCode::kPermissionDenied,
                "the root key does not open this backup (another vault's key, or an altered "
                "manifest)");
  }
  return key;
}

std::string BackupKeys::Sign(std::string_view manifest_json) const {
  return crypto::Base64UrlEncode(signer_.Sign(Bytes(manifest_json)));
}

bool BackupKeys::VerifySignature(std::string_view manifest_json, std::string_view signature) const {
  const auto bytes = crypto::Base64UrlDecode(signature);
  crypto::Ed25519Signature sig{};
  if (!bytes || bytes->size() != sig.size()) return false;
  std::copy(bytes->begin(), bytes->end(), sig.begin());
  return crypto::Ed25519Verify(signer_.public_key(), Bytes(manifest_json), sig);
}

Result<std::string> BackupKeys::FileDigest(std::span<const std::uint8_t> sha256) const {
  auto mac = mac_.Compute(sha256);
  if (!mac) return std::unexpected(mac.error());
  return crypto::HexEncode(*mac);
}

}  // namespace strongroom::backup
