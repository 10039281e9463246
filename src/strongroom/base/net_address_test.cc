#include "strongroom/base/net_address.h"

#include <gtest/gtest.h>

namespace strongroom {
namespace {

TEST(NetAddressTest, ParsesIpv4Ipv6AndLocalhost) {
  EXPECT_EQ(*ParseNetAddress("127.0.0.1:8443"), (NetAddress{"127.0.0.1", 8443}));
  EXPECT_EQ(*ParseNetAddress("[::1]:0"), (NetAddress{"::1", 0}));
  EXPECT_EQ(*ParseNetAddress("localhost:9464"), (NetAddress{"127.0.0.1", 9464}));
  EXPECT_EQ(ParseNetAddress("[::1]:8443")->ToString(), "[::1]:8443");
}

TEST(NetAddressTest, RefusesMalformedAddressesWithTheReason) {
  const std::pair<const char*, const char*> cases[] = {
      {"127.0.0.1", "missing ':PORT'"},
      {"127.0.0.1:65536", "port must be a number from 0 to 65535"},
      {"127.0.0.1:-1", "port must be a number"},
      {"127.0.0.1:80x", "port must be a number"},
      {"example.com:80", "host must be an IP address or 'localhost'"},
      {"::1:80", "IPv6 addresses need brackets"},
      {"[::1:80", "missing ']'"},
      {"[::1]80", "missing ':PORT' after ']'"},
      {"[not-v6]:80", "not an IPv6 address"},
      {":80", "host must be an IP address"},
  };
  for (const auto& [text, reason] : cases) {
    const auto parsed = ParseNetAddress(text);
    ASSERT_FALSE(parsed.has_value()) << text;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message().find(reason), std::string::npos)
        << text << " -> " << parsed.error().message();
  }
}

}  // namespace
}  // namespace strongroom
