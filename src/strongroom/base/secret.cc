#include "strongroom/base/secret.h"

#include <string.h>  // explicit_bzero: glibc's wipe that the optimiser may not remove
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <new>
#include <ostream>

namespace strongroom {
namespace {

// The raw syscalls, not the libc wrappers: AddressSanitizer intercepts mlock() and turns it into
// a no-op that reports success, which would make locked() lie in the sanitizer build.
bool LockPages(void* data, std::size_t size) { return ::syscall(SYS_mlock, data, size) == 0; }
void UnlockPages(void* data, std::size_t size) { (void)::syscall(SYS_munlock, data, size); }

std::size_t PageSize() {
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace

SecretBytes::SecretBytes(std::size_t size) {
  if (size == 0) return;
  mapped_ = (size + PageSize() - 1) / PageSize() * PageSize();
  void* memory = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) throw std::bad_alloc();
  data_ = static_cast<std::uint8_t*>(memory);  // anonymous mappings start zero-filled
  size_ = size;
  locked_ = LockPages(data_, mapped_);
  (void)::madvise(data_, mapped_, MADV_DONTDUMP);  // best effort, like mlock
}

SecretBytes::SecretBytes(std::span<const std::uint8_t> bytes) : SecretBytes(bytes.size()) {
  if (data_ != nullptr) std::memcpy(data_, bytes.data(), bytes.size());
}

SecretBytes::SecretBytes(std::string_view text)
    : SecretBytes(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()),
                                                text.size())) {}

SecretBytes::~SecretBytes() { Release(); }

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)),
      locked_(std::exchange(other.locked_, false)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
    locked_ = std::exchange(other.locked_, false);
  }
  return *this;
}

void SecretBytes::Release() {
  if (data_ == nullptr) return;
  explicit_bzero(data_, mapped_);
  if (locked_) UnlockPages(data_, mapped_);
  ::munmap(data_, mapped_);
  data_ = nullptr;
  size_ = mapped_ = 0;
  locked_ = false;
}

std::ostream& operator<<(std::ostream& out, const SecretBytes& secret) {
  return out << "<redacted:" << secret.size() << "B>";
}

}  // namespace strongroom
