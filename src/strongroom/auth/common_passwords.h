#pragma once
// The text of data/common-passwords.txt, compiled in by CMake (common_passwords.cc.in) so the
// server refuses common passwords wherever it is installed. Read it through
// PasswordPolicy::ShippedBlocklist.

#include <string_view>

namespace strongroom::auth {

std::string_view CommonPasswordsText();

}  // namespace strongroom::auth
