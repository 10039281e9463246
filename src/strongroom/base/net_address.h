#pragma once
// NetAddress: a listen address given by an operator as HOST:PORT ("127.0.0.1:8443",
// "[::1]:8443", "localhost:0"). Port 0 means "pick a free port". Plain value type.

#include <cstdint>
#include <string>
#include <string_view>

#include "strongroom/base/error.h"

namespace strongroom {

struct NetAddress {
  std::string host;  // literal IPv4/IPv6 (no brackets) or "localhost"
  std::uint16_t port = 0;

  // "127.0.0.1:8443" or "[::1]:8443": the form operators type, and the form we print.
  std::string ToString() const;
  bool operator==(const NetAddress&) const = default;
};

// Parses HOST:PORT. Host names other than "localhost" are refused: a listener binds to an
// address, and resolving names at start-up would make the bound address depend on DNS.
Result<NetAddress> ParseNetAddress(std::string_view text);

}  // namespace strongroom
