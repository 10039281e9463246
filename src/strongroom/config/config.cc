#include "strongroom/config/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>
#include <utility>

#include "strongroom/observe/log.h"

namespace strongroom::config {
namespace {

template <auto Section, auto Member>
void* FieldOf(Config& config) {
  return &((config.*Section).*Member);
}

using K = SettingKind;
constexpr std::int64_t kMaxMillis = 24LL * 3600 * 1000;

const SettingInfo kSettings[] = {
    {"server.data_dir", "directory holding the vault's files", K::kPath, 0, 0,
     &FieldOf<&Config::server, &ServerSettings::data_dir>},
    {"server.listen", "HTTPS API listen address HOST:PORT (port 0: any free port)", K::kAddress, 0,
     0, &FieldOf<&Config::server, &ServerSettings::listen>},
    {"server.metrics_listen", "Prometheus metrics listen address HOST:PORT (plain HTTP)",
     K::kAddress, 0, 0, &FieldOf<&Config::server, &ServerSettings::metrics_listen>},
    {"server.io_threads", "threads running network I/O", K::kInteger, 1, 64,
     &FieldOf<&Config::server, &ServerSettings::io_threads>},
    {"server.worker_threads", "threads for blocking or CPU-heavy request work", K::kInteger, 1, 256,
     &FieldOf<&Config::server, &ServerSettings::worker_threads>},
    {"server.read_cache_bytes",
     "memory for recently read records and metadata, per store (ciphertext only; 0: none)",
     K::kInteger, 0, 1LL << 36, &FieldOf<&Config::server, &ServerSettings::read_cache_bytes>},
    {"server.max_connections", "open API connections at most; more are closed at once", K::kInteger,
     1, 1'000'000, &FieldOf<&Config::server, &ServerSettings::max_connections>},
    {"server.shutdown_grace_ms", "on SIGTERM, how long in-flight requests may take to finish",
     K::kInteger, 0, kMaxMillis, &FieldOf<&Config::server, &ServerSettings::shutdown_grace_ms>},
    {"server.trusted_proxies",
     "comma-separated CIDRs of reverse proxies whose X-Forwarded-For names the client (empty: "
     "none; the TCP peer is the client)",
     K::kString, 0, 0, &FieldOf<&Config::server, &ServerSettings::trusted_proxies>},
    {"tls.cert_file", "PEM certificate chain (empty: the development certificate)", K::kString, 0,
     0, &FieldOf<&Config::tls, &TlsSettings::cert_file>},
    {"tls.key_file", "PEM private key for tls.cert_file", K::kString, 0, 0,
     &FieldOf<&Config::tls, &TlsSettings::key_file>},
    {"limits.max_body_bytes", "largest request body accepted (413 above)", K::kInteger, 1024,
     1LL << 30, &FieldOf<&Config::limits, &LimitsSettings::max_body_bytes>},
    {"limits.max_document_bytes",
     "largest document accepted (413 above); documents stream, so this bounds disk, not memory",
     K::kInteger, 1024, 1LL << 36, &FieldOf<&Config::limits, &LimitsSettings::max_document_bytes>},
    {"limits.max_header_bytes", "largest request line + headers accepted (431 above)", K::kInteger,
     1024, 1 << 20, &FieldOf<&Config::limits, &LimitsSettings::max_header_bytes>},
    {"limits.max_header_count", "most header fields accepted (431 above)", K::kInteger, 1, 10'000,
     &FieldOf<&Config::limits, &LimitsSettings::max_header_count>},
    {"limits.handshake_timeout_ms", "time allowed for the TLS handshake", K::kInteger, 100,
     kMaxMillis, &FieldOf<&Config::limits, &LimitsSettings::handshake_timeout_ms>},
    {"limits.header_timeout_ms", "time allowed to receive a request's headers", K::kInteger, 100,
     kMaxMillis, &FieldOf<&Config::limits, &LimitsSettings::header_timeout_ms>},
    {"limits.body_timeout_ms", "time allowed to receive a request's body", K::kInteger, 100,
     kMaxMillis, &FieldOf<&Config::limits, &LimitsSettings::body_timeout_ms>},
    {"limits.idle_timeout_ms", "how long an idle keep-alive connection stays open", K::kInteger,
     100, kMaxMillis, &FieldOf<&Config::limits, &LimitsSettings::idle_timeout_ms>},
    {"limits.max_target_bytes", "longest request target (path and query) accepted (414 above)",
     K::kInteger, 256, 1 << 20, &FieldOf<&Config::limits, &LimitsSettings::max_target_bytes>},
    {"limits.max_requests_per_connection",
     "requests served on one connection before it is closed (0: no cap)", K::kInteger, 0,
     10'000'000, &FieldOf<&Config::limits, &LimitsSettings::max_requests_per_connection>},
    {"keys.provider",
     "where the root key is kept: sealed_file (a passphrase) or pkcs11 (an HSM and its PIN)",
     K::kString, 0, 0, &FieldOf<&Config::keys, &KeysSettings::provider>},
    {"keys.pkcs11_module", "the HSM's PKCS#11 library (keys.provider = pkcs11)", K::kString, 0, 0,
     &FieldOf<&Config::keys, &KeysSettings::pkcs11_module>},
    {"keys.pkcs11_token_label", "the label of the token holding the root key's wrapping key",
     K::kString, 0, 0, &FieldOf<&Config::keys, &KeysSettings::pkcs11_token_label>},
    {"keys.pkcs11_key_label", "the label of the AES key in that token that wraps the root key",
     K::kString, 0, 0, &FieldOf<&Config::keys, &KeysSettings::pkcs11_key_label>},
    {"keys.unseal_passphrase_file",
     "file holding the unseal passphrase, or the token PIN with keys.provider = pkcs11 (mode "
     "0600); empty: $STRONGROOM_UNSEAL_PASSPHRASE, or start sealed",
     K::kString, 0, 0, &FieldOf<&Config::keys, &KeysSettings::unseal_passphrase_file>},
    {"keys.unseal_attempts_per_minute", "failed unseal attempts allowed per minute (burst)",
     K::kInteger, 1, 600, &FieldOf<&Config::keys, &KeysSettings::unseal_attempts_per_minute>},
    {"keys.rewrap_per_second",
     "subject keys a KEK rotation's background re-wrap examines per second (0: unpaced)",
     K::kInteger, 0, 10'000'000, &FieldOf<&Config::keys, &KeysSettings::rewrap_per_second>},
    {"keys.rotate_after_days",
     "a tenant KEK older than this many days is rotated automatically (0: never)", K::kInteger, 0,
     3650, &FieldOf<&Config::keys, &KeysSettings::rotate_after_days>},
    {"auth.argon2_memory_kib", "Argon2id memory per password hash, KiB (OWASP minimum: 19456)",
     K::kInteger, 19'456, 4LL << 20, &FieldOf<&Config::auth, &AuthSettings::argon2_memory_kib>},
    {"auth.argon2_iterations", "Argon2id passes per password hash", K::kInteger, 2, 16,
     &FieldOf<&Config::auth, &AuthSettings::argon2_iterations>},
    {"auth.password_pepper",
     "pepper password hashes with a key of the key hierarchy (HMAC-SHA-256 before Argon2id)",
     K::kBool, 0, 0, &FieldOf<&Config::auth, &AuthSettings::password_pepper>},
    {"auth.password_min_length", "shortest password accepted, in characters", K::kInteger, 8, 64,
     &FieldOf<&Config::auth, &AuthSettings::password_min_length>},
    {"auth.password_blocklist_file",
     "file of refused passwords, one per line (empty: none besides zxcvbn's own lists)", K::kString,
     0, 0, &FieldOf<&Config::auth, &AuthSettings::password_blocklist_file>},
    {"auth.session_idle_timeout_seconds", "a session ends after this long without a request",
     K::kInteger, 1, 86'400, &FieldOf<&Config::auth, &AuthSettings::session_idle_timeout_seconds>},
    {"auth.session_absolute_timeout_seconds", "a session ends this long after sign-in", K::kInteger,
     1, 2'592'000, &FieldOf<&Config::auth, &AuthSettings::session_absolute_timeout_seconds>},
    {"auth.lockout_max_failures",
     "consecutive failed passwords for one username before it is locked (NIST: at most 100)",
     K::kInteger, 1, 100, &FieldOf<&Config::auth, &AuthSettings::lockout_max_failures>},
    {"auth.lockout_wait_seconds", "first lock's length; each further failure doubles it",
     K::kInteger, 1, 86'400, &FieldOf<&Config::auth, &AuthSettings::lockout_wait_seconds>},
    {"auth.lockout_max_wait_seconds", "longest lock", K::kInteger, 1, 86'400,
     &FieldOf<&Config::auth, &AuthSettings::lockout_max_wait_seconds>},
    {"auth.lockout_reset_seconds", "failures are forgotten after this long without one",
     K::kInteger, 1, 604'800, &FieldOf<&Config::auth, &AuthSettings::lockout_reset_seconds>},
    {"auth.source_lockout_max_failures",
     "consecutive failed passwords from one address before it is locked", K::kInteger, 1, 100'000,
     &FieldOf<&Config::auth, &AuthSettings::source_lockout_max_failures>},
    {"auth.totp_max_failures",
     "consecutive wrong second-factor codes for one principal before its codes are locked",
     K::kInteger, 1, 10, &FieldOf<&Config::auth, &AuthSettings::totp_max_failures>},
    {"auth.totp_lockout_max_wait_seconds",
     "longest lock of second-factor codes (the first lasts auth.lockout_wait_seconds, doubling)",
     K::kInteger, 60, 86'400,
     &FieldOf<&Config::auth, &AuthSettings::totp_lockout_max_wait_seconds>},
    {"auth.totp_issuer", "the name authenticator apps show for this vault", K::kString, 0, 0,
     &FieldOf<&Config::auth, &AuthSettings::totp_issuer>},
    {"auth.credential_threads", "threads verifying and hashing passwords (Argon2id)", K::kInteger,
     1, 64, &FieldOf<&Config::auth, &AuthSettings::credential_threads>},
    {"auth.credential_queue", "sign-ins waiting or running at most; more get 503 + Retry-After",
     K::kInteger, 1, 100'000, &FieldOf<&Config::auth, &AuthSettings::credential_queue>},
    {"auth.credential_nice",
     "niceness of the credential threads (0-19): under load, sign-ins yield the CPU to requests",
     K::kInteger, 0, 19, &FieldOf<&Config::auth, &AuthSettings::credential_nice>},
    {"audit.dir", "directory of the audit trail (empty: <data_dir>/audit); keep it apart",
     K::kString, 0, 0, &FieldOf<&Config::audit, &AuditSettings::dir>},
    {"audit.witness_dirs",
     "comma-separated directories that receive a copy of every signed checkpoint", K::kString, 0, 0,
     &FieldOf<&Config::audit, &AuditSettings::witness_dirs>},
    {"audit.checkpoint_entries", "sign a checkpoint at least every this many entries", K::kInteger,
     1, 10'000'000, &FieldOf<&Config::audit, &AuditSettings::checkpoint_entries>},
    {"audit.checkpoint_interval_ms", "and at least this often when there are new entries",
     K::kInteger, 100, 86'400'000,
     &FieldOf<&Config::audit, &AuditSettings::checkpoint_interval_ms>},
    {"audit.segment_bytes", "start a new segment file past this size", K::kInteger, 1 << 16,
     int64_t{1} << 32, &FieldOf<&Config::audit, &AuditSettings::segment_bytes>},
    {"audit.segment_max_age_hours", "or once its first entry is this old", K::kInteger, 1, 8'760,
     &FieldOf<&Config::audit, &AuditSettings::segment_max_age_hours>},
    {"audit.retention_days",
     "move segments older than this to audit.archive_dir (0: keep every segment here)", K::kInteger,
     0, 36'500, &FieldOf<&Config::audit, &AuditSettings::retention_days>},
    {"audit.archive_dir",
     "where segments past audit.retention_days go (another disk or a mount); they stay verifiable",
     K::kString, 0, 0, &FieldOf<&Config::audit, &AuditSettings::archive_dir>},
    {"audit.min_free_mib",
     "warn and report readiness degraded when the trail's disk has less free space than this",
     K::kInteger, 0, int64_t{1} << 30, &FieldOf<&Config::audit, &AuditSettings::min_free_mib>},
    {"audit.spool_entries",
     "entries waiting for their fsync at most; beyond, requests fail with audit_unavailable",
     K::kInteger, 1, 10'000'000, &FieldOf<&Config::audit, &AuditSettings::spool_entries>},
    {"audit.writer_nice",
     "niceness of the audit writer thread (-20 to 19; below 0 needs CAP_SYS_NICE, else a warning)",
     K::kInteger, -20, 19, &FieldOf<&Config::audit, &AuditSettings::writer_nice>},
    {"backup.targets",
     "comma-separated directories the server backs up to on its schedule (empty: no schedule)",
     K::kString, 0, 0, &FieldOf<&Config::backup, &BackupSettings::targets>},
    {"backup.full_interval_seconds", "a full backup at least this often", K::kInteger, 60,
     int64_t{366} * 86'400, &FieldOf<&Config::backup, &BackupSettings::full_interval_seconds>},
    {"backup.incremental_interval_seconds",
     "an incremental backup this long after the last backup (0: full backups only)", K::kInteger, 0,
     int64_t{366} * 86'400,
     &FieldOf<&Config::backup, &BackupSettings::incremental_interval_seconds>},
    {"backup.capture_interval_seconds",
     "change capture: an incremental backup this long after the newest one when a store changed "
     "(0: off)",
     K::kInteger, 0, int64_t{366} * 86'400,
     &FieldOf<&Config::backup, &BackupSettings::capture_interval_seconds>},
    {"backup.keep_full", "full backups kept (with their incrementals) after each full backup",
     K::kInteger, 1, 1'000, &FieldOf<&Config::backup, &BackupSettings::keep_full>},
    {"backup.drill_interval_seconds",
     "restore the newest backup into backup.drill_dir and check it this often (0: never)",
     K::kInteger, 0, int64_t{366} * 86'400,
     &FieldOf<&Config::backup, &BackupSettings::drill_interval_seconds>},
    {"backup.drill_dir", "scratch directory of the restore drill (empty: <data_dir>/backup-drill)",
     K::kString, 0, 0, &FieldOf<&Config::backup, &BackupSettings::drill_dir>},
    {"backup.restore_dir",
     "directory that restores asked for through the API go into (empty: API restores refused)",
     K::kString, 0, 0, &FieldOf<&Config::backup, &BackupSettings::restore_dir>},
    {"backup.overdue_grace_seconds",
     "a scheduled backup or drill this late is reported overdue (metric and log)", K::kInteger, 0,
     int64_t{30} * 86'400, &FieldOf<&Config::backup, &BackupSettings::overdue_grace_seconds>},
    {"privacy.erasure_ledger",
     "the erasure ledger: signed receipts of subject erasures, kept out of backups and replayed "
     "by restores (empty: <data_dir>/erasure-ledger.jsonl)",
     K::kString, 0, 0, &FieldOf<&Config::privacy, &PrivacySettings::erasure_ledger>},
    {"privacy.erasure_grace_days",
     "days between DELETE /v1/subjects/{id} and the erasure, during which the subject is hidden "
     "and the erasure can be cancelled (0: erased at once; GDPR allows a month at most)",
     K::kInteger, 0, 30, &FieldOf<&Config::privacy, &PrivacySettings::erasure_grace_days>},
    {"privacy.retention_every_minutes",
     "how often the retention job deletes what tenants' [[retention]] rules let expire",
     K::kInteger, 1, int64_t{7} * 24 * 60,
     &FieldOf<&Config::privacy, &PrivacySettings::retention_every_minutes>},
    {"privacy.retention_first_pass_minutes",
     "the first scheduled retention pass, this long after the start", K::kInteger, 1,
     int64_t{7} * 24 * 60,
     &FieldOf<&Config::privacy, &PrivacySettings::retention_first_pass_minutes>},
    {"privacy.retention_items_per_second",
     "entries a retention pass examines per second, so live traffic keeps its latency (0: "
     "unpaced)",
     K::kInteger, 0, 10'000'000,
     &FieldOf<&Config::privacy, &PrivacySettings::retention_items_per_second>},
    {"audit.alert_distinct_subjects",
     "alert when one actor reads more distinct subjects than this within the window", K::kInteger,
     1, 10'000'000, &FieldOf<&Config::audit, &AuditSettings::alert_distinct_subjects>},
    {"audit.alert_denials", "alert when one actor or source is denied more often than this",
     K::kInteger, 1, 10'000'000, &FieldOf<&Config::audit, &AuditSettings::alert_denials>},
    {"audit.alert_window_seconds", "the window of those two rules", K::kInteger, 1, 604'800,
     &FieldOf<&Config::audit, &AuditSettings::alert_window_seconds>},
    {"guard.enabled", "rate limits, connection caps and bans (docs/guard.md)", K::kBool, 0, 0,
     &FieldOf<&Config::guard, &GuardConfig::enabled>},
    {"guard.source_read_per_second",
     "reads per second per source address (IPv6: per prefix; 0: unlimited)", K::kInteger, 0,
     1'000'000, &FieldOf<&Config::guard, &GuardConfig::source_read_per_second>},
    {"guard.source_read_burst", "reads a source may make at once", K::kInteger, 1, 10'000'000,
     &FieldOf<&Config::guard, &GuardConfig::source_read_burst>},
    {"guard.source_write_per_second", "writes per second per source (0: unlimited)", K::kInteger, 0,
     1'000'000, &FieldOf<&Config::guard, &GuardConfig::source_write_per_second>},
    {"guard.source_write_burst", "writes a source may make at once", K::kInteger, 1, 10'000'000,
     &FieldOf<&Config::guard, &GuardConfig::source_write_burst>},
    {"guard.source_credential_per_minute",
     "sign-ins, second-factor codes, password changes and unseals per minute per source (0: "
     "unlimited)",
     K::kInteger, 0, 1'000'000,
     &FieldOf<&Config::guard, &GuardConfig::source_credential_per_minute>},
    {"guard.source_credential_burst", "credential requests a source may make at once", K::kInteger,
     1, 1'000'000, &FieldOf<&Config::guard, &GuardConfig::source_credential_burst>},
    {"guard.principal_per_second", "requests per second per principal (0: unlimited)", K::kInteger,
     0, 1'000'000, &FieldOf<&Config::guard, &GuardConfig::principal_per_second>},
    {"guard.principal_burst", "requests a principal may make at once", K::kInteger, 1, 10'000'000,
     &FieldOf<&Config::guard, &GuardConfig::principal_burst>},
    {"guard.tenant_per_second", "requests per second per tenant (0: unlimited)", K::kInteger, 0,
     10'000'000, &FieldOf<&Config::guard, &GuardConfig::tenant_per_second>},
    {"guard.tenant_burst", "requests a tenant may make at once", K::kInteger, 1, 100'000'000,
     &FieldOf<&Config::guard, &GuardConfig::tenant_burst>},
    {"guard.ipv6_prefix_bits", "IPv6 sources are limited and banned per prefix of this length",
     K::kInteger, 32, 128, &FieldOf<&Config::guard, &GuardConfig::ipv6_prefix_bits>},
    {"guard.max_tracked_sources",
     "sources (and principals) whose buckets are kept; the least recently seen make room",
     K::kInteger, 1'000, 100'000'000, &FieldOf<&Config::guard, &GuardConfig::max_tracked_sources>},
    {"guard.max_connections_per_source",
     "open connections per source (trusted proxies exempt; 0: unlimited)", K::kInteger, 0,
     1'000'000, &FieldOf<&Config::guard, &GuardConfig::max_connections_per_source>},
    {"guard.ban_after_auth_failures",
     "401 answers to one source within the strike window that ban it (0: never)", K::kInteger, 0,
     1'000'000, &FieldOf<&Config::guard, &GuardConfig::ban_after_auth_failures>},
    {"guard.ban_after_client_errors",
     "other 4xx answers (429 included) within the strike window that ban it (0: never)",
     K::kInteger, 0, 1'000'000, &FieldOf<&Config::guard, &GuardConfig::ban_after_client_errors>},
    {"guard.ban_after_waf_hits",
     "web-application-firewall blocks within the strike window that ban it (0: never)", K::kInteger,
     0, 1'000'000, &FieldOf<&Config::guard, &GuardConfig::ban_after_waf_hits>},
    {"guard.strike_window_seconds", "the window those counts are kept for", K::kInteger, 1, 86'400,
     &FieldOf<&Config::guard, &GuardConfig::strike_window_seconds>},
    {"guard.ban_seconds", "a first ban's length; each repeat within a day doubles it", K::kInteger,
     1, 31'536'000, &FieldOf<&Config::guard, &GuardConfig::ban_seconds>},
    {"guard.max_ban_seconds", "the longest automatic ban", K::kInteger, 1, 31'536'000,
     &FieldOf<&Config::guard, &GuardConfig::max_ban_seconds>},
    {"guard.allow_list_file",
     "CIDRs (one per line) never limited or banned; reloaded when it changes", K::kString, 0, 0,
     &FieldOf<&Config::guard, &GuardConfig::allow_list_file>},
    {"guard.block_list_file", "CIDRs (one per line) always refused; reloaded when it changes",
     K::kString, 0, 0, &FieldOf<&Config::guard, &GuardConfig::block_list_file>},
    {"guard.redis_address",
     "share rate limits with other nodes through this Redis, host:port (empty: each node alone)",
     K::kString, 0, 0, &FieldOf<&Config::guard, &GuardConfig::redis_address>},
    {"guard.redis_password_file", "Redis AUTH password, in a file of mode 0600 (empty: none)",
     K::kString, 0, 0, &FieldOf<&Config::guard, &GuardConfig::redis_password_file>},
    {"guard.shared_key_file",
     "secret (32+ bytes, mode 0600, the same on every node) that names the counters in Redis",
     K::kString, 0, 0, &FieldOf<&Config::guard, &GuardConfig::shared_key_file>},
    {"guard.shared_key_prefix", "prefix of the counters' names in Redis (one per cluster)",
     K::kString, 0, 0, &FieldOf<&Config::guard, &GuardConfig::shared_key_prefix>},
    {"guard.shared_sync_ms", "how often a node exchanges its bucket counts with Redis", K::kInteger,
     10, 60'000, &FieldOf<&Config::guard, &GuardConfig::shared_sync_ms>},
    {"guard.redis_timeout_ms", "connect and exchange timeout; past it the node limits alone",
     K::kInteger, 10, 10'000, &FieldOf<&Config::guard, &GuardConfig::redis_timeout_ms>},
    {"waf.enabled", "inspect requests with ModSecurity and the OWASP CRS (docs/guard.md)", K::kBool,
     0, 0, &FieldOf<&Config::waf, &WafConfig::enabled>},
    {"waf.mode", "blocking, or detection_only (log and count, refuse nothing)", K::kString, 0, 0,
     &FieldOf<&Config::waf, &WafConfig::mode>},
    {"waf.paranoia_level", "CRS paranoia level: higher catches more and refuses more good requests",
     K::kInteger, 1, 4, &FieldOf<&Config::waf, &WafConfig::paranoia_level>},
    {"waf.anomaly_threshold", "CRS inbound anomaly score at which a request is refused",
     K::kInteger, 1, 1000, &FieldOf<&Config::waf, &WafConfig::anomaly_threshold>},
    {"waf.crs_dir", "the OWASP CRS rules directory", K::kString, 0, 0,
     &FieldOf<&Config::waf, &WafConfig::crs_dir>},
    {"waf.rule_files", "comma-separated CRS files to load (empty: the JSON API set)", K::kString, 0,
     0, &FieldOf<&Config::waf, &WafConfig::rule_files>},
    {"waf.free_text_fields",
     "comma-separated record fields whose values are not inspected (free text, ciphertext)",
     K::kString, 0, 0, &FieldOf<&Config::waf, &WafConfig::free_text_fields>},
    {"waf.extra_rules_file", "ModSecurity directives of your own, loaded after the CRS", K::kString,
     0, 0, &FieldOf<&Config::waf, &WafConfig::extra_rules_file>},
    {"log.level", "debug, info, warn or error", K::kLogLevel, 0, 0,
     &FieldOf<&Config::log, &LogSettings::level>},
    {"log.file", "append JSON log lines to this file (empty: standard error)", K::kString, 0, 0,
     &FieldOf<&Config::log, &LogSettings::file>},
    {"log.access_log", "log one line per request (route, status, duration; never content)",
     K::kBool, 0, 0, &FieldOf<&Config::log, &LogSettings::access_log>},
};

// STRONGROOM_* variables read elsewhere, not settings.
constexpr std::string_view kOtherVariables[] = {"STRONGROOM_CONFIG", "STRONGROOM_UNSEAL_PASSPHRASE",
                                                "STRONGROOM_TOKEN"};

const SettingInfo* FindSetting(std::string_view key) {
  for (const auto& s : kSettings) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string Suggestion(std::string_view key) {
  const SettingInfo* best = nullptr;
  std::size_t best_distance = 4;  // suggest only near misses
  for (const auto& s : kSettings) {
    const std::size_t d = EditDistance(key, s.key);
    if (d < best_distance) best = &s, best_distance = d;
  }
  return best ? " (did you mean '" + std::string(best->key) + "'?)" : "";
}

std::string_view KindDescription(const SettingInfo& s) {
  switch (s.kind) {
    case K::kInteger: return "an integer";
    case K::kBool: return "a boolean (true or false)";
    case K::kAddress: return "a string HOST:PORT";
    case K::kLogLevel: return "a string (debug, info, warn or error)";
    case K::kString:
    case K::kPath: return "a string";
  }
  return "a value";
}

// Parses `text` for `s` and stores it. The message of a failure omits the origin; the caller adds it.
Result<void> Store(Config& config, const SettingInfo& s, std::string_view text) {
  void* field = s.field(config);
  switch (s.kind) {
    case K::kString:
      *static_cast<std::string*>(field) = std::string(text);
      return {};
    case K::kPath:
      if (text.empty()) return Fail(ErrorCode::kInvalidArgument, "must not be empty");
      *static_cast<std::string*>(field) = std::string(text);
      return {};
    case K::kInteger: {
      std::int64_t value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size()) {
        return Fail(ErrorCode::kInvalidArgument, "expected an integer");
      }
      if (ec == std::errc::result_out_of_range || value < s.min || value > s.max) {
        return Fail(ErrorCode::kInvalidArgument, "must be between " + std::to_string(s.min) +
                                                     " and " + std::to_string(s.max));
      }
      *static_cast<std::int64_t*>(field) = value;
      return {};
    }
    case K::kBool:
      if (text == "true" || text == "false") {
        *static_cast<bool*>(field) = text == "true";
        return {};
      }
      return Fail(ErrorCode::kInvalidArgument, "expected true or false");
    case K::kAddress: {
      auto address = ParseNetAddress(text);
      if (!address) return std::unexpected(address.error());
      *static_cast<NetAddress*>(field) = *address;
      return {};
    }
    case K::kLogLevel: {
      if (auto level = observe::ParseLogLevel(text); !level) return std::unexpected(level.error());
      *static_cast<std::string*>(field) = std::string(text);
      return {};
    }
  }
  return Fail(ErrorCode::kInternal, "unknown setting kind");
}

std::string Where(const std::filesystem::path& file, const toml::source_region& region) {
  return file.string() + ":" + std::to_string(region.begin.line) + ":" +
         std::to_string(region.begin.column);
}

}  // namespace

namespace {
// Absolute and without "." or "..", so that a relative and an absolute path compare; a trailing
// separator dropped.
std::filesystem::path NormalPath(const std::filesystem::path& p) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(p, ec);
  auto normal = (ec ? p : absolute).lexically_normal();
  if (!normal.has_filename() && normal.has_parent_path()) normal = normal.parent_path();
  return normal;
}
// Whether `a` is strictly below `b` (both normal).
bool IsInside(const std::filesystem::path& a, const std::filesystem::path& b) {
  const auto rel = a.lexically_relative(b);
  return !rel.empty() && *rel.begin() != ".." && rel != ".";
}
}  // namespace

std::filesystem::path Config::cert_path() const {
  return tls.cert_file.empty() ? std::filesystem::path(server.data_dir) / "tls" / "server.crt"
                               : std::filesystem::path(tls.cert_file);
}

std::filesystem::path Config::audit_dir() const {
  return audit.dir.empty() ? std::filesystem::path(server.data_dir) / "audit"
                           : std::filesystem::path(audit.dir);
}

std::vector<IpNetwork> Config::trusted_proxy_networks() const {
  auto networks = ParseIpNetworkList(server.trusted_proxies);
  return networks ? std::move(*networks) : std::vector<IpNetwork>{};
}

std::vector<std::string> SplitCommaList(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    const auto first = item.find_first_not_of(kSpace);
    item = first == std::string_view::npos
               ? std::string_view()
               : item.substr(first, item.find_last_not_of(kSpace) - first + 1);
    if (!item.empty()) out.emplace_back(item);
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
  }
  return out;
}

std::vector<std::filesystem::path> Config::audit_witness_dirs() const {
  const auto dirs = SplitCommaList(audit.witness_dirs);
  return {dirs.begin(), dirs.end()};
}

std::vector<std::filesystem::path> Config::backup_targets() const {
  const auto dirs = SplitCommaList(backup.targets);
  return {dirs.begin(), dirs.end()};
}

std::filesystem::path Config::erasure_ledger() const {
  return privacy.erasure_ledger.empty()
             ? std::filesystem::path(server.data_dir) / "erasure-ledger.jsonl"
             : std::filesystem::path(privacy.erasure_ledger);
}

std::filesystem::path Config::backup_drill_dir() const {
  return backup.drill_dir.empty() ? std::filesystem::path(server.data_dir) / "backup-drill"
                                  : std::filesystem::path(backup.drill_dir);
}

std::filesystem::path Config::key_path() const {
  return tls.key_file.empty() ? std::filesystem::path(server.data_dir) / "tls" / "server.key"
                              : std::filesystem::path(tls.key_file);
}

std::span<const SettingInfo> AllSettings() { return kSettings; }

std::string EnvironmentVariableFor(const SettingInfo& setting) {
  std::string name = "STRONGROOM_";
  for (char c : setting.key) name.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(c)));
  return name;
}

std::string FlagFor(const SettingInfo& setting) {
  std::string_view key = setting.key;
  if (key.starts_with("server.")) key.remove_prefix(7);
  std::string flag;
  for (char c : key) flag.push_back(c == '.' || c == '_' ? '-' : c);
  return flag;
}

Result<void> ConfigBuilder::ApplyFile(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kInvalidArgument,
                "cannot read config file " + file.string() + ": " + ErrnoMessage(errno));
  }
  std::stringstream content;
  content << in.rdbuf();
  return ApplyToml(content.str(), file.string());
}

Result<void> ConfigBuilder::ApplyToml(std::string_view content, const std::string& source_name) {
  const std::filesystem::path file = source_name;
  toml::table root;
  try {
    root = toml::parse(content, source_name);
  } catch (const toml::parse_error& e) {
    return Fail(ErrorCode::kInvalidArgument, Where(file, e.source()) + ": invalid TOML: " +
                                                 std::string(e.description()));
  }
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    const auto* section_table = section_node.as_table();
    if (section_table == nullptr) {
      const bool known = std::any_of(std::begin(kSettings), std::end(kSettings), [&](auto& s) {
        return s.key.starts_with(section + ".");
      });
      return Fail(ErrorCode::kInvalidArgument,
                  Where(file, section_key.source()) + ": " +
                      (known ? "'" + section + "' must be a table ([" + section + "])"
                             : "unknown key '" + section + "'" + Suggestion(section)));
    }
    for (const auto& [name_key, node] : *section_table) {
      const std::string key = section + "." + std::string(name_key.str());
      const SettingInfo* s = FindSetting(key);
      if (s == nullptr) {
        return Fail(ErrorCode::kInvalidArgument, Where(file, name_key.source()) +
                                                     ": unknown key '" + key + "'" + Suggestion(key));
      }
      const std::string where = Where(file, node.source());
      std::string text;
      bool type_ok = false;
      if (s->kind == K::kInteger) {
        if (const auto* v = node.as_integer()) text = std::to_string(v->get()), type_ok = true;
      } else if (s->kind == K::kBool) {
        if (const auto* v = node.as_boolean()) text = v->get() ? "true" : "false", type_ok = true;
      } else if (const auto* v = node.as_string()) {
        text = v->get(), type_ok = true;
      }
      if (!type_ok) {
        return Fail(ErrorCode::kInvalidArgument,
                    where + ": " + key + ": expected " + std::string(KindDescription(*s)));
      }
      if (auto stored = Store(config_, *s, text); !stored) {
        return Fail(ErrorCode::kInvalidArgument, where + ": " + key + ": " + stored.error().message());
      }
      origins_[key] = where;
    }
  }
  return {};
}

Result<void> ConfigBuilder::ApplyEnvironment(char** envp) {
  for (char** entry = envp; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view pair(*entry);
    if (!pair.starts_with("STRONGROOM_")) continue;
    const auto eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (std::find(std::begin(kOtherVariables), std::end(kOtherVariables), name) !=
        std::end(kOtherVariables)) {
      continue;
    }
    const SettingInfo* match = nullptr;
    for (const auto& s : kSettings) {
      if (EnvironmentVariableFor(s) == name) match = &s;
    }
    if (match == nullptr) {
      return Fail(ErrorCode::kInvalidArgument,
                  "environment " + std::string(name) + ": not a Strongroom setting");
    }
    if (auto applied = ApplyText(match->key, value, "environment " + std::string(name)); !applied) {
      return applied;
    }
  }
  return {};
}

Result<void> ConfigBuilder::ApplyText(std::string_view key, std::string_view text,
                                      std::string origin) {
  const SettingInfo* s = FindSetting(key);
  if (s == nullptr) return Fail(ErrorCode::kInvalidArgument, origin + ": unknown setting");
  if (auto stored = Store(config_, *s, text); !stored) {
    return Fail(ErrorCode::kInvalidArgument, origin + ": " + stored.error().message());
  }
  origins_[std::string(key)] = std::move(origin);
  return {};
}

Result<Config> ConfigBuilder::Finish() const {
  const auto origin = [this](std::string_view key) {
    const auto it = origins_.find(key);
    return it == origins_.end() ? std::string("default") : it->second;
  };
  const Config& c = config_;
  if (c.tls.cert_file.empty() != c.tls.key_file.empty()) {
    const std::string set = c.tls.cert_file.empty() ? "tls.key_file" : "tls.cert_file";
    const std::string unset = c.tls.cert_file.empty() ? "tls.cert_file" : "tls.key_file";
    return Fail(ErrorCode::kInvalidArgument, origin(set) + ": " + set + " is set but " + unset +
                                                 " is not; set both or neither");
  }
  if (c.server.listen == c.server.metrics_listen && c.server.listen.port != 0) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("server.metrics_listen") + ": server.metrics_listen must differ from "
                                                  "server.listen (" + c.server.listen.ToString() + ")");
  }
  if (c.auth.lockout_max_wait_seconds < c.auth.lockout_wait_seconds) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("auth.lockout_max_wait_seconds") +
                    ": auth.lockout_max_wait_seconds must be at least auth.lockout_wait_seconds");
  }
  if (c.auth.totp_lockout_max_wait_seconds < c.auth.lockout_wait_seconds) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("auth.totp_lockout_max_wait_seconds") +
                    ": auth.totp_lockout_max_wait_seconds must be at least "
                    "auth.lockout_wait_seconds");
  }
  if (c.waf.mode != "blocking" && c.waf.mode != "detection_only") {
    return Fail(ErrorCode::kInvalidArgument,
                origin("waf.mode") + ": waf.mode must be blocking or detection_only, not '" +
                    c.waf.mode + "'");
  }
  if (c.keys.provider != "sealed_file" && c.keys.provider != "pkcs11") {
    return Fail(ErrorCode::kInvalidArgument,
                origin("keys.provider") + ": keys.provider must be sealed_file or pkcs11, not '" +
                    c.keys.provider + "'");
  }
  if (c.keys.provider == "pkcs11") {
    for (const auto& [key, value] : {std::pair<std::string_view, const std::string*>{
                                         "keys.pkcs11_module", &c.keys.pkcs11_module},
                                     {"keys.pkcs11_token_label", &c.keys.pkcs11_token_label},
                                     {"keys.pkcs11_key_label", &c.keys.pkcs11_key_label}}) {
      if (value->empty()) {
        return Fail(ErrorCode::kInvalidArgument, origin("keys.provider") +
                                                     ": keys.provider is pkcs11 but " +
                                                     std::string(key) + " is not set");
      }
    }
  }
  // p11-kit resolves a relative module path against its own module directory, not ours.
  if (!c.keys.pkcs11_module.empty() && !std::filesystem::path(c.keys.pkcs11_module).is_absolute()) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("keys.pkcs11_module") + ": keys.pkcs11_module must be an absolute path");
  }
  // A token's label is 32 bytes in CK_TOKEN_INFO.
  if (c.keys.pkcs11_token_label.size() > 32) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("keys.pkcs11_token_label") +
                    ": keys.pkcs11_token_label is longer than a PKCS#11 token label (32 bytes)");
  }
  if (c.auth.totp_issuer.empty() || c.auth.totp_issuer.size() > 64) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("auth.totp_issuer") + ": auth.totp_issuer must be 1 to 64 bytes");
  }
  if ((c.audit.retention_days > 0) != !c.audit.archive_dir.empty()) {
    const std::string set =
        c.audit.archive_dir.empty() ? "audit.retention_days" : "audit.archive_dir";
    return Fail(ErrorCode::kInvalidArgument,
                origin(set) + ": " + set + " is set but " +
                    (c.audit.archive_dir.empty() ? "audit.archive_dir is not (where would old "
                                                   "segments go?)"
                                                 : "audit.retention_days is 0 (nothing would "
                                                   "ever be archived)") +
                    "; set both or neither");
  }
  if (!c.audit.archive_dir.empty()) {
    const auto normal = NormalPath;
    const auto archive = normal(c.audit.archive_dir);
    const auto trail = normal(c.audit_dir());
    // Equal counts as inside here.
    const auto inside = [](const std::filesystem::path& a, const std::filesystem::path& b) {
      return a == b || IsInside(a, b);
    };
    const auto witnesses = c.audit_witness_dirs();
    if (inside(archive, trail) || inside(trail, archive) ||
        std::any_of(witnesses.begin(), witnesses.end(), [&](const std::filesystem::path& w) {
          return inside(archive, normal(w)) || inside(normal(w), archive);
        })) {
      return Fail(ErrorCode::kInvalidArgument,
                  origin("audit.archive_dir") +
                      ": audit.archive_dir must be apart from the trail (" +
                      c.audit_dir().string() + ") and from every witness directory");
    }
  }
  if (auto proxies = ParseIpNetworkList(c.server.trusted_proxies); !proxies) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("server.trusted_proxies") + ": " + proxies.error().message());
  }
  if (c.guard.max_ban_seconds < c.guard.ban_seconds) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("guard.max_ban_seconds") +
                    ": guard.max_ban_seconds must be at least guard.ban_seconds");
  }
  {
    // The drill empties its directory of old drills before each one: it must not be, or hold,
    // anything else the vault keeps.
    const auto drill = NormalPath(c.backup_drill_dir());
    std::vector<std::filesystem::path> others = {NormalPath(c.server.data_dir),
                                                 NormalPath(c.audit_dir())};
    for (const auto& target : c.backup_targets()) others.push_back(NormalPath(target));
    if (!c.backup.restore_dir.empty()) others.push_back(NormalPath(c.backup.restore_dir));
    for (const auto& other : others) {
      const bool same_or_above = drill == other || IsInside(other, drill);
      // Inside the data directory is where the default is; inside anything else is not.
      const bool below = IsInside(drill, other) && other != NormalPath(c.server.data_dir);
      if (same_or_above || below) {
        return Fail(ErrorCode::kInvalidArgument,
                    origin("backup.drill_dir") + ": backup.drill_dir (" + drill.string() +
                        ") must be a directory of its own, apart from " + other.string());
      }
    }
  }
  if (c.backup.incremental_interval_seconds > c.backup.full_interval_seconds) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("backup.incremental_interval_seconds") +
                    ": backup.incremental_interval_seconds must be at most "
                    "backup.full_interval_seconds (or 0 for full backups only)");
  }
  if (c.auth.session_absolute_timeout_seconds < c.auth.session_idle_timeout_seconds) {
    return Fail(ErrorCode::kInvalidArgument,
                origin("auth.session_absolute_timeout_seconds") +
                    ": auth.session_absolute_timeout_seconds must be at least "
                    "auth.session_idle_timeout_seconds");
  }
  return c;
}

}  // namespace strongroom::config
