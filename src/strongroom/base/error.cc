#include "strongroom/base/error.h"

#include <errno.h>
#include <string.h>

namespace strongroom {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "invalid_argument";
    case ErrorCode::kUnauthenticated: return "unauthenticated";
    case ErrorCode::kPermissionDenied: return "permission_denied";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kAlreadyExists: return "already_exists";
    case ErrorCode::kFailedPrecondition: return "failed_precondition";
    case ErrorCode::kResourceExhausted: return "resource_exhausted";
    case ErrorCode::kUnavailable: return "unavailable";
    case ErrorCode::kSealed: return "sealed";
    case ErrorCode::kAuditUnavailable: return "audit_unavailable";
    case ErrorCode::kDataLoss: return "data_loss";
    case ErrorCode::kInternal: return "internal";
    case ErrorCode::kMethodNotAllowed: return "method_not_allowed";
    case ErrorCode::kPayloadTooLarge: return "payload_too_large";
    case ErrorCode::kHeadersTooLarge: return "headers_too_large";
    case ErrorCode::kUnsupportedMediaType: return "unsupported_media_type";
    case ErrorCode::kWouldBlock: return "would_block";
    case ErrorCode::kCardDataRefused:
      return "card_data_refused";
    case ErrorCode::kUriTooLong:
      return "uri_too_long";
  }
  return "internal";
}

ErrorCode ErrorCodeForErrno(int err) {
  switch (err) {
    case EEXIST: return ErrorCode::kAlreadyExists;
    case EACCES:
    case EPERM:
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case ELOOP:
    case EROFS:
    case ENAMETOOLONG: return ErrorCode::kFailedPrecondition;
    default: return ErrorCode::kUnavailable;  // ENOSPC, EDQUOT, EIO, ...
  }
}

std::string ErrnoMessage(int err) {
  char buffer[128];
  return strerror_r(err, buffer, sizeof buffer);  // the GNU variant returns the text
}

}  // namespace strongroom
