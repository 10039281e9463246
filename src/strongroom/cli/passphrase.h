#pragma once
// Reading an unseal passphrase from the controlling terminal, without echo. Only the CLI prompts;
// the server never does. Not thread-safe (changes the terminal's mode while it reads).

#include <optional>
#include <string_view>

#include "strongroom/base/error.h"
#include "strongroom/base/secret.h"
#include "strongroom/config/config.h"

namespace strongroom::cli {

// nullopt when there is no terminal (stdin is not a tty) or the read fails.
std::optional<SecretBytes> PromptPassphrase(std::string_view prompt);

// The configured unseal passphrase (keys.unseal_passphrase_file, $STRONGROOM_UNSEAL_PASSPHRASE),
// else one typed at the terminal (twice when `confirm`); invalid_argument naming the ways to give
// one when there is none.
Result<SecretBytes> ObtainPassphrase(const config::Config& config, bool confirm);

}  // namespace strongroom::cli
