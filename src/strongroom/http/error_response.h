#pragma once
// The one place Strongroom maps an Error to HTTP: status code, and the JSON envelope
//   {"error":{"code":"not_found","message":"...","request_id":"..."}}
// Stateless; thread-safe.

#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/http/types.h"

namespace strongroom::http {

int HttpStatusFor(ErrorCode code);
Response ErrorResponse(const Error& error, std::string_view request_id);

}  // namespace strongroom::http
