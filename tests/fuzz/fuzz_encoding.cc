// libFuzzer target: the small parsers of untrusted text: base64url (tokens), hex, listen addresses,
// and the log escaper (which must turn any bytes into a valid JSON string body).
// Properties: base64url decode(x) succeeds only for canonical x (encode(decode(x)) == x); hex
// decoding round-trips up to letter case; a parsed address
// prints to text that parses back to the same address; escaped text has no raw control bytes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "strongroom/base/net_address.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/observe/log.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto decoded = strongroom::crypto::Base64UrlDecode(text)) {
    if (strongroom::crypto::Base64UrlEncode(*decoded) != text) std::abort();
  }
  if (const auto decoded = strongroom::crypto::HexDecode(text)) {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    if (strongroom::crypto::HexEncode(*decoded) != lower) std::abort();
  }
  if (const auto address = strongroom::ParseNetAddress(text)) {
    const auto again = strongroom::ParseNetAddress(address->ToString());
    if (!again || !(*again == *address)) std::abort();
  }
  std::string escaped;
  strongroom::observe::AppendJsonEscaped(escaped, text);
  for (std::size_t i = 0; i < escaped.size(); ++i) {
    const auto c = static_cast<unsigned char>(escaped[i]);
    if (c < 0x20 || c == 0x7F) std::abort();
    if (c == '"' && (i == 0 || escaped[i - 1] != '\\')) std::abort();
  }
  return 0;
}
