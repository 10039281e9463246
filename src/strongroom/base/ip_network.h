#pragma once
// IP addresses and networks (CIDR) as policies and allowlists name them: "10.0.0.0/8",
// "2001:db8::/32", "192.0.2.7" (a single host). IPv4 addresses are held as IPv4-mapped IPv6
// (::ffff:a.b.c.d), so "10.0.0.0/8" also matches a peer reported as "::ffff:10.1.2.3" by a
// dual-stack listener. Parsing is inet_pton's (no hand-written address grammar). Plain values.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

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
// Comma-separated networks ("10.0.0.0/8, ::1"); empty text: none. The error names the entry.
Result<std::vector<IpNetwork>> ParseIpNetworkList(std::string_view text);

// The client behind trusted reverse proxies. A `peer` outside `trusted` is the client itself
// (its X-Forwarded-For is anyone's to forge). From a trusted peer, the X-Forwarded-For entries
// (every header's, in order) are walked from the right, skipping trusted proxies: the first
// address that is not one is the client; all trusted, the leftmost; no header, the peer. An
// entry that is not a literal address where the walk reaches it gives "" (unknown: outside
// every network zone), never a guess.
std::string ForwardedClient(std::string_view peer, std::span<const std::string_view> forwarded_for,
                            std::span<const IpNetwork> trusted);

}  // namespace strongroom
