// QR codes are checked by an independent reader: zbarimg (zbar-tools, installed by
// install-deps --test) must read back exactly the text from the PNG and from the SVG's modules.

#include "strongroom/auth/qr_code.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "support/scratch_dir.h"

namespace strongroom::auth {
namespace {

constexpr std::string_view kUri =
    "otpauth://totp/Strongroom:alice%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    "&issuer=Strongroom&algorithm=SHA1&digits=6&period=30";

std::string ReadBack(const std::filesystem::path& png) {
  const std::string command = "zbarimg --quiet --raw " + png.string() + " 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 512> buffer{};
  while (pipe && fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) out += buffer.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

TEST(QrCode, APngThatAnIndependentReaderReadsBackExactly) {
  auto qr = QrCode::Encode(kUri);
  ASSERT_TRUE(qr);
  EXPECT_EQ((qr->width() - 17) % 4, 0);  // a QR version's side is 17 + 4v modules
  auto png = qr->Png(4);
  ASSERT_TRUE(png);
  ASSERT_GT(png->size(), 8u);
  EXPECT_EQ(std::string(png->begin(), png->begin() + 8), "\x89PNG\r\n\x1a\n");
  strongroom::testing::ScratchDir scratch;
  std::ofstream(scratch / "qr.png", std::ios::binary)
      .write(reinterpret_cast<const char*>(png->data()), static_cast<std::streamsize>(png->size()));
  EXPECT_EQ(ReadBack(scratch / "qr.png"), kUri);
}

TEST(QrCode, TheSvgDrawsExactlyTheDarkModules) {
  auto qr = QrCode::Encode("hello");
  ASSERT_TRUE(qr);
  const std::string svg = qr->Svg();
  const std::string side = std::to_string(qr->width() + 8);
  EXPECT_EQ(
      svg.rfind(
          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + side + " " + side + "\"", 0),
      0u);
  EXPECT_TRUE(svg.ends_with("\"/></svg>"));
  // Every run the path draws is a run of dark modules, and they add up to all of them.
  int dark = 0;
  for (int y = 0; y < qr->width(); ++y) {
    for (int x = 0; x < qr->width(); ++x) dark += qr->dark(x, y) ? 1 : 0;
  }
  int drawn = 0;
  for (std::size_t at = svg.find('M'); at != std::string::npos; at = svg.find('M', at + 1)) {
    int x = 0, y = 0, run = 0;
    ASSERT_EQ(std::sscanf(svg.c_str() + at, "M%d %dh%d", &x, &y, &run), 3);
    for (int i = 0; i < run; ++i) EXPECT_TRUE(qr->dark(x - 4 + i, y - 4));
    drawn += run;
  }
  EXPECT_EQ(drawn, dark);
}

TEST(QrCode, RefusesWhatItCannotHold) {
  EXPECT_EQ(QrCode::Encode("").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(QrCode::Encode(std::string(1025, 'a')).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(QrCode::Encode(std::string("a\0b", 3)).error().code(), ErrorCode::kInvalidArgument);
  auto qr = QrCode::Encode("x");
  ASSERT_TRUE(qr);
  EXPECT_EQ(qr->Png(0).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(qr->Png(33).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace strongroom::auth
