#include "strongroom/config/config.h"

#include <gtest/gtest.h>

#include <array>
#include <fstream>

namespace strongroom::config {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = std::filesystem::temp_directory_path() /
            ("sr-config-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".toml");
  }
  void TearDown() override { std::filesystem::remove(file_); }

  // Writes `toml` and returns the error message of loading it (empty when it loads).
  std::string LoadError(const std::string& toml) {
    std::ofstream(file_) << toml;
    ConfigBuilder builder;
    if (auto applied = builder.ApplyFile(file_); !applied) return Strip(applied.error().message());
    if (auto finished = builder.Finish(); !finished) return Strip(finished.error().message());
    return "";
  }
  std::string Strip(std::string message) {
    const std::string prefix = file_.string();
    if (message.starts_with(prefix)) message.replace(0, prefix.size(), "FILE");
    return message;
  }
  std::filesystem::path file_;
};

TEST_F(ConfigTest, DefaultsAreValid) {
  auto config = ConfigBuilder().Finish();
  ASSERT_TRUE(config);
  EXPECT_EQ(config->server.listen.ToString(), "127.0.0.1:8443");
  EXPECT_EQ(config->server.metrics_listen.ToString(), "127.0.0.1:9464");
  EXPECT_EQ(config->limits.max_body_bytes, 1 << 20);
  EXPECT_TRUE(config->uses_development_certificate());
  EXPECT_EQ(config->cert_path(), std::filesystem::path(".strongroom/tls/server.crt"));
}

TEST_F(ConfigTest, FileValuesApply) {
  std::ofstream(file_) << "[server]\nlisten = \"[::1]:9000\"\nio_threads = 4\n"
                          "[limits]\nmax_body_bytes = 2048\n[log]\naccess_log = false\n";
  ConfigBuilder builder;
  ASSERT_TRUE(builder.ApplyFile(file_));
  auto config = builder.Finish();
  ASSERT_TRUE(config);
  EXPECT_EQ(config->server.listen.ToString(), "[::1]:9000");
  EXPECT_EQ(config->server.io_threads, 4);
  EXPECT_EQ(config->limits.max_body_bytes, 2048);
  EXPECT_FALSE(config->log.access_log);
}

TEST_F(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  const std::string error = LoadError("[server]\nlisten = \"127.0.0.1:1\"\nio_threads = = 3\n");
  EXPECT_TRUE(error.starts_with("FILE:3:14: invalid TOML: ")) << error;
}

TEST_F(ConfigTest, UnknownKeyIsRefusedWithSuggestion) {
  EXPECT_EQ(LoadError("[limits]\nmax_bdy_bytes = 10\n"),
            "FILE:2:1: unknown key 'limits.max_bdy_bytes' (did you mean 'limits.max_body_bytes'?)");
}

TEST_F(ConfigTest, UnknownSectionIsRefused) {
  EXPECT_EQ(LoadError("[database]\nurl = \"x\"\n"), "FILE:2:1: unknown key 'database.url'");
}

TEST_F(ConfigTest, SectionMustBeATable) {
  EXPECT_EQ(LoadError("server = 3\n"), "FILE:1:1: 'server' must be a table ([server])");
}

TEST_F(ConfigTest, WrongTypeNamesTheExpectedType) {
  EXPECT_EQ(LoadError("[limits]\nmax_body_bytes = \"1MiB\"\n"),
            "FILE:2:18: limits.max_body_bytes: expected an integer");
  EXPECT_EQ(LoadError("[log]\naccess_log = \"yes\"\n"),
            "FILE:2:14: log.access_log: expected a boolean (true or false)");
  EXPECT_EQ(LoadError("[server]\nlisten = 8443\n"),
            "FILE:2:10: server.listen: expected a string HOST:PORT");
}

TEST_F(ConfigTest, OutOfRangeNamesTheRange) {
  EXPECT_EQ(LoadError("[server]\nio_threads = 0\n"),
            "FILE:2:14: server.io_threads: must be between 1 and 64");
  EXPECT_EQ(LoadError("[limits]\nmax_body_bytes = 10\n"),
            "FILE:2:18: limits.max_body_bytes: must be between 1024 and 1073741824");
}

TEST_F(ConfigTest, BadAddressAndLevelExplainWhy) {
  EXPECT_EQ(LoadError("[server]\nlisten = \"example.com:443\"\n"),
            "FILE:2:10: server.listen: expected HOST:PORT (e.g. 127.0.0.1:8443 or [::1]:8443): "
            "host must be an IP address or 'localhost'");
  EXPECT_EQ(LoadError("[log]\nlevel = \"loud\"\n"),
            "FILE:2:9: log.level: expected one of debug, info, warn, error");
}

TEST_F(ConfigTest, CrossFieldErrorsNameTheSettingThatWasSet) {
  EXPECT_EQ(LoadError("[tls]\ncert_file = \"/etc/ssl/x.pem\"\n"),
            "FILE:2:13: tls.cert_file is set but tls.key_file is not; set both or neither");
  EXPECT_EQ(LoadError("[server]\nlisten = \"127.0.0.1:9464\"\n"),
            "default: server.metrics_listen must differ from server.listen (127.0.0.1:9464)");
  EXPECT_EQ(LoadError("[audit]\nretention_days = 400\n"),
            "FILE:2:18: audit.retention_days is set but audit.archive_dir is not (where would old "
            "segments go?); set both or neither");
  EXPECT_EQ(LoadError("[audit]\narchive_dir = \"/mnt/a\"\n"),
            "FILE:2:15: audit.archive_dir is set but audit.retention_days is 0 (nothing would ever "
            "be archived); set both or neither");
  EXPECT_EQ(LoadError("[audit]\nretention_days = 1\ndir = \"/v/audit\"\n"
                      "archive_dir = \"/v/audit/old\"\n"),
            "FILE:4:15: audit.archive_dir must be apart from the trail (/v/audit) and from every "
            "witness directory");
  EXPECT_EQ(LoadError("[audit]\nretention_days = 1\nwitness_dirs = \"/w1,/w2/\"\n"
                      "archive_dir = \"/w2\"\n"),
            "FILE:4:15: audit.archive_dir must be apart from the trail (.strongroom/audit) and "
            "from every "
            "witness directory");
  // A relative trail directory and an absolute archive inside it.
  EXPECT_NE(LoadError("[audit]\nretention_days = 1\narchive_dir = \"" +
                      (std::filesystem::current_path() / ".strongroom" / "audit" / "old").string() +
                      "\"\n"),
            "");
  EXPECT_EQ(LoadError("[audit]\nretention_days = 1\narchive_dir = \"/mnt/audit-archive\"\n"), "");
}

TEST_F(ConfigTest, TheDrillDirectoryMustBeItsOwnAndIntervalsInOrder) {
  const std::string base = "[server]\ndata_dir = \"/v\"\n[backup]\ntargets = \"/t1,/t2\"\n";
  EXPECT_EQ(LoadError(base), "");  // the default, /v/backup-drill
  EXPECT_EQ(LoadError(base + "drill_dir = \"/scratch/drill\"\n"), "");
  // {drill_dir as set, as shown, the directory it collides with}
  const std::array<std::array<std::string, 3>, 5> refused = {
      {{"/v", "/v", "/v"},
       {"/", "/", "/v"},
       {"/t2/drill", "/t2/drill", "/t2"},
       {"/v/audit/x", "/v/audit/x", "/v/audit"},
       {"/r/", "/r", "/r"}}};
  for (const auto& [set, shown, other] : refused) {
    EXPECT_EQ(LoadError(base + "restore_dir = \"/r\"\ndrill_dir = \"" + set + "\"\n"),
              "FILE:6:13: backup.drill_dir (" + shown +
                  ") must be a directory of its own, apart from " + other);
  }
  EXPECT_EQ(LoadError(base + "incremental_interval_seconds = 700000\n"),
            "FILE:5:32: backup.incremental_interval_seconds must be at most "
            "backup.full_interval_seconds (or 0 for full backups only)");
}

TEST_F(ConfigTest, MissingFileIsNamed) {
  ConfigBuilder builder;
  const auto applied = builder.ApplyFile("/nonexistent/strongroom.toml");
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().message(),
            "cannot read config file /nonexistent/strongroom.toml: No such file or directory");
}

TEST_F(ConfigTest, EnvironmentOverridesFileAndFlagsOverrideEnvironment) {
  std::ofstream(file_) << "[server]\nlisten = \"127.0.0.1:1000\"\nio_threads = 3\n";
  std::string listen = "STRONGROOM_SERVER_LISTEN=127.0.0.1:2000";
  std::string unrelated = "HOME=/root";
  std::string other = "STRONGROOM_UNSEAL_PASSPHRASE=not-a-setting";
  char* envp[] = {listen.data(), unrelated.data(), other.data(), nullptr};
  ConfigBuilder builder;
  ASSERT_TRUE(builder.ApplyFile(file_));
  ASSERT_TRUE(builder.ApplyEnvironment(envp));
  ASSERT_TRUE(builder.ApplyText("server.io_threads", "5", "--io-threads"));
  auto config = builder.Finish();
  ASSERT_TRUE(config);
  EXPECT_EQ(config->server.listen.port, 2000);
  EXPECT_EQ(config->server.io_threads, 5);
}

TEST_F(ConfigTest, EnvironmentErrorsNameTheVariable) {
  std::string typo = "STRONGROOM_SERVER_LSTEN=127.0.0.1:1";
  char* envp1[] = {typo.data(), nullptr};
  EXPECT_EQ(ConfigBuilder().ApplyEnvironment(envp1).error().message(),
            "environment STRONGROOM_SERVER_LSTEN: not a Strongroom setting");
  std::string bad = "STRONGROOM_LIMITS_MAX_HEADER_COUNT=lots";
  char* envp2[] = {bad.data(), nullptr};
  EXPECT_EQ(ConfigBuilder().ApplyEnvironment(envp2).error().message(),
            "environment STRONGROOM_LIMITS_MAX_HEADER_COUNT: expected an integer");
}

TEST_F(ConfigTest, FlagErrorsNameTheFlag) {
  ConfigBuilder builder;
  EXPECT_EQ(builder.ApplyText("server.listen", "nope", "--listen").error().message(),
            "--listen: expected HOST:PORT (e.g. 127.0.0.1:8443 or [::1]:8443): missing ':PORT'");
  EXPECT_EQ(builder.ApplyText("server.data_dir", "", "--data-dir").error().message(),
            "--data-dir: must not be empty");
}

TEST(SplitCommaList, TrimsItemsAndDropsEmptyOnes) {
  EXPECT_EQ(SplitCommaList(" notes ,\tcomments,, ciphertext\n"),
            (std::vector<std::string>{"notes", "comments", "ciphertext"}));
  EXPECT_TRUE(SplitCommaList("").empty());
  EXPECT_TRUE(SplitCommaList(" , ,").empty());
  EXPECT_EQ(SplitCommaList("/w1,/w2/"), (std::vector<std::string>{"/w1", "/w2/"}));
}

TEST_F(ConfigTest, EverySettingHasDistinctFlagAndVariable) {
  std::set<std::string> flags;
  std::set<std::string> variables;
  for (const auto& s : AllSettings()) {
    EXPECT_TRUE(flags.insert(FlagFor(s)).second) << s.key;
    EXPECT_TRUE(variables.insert(EnvironmentVariableFor(s)).second) << s.key;
  }
  EXPECT_TRUE(flags.contains("listen"));
  EXPECT_TRUE(flags.contains("data-dir"));
  EXPECT_TRUE(flags.contains("metrics-listen"));
  EXPECT_TRUE(flags.contains("limits-max-body-bytes"));
  EXPECT_TRUE(variables.contains("STRONGROOM_LIMITS_MAX_BODY_BYTES"));
}

}  // namespace
}  // namespace strongroom::config
