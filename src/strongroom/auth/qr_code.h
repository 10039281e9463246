#pragma once
// QrCode: a QR code symbol for a short text (the otpauth:// URI of a TOTP enrolment), drawn as
// SVG and PNG for an authenticator app to scan. The symbol is libqrencode's (error correction
// level M, version chosen by the library); the PNG is libpng's simplified writer. Only the SVG
// text is drawn by hand: it is a few rectangles, no library adds anything.
//
// The text usually holds a secret: the images do too. Callers send them only in the answer to
// the enrolling principal and never log them.
//
// A value type; immutable after Encode, so safe to read from several threads.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"

namespace strongroom::auth {

class QrCode {
 public:
  // invalid_argument for an empty text, one with a NUL byte, or one longer than 1024 bytes;
  // internal if libqrencode fails.
  static Result<QrCode> Encode(std::string_view text);

  int width() const { return width_; }  // modules per side, without the quiet zone
  bool dark(int x, int y) const {
    return modules_[static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) +
                    static_cast<std::size_t>(x)];
  }

  // Both images carry the 4-module quiet zone the standard asks for. The SVG scales freely (its
  // viewBox is in modules); the PNG is 8-bit greyscale with `pixels_per_module` pixels a module.
  std::string Svg() const;
  Result<std::vector<std::uint8_t>> Png(int pixels_per_module = 6) const;

 private:
  int width_ = 0;
  std::vector<bool> modules_;
};

}  // namespace strongroom::auth
