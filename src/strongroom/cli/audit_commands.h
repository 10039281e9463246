#pragma once
// `strongroom audit verify`: checks a copy of an audit trail offline (audit/trail_verifier.h)
// with nothing but the trail's files, a public key obtained apart from them and, optionally,
// checkpoints kept elsewhere (a witness's checkpoints.log, or one an auditor pinned). Prints the
// verdict (text, or --output json) and exits 0 when the trail verifies, 1 when it does not
// (naming the first bad entry and why), 2 on a usage error.
//
// Owns its parsed options; single-threaded, like the CLI.

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

namespace strongroom::cli {

class AuditCommands {
 public:
  explicit AuditCommands(CLI::App& app);
  AuditCommands(const AuditCommands&) = delete;
  AuditCommands& operator=(const AuditCommands&) = delete;

  std::optional<int> RunIfParsed();

 private:
  int RunVerify();

  CLI::App* verify_ = nullptr;
  std::string dir_;
  std::string public_key_file_;
  std::vector<std::string> checkpoint_files_;
  std::string output_ = "text";
};

}  // namespace strongroom::cli
