// libFuzzer target: the erasure ledger's reader (privacy/erasure_ledger.h), which a restore runs
// on files from backup targets an attacker may have written.
// Mode 0: arbitrary bytes as a ledger: Read must refuse them or return receipts, never crash or
// leak (ASan, UBSan); a receipt it returns names an "esn_" pseudonym and a tenant.
// Mode 1: a ledger that Append wrote for a fuzzed (ASCII) tenant and subject, with one fuzzed byte
// changed at a fuzzed place: unchanged it reads back as exactly that receipt; changed inside
// the signed receipt or its signature, Read refuses it (or, for the newline, finds no receipt).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "strongroom/base/files.h"
#include "strongroom/crypto/kdf.h"
#include "strongroom/privacy/erasure_ledger.h"

namespace {

using strongroom::privacy::ErasureLedger;
using strongroom::privacy::LedgerKeys;

const std::filesystem::path& Scratch() {
  static const std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("sr-fuzz-ledger-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

const LedgerKeys& Keys() {
  static const LedgerKeys keys = [] {
    static const std::uint8_t root[32] = {7};
    auto made = LedgerKeys::FromRoot([](std::string_view info) {
      return strongroom::crypto::HkdfSha256(
          root, {}, {reinterpret_cast<const std::uint8_t*>(info.data()), info.size()}, 32);
    });
    if (!made) std::abort();
    return std::move(*made);
  }();
  return keys;
}

void WriteFile(const std::filesystem::path& file, std::string_view text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::filesystem::path file = Scratch() / "ledger.jsonl";
  std::filesystem::remove(file);
  const std::string_view text(reinterpret_cast<const char*>(data + 4), size - 4);
  if (data[0] % 2 == 0) {
    WriteFile(file, text);
    auto receipts = ErasureLedger::Read(file, Keys());
    if (receipts) {
      for (const auto& r : *receipts) {
        if (r.tenant.empty() || !r.subject.starts_with("esn_")) std::abort();
      }
    }
    return 0;
  }
  // Tenant and subject ids are ASCII in a vault (quotes and backslashes included here, for the
  // JSON escapes): the bytes are folded into printable ASCII.
  std::string ascii(text);
  for (char& c : ascii) c = static_cast<char>(' ' + static_cast<unsigned char>(c) % 95);
  const std::size_t split = ascii.size() / 2;
  const std::string tenant = ascii.substr(0, split);
  const std::string subject = ascii.substr(split);
  if (tenant.empty()) return 0;
  ErasureLedger ledger(file);
  auto line = ledger.Append(Keys(), "ers_AAAAAAAAAAAAAAAAAAAAAA", tenant, subject,
                            "2026-11-23T10:00:00Z", {});
  if (!line) std::abort();
  auto written = strongroom::ReadWholeFile(file);
  if (!written) std::abort();
  std::string bytes = *written;
  const std::size_t at = (static_cast<std::size_t>(data[1]) << 8 | data[2]) % bytes.size();
  const char was = bytes[at];
  bytes[at] = static_cast<char>(data[3]);
  WriteFile(file, bytes);
  auto receipts = ErasureLedger::Read(file, Keys());
  if (was == bytes[at]) {
    if (!receipts || receipts->size() != 1 || receipts->front().tenant != tenant) std::abort();
    return 0;
  }
  // The public key rides along unsigned (Read checks against Keys()); anything else changed
  // must be refused, but for the final newline: without it the line was never acknowledged and
  // reads as no receipt at all.
  const std::size_t unsigned_from = written->find(",\"public_key\":");
  if (at < unsigned_from && receipts && !receipts->empty()) std::abort();
  if (at + 1 == bytes.size() && receipts && !receipts->empty()) std::abort();
  return 0;
}
