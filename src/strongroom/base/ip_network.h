#pragma once
// IP addresses and networks (CIDR) as policies and allowlists name them: "10.0.0.0/8",
// "2001:db8::/32", "192.0.2.7" (a single host). IPv4 addresses are held as IPv4-mapped IPv6
// (::ffff:a.b.c.d), so "10.0.0.0/8" also matches a peer reported as "::ffff:10.1.2.3" by a
// dual-stack listener. Parsing is inet_pton's (no hand-written address grammar). Plain values.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "strongroom/base/error.h"

namespace strongroom {

struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};  // IPv6 order; IPv4 as ::ffff:a.b.c.d
  bool operator==(const IpAddress&) const = default;
};

// A literal IPv4 or IPv6 address (no brackets, no zone index); nullopt otherwise.
std::optional<IpAddress> ParseIpAddress(std::string_view text);

struct IpNetwork {
  IpAddress base;       // host bits zero
  int prefix_bits = 0;  // of the 128-bit form (an IPv4 /8 is 96 + 8)
  bool Contains(const IpAddress& address) const;
  // As written in canonical form: "10.0.0.0/8", "2001:db8::/32".
  std::string ToString() const;
};

// "ADDRESS/BITS" or a single "ADDRESS" (/32 or /128). invalid_argument when malformed, when
// BITS is out of range for the family, or when host bits are set ("10.0.0.1/8" is refused: it
// is almost always a typo for a host or for a network, and we will not guess which).
Result<IpNetwork> ParseIpNetwork(std::string_view text);

}  // namespace strongroom
