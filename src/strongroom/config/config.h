#pragma once
// Strongroom's configuration: defaults, overridden by a TOML file, then by STRONGROOM_*
// environment variables, then by command-line flags; validated as a whole before anything starts.
//
// One table (AllSettings) names every setting once: its TOML key ("limits.max_body_bytes"),
// environment variable (STRONGROOM_LIMITS_MAX_BODY_BYTES), flag (--limits-max-body-bytes; the
// [server] section drops its prefix: --listen, --data-dir) and valid range, so the three sources
// cannot drift apart. Errors name where the bad value came from: "strongroom.toml:7:18:
// limits.max_body_bytes: ...", "environment STRONGROOM_SERVER_LISTEN: ...", "--listen: ...".
//
// ConfigBuilder is a single-threaded, short-lived value used at start-up; Config is a plain value.

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "strongroom/base/error.h"
#include "strongroom/base/ip_network.h"
#include "strongroom/base/net_address.h"

namespace strongroom::config {

struct ServerSettings {
  std::string data_dir = ".strongroom";
  NetAddress listen{"127.0.0.1", 8443};
  NetAddress metrics_listen{"127.0.0.1", 9464};
  std::int64_t io_threads = 2;
  // Many more than cores: a worker waiting for its write's fsync holds no CPU, and the store's
  // group commit can only share an fsync among writes that are waiting at the same time.
  std::int64_t worker_threads = 16;
  // Each of the profiles and metadata stores keeps this many bytes of recently read entries
  // (ciphertext, as stored) in memory; reads that find everything there are answered on the
  // I/O thread (storage/read_cache.h, base/blocking.h).
  std::int64_t read_cache_bytes = 64 << 20;
  std::int64_t max_connections = 1024;
  std::int64_t shutdown_grace_ms = 10'000;
  // Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed (empty: none).
  std::string trusted_proxies;
};

struct TlsSettings {
  // Empty: the development certificate `init` created in <data_dir>/tls/.
  std::string cert_file;
  std::string key_file;
};

struct LimitsSettings {
  std::int64_t max_body_bytes = 1 << 20;
  std::int64_t max_document_bytes = 64 << 20;
  std::int64_t max_header_bytes = 16 << 10;
  std::int64_t max_header_count = 100;
  std::int64_t handshake_timeout_ms = 10'000;
  std::int64_t header_timeout_ms = 10'000;
  std::int64_t body_timeout_ms = 30'000;
  std::int64_t idle_timeout_ms = 60'000;
  std::int64_t max_target_bytes = 8 << 10;
  std::int64_t max_requests_per_connection = 1000;
};

// The traffic guard (docs/guard.md): rate limits, connection caps, bans, allow and block lists.
// Reloaded on SIGHUP.
struct GuardConfig {
  bool enabled = true;
  std::int64_t source_read_per_second = 100;
  std::int64_t source_read_burst = 200;
  std::int64_t source_write_per_second = 50;
  std::int64_t source_write_burst = 100;
  std::int64_t source_credential_per_minute = 60;
  std::int64_t source_credential_burst = 10;
  std::int64_t principal_per_second = 200;
  std::int64_t principal_burst = 400;
  std::int64_t tenant_per_second = 1000;
  std::int64_t tenant_burst = 2000;
  std::int64_t ipv6_prefix_bits = 64;
  std::int64_t max_tracked_sources = 100'000;
  std::int64_t max_connections_per_source = 64;
  std::int64_t ban_after_auth_failures = 20;
  std::int64_t ban_after_client_errors = 100;
  std::int64_t ban_after_waf_hits = 5;
  std::int64_t strike_window_seconds = 60;
  std::int64_t ban_seconds = 600;
  std::int64_t max_ban_seconds = 86'400;
  std::string allow_list_file;
  std::string block_list_file;
  // Shared limits through Redis (empty address: each node limits on its own).
  std::string redis_address;
  std::string redis_password_file;
  std::string shared_key_file;
  std::string shared_key_prefix = "strongroom";
  std::int64_t shared_sync_ms = 200;
  std::int64_t redis_timeout_ms = 250;
};

// The web application firewall (docs/guard.md): ModSecurity v3 with the OWASP Core Rule Set.
// Reloaded on SIGHUP. Lists are comma-separated.
struct WafConfig {
  bool enabled = true;
  std::string mode = "blocking";  // or "detection_only": log and count, refuse nothing
  std::int64_t paranoia_level = 1;
  std::int64_t anomaly_threshold = 5;
  std::string crs_dir = "/usr/share/modsecurity-crs/rules";
  std::string rule_files;        // empty: the set chosen for a JSON API (docs/guard.md)
  std::string free_text_fields;  // record fields whose values are not inspected
  std::string extra_rules_file;  // the operator's own ModSecurity directives, loaded last
};

struct KeysSettings {
  // Where the root key is kept (docs/keys.md): "sealed_file" (keys/root.sealed, opened with a
  // passphrase) or "pkcs11" (keys/root.p11, opened by a key inside an HSM and the token's PIN).
  std::string provider = "sealed_file";
  std::string pkcs11_module;
  std::string pkcs11_token_label;
  std::string pkcs11_key_label = "strongroom-root-wrap";
  // The unseal secret: the passphrase, or the token's PIN with provider "pkcs11".
  std::string unseal_passphrase_file;
  std::int64_t unseal_attempts_per_minute = 5;
  // Subject key entries a KEK rotation's background re-wrap examines per second (0: no pacing).
  std::int64_t rewrap_per_second = 1000;
  // A tenant KEK older than this is rotated automatically (0: never). NIST SP 800-57 allows a
  // key-wrapping key up to two years of use; one is our default.
  std::int64_t rotate_after_days = 365;
};

// Identity (docs/identity.md): password hashing, sessions, brute-force throttling.
struct AuthSettings {
  std::int64_t argon2_memory_kib = 19'456;  // OWASP's minimum for t=2: 19 MiB
  std::int64_t argon2_iterations = 2;
  bool password_pepper = true;
  std::int64_t password_min_length = 12;
  std::string password_blocklist_file;
  std::int64_t session_idle_timeout_seconds = 900;
  std::int64_t session_absolute_timeout_seconds = 28'800;
  std::int64_t lockout_max_failures = 30;  // Keycloak's default; NIST allows at most 100
  std::int64_t lockout_wait_seconds = 60;
  std::int64_t lockout_max_wait_seconds = 900;
  std::int64_t lockout_reset_seconds = 43'200;
  std::int64_t source_lockout_max_failures = 100;
  std::int64_t totp_max_failures = 5;  // wrong second-factor codes per principal before a lock
  std::int64_t totp_lockout_max_wait_seconds = 3'600;
  std::string totp_issuer = "Strongroom";
  std::int64_t credential_threads = 1;  // Argon2id pool
  std::int64_t credential_queue = 64;
  std::int64_t credential_nice = 10;  // Argon2id yields the CPU to other requests
};
// The audit trail (docs/audit.md).
struct AuditSettings {
  std::string dir;           // empty: <data_dir>/audit
  std::string witness_dirs;  // comma-separated directories that get a copy of every checkpoint
  std::int64_t checkpoint_entries = 1000;
  std::int64_t checkpoint_interval_ms = 10'000;
  std::int64_t segment_bytes = 64 << 20;
  std::int64_t segment_max_age_hours = 24;
  std::int64_t retention_days = 0;  // 0: no archiving
  std::string archive_dir;          // set together with retention_days
  std::int64_t min_free_mib = 1024;
  std::int64_t spool_entries = 65'536;
  std::int64_t writer_nice = 0;  // below 0 (needs CAP_SYS_NICE) measured slower: docs/performance.md
  // Behaviour rules (audit/behaviour_rules.h).
  std::int64_t alert_distinct_subjects = 100;
  std::int64_t alert_denials = 20;
  std::int64_t alert_window_seconds = 600;
};

// Backups the server runs itself (docs/backup.md, "Schedule").
struct BackupSettings {
  std::string targets;  // comma-separated directories; empty: no schedule, API jobs refused
  std::int64_t full_interval_seconds = std::int64_t{7} * 86'400;
  std::int64_t incremental_interval_seconds = 86'400;  // 0: fulls only
  std::int64_t capture_interval_seconds = 0;           // change capture between backups; 0: off
  std::int64_t keep_full = 5;                          // generations kept after each full
  std::int64_t drill_interval_seconds = std::int64_t{7} * 86'400;  // 0: no restore drill
  std::string drill_dir;                                           // empty: <data_dir>/backup-drill
  std::string restore_dir;  // where POST /v1/backups/restore may restore to; empty: refused
  std::int64_t overdue_grace_seconds = 3'600;  // late by more than this: overdue
};

// Subject rights (docs/privacy.md).
struct PrivacySettings {
  std::string erasure_ledger;  // empty: <data_dir>/erasure-ledger.jsonl
  // Days between an erasure request and the erasure (cancellable meanwhile); 0: at once.
  std::int64_t erasure_grace_days = 0;
  // Retention passes (records/retention.h): how often, the first one how long after the start,
  // and the entries they examine per second (0: unpaced).
  std::int64_t retention_every_minutes = 60;
  std::int64_t retention_first_pass_minutes = 10;
  std::int64_t retention_items_per_second = 20'000;
};

struct LogSettings {
  std::string level = "info";
  std::string file;  // empty: standard error
  bool access_log = true;
};

// The items of a comma-separated setting, each trimmed of surrounding whitespace; empty items
// are dropped ("a, b,,c" -> a, b, c).
std::vector<std::string> SplitCommaList(std::string_view text);

struct Config {
  ServerSettings server;
  TlsSettings tls;
  LimitsSettings limits;
  KeysSettings keys;
  AuthSettings auth;
  AuditSettings audit;
  GuardConfig guard;
  WafConfig waf;
  BackupSettings backup;
  PrivacySettings privacy;
  LogSettings log;

  // Derived in ConfigBuilder::Finish: the certificate and key actually used, and whether they
  // are the development pair inside the data directory.
  std::filesystem::path cert_path() const;
  std::filesystem::path key_path() const;
  std::filesystem::path audit_dir() const;
  std::vector<std::filesystem::path> audit_witness_dirs() const;
  std::vector<std::filesystem::path> backup_targets() const;
  std::filesystem::path backup_drill_dir() const;
  std::filesystem::path erasure_ledger() const;
  // server.trusted_proxies parsed (validated when the configuration was loaded).
  std::vector<IpNetwork> trusted_proxy_networks() const;
  bool uses_development_certificate() const { return tls.cert_file.empty(); }
};

enum class SettingKind { kString, kPath, kInteger, kBool, kAddress, kLogLevel };

struct SettingInfo {
  std::string_view key;   // "section.name", as in the TOML file
  std::string_view help;  // one line, for --help and docs
  SettingKind kind;
  std::int64_t min = 0;  // kInteger only
  std::int64_t max = 0;
  void* (*field)(Config&);  // where the parsed value goes
};

std::span<const SettingInfo> AllSettings();
std::string EnvironmentVariableFor(const SettingInfo& setting);
std::string FlagFor(const SettingInfo& setting);  // without the leading "--"

class ConfigBuilder {
 public:
  // Reads and applies a TOML file. Unknown sections and keys are errors (a typo must not
  // silently leave a default in force).
  Result<void> ApplyFile(const std::filesystem::path& file);
  // The same for TOML text already in memory; `source_name` stands for the file in errors.
  Result<void> ApplyToml(std::string_view content, const std::string& source_name);
  // Applies every STRONGROOM_* variable in `environ`-style `envp`. Variables that are not
  // settings are errors, except those other parts of Strongroom read (STRONGROOM_CONFIG, ...).
  Result<void> ApplyEnvironment(char** envp);
  // Applies one value given as text (a flag); `origin` names it in errors ("--listen").
  Result<void> ApplyText(std::string_view key, std::string_view text, std::string origin);
  // Cross-setting validation; returns the final configuration.
  Result<Config> Finish() const;

 private:
  Config config_;
  std::map<std::string, std::string, std::less<>> origins_;  // key -> where its value came from
};

}  // namespace strongroom::config
