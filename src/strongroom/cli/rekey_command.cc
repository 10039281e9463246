#include "strongroom/cli/rekey_command.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <optional>
#include <string_view>

#include "strongroom/app/vault_init.h"
#include "strongroom/base/files.h"
#include "strongroom/cli/exit_codes.h"
#include "strongroom/cli/passphrase.h"
#include "strongroom/keys/root_key_provider.h"
#include "strongroom/keys/sealed_key_file.h"

namespace strongroom::cli {
namespace {

// What the operator calls the unseal secret of a provider.
std::string_view SecretName(std::string_view provider) {
  return provider == "pkcs11" ? "PIN" : "passphrase";
}

// The new secret: from `file` (0600), or typed twice at the terminal.
Result<SecretBytes> ObtainNewSecret(const std::string& file, std::string_view provider) {
  const std::string name(SecretName(provider));
  if (!file.empty()) return keys::ReadPassphraseFile(file);
  auto typed = PromptPassphrase("New unseal " + name + ": ");
  auto again = typed ? PromptPassphrase("Repeat it: ") : std::nullopt;
  if (!typed || !again) {
    return Fail(
        ErrorCode::kInvalidArgument,
        "no new " + name + ": give --new-passphrase-file FILE (mode 0600) or run at a terminal");
  }
  if (typed->reveal_as_text() != again->reveal_as_text()) {
    return Fail(ErrorCode::kInvalidArgument, "the two new " + name + "s differ");
  }
  return std::move(*typed);
}

int Refused(const Error& error, std::string_view provider) {
  switch (error.code()) {
    case ErrorCode::kPermissionDenied:
      std::cerr << "strongroom: re-keying refused: wrong current " << SecretName(provider) << "\n";
      return kExitRuntime;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kAlreadyExists:
      return UsageError(error.message());
    default:
      std::cerr << "strongroom: error: " << error.message() << "\n";
      return kExitRuntime;
  }
}

// A new passphrase for the sealed key file, in place.
int Reseal(const config::Config& config, const RekeyOptions& options) {
  const auto sealed = app::RootKeyPath(config);
  auto current = ObtainPassphrase(config, /*confirm=*/false);
  if (!current) return UsageError(current.error().message());
  auto fresh = ObtainNewSecret(options.new_secret_file, "sealed_file");
  if (!fresh) return UsageError(fresh.error().message());
  if (auto resealed = keys::ResealKeyFile(sealed, current->reveal(), fresh->reveal()); !resealed) {
    return Refused(resealed.error(), "sealed_file");
  }
  std::cout << "Root key re-sealed under the new passphrase in " << sealed.string()
            << ". Nothing else changed: KEKs, data and backups are as they were. Unseal with the "
               "new passphrase from now on (update keys.unseal_passphrase_file or "
               "STRONGROOM_UNSEAL_PASSPHRASE).\n";
  return kExitOk;
}

// The root key moved from keys.provider to `options.to`: adopted there under the new secret,
// read back through the new provider, and only then the old provider's file removed. A crash
// in between leaves both files, each opening the same root key; running again refuses (the
// new file exists) and says which to remove.
int Move(const config::Config& config, const RekeyOptions& options) {
  const auto from = app::MakeRootKeyProvider(config);
  const auto to =
      app::MakeRootKeyProvider(config, options.to, app::RootKeyPath(config, options.to));
  std::error_code exists_error;
  if (std::filesystem::exists(to->file(), exists_error) || exists_error) {
    return UsageError(to->file().string() +
                      " already exists: the root key was moved there "
                      "before (set keys.provider = \"" +
                      options.to + "\"), or a move was cut short (remove that file and run again)");
  }
  auto current = ObtainPassphrase(config, /*confirm=*/false);
  if (!current) return UsageError(current.error().message());
  auto fresh = ObtainNewSecret(options.new_secret_file, options.to);
  if (!fresh) return UsageError(fresh.error().message());
  const std::size_t shortest =
      options.to == "sealed_file" ? keys::kMinPassphraseLength : keys::kMinPinLength;
  if (fresh->size() < shortest) {
    return UsageError("the new unseal " + std::string(SecretName(options.to)) +
                      " must be at least " + std::to_string(shortest) + " characters long");
  }
  auto root = from->Unseal(current->reveal());
  if (!root) return Refused(root.error(), from->kind());
  *current = SecretBytes();  // the old secret wiped now: nothing more needs it
  if (auto adopted = to->Adopt(root->reveal(), fresh->reveal()); !adopted) {
    std::cerr << "strongroom: error: cannot move the root key to " << options.to << ": "
              << adopted.error().message() << "\n";
    return adopted.error().code() == ErrorCode::kFailedPrecondition ? kExitUsage : kExitRuntime;
  }
  auto check = to->Unseal(fresh->reveal());
  if (!check || !std::ranges::equal(check->reveal(), root->reveal())) {
    std::error_code ec;
    std::filesystem::remove(to->file(), ec);
    std::cerr << "strongroom: error: the root key written to " << to->file().string()
              << " does not read back" << (check ? "" : ": " + check.error().message())
              << "; it was removed and " << from->file().string() << " is unchanged\n";
    return kExitRuntime;
  }
  // The new provider's material must be on disk before the old one goes: the file was fsynced,
  // but a token that keeps its keys in files (SoftHSM2) writes them without fsync. sync(2)
  // flushes both; a hardware HSM's own durability (and its cluster's replication) is the
  // operator's to have in place before moving.
  ::sync();
  std::error_code ec;
  std::filesystem::remove(from->file(), ec);
  if (ec) {
    std::cerr << "strongroom: error: the root key is now in " << to->file().string() << ", but "
              << from->file().string() << " could not be removed (" << ec.message()
              << "): remove it by hand\n";
    return kExitRuntime;
  }
  if (auto synced = SyncDirectory(from->file().parent_path()); !synced) {
    std::cerr << "strongroom: warning: " << synced.error().message() << "\n";
  }
  std::cout << "Root key moved from " << from->kind() << " (" << from->file().string() << ", now "
            << "removed) to " << to->kind() << " (" << to->file().string()
            << "). Nothing else changed: KEKs, data and backups are as they were.\nBefore the "
               "next start set keys.provider = \""
            << options.to << "\""
            << (options.to == "pkcs11" ? " with keys.pkcs11_module, keys.pkcs11_token_label and "
                                         "keys.pkcs11_key_label"
                                       : "")
            << ", and give the new " << SecretName(options.to)
            << " as the unseal secret (keys.unseal_passphrase_file or "
               "STRONGROOM_UNSEAL_PASSPHRASE). A copy of the old file kept elsewhere still opens "
               "the vault with the old "
            << SecretName(from->kind()) << ".\n";
  if (from->kind() == "pkcs11") {
    std::cout << "The wrapping key '" << config.keys.pkcs11_key_label
              << "' stays in the token: destroy it with the token's tools once no copy of "
                 "root.p11 is kept.\n";
  }
  return kExitOk;
}

}  // namespace

int RunRekey(const SettingsFlags& flags, const RekeyOptions& options) {
  auto config = BuildConfig(flags);
  if (!config) return UsageError(config.error().message());
  if (auto initialized = app::CheckVaultInitialized(*config); !initialized) {
    return UsageError(initialized.error().message());
  }
  // Two re-keyings at once would each read the file the other replaces: one at a time.
  const auto lock_file = std::filesystem::path(config->server.data_dir) / "keys" / "rekey.lock";
  auto lock = FileLock::Take(lock_file, /*wait=*/false);
  if (!lock) {
    return UsageError(lock.error().code() == ErrorCode::kWouldBlock
                          ? "another re-keying of this vault is running"
                          : lock.error().message());
  }
  const std::string& to = options.to.empty() ? config->keys.provider : options.to;
  if (to != "sealed_file" && to != "pkcs11") {
    return UsageError("--to must be sealed_file or pkcs11, not '" + to + "'");
  }
  if (to != config->keys.provider) {
    RekeyOptions move = options;
    move.to = to;
    return Move(*config, move);
  }
  if (to == "pkcs11") {
    return UsageError(
        "the root key in a PKCS#11 token is opened by the token's key and PIN: change the PIN "
        "with the token's own tools (softhsm2-util, pkcs11-tool --change-pin), nothing in the "
        "vault changes; to move the root key out of the token: --to sealed_file");
  }
  return Reseal(*config, options);
}

}  // namespace strongroom::cli
