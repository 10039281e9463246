#include "strongroom/base/error.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace strongroom {
namespace {

TEST(ErrorTest, CodeNamesAreTheWireVocabulary) {
  EXPECT_EQ(ErrorCodeName(ErrorCode::kInvalidArgument), "invalid_argument");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kPermissionDenied), "permission_denied");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kDataLoss), "data_loss");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kHeadersTooLarge), "headers_too_large");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kUnsupportedMediaType), "unsupported_media_type");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kWouldBlock), "would_block");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kSealed), "sealed");
}

TEST(ErrorTest, ErrnoCodesSeparateOperatorFixesFromTransientFailures) {
  EXPECT_EQ(ErrorCodeForErrno(EEXIST), ErrorCode::kAlreadyExists);
  EXPECT_EQ(ErrorCodeForErrno(EACCES), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(ErrorCodeForErrno(ENOENT), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(ErrorCodeForErrno(ENOSPC), ErrorCode::kUnavailable);
  EXPECT_EQ(ErrorCodeForErrno(EIO), ErrorCode::kUnavailable);
  EXPECT_EQ(ErrnoMessage(ENOENT), "No such file or directory");
}

TEST(ErrorTest, FailBuildsTheUnexpectedSide) {
  Result<int> result = Fail(ErrorCode::kNotFound, "no such collection");
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(result.error().message(), "no such collection");
}

}  // namespace
}  // namespace strongroom
