#include "strongroom/barrier/document_cipher.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "strongroom/crypto/encoding.h"

namespace strongroom::barrier {
namespace {

class DocumentCipherTest : public ::testing::Test {
 protected:
  void SetUp() override { cipher_.emplace(std::move(*DocumentCipher::Create(key_))); }
  std::vector<std::uint8_t> Seal(std::uint64_t index, bool final,
                                 const std::vector<std::uint8_t>& plaintext) {
    std::vector<std::uint8_t> out;
    EXPECT_TRUE(cipher_->SealChunk(here_, index, final, plaintext, out));
    return out;
  }
  // nullopt when the chunk opens.
  std::optional<ErrorCode> OpenError(const DocumentLocation& at, std::uint64_t index, bool final,
                                     const std::vector<std::uint8_t>& sealed) {
    std::vector<std::uint8_t> out(3, 0xAA);
    auto opened = cipher_->OpenChunk(at, index, final, sealed, out);
    if (opened) return std::nullopt;
    EXPECT_TRUE(out.empty());  // never a byte of unauthenticated plaintext
    return opened.error().code();
  }
  const std::vector<std::uint8_t> key_ = std::vector<std::uint8_t>(32, 0x24);
  std::optional<DocumentCipher> cipher_;
  const DocumentLocation here_{"acme", "sub_a", "doc_1"};
  const std::vector<std::uint8_t> text_ = std::vector<std::uint8_t>(1000, 'x');
};

TEST(DocumentChunkCountTest, EmptyIsOneChunkThenCeilOfTheChunkSize) {
  EXPECT_EQ(DocumentChunkCount(0), 1u);
  EXPECT_EQ(DocumentChunkCount(1), 1u);
  EXPECT_EQ(DocumentChunkCount(kDocumentChunkSize), 1u);
  EXPECT_EQ(DocumentChunkCount(kDocumentChunkSize + 1), 2u);
  EXPECT_EQ(DocumentChunkCount(64ull << 20), 1024u);
}

// The associated data byte by byte, as docs/formats/document-v1.md describes it.
TEST(DocumentChunkAadTest, EncodesLocationIndexAndFinalFlag) {
  std::vector<std::uint8_t> aad;
  EncodeDocumentChunkAad({"t", "sub", "doc"}, 0x0102030405060708ull, true, aad);
  EXPECT_EQ(crypto::HexEncode(aad),
            "01"                // format
            "0000000174"        // "t"
            "00000003737562"    // "sub"
            "00000003646f63"    // "doc"
            "0102030405060708"  // index
            "01");              // final
  EncodeDocumentChunkAad({"t", "sub", "doc"}, 0, false, aad);
  EXPECT_EQ(aad.back(), 0x00);
}

TEST_F(DocumentCipherTest, RoundTripAndLayout) {
  const auto sealed = Seal(3, false, text_);
  ASSERT_EQ(sealed.size(), kDocumentChunkOverhead + text_.size());
  EXPECT_EQ(sealed[0], kDocumentFormatV1);
  // The chunk is plain AES-256-GCM over the documented AAD: check it with the bare primitive.
  auto aead = *crypto::Aes256Gcm::Create(key_);
  std::vector<std::uint8_t> aad, out(text_.size());
  EncodeDocumentChunkAad(here_, 3, false, aad);
  ASSERT_TRUE(
      aead.Open(std::span(sealed).subspan<1, 12>(), aad, std::span(sealed).subspan(13), out));
  EXPECT_EQ(out, text_);
  std::vector<std::uint8_t> opened;
  ASSERT_TRUE(cipher_->OpenChunk(here_, 3, false, sealed, opened));
  EXPECT_EQ(opened, text_);
  // Fresh nonce each time.
  EXPECT_NE(Seal(3, false, text_), sealed);
}

TEST_F(DocumentCipherTest, EmptyAndFullChunksAndNothingLarger) {
  const std::vector<std::uint8_t> empty, full(kDocumentChunkSize, 7), over(kDocumentChunkSize + 1);
  std::vector<std::uint8_t> opened;
  ASSERT_TRUE(cipher_->OpenChunk(here_, 0, true, Seal(0, true, empty), opened));
  EXPECT_TRUE(opened.empty());
  ASSERT_TRUE(cipher_->OpenChunk(here_, 1, false, Seal(1, false, full), opened));
  EXPECT_EQ(opened, full);
  std::vector<std::uint8_t> out;
  auto refused = cipher_->SealChunk(here_, 0, false, over, out);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);
  auto too_many = cipher_->SealChunk(here_, kMaxDocumentChunks, true, empty, out);
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().code(), ErrorCode::kResourceExhausted);
}

TEST_F(DocumentCipherTest, ReorderedTruncatedAndSplicedChunksAreDataLoss) {
  const auto sealed = Seal(1, false, text_);
  EXPECT_EQ(OpenError(here_, 1, false, sealed), std::nullopt);
  EXPECT_EQ(OpenError(here_, 2, false, sealed), ErrorCode::kDataLoss);  // reordered
  EXPECT_EQ(OpenError(here_, 0, false, sealed), ErrorCode::kDataLoss);
  EXPECT_EQ(OpenError(here_, 1, true, sealed), ErrorCode::kDataLoss);  // taken for the last
  EXPECT_EQ(OpenError(here_, 0, true, Seal(0, false, text_)), ErrorCode::kDataLoss);  // cut
  for (const DocumentLocation& at :
       {DocumentLocation{"beta", "sub_a", "doc_1"}, DocumentLocation{"acme", "sub_b", "doc_1"},
        DocumentLocation{"acme", "sub_a", "doc_2"}, DocumentLocation{"acmes", "ub_a", "doc_1"}}) {
    EXPECT_EQ(OpenError(at, 1, false, sealed), ErrorCode::kDataLoss) << at.tenant << at.subject;
  }
  auto other = *DocumentCipher::Create(std::vector<std::uint8_t>(32, 0x25));
  std::vector<std::uint8_t> out;
  auto foreign = other.OpenChunk(here_, 1, false, sealed, out);  // another document's key
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code(), ErrorCode::kDataLoss);
  std::vector<std::uint8_t> shortened(sealed.begin(), sealed.end() - 1);
  EXPECT_EQ(OpenError(here_, 1, false, shortened), ErrorCode::kDataLoss);
  EXPECT_EQ(OpenError(here_, 1, false, std::vector<std::uint8_t>(5, 1)), ErrorCode::kDataLoss);
}

TEST_F(DocumentCipherTest, EveryFlippedByteOfHeaderAndBodyIsDetected) {
  const auto sealed = Seal(0, true, std::vector<std::uint8_t>(40, 'y'));
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    for (const std::uint8_t mask : {0x01, 0x80}) {
      auto tampered = sealed;
      tampered[i] ^= mask;
      EXPECT_EQ(OpenError(here_, 0, true, tampered), ErrorCode::kDataLoss) << "byte " << i;
    }
  }
}

}  // namespace
}  // namespace strongroom::barrier
