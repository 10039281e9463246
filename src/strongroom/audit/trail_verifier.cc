#include "strongroom/audit/trail_verifier.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>
#include <span>
#include <string_view>

#include "strongroom/audit/audit_entry.h"

namespace strongroom::audit {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kMaxEntryBytes = 1 << 20;  // the writer refuses larger (audit_trail.cc)

Result<std::string> ReadWholeFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kUnavailable, "cannot read " + path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Fail(ErrorCode::kUnavailable, "cannot read " + path.string());
  return bytes;
}

struct Pin {
  Checkpoint checkpoint;
  std::string source;
};

std::string Describe(const Pin& pin) {
  return "the checkpoint of size " + std::to_string(pin.checkpoint.size) + " signed " +
         pin.checkpoint.time + " (" + pin.source + ")";
}

// Whether the frame at `offset` is what a power loss leaves when the 512-byte sector (the unit a
// disk writes whole) holding the first 3 bytes of its length was not written and the next one
// was: a frame 3 bytes before a boundary, those 3 bytes zero, and what follows written, so the
// entry begins as entry `index` does. Only 3: every entry is over 255 bytes, so a whole length's
// third byte is never 0; 1 or 2 bytes before a boundary, zeros are what a length under 64 KiB
// holds anyway, and an entry there that does not parse was damaged, not torn.
bool LengthTornAtSector(std::span<const std::uint8_t> frame, std::uint64_t offset,
                        std::uint64_t index) {
  constexpr std::uint64_t kSector = 512;
  if ((offset + 3) % kSector != 0 || frame.size() < 4 || frame[0] != 0 || frame[1] != 0 ||
      frame[2] != 0) {
    return false;
  }
  const std::string prefix = R"({"v":1,"seq":)" + std::to_string(index) + ",";
  const std::string_view entry(reinterpret_cast<const char*>(frame.data()) + 4, frame.size() - 4);
  return entry.starts_with(prefix);
}

}  // namespace

Result<std::vector<SegmentFile>> ListSegments(const fs::path& dir) {
  std::vector<SegmentFile> out;
  const fs::path segments = dir / "segments";
  std::error_code ec;
  if (!fs::exists(segments, ec)) return out;
  for (const auto& item : fs::directory_iterator(segments, ec)) {
    const std::string name = item.path().filename().string();
    std::uint64_t first = 0;
    const bool named =
        name.size() == 24 && name.ends_with(".seg") &&
        std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }) &&
        std::from_chars(name.data(), name.data() + 20, first).ec == std::errc();
    if (!named || !item.is_regular_file()) {
      return Fail(ErrorCode::kDataLoss, "unexpected file in the audit segments directory: " + name);
    }
    out.push_back({first, item.path()});
  }
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot list " + segments.string());
  std::sort(out.begin(), out.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.first_seq < b.first_seq; });
  return out;
}

Result<std::vector<Result<Checkpoint>>> ReadCheckpointLog(const fs::path& file) {
  std::vector<Result<Checkpoint>> out;
  std::error_code ec;
  if (!fs::exists(file, ec)) return out;
  auto text = ReadWholeFile(file);
  if (!text) return std::unexpected(text.error());
  std::string_view rest = *text;
  while (!rest.empty()) {
    const auto newline = rest.find('\n');
    // A last line without its newline was cut by a crash while being appended: not a checkpoint.
    if (newline == std::string_view::npos) break;
    out.push_back(ParseCheckpoint(rest.substr(0, newline)));
    rest.remove_prefix(newline + 1);
  }
  return out;
}

Result<std::optional<Anchor>> ReadAnchor(const fs::path& dir) {
  const fs::path file = dir / "anchor.json";
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::optional<Anchor>();
  auto text = ReadWholeFile(file);
  if (!text) return std::unexpected(text.error());
  auto anchor = ParseAnchor(*text);
  if (!anchor) return Fail(ErrorCode::kDataLoss, file.string() + ": " + anchor.error().message());
  return std::optional<Anchor>(std::move(*anchor));
}

VerifyReport VerifyTrail(const VerifyOptions& options, const EntryFn& on_entry) {
  VerifyReport report;
  report.signatures_checked = options.public_key.has_value();
  bool failed = false;
  auto fail = [&](std::uint64_t first_bad, std::string reason) {
    failed = true;
    report.first_bad = first_bad;
    report.reason = std::move(reason);
  };

  // Every directory (archives first) adds its segments from its own beginning on (a segment below
  // its anchor is left over from an archiving pass cut short: its copy is in the archive), its
  // checkpoints and its anchor. The trail begins at the oldest beginning.
  std::vector<fs::path> dirs = options.archive_dirs;
  dirs.push_back(options.dir);
  std::vector<SegmentFile> segments;
  std::vector<Pin> pins;
  std::optional<Anchor> start_anchor;
  std::uint64_t start = UINT64_MAX;
  std::uint64_t last_good_size = 0;
  for (const fs::path& dir : dirs) {
    const std::string where = dir == options.dir ? "" : dir.string() + "/";
    auto anchor = ReadAnchor(dir);
    if (!anchor) {
      fail(0, anchor.error().message());
      return report;
    }
    if (*anchor && dir != options.dir) {
      // An archive is never archived itself: an anchor there would hide its segments.
      fail(0, where + "anchor.json: an archive directory holds no anchor");
      return report;
    }
    const std::uint64_t begins = *anchor ? (*anchor)->checkpoint.size : 0;
    if (begins < start) {
      if (start_anchor) pins.push_back({start_anchor->checkpoint, "anchor.json"});
      start = begins;
      start_anchor = *anchor;
    } else if (*anchor) {
      pins.push_back({(*anchor)->checkpoint, "anchor.json"});
    }
    auto listed = ListSegments(dir);
    if (!listed) {
      fail(0, listed.error().message());
      return report;
    }
    for (auto& segment : *listed) {
      if (segment.first_seq >= begins) segments.push_back(std::move(segment));
    }
    auto own = ReadCheckpointLog(dir / "checkpoints.log");
    if (!own) {
      fail(0, own.error().message());
      return report;
    }
    for (std::size_t i = 0; i < own->size(); ++i) {
      if (!(*own)[i]) {
        fail(last_good_size, where + "checkpoints.log line " + std::to_string(i + 1) + ": " +
                                 (*own)[i].error().message());
        return report;
      }
      last_good_size = std::max(last_good_size, (*own)[i]->size);
      pins.push_back({*(*own)[i], where + "checkpoints.log line " + std::to_string(i + 1)});
    }
  }
  for (std::size_t i = 0; i < options.pinned.size(); ++i) {
    pins.push_back({options.pinned[i], "pinned checkpoint " + std::to_string(i + 1)});
  }
  std::stable_sort(pins.begin(), pins.end(), [](const Pin& a, const Pin& b) {
    return a.checkpoint.size < b.checkpoint.size;
  });
  // A segment in two directories (copied to the archive, not yet removed here) must be the same.
  std::stable_sort(
      segments.begin(), segments.end(),
      [](const SegmentFile& a, const SegmentFile& b) { return a.first_seq < b.first_seq; });
  for (std::size_t i = 1; i < segments.size();) {
    if (segments[i].first_seq != segments[i - 1].first_seq) {
      ++i;
      continue;
    }
    auto a = ReadWholeFile(segments[i - 1].path);
    auto b = ReadWholeFile(segments[i].path);
    if (!a || !b || *a != *b) {
      fail(segments[i].first_seq,
           segments[i - 1].path.string() + " and " + segments[i].path.string() + " differ");
      return report;
    }
    segments.erase(segments.begin() + static_cast<std::ptrdiff_t>(i));
  }
  report.first = start;
  report.segments = segments;
  std::size_t next_pin = 0;

  CompactTree tree;
  Hash prev{};
  std::uint64_t index = start;
  if (start_anchor) {
    // The trail begins at an archive boundary: the anchor's checkpoint must be signed, and its
    // peaks must give its root; the tree then grows from them.
    const Checkpoint& c = start_anchor->checkpoint;
    auto restored = CompactTree::FromPeaks(c.size, start_anchor->peaks);
    if (options.public_key && !VerifyAnchorSignature(*start_anchor, *options.public_key)) {
      fail(start, "anchor.json does not carry a valid anchor signature of this key");
    } else if (c.size % 256 != 0) {
      fail(start, "anchor.json: an archive boundary is a multiple of 256 entries");
    } else if (!restored || restored->Root() != c.root) {
      fail(start, "anchor.json: its peaks do not give its signed root");
    } else {
      tree = std::move(*restored);
      report.first_peaks = start_anchor->peaks;
      prev = c.last_leaf;
      report.vouched = start;
      ++report.checkpoints;
    }
    if (failed) return report;
  }
  // A prev that does not match: either entry `suspect` - 1 was altered (its leaf hash changed),
  // or entry `suspect`'s own prev was. The next entry tells which: if its prev matches the
  // suspect's leaf hash, the suspect is intact.
  std::optional<std::uint64_t> suspect;
  Hash suspect_leaf{};

  // Checkpoints of size 0 vouch for nothing; checked for their signature only.
  auto check_pins = [&](const Hash& last_leaf) {
    while (!failed && next_pin < pins.size() && pins[next_pin].checkpoint.size <= index) {
      const Pin& pin = pins[next_pin++];
      if (pin.checkpoint.size < start) {
        ++report.archived_checkpoints;
        continue;
      }
      if (options.public_key && !VerifySignature(pin.checkpoint, *options.public_key)) {
        fail(report.vouched, Describe(pin) +
                                 " does not carry a valid signature of this key (valid "
                                 "checkpoints vouch for the entries before " +
                                 std::to_string(report.vouched) + ")");
        return;
      }
      if (pin.checkpoint.size == 0) continue;
      if (pin.checkpoint.root != tree.Root() || pin.checkpoint.last_leaf != last_leaf) {
        fail(report.vouched, "entries " + std::to_string(report.vouched) + " to " +
                                 std::to_string(index - 1) + " do not match " + Describe(pin) +
                                 " (rewritten or forked after entry " +
                                 std::to_string(report.vouched) + ")");
        return;
      }
      report.vouched = pin.checkpoint.size;
      ++report.checkpoints;
    }
  };
  check_pins(prev);

  for (std::size_t s = 0; s < segments.size() && !failed; ++s) {
    const SegmentFile& segment = segments[s];
    const bool last_segment = s + 1 == segments.size();
    if (segment.first_seq != index) {
      fail(index, "segment " + segment.path.filename().string() + " should start at entry " +
                      std::to_string(index));
      break;
    }
    auto bytes = ReadWholeFile(segment.path);
    if (!bytes) {
      fail(index, bytes.error().message());
      break;
    }
    const auto* data = reinterpret_cast<const std::uint8_t*>(bytes->data());
    std::uint64_t offset = 0;
    while (offset < bytes->size() && !failed) {
      const std::uint64_t left = bytes->size() - offset;
      std::uint32_t length = 0;
      if (left >= 4) {
        length = (std::uint32_t{data[offset]} << 24) | (std::uint32_t{data[offset + 1]} << 16) |
                 (std::uint32_t{data[offset + 2]} << 8) | std::uint32_t{data[offset + 3]};
      }
      if (last_segment && (left < 4 || length == 0)) {
        // The end of the frames. Past it: zeros the writer reserved ahead of its entries (a clean
        // end), or also pieces of a batch a crash left on the disk out of order (never
        // acknowledged: a torn tail like a frame cut short).
        const bool reserved =
            std::all_of(data + offset, data + bytes->size(), [](std::uint8_t b) { return b == 0; });
        if (reserved) break;
        if (left >= 4 && !suspect) {
          report.torn_tail = true;
          report.torn_segment = s;
          report.torn_offset = offset;
          break;
        }
      }
      if (left >= 4 && (length == 0 || length > kMaxEntryBytes)) {
        fail(suspect ? *suspect - 1 : index, "entry " + std::to_string(index) + ": frame length " +
                                                 std::to_string(length) + " is impossible (" +
                                                 segment.path.filename().string() + " at byte " +
                                                 std::to_string(offset) + ")");
        break;
      }
      if (left < 4 || left - 4 < length) {
        if (last_segment && !suspect) {
          report.torn_tail = true;
          report.torn_segment = s;
          report.torn_offset = offset;
        } else {
          fail(suspect ? *suspect - 1 : index, "entry " + std::to_string(index) +
                                                   ": frame cut short inside " +
                                                   segment.path.filename().string());
        }
        break;
      }
      const std::span<const std::uint8_t> entry(data + offset + 4, length);
      if (last_segment && !suspect && std::memchr(entry.data(), 0, entry.size()) != nullptr) {
        // An entry is JSON text, which holds no zero byte: this frame was written over reserved
        // zeros and did not reach the disk whole (a crash mid-write; never acknowledged).
        report.torn_tail = true;
        report.torn_segment = s;
        report.torn_offset = offset;
        break;
      }
      const Hash leaf = LeafHash(entry);
      auto head = ReadEntryHead(entry);
      if (suspect) {
        // Only here to tell which of two entries was altered.
        const bool suspect_intact = head && head->prev == suspect_leaf;
        fail(suspect_intact ? *suspect - 1 : *suspect,
             suspect_intact ? "entry " + std::to_string(*suspect - 1) +
                                  " was altered (its hash is not what entry " +
                                  std::to_string(*suspect) + " chains to)"
                            : "entry " + std::to_string(*suspect) +
                                  " was altered (it does not chain to entry " +
                                  std::to_string(*suspect - 1) + ")");
        break;
      }
      if (!head && last_segment &&
          LengthTornAtSector({data + offset, 4 + std::size_t{length}}, offset, index)) {
        // The length's first bytes were in a 512-byte sector that a power loss left unwritten
        // (zeros) and the rest in one that was written: it reads short, and the entry is cut.
        report.torn_tail = true;
        report.torn_segment = s;
        report.torn_offset = offset;
        break;
      }
      if (!head) {
        fail(index, "entry " + std::to_string(index) + ": " + head.error().message() + " (" +
                        segment.path.filename().string() + " at byte " + std::to_string(offset) +
                        ")");
        break;
      }
      if (head->seq != index) {
        fail(index, "entry " + std::to_string(index) + " carries seq " + std::to_string(head->seq) +
                        " (entries removed, reordered or inserted)");
        break;
      }
      if (head->prev != prev) {
        if (index == start) {
          fail(index, index == 0 ? std::string("entry 0 does not start the chain")
                                 : "entry " + std::to_string(index) +
                                       " does not chain to the anchor (anchor.json's last leaf)");
          break;
        }
        suspect = index;
        suspect_leaf = leaf;
        offset += 4 + length;
        continue;
      }
      if (on_entry) on_entry(index, leaf, s, offset);
      tree.Append(leaf);
      prev = leaf;
      ++index;
      report.entries = index - start;
      offset += 4 + length;
      check_pins(leaf);
    }
    if (last_segment) report.end_offset = report.torn_tail ? report.torn_offset : offset;
  }
  if (suspect && !failed) {
    // The altered entry was the last: the earliest candidate is named.
    fail(*suspect - 1, "entry " + std::to_string(*suspect - 1) + " or the last entry " +
                           std::to_string(*suspect) +
                           " was altered (the chain breaks between them)");
  }
  if (!failed && next_pin < pins.size()) {
    const Pin& pin = pins.back();
    if (options.public_key && !VerifySignature(pin.checkpoint, *options.public_key)) {
      fail(report.vouched, Describe(pin) + " does not carry a valid signature of this key");
    } else {
      fail(index, Describe(pin) + " vouches for " + std::to_string(pin.checkpoint.size) +
                      " entries but the trail has " + std::to_string(index) + ": entries " +
                      std::to_string(index) + " on were removed");
    }
  }
  report.ok = !failed;
  return report;
}

}  // namespace strongroom::audit
