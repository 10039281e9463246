#pragma once
// Reading an unseal passphrase from the controlling terminal, without echo. Only the CLI prompts;
// the server never does. Not thread-safe (changes the terminal's mode while it reads).

#include <optional>
#include <string_view>

#include "strongroom/base/secret.h"

namespace strongroom::cli {

// nullopt when there is no terminal (stdin is not a tty) or the read fails.
std::optional<SecretBytes> PromptPassphrase(std::string_view prompt);

}  // namespace strongroom::cli
