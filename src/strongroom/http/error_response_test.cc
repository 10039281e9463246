#include "strongroom/http/error_response.h"

#include <gtest/gtest.h>

namespace strongroom::http {
namespace {

TEST(ErrorResponseTest, MapsEveryCodeToItsStatus) {
  const std::pair<ErrorCode, int> expected[] = {
      {ErrorCode::kInvalidArgument, 400},
      {ErrorCode::kUnauthenticated, 401},
      {ErrorCode::kPermissionDenied, 403},
      {ErrorCode::kNotFound, 404},
      {ErrorCode::kMethodNotAllowed, 405},
      {ErrorCode::kAlreadyExists, 409},
      {ErrorCode::kFailedPrecondition, 412},
      {ErrorCode::kPayloadTooLarge, 413},
      {ErrorCode::kUnsupportedMediaType, 415},
      {ErrorCode::kCardDataRefused, 422},
      {ErrorCode::kResourceExhausted, 429},
      {ErrorCode::kHeadersTooLarge, 431},
      {ErrorCode::kInternal, 500},
      {ErrorCode::kDataLoss, 500},
      {ErrorCode::kUnavailable, 503},
      {ErrorCode::kSealed, 503},
  };
  for (const auto& [code, status] : expected) EXPECT_EQ(HttpStatusFor(code), status);
}

TEST(ErrorResponseTest, EnvelopeCarriesCodeMessageAndRequestId) {
  const Response r = ErrorResponse(Error(ErrorCode::kNotFound, "no such \"endpoint\""), "req-1");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            R"({"error":{"code":"not_found","message":"no such \"endpoint\"","request_id":"req-1"}})");
}

TEST(ErrorResponseTest, ValidationErrorsNameThePathAndRule) {
  const Response r =
      ErrorResponse(FailAt("$.fields.email", "format", "not an email address").error(), "r2");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            R"({"error":{"code":"invalid_argument","message":"not an email address",)"
            R"("details":{"path":"$.fields.email","rule":"format"},"request_id":"r2"}})");
}

TEST(ErrorResponseTest, InternalDetailsStayOnTheServer) {
  const Response r = ErrorResponse(Error(ErrorCode::kInternal, "sqlite: disk I/O at page 7"), "r");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body.find("sqlite"), std::string::npos);
  EXPECT_NE(r.body.find(R"("code":"internal")"), std::string::npos);
}

}  // namespace
}  // namespace strongroom::http
