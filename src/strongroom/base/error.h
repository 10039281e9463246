#pragma once
// The one error vocabulary of Strongroom.
//
// Every fallible function returns `Result<T>` (std::expected<T, Error>). An Error carries a code
// (what kind of failure, chosen by the rules below) and a message meant for operators' logs. The
// message must never contain personal data or secrets: callers describe *what* failed ("field
// 'email' is not a valid email address"), never the offending value.
//
// Choosing a code (after absl::StatusCode):
//   invalid_argument     the request itself is wrong, whatever the system's state
//   unauthenticated      no valid credential (HTTP 401)
//   permission_denied    a valid credential that may not do this (HTTP 403)
//   not_found / already_exists
//   failed_precondition  the system is not in the state the call needs (do not retry blindly)
//   resource_exhausted   a quota or rate limit; retrying later may work (HTTP 429)
//   unavailable          transient; retrying the same call is safe (HTTP 503)
//   sealed               the vault's keys are not loaded: unseal it (HTTP 503)
//   data_loss            stored data failed integrity checks (tampered, moved, truncated)
//   card_data_refused    a value holds a payment card number, which is never stored (HTTP 422)
//   internal             a bug or broken invariant
//   would_block          internal only: work inside a NonBlockingScope (base/blocking.h) needed
//                        the disk; the server runs it again on the worker pool. Never answered.
// plus the protocol-level codes the HTTP layer needs to be precise about (405, 413, 415, 431).
//
// Error is a small value type; copying it is cheap enough for the error path. Thread-safe as any
// value type (no shared state).

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace strongroom {

enum class ErrorCode {
  kInvalidArgument,
  kUnauthenticated,
  kPermissionDenied,
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,
  kResourceExhausted,
  kUnavailable,
  kSealed,
  kAuditUnavailable,  // the audit trail cannot record the request: 503, nothing released
  kDataLoss,
  kInternal,
  kMethodNotAllowed,
  kPayloadTooLarge,
  kHeadersTooLarge,
  kUnsupportedMediaType,
  kWouldBlock,
  kCardDataRefused,
  kUriTooLong,  // the request target is longer than the server accepts: 414
};

// The stable wire name of a code ("invalid_argument"), used in JSON error envelopes and logs.
std::string_view ErrorCodeName(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Where in the request the problem is and which rule it broke, for invalid_argument errors
  // about a JSON body: path "$.fields.email", rule "format". Never the offending value.
  Error& At(std::string path, std::string rule) {
    path_ = std::move(path);
    rule_ = std::move(rule);
    return *this;
  }
  const std::string& path() const { return path_; }
  const std::string& rule() const { return rule_; }

 private:
  ErrorCode code_;
  std::string message_;
  std::string path_;
  std::string rule_;
};

template <typename T>
using Result = std::expected<T, Error>;

// strerror(err) without strerror's shared buffer (safe from any thread).
std::string ErrnoMessage(int err);

// The code for a failed file-system call: what the operator must fix (a missing path, a
// permission, an existing file) is failed_precondition / already_exists; what may pass (a full
// disk, an I/O error) is unavailable.
ErrorCode ErrorCodeForErrno(int err);

// Shorthand for the failure side: `return Fail(ErrorCode::kNotFound, "no such collection");`
inline std::unexpected<Error> Fail(ErrorCode code, std::string message) {
  return std::unexpected<Error>(std::in_place, code, std::move(message));
}

// An invalid_argument about the value at `path` of a JSON body, naming the `rule` it broke.
inline std::unexpected<Error> FailAt(std::string path, std::string rule, std::string message) {
  Error error(ErrorCode::kInvalidArgument, std::move(message));
  error.At(std::move(path), std::move(rule));
  return std::unexpected<Error>(std::move(error));
}

}  // namespace strongroom
