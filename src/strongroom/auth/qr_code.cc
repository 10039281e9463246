#include "strongroom/auth/qr_code.h"

#include <png.h>
#include <qrencode.h>

#include <memory>

namespace strongroom::auth {
namespace {

constexpr int kQuietZone = 4;
constexpr std::size_t kMaxText = 1024;

struct QrFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};

}  // namespace

Result<QrCode> QrCode::Encode(std::string_view text) {
  if (text.empty() || text.size() > kMaxText || text.find('\0') != std::string_view::npos) {
    return Fail(ErrorCode::kInvalidArgument, "a QR code holds 1 to 1024 bytes of text");
  }
  const std::string terminated(text);
  // 8-bit mode, case kept: an otpauth URI mixes cases and percent escapes.
  std::unique_ptr<QRcode, QrFree> code(
      QRcode_encodeString(terminated.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
  if (!code) return Fail(ErrorCode::kInternal, "libqrencode could not encode the text");
  QrCode out;
  out.width_ = code->width;
  const auto cells = static_cast<std::size_t>(code->width) * static_cast<std::size_t>(code->width);
  out.modules_.resize(cells);
  for (std::size_t i = 0; i < cells; ++i) out.modules_[i] = (code->data[i] & 1) != 0;
  return out;
}

std::string QrCode::Svg() const {
  const int side = width_ + 2 * kQuietZone;
  const std::string size = std::to_string(side);
  std::string svg = R"(<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 )" + size + " " + size +
                    R"(" shape-rendering="crispEdges"><rect width=")" + size + R"(" height=")" +
                    size + R"(" fill="#fff"/><path fill="#000" d=")";
  // One horizontal run of dark modules per path segment keeps the text small.
  for (int y = 0; y < width_; ++y) {
    for (int x = 0; x < width_;) {
      if (!dark(x, y)) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < width_ && dark(x + run, y)) ++run;
      svg += "M" + std::to_string(x + kQuietZone) + " " + std::to_string(y + kQuietZone) + "h" +
             std::to_string(run) + "v1h-" + std::to_string(run) + "z";
      x += run;
    }
  }
  svg += R"("/></svg>)";
  return svg;
}

Result<std::vector<std::uint8_t>> QrCode::Png(int pixels_per_module) const {
  if (pixels_per_module < 1 || pixels_per_module > 32) {
    return Fail(ErrorCode::kInvalidArgument, "1 to 32 pixels a module");
  }
  const int side = (width_ + 2 * kQuietZone) * pixels_per_module;
  const auto stride = static_cast<std::size_t>(side);
  std::vector<std::uint8_t> pixels(stride * stride, 0xff);
  for (int y = 0; y < width_; ++y) {
    for (int x = 0; x < width_; ++x) {
      if (!dark(x, y)) continue;
      for (int dy = 0; dy < pixels_per_module; ++dy) {
        const std::size_t row =
            static_cast<std::size_t>(y + kQuietZone) * static_cast<std::size_t>(pixels_per_module) +
            static_cast<std::size_t>(dy);
        const std::size_t col =
            static_cast<std::size_t>(x + kQuietZone) * static_cast<std::size_t>(pixels_per_module);
        std::fill_n(pixels.begin() + static_cast<std::ptrdiff_t>(row * stride + col),
                    pixels_per_module, std::uint8_t{0});
      }
    }
  }
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(side);
  image.height = static_cast<png_uint_32>(side);
  image.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  if (png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, nullptr) == 0) {
    png_image_free(&image);
    return Fail(ErrorCode::kInternal, "libpng could not size the image");
  }
  std::vector<std::uint8_t> png(size);
  if (png_image_write_to_memory(&image, png.data(), &size, 0, pixels.data(), 0, nullptr) == 0) {
    png_image_free(&image);
    return Fail(ErrorCode::kInternal, "libpng could not write the image");
  }
  png.resize(size);
  return png;
}

}  // namespace strongroom::auth
