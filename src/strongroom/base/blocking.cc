#include "strongroom/base/blocking.h"

#include <string>

namespace strongroom {
namespace {
thread_local bool may_block = true;
}  // namespace

NonBlockingScope::NonBlockingScope() : previous_(may_block) { may_block = false; }
NonBlockingScope::~NonBlockingScope() { may_block = previous_; }

bool MayBlock() { return may_block; }

Error WouldBlock(std::string_view what) {
  return Error(ErrorCode::kWouldBlock, std::string(what) + " would block");
}

}  // namespace strongroom
