#include "strongroom/cli/passphrase.h"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "strongroom/app/server_app.h"

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

constexpr std::string_view kPassphraseSources =
    "set STRONGROOM_UNSEAL_PASSPHRASE, pass --keys-unseal-passphrase-file FILE (mode 0600), or run "
    "in a terminal to be asked";

Result<SecretBytes> ObtainPassphrase(const config::Config& config, bool confirm) {
  auto configured = app::ConfiguredPassphrase(config);
  if (!configured) return std::unexpected(configured.error());
  if (*configured) return std::move(**configured);
  auto typed = PromptPassphrase(confirm ? "New unseal passphrase: " : "Unseal passphrase: ");
  if (!typed) {
    return Fail(ErrorCode::kInvalidArgument,
                "no unseal passphrase given: " + std::string(kPassphraseSources));
  }
  if (confirm) {
    auto again = PromptPassphrase("Repeat it: ");
    if (!again || again->reveal_as_text() != typed->reveal_as_text()) {
      return Fail(ErrorCode::kInvalidArgument, "the two passphrases differ");
    }
  }
  return std::move(*typed);
}

}  // namespace strongroom::cli
