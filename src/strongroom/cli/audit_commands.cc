#include "strongroom/cli/audit_commands.h"

#include <fstream>
#include <iostream>
#include <iterator>

#include "strongroom/audit/merkle.h"
#include "strongroom/audit/trail_verifier.h"
#include "strongroom/cli/exit_codes.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/observe/log.h"

namespace strongroom::cli {
namespace {

std::optional<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  observe::AppendJsonEscaped(out, text);
  out.push_back('"');
  return out;
}

}  // namespace

AuditCommands::AuditCommands(CLI::App& app) {
  auto* audit = app.add_subcommand("audit", "Audit trail tools.");
  audit->require_subcommand(1);
  verify_ = audit->add_subcommand(
      "verify",
      "Verify a copy of the audit trail offline: every entry's chain, and every checkpoint's "
      "signature and Merkle root. Exit 0: intact; 1: tampered (the first bad entry is named).");
  verify_->add_option("--audit-dir", dir_, "the trail's directory (segments/, checkpoints.log)")
      ->required();
  verify_
      ->add_option("--public-key", public_key_file_,
                   "the audit public key (public-key.json), from a copy kept apart from the "
                   "trail: the one beside the trail could have been replaced with it")
      ->required();
  verify_->add_option("--checkpoint", checkpoint_files_,
                      "a checkpoints.log (a witness's copy) or a file of one checkpoint line to "
                      "hold the trail to; repeatable");
  verify_->add_option("--archive-dir", archive_dirs_,
                      "an archive of the trail's older segments (audit.archive_dir), read with it "
                      "as one trail; repeatable");
  verify_->add_option("--output", output_, "text or json")->check(CLI::IsMember({"text", "json"}));

  proof_ = audit->add_subcommand(
      "proof",
      "Print an RFC 9162 proof computed from the trail's files: inclusion of entry --index in the "
      "tree of --size entries, or consistency of --old with --new (sizes default to the whole "
      "trail). Check it against a signed checkpoint's root.");
  proof_->add_option("--audit-dir", proof_dir_, "the trail's directory")->required();
  proof_->add_option("--archive-dir", archive_dirs_,
                     "an archive of its older segments, for proofs about archived entries; "
                     "repeatable");
  proof_->add_option("--index", index_, "the entry (0-based)");
  proof_->add_option("--size", size_, "the tree size (default: every entry)");
  proof_->add_option("--old", old_size_, "the older tree size");
  proof_->add_option("--new", new_size_, "the newer tree size (default: every entry)");
}

std::optional<int> AuditCommands::RunIfParsed() {
  if (verify_->parsed()) return RunVerify();
  if (proof_->parsed()) return RunProof();
  return std::nullopt;
}

int AuditCommands::RunProof() {
  const bool inclusion = index_.has_value();
  if (inclusion == old_size_.has_value()) {
    return UsageError("give either --index (an inclusion proof) or --old (a consistency proof)");
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(std::filesystem::path(proof_dir_) / "segments", ec)) {
    return UsageError("--audit-dir " + proof_dir_ + " holds no audit trail (no segments/)");
  }
  // Offline, the leaf hashes are simply held: 32 bytes an entry (from the first one here; of
  // archived entries, only the anchor's peaks).
  std::vector<audit::Hash> leaves;
  audit::VerifyOptions options;
  options.dir = proof_dir_;
  for (const std::string& dir : archive_dirs_) options.archive_dirs.emplace_back(dir);
  const auto report =
      audit::VerifyTrail(options, [&](std::uint64_t, const audit::Hash& leaf, std::size_t,
                                      std::uint64_t) { leaves.push_back(leaf); });
  if (!report.ok) {
    std::cerr << "strongroom: the trail does not verify: " << report.reason << "\n";
    return kExitRuntime;
  }
  const std::uint64_t first = report.first;
  const audit::SubtreeHashFn live = [&](std::uint64_t b, std::uint64_t e) -> Result<audit::Hash> {
    return audit::RootOf(std::span<const audit::Hash>(leaves).subspan(b - first, e - b));
  };
  const audit::SubtreeHashFn subtree = [&](std::uint64_t b, std::uint64_t e) {
    return audit::SubtreeAfterPrefix(first, report.first_peaks, b, e, live);
  };
  auto hex_list = [](const std::vector<audit::Hash>& hashes) {
    std::string out = "[";
    for (std::size_t i = 0; i < hashes.size(); ++i) {
      out += (i > 0 ? ",\"" : "\"") + crypto::HexEncode(hashes[i]) + "\"";
    }
    return out + "]";
  };
  const std::uint64_t n = first + leaves.size();
  if (inclusion) {
    const std::uint64_t size = size_.value_or(n);
    if (size > n || *index_ >= size) {
      return UsageError("--index must be below --size, and --size at most " + std::to_string(n));
    }
    if (*index_ < first) {
      return UsageError("entries before " + std::to_string(first) +
                        " are archived: add --archive-dir");
    }
    auto proof = audit::InclusionProof(*index_, size, subtree);
    if (!proof) return UsageError(proof.error().message());
    std::cout << "{\"index\":" << *index_ << ",\"size\":" << size << ",\"leaf_hash\":\""
              << crypto::HexEncode(leaves[*index_ - first]) << "\",\"root\":\""
              << crypto::HexEncode(*subtree(0, size)) << "\",\"proof\":" << hex_list(*proof)
              << "}\n";
    return kExitOk;
  }
  const std::uint64_t new_size = new_size_.value_or(n);
  if (new_size > n || *old_size_ == 0 || *old_size_ > new_size) {
    return UsageError("need 1 <= --old <= --new <= " + std::to_string(n));
  }
  auto proof = audit::ConsistencyProof(*old_size_, new_size, subtree);
  if (!proof) return UsageError(proof.error().message());
  std::cout << "{\"old\":" << *old_size_ << ",\"new\":" << new_size << ",\"old_root\":\""
            << crypto::HexEncode(*subtree(0, *old_size_)) << "\",\"new_root\":\""
            << crypto::HexEncode(*subtree(0, new_size)) << "\",\"proof\":" << hex_list(*proof)
            << "}\n";
  return kExitOk;
}

int AuditCommands::RunVerify() {
  audit::VerifyOptions options;
  options.dir = dir_;
  const auto key_text = ReadText(public_key_file_);
  if (!key_text) return UsageError("cannot read --public-key " + public_key_file_);
  auto key = audit::ParsePublicKeyFile(*key_text);
  if (!key) return UsageError("--public-key " + public_key_file_ + ": " + key.error().message());
  options.public_key = *key;
  for (const std::string& dir : archive_dirs_) options.archive_dirs.emplace_back(dir);
  for (const std::string& file : checkpoint_files_) {
    auto lines = audit::ReadCheckpointLog(file);
    if (!lines || lines->empty()) {
      // A file of one checkpoint without its final newline is fine too.
      const auto text = ReadText(file);
      if (!text) return UsageError("cannot read --checkpoint " + file);
      auto one = audit::ParseCheckpoint(*text);
      if (!one) return UsageError("--checkpoint " + file + ": " + one.error().message());
      options.pinned.push_back(*one);
      continue;
    }
    for (std::size_t i = 0; i < lines->size(); ++i) {
      if (!(*lines)[i]) {
        return UsageError("--checkpoint " + file + " line " + std::to_string(i + 1) + ": " +
                          (*lines)[i].error().message());
      }
      options.pinned.push_back(*(*lines)[i]);
    }
  }
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_ / std::filesystem::path("segments"), ec)) {
    return UsageError("--audit-dir " + dir_ + " holds no audit trail (no segments/)");
  }
  const audit::VerifyReport report = audit::VerifyTrail(options);
  if (output_ == "json") {
    std::cout << "{\"ok\":" << (report.ok ? "true" : "false") << ",\"first\":" << report.first
              << ",\"entries\":" << report.entries << ",\"checkpoints\":" << report.checkpoints
              << ",\"vouched\":" << report.vouched << ",\"first_bad\":"
              << (report.first_bad ? std::to_string(*report.first_bad) : std::string("null"))
              << ",\"reason\":" << JsonString(report.reason)
              << ",\"archived_checkpoints\":" << report.archived_checkpoints
              << ",\"torn_tail\":" << (report.torn_tail ? "true" : "false")
              << ",\"end_offset\":" << report.end_offset << "}\n";
  } else if (report.ok) {
    const std::uint64_t end = report.first + report.entries;
    std::cout << "ok: " << report.entries << " entries (" << report.first << " to " << end
              << ", exclusive), " << report.checkpoints << " checkpoints verified; entries up to "
              << report.vouched << " vouched for by a signed checkpoint";
    if (end > report.vouched) {
      std::cout << "; the last " << end - report.vouched
                << " not yet (the next checkpoint will cover them)";
    }
    if (report.first > 0) {
      std::cout << "; entries before " << report.first << " are archived ("
                << report.archived_checkpoints
                << " checkpoints cover only those: verify with --archive-dir)";
    }
    if (report.torn_tail) {
      std::cout << "; a last frame a crash left unfinished was ignored (the entries end at byte "
                << report.end_offset << " of the last segment)";
    }
    std::cout << "\n";
  } else {
    std::cout << "TAMPERED: first bad entry " << *report.first_bad << ": " << report.reason << "\n";
  }
  return report.ok ? kExitOk : kExitRuntime;
}

}  // namespace strongroom::cli
