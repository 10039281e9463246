#include "strongroom/privacy/erasure_ledger.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <utility>

#include "strongroom/base/files.h"
#include "strongroom/crypto/digest.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/crypto/random.h"

namespace strongroom::privacy {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::span<const std::uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// The chain link of a line: "sha256:" + hex of its bytes (without the newline).
std::string LinkOf(std::string_view line) {
  return "sha256:" + crypto::HexEncode(crypto::Sha256(line));
}

// The complete lines of a ledger's text: up to and including its last newline. A tail after it
// is a line a crash cut short, never acknowledged.
std::string_view CompleteLines(std::string_view text) {
  const auto last = text.rfind('\n');
  return last == std::string_view::npos ? std::string_view() : text.substr(0, last + 1);
}

// The last complete line ("" if none), without its newline.
std::string_view LastLine(std::string_view text) {
  std::string_view body = CompleteLines(text);
  if (body.empty()) return {};
  body.remove_suffix(1);
  const auto start = body.rfind('\n');
  return start == std::string_view::npos ? body : body.substr(start + 1);
}

// The file's text; "" if it does not exist. Any other failure (permissions, I/O, a stale
// mount) is an error: a ledger that cannot be read must not pass for an empty one.
Result<std::string> ReadLedger(const fs::path& file) {
  std::error_code ec;
  const auto status = fs::symlink_status(file, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    return Fail(ErrorCode::kUnavailable,
                "cannot read the erasure ledger " + file.string() + ": " + ec.message());
  }
  if (!fs::exists(status)) return std::string();
  return ReadWholeFile(file);
}

// The server and the CLI may both append to a ledger or replace a copy: an flock beside it.
Result<FileLock> LockLedger(const fs::path& ledger) {
  return FileLock::Take(ledger.string() + ".lock", /*wait=*/true);
}

// The ledger's text under its lock (held as long as the returned lock lives).
struct LockedText {
  FileLock lock;
  std::string text;
};
Result<LockedText> ReadLocked(const fs::path& ledger) {
  auto lock = LockLedger(ledger);
  if (!lock) return std::unexpected(lock.error());
  auto text = ReadLedger(ledger);
  if (!text) return std::unexpected(text.error());
  return LockedText{std::move(*lock), std::move(*text)};
}

}  // namespace

Result<LedgerKeys> LedgerKeys::FromRoot(const RootDerivation& derive) {
  auto seed = derive(kSignInfo);
  auto mac_key = derive(kSubjectInfo);
  if (!seed || !mac_key) return Fail(ErrorCode::kInternal, "erasure ledger key derivation");
  auto signer = crypto::Ed25519Signer::FromSeed(seed->reveal());
  if (!signer) return std::unexpected(signer.error());
  auto mac = crypto::HmacSha256::Create(mac_key->reveal());
  if (!mac) return std::unexpected(mac.error());
  return LedgerKeys(std::move(*signer), std::move(*mac));
}

Result<std::string> LedgerKeys::SubjectPseudonym(std::string_view tenant,
                                                 std::string_view subject) const {
  // Length-prefixed, so ("a", "b/c") and ("a/b", "c") cannot collide.
  std::string message = std::to_string(tenant.size()) + ":";
  message.append(tenant).append(subject);
  auto mac = subject_mac_.Compute(AsBytes(message));
  if (!mac) return std::unexpected(mac.error());
  return "esn_" + crypto::Base64UrlEncode(*mac);
}

std::string LedgerKeys::PublicKeyText() const {
  return crypto::Base64UrlEncode(signer_.public_key());
}

json::object ErasureCounts::ToJson() const {
  return json::object{{"keys", keys},
                      {"records", records},
                      {"index_entries", index_entries},
                      {"activity_events", activity_events},
                      {"documents", documents},
                      {"document_chunks", document_chunks},
                      {"consents", consents},
                      {"processing", processing},
                      {"tokens", tokens}};
}

Result<std::string> ErasureLedger::NewReceiptId() {
  std::array<std::uint8_t, 16> random{};
  if (auto filled = crypto::FillRandom(random); !filled) return std::unexpected(filled.error());
  return "ers_" + crypto::Base64UrlEncode(random);
}

Result<json::object> ErasureLedger::Append(const LedgerKeys& keys, std::string_view receipt_id,
                                           std::string_view tenant, std::string_view subject,
                                           std::string_view erased_at,
                                           const ErasureCounts& destroyed) {
  auto pseudonym = keys.SubjectPseudonym(tenant, subject);
  if (!pseudonym) return std::unexpected(pseudonym.error());
  std::lock_guard lock(mu_);
  auto locked = ReadLocked(file_);
  if (!locked) return std::unexpected(locked.error());
  const std::string_view complete = CompleteLines(locked->text);
  if (complete.size() != locked->text.size()) {
    // A receipt a crash (or a full disk) cut short was never acknowledged: it goes.
    std::error_code ec;
    fs::resize_file(file_, complete.size(), ec);
    if (ec) {
      return Fail(ErrorCode::kUnavailable,
                  "cannot cut the unfinished last line of " + file_.string() + ": " + ec.message());
    }
  }
  const std::string_view last = LastLine(complete);
  json::object receipt{{"v", 1},
                       {"id", receipt_id},
                       {"tenant", tenant},
                       {"subject", *pseudonym},
                       {"erased_at", erased_at},
                       {"destroyed", destroyed.ToJson()},
                       {"prev", last.empty() ? std::string("none") : LinkOf(last)}};
  const std::string signed_bytes = json::serialize(receipt);
  const auto signature = keys.signer().Sign(AsBytes(signed_bytes));
  json::object line{{"receipt", std::move(receipt)},
                    {"signature", crypto::Base64UrlEncode(signature)},
                    {"public_key", keys.PublicKeyText()}};
  const std::string bytes = json::serialize(line) + "\n";
  std::error_code ec;
  const bool created = !fs::exists(file_, ec);
  if (auto written = WriteFileRange(file_, complete.size(), AsBytes(bytes), /*exclusive=*/false);
      !written) {
    return std::unexpected(written.error());
  }
  if (created) {
    const fs::path dir = file_.has_parent_path() ? file_.parent_path() : fs::path(".");
    if (auto synced = SyncDirectory(dir); !synced) {
      return std::unexpected(synced.error());
    }
  }
  return line;
}

Result<std::optional<json::object>> ErasureLedger::Find(std::string_view receipt_id) {
  std::lock_guard lock(mu_);
  auto text = ReadLedger(file_);
  if (!text) return std::unexpected(text.error());
  const std::string needle = "\"id\":\"" + std::string(receipt_id) + "\"";
  const std::string_view complete = CompleteLines(*text);
  const auto at = complete.find(needle);
  if (at == std::string_view::npos) return std::optional<json::object>();
  const auto begin = complete.rfind('\n', at);
  const auto from = begin == std::string_view::npos ? 0 : begin + 1;
  const std::string_view line = complete.substr(from, complete.find('\n', at) - from);
  boost::system::error_code ec;
  json::value parsed = json::parse(line, ec);
  const json::object* o = ec ? nullptr : parsed.if_object();
  const json::value* receipt = o != nullptr ? o->if_contains("receipt") : nullptr;
  const bool well_formed = receipt != nullptr && receipt->is_object() &&
                           receipt->as_object().contains("subject") &&
                           receipt->as_object().at("subject").is_string() &&
                           receipt->as_object().contains("destroyed") &&
                           receipt->as_object().at("destroyed").is_object();
  if (!well_formed) {
    return Fail(ErrorCode::kDataLoss, "erasure ledger " + file_.string() + ": a malformed line");
  }
  return std::optional<json::object>(std::move(parsed.as_object()));
}

Result<void> ErasureLedger::CopyTo(const fs::path& dir) {
  std::lock_guard lock(mu_);
  auto locked = ReadLocked(file_);
  if (!locked) return std::unexpected(locked.error());
  const std::string_view complete = CompleteLines(locked->text);
  if (complete.empty()) return {};  // nothing to copy: the target is left untouched
  std::error_code exists_ec;
  if (!fs::is_directory(dir, exists_ec)) {
    return Fail(ErrorCode::kFailedPrecondition, dir.string() + " is not a directory");
  }
  auto copy_lock = FileLock::Take(dir / ".erasure-ledger.lock", /*wait=*/true);
  if (!copy_lock) return std::unexpected(copy_lock.error());
  const fs::path copy = dir / kLedgerCopyName;
  auto there = ReadLedger(copy);
  if (!there) return std::unexpected(there.error());
  const std::string_view there_complete = CompleteLines(*there);
  if (there_complete == complete) return {};
  if (!complete.starts_with(there_complete)) {
    return Fail(ErrorCode::kFailedPrecondition,
                copy.string() + " holds receipts that " + file_.string() +
                    " lacks: it is kept (the server takes it over at its next start if this "
                    "ledger is a prefix of it; otherwise merge them by hand)");
  }
  return WriteFileAtomically(copy, complete, 0600);
}

Result<bool> ErasureLedger::AdoptLongerCopy(const std::vector<fs::path>& dirs,
                                            const LedgerKeys& keys) {
  std::lock_guard lock(mu_);
  auto locked = ReadLocked(file_);
  if (!locked) return std::unexpected(locked.error());
  std::string best(CompleteLines(locked->text));
  const std::size_t had = best.size();
  std::string problems;
  const auto report = [&](const std::string& problem) {
    problems += (problems.empty() ? "" : "; ") + problem;
  };
  for (const fs::path& dir : dirs) {
    const fs::path copy = dir / kLedgerCopyName;
    auto there = ReadLedger(copy);
    if (!there) {
      report(there.error().message());
      continue;
    }
    const std::string_view complete = CompleteLines(*there);
    if (complete.size() > best.size() && complete.starts_with(best)) {
      // Only a copy this vault signed, unbroken, is taken: not another vault's on a shared
      // target, nor one somebody wrote.
      if (auto checked = Read(copy, keys); !checked) {
        report(checked.error().message());
        continue;
      }
      best = std::string(complete);
    } else if (!best.starts_with(complete)) {
      report(copy.string() + " differs from " + file_.string());
    }
  }
  if (best.size() > had) {
    if (auto written = WriteFileAtomically(file_, best, 0600); !written) {
      return std::unexpected(written.error());
    }
  }
  if (!problems.empty()) return Fail(ErrorCode::kFailedPrecondition, problems);
  return best.size() > had;
}

Result<std::vector<LedgerReceipt>> ErasureLedger::Read(const fs::path& file,
                                                       const LedgerKeys& keys) {
  auto text = ReadLedger(file);
  if (!text) return std::unexpected(text.error());
  std::vector<LedgerReceipt> receipts;
  std::string previous = "none";
  std::size_t number = 0;
  std::string_view rest = *text;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    ++number;
    const auto bad = [&](std::string_view why) {
      return Fail(ErrorCode::kDataLoss, "erasure ledger " + file.string() + ", line " +
                                            std::to_string(number) + ": " + std::string(why));
    };
    if (end == std::string_view::npos) break;  // never acknowledged: CompleteLines
    boost::system::error_code ec;
    const json::value parsed = json::parse(line, ec);
    const json::object* o = parsed.if_object();
    const json::object* receipt =
        o != nullptr && o->contains("receipt") ? o->at("receipt").if_object() : nullptr;
    const json::string* signature =
        o != nullptr && o->contains("signature") ? o->at("signature").if_string() : nullptr;
    if (ec || receipt == nullptr || signature == nullptr) return bad("not a receipt");
    // The signature covers the receipt's bytes as written, which must also be its compact
    // serialisation (the form Append signs): then no two spellings of one receipt both verify.
    constexpr std::string_view kHead = "{\"receipt\":";
    const std::string canonical = json::serialize(*receipt);
    if (!line.starts_with(kHead) || line.substr(kHead.size(), canonical.size()) != canonical) {
      return bad("the receipt is not in its signed form");
    }
    const auto sig = crypto::Base64UrlDecode(*signature);
    crypto::Ed25519Signature sig_bytes{};
    if (!sig || sig->size() != sig_bytes.size() || crypto::Base64UrlEncode(*sig) != *signature) {
      return bad("malformed signature");
    }
    std::copy(sig->begin(), sig->end(), sig_bytes.begin());
    if (!crypto::Ed25519Verify(keys.signer().public_key(), AsBytes(canonical), sig_bytes)) {
      return bad("the signature does not verify (altered, or another vault's)");
    }
    const auto text_of = [&](std::string_view name) -> std::string {
      const json::value* v = receipt->if_contains(name);
      return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
    };
    if (text_of("prev") != previous) return bad("out of order, or a line before it is missing");
    LedgerReceipt r{text_of("id"), text_of("tenant"), text_of("subject"), text_of("erased_at")};
    if (r.tenant.empty() || !r.subject.starts_with("esn_")) return bad("not a receipt");
    receipts.push_back(std::move(r));
    previous = LinkOf(line);
  }
  return receipts;
}

Result<ErasedSubjects> ReadErasedSubjects(const std::vector<fs::path>& ledgers,
                                          const std::vector<fs::path>& copies,
                                          const LedgerKeys& keys) {
  ErasedSubjects erased;
  const std::string ours = "\"public_key\":\"" + keys.PublicKeyText() + "\"";
  const auto take = [&](const fs::path& ledger, bool required) -> Result<void> {
    const auto skip_or_fail = [&](const Error& error) -> Result<void> {
      if (required) return std::unexpected(error);
      erased.skipped.push_back(ledger.string() + " (" + error.message() + ")");
      return {};
    };
    auto text = ReadLedger(ledger);
    if (!text) return skip_or_fail(text.error());
    const std::string_view complete = CompleteLines(*text);
    if (complete.empty()) return {};
    const std::string_view first = complete.substr(0, complete.find('\n'));
    if (first.find("\"public_key\":\"") != std::string_view::npos &&
        first.find(ours) == std::string_view::npos) {
      // Another vault's: its signatures are not ours to check.
      erased.skipped.push_back(ledger.string() + " (another vault's ledger)");
      return {};
    }
    auto receipts = ErasureLedger::Read(ledger, keys);
    if (!receipts) return skip_or_fail(receipts.error());
    for (auto& r : *receipts) {
      erased.ids.insert(std::move(r.id));
      erased.by_tenant[r.tenant].insert(std::move(r.subject));
    }
    if (complete.size() > erased.longest.size()) erased.longest = std::string(complete);
    return {};
  };
  for (const fs::path& ledger : ledgers) {
    if (auto done = take(ledger, true); !done) return std::unexpected(done.error());
  }
  for (const fs::path& copy : copies) {
    if (auto done = take(copy, false); !done) return std::unexpected(done.error());
  }
  return erased;
}

}  // namespace strongroom::privacy
