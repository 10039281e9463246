#include "strongroom/cli/passphrase.h"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

namespace strongroom::cli {

std::optional<SecretBytes> PromptPassphrase(std::string_view prompt) {
  if (::isatty(STDIN_FILENO) == 0) return std::nullopt;
  (void)::write(STDERR_FILENO, prompt.data(), prompt.size());
  termios saved{};
  if (::tcgetattr(STDIN_FILENO, &saved) != 0) return std::nullopt;
  termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  if (::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) return std::nullopt;
  // Read byte by byte into locked memory, so no stdio buffer keeps a copy.
  constexpr std::size_t kMax = 1024;
  SecretBytes buffer(kMax);
  std::size_t length = 0;
  bool ok = true;
  for (;;) {
    char c = 0;
    const ssize_t n = ::read(STDIN_FILENO, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') {
      ok = n > 0 || length > 0;
      break;
    }
    if (length == kMax) {
      ok = false;
      break;
    }
    buffer.mutable_bytes()[length++] = static_cast<std::uint8_t>(c);
  }
  (void)::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
  if (!ok) return std::nullopt;
  return SecretBytes(buffer.reveal().first(length));
}

}  // namespace strongroom::cli
