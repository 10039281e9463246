#include "strongroom/http/error_response.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace strongroom::http {

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kUnauthenticated: return 401;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kAlreadyExists: return 409;
    case ErrorCode::kFailedPrecondition: return 412;
    case ErrorCode::kResourceExhausted: return 429;
    case ErrorCode::kUnavailable:
    case ErrorCode::kWouldBlock:  // retried on the worker pool by the server, never answered
    case ErrorCode::kSealed:
    case ErrorCode::kAuditUnavailable: return 503;
    case ErrorCode::kDataLoss:
    case ErrorCode::kInternal: return 500;
    case ErrorCode::kMethodNotAllowed: return 405;
    case ErrorCode::kPayloadTooLarge: return 413;
    case ErrorCode::kHeadersTooLarge: return 431;
    case ErrorCode::kUriTooLong:
      return 414;
    case ErrorCode::kUnsupportedMediaType: return 415;
    case ErrorCode::kCardDataRefused:
      return 422;
  }
  return 500;
}

Response ErrorResponse(const Error& error, std::string_view request_id) {
  if (error.code() == ErrorCode::kWouldBlock) {
    Response retry;
    retry.status = 503;
    retry.would_block = true;  // the server runs the handler again on the worker pool
    return retry;
  }
  // Internal and data-loss messages may describe the system's insides; clients get a fixed text
  // and operators find the detail in the log line with the same request id.
  const bool opaque = error.code() == ErrorCode::kInternal || error.code() == ErrorCode::kDataLoss;
  boost::json::object inner;
  inner["code"] = ErrorCodeName(error.code());
  inner["message"] = opaque ? std::string_view("internal error; see the server log for this request id")
                            : std::string_view(error.message());
  if (!error.path().empty()) {
    inner["details"] = {{"path", error.path()}, {"rule", error.rule()}};
  }
  inner["request_id"] = request_id;
  boost::json::object envelope;
  envelope["error"] = std::move(inner);
  Response response;
  response.status = HttpStatusFor(error.code());
  response.body = boost::json::serialize(envelope);
  return response;
}

}  // namespace strongroom::http
