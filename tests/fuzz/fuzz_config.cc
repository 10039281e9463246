// libFuzzer target: the TOML configuration loader (toml++ and our validation on top).
// Property: never crash; every failure is an invalid_argument naming the source.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "strongroom/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  strongroom::config::ConfigBuilder builder;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto applied = builder.ApplyToml(text, "fuzz.toml");
  if (!applied) {
    if (applied.error().code() != strongroom::ErrorCode::kInvalidArgument) std::abort();
    if (!applied.error().message().starts_with("fuzz.toml:")) std::abort();
    return 0;
  }
  (void)builder.Finish();
  return 0;
}
