#pragma once
// A signed checkpoint of the audit trail: "the first `size` entries have this Merkle root, and the
// last of them this leaf hash", signed with Ed25519 by the vault's audit key. Its stored form is
// one JSON line; the signed bytes are a fixed text (docs/formats/audit-v1.md). Plain values and
// pure functions; thread-safe.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/audit/merkle.h"
#include "strongroom/base/error.h"
#include "strongroom/crypto/signature.h"

namespace strongroom::audit {

struct Checkpoint {
  std::uint64_t size = 0;
  Hash root{};
  Hash last_leaf{};  // the leaf hash of entry size-1 (zeros for an empty tree)
  std::string time;  // RFC 3339, microseconds
  std::string key_id;
  crypto::Ed25519Signature signature{};
};

// The bytes the signature covers.
std::string SignedText(const Checkpoint& checkpoint);
// Fills key_id and signature.
void Sign(Checkpoint& checkpoint, const crypto::Ed25519Signer& signer);
bool VerifySignature(const Checkpoint& checkpoint, const crypto::Ed25519PublicKey& public_key);

// One line of checkpoints.log (no newline), and its strict reading.
std::string EncodeCheckpoint(const Checkpoint& checkpoint);
Result<Checkpoint> ParseCheckpoint(std::string_view line);

// anchor.json: where a trail whose oldest segments were archived begins. A checkpoint signed at
// the archive boundary (its size is the first entry still here, its last leaf what that entry's
// prev must be), the peaks of the tree of that size, from which the verifier recomputes the
// checkpoint's root and goes on growing the tree, and a second signature over a text of its own
// ("strongroom audit anchor v1", the checkpoint's signed text, the peaks): an ordinary
// checkpoint, which anyone can copy from a log, cannot be turned into an anchor to cut the head
// off a trail.
//   {"v":1,"checkpoint":{…a checkpoints.log line…},"peaks":["<hex>",…],"signature":"<b64>"}
struct Anchor {
  Checkpoint checkpoint;
  std::vector<Hash> peaks;  // largest first, one per set bit of checkpoint.size
  crypto::Ed25519Signature signature{};
};
std::string AnchorSignedText(const Anchor& anchor);
// Signs the checkpoint and then the anchor.
void SignAnchor(Anchor& anchor, const crypto::Ed25519Signer& signer);
bool VerifyAnchorSignature(const Anchor& anchor, const crypto::Ed25519PublicKey& public_key);
std::string EncodeAnchor(const Anchor& anchor);
Result<Anchor> ParseAnchor(std::string_view text);

// The key id: the first 8 bytes of SHA-256 of the public key, in hex.
std::string KeyId(const crypto::Ed25519PublicKey& public_key);
// public-key.json: {"algorithm":"Ed25519","key_id":…,"public_key":<base64>}.
std::string EncodePublicKeyFile(const crypto::Ed25519PublicKey& public_key);
Result<crypto::Ed25519PublicKey> ParsePublicKeyFile(std::string_view text);

}  // namespace strongroom::audit
