// The parts of shared limits that need no Redis: address parsing, the arithmetic of other nodes'
// takings, and the checks of the settings. Two nodes sharing a real redis-server are tested in
// tests/integration/test_shared_limits.py.
#include "strongroom/guard/shared_limits.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "strongroom/guard/traffic_guard.h"

namespace strongroom::guard {
namespace {

TEST(ParseRedisAddress, HostAndPort) {
  auto v4 = ParseRedisAddress("127.0.0.1:6379");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 6379);
  auto named = ParseRedisAddress("redis.internal:7000");
  ASSERT_TRUE(named.has_value());
  EXPECT_EQ(named->host, "redis.internal");
  EXPECT_EQ(named->port, 7000);
  auto v6 = ParseRedisAddress("[::1]:6380");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6380);
}

TEST(ParseRedisAddress, RefusesWhatIsNotHostColonPort) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", ":6379", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:63x9",
        "::1:6379", "[::1]6379", "[::1]", "[]:6379", "host:-1"}) {
    auto parsed = ParseRedisAddress(bad);
    ASSERT_FALSE(parsed.has_value()) << bad;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(OthersTaken, TheCountersGrowthThatWasNotOurs) {
  // First exchange on a connection: the counter's past predates this node.
  EXPECT_EQ(OthersTaken(105, 5, std::nullopt), 0);
  // We saw 105 last time; we added 3 and it reads 120: the others took 12.
  EXPECT_EQ(OthersTaken(120, 3, 105), 12);
  // Nobody else took anything.
  EXPECT_EQ(OthersTaken(108, 3, 105), 0);
  // The counter expired or Redis restarted: everything before our add is the others'.
  EXPECT_EQ(OthersTaken(9, 3, 105), 6);
  // A counter below our own add (it was reset between our INCRBY and another's): nothing.
  EXPECT_EQ(OthersTaken(2, 3, 105), 0);
}

TEST(SharedDebit, PaysWhatOthersTookLessTheRefillOfAnIdleGap) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  // Exchanged every interval: all of it.
  EXPECT_DOUBLE_EQ(SharedDebit(12, 1.0, milliseconds(200), milliseconds(200)), 12);
  EXPECT_DOUBLE_EQ(SharedDebit(12, 1.0, milliseconds(400), milliseconds(200)), 12);
  // A client served elsewhere at half its rate for ten minutes, back here: nearly nothing.
  EXPECT_NEAR(SharedDebit(300, 1.0, seconds(600), milliseconds(200)), 0, 1e-9);
  EXPECT_NEAR(SharedDebit(300, 0.5, seconds(600), milliseconds(200)), 0.2, 1e-9);
  // A flood elsewhere during a 10 s gap: all but 9.6 s of refill.
  EXPECT_NEAR(SharedDebit(1000, 1.0, seconds(10), milliseconds(200)), 990.4, 1e-9);
  // Nothing taken, or no limit: nothing.
  EXPECT_DOUBLE_EQ(SharedDebit(0, 1.0, milliseconds(200), milliseconds(200)), 0);
  EXPECT_DOUBLE_EQ(SharedDebit(50, 0, milliseconds(200), milliseconds(200)), 0);
}

class SharedSettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("shared-limits-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    settings_.redis_address = "127.0.0.1:6379";
    settings_.key_file = Write("key", std::string(64, 'k'), 0600);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path Write(const std::string& name, const std::string& text, mode_t mode) {
    const auto path = dir_ / name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    ::close(fd);
    std::filesystem::permissions(path, static_cast<std::filesystem::perms>(mode));
    return path;
  }
  std::string PrepareError() {
    auto link = SharedLimits::Prepare(settings_);
    EXPECT_FALSE(link.has_value());
    return link ? std::string() : link.error().message();
  }
  std::filesystem::path dir_;
  SharedLimitSettings settings_;
};

TEST_F(SharedSettingsTest, NoAddressMeansNoSharing) {
  settings_.redis_address.clear();
  settings_.key_file.clear();
  auto link = SharedLimits::Prepare(settings_);
  ASSERT_TRUE(link.has_value());
  EXPECT_EQ(*link, nullptr);
}

TEST_F(SharedSettingsTest, GoodSettingsPrepareALink) {
  settings_.password_file = Write("password", "s3cret\n", 0600);
  auto link = SharedLimits::Prepare(settings_);
  ASSERT_TRUE(link.has_value()) << link.error().message();
  EXPECT_NE(*link, nullptr);
}

TEST_F(SharedSettingsTest, EachBadSettingIsNamed) {
  settings_.key_file.clear();
  EXPECT_NE(PrepareError().find("guard.shared_key_file is required"), std::string::npos);

  settings_.key_file = Write("short", std::string(31, 'k'), 0600);
  EXPECT_NE(PrepareError().find("holds fewer than 32 bytes"), std::string::npos);

  settings_.key_file = Write("readable", std::string(64, 'k'), 0644);
  EXPECT_NE(PrepareError().find("chmod 600"), std::string::npos);

  settings_.key_file = dir_ / "missing";
  EXPECT_NE(PrepareError().find("cannot open guard.shared_key_file"), std::string::npos);

  settings_.key_file = Write("key2", std::string(64, 'k'), 0600);
  settings_.password_file = Write("password", "pw", 0640);
  EXPECT_NE(PrepareError().find("guard.redis_password_file"), std::string::npos);

  settings_.password_file.clear();
  settings_.key_prefix = "two words";
  EXPECT_NE(PrepareError().find("guard.shared_key_prefix"), std::string::npos);

  settings_.key_prefix = "strongroom";
  settings_.redis_address = "localhost";
  EXPECT_NE(PrepareError().find("guard.redis_address"), std::string::npos);
}

TEST_F(SharedSettingsTest, AReloadWithBadSharedSettingsChangesNothing) {
  observe::MetricsRegistry registry;
  GuardSettings settings;
  settings.per_source[0] = {1, 2};
  TrafficGuard guard(settings, registry);
  ASSERT_TRUE(guard.Start().has_value());
  GuardSettings reloaded = settings;
  reloaded.per_source[0] = {1000, 1000};
  reloaded.shared = settings_;
  reloaded.shared.key_file = dir_ / "missing";
  ASSERT_FALSE(guard.Reconfigure(reloaded).has_value());
  // The old limits stand: a burst of two, then refused.
  EXPECT_TRUE(guard.AdmitRequest("192.0.2.1", RouteClass::kRead).admitted());
  EXPECT_TRUE(guard.AdmitRequest("192.0.2.1", RouteClass::kRead).admitted());
  EXPECT_FALSE(guard.AdmitRequest("192.0.2.1", RouteClass::kRead).admitted());
}

TEST_F(SharedSettingsTest, AGuardWhoseRedisIsUnreachableLimitsOnItsOwn) {
  observe::MetricsRegistry registry;
  GuardSettings settings;
  settings.per_source[0] = {1, 3};
  settings.shared = settings_;
  settings.shared.redis_address = "127.0.0.1:1";  // nothing listens on port 1
  settings.shared.timeout = std::chrono::milliseconds(50);
  TrafficGuard guard(settings, registry);
  ASSERT_TRUE(guard.Start().has_value());
  guard.StartSharing();
  const auto& fallback = registry.GetGauge("strongroom_guard_shared_limits_fallback", "");
  for (int i = 0; i < 200 && fallback.value() != 1; ++i) {  // at most 2 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(fallback.value(), 1);
  EXPECT_EQ(registry.GetGauge("strongroom_guard_shared_limits_up", "").value(), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(guard.AdmitRequest("192.0.2.2", RouteClass::kRead).admitted());
  }
  EXPECT_FALSE(guard.AdmitRequest("192.0.2.2", RouteClass::kRead).admitted());
}

}  // namespace
}  // namespace strongroom::guard
