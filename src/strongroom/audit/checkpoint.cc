#include "strongroom/audit/checkpoint.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"

namespace strongroom::audit {
namespace {

namespace json = boost::json;

Error Bad(std::string_view what) {
  return Error(ErrorCode::kInvalidArgument, "not a checkpoint: " + std::string(what));
}

template <std::size_t N>
bool HexTo(const json::object& o, std::string_view name, std::array<std::uint8_t, N>& out) {
  const auto* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) return false;
  const auto bytes = crypto::HexDecode(v->get_string());
  if (!bytes || bytes->size() != N) return false;
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return true;
}

}  // namespace

std::string SignedText(const Checkpoint& c) {
  return "strongroom audit checkpoint v1\nsize " + std::to_string(c.size) + "\nroot " +
         crypto::HexEncode(c.root) + "\nlast " + crypto::HexEncode(c.last_leaf) + "\ntime " +
         c.time + "\nkey " + c.key_id + "\n";
}

void Sign(Checkpoint& c, const crypto::Ed25519Signer& signer) {
  c.key_id = KeyId(signer.public_key());
  const std::string text = SignedText(c);
  c.signature = signer.Sign({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

bool VerifySignature(const Checkpoint& c, const crypto::Ed25519PublicKey& public_key) {
  if (c.key_id != KeyId(public_key)) return false;
  const std::string text = SignedText(c);
  return crypto::Ed25519Verify(
      public_key, {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()}, c.signature);
}

std::string EncodeCheckpoint(const Checkpoint& c) {
  return R"({"size":)" + std::to_string(c.size) + R"(,"root":")" + crypto::HexEncode(c.root) +
         R"(","last_leaf":")" + crypto::HexEncode(c.last_leaf) + R"(","time":")" + c.time +
         R"(","key_id":")" + c.key_id + R"(","signature":")" + crypto::Base64Encode(c.signature) +
         R"("})";
}

Result<Checkpoint> ParseCheckpoint(std::string_view line) {
  boost::system::error_code ec;
  json::value parsed = json::parse(line, ec);
  if (ec || !parsed.is_object()) return std::unexpected(Bad("not a JSON object"));
  const auto& o = parsed.get_object();
  if (o.size() != 6) return std::unexpected(Bad("unexpected members"));
  Checkpoint c;
  const auto* size = o.if_contains("size");
  if (size == nullptr || !size->is_int64() || size->get_int64() < 0) {
    if (size == nullptr || !size->is_uint64()) return std::unexpected(Bad("bad size"));
  }
  c.size = size->is_int64() ? static_cast<std::uint64_t>(size->get_int64()) : size->get_uint64();
  if (!HexTo(o, "root", c.root)) return std::unexpected(Bad("bad root"));
  if (!HexTo(o, "last_leaf", c.last_leaf)) return std::unexpected(Bad("bad last_leaf"));
  const auto* time = o.if_contains("time");
  const auto* key_id = o.if_contains("key_id");
  const auto* signature = o.if_contains("signature");
  if (time == nullptr || !time->is_string() || key_id == nullptr || !key_id->is_string() ||
      signature == nullptr || !signature->is_string()) {
    return std::unexpected(Bad("bad time, key_id or signature"));
  }
  c.time = std::string(time->get_string());
  c.key_id = std::string(key_id->get_string());
  const auto sig = crypto::Base64Decode(signature->get_string());
  if (!sig || sig->size() != c.signature.size()) return std::unexpected(Bad("bad signature"));
  std::copy(sig->begin(), sig->end(), c.signature.begin());
  return c;
}

std::string AnchorSignedText(const Anchor& anchor) {
  std::string text = "strongroom audit anchor v1\n" + SignedText(anchor.checkpoint) + "peaks";
  for (const Hash& peak : anchor.peaks) text += " " + crypto::HexEncode(peak);
  return text + "\n";
}

void SignAnchor(Anchor& anchor, const crypto::Ed25519Signer& signer) {
  Sign(anchor.checkpoint, signer);
  const std::string text = AnchorSignedText(anchor);
  anchor.signature = signer.Sign({reinterpret_cast<const std::uint8_t*>(text.data()), text.size()});
}

bool VerifyAnchorSignature(const Anchor& anchor, const crypto::Ed25519PublicKey& public_key) {
  if (!VerifySignature(anchor.checkpoint, public_key)) return false;
  const std::string text = AnchorSignedText(anchor);
  return crypto::Ed25519Verify(public_key,
                               {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()},
                               anchor.signature);
}

std::string EncodeAnchor(const Anchor& anchor) {
  std::string out =
      R"({"v":1,"checkpoint":)" + EncodeCheckpoint(anchor.checkpoint) + R"(,"peaks":[)";
  for (std::size_t i = 0; i < anchor.peaks.size(); ++i) {
    out += (i > 0 ? ",\"" : "\"") + crypto::HexEncode(anchor.peaks[i]) + "\"";
  }
  return out + R"(],"signature":")" + crypto::Base64Encode(anchor.signature) + "\"}\n";
}

Result<Anchor> ParseAnchor(std::string_view text) {
  auto bad = [](std::string_view what) {
    return Fail(ErrorCode::kInvalidArgument, "not an audit anchor: " + std::string(what));
  };
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) return bad("not a JSON object");
  const auto& o = parsed.get_object();
  const auto* v = o.if_contains("v");
  const auto* checkpoint = o.if_contains("checkpoint");
  const auto* peaks = o.if_contains("peaks");
  const auto* signature = o.if_contains("signature");
  if (o.size() != 4 || v == nullptr || !v->is_int64() || v->get_int64() != 1 ||
      checkpoint == nullptr || !checkpoint->is_object() || peaks == nullptr || !peaks->is_array() ||
      signature == nullptr || !signature->is_string()) {
    return bad("expected v 1, a checkpoint, peaks and a signature");
  }
  Anchor anchor;
  auto c = ParseCheckpoint(json::serialize(*checkpoint));
  if (!c) return bad(c.error().message());
  anchor.checkpoint = *c;
  for (const auto& peak : peaks->get_array()) {
    if (!peak.is_string()) return bad("a peak is not a string");
    const auto bytes = crypto::HexDecode(peak.get_string());
    Hash h{};
    if (!bytes || bytes->size() != h.size()) return bad("a peak is not 32 bytes of hex");
    std::copy(bytes->begin(), bytes->end(), h.begin());
    anchor.peaks.push_back(h);
  }
  const auto sig = crypto::Base64Decode(signature->get_string());
  if (!sig || sig->size() != anchor.signature.size()) return bad("bad signature");
  std::copy(sig->begin(), sig->end(), anchor.signature.begin());
  return anchor;
}

std::string KeyId(const crypto::Ed25519PublicKey& public_key) {
  const auto digest = crypto::Sha256(public_key);
  return crypto::HexEncode(std::span<const std::uint8_t>(digest).first(8));
}

std::string EncodePublicKeyFile(const crypto::Ed25519PublicKey& public_key) {
  return R"({"algorithm":"Ed25519","key_id":")" + KeyId(public_key) + R"(","public_key":")" +
         crypto::Base64Encode(public_key) + "\"}\n";
}

Result<crypto::Ed25519PublicKey> ParsePublicKeyFile(std::string_view text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) {
    return Fail(ErrorCode::kInvalidArgument, "the public key file is not a JSON object");
  }
  const auto& o = parsed.get_object();
  const auto* algorithm = o.if_contains("algorithm");
  const auto* key = o.if_contains("public_key");
  if (algorithm == nullptr || !algorithm->is_string() || algorithm->get_string() != "Ed25519" ||
      key == nullptr || !key->is_string()) {
    return Fail(ErrorCode::kInvalidArgument,
                "the public key file needs \"algorithm\":\"Ed25519\" and \"public_key\"");
  }
  const auto bytes = crypto::Base64Decode(key->get_string());
  crypto::Ed25519PublicKey out{};
  if (!bytes || bytes->size() != out.size()) {
    return Fail(ErrorCode::kInvalidArgument, "the public key is not 32 bytes of base64");
  }
  std::copy(bytes->begin(), bytes->end(), out.begin());
  if (const auto* id = o.if_contains("key_id");
      id != nullptr && (!id->is_string() || id->get_string() != KeyId(out))) {
    return Fail(ErrorCode::kInvalidArgument, "the public key file's key_id does not match its key");
  }
  return out;
}

}  // namespace strongroom::audit
