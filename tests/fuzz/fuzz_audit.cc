// libFuzzer target: what reads audit files an attacker may have written
// (audit/audit_entry.h, audit/checkpoint.h, audit/trail_verifier.h): an entry's strict prefix,
// a checkpoint line, a public-key file, a whole segment through the verifier, and an archive
// anchor (parsed, then verified as the start of an empty trail).
// Properties: a parsed entry head's seq is the digits that follow the prefix; a parsed checkpoint
// or anchor re-encodes to text that parses to the same; a verified segment holds at least
// 5 bytes per entry it vouched for; nothing crashes or leaks (ASan, UBSan).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "strongroom/audit/audit_entry.h"
#include "strongroom/audit/checkpoint.h"
#include "strongroom/audit/trail_verifier.h"

namespace {

const std::filesystem::path& Scratch() {
  static const std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("sr-fuzz-audit-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d / "segments");
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace strongroom::audit;  // NOLINT(google-build-using-namespace): a fuzz target
  if (size == 0) return 0;
  const std::uint8_t mode = data[0] % 5;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::span<const std::uint8_t> bytes(data + 1, size - 1);
  switch (mode) {
    case 0: {
      auto head = ReadEntryHead(bytes);
      if (head) {
        const std::string digits = std::to_string(head->seq);
        if (text.substr(13, digits.size()) != digits) std::abort();
      }
      break;
    }
    case 1: {
      auto checkpoint = ParseCheckpoint(text);
      if (checkpoint) {
        auto again = ParseCheckpoint(EncodeCheckpoint(*checkpoint));
        if (!again || again->size != checkpoint->size || again->root != checkpoint->root ||
            again->signature != checkpoint->signature || again->time != checkpoint->time) {
          std::abort();
        }
      }
      break;
    }
    case 2:
      (void)ParsePublicKeyFile(text);
      break;
    case 4: {
      auto anchor = ParseAnchor(text);
      if (!anchor) break;
      auto again = ParseAnchor(EncodeAnchor(*anchor));
      if (!again || again->peaks != anchor->peaks ||
          again->checkpoint.size != anchor->checkpoint.size) {
        std::abort();
      }
      const auto dir = Scratch() / "anchored";
      std::filesystem::create_directories(dir);
      {
        std::ofstream out(dir / "anchor.json", std::ios::binary | std::ios::trunc);
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
      }
      VerifyOptions options;
      options.dir = dir;
      const VerifyReport report = VerifyTrail(options);
      if (report.ok && report.first != anchor->checkpoint.size) std::abort();
      break;
    }
    default: {
      {
        std::ofstream segment(Scratch() / "segments" / "00000000000000000000.seg",
                              std::ios::binary | std::ios::trunc);
        segment.write(text.data(), static_cast<std::streamsize>(text.size()));
      }
      VerifyOptions options;
      options.dir = Scratch();
      const VerifyReport report = VerifyTrail(options);
      if (report.ok && report.entries * 5 > text.size()) std::abort();
      break;
    }
  }
  return 0;
}
