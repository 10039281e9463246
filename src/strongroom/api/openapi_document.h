#pragma once
// The OpenAPI 3.1 document of the v1 API (docs/api/openapi.yaml), compiled into the binary so
// GET /v1/openapi.yaml always matches the server that answers it.

#include <string_view>

namespace strongroom::api {

std::string_view OpenApiDocument();

}  // namespace strongroom::api
