#pragma once
// `strongroom audit verify` and `strongroom audit proof`. verify checks a copy of an audit trail
// offline (audit/trail_verifier.h)
// with nothing but the trail's files, a public key obtained apart from them and, optionally,
// checkpoints kept elsewhere (a witness's checkpoints.log, or one an auditor pinned). Prints the
// verdict (text, or --output json) and exits 0 when the trail verifies, 1 when it does not
// (naming the first bad entry and why), 2 on a usage error. proof prints, as JSON, the RFC 9162
// inclusion proof of an entry (--index, --size) or the consistency proof of two tree sizes
// (--old, --new), computed from the trail's files alone (the chain is checked on the way).
//
// Owns its parsed options; single-threaded, like the CLI.

#include <CLI/CLI.hpp>
#include <cstdint>
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
  int RunProof();

  CLI::App* verify_ = nullptr;
  std::string dir_;
  std::string public_key_file_;
  std::vector<std::string> checkpoint_files_;
  std::vector<std::string> archive_dirs_;  // verify and proof
  std::string output_ = "text";
  CLI::App* proof_ = nullptr;
  std::string proof_dir_;
  std::optional<std::uint64_t> index_, size_, old_size_, new_size_;
};

}  // namespace strongroom::cli
