#include "strongroom/base/net_address.h"

#include <arpa/inet.h>

#include <charconv>

namespace strongroom {

std::string NetAddress::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<NetAddress> ParseNetAddress(std::string_view text) {
  const auto bad = [](const std::string& why) {
    return Fail(ErrorCode::kInvalidArgument, "expected HOST:PORT (e.g. 127.0.0.1:8443 or [::1]:8443): " + why);
  };
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']' after IPv6 address");
    host = text.substr(1, close - 1);
    const auto rest = text.substr(close + 1);
    if (!rest.starts_with(':')) return bad("missing ':PORT' after ']'");
    port = rest.substr(1);
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      return bad("not an IPv6 address inside '[...]'");
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("missing ':PORT'");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("IPv6 addresses need brackets");
    in_addr v4{};
    if (host != "localhost" && inet_pton(AF_INET, std::string(host).c_str(), &v4) != 1) {
      return bad("host must be an IP address or 'localhost'");
    }
  }
  if (host.empty()) return bad("empty host");
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  return NetAddress{std::string(host == "localhost" ? "127.0.0.1" : host),
                    static_cast<std::uint16_t>(value)};
}

}  // namespace strongroom
