#include "strongroom/base/ip_network.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace strongroom {
namespace {

constexpr std::array<std::uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool IsV4Mapped(const IpAddress& a) {
  return std::memcmp(a.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) == 0;
}

}  // namespace

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  // inet_pton needs a NUL-terminated string; the longest IPv6 text form is 45 characters.
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buffer)) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress out;
  in_addr v4{};
  if (inet_pton(AF_INET, buffer, &v4) == 1) {
    std::memcpy(out.bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(out.bytes.data() + 12, &v4, 4);
    return out;
  }
  if (inet_pton(AF_INET6, buffer, out.bytes.data()) == 1) return out;
  return std::nullopt;
}

bool IpNetwork::Contains(const IpAddress& address) const {
  const int full = prefix_bits / 8;
  if (std::memcmp(base.bytes.data(), address.bytes.data(), static_cast<std::size_t>(full)) != 0) {
    return false;
  }
  const int rest = prefix_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (address.bytes[static_cast<std::size_t>(full)] & mask) ==
         base.bytes[static_cast<std::size_t>(full)];
}

std::string IpNetwork::ToString() const {
  char buffer[INET6_ADDRSTRLEN];
  if (IsV4Mapped(base) && prefix_bits >= 96) {
    inet_ntop(AF_INET, base.bytes.data() + 12, buffer, sizeof(buffer));
    return std::string(buffer) + "/" + std::to_string(prefix_bits - 96);
  }
  inet_ntop(AF_INET6, base.bytes.data(), buffer, sizeof(buffer));
  return std::string(buffer) + "/" + std::to_string(prefix_bits);
}

Result<IpNetwork> ParseIpNetwork(std::string_view text) {
  const auto slash = text.find('/');
  const auto address = ParseIpAddress(text.substr(0, slash));
  if (!address) {
    return Fail(ErrorCode::kInvalidArgument, "is not an IPv4 or IPv6 address or network");
  }
  const bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
  const int family_bits = v4 ? 32 : 128;
  int bits = family_bits;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || bits < 0 ||
        bits > family_bits) {
      return Fail(ErrorCode::kInvalidArgument,
                  "has a prefix length that is not 0-" + std::to_string(family_bits));
    }
  }
  IpNetwork network{*address, v4 ? bits + 96 : bits};
  for (int bit = network.prefix_bits; bit < 128; ++bit) {
    if (network.base.bytes[static_cast<std::size_t>(bit / 8)] & (0x80 >> (bit % 8))) {
      return Fail(ErrorCode::kInvalidArgument,
                  "has host bits set after the prefix (write the network address)");
    }
  }
  return network;
}

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool InAny(std::span<const IpNetwork> networks, const IpAddress& address) {
  for (const auto& n : networks) {
    if (n.Contains(address)) return true;
  }
  return false;
}

}  // namespace

Result<std::vector<IpNetwork>> ParseIpNetworkList(std::string_view text) {
  std::vector<IpNetwork> out;
  while (!Trim(text).empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view entry = Trim(text.substr(0, comma));
    auto network = ParseIpNetwork(entry);
    if (!network) {
      return Fail(ErrorCode::kInvalidArgument,
                  "'" + std::string(entry) + "' " + network.error().message());
    }
    out.push_back(*network);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string ForwardedClient(std::string_view peer, std::span<const std::string_view> forwarded_for,
                            std::span<const IpNetwork> trusted) {
  const auto peer_address = ParseIpAddress(peer.substr(0, peer.find('%')));
  if (trusted.empty() || !peer_address || !InAny(trusted, *peer_address)) return std::string(peer);
  std::vector<std::string_view> entries;
  for (std::string_view header : forwarded_for) {
    while (true) {
      const std::size_t comma = header.find(',');
      entries.push_back(Trim(header.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      header.remove_prefix(comma + 1);
    }
  }
  std::string_view client = peer;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    const auto address = ParseIpAddress(*it);
    if (!address) return "";
    client = *it;
    if (!InAny(trusted, *address)) break;
  }
  return std::string(client);
}

}  // namespace strongroom
