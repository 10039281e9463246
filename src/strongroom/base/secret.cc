#include "strongroom/base/secret.h"

#include <string.h>  // explicit_bzero: glibc's wipe that the optimiser may not remove

#include <ostream>

namespace strongroom {

SecretBytes::~SecretBytes() { Wipe(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {
  other.bytes_.clear();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
  }
  return *this;
}

void SecretBytes::Wipe() {
  if (!bytes_.empty()) explicit_bzero(bytes_.data(), bytes_.size());
  bytes_.clear();
}

std::ostream& operator<<(std::ostream& out, const SecretBytes& secret) {
  return out << "<redacted:" << secret.size() << "B>";
}

}  // namespace strongroom
