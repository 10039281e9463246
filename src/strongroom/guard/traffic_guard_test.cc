#include "strongroom/guard/traffic_guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace strongroom::guard {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

IpAddress Address(std::string_view text) { return *ParseIpAddress(text); }

GuardSettings Quiet() {
  GuardSettings settings;
  settings.per_source = {{{1000, 1000}, {1000, 1000}, {1000, 1000}}};
  settings.per_principal = {1000, 1000};
  settings.per_tenant = {1000, 1000};
  return settings;
}

TEST(ClassifyRoute, CredentialRoutesAreStricterThanReads) {
  EXPECT_EQ(ClassifyRoute(false, "/v1/auth/login"), RouteClass::kCredential);
  EXPECT_EQ(ClassifyRoute(false, "/v1/auth/login/totp"), RouteClass::kCredential);
  EXPECT_EQ(ClassifyRoute(false, "/v1/sys/unseal"), RouteClass::kCredential);
  EXPECT_EQ(ClassifyRoute(false, "/v1/principals/{id}/password"), RouteClass::kCredential);
  EXPECT_EQ(ClassifyRoute(true, "/v1/auth/totp"), RouteClass::kRead);
  EXPECT_EQ(ClassifyRoute(true, "/v1/collections/{collection}/records/{id}"), RouteClass::kRead);
  EXPECT_EQ(ClassifyRoute(false, "/v1/collections/{collection}/records"), RouteClass::kWrite);
}

TEST(TrafficGuard, SourceBucketAllowsTheBurstThenRefusesWithRetryAfter) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.per_source[0] = {0.5, 3};  // a token every 2 s
  TrafficGuard guard(settings, registry);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(guard.AdmitRequest("192.0.2.1", RouteClass::kRead).admitted());
  const Verdict refused = guard.AdmitRequest("192.0.2.1", RouteClass::kRead);
  EXPECT_EQ(refused.refusal, Refusal::kRateLimited);
  EXPECT_EQ(refused.scope, "source");
  EXPECT_GE(refused.retry_after, seconds(1));
  EXPECT_LE(refused.retry_after, seconds(2));
  // Another source and another route class have their own buckets.
  EXPECT_TRUE(guard.AdmitRequest("192.0.2.2", RouteClass::kRead).admitted());
  EXPECT_TRUE(guard.AdmitRequest("192.0.2.1", RouteClass::kWrite).admitted());
  EXPECT_NE(registry.RenderText().find(
                "strongroom_guard_refusals_total{reason=\"rate_limited\",scope=\"source\"} 1"),
            std::string::npos);
}

TEST(TrafficGuard, Ipv6SourcesShareABucketPerSlash64) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.per_source[0] = {0.001, 2};
  TrafficGuard guard(settings, registry);
  EXPECT_TRUE(guard.AdmitRequest("2001:db8:1:2::1", RouteClass::kRead).admitted());
  EXPECT_TRUE(guard.AdmitRequest("2001:db8:1:2:ffff::9", RouteClass::kRead).admitted());
  EXPECT_FALSE(guard.AdmitRequest("2001:db8:1:2:abcd::7", RouteClass::kRead).admitted());
  EXPECT_TRUE(guard.AdmitRequest("2001:db8:1:3::1", RouteClass::kRead).admitted());
}

TEST(TrafficGuard, MemoryStaysBoundedWhenAddressesAreSprayed) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.max_tracked_clients = 160;  // 10 per shard
  TrafficGuard guard(settings, registry);
  for (int i = 0; i < 5000; ++i) {
    const std::string address = "10." + std::to_string(i / 65536) + "." +
                                std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
    ASSERT_TRUE(guard.AdmitRequest(address, RouteClass::kRead).admitted());
  }
  EXPECT_LE(guard.tracked_sources(), 160u);
  EXPECT_GE(guard.tracked_sources(), 100u);
  EXPECT_NE(registry.RenderText().find("strongroom_guard_evictions_total"), std::string::npos);
}

TEST(TrafficGuard, PrincipalAndTenantBuckets) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.per_principal = {0.001, 2};
  settings.per_tenant = {0.001, 3};
  TrafficGuard guard(settings, registry);
  EXPECT_TRUE(guard.AdmitCaller("prn_a", "acme").admitted());
  EXPECT_TRUE(guard.AdmitCaller("prn_a", "acme").admitted());
  const Verdict principal = guard.AdmitCaller("prn_a", "acme");
  EXPECT_EQ(principal.refusal, Refusal::kRateLimited);
  EXPECT_EQ(principal.scope, "principal");
  EXPECT_TRUE(guard.AdmitCaller("prn_b", "acme").admitted());  // the tenant's third
  const Verdict tenant = guard.AdmitCaller("prn_c", "acme");
  EXPECT_EQ(tenant.scope, "tenant");
  EXPECT_TRUE(guard.AdmitCaller("prn_d", "globex").admitted());
}

TEST(TrafficGuard, AuthFailuresBanTheSourceAndRepeatOffencesDoubleTheBan) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.ban_after_auth_failures = 3;
  settings.ban_duration = seconds(60);
  TrafficGuard guard(settings, registry);
  guard.RecordAnswer("198.51.100.7", 401);
  guard.RecordAnswer("198.51.100.7", 401);
  guard.RecordAnswer("198.51.100.7", 200);  // successes do not count
  EXPECT_TRUE(guard.AdmitRequest("198.51.100.7", RouteClass::kRead).admitted());
  const auto before = guard.generation();
  guard.RecordAnswer("198.51.100.7", 401);
  EXPECT_GT(guard.generation(), before);
  const Verdict banned = guard.AdmitRequest("198.51.100.7", RouteClass::kRead);
  EXPECT_EQ(banned.refusal, Refusal::kBanned);
  EXPECT_GE(banned.retry_after, seconds(59));
  SourceKey key;
  EXPECT_EQ(guard.AdmitConnection(Address("198.51.100.7"), false, key).refusal, Refusal::kBanned);
  EXPECT_TRUE(guard.AdmitConnection(Address("198.51.100.8"), false, key).admitted());
  auto bans = guard.Bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].target, "198.51.100.7");
  EXPECT_EQ(bans[0].cause, "auth_failures");
  EXPECT_EQ(bans[0].offence, 1u);
  EXPECT_EQ(std::chrono::duration_cast<seconds>(bans[0].until - bans[0].since), seconds(60));

  ASSERT_TRUE(guard.Lift("198.51.100.7", "prn_admin").has_value());
  EXPECT_TRUE(guard.AdmitRequest("198.51.100.7", RouteClass::kRead).admitted());
  for (int i = 0; i < 3; ++i) guard.RecordAnswer("198.51.100.7", 401);
  bans = guard.Bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].offence, 2u);
  EXPECT_EQ(std::chrono::duration_cast<seconds>(bans[0].until - bans[0].since), seconds(120));
  EXPECT_EQ(guard.Lift("203.0.113.1", "prn_admin").error().code(), ErrorCode::kNotFound);
}

TEST(TrafficGuard, HammeringPastTheLimitCountsAsClientErrors) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.per_source[1] = {0.001, 1};
  settings.ban_after_client_errors = 5;
  TrafficGuard guard(settings, registry);
  EXPECT_TRUE(guard.AdmitRequest("192.0.2.9", RouteClass::kWrite).admitted());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(guard.AdmitRequest("192.0.2.9", RouteClass::kWrite).refusal, Refusal::kRateLimited);
  }
  EXPECT_EQ(guard.AdmitRequest("192.0.2.9", RouteClass::kWrite).refusal, Refusal::kRateLimited);
  EXPECT_EQ(guard.AdmitRequest("192.0.2.9", RouteClass::kRead).refusal, Refusal::kBanned);
  EXPECT_EQ(guard.Bans().at(0).cause, "client_errors");
}

TEST(TrafficGuard, AnAutomaticBanNeverShortensAnAdministratorsBan) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.ban_after_auth_failures = 1;
  settings.ban_duration = seconds(60);
  TrafficGuard guard(settings, registry);
  ASSERT_TRUE(guard.Ban("192.0.2.50", minutes(600), "long", "prn_admin").has_value());
  guard.RecordAnswer("192.0.2.50", 401);
  const auto bans = guard.Bans();
  ASSERT_EQ(bans.size(), 1u);
  EXPECT_EQ(bans[0].cause, "admin");
  EXPECT_EQ(std::chrono::duration_cast<minutes>(bans[0].until - bans[0].since), minutes(600));
}

TEST(TrafficGuard, ConcurrentCallersNeverRefillABucket) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.per_principal = {0.001, 100};
  TrafficGuard guard(settings, registry);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (guard.AdmitCaller("prn_shared", "acme").admitted()) ++admitted;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), 100);  // the burst, once (0.001/s adds nothing in this time)
}

TEST(TrafficGuard, BansExpireByThemselves) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.ban_after_waf_hits = 1;
  settings.ban_duration = seconds(1);
  TrafficGuard guard(settings, registry);
  guard.RecordWafHit("192.0.2.44");
  EXPECT_EQ(guard.AdmitRequest("192.0.2.44", RouteClass::kRead).refusal, Refusal::kBanned);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_TRUE(guard.AdmitRequest("192.0.2.44", RouteClass::kRead).admitted());
  EXPECT_EQ(guard.ExpireBans(), 1u);
  EXPECT_TRUE(guard.Bans().empty());
  EXPECT_NE(registry.RenderText().find("strongroom_guard_active_bans 0"), std::string::npos);
}

TEST(TrafficGuard, AdminBansOfNetworksAndSingleIpv6Addresses) {
  observe::MetricsRegistry registry;
  TrafficGuard guard(Quiet(), registry);
  auto network = guard.Ban("10.0.0.0/8", minutes(5), "scanner", "prn_admin");
  ASSERT_TRUE(network.has_value());
  EXPECT_EQ(network->target, "10.0.0.0/8");
  EXPECT_EQ(network->cause, "admin");
  EXPECT_EQ(guard.AdmitRequest("10.1.2.3", RouteClass::kRead).refusal, Refusal::kBanned);
  EXPECT_TRUE(guard.AdmitRequest("11.1.2.3", RouteClass::kRead).admitted());
  auto host = guard.Ban("2001:db8::5", minutes(5), "", "prn_admin");
  ASSERT_TRUE(host.has_value());
  EXPECT_EQ(host->target, "2001:db8::/64");
  EXPECT_EQ(guard.AdmitRequest("2001:db8::77", RouteClass::kRead).refusal, Refusal::kBanned);
  EXPECT_EQ(guard.Ban("10.0.0.1/8", minutes(5), "", "x").error().code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(guard.Ban("10.0.0.1", minutes(0), "", "x").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(guard.Bans().size(), 2u);
  ASSERT_TRUE(guard.Lift("10.0.0.0/8", "prn_admin").has_value());
  ASSERT_TRUE(guard.Lift("2001:db8::9", "prn_admin").has_value());  // an address of the ban
  EXPECT_TRUE(guard.Bans().empty());
  EXPECT_TRUE(guard.AdmitRequest("10.1.2.3", RouteClass::kRead).admitted());
}

TEST(TrafficGuard, ConnectionCapPerSourceButNotForTrustedProxies) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.max_connections_per_source = 2;
  TrafficGuard guard(settings, registry);
  const IpAddress a = Address("192.0.2.1");
  SourceKey key;
  EXPECT_TRUE(guard.AdmitConnection(a, false, key).admitted());
  EXPECT_TRUE(guard.AdmitConnection(a, false, key).admitted());
  EXPECT_EQ(guard.AdmitConnection(a, false, key).refusal, Refusal::kTooManyConnections);
  guard.ReleaseConnection(key);
  EXPECT_TRUE(guard.AdmitConnection(a, false, key).admitted());
  const IpAddress proxy = Address("192.0.2.2");
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(guard.AdmitConnection(proxy, true, key).admitted());
}

TEST(TrafficGuard, UnknownClientsBehindAProxyAreKeyedApart) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.ban_after_auth_failures = 1;
  TrafficGuard guard(settings, registry);
  guard.RecordAnswer("unknown-via-192.0.2.3", 401);
  EXPECT_EQ(guard.AdmitRequest("unknown-via-192.0.2.3", RouteClass::kRead).refusal,
            Refusal::kBanned);
  EXPECT_TRUE(guard.AdmitRequest("192.0.2.3", RouteClass::kRead).admitted());
  EXPECT_EQ(guard.Bans().at(0).target, "unknown-via-192.0.2.3");
  EXPECT_TRUE(guard.Lift("unknown-via-192.0.2.3", "prn_admin").has_value());
}

class GuardListsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("guard-lists-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path Write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(GuardListsTest, AllowListIsExemptBlockListIsRefused) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.per_source[0] = {0.001, 1};
  settings.ban_after_auth_failures = 1;
  settings.allow_list_file = Write("allow", "# partners\n192.0.2.0/24  # office\n\n");
  settings.block_list_file = Write("block", "203.0.113.0/24\n2001:db8:bad::/48\n");
  TrafficGuard guard(settings, registry);
  ASSERT_TRUE(guard.Start().has_value());
  for (int i = 0; i < 5; ++i)
    EXPECT_TRUE(guard.AdmitRequest("192.0.2.8", RouteClass::kRead).admitted());
  guard.RecordAnswer("192.0.2.8", 401);
  EXPECT_TRUE(guard.Bans().empty());
  EXPECT_EQ(guard.AdmitRequest("203.0.113.9", RouteClass::kRead).refusal, Refusal::kBlocked);
  SourceKey key;
  EXPECT_EQ(guard.AdmitConnection(Address("2001:db8:bad:1::1"), false, key).refusal,
            Refusal::kBlocked);
  EXPECT_TRUE(guard.AdmitConnection(Address("2001:db8:bad0::1"), false, key).admitted());
}

TEST_F(GuardListsTest, AMalformedListNamesFileAndLineAndKeepsTheOldOnReload) {
  observe::MetricsRegistry registry;
  GuardSettings settings = Quiet();
  settings.block_list_file = Write("block", "203.0.113.0/24\n");
  settings.watch_interval = std::chrono::milliseconds(20);
  TrafficGuard guard(settings, registry);
  ASSERT_TRUE(guard.Start().has_value());
  EXPECT_EQ(guard.AdmitRequest("203.0.113.1", RouteClass::kRead).refusal, Refusal::kBlocked);

  GuardSettings broken = settings;
  broken.block_list_file = Write("broken", "10.0.0.0/8\n10.0.0.1/8\n");
  const auto refused = guard.Reconfigure(broken);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(refused.error().message().find("broken:2:"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(guard.AdmitRequest("203.0.113.1", RouteClass::kRead).refusal, Refusal::kBlocked);

  // The watcher sees the file change (a new mtime) and loads it.
  const auto before = guard.generation();
  std::filesystem::last_write_time(
      Write("block", "198.51.100.0/24\n"),
      std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5));
  for (int i = 0; i < 200 && guard.generation() == before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(guard.AdmitRequest("203.0.113.1", RouteClass::kRead).admitted());
  EXPECT_EQ(guard.AdmitRequest("198.51.100.1", RouteClass::kRead).refusal, Refusal::kBlocked);
}

TEST(TrafficGuard, DisabledAdmitsEverything) {
  observe::MetricsRegistry registry;
  GuardSettings settings;
  settings.enabled = false;
  settings.per_source[0] = {0.001, 1};
  TrafficGuard guard(settings, registry);
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(guard.AdmitRequest("192.0.2.1", RouteClass::kRead).admitted());
  for (int i = 0; i < 100; ++i) guard.RecordAnswer("192.0.2.1", 401);
  EXPECT_TRUE(guard.Bans().empty());
}

}  // namespace
}  // namespace strongroom::guard
