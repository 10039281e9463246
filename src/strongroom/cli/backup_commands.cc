#include "strongroom/cli/backup_commands.h"

#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "strongroom/app/server_app.h"
#include "strongroom/app/vault_init.h"
#include "strongroom/backup/backup_engine.h"
#include "strongroom/base/time.h"
#include "strongroom/cli/exit_codes.h"
#include "strongroom/cli/passphrase.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/keys/root_key_provider.h"
#include "strongroom/privacy/erasure_ledger.h"

namespace strongroom::cli {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// A one-line progress bar on standard error when it is a terminal: percentage, bytes, rate, ETA.
// Redrawn at most ten times a second.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label)
      : label_(std::move(label)), enabled_(::isatty(STDERR_FILENO) != 0), start_(Clock::now()) {}
  ~ProgressBar() {
    if (drawn_) (void)std::fputc('\n', stderr);
  }
  backup::ProgressFn Callback() {
    return [this](std::uint64_t done, std::uint64_t total) {
      total_ = total;
      Draw(done, total, /*force=*/false);
    };
  }
  // The operation succeeded: the total is an estimate, so the bar is drawn full once more.
  void Complete() { Draw(total_, total_, /*force=*/true); }

 private:
  static std::string Size(double bytes) {
    char text[32];
    (void)std::snprintf(text, sizeof text, "%.1f MiB", bytes / (1 << 20));
    return text;
  }
  void Draw(std::uint64_t done, std::uint64_t total, bool force) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (!force && drawn_ && now - last_ < std::chrono::milliseconds(100) && done < total) return;
    last_ = now;
    drawn_ = true;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    const double eta = rate > 0 ? static_cast<double>(total - done) / rate : 0;
    (void)std::fprintf(stderr, "\r%s %3d%% %s of %s, %s/s, ETA %.0f s   ", label_.c_str(),
                       total > 0 ? static_cast<int>(100 * done / total) : 100,
                       Size(static_cast<double>(done)).c_str(),
                       Size(static_cast<double>(total)).c_str(), Size(rate).c_str(), eta);
  }
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_;
  std::uint64_t total_ = 0;
};

// The backup keys from the vault's root key, in `sealed_key` under the configured provider,
// unsealed with the operator's passphrase (or the token's PIN).
Result<SecretBytes> OpenRootKey(const config::Config& config,
                                const std::filesystem::path& sealed_key) {
  auto passphrase = ObtainPassphrase(config, /*confirm=*/false);
  if (!passphrase) return std::unexpected(passphrase.error());
  const auto provider = app::MakeRootKeyProvider(config, config.keys.provider, sealed_key);
  auto root = provider->Unseal(passphrase->reveal());
  if (!root) {
    return Fail(root.error().code(), "cannot open the root key in " + sealed_key.string() + ": " +
                                         root.error().message());
  }
  return std::move(*root);
}

Result<backup::BackupKeys> OpenKeys(const config::Config& config,
                                    const std::filesystem::path& sealed_key) {
  auto root = OpenRootKey(config, sealed_key);
  if (!root) return std::unexpected(root.error());
  return backup::BackupKeys::Derive(root->reveal());
}

int Failure(const Error& error) {
  std::cerr << "strongroom: error: " << error.message() << "\n";
  const ErrorCode code = error.code();
  return code == ErrorCode::kInvalidArgument || code == ErrorCode::kFailedPrecondition ||
                 code == ErrorCode::kNotFound || code == ErrorCode::kAlreadyExists
             ? kExitUsage
             : kExitRuntime;
}

}  // namespace

BackupCommands::BackupCommands(CLI::App& app) {
  auto* backup = app.add_subcommand("backup",
                                    "Encrypted backups: create, list, verify, restore, "
                                    "prune (docs/backup.md).");
  backup->require_subcommand(1);
  create_ = backup->add_subcommand(
      "create",
      "Back up the vault (its stores, read from consistent snapshots while it runs, its "
      "audit trail and small files) to one or more target directories.");
  AddSettingsFlags(create_, create_flags_);
  auto* full = create_->add_flag("--full", full_, "a full backup");
  create_
      ->add_flag("--incremental", incremental_,
                 "only what changed since the newest verified backup on the targets")
      ->excludes(full);
  create_->add_option("--target", targets_, "a target directory; repeatable")->required();
  create_->add_option("--output", output_, "text or json")->check(CLI::IsMember({"text", "json"}));

  list_ = backup->add_subcommand("list",
                                 "List the backups on a target, as their manifests say "
                                 "(verify checks them).");
  list_->add_option("--target", target_, "the target directory")->required();
  list_->add_option("--output", output_, "text or json")->check(CLI::IsMember({"text", "json"}));

  verify_ = backup->add_subcommand(
      "verify",
      "Check backups: signatures, chains and every piece (size, SHA-256, decryption). "
      "Exit 1 if any is bad, naming what is wrong.");
  AddSettingsFlags(verify_, verify_flags_);
  verify_->add_option("--target", target_, "the target directory")->required();
  verify_->add_option("--backup", backup_id_, "only this backup (default: all)");
  verify_->add_option("--output", output_, "text or json")->check(CLI::IsMember({"text", "json"}));

  restore_ = backup->add_subcommand(
      "restore", "Restore a backup (and the chain it is based on) into a new data directory.");
  AddSettingsFlags(restore_, restore_flags_);
  restore_->add_option("--target", target_, "the target directory to restore from")->required();
  auto* id = restore_->add_option("--backup", backup_id_, "the backup (default: the newest)");
  restore_
      ->add_option("--at", at_,
                   "the newest backup taken at or before this time (RFC 3339 UTC, "
                   "2026-11-23T10:15:00Z)")
      ->excludes(id);
  restore_->add_option("--to", destination_, "the new data directory (must not exist)")->required();
  restore_->add_option("--erasure-ledger", erasure_ledger_,
                       "the erasure ledger to replay (default: privacy.erasure_ledger); its copy "
                       "on the target is replayed too");
  restore_->add_option("--sealed-key", sealed_key_,
                       "the vault's root key file (default: keys/root.sealed of --data-dir, or "
                       "keys/root.p11 with keys.provider = pkcs11)");
  restore_->add_option("--output", output_, "text or json")->check(CLI::IsMember({"text", "json"}));

  prune_ = backup->add_subcommand(
      "prune",
      "Delete backups beyond the retention: keep the newest --keep-full full backups "
      "and the incrementals based on them.");
  prune_->add_option("--target", target_, "the target directory")->required();
  prune_->add_option("--keep-full", keep_full_, "full backups (generations) to keep")
      ->check(CLI::Range(1, 10'000));
}

std::optional<int> BackupCommands::RunIfParsed() {
  if (create_->parsed()) return RunCreate();
  if (list_->parsed()) return RunList();
  if (verify_->parsed()) return RunVerify();
  if (restore_->parsed()) return RunRestore();
  if (prune_->parsed()) return RunPrune();
  return std::nullopt;
}

int BackupCommands::RunCreate() {
  if (full_ == incremental_) return UsageError("give --full or --incremental");
  auto config = BuildConfig(create_flags_);
  if (!config) return UsageError(config.error().message());
  if (auto vault = app::CheckVaultInitialized(*config); !vault) return Failure(vault.error());
  auto keys = OpenKeys(*config, app::RootKeyPath(*config));
  if (!keys) return Failure(keys.error());
  backup::CreateOptions options;
  options.vault = {config->server.data_dir, config->audit_dir()};
  for (const std::string& target : targets_) options.targets.emplace_back(target);
  options.full = full_;
  const auto start = Clock::now();
  std::optional<ProgressBar> bar(std::in_place, full_ ? "full backup" : "incremental backup");
  options.progress = bar->Callback();
  auto report = backup::CreateBackup(options, *keys);
  if (report) bar->Complete();
  bar.reset();
  if (!report) return Failure(report.error());
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  bool all_ok = true;
  for (const auto& target : report->targets) all_ok = all_ok && target.ok;
  // The erasure ledger goes beside the backups (docs/privacy.md): a restore from these targets
  // finds it there even when the data directory is lost.
  privacy::ErasureLedger ledger(config->erasure_ledger());
  for (auto& target : report->targets) {
    if (!target.ok) continue;
    if (auto copied = ledger.CopyTo(target.target); !copied) {
      report->warnings.push_back("erasure ledger not copied to " + target.target.string() + ": " +
                                 copied.error().message());
    }
  }
  const backup::Manifest& m = report->manifest;
  if (output_ == "json") {
    json::array targets;
    for (const auto& target : report->targets) {
      targets.push_back(json::object{{"target", target.target.string()},
                                     {"ok", target.ok},
                                     {"error", target.error},
                                     {"warning", target.warning}});
    }
    json::array stores;
    for (const auto& store : m.stores) {
      stores.push_back(json::object{{"name", store.name},
                                    {"seq", store.seq},
                                    {"since", store.since},
                                    {"puts", store.puts},
                                    {"deletes", store.deletes}});
    }
    json::array warnings;
    for (const auto& warning : report->warnings) warnings.push_back(json::string(warning));
    std::cout << json::serialize(json::object{{"id", m.id},
                                              {"kind", m.kind},
                                              {"parent", m.parent_id},
                                              {"bytes", m.bytes},
                                              {"plaintext_bytes", report->plaintext_bytes},
                                              {"seconds", seconds},
                                              {"stores", std::move(stores)},
                                              {"targets", std::move(targets)},
                                              {"warnings", std::move(warnings)}})
              << "\n";
  } else {
    std::cout << "Backup " << m.id << " (" << m.kind
              << (m.parent_id.empty() ? "" : ", based on " + m.parent_id) << "): " << m.bytes
              << " bytes in " << seconds << " s\n";
    for (const auto& target : report->targets) {
      std::cout << "  " << target.target.string() << ": "
                << (target.ok ? "ok" : "FAILED: " + target.error)
                << (target.warning.empty() ? "" : " (" + target.warning + ")") << "\n";
    }
    for (const auto& warning : report->warnings) std::cout << "  warning: " << warning << "\n";
  }
  if (!all_ok) {
    std::cerr << "strongroom: a backup target failed; the backup is on the others\n";
    return kExitRuntime;
  }
  return kExitOk;
}

int BackupCommands::RunList() {
  auto listings = backup::ListBackups(target_);
  if (!listings) return Failure(listings.error());
  json::array out;
  for (const auto& listing : *listings) {
    if (!listing.manifest) {
      if (output_ == "json") {
        out.push_back(json::object{{"id", listing.name}, {"problem", listing.problem}});
      } else {
        std::cout << listing.name << "  unreadable: " << listing.problem << "\n";
      }
      continue;
    }
    const auto& m = *listing.manifest;
    if (output_ == "json") {
      out.push_back(json::object{{"id", m.id},
                                 {"kind", m.kind},
                                 {"created_at", m.created_at},
                                 {"parent", m.parent_id},
                                 {"full", m.full_id},
                                 {"bytes", m.bytes}});
    } else {
      std::cout << m.id << "  " << m.kind << "  " << m.created_at << "  " << m.bytes << " bytes"
                << (m.parent_id.empty() ? "" : "  based on " + m.parent_id) << "\n";
    }
  }
  if (output_ == "json") std::cout << json::serialize(out) << "\n";
  return kExitOk;
}

int BackupCommands::RunVerify() {
  auto config = BuildConfig(verify_flags_);
  if (!config) return UsageError(config.error().message());
  auto keys = OpenKeys(*config, app::RootKeyPath(*config));
  if (!keys) return Failure(keys.error());
  std::optional<ProgressBar> bar(std::in_place, "verify");
  auto results = backup::VerifyBackups(target_, *keys, backup_id_, bar->Callback());
  if (results) bar->Complete();
  bar.reset();
  if (!results) return Failure(results.error());
  bool all_ok = true;
  json::array out;
  for (const auto& result : *results) {
    all_ok = all_ok && result.ok;
    if (output_ == "json") {
      out.push_back(json::object{{"id", result.id},
                                 {"ok", result.ok},
                                 {"problem", result.problem},
                                 {"bytes", result.bytes}});
    } else {
      std::cout << result.id << ": " << (result.ok ? "ok" : "BAD: " + result.problem) << "\n";
    }
  }
  if (output_ == "json") std::cout << json::serialize(out) << "\n";
  if (results->empty() && output_ != "json") std::cout << "no backups on " << target_ << "\n";
  return all_ok ? kExitOk : kExitRuntime;
}

int BackupCommands::RunRestore() {
  auto config = BuildConfig(restore_flags_);
  if (!config) return UsageError(config.error().message());
  if (!at_.empty()) {
    // Compared as text with the manifests' times, so it must be in exactly their form.
    if (!ParseRfc3339(at_)) return UsageError("--at must look like 2026-11-23T10:15:00Z (UTC)");
  }
  const std::filesystem::path sealed =
      sealed_key_.empty() ? app::RootKeyPath(*config) : std::filesystem::path(sealed_key_);
  auto root = OpenRootKey(*config, sealed);
  if (!root) return Failure(root.error());
  auto keys = backup::BackupKeys::Derive(root->reveal());
  if (!keys) return Failure(keys.error());
  backup::RestoreOptions options;
  options.target = target_;
  options.backup_id = backup_id_;
  options.at = at_;
  options.destination = destination_;
  options.sealed_key_file = sealed;
  options.root_key_name = app::RootKeyPath(*config).filename().string();
  // The erasure ledger (the configured one, and its copy on the target restored from: both
  // must check out) is replayed before the restored vault is renamed into place.
  const std::vector<std::filesystem::path> ledgers{
      erasure_ledger_.empty() ? config->erasure_ledger() : std::filesystem::path(erasure_ledger_),
      std::filesystem::path(target_) / privacy::kLedgerCopyName};
  options.before_open = [&](const std::filesystem::path& restored) {
    return app::ReplayLedgers(
        [&root](std::string_view info) {
          return keys::Keyring::DeriveFromRootKey(root->reveal(), info);
        },
        restored, ledgers, {});
  };
  std::optional<ProgressBar> bar(std::in_place, "restore");
  options.progress = bar->Callback();
  const auto start = Clock::now();
  auto report = backup::RestoreBackup(options, *keys);
  if (report) bar->Complete();
  bar.reset();
  if (!report) return Failure(report.error());
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (output_ == "json") {
    json::array chain;
    for (const auto& id : report->chain) chain.push_back(json::string(id));
    std::cout << json::serialize(json::object{{"destination", destination_},
                                              {"chain", std::move(chain)},
                                              {"bytes", report->bytes},
                                              {"audit_entries", report->audit_entries},
                                              {"erasures", report->before_open},
                                              {"seconds", seconds}})
              << "\n";
  } else {
    std::cout << "Restored " << report->chain.back() << " (a chain of " << report->chain.size()
              << ") into " << destination_ << ": " << report->bytes << " bytes in " << seconds
              << " s; its audit trail verifies (" << report->audit_entries << " entries); "
              << report->before_open << ".\n"
              << "Serve it with --data-dir " << destination_
              << " (and the same unseal passphrase).\n";
  }
  return kExitOk;
}

int BackupCommands::RunPrune() {
  auto report = backup::PruneBackups(target_, keep_full_);
  if (!report) return Failure(report.error());
  for (const auto& id : report->deleted) std::cout << "deleted " << id << "\n";
  std::cout << report->kept.size() << " backups kept, " << report->deleted.size() << " deleted\n";
  return kExitOk;
}

}  // namespace strongroom::cli
