#include "strongroom/audit/merkle.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <vector>

#include "strongroom/crypto/encoding.h"

namespace strongroom::audit {
namespace {

// The Certificate Transparency reference data (certificate-transparency's merkle_tree_test,
// also Trillian's): eight leaves, the root of every prefix, and published proofs.
constexpr std::string_view kLeaves[] = {"",
                                        "00",
                                        "10",
                                        "2021",
                                        "3031",
                                        "40414243",
                                        "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f"};
constexpr std::string_view kRoots[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  // empty tree
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct ProofVector {
  std::uint64_t a, b;  // inclusion: leaf index (0-based) and size; consistency: old, new size
  std::vector<std::string_view> proof;
};

const std::vector<ProofVector> kInclusion = {
    {0, 1, {}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

const std::vector<ProofVector> kConsistency = {
    {1, 1, {}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

Hash H(std::string_view hex) {
  Hash h{};
  const auto bytes = *crypto::HexDecode(hex);
  std::copy(bytes.begin(), bytes.end(), h.begin());
  return h;
}

std::vector<Hash> Hashes(const std::vector<std::string_view>& hex) {
  std::vector<Hash> out;
  for (auto h : hex) out.push_back(H(h));
  return out;
}

std::vector<Hash> LeafHashes(std::size_t n) {
  std::vector<Hash> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(LeafHash(*crypto::HexDecode(kLeaves[i])));
  return out;
}

SubtreeHashFn Over(const std::vector<Hash>& leaves) {
  return [&leaves](std::uint64_t begin, std::uint64_t end) -> Result<Hash> {
    return RootOf(std::span<const Hash>(leaves).subspan(begin, end - begin));
  };
}

TEST(MerkleTest, RootsMatchTheReferenceForEveryPrefix) {
  const auto leaves = LeafHashes(8);
  for (std::size_t n = 0; n <= 8; ++n) {
    EXPECT_EQ(crypto::HexEncode(RootOf(std::span<const Hash>(leaves).first(n))), kRoots[n]) << n;
  }
  EXPECT_EQ(crypto::HexEncode(EmptyRoot()), kRoots[0]);
}

TEST(MerkleTest, CompactTreeAgreesAndReportsEveryCompletedNode) {
  const auto leaves = LeafHashes(8);
  CompactTree tree;
  EXPECT_EQ(crypto::HexEncode(tree.Root()), kRoots[0]);
  std::vector<std::pair<int, std::uint64_t>> completed;
  for (std::size_t n = 0; n < 8; ++n) {
    tree.Append(leaves[n], [&](int level, std::uint64_t index, const Hash& hash) {
      completed.emplace_back(level, index);
      const auto span = std::span<const Hash>(leaves).subspan(index << level, 1u << level);
      EXPECT_EQ(hash, RootOf(span));
    });
    EXPECT_EQ(tree.size(), n + 1);
    EXPECT_EQ(crypto::HexEncode(tree.Root()), kRoots[n + 1]) << n + 1;
  }
  // 8 leaves, 4 pairs, 2 quads, 1 root: 15 nodes.
  EXPECT_EQ(completed.size(), 15u);
  EXPECT_EQ(completed.back(), (std::pair<int, std::uint64_t>{3, 0}));
}

TEST(MerkleTest, InclusionProofsMatchTheReference) {
  const auto leaves = LeafHashes(8);
  for (const auto& v : kInclusion) {
    auto proof = InclusionProof(v.a, v.b, Over(leaves));
    ASSERT_TRUE(proof);
    EXPECT_EQ(*proof, Hashes(v.proof)) << v.a << " in " << v.b;
    EXPECT_TRUE(VerifyInclusion(v.a, v.b, leaves[v.a], *proof, H(kRoots[v.b])));
  }
}

TEST(MerkleTest, ConsistencyProofsMatchTheReference) {
  const auto leaves = LeafHashes(8);
  for (const auto& v : kConsistency) {
    auto proof = ConsistencyProof(v.a, v.b, Over(leaves));
    ASSERT_TRUE(proof);
    EXPECT_EQ(*proof, Hashes(v.proof)) << v.a << " -> " << v.b;
    EXPECT_TRUE(VerifyConsistency(v.a, v.b, H(kRoots[v.a]), H(kRoots[v.b]), *proof));
  }
}

// Every shape of the recursion, and every single-hash alteration is refused.
TEST(MerkleTest, EveryProofOfEveryTreeUpTo40VerifiesAndAlterationsFail) {
  std::vector<Hash> leaves;
  for (std::uint8_t i = 0; i < 40; ++i) {
    const std::uint8_t entry[2] = {i, static_cast<std::uint8_t>(i * 7)};
    leaves.push_back(LeafHash(entry));
  }
  for (std::uint64_t size = 1; size <= leaves.size(); ++size) {
    const auto root = RootOf(std::span<const Hash>(leaves).first(size));
    for (std::uint64_t i = 0; i < size; ++i) {
      auto proof = *InclusionProof(i, size, Over(leaves));
      ASSERT_TRUE(VerifyInclusion(i, size, leaves[i], proof, root)) << i << "/" << size;
      EXPECT_FALSE(VerifyInclusion(i, size, leaves[(i + 1) % 40], proof, root));
      if (!proof.empty()) {
        proof[0][0] ^= 1;
        EXPECT_FALSE(VerifyInclusion(i, size, leaves[i], proof, root));
      }
    }
    for (std::uint64_t old = 1; old <= size; ++old) {
      const auto old_root = RootOf(std::span<const Hash>(leaves).first(old));
      auto proof = *ConsistencyProof(old, size, Over(leaves));
      ASSERT_TRUE(VerifyConsistency(old, size, old_root, root, proof)) << old << "->" << size;
      if (!proof.empty()) {
        proof.back()[5] ^= 1;
        EXPECT_FALSE(VerifyConsistency(old, size, old_root, root, proof));
      }
      if (old < size) {
        Hash forged = old_root;
        forged[0] ^= 1;
        EXPECT_FALSE(
            VerifyConsistency(old, size, forged, root, *ConsistencyProof(old, size, Over(leaves))));
      }
    }
  }
}

// With the leaves before `first` gone, all but the peaks of the tree of `first`: every proof
// about entries from `first` on, and every root and consistency proof of sizes from `first` on,
// is still computed, and equals the one from all the leaves; what needs a gone node is refused.
TEST(MerkleTest, ProofsAfterAnArchivedPrefixNeedOnlyItsPeaks) {
  std::vector<Hash> leaves;
  for (std::uint8_t i = 0; i < 40; ++i) {
    const std::uint8_t entry[1] = {i};
    leaves.push_back(LeafHash(entry));
  }
  const auto all = Over(leaves);
  for (std::uint64_t first = 1; first <= 36; ++first) {
    CompactTree prefix;
    for (std::uint64_t i = 0; i < first; ++i) prefix.Append(leaves[i]);
    auto restored = CompactTree::FromPeaks(first, prefix.peaks());
    ASSERT_TRUE(restored);
    EXPECT_EQ(restored->Root(), prefix.Root());
    std::uint64_t live_calls_before_first = 0;
    const SubtreeHashFn live = [&](std::uint64_t b, std::uint64_t e) -> Result<Hash> {
      if (b < first) ++live_calls_before_first;
      return *all(b, e);
    };
    const std::vector<Hash> peaks = prefix.peaks();
    const SubtreeHashFn partial = [&](std::uint64_t b, std::uint64_t e) {
      return SubtreeAfterPrefix(first, peaks, b, e, live);
    };
    for (std::uint64_t size = first; size <= 40; ++size) {
      EXPECT_EQ(*partial(0, size), *all(0, size)) << first << " " << size;
      for (std::uint64_t i = first; i < size; ++i) {
        auto proof = InclusionProof(i, size, partial);
        ASSERT_TRUE(proof) << first << " " << i << "/" << size;
        EXPECT_EQ(*proof, *InclusionProof(i, size, all));
      }
      for (std::uint64_t old = first; old <= size; ++old) {
        auto proof = ConsistencyProof(old, size, partial);
        ASSERT_TRUE(proof) << first << " " << old << "->" << size;
        EXPECT_EQ(*proof, *ConsistencyProof(old, size, all));
      }
    }
    EXPECT_EQ(live_calls_before_first, 0u);
    if (!std::has_single_bit(first)) {
      // Entry 0's audit path needs the leaf beside it: gone.
      EXPECT_EQ(InclusionProof(0, first, partial).error().code(), ErrorCode::kFailedPrecondition);
    }
  }
  EXPECT_EQ(CompactTree::FromPeaks(5, LeafHashes(3)).error().code(), ErrorCode::kInvalidArgument);
}

TEST(MerkleTest, BadSizesAreRefused) {
  const auto leaves = LeafHashes(8);
  EXPECT_EQ(InclusionProof(8, 8, Over(leaves)).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(0, 8, Over(leaves)).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ConsistencyProof(5, 4, Over(leaves)).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(VerifyInclusion(8, 8, leaves[0], {}, H(kRoots[8])));
}

}  // namespace
}  // namespace strongroom::audit
