#include "strongroom/audit/merkle.h"

#include <bit>

namespace strongroom::audit {
namespace {

// The largest power of two strictly below n (n > 1).
std::uint64_t SplitPoint(std::uint64_t n) { return std::bit_floor(n - 1); }

Result<void> Path(std::uint64_t index, std::uint64_t begin, std::uint64_t end,
                  const SubtreeHashFn& subtree, std::vector<Hash>& out) {
  const std::uint64_t n = end - begin;
  if (n <= 1) return {};
  const std::uint64_t k = SplitPoint(n);
  if (index < k) {
    if (auto inner = Path(index, begin, begin + k, subtree, out); !inner) return inner;
    auto right = subtree(begin + k, end);
    if (!right) return std::unexpected(right.error());
    out.push_back(*right);
  } else {
    if (auto inner = Path(index - k, begin + k, end, subtree, out); !inner) return inner;
    auto left = subtree(begin, begin + k);
    if (!left) return std::unexpected(left.error());
    out.push_back(*left);
  }
  return {};
}

Result<void> SubProof(std::uint64_t m, std::uint64_t begin, std::uint64_t end, bool whole,
                      const SubtreeHashFn& subtree, std::vector<Hash>& out) {
  const std::uint64_t n = end - begin;
  if (m == n) {
    if (whole) return {};
    auto hash = subtree(begin, end);
    if (!hash) return std::unexpected(hash.error());
    out.push_back(*hash);
    return {};
  }
  const std::uint64_t k = SplitPoint(n);
  if (m <= k) {
    if (auto inner = SubProof(m, begin, begin + k, whole, subtree, out); !inner) return inner;
    auto right = subtree(begin + k, end);
    if (!right) return std::unexpected(right.error());
    out.push_back(*right);
  } else {
    if (auto inner = SubProof(m - k, begin + k, end, false, subtree, out); !inner) return inner;
    auto left = subtree(begin, begin + k);
    if (!left) return std::unexpected(left.error());
    out.push_back(*left);
  }
  return {};
}

}  // namespace

Hash LeafHash(std::span<const std::uint8_t> entry) {
  // One digest context per thread, reused (Finish() starts it over): the writer hashes every
  // entry, and creating a context costs as much as hashing a short one.
  thread_local crypto::Sha256Hasher hasher;
  const std::uint8_t prefix = 0x00;
  hasher.Update({&prefix, 1});
  hasher.Update(entry);
  return hasher.Finish();
}

Hash NodeHash(const Hash& left, const Hash& right) {
  std::uint8_t buffer[1 + 32 + 32];
  buffer[0] = 0x01;
  std::copy(left.begin(), left.end(), buffer + 1);
  std::copy(right.begin(), right.end(), buffer + 33);
  return crypto::Sha256(std::span<const std::uint8_t>(buffer, sizeof(buffer)));
}

Hash EmptyRoot() { return crypto::Sha256(std::span<const std::uint8_t>()); }

Hash RootOf(std::span<const Hash> leaf_hashes) {
  if (leaf_hashes.empty()) return EmptyRoot();
  if (leaf_hashes.size() == 1) return leaf_hashes[0];
  const std::size_t k = SplitPoint(leaf_hashes.size());
  return NodeHash(RootOf(leaf_hashes.first(k)), RootOf(leaf_hashes.subspan(k)));
}

Result<std::vector<Hash>> InclusionProof(std::uint64_t index, std::uint64_t size,
                                         const SubtreeHashFn& subtree) {
  if (index >= size) {
    return Fail(ErrorCode::kInvalidArgument, "the entry is not in a tree of that size");
  }
  std::vector<Hash> out;
  if (auto built = Path(index, 0, size, subtree, out); !built) {
    return std::unexpected(built.error());
  }
  return out;
}

Result<std::vector<Hash>> ConsistencyProof(std::uint64_t old_size, std::uint64_t new_size,
                                           const SubtreeHashFn& subtree) {
  if (old_size == 0 || old_size > new_size) {
    return Fail(ErrorCode::kInvalidArgument, "a consistency proof needs 0 < old size <= new size");
  }
  std::vector<Hash> out;
  if (auto built = SubProof(old_size, 0, new_size, true, subtree, out); !built) {
    return std::unexpected(built.error());
  }
  return out;
}

bool VerifyInclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf_hash,
                     std::span<const Hash> proof, const Hash& root) {
  if (index >= size) return false;
  std::uint64_t fn = index, sn = size - 1;
  Hash r = leaf_hash;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

bool VerifyConsistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                       const Hash& new_root, std::span<const Hash> proof) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (old_size == 0) return proof.empty();
  if (proof.empty()) return false;
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  std::uint64_t fn = old_size - 1, sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(c, fr);
      sr = NodeHash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = NodeHash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return fr == old_root && sr == new_root && sn == 0;
}

Result<CompactTree> CompactTree::FromPeaks(std::uint64_t size, std::vector<Hash> peaks) {
  if (peaks.size() != static_cast<std::size_t>(std::popcount(size))) {
    return Fail(ErrorCode::kInvalidArgument, "a tree of " + std::to_string(size) + " leaves has " +
                                                 std::to_string(std::popcount(size)) +
                                                 " peaks, not " + std::to_string(peaks.size()));
  }
  CompactTree tree;
  tree.size_ = size;
  tree.peaks_ = std::move(peaks);
  return tree;
}

Result<Hash> SubtreeAfterPrefix(std::uint64_t first, std::span<const Hash> first_peaks,
                                std::uint64_t begin, std::uint64_t end, const SubtreeHashFn& live) {
  if (begin >= first || begin == end) return live(begin, end);
  const std::uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    if (end > first) {
      // Across the boundary: its halves are a peak (or across again) and live nodes.
      auto left = SubtreeAfterPrefix(first, first_peaks, begin, begin + n / 2, live);
      if (!left) return left;
      auto right = SubtreeAfterPrefix(first, first_peaks, begin + n / 2, end, live);
      if (!right) return right;
      return NodeHash(*left, *right);
    }
    // The peaks of `first` are its set bits, largest first, laid end to end.
    std::uint64_t at = 0;
    std::size_t peak = 0;
    for (int bit = 63; bit >= 0 && peak < first_peaks.size(); --bit) {
      const std::uint64_t width = std::uint64_t{1} << bit;
      if ((first & width) == 0) continue;
      if (at == begin && width == n) return first_peaks[peak];
      at += width;
      ++peak;
    }
    return Fail(ErrorCode::kFailedPrecondition,
                "entries before " + std::to_string(first) +
                    " are archived: prove them from the archive (strongroom audit proof "
                    "--archive-dir)");
  }
  const std::uint64_t k = std::bit_floor(n - 1);
  auto left = SubtreeAfterPrefix(first, first_peaks, begin, begin + k, live);
  if (!left) return left;
  auto right = SubtreeAfterPrefix(first, first_peaks, begin + k, end, live);
  if (!right) return right;
  return NodeHash(*left, *right);
}

void CompactTree::Append(const Hash& leaf_hash, const NodeFn& on_node) {
  Hash h = leaf_hash;
  std::uint64_t index = size_;
  int level = 0;
  if (on_node) on_node(0, index, h);
  while ((index & 1) != 0) {
    h = NodeHash(peaks_.back(), h);
    peaks_.pop_back();
    index >>= 1;
    ++level;
    if (on_node) on_node(level, index, h);
  }
  peaks_.push_back(h);
  ++size_;
}

Hash CompactTree::Root() const {
  if (peaks_.empty()) return EmptyRoot();
  Hash r = peaks_.back();
  for (std::size_t i = peaks_.size() - 1; i-- > 0;) r = NodeHash(peaks_[i], r);
  return r;
}

}  // namespace strongroom::audit
