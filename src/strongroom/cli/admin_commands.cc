#include "strongroom/cli/admin_commands.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>

#include "strongroom/cli/exit_codes.h"
#include "strongroom/cli/https_client.h"
#include "strongroom/cli/passphrase.h"

namespace strongroom::cli {
namespace {

namespace json = boost::json;


void WipeString(std::string& s) { std::fill(s.begin(), s.end(), '\0'); }

// The first line of a file, without its line break (a password or a token file).
Result<SecretBytes> FirstLine(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Fail(ErrorCode::kFailedPrecondition, "cannot read " + std::string(what) + " " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  SecretBytes out{std::string_view(line)};
  WipeString(line);
  if (out.empty())
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + " " + path + " is empty");
  return out;
}

// Ids go into request paths: only the characters ids are made of.
bool PlainId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

json::array JsonStrings(const std::vector<std::string>& items) {
  json::array out;
  for (const auto& s : items) out.emplace_back(s);
  return out;
}

std::string Joined(const json::value* v) {
  std::string out;
  if (v == nullptr || !v->is_array()) return out;
  for (const auto& item : v->get_array()) {
    if (!item.is_string()) continue;
    if (!out.empty()) out += ",";
    out += std::string(item.get_string());
  }
  return out;
}

std::string Text(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return "-";
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

void PrintPrincipalLine(const json::object& p) {
  std::string flags;
  const auto flag = [&](std::string_view key, std::string_view label) {
    if (const auto* v = p.if_contains(key); v != nullptr && v->is_bool() && v->get_bool()) {
      flags += flags.empty() ? "" : ",";
      flags += label;
    }
  };
  flag("disabled", "disabled");
  flag("locked", "locked");
  flag("must_change_password", "must-change-password");
  flag("two_factor_enabled", "2fa");
  std::cout << Text(p, "id") << "  " << Text(p, "tenant") << "  " << Text(p, "kind") << "  "
            << Text(p, "username") << "  " << Joined(p.if_contains("roles"))
            << (flags.empty() ? "" : "  [" + flags + "]") << "\n";
}

void PrintObject(const json::object& o) {
  for (const auto& [key, value] : o) {
    std::cout << std::string(key) << ": " << (value.is_array() ? Joined(&value) : Text(o, key))
              << "\n";
  }
}

// One API call and its answer: the parsed JSON (null for 204), or the exit code of a failure
// already reported.
struct Outcome {
  int exit_code = kExitOk;
  json::value body;
};

}  // namespace

AdminCommands::AdminCommands(CLI::App& app) {
  principal_ = AddParent(app, "principal",
                         "Administer principals (users and service accounts) of a running server.",
                         principal_common_);
  auto* list = principal_->add_subcommand("list", "List the principals you administer.");
  (void)list;
  auto* show = principal_->add_subcommand("show", "Show one principal.");
  show->add_option("ID", id_, "principal id (prn_...)")->required();
  auto* create = principal_->add_subcommand("create", "Create a principal.");
  create->add_option("USERNAME", username_, "letters, digits and . _ @ + -")->required();
  create->add_option("--role", roles_, "a role (repeat for several)")->required();
  create->add_option("--kind", kind_, "user or service")->check(CLI::IsMember({"user", "service"}));
  create->add_option("--tenant", tenant_, "its tenant (default: yours)");
  auto* password_file = create->add_option(
      "--password-file", password_file_,
      "a first password (first line of the file), to be changed at first sign-in");
  create->add_flag("--password-prompt", password_prompt_, "type a first password")
      ->excludes(password_file);
  auto* set_roles = principal_->add_subcommand("set-roles", "Replace a principal's roles.");
  set_roles->add_option("ID", id_, "principal id")->required();
  set_roles->add_option("--role", roles_, "a role (repeat for several)")->required();
  for (const char* verb :
       {"disable", "enable", "delete", "unlock", "sessions", "end-sessions", "reset-2fa"}) {
    principal_->add_subcommand(verb, std::string(verb) + " a principal (see docs/identity.md)")
        ->add_option("ID", id_, "principal id")
        ->required();
  }
  auto* reset = principal_->add_subcommand(
      "reset-password", "Set a password the principal must change at its next sign-in.");
  reset->add_option("ID", id_, "principal id")->required();
  auto* reset_file = reset->add_option("--password-file", password_file_,
                                       "the new password (first line of the file)");
  reset->add_flag("--password-prompt", password_prompt_, "type the new password")
      ->excludes(reset_file);

  token_ = AddParent(app, "token", "Administer API tokens of a running server.", token_common_);
  auto* token_list = token_->add_subcommand("list", "List API tokens (never their values).");
  token_list->add_option("--principal", id_, "only this principal's");
  auto* issue = token_->add_subcommand(
      "issue", "Issue an API token to a principal; prints it once on standard output.");
  issue->add_option("PRINCIPAL", id_, "principal id")->required();
  issue->add_option("--name", name_, "a label (no personal data)")->required();
  issue->add_option("--scope", scopes_, "admin, data:read, data:write or audit:read (repeat; default all)")
      ->check(CLI::IsMember({"admin", "data:read", "data:write"}));
  issue->add_option("--expires-in", expires_in_, "seconds until it expires (default: never)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10LL * 366 * 24 * 3600}));
  token_->add_subcommand("revoke", "Revoke an API token.")
      ->add_option("TOKEN_ID", id_, "token id (tok_...)")
      ->required();

  ban_ = AddParent(app, "ban", "List, add and lift the traffic guard's bans (operators).",
                   ban_common_);
  ban_->add_subcommand("list", "List the bans in force, automatic and administrators'.");
  auto* ban_add = ban_->add_subcommand("add", "Ban an address or CIDR network for a while.");
  ban_add->add_option("TARGET", target_, "address or network (203.0.113.7, 10.0.0.0/8)")
      ->required();
  ban_add->add_option("--minutes", minutes_, "how long (default 60)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{525'600}));
  ban_add->add_option("--reason", reason_, "why (kept in the ban list and the audit trail)");
  ban_->add_subcommand("lift", "End a ban early.")
      ->add_option("TARGET", target_, "the ban's target as listed, or an address inside it")
      ->required();

  keys_ = AddParent(app, "keys",
                    "Your tenant's KEKs: versions, rotation with background re-wrap, retirement.",
                    keys_common_);
  keys_->add_subcommand("status",
                        "KEK versions, the subject keys each wraps, and the re-wrap's progress.");
  keys_->add_subcommand("rotate",
                        "Make a new KEK current and re-wrap every subject key under it "
                        "(in the background: follow it with `keys status`).");
  keys_->add_subcommand("retire", "Destroy an old KEK version once no subject key uses it.")
      ->add_option("VERSION", kek_version_, "the KEK version (1, 2, ...)")
      ->required()
      ->check(CLI::Range(std::uint32_t{1}, std::uint32_t{0xffffffff}));
}

CLI::App* AdminCommands::AddParent(CLI::App& app, const std::string& name, const std::string& help,
                                   Common& common) {
  auto* parent = app.add_subcommand(
      name, help + " Authenticates with the API token in --token-file or $STRONGROOM_TOKEN.");
  parent->require_subcommand(1);
  AddSettingsFlags(parent, common.settings);
  parent->add_option("--ca-file", common.ca_file,
                     "CA certificate to verify the server with (default: the vault's certificate)");
  parent->add_option("--token-file", common.token_file,
                     "file holding your API token (default: $STRONGROOM_TOKEN)");
  parent->add_option("--output", common.output, "text or json")
      ->check(CLI::IsMember({"text", "json"}));
  return parent;
}

std::optional<int> AdminCommands::RunIfParsed() {
  if (principal_->parsed()) return RunPrincipal();
  if (token_->parsed()) return RunToken();
  if (ban_->parsed()) return RunBan();
  if (keys_->parsed()) return RunKeys();
  return std::nullopt;
}

namespace {

// The connection details and the caller's token, from the common options.
struct Target {
  NetAddress server;
  std::string ca_file;
  SecretBytes token;
};

template <typename CommonT>
Result<Target> ResolveTarget(const CommonT& common) {
  auto config = BuildConfig(common.settings);
  if (!config) return std::unexpected(config.error());
  Target target;
  target.server = config->server.listen;
  if (target.server.host == "0.0.0.0") target.server.host = "127.0.0.1";
  if (target.server.host == "::") target.server.host = "::1";
  target.ca_file = common.ca_file.empty() ? config->cert_path().string() : common.ca_file;
  if (!common.token_file.empty()) {
    auto token = FirstLine(common.token_file, "token file");
    if (!token) return std::unexpected(token.error());
    target.token = std::move(*token);
  } else if (const char* env = std::getenv("STRONGROOM_TOKEN");  // NOLINT(concurrency-mt-unsafe)
             env != nullptr && *env != '\0') {
    target.token = SecretBytes(std::string_view(env));
  } else {
    return Fail(ErrorCode::kInvalidArgument,
                "no API token: pass --token-file FILE or set STRONGROOM_TOKEN");
  }
  return target;
}

Outcome Call(const Target& target, std::string method, std::string path, std::string body = {}) {
  auto reply = CallApi(target.server, target.ca_file, target.token,
                       {std::move(method), std::move(path), std::move(body)});
  if (!reply) {
    std::cerr << "strongroom: error: " << reply.error().message() << "\n";
    return {reply.error().code() == ErrorCode::kFailedPrecondition ? kExitUsage : kExitRuntime, {}};
  }
  boost::system::error_code ec;
  json::value parsed = reply->body.empty() ? json::value() : json::parse(reply->body, ec);
  if (ec) {
    std::cerr << "strongroom: error: HTTP " << reply->status
              << " with an answer that is not JSON\n";
    return {kExitRuntime, {}};
  }
  if (reply->status >= 400) {
    std::string code = "error";
    std::string message;
    if (parsed.is_object()) {
      if (const auto* e = parsed.get_object().if_contains("error");
          e != nullptr && e->is_object()) {
        code = Text(e->get_object(), "code");
        message = Text(e->get_object(), "message");
        if (const auto* d = e->get_object().if_contains("details");
            d != nullptr && d->is_object()) {
          message +=
              " (" + Text(d->get_object(), "path") + ": " + Text(d->get_object(), "rule") + ")";
        }
      }
    }
    std::cerr << "strongroom: error: HTTP " << reply->status << " " << code << ": " << message
              << "\n";
    return {kExitRuntime, {}};
  }
  return {kExitOk, std::move(parsed)};
}

// A password from --password-file or the prompt (typed twice); nullopt when neither was asked.
Result<std::optional<SecretBytes>> ObtainPassword(const std::string& file, bool prompt) {
  if (!file.empty()) {
    auto line = FirstLine(file, "password file");
    if (!line) return std::unexpected(line.error());
    return std::optional<SecretBytes>(std::move(*line));
  }
  if (!prompt) return std::optional<SecretBytes>();
  auto first = PromptPassphrase("Password: ");
  auto again = PromptPassphrase("Password again: ");
  if (!first || !again) {
    return Fail(ErrorCode::kInvalidArgument, "no terminal to type a password: use --password-file");
  }
  if (first->reveal_as_text() != again->reveal_as_text()) {
    return Fail(ErrorCode::kInvalidArgument, "the two passwords differ");
  }
  return std::optional<SecretBytes>(std::move(*first));
}

// Serialises `body`, wiping the password member it may hold.
std::string Serialise(json::object& body) {
  std::string out = json::serialize(body);
  if (auto* p = body.if_contains("password"); p != nullptr && p->is_string()) {
    std::fill(p->get_string().begin(), p->get_string().end(), '\0');
  }
  return out;
}

}  // namespace

int AdminCommands::RunPrincipal() {
  auto target = ResolveTarget(principal_common_);
  if (!target) return UsageError(target.error().message());
  const bool as_json = principal_common_.output == "json";
  const auto sub = principal_->get_subcommands();
  const std::string verb = sub.empty() ? "" : sub.front()->get_name();
  if (verb != "list" && verb != "create" && !PlainId(id_)) {
    return UsageError("'" + id_ + "' is not a principal id");
  }
  const std::string about = "/v1/principals/" + id_;
  Outcome out;
  if (verb == "list") {
    out = Call(*target, "GET", "/v1/principals");
    if (out.exit_code == kExitOk && !as_json) {
      for (const auto& p : out.body.at("principals").as_array()) PrintPrincipalLine(p.as_object());
      return kExitOk;
    }
  } else if (verb == "show") {
    out = Call(*target, "GET", about);
    if (out.exit_code == kExitOk && !as_json) PrintObject(out.body.as_object());
  } else if (verb == "create") {
    json::object body{{"username", username_}, {"kind", kind_}, {"roles", JsonStrings(roles_)}};
    if (!tenant_.empty()) body["tenant"] = tenant_;
    auto password = ObtainPassword(password_file_, password_prompt_);
    if (!password) return UsageError(password.error().message());
    if (*password) body["password"] = (*password)->reveal_as_text();
    out = Call(*target, "POST", "/v1/principals", Serialise(body));
    if (out.exit_code == kExitOk && !as_json) {
      std::cout << "Created " << Text(out.body.as_object(), "id") << " ("
                << Text(out.body.as_object(), "kind") << " "
                << Text(out.body.as_object(), "username") << " in tenant "
                << Text(out.body.as_object(), "tenant") << ").\n";
    }
  } else if (verb == "set-roles" || verb == "disable" || verb == "enable") {
    json::object body;
    if (verb == "set-roles") body["roles"] = JsonStrings(roles_);
    if (verb != "set-roles") body["disabled"] = verb == "disable";
    out = Call(*target, "PATCH", about, json::serialize(body));
    if (out.exit_code == kExitOk && !as_json) PrintPrincipalLine(out.body.as_object());
  } else if (verb == "delete" || verb == "reset-2fa" || verb == "end-sessions") {
    const std::string path = verb == "delete"      ? about
                             : verb == "reset-2fa" ? about + "/totp"
                                                   : about + "/sessions";
    out = Call(*target, "DELETE", path);
    if (out.exit_code == kExitOk && !as_json) {
      if (verb == "end-sessions") {
        std::cout << "Ended " << Text(out.body.as_object(), "sessions_ended") << " session(s).\n";
      } else {
        std::cout << (verb == "delete" ? "Deleted " : "Second factor reset for ") << id_ << ".\n";
      }
    }
  } else if (verb == "unlock") {
    out = Call(*target, "POST", about + "/unlock");
    if (out.exit_code == kExitOk && !as_json) {
      std::cout << (out.body.at("was_locked").as_bool() ? "Unlocked " : "Was not locked: ") << id_
                << ".\n";
    }
  } else if (verb == "sessions") {
    out = Call(*target, "GET", about + "/sessions");
    if (out.exit_code == kExitOk && !as_json) {
      for (const auto& s : out.body.at("sessions").as_array()) {
        const auto& o = s.as_object();
        std::cout << Text(o, "session_id") << "  since " << Text(o, "created_at") << "  last "
                  << Text(o, "last_seen_at") << "  until " << Text(o, "expires_at") << "\n";
      }
      return kExitOk;
    }
  } else if (verb == "reset-password") {
    auto password = ObtainPassword(password_file_, password_prompt_);
    if (!password) return UsageError(password.error().message());
    if (!*password)
      return UsageError("give the new password: --password-file or --password-prompt");
    json::object body{{"password", (*password)->reveal_as_text()}};
    out = Call(*target, "POST", about + "/password", Serialise(body));
    if (out.exit_code == kExitOk && !as_json) {
      std::cout << "Password reset for " << id_ << "; it must be changed at the next sign-in.\n";
    }
  }
  if (out.exit_code == kExitOk && as_json && !out.body.is_null()) {
    std::cout << json::serialize(out.body) << "\n";
  }
  return out.exit_code;
}

int AdminCommands::RunToken() {
  auto target = ResolveTarget(token_common_);
  if (!target) return UsageError(target.error().message());
  const bool as_json = token_common_.output == "json";
  const auto sub = token_->get_subcommands();
  const std::string verb = sub.empty() ? "" : sub.front()->get_name();
  if ((verb != "list" || !id_.empty()) && !PlainId(id_)) {
    return UsageError("'" + id_ + "' is not an id");
  }
  Outcome out;
  if (verb == "list") {
    out = Call(*target, "GET", id_.empty() ? "/v1/tokens" : "/v1/principals/" + id_ + "/tokens");
    if (out.exit_code == kExitOk && !as_json) {
      for (const auto& t : out.body.at("tokens").as_array()) {
        const auto& o = t.as_object();
        std::cout << Text(o, "token_id") << "  " << Text(o, "principal_id") << "  "
                  << Text(o, "name") << "  " << Joined(o.if_contains("scopes")) << "  expires "
                  << Text(o, "expires_at") << "  last used " << Text(o, "last_used_at")
                  << (o.at("expired").as_bool() ? "  [expired]" : "") << "\n";
      }
      return kExitOk;
    }
  } else if (verb == "issue") {
    json::object body{{"name", name_}};
    if (!scopes_.empty()) body["scopes"] = JsonStrings(scopes_);
    if (expires_in_ > 0) body["expires_in_seconds"] = expires_in_;
    out = Call(*target, "POST", "/v1/principals/" + id_ + "/tokens", json::serialize(body));
    if (out.exit_code == kExitOk && !as_json) {
      const auto& o = out.body.as_object();
      // The token alone on standard output (for a pipe); what it is on standard error.
      std::cout << Text(o, "token") << "\n";
      std::cerr << "Issued " << Text(o, "token_id") << " to " << Text(o, "principal_id")
                << " (scopes " << Joined(o.if_contains("scopes")) << ", expires "
                << Text(o, "expires_at") << "). It is shown once: store it now.\n";
      return kExitOk;
    }
  } else if (verb == "revoke") {
    out = Call(*target, "DELETE", "/v1/tokens/" + id_);
    if (out.exit_code == kExitOk && !as_json) std::cout << "Revoked " << id_ << ".\n";
  }
  if (out.exit_code == kExitOk && as_json && !out.body.is_null()) {
    std::cout << json::serialize(out.body) << "\n";
  }
  return out.exit_code;
}

int AdminCommands::RunBan() {
  auto target = ResolveTarget(ban_common_);
  if (!target) return UsageError(target.error().message());
  const bool as_json = ban_common_.output == "json";
  const auto sub = ban_->get_subcommands();
  const std::string verb = sub.empty() ? "" : sub.front()->get_name();
  const auto print = [](const json::object& o) {
    std::cout << Text(o, "target") << "  " << Text(o, "cause") << "  by " << Text(o, "by")
              << "  until " << Text(o, "until");
    if (o.at("offence").as_int64() > 1) std::cout << "  offence " << o.at("offence").as_int64();
    if (const auto* reason = o.if_contains("reason"); reason != nullptr && reason->is_string()) {
      std::cout << "  (" << reason->get_string() << ")";
    }
    std::cout << "\n";
  };
  Outcome out;
  if (verb == "list") {
    out = Call(*target, "GET", "/v1/guard/bans");
    if (out.exit_code == kExitOk && !as_json) {
      if (!out.body.at("enabled").as_bool()) std::cout << "(the traffic guard is disabled)\n";
      for (const auto& ban : out.body.at("bans").as_array()) print(ban.as_object());
      return kExitOk;
    }
  } else if (verb == "add") {
    json::object body{{"target", target_}, {"minutes", minutes_}};
    if (!reason_.empty()) body["reason"] = reason_;
    out = Call(*target, "POST", "/v1/guard/bans", json::serialize(body));
    if (out.exit_code == kExitOk && !as_json) {
      std::cout << "Banned ";
      print(out.body.as_object());
      return kExitOk;
    }
  } else if (verb == "lift") {
    out = Call(*target, "POST", "/v1/guard/bans/lift",
               json::serialize(json::object{{"target", target_}}));
    if (out.exit_code == kExitOk && !as_json) {
      std::cout << "Lifted the ban on " << Text(out.body.as_object(), "target") << ".\n";
      return kExitOk;
    }
  }
  if (out.exit_code == kExitOk && as_json && !out.body.is_null()) {
    std::cout << json::serialize(out.body) << "\n";
  }
  return out.exit_code;
}

namespace {

// "running, 120 of ... examined, 118 moved" for a re-wrap job (null: none).
std::string RewrapLine(const json::value& job) {
  if (!job.is_object()) return "no rotation yet";
  const auto& o = job.as_object();
  std::string line = Text(o, "state") + " towards v" + Text(o, "target_version") + ": " +
                     Text(o, "keys_scanned") + " subject keys examined, " + Text(o, "keys_moved") +
                     " moved; started " + Text(o, "started_at");
  if (const auto* finished = o.if_contains("finished_at"); finished && finished->is_string()) {
    line += ", finished " + std::string(finished->get_string());
  }
  if (const auto* error = o.if_contains("last_error"); error && error->is_string()) {
    line += " (last batch failed: " + std::string(error->get_string()) + "; retrying)";
  }
  return line;
}

}  // namespace

int AdminCommands::RunKeys() {
  auto target = ResolveTarget(keys_common_);
  if (!target) return UsageError(target.error().message());
  const bool as_json = keys_common_.output == "json";
  const auto sub = keys_->get_subcommands();
  const std::string verb = sub.empty() ? "" : sub.front()->get_name();
  Outcome out;
  if (verb == "status") {
    out = Call(*target, "GET", "/v1/keys");
    if (out.exit_code == kExitOk && !as_json) {
      const auto& o = out.body.as_object();
      std::cout << "Tenant " << Text(o, "tenant") << ", current KEK v" << Text(o, "current_version")
                << "\n";
      for (const auto& v : o.at("versions").as_array()) {
        std::cout << "  v" << Text(v.as_object(), "version") << "  wraps "
                  << Text(v.as_object(), "subject_keys") << " subject key(s)"
                  << (v.as_object().at("current").as_bool() ? "  [current]" : "") << "\n";
      }
      std::cout << "Re-wrap: " << RewrapLine(o.at("rewrap")) << "\n";
      return kExitOk;
    }
  } else if (verb == "rotate") {
    out = Call(*target, "POST", "/v1/keys/rotate");
    if (out.exit_code == kExitOk && !as_json) {
      const auto& o = out.body.as_object();
      std::cout << "KEK v" << Text(o, "kek_version") << " is current; re-wrap "
                << RewrapLine(o.at("rewrap")) << "\n";
      return kExitOk;
    }
  } else if (verb == "retire") {
    out = Call(*target, "DELETE", "/v1/keys/versions/" + std::to_string(kek_version_));
    if (out.exit_code == kExitOk && !as_json) {
      std::cout << "Retired KEK v" << kek_version_
                << (out.body.as_object().at("purged_from_files").as_bool()
                        ? "; its bytes are gone from the metadata files.\n"
                        : "; its bytes leave the write-ahead log at the next checkpoint (a "
                          "backup held it off).\n");
      return kExitOk;
    }
  }
  if (out.exit_code == kExitOk && as_json && !out.body.is_null()) {
    std::cout << json::serialize(out.body) << "\n";
  }
  return out.exit_code;
}

}  // namespace strongroom::cli
