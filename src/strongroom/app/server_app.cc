#include "strongroom/app/server_app.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/api/health.h"
#include "strongroom/api/openapi_document.h"
#include "strongroom/api/vault_api.h"
#include "strongroom/api/waf_screen.h"
#include "strongroom/app/vault_init.h"
#include "strongroom/audit/audit_keys.h"
#include "strongroom/audit/audit_trail.h"
#include "strongroom/audit/behaviour_rules.h"
#include "strongroom/auth/identity.h"
#include "strongroom/backup/backup_service.h"
#include "strongroom/barrier/seal_state.h"
#include "strongroom/base/build_info.h"
#include "strongroom/base/time.h"
#include "strongroom/guard/traffic_guard.h"
#include "strongroom/guard/web_firewall.h"
#include "strongroom/http/http_metrics.h"
#include "strongroom/http/server.h"
#include "strongroom/http/tls_context.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/keys/root_key_provider.h"
#include "strongroom/observe/log.h"
#include "strongroom/observe/metrics.h"
#include "strongroom/observe/process_metrics.h"
#include "strongroom/privacy/erasure_ledger.h"
#include "strongroom/records/retention.h"
#include "strongroom/records/subject_erasure.h"
#include "strongroom/records/vault_service.h"
#include "strongroom/storage/sqlite_store.h"

namespace strongroom::app {
namespace {

constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

http::ServerOptions ServerOptionsFrom(const config::Config& c) {
  using std::chrono::milliseconds;
  http::ServerOptions o;
  o.io_threads = static_cast<std::size_t>(c.server.io_threads);
  o.worker_threads = static_cast<std::size_t>(c.server.worker_threads);
  o.max_connections = static_cast<std::size_t>(c.server.max_connections);
  o.max_body_bytes = static_cast<std::size_t>(c.limits.max_body_bytes);
  o.max_header_bytes = static_cast<std::size_t>(c.limits.max_header_bytes);
  o.max_header_count = static_cast<std::size_t>(c.limits.max_header_count);
  o.handshake_timeout = milliseconds(c.limits.handshake_timeout_ms);
  o.header_timeout = milliseconds(c.limits.header_timeout_ms);
  o.body_timeout = milliseconds(c.limits.body_timeout_ms);
  o.idle_timeout = milliseconds(c.limits.idle_timeout_ms);
  o.shutdown_grace = milliseconds(c.server.shutdown_grace_ms);
  o.access_log = c.log.access_log;
  o.credential_threads = static_cast<std::size_t>(c.auth.credential_threads);
  o.credential_queue = static_cast<std::size_t>(c.auth.credential_queue);
  o.credential_nice = static_cast<int>(c.auth.credential_nice);
  o.trusted_proxies = c.trusted_proxy_networks();
  o.max_target_bytes = static_cast<std::size_t>(c.limits.max_target_bytes);
  o.max_requests_per_connection = static_cast<std::size_t>(c.limits.max_requests_per_connection);
  return o;
}

Result<std::unique_ptr<auth::IdentityService>> OpenIdentity(const config::Config& c,
                                                            storage::Store& metadata,
                                                            barrier::SealState& seal,
                                                            observe::MetricsRegistry& registry) {
  using std::chrono::seconds;
  auth::IdentitySettings s;
  s.argon2.memory_bytes = static_cast<std::uint64_t>(c.auth.argon2_memory_kib) * 1024;
  s.argon2.iterations = static_cast<std::uint64_t>(c.auth.argon2_iterations);
  s.pepper = c.auth.password_pepper;
  s.session_idle_timeout = seconds(c.auth.session_idle_timeout_seconds);
  s.session_absolute_timeout = seconds(c.auth.session_absolute_timeout_seconds);
  s.account_throttle.max_failures = static_cast<int>(c.auth.lockout_max_failures);
  s.account_throttle.wait_increment = seconds(c.auth.lockout_wait_seconds);
  s.account_throttle.max_wait = seconds(c.auth.lockout_max_wait_seconds);
  s.account_throttle.failure_reset = seconds(c.auth.lockout_reset_seconds);
  s.source_throttle = s.account_throttle;
  s.source_throttle.max_failures = static_cast<int>(c.auth.source_lockout_max_failures);
  s.totp_throttle.max_failures = static_cast<int>(c.auth.totp_max_failures);
  s.totp_throttle.wait_increment = seconds(c.auth.lockout_wait_seconds);
  s.totp_throttle.max_wait = seconds(c.auth.totp_lockout_max_wait_seconds);
  s.totp_issuer = c.auth.totp_issuer;
  std::vector<std::string> blocklist = auth::PasswordPolicy::ShippedBlocklist();
  if (!c.auth.password_blocklist_file.empty()) {
    auto loaded = auth::PasswordPolicy::LoadBlocklist(c.auth.password_blocklist_file);
    if (!loaded) return std::unexpected(loaded.error());
    blocklist.insert(blocklist.end(), std::make_move_iterator(loaded->begin()),
                     std::make_move_iterator(loaded->end()));
  }
  auth::PasswordPolicySettings policy;
  policy.min_length = static_cast<int>(c.auth.password_min_length);
  return auth::IdentityService::Open(metadata, seal, BootstrapAdminPath(c), std::move(s),
                                     auth::PasswordPolicy(policy, blocklist), &registry);
}

// Raises the soft open-file limit to the hard one (as nginx's worker_rlimit_nofile does): every
// connection is a descriptor, and running out turns into accept() failing for everyone. Warns
// when server.max_connections still cannot fit.
void RaiseOpenFileLimit(std::int64_t max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
    (void)::getrlimit(RLIMIT_NOFILE, &limit);
  }
  constexpr std::int64_t kReserve = 64;  // listeners, log, data files, metrics connections
  if (limit.rlim_cur != RLIM_INFINITY &&
      static_cast<std::int64_t>(limit.rlim_cur) < max_connections + kReserve) {
    observe::Warn("server.fd_limit_low",
                  {{"max_connections", max_connections},
                   {"open_file_limit", static_cast<std::uint64_t>(limit.rlim_cur)},
                   {"advice", "raise the open-file limit (ulimit -n) or lower server.max_connections"}});
  }
}

void RegisterAuditMetrics(observe::MetricsRegistry& registry, const audit::Trail& trail) {
  const auto counter = [&](std::string_view name, std::string_view help, auto field) {
    registry.AddCounterCallback(name, help, {}, [&trail, field] {
      return static_cast<double>(trail.stats().*field);
    });
  };
  counter("strongroom_audit_entries_total", "Audit entries made durable",
          &audit::Trail::Stats::appended);
  counter("strongroom_audit_batches_total",
          "Audit fsyncs; entries / batches is the group-commit factor",
          &audit::Trail::Stats::batches);
  counter("strongroom_audit_failures_total",
          "Audit entries refused (write failure or full spool): each failed its request",
          &audit::Trail::Stats::failed);
  counter("strongroom_audit_checkpoints_total", "Signed audit checkpoints",
          &audit::Trail::Stats::checkpoints);
  counter("strongroom_audit_witness_failures_total", "Checkpoint copies a witness did not take",
          &audit::Trail::Stats::witness_failures);
  counter("strongroom_audit_archive_failures_total",
          "Retention passes that failed (audit.archive_failed in the log says why)",
          &audit::Trail::Stats::archive_failures);
  registry.AddGaugeCallback("strongroom_audit_archived_entries",
                            "Audit entries moved to audit.archive_dir (the first entry still live)",
                            [&trail] { return static_cast<double>(trail.stats().archived); });
  registry.AddGaugeCallback(
      "strongroom_audit_disk_free_bytes", "Free space on the audit trail's file system",
      [&trail] { return static_cast<double>(trail.stats().disk_free_bytes); });
  registry.AddGaugeCallback("strongroom_audit_spool_entries",
                            "Audit entries waiting for their fsync",
                            [&trail] { return static_cast<double>(trail.stats().spool); });
  registry.AddGaugeCallback("strongroom_audit_spool_capacity",
                            "Audit entries that may wait at most (audit.spool_entries)",
                            [&trail] { return static_cast<double>(trail.stats().spool_capacity); });
  registry.AddGaugeCallback("strongroom_audit_write_seconds",
                            "Write and fsync time of the last audit batch",
                            [&trail] { return trail.stats().last_batch_seconds; });
  registry.AddGaugeCallback("strongroom_audit_available",
                            "1 while the audit trail can be written, 0 while it fails",
                            [&trail] { return trail.available() ? 1.0 : 0.0; });
}

}  // namespace

Result<std::string> ReplayLedgers(const RootDerivation& derive,
                                  const std::filesystem::path& restored,
                                  const std::vector<std::filesystem::path>& ledgers,
                                  const std::vector<std::filesystem::path>& copies) {
  auto ledger_keys = privacy::LedgerKeys::FromRoot(derive);
  if (!ledger_keys) return std::unexpected(ledger_keys.error());
  auto replayed = records::ReplayErasures(restored, ledgers, copies, *ledger_keys);
  if (!replayed) return std::unexpected(replayed.error());
  return ReplaySummary(*replayed);
}

std::string ReplaySummary(const records::ReplayReport& report) {
  std::string summary = std::to_string(report.receipts) +
                        " erasure receipts replayed: " + std::to_string(report.erased) +
                        " subjects erased, " + std::to_string(report.finished) +
                        " interrupted erasures finished";
  for (const auto& skipped : report.skipped) summary += "; skipped " + skipped;
  return summary;
}

namespace {

// The restore drill's sample (backup_service.h): the records of a scratch copy decrypted with
// this vault's root key (the copy's sealed key would need the passphrase, which the server does
// not keep). Up to 5 records in each of up to 20 collections; values are counted, never kept or
// logged. data_loss when one does not decrypt.
Result<std::uint64_t> DecryptSample(const barrier::SealState& live,
                                    const std::filesystem::path& data_dir) {
  namespace json = boost::json;
  auto live_keys = live.keys();
  if (!live_keys) return Fail(ErrorCode::kFailedPrecondition, "the vault is sealed");
  std::unique_ptr<storage::Store> stores[3];
  const std::string_view kinds[] = {"metadata", "profiles", "activity"};
  for (int i = 0; i < 3; ++i) {
    auto opened = storage::OpenSqliteStore(data_dir / (std::string(kinds[i]) + ".db"));
    if (!opened) return std::unexpected(opened.error());
    stores[i] = std::move(*opened);
  }
  barrier::SealState seal(live_keys->keyring->CopyProvider(), *stores[0],
                          barrier::SealState::Options{});
  if (auto unsealed = seal.Unseal({}); !unsealed) return std::unexpected(unsealed.error());
  records::VaultService service({*stores[0], *stores[1], *stores[2]}, seal);
  auto tenants = service.ListTenants();
  if (!tenants) return std::unexpected(tenants.error());
  std::uint64_t decrypted = 0;
  int collections_seen = 0;
  for (const auto& tenant : (*tenants)["tenants"].as_array()) {
    const std::string tenant_id(tenant.as_object().at("id").as_string());
    auto collections = service.ListCollections(tenant_id, records::Page{.limit = 20, .cursor = ""});
    if (!collections) return std::unexpected(collections.error());
    for (const auto& collection : (*collections)["collections"].as_array()) {
      if (collections_seen++ >= 20) break;
      const std::string name(collection.as_object().at("name").as_string());
      auto page = service.ListRecords(tenant_id, name, records::Page{.limit = 5, .cursor = ""});
      if (!page) return std::unexpected(page.error());
      decrypted += (*page)["records"].as_array().size();
    }
  }
  seal.Seal();
  return decrypted;
}

backup::ServiceSettings BackupSettingsFrom(const config::Config& c) {
  using std::chrono::seconds;
  backup::ServiceSettings s;
  s.vault = {.data_dir = c.server.data_dir, .audit_dir = c.audit_dir()};
  s.targets = c.backup_targets();
  s.full_interval = seconds(c.backup.full_interval_seconds);
  s.incremental_interval = seconds(c.backup.incremental_interval_seconds);
  s.drill_interval = seconds(c.backup.drill_interval_seconds);
  s.capture_interval = seconds(c.backup.capture_interval_seconds);
  s.overdue_grace = seconds(c.backup.overdue_grace_seconds);
  // A failed scheduled backup is tried again after a tenth of the incremental interval (at most
  // 10 minutes): soon enough to matter, rarely enough not to hammer a broken target.
  const auto shortest =
      s.incremental_interval.count() > 0 ? s.incremental_interval : s.full_interval;
  s.retry_delay = std::clamp(shortest / 10, seconds(1), seconds(600));
  s.keep_full = static_cast<int>(c.backup.keep_full);
  s.drill_dir = c.backup_drill_dir();
  s.restore_dir = c.backup.restore_dir;
  s.sealed_key_file = RootKeyPath(c);
  return s;
}

// Audits what the server did on its own: actor `system:<who>` of kind system, status 200 "ok"
// unless the caller set a code. A trail that refuses the entry is logged as `failure_event`.
void AuditSystemAct(audit::Trail& trail, std::string_view who, audit::Event event,
                    observe::EventName failure_event) {
  event.actor = audit::Actor{.id = "system:" + std::string(who),
                             .kind = "system",
                             .roles = {},
                             .via = "",
                             .credential = ""};
  if (event.code.empty()) {
    event.status = 200;
    event.code = "ok";
  }
  const std::string tenant = event.tenant, action = event.action;
  if (auto appended = trail.AppendAndWait(std::move(event)); !appended) {
    observe::Error(
        failure_event,
        {{"tenant", tenant}, {"action", action}, {"reason", appended.error().message()}});
  }
}

std::optional<SecretBytes>& CapturedPassphrase() {
  static std::optional<SecretBytes> captured;
  return captured;
}

}  // namespace

void CapturePassphraseEnvironment() {
  // Start-up runs before any other thread exists.
  char* value = std::getenv("STRONGROOM_UNSEAL_PASSPHRASE");  // NOLINT(concurrency-mt-unsafe)
  if (value == nullptr) return;
  CapturedPassphrase().emplace(std::string_view(value));
  std::memset(value, 0, std::strlen(value));
  ::unsetenv("STRONGROOM_UNSEAL_PASSPHRASE");  // NOLINT(concurrency-mt-unsafe)
}

Result<std::optional<SecretBytes>> ConfiguredPassphrase(const config::Config& config) {
  if (!config.keys.unseal_passphrase_file.empty()) {
    auto read = keys::ReadPassphraseFile(config.keys.unseal_passphrase_file);
    if (!read) return std::unexpected(read.error());
    return std::optional<SecretBytes>(std::move(*read));
  }
  if (CapturedPassphrase() && !CapturedPassphrase()->empty()) {
    return std::optional<SecretBytes>(SecretBytes(CapturedPassphrase()->reveal()));
  }
  return std::optional<SecretBytes>();
}

guard::GuardSettings GuardSettingsFrom(const config::Config& c) {
  const auto& g = c.guard;
  const auto rate = [](std::int64_t per_second, std::int64_t burst) {
    return guard::Rate{static_cast<double>(per_second), static_cast<double>(burst)};
  };
  guard::GuardSettings s;
  s.enabled = g.enabled;
  s.per_source = {rate(g.source_read_per_second, g.source_read_burst),
                  rate(g.source_write_per_second, g.source_write_burst),
                  guard::Rate{static_cast<double>(g.source_credential_per_minute) / 60.0,
                              static_cast<double>(g.source_credential_burst)}};
  s.per_principal = rate(g.principal_per_second, g.principal_burst);
  s.per_tenant = rate(g.tenant_per_second, g.tenant_burst);
  s.ipv6_prefix_bits = static_cast<int>(g.ipv6_prefix_bits);
  s.max_tracked_clients = static_cast<std::size_t>(g.max_tracked_sources);
  s.max_connections_per_source = static_cast<std::size_t>(g.max_connections_per_source);
  s.ban_after_auth_failures = static_cast<std::uint32_t>(g.ban_after_auth_failures);
  s.ban_after_client_errors = static_cast<std::uint32_t>(g.ban_after_client_errors);
  s.ban_after_waf_hits = static_cast<std::uint32_t>(g.ban_after_waf_hits);
  s.strike_window = std::chrono::seconds(g.strike_window_seconds);
  s.ban_duration = std::chrono::seconds(g.ban_seconds);
  s.max_ban_duration = std::chrono::seconds(g.max_ban_seconds);
  s.allow_list_file = g.allow_list_file;
  s.block_list_file = g.block_list_file;
  s.shared.redis_address = g.redis_address;
  s.shared.password_file = g.redis_password_file;
  s.shared.key_file = g.shared_key_file;
  s.shared.key_prefix = g.shared_key_prefix;
  s.shared.sync_interval = std::chrono::milliseconds(g.shared_sync_ms);
  s.shared.timeout = std::chrono::milliseconds(g.redis_timeout_ms);
  return s;
}

guard::WafSettings WafSettingsFrom(const config::Config& c) {
  const auto& w = c.waf;
  guard::WafSettings s;
  s.enabled = w.enabled;
  s.mode = w.mode == "detection_only" ? guard::WafMode::kDetectionOnly : guard::WafMode::kBlocking;
  s.paranoia_level = static_cast<int>(w.paranoia_level);
  s.inbound_anomaly_threshold = static_cast<int>(w.anomaly_threshold);
  s.crs_rules_dir = w.crs_dir;
  // Empty: the default set. A list that is only commas and spaces names no file (refused).
  if (!w.rule_files.empty()) s.rule_files = config::SplitCommaList(w.rule_files);
  s.free_text_fields = config::SplitCommaList(w.free_text_fields);
  s.extra_rules_file = w.extra_rules_file;
  s.secret_cookies = {std::string(auth::kSessionCookie)};
  return s;
}

int RunServer(const config::Config& config, const std::function<Result<config::Config>()>& reread) {
#ifdef STRONGROOM_BENCH_AUTH_BYPASS
  // A benchmark build that skips authentication (api_support.cc): loopback only, and loud.
  observe::Error("security.auth_bypass_build",
                 {{"reason", "built with STRONGROOM_BENCH_AUTH_BYPASS: every request is the "
                             "operator; for bench/identity.sh only"}});
  // NOLINTNEXTLINE(concurrency-mt-unsafe): start-up, one thread
  const char* acknowledged = std::getenv("BENCH_AUTH_BYPASS_ACKNOWLEDGED");
  if (config.server.listen.host != "127.0.0.1" && config.server.listen.host != "::1") {
    observe::Error("server.start_failed",
                   {{"reason", "an authentication-bypass build listens on loopback only"}});
    return kExitUsage;
  }
  if (acknowledged == nullptr || std::string_view(acknowledged) != "1") {
    observe::Error("server.start_failed",
                   {{"reason", "an authentication-bypass build needs "
                               "BENCH_AUTH_BYPASS_ACKNOWLEDGED=1"}});
    return kExitUsage;
  }
#endif
#ifdef STRONGROOM_BENCH_AUDIT_OFF
  // A benchmark build that does not audit (api_support.cc): loopback only, and loud.
  observe::Error("security.audit_off_build",
                 {{"reason", "built with STRONGROOM_BENCH_AUDIT_OFF: requests are not audited; "
                             "for bench/audit.sh only"}});
  // NOLINTNEXTLINE(concurrency-mt-unsafe): start-up, one thread
  const char* audit_off_acknowledged = std::getenv("BENCH_AUDIT_OFF_ACKNOWLEDGED");
  if ((config.server.listen.host != "127.0.0.1" && config.server.listen.host != "::1") ||
      audit_off_acknowledged == nullptr || std::string_view(audit_off_acknowledged) != "1") {
    observe::Error("server.start_failed",
                   {{"reason", "an audit-off build listens on loopback only and needs "
                               "BENCH_AUDIT_OFF_ACKNOWLEDGED=1"}});
    return kExitUsage;
  }
#endif
  // Missing or unusable files are the operator's to fix: the same exit code as a bad flag.
  if (auto initialized = CheckVaultInitialized(config); !initialized) {
    observe::Error("server.start_failed", {{"reason", initialized.error().message()}});
    return kExitUsage;
  }
  auto tls = http::TlsContextStore::Load(config.cert_path(), config.key_path());
  if (!tls) {
    observe::Error("server.start_failed", {{"reason", tls.error().message()}});
    return kExitUsage;
  }

  // Each kind of data in its own store (docs/architecture.md, "Data at rest").
  std::unique_ptr<storage::Store> stores[4];
  const char* kinds[] = {"metadata", "profiles", "activity", "documents"};
  for (int i = 0; i < 4; ++i) {
    // Documents are stored in 64 KiB chunks: 64 KiB pages make each one page write, not 16.
    // Records and metadata are read often and are small: they get a read cache.
    const storage::SqliteOptions options{
        .page_size = i == 3 ? 65536 : 4096,
        .read_cache_bytes =
            i <= 1 ? static_cast<std::size_t>(config.server.read_cache_bytes) : std::size_t{0}};
    auto opened = storage::OpenSqliteStore(StorePath(config, kinds[i]), options);
    if (!opened) {
      observe::Error("server.start_failed", {{"reason", opened.error().message()}});
      return kExitUsage;
    }
    stores[i] = std::move(*opened);
  }
  storage::Store& metadata = *stores[0];
  barrier::SealState::Options seal_options;
  seal_options.attempts_per_minute = static_cast<int>(config.keys.unseal_attempts_per_minute);
  barrier::SealState seal(MakeRootKeyProvider(config), metadata, seal_options);
  auto passphrase = ConfiguredPassphrase(config);
  if (!passphrase) {
    observe::Error("server.start_failed", {{"reason", passphrase.error().message()}});
    return kExitUsage;
  }
  if (*passphrase) {
    // Before listening: a server told how to unseal either serves unsealed or does not start.
    if (auto unsealed = seal.Unseal((*passphrase)->reveal()); !unsealed) {
      observe::Error("server.start_failed",
                     {{"reason", unsealed.error().code() == ErrorCode::kPermissionDenied
                                     ? std::string(config.keys.provider == "pkcs11"
                                                       ? "unseal failed: wrong PIN for the "
                                                         "PKCS#11 token (or keys/root.p11 was "
                                                         "altered, or another key wraps it)"
                                                       : "unseal failed: wrong passphrase (or "
                                                         "the sealed key file was altered)")
                                     : unsealed.error().message()}});
      return kExitUsage;
    }
    passphrase->reset();
  }
  // Needed only to start: the server never keeps the passphrase for later.
  CapturedPassphrase().reset();
  records::VaultService service({metadata, *stores[1], *stores[2]}, seal);
  records::DocumentService documents(metadata, *stores[3], seal,
                                     static_cast<std::uint64_t>(config.limits.max_document_bytes));

  // The audit trail, in its own directory; checkpoints are signed with a key from the hierarchy.
  audit::AuditKeys audit_keys(seal);
  audit::BehaviourRules behaviour_rules(audit::BehaviourSettings{
      .distinct_subjects = static_cast<std::size_t>(config.audit.alert_distinct_subjects),
      .denials = static_cast<std::size_t>(config.audit.alert_denials),
      .window = std::chrono::seconds(config.audit.alert_window_seconds)});
  audit::TrailOptions trail_options;
  trail_options.dir = config.audit_dir();
  trail_options.witness_dirs = config.audit_witness_dirs();
  trail_options.checkpoint_entries = static_cast<std::uint64_t>(config.audit.checkpoint_entries);
  trail_options.checkpoint_interval = std::chrono::milliseconds(config.audit.checkpoint_interval_ms);
  trail_options.segment_bytes = static_cast<std::uint64_t>(config.audit.segment_bytes);
  trail_options.segment_max_age = std::chrono::hours(config.audit.segment_max_age_hours);
  trail_options.archive_dir = config.audit.archive_dir;
  trail_options.retention = std::chrono::days(config.audit.retention_days);
  trail_options.min_free_bytes = static_cast<std::uint64_t>(config.audit.min_free_mib) << 20;
  trail_options.spool_entries = static_cast<std::size_t>(config.audit.spool_entries);
  trail_options.writer_nice = static_cast<int>(config.audit.writer_nice);
  trail_options.signer = [&audit_keys] { return audit_keys.Signer(); };
  trail_options.observer = [&behaviour_rules](const audit::Event& e) { behaviour_rules.Observe(e); };
  auto opened_trail = audit::Trail::Open(std::move(trail_options));
  if (!opened_trail) {
    observe::Error("server.start_failed", {{"reason", opened_trail.error().message()}});
    return kExitUsage;
  }
  audit::Trail& trail = **opened_trail;

  observe::MetricsRegistry registry;
  observe::RegisterProcessMetrics(registry, kVersion);
  RegisterAuditMetrics(registry, trail);
  for (int r = 0; r < audit::BehaviourRules::kRuleCount; ++r) {
    const auto rule = static_cast<audit::BehaviourRules::Rule>(r);
    registry.AddCounterCallback(
        "strongroom_security_alerts_total", "Security alerts raised by the behaviour rules",
        {{"rule", std::string(audit::BehaviourRules::RuleName(rule))}},
        [&behaviour_rules, rule] { return static_cast<double>(behaviour_rules.alerts(rule)); });
  }
  for (int i = 0; i < 4; ++i) {
    storage::Store* store = stores[i].get();
    const observe::Labels labels{{"store", kinds[i]}};
    registry.AddCounterCallback("strongroom_store_batches_total", "Write batches acknowledged",
                                labels, [store] { return static_cast<double>(store->stats().batches); });
    registry.AddCounterCallback(
        "strongroom_store_commits_total",
        "Durable commits (fsyncs); batches / commits is the group-commit factor", labels,
        [store] { return static_cast<double>(store->stats().commits); });
    registry.AddCounterCallback("strongroom_store_cache_hits_total",
                                "Reads answered from the store's read cache", labels,
                                [store] { return static_cast<double>(store->stats().cache_hits); });
    registry.AddCounterCallback("strongroom_store_cache_misses_total",
                                "Reads not answered from the read cache (an inline try that "
                                "then runs on the worker pool counts twice)",
                                labels,
                                [store] { return static_cast<double>(store->stats().cache_misses); });
  }
  auto identity = OpenIdentity(config, metadata, seal, registry);
  if (!identity) {
    observe::Error("server.start_failed", {{"reason", identity.error().message()}});
    return kExitUsage;
  }
  // The traffic guard reads its list files now: a bad one stops the start, naming file and line.
  guard::TrafficGuard traffic_guard(GuardSettingsFrom(config), registry);
  if (auto started = traffic_guard.Start(); !started) {
    observe::Error("server.start_failed", {{"reason", started.error().message()}});
    return kExitUsage;
  }
  http::Router router;
  // The server is created after the router is complete (metrics are sized from its routes), but
  // the readiness check must ask it whether it is draining: hence this late-bound pointer.
  std::shared_ptr<http::HttpServer*> server_ref = std::make_shared<http::HttpServer*>(nullptr);
  const std::string data_dir = config.server.data_dir;
  http::TlsContextStore* tls_store = tls->get();
  api::AddHealthRoutes(
      router,
      {
          {"server",
           [server_ref] {
             const bool draining = *server_ref != nullptr && (*server_ref)->draining();
             return api::DependencyStatus{!draining, draining ? "draining" : "ok", ""};
           }},
          {"data_dir",
           [data_dir] {
             const bool writable = ::access(data_dir.c_str(), R_OK | W_OK | X_OK) == 0;
             return api::DependencyStatus{writable, writable ? "ok" : "not_writable", ""};
           }},
          {"vault",
           [&seal] {
             const bool sealed = seal.sealed();
             return api::DependencyStatus{!sealed, sealed ? "sealed" : "ok",
                                          sealed ? "POST /v1/sys/unseal or run: strongroom unseal"
                                                 : ""};
           }},
          {"audit",
           [&trail] {
             const auto stats = trail.stats();
             if (!stats.available) {
               return api::DependencyStatus{false, "unavailable",
                                            "the audit trail cannot be written: every audited "
                                            "request fails with 503 audit_unavailable"};
             }
             if (stats.spool * 2 >= stats.spool_capacity) {
               return api::DependencyStatus{true, "degraded",
                                            "the audit spool is over half full"};
             }
             if (stats.disk_low) {
               return api::DependencyStatus{true, "degraded",
                                            "the audit trail's disk has " +
                                                std::to_string(stats.disk_free_bytes >> 20) +
                                                " MiB free, under audit.min_free_mib"};
             }
             return api::DependencyStatus{true, "ok", ""};
           }},
          {"tls_certificate",
           [tls_store] {
             const auto not_after = tls_store->certificate().not_after;
             const bool valid = std::chrono::system_clock::now() < not_after;
             return api::DependencyStatus{valid, valid ? "ok" : "expired",
                                          "expires " + FormatRfc3339(not_after)};
           }},
      });

  policy::PolicyStore policies(metadata);
  // Token values are personal data: they live with the records, in the profiles store.
  records::TokenVault tokens(*stores[1], seal);
  policy::BreakGlass break_glass(metadata);
  if (auto loaded = break_glass.Load(); !loaded) {
    observe::Error("server.start_failed", {{"reason", loaded.error().message()}});
    return kExitUsage;
  }
  // The server's own backups: the keys come from the root key while unsealed.
  backup::BackupService backups(
      BackupSettingsFrom(config),
      [&seal]() -> Result<backup::BackupKeys> {
        auto keys = seal.keys();
        if (!keys) {
          return Fail(ErrorCode::kFailedPrecondition,
                      "the vault is sealed: backups need its keys (strongroom unseal)");
        }
        return backup::BackupKeys::FromRoot(
            [&keys](std::string_view info) { return keys->keyring->DeriveFromRoot(info); });
      },
      [&seal](const std::filesystem::path& copy) { return DecryptSample(seal, copy); }, trail,
      registry);
  // Sealing takes the keys away: a backup job running with keys derived from them stops too.
  seal.OnSeal([&backups] { backups.CancelRunning(); });
  // Subject erasure: the ledger lives outside the backups and is copied beside them on every
  // target; restores and drills replay it before the restored vault opens.
  privacy::ErasureLedger erasure_ledger(config.erasure_ledger());
  records::SubjectEraser eraser({metadata, *stores[1], *stores[2], *stores[3]}, seal,
                                erasure_ledger, config.backup_targets());
  backups.SetErasureHooks(
      {.replay = [&seal, &config](const std::filesystem::path& restored) -> Result<std::string> {
         auto keys = seal.keys();
         if (!keys) {
           return Fail(ErrorCode::kFailedPrecondition,
                       "the vault is sealed: replaying the erasure ledger needs its keys");
         }
         // The local ledger must check out; a target's copy that does not (a stale mount) is
         // skipped and named in the report rather than failing every restore.
         std::vector<std::filesystem::path> copies;
         for (const auto& target : config.backup_targets()) {
           copies.push_back(target / privacy::kLedgerCopyName);
         }
         return ReplayLedgers(
             [&keys](std::string_view info) { return keys->keyring->DeriveFromRoot(info); },
             restored, {config.erasure_ledger()}, copies);
       },
       .after_backup = [&eraser] { eraser.AfterBackup(); }});
  api::VaultApi vault_api{seal,           trail,    audit_keys, **identity,  service,
                          documents,      policies, tokens,     break_glass, api::OpenApiDocument(),
                          &traffic_guard, &backups};
  vault_api.eraser = &eraser;
  vault_api.erasure_grace = std::chrono::days(config.privacy.erasure_grace_days);
  // Erasures in their grace period stay hidden across restarts (read only, before serving).
  if (auto scheduled = eraser.LoadScheduled(); !scheduled) {
    observe::Error("server.start_failed", {{"reason", scheduled.error().message()}});
    return kExitUsage;
  }
  registry.AddGaugeCallback(
      "strongroom_erasures_scheduled",
      "Subject erasures waiting for their grace period to end (privacy.erasure_grace_days)",
      [&eraser] { return static_cast<double>(eraser.CountScheduled()); });
  // KEK rotation: re-wrap jobs a restart interrupted go on once the thread starts (below); what
  // it does on its own (rotations by age or key use, finished re-wraps) is audited as the
  // system's act.
  records::KekRotation rotation(
      seal, metadata,
      {.rewrap_per_second = static_cast<double>(config.keys.rewrap_per_second),
       .rotate_after = std::chrono::days(config.keys.rotate_after_days),
       .notify =
           [&trail](const records::KekRotation::Notice& notice) {
             audit::Event event;
             event.tenant = notice.tenant;
             event.action = notice.action;
             event.target = "kek v" + std::to_string(notice.version) + ": " + notice.detail;
             AuditSystemAct(trail, "keys", std::move(event), "keys.audit_failed");
           }},
      registry);
  seal.OnKeyHalfSpent([&rotation](std::string_view tenant, std::uint32_t version) {
    rotation.RequestRotation(tenant, version);
  });
  if (auto loaded = rotation.Load(); !loaded) {
    observe::Error("server.start_failed", {{"reason", loaded.error().message()}});
    return kExitUsage;
  }
  seal.OnUnseal([&rotation] { rotation.Wake(); });
  vault_api.rotation = &rotation;
  records::SubjectRequests subject_requests(metadata, service);
  if (auto loaded = subject_requests.LoadOpen(); !loaded) {
    observe::Error("server.start_failed", {{"reason", loaded.error().message()}});
    return kExitUsage;
  }
  registry.AddGaugeCallback(
      "strongroom_subject_requests_open",
      "Data-subject requests received or in progress, every tenant",
      [&subject_requests] { return static_cast<double>(subject_requests.CountOpen().open); });
  registry.AddGaugeCallback(
      "strongroom_subject_requests_overdue",
      "Open data-subject requests past their deadline (each also logged once as "
      "privacy.request_overdue)",
      [&subject_requests] { return static_cast<double>(subject_requests.CountOpen().overdue); });
  vault_api.subject_requests = &subject_requests;
  // Retention: the tenants' [[retention]] rules, applied by a background pass (never right after
  // the start: a server that just started writes nothing on its own). Each pass that deleted
  // something is audited as the system's act, one bulk entry with counts by rule. Each pass
  // reads the tenant's rules when it starts.
  records::RetentionJob retention(
      service, documents,
      {.every = std::chrono::minutes(config.privacy.retention_every_minutes),
       .first_pass_after = std::chrono::minutes(config.privacy.retention_first_pass_minutes),
       .items_per_second = static_cast<double>(config.privacy.retention_items_per_second),
       .tenants = [&policies] { return policies.Tenants(); },
       .rules_for = [&policies](std::string_view tenant)
           -> Result<std::optional<records::RetentionJob::TenantRules>> {
         auto policy = policies.For(tenant);
         // A tenant whose document no longer compiles is refused everything (and was
         // reported): nothing of it is purged under rules nobody can read.
         if (!policy) return std::unexpected(policy.error());
         if ((*policy)->document().retention.empty()) return std::nullopt;
         return records::RetentionJob::TenantRules{std::string(tenant), (*policy)->version(),
                                                   (*policy)->document().retention};
       },
       .notify =
           [&trail](const records::RetentionJob::Pass& pass) {
             // What was deleted is audited, also by a pass that then failed or was stopped; a
             // pass that deleted nothing is only logged (privacy.retention_failed if it failed).
             if (pass.dry_run || (pass.purged == 0 && pass.archived == 0)) return;
             audit::Event event;
             event.tenant = pass.tenant;
             event.action = "retention.purge";
             std::string summary;
             for (const auto& purge : pass.purges) {
               if (!summary.empty()) summary += "; ";
               summary += "rule '" + purge.rule + "': " + std::to_string(purge.count) +
                          (purge.action == "archive"          ? " archived from "
                           : purge.action == "purge_archived" ? " purged from the archive of "
                                                              : " in ") +
                          purge.data;
             }
             event.target = summary;
             event.policy_version = pass.policy_version;
             event.policy_rule =
                 "retention (" + pass.trigger + (pass.stopped ? ", stopped early)" : ")");
             if (!pass.error.empty()) {
               event.status = 503;
               event.code = pass.error_code;
             }
             AuditSystemAct(trail, "retention", std::move(event), "privacy.retention_audit_failed");
           },
       // Erasures whose grace period ended are carried out, each audited as the system's
       // subject.erase with its receipt (the request was audited when it was made).
       .each_round =
           [&eraser, &service, &trail, &audit_keys] {
             auto erased = eraser.ErasePending(std::chrono::system_clock::now());
             if (!erased) {
               if (erased.error().code() != ErrorCode::kSealed) {
                 observe::Error("privacy.scheduled_erasures_failed",
                                {{"reason", erased.error().message()}});
               }
               return;
             }
             for (const auto& answer : *erased) {
               const std::string tenant(answer.at("tenant").as_string());
               const std::string subject(answer.at("subject").as_string());
               service.ForgetChoices(tenant, subject);
               audit::Event event;
               event.tenant = tenant;
               event.action = "subject.erase";
               if (auto pseudonym = audit_keys.SubjectPseudonym(tenant, subject); pseudonym) {
                 event.subjects.push_back(std::move(*pseudonym));
               }
               const auto* receipt = answer.at("receipt").as_object().if_contains("receipt");
               const auto* id =
                   receipt != nullptr ? receipt->as_object().if_contains("id") : nullptr;
               event.target = "grace period ended; receipt " + (id != nullptr && id->is_string()
                                                                    ? std::string(id->as_string())
                                                                    : std::string("?"));
               AuditSystemAct(trail, "privacy", std::move(event), "privacy.erasure_audit_failed");
             }
           }},
      registry);
  vault_api.retention = &retention;
  api::AddVaultRoutes(router, vault_api);

  // The web application firewall compiles the CRS now (some 30 ms): a bad setting or a
  // missing rule file stops the start. Turning it on or off takes a restart (with it off,
  // inline routes stay on the I/O threads); its other settings follow SIGHUP.
  // Its settings are checked even when it is off, so that turning it on later is not the moment
  // a mistake in them is found.
  std::unique_ptr<guard::WebFirewall> firewall;
  std::optional<api::WafScreen> waf_screen;
  auto created = guard::WebFirewall::Create(WafSettingsFrom(config));
  if (!created) {
    observe::Error("server.start_failed", {{"reason", created.error().message()}});
    return kExitUsage;
  }
  if (config.waf.enabled) {
    firewall = std::move(*created);
    waf_screen.emplace(vault_api, *firewall, registry);
  }

  http::HttpMetrics http_metrics(registry, router);
  http::ServerOptions server_options = ServerOptionsFrom(config);
  server_options.guard = &traffic_guard;
  if (waf_screen) server_options.screen = &*waf_screen;
  http::HttpServer server(server_options, router, http_metrics, **tls, registry);
  *server_ref = &server;
  auto api_address = server.ListenApi(config.server.listen);
  if (!api_address) {
    observe::Error("server.start_failed", {{"reason", api_address.error().message()}});
    return kExitRuntime;
  }
  auto metrics_address = server.ListenMetrics(config.server.metrics_listen);
  if (!metrics_address) {
    observe::Error("server.start_failed", {{"reason", metrics_address.error().message()}});
    return kExitRuntime;
  }
  // This must stay the first line the server logs: scripts and tests read the chosen ports here.
  // (The fd-limit warning below it is deliberately logged after.)
  observe::Info("server.listening",
                {{"api", "https://" + api_address->ToString()},
                 {"metrics", "http://" + metrics_address->ToString() + "/metrics"},
                 {"version", kVersion},
                 {"pid", static_cast<std::int64_t>(::getpid())}});
  RaiseOpenFileLimit(config.server.max_connections);
  traffic_guard.StartSharing();  // logs whether Redis answered
  // Every tenant's policy document is compiled at start (after the first log line, which names
  // the ports): one that no longer does is reported now, not at its tenant's first request (that
  // tenant is refused everything but the repair; the others serve).
  if (auto loaded = policies.LoadAll(); !loaded) {
    observe::Error("server.start_failed", {{"reason", loaded.error().message()}});
    return kExitUsage;
  } else {
    observe::Info("policy.loaded", {{"documents", static_cast<std::int64_t>(loaded->documents)},
                                    {"unreadable", static_cast<std::int64_t>(loaded->unreadable)}});
  }
  // Uploads a crash cut short left chunks behind (ciphertext, but dead weight): delete them
  // before the first request is served (and after the first log line, which names the ports).
  if (auto swept = documents.SweepAbandonedUploads(); !swept) {
    observe::Error("server.start_failed", {{"reason", swept.error().message()}});
    return kExitUsage;
  } else if (*swept > 0) {
    observe::Warn("documents.abandoned_uploads_deleted",
                  {{"count", static_cast<std::int64_t>(*swept)}});
  }
  if (seal.sealed()) {
    observe::Warn("vault.sealed", {{"advice", "data endpoints answer 503 until unsealed: POST "
                                              "/v1/sys/unseal or run: strongroom unseal"}});
  } else {
    observe::Info("vault.unsealed", {{"provider", seal.provider_kind()}});
  }
  if (config.uses_development_certificate()) {
    observe::Warn("tls.development_certificate",
                  {{"cert_file", config.cert_path().string()},
                   {"advice", "self-signed, for development only; set tls.cert_file and "
                              "tls.key_file for production"}});
  }

  // Erasures a crash interrupted are finished now if unsealed, else at the unseal.
  const auto resume_erasures = [&eraser] {
    if (auto resumed = eraser.ResumePending(); !resumed) {
      observe::Error("privacy.erasure_resume_failed", {{"reason", resumed.error().message()}});
    } else if (*resumed > 0) {
      observe::Warn("privacy.erasures_resumed", {{"count", static_cast<std::int64_t>(*resumed)}});
    }
  };
  resume_erasures();
  seal.OnUnseal(resume_erasures);
  rotation.Start();
  retention.Start();
  // Last before serving: a start that fails above must not wait for a backup.
  backups.Start();  // reads when each kind last succeeded; runs what is due
  server.Run([tls_store, &traffic_guard, &firewall, &reread] {
    // SIGHUPs in quick succession run on different pool threads: one reload at a time, so the
    // last one read is the one in force.
    static std::mutex reload_mutex;
    const std::lock_guard lock(reload_mutex);
    if (auto reloaded = tls_store->Reload(); reloaded) {
      observe::Info("tls.reloaded", {{"sha256", tls_store->certificate().sha256_fingerprint}});
    } else {
      observe::Error("tls.reload_failed", {{"reason", reloaded.error().message()}});
    }
    if (!reread) return;
    auto fresh = reread();
    if (!fresh) {
      observe::Error("config.reload_failed", {{"reason", fresh.error().message()}});
      return;
    }
    // Every part is checked before any is applied: the firewall's rules are compiled first
    // (on or off, as at start).
    auto rules = guard::WebFirewall::Prepare(WafSettingsFrom(*fresh));
    if (!rules) {
      observe::Error("config.reload_failed", {{"reason", rules.error().message()}});
      return;
    }
    if (auto applied = traffic_guard.Reconfigure(GuardSettingsFrom(*fresh)); !applied) {
      observe::Error("config.reload_failed", {{"reason", applied.error().message()}});
      return;
    }
    observe::Info("guard.reconfigured", {{"enabled", fresh->guard.enabled}});
    if (firewall == nullptr) {
      if (fresh->waf.enabled) {
        observe::Warn("waf.restart_required", {{"reason", "waf.enabled takes effect at restart"}});
      }
      return;
    }
    if (!fresh->waf.enabled) {
      observe::Warn("waf.restart_required", {{"reason", "waf.enabled takes effect at restart"}});
    }
    firewall->Install(std::move(*rules));
    observe::Info("waf.reconfigured",
                  {{"mode", fresh->waf.mode}, {"paranoia_level", fresh->waf.paranoia_level}});
  });
  *server_ref = nullptr;
  // A running backup job is cancelled at its next piece (leaving nothing half-made) and its end
  // audited before the trail stops.
  rotation.Stop();  // its last acts are audited: before the trail stops
  retention.Stop();
  backups.Stop();
  // Every entry still queued is written and its completion run while the server's connections
  // and I/O contexts still exist (they are destroyed before the trail otherwise).
  trail.Stop();
  observe::Info("server.stopped");
  return 0;
}

}  // namespace strongroom::app
