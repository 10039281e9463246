#include "strongroom/keys/root_key_provider.h"

#include "strongroom/base/files.h"
#include "strongroom/keys/sealed_key_file.h"

namespace strongroom::keys {

Result<SecretBytes> SealedFileRootKeyProvider::Unseal(std::span<const std::uint8_t> secret) const {
  return UnsealKeyFile(file_, secret);
}

Result<void> SealedFileRootKeyProvider::Adopt(std::span<const std::uint8_t> root,
                                              std::span<const std::uint8_t> secret) const {
  return SealRootKeyFile(file_, root, secret);
}

Result<SecretBytes> ReadPassphraseFile(const std::filesystem::path& file) {
  return ReadPrivateFile(file, "passphrase file");
}

}  // namespace strongroom::keys
