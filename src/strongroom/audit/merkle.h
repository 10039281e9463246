#pragma once
// RFC 6962 / RFC 9162 Merkle tree hashing: the audit trail's entries are its leaves, a signed
// checkpoint names a tree size and root, and these proofs show that an entry is in a checkpoint
// (inclusion) and that an older checkpoint is a prefix of a newer one (consistency).
//
//   leaf hash  = SHA-256(0x00 || entry)
//   node hash  = SHA-256(0x01 || left || right)
//   MTH({})    = SHA-256("")
//   MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two < n
//
// Written here rather than taken from a library: no Debian-packaged C or C++ library implements
// RFC 6962 proofs (Trillian and the CT libraries are Go). The tests hold it to the Certificate
// Transparency reference vectors. Everything here is a pure function or a plain value; thread
// safety is the caller's (CompactTree is not synchronised).

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/crypto/digest.h"

namespace strongroom::audit {

using Hash = crypto::Sha256Digest;

Hash LeafHash(std::span<const std::uint8_t> entry);
Hash NodeHash(const Hash& left, const Hash& right);
Hash EmptyRoot();

// MTH of a range of leaves, given their leaf hashes.
Hash RootOf(std::span<const Hash> leaf_hashes);

// The hash of the subtree over leaves [begin, end): how proofs are built from a tree too large
// to hold (the trail answers it from stored nodes and re-read entries).
using SubtreeHashFn = std::function<Result<Hash>(std::uint64_t begin, std::uint64_t end)>;

// RFC 9162 §2.1.3.1: the audit path of leaf `index` in the tree of `size` leaves.
Result<std::vector<Hash>> InclusionProof(std::uint64_t index, std::uint64_t size,
                                         const SubtreeHashFn& subtree);
// RFC 9162 §2.1.4.1: the proof that the tree of `old_size` leaves is a prefix of the tree of
// `new_size` leaves (0 < old_size <= new_size).
Result<std::vector<Hash>> ConsistencyProof(std::uint64_t old_size, std::uint64_t new_size,
                                           const SubtreeHashFn& subtree);

// RFC 9162 §2.1.3.2 and §2.1.4.2.
bool VerifyInclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf_hash,
                     std::span<const Hash> proof, const Hash& root);
bool VerifyConsistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                       const Hash& new_root, std::span<const Hash> proof);

// The subtree hash of [begin, end) in a tree whose leaves before `first` are gone, all but the
// peaks of the tree of `first` leaves (`first_peaks`, largest first): a node that is one of
// those peaks is taken from them, a node at or past `first` from `live`, a node across `first`
// is split; any other node lies wholly in the archived part and is failed_precondition.
Result<Hash> SubtreeAfterPrefix(std::uint64_t first, std::span<const Hash> first_peaks,
                                std::uint64_t begin, std::uint64_t end, const SubtreeHashFn& live);

// The right edge of a growing tree: one hash per set bit of the size (the roots of its perfect
// subtrees, largest first), enough to append a leaf and compute the root in O(log n) with no
// other leaves at hand. Also hands the caller every perfect subtree it completes, so a tree too
// large to hold in memory can keep just the nodes it wants.
class CompactTree {
 public:
  // `on_node(level, index, hash)`: the node covering leaves [index << level, (index+1) << level)
  // is complete (level 0 is the leaf itself). May be empty.
  using NodeFn = std::function<void(int level, std::uint64_t index, const Hash& hash)>;

  // The tree of `size` leaves whose perfect subtrees are `peaks` (largest first, one per set
  // bit of size): how a trail whose oldest entries were archived goes on growing.
  // invalid_argument when the count does not match the size.
  static Result<CompactTree> FromPeaks(std::uint64_t size, std::vector<Hash> peaks);

  void Append(const Hash& leaf_hash, const NodeFn& on_node = {});
  std::uint64_t size() const { return size_; }
  Hash Root() const;
  const std::vector<Hash>& peaks() const { return peaks_; }

 private:
  std::uint64_t size_ = 0;
  std::vector<Hash> peaks_;  // perfect subtree roots, largest (leftmost) first
};

}  // namespace strongroom::audit
