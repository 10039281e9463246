// The one translation unit that instantiates boost::json::basic_parser (heavy templates).
#include "strongroom/records/json_input.h"

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>
#include <string>
#include <unordered_set>
#include <vector>

#include "strongroom/base/card_numbers.h"

namespace strongroom::records {
namespace {

constexpr std::size_t kMaxDepth = 32;
// No request of the API needs more; a bound keeps the duplicate-key check's hash set (and a
// hash-collision attack on it) small.
constexpr std::size_t kMaxMembers = 1000;
constexpr std::size_t kMaxItems = 100'000;

// A SAX handler that only checks keys: the value itself is built by boost::json::parse in a
// second pass once the text is known to be acceptable. (Boost.JSON 1.81 has no option to refuse
// duplicate keys; it silently keeps one.)
class DuplicateKeyCheck {
 public:
  static constexpr std::size_t max_object_size = kMaxMembers;
  static constexpr std::size_t max_array_size = kMaxItems;
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::string duplicate_path;

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_array_begin(boost::system::error_code&) {
    Enter(false);
    return true;
  }
  bool on_array_end(std::size_t, boost::system::error_code&) {
    Leave();
    return true;
  }
  bool on_object_begin(boost::system::error_code&) {
    Enter(true);
    return true;
  }
  bool on_object_end(std::size_t, boost::system::error_code&) {
    Leave();
    return true;
  }
  bool on_string_part(boost::json::string_view, std::size_t, boost::system::error_code&) {
    return true;
  }
  bool on_string(boost::json::string_view, std::size_t, boost::system::error_code&) {
    return Scalar();
  }
  bool on_key_part(boost::json::string_view s, std::size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(boost::json::string_view s, std::size_t, boost::system::error_code& ec) {
    key_.append(s.data(), s.size());
    Frame& frame = frames_.back();
    if (!frame.keys.insert(key_).second) {
      duplicate_path = JsonPathKey(PathOf(frames_.size() - 1), key_);
      ec = boost::json::error::syntax;  // any error: the caller reports duplicate_path
      return false;
    }
    frame.current_key = std::move(key_);
    key_.clear();
    return true;
  }
  bool on_number_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_int64(std::int64_t, boost::json::string_view, boost::system::error_code&) {
    return Scalar();
  }
  bool on_uint64(std::uint64_t, boost::json::string_view, boost::system::error_code&) {
    return Scalar();
  }
  bool on_double(double, boost::json::string_view, boost::system::error_code&) { return Scalar(); }
  bool on_bool(bool, boost::system::error_code&) { return Scalar(); }
  bool on_null(boost::system::error_code&) { return Scalar(); }
  bool on_comment_part(boost::json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(boost::json::string_view, boost::system::error_code&) { return true; }

 private:
  struct Frame {
    bool is_object;
    std::size_t index = 0;  // arrays: position of the next element
    std::string current_key;
    std::unordered_set<std::string> keys;
  };
  void Enter(bool is_object) { frames_.push_back(Frame{is_object, 0, {}, {}}); }
  void Leave() {
    frames_.pop_back();
    Scalar();  // a finished container is one element of its parent
  }
  bool Scalar() {
    if (!frames_.empty() && !frames_.back().is_object) ++frames_.back().index;
    return true;
  }
  // The path of the value at frames_[depth].
  std::string PathOf(std::size_t depth) const {
    std::string path = "$";
    for (std::size_t i = 0; i < depth; ++i) {
      const Frame& f = frames_[i];
      path = f.is_object ? JsonPathKey(path, f.current_key) : JsonPathIndex(path, f.index);
    }
    return path;
  }

  std::vector<Frame> frames_;
  std::string key_;
};

bool IsIdentifier(std::string_view key) {
  if (key.empty()) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string JsonPathKey(std::string_view parent, std::string_view key) {
  std::string path(parent);
  // A path goes back to the client and into the audit trail: a key holding a card number is
  // named without it (card data is never stored, docs/privacy.md).
  if (ContainsCardNumber(key)) return path + "['<card number removed>']";
  if (IsIdentifier(key)) {
    path.push_back('.');
    path.append(key);
    return path;
  }
  // Quoted form; a key can hold anything, so it is shortened and stripped of control bytes.
  path.append("['");
  std::size_t n = 0;
  for (char c : key) {
    if (++n > 64) {
      path.append("...");
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || c == '\'' || c == '\\') {
      path.push_back('?');
    } else {
      path.push_back(c);
    }
  }
  path.append("']");
  return path;
}

std::string JsonPathIndex(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

Result<void> RefuseUnknownMembers(const boost::json::object& object,
                                  std::initializer_list<std::string_view> allowed,
                                  const std::string& path) {
  for (const auto& [key, value] : object) {
    bool known = false;
    for (auto name : allowed) known = known || name == std::string_view(key);
    if (!known) return FailAt(JsonPathKey(path, key), "unknown_field", "is not a known member");
  }
  return {};
}

Result<boost::json::value> ParseStrictJson(std::string_view text) {
  boost::json::parse_options options;
  options.max_depth = kMaxDepth;
  {
    boost::json::basic_parser<DuplicateKeyCheck> checker(options);
    boost::system::error_code ec;
    const std::size_t consumed = checker.write_some(false, text.data(), text.size(), ec);
    if (!checker.handler().duplicate_path.empty()) {
      return FailAt(checker.handler().duplicate_path, "duplicate_key",
                    "an object has the same key twice");
    }
    if (ec == boost::json::error::object_too_large) {
      return FailAt("$", "max_members",
                    "a JSON object has more than " + std::to_string(kMaxMembers) + " members");
    }
    if (ec == boost::json::error::array_too_large) {
      return FailAt("$", "max_items",
                    "a JSON array has more than " + std::to_string(kMaxItems) + " items");
    }
    if (ec || consumed != text.size()) {
      const bool too_deep = ec == boost::json::error::too_deep;
      // ec.message() names the problem ("syntax error", "illegal UTF-8"), never the input.
      std::string message = too_deep ? "JSON is nested deeper than 32 levels"
                                     : "malformed JSON at byte " + std::to_string(consumed) + ": " +
                                           (ec ? ec.message() : std::string("extra data"));
      return FailAt("$", too_deep ? "max_depth" : "json", std::move(message));
    }
  }
  boost::system::error_code ec;
  boost::json::value value = boost::json::parse(text, ec, {}, options);
  if (ec) return FailAt("$", "json", "malformed JSON: " + ec.message());
  return value;
}

}  // namespace strongroom::records
