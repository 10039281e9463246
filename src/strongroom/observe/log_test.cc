#include "strongroom/observe/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace strongroom::observe {
namespace {

constexpr std::int64_t kTime = 1795328581'123456;  // 2026-11-22T06:23:01.123456Z

TEST(LogFormatTest, OneJsonObjectWithTypedFields) {
  std::string line;
  FormatLogLine(line, kTime, LogLevel::kInfo, "server.listening",
                {{"api", "https://127.0.0.1:8443"}, {"pid", 42}, {"tls", true}, {"ratio", 0.5}});
  EXPECT_EQ(line,
            R"({"ts":"2026-11-22T06:23:01.123456Z","level":"info","event":"server.listening",)"
            R"("api":"https://127.0.0.1:8443","pid":42,"tls":true,"ratio":0.5})");
}

TEST(LogFormatTest, SecretsAreRedacted) {
  SecretBytes token(std::string_view("srt_supersecretvalue"));
  std::string line;
  FormatLogLine(line, kTime, LogLevel::kWarn, "auth.token", {{"token", token}});
  EXPECT_EQ(line.find("supersecret"), std::string::npos);
  EXPECT_NE(line.find(R"("token":"<redacted>")"), std::string::npos);
}

TEST(LogFormatTest, EscapesControlCharactersQuotesAndInvalidUtf8) {
  std::string out;
  AppendJsonEscaped(out, "a\"b\\c\nd\x01\x7f");
  EXPECT_EQ(out, R"(a\"b\\c\nd\u0001\u007f)");
  out.clear();
  AppendJsonEscaped(out, "caf\xc3\xa9 \xff \xed\xa0\x80 \xc0\xaf");  // valid, bad, surrogate, overlong
  EXPECT_EQ(out, "caf\xc3\xa9 \\ufffd \\ufffd\\ufffd\\ufffd \\ufffd\\ufffd");
  out = "kept:";  // appends; runs of plain characters at either end, escapes between
  AppendJsonEscaped(out, "\tplain run\"\x1f");
  EXPECT_EQ(out, R"(kept:\tplain run\"\u001f)");
}

TEST(LogFormatTest, CardNumbersInValuesAreRemoved) {
  std::string line;
  FormatLogLine(line, kTime, LogLevel::kWarn, "x",
                {{"path", "/v1/cards/4111 1111 1111 1111/x"},
                 {"ids", "5555555555554444"},
                 {"order", "4111111111111112"}});
  EXPECT_NE(line.find(R"("path":"/v1/cards/<card number removed>/x")"), std::string::npos);
  EXPECT_NE(line.find(R"("ids":"<card number removed>")"), std::string::npos);
  EXPECT_NE(line.find(R"("order":"4111111111111112")"), std::string::npos);  // not a card
  EXPECT_EQ(line.find("1111 1111"), std::string::npos);
}

TEST(LogFormatTest, NonFiniteNumbersBecomeNull) {
  std::string line;
  FormatLogLine(line, kTime, LogLevel::kError, "x", {{"v", 1.0 / 0.0}});
  EXPECT_NE(line.find(R"("v":null)"), std::string::npos);
}

TEST(LogLevelTest, ParsesKnownLevelsOnly) {
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_FALSE(ParseLogLevel("verbose"));
  EXPECT_FALSE(ParseLogLevel("INFO"));
}

}  // namespace
}  // namespace strongroom::observe

namespace strongroom::observe {
namespace {

TEST(BatchedLoggingTest, EveryLineReachesTheFileInOrderByShutdown) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("sr-log-" + std::to_string(::getpid()) + ".jsonl");
  std::filesystem::remove(path);
  ASSERT_TRUE(InitLogging({LogLevel::kInfo, path.string(), /*async=*/true}));
  for (int i = 0; i < 5000; ++i) Info("test.line", {{"n", i}});
  Debug("test.filtered_out");
  ShutdownLogging();
  std::ifstream in(path);
  std::string line;
  int expected = 0;
  while (std::getline(in, line)) {
    ASSERT_NE(line.find("\"event\":\"test.line\",\"n\":" + std::to_string(expected) + "}"),
              std::string::npos)
        << line;
    ++expected;
  }
  EXPECT_EQ(expected, 5000);
  std::filesystem::remove(path);
}

// (A missing directory is not an error: spdlog creates it. A path under a file cannot be made.)
TEST(BatchedLoggingTest, UnopenableFileIsAClearError) {
  const auto result = InitLogging({LogLevel::kInfo, "/etc/hostname/x.log", true});
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(result.error().message().find("cannot open log"), std::string::npos);
}

}  // namespace
}  // namespace strongroom::observe
