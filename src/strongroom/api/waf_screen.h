#pragma once
// WafScreen: the request screen (http::RequestScreen) that puts every routed request through the
// web application firewall (guard::WebFirewall) before its handler, and acts on what it finds
// (docs/guard.md):
//   - refused (blocking mode): 403 permission_denied, "refused by the web application firewall";
//     the rule ids go to the audit entry (action waf.block, detail_rule "942100,942190"), the log
//     (security.waf_block) and never to the client; the source gets a WAF strike toward an
//     automatic ban;
//   - detected in detection-only mode: logged (security.waf_detected) and counted; the request
//     goes on (and is audited by its own route as usual).
// Nothing the rules matched (request content) is logged, audited or counted: only rule ids.
// Thread-safety: Screen() runs on many pool threads at once; everything it uses is thread-safe.
// Borrows the API, the firewall and the guard; all must outlive it.

#include <optional>

#include "strongroom/api/vault_api.h"
#include "strongroom/http/types.h"

namespace strongroom::guard {
class WebFirewall;
}
namespace strongroom::observe {
class MetricsRegistry;
class Counter;
class Histogram;
}  // namespace strongroom::observe

namespace strongroom::api {

class WafScreen final : public http::RequestScreen {
 public:
  WafScreen(const VaultApi& api, const guard::WebFirewall& firewall,
            observe::MetricsRegistry& registry);
  std::optional<http::Response> Screen(const http::Request& request) const override;

 private:
  VaultApi api_;
  const guard::WebFirewall& firewall_;
  observe::Counter& passed_;
  observe::Counter& refused_;
  observe::Counter& detected_;
  observe::Histogram& seconds_;
};

}  // namespace strongroom::api
