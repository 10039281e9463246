// The CLI's only HTTPS client (Boost.Beast over Asio's OpenSSL stream), kept in its own
// translation unit so its templates compile once.
#include "strongroom/cli/https_client.h"

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cstdio>

namespace strongroom::cli {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

// {"passphrase":"..."} with JSON escaping, built by hand so the passphrase is copied only into
// buffers this function wipes.
std::string UnsealBody(std::string_view passphrase) {
  std::string body = R"({"passphrase":")";
  body.reserve(body.size() + passphrase.size() * 2 + 2);
  for (char c : passphrase) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      body.push_back('\\');
      body.push_back(c);
    } else if (u < 0x20) {
      char escaped[8];
      (void)std::snprintf(escaped, sizeof escaped, "\\u%04x", u);
      body.append(escaped);
    } else {
      body.push_back(c);
    }
  }
  body.append("\"}");
  return body;
}

void Wipe(std::string& s) { std::fill(s.begin(), s.end(), '\0'); }

// One request on a new TLS connection: the response, or why there is none.
Result<bhttp::response<bhttp::string_body>> Exchange(const NetAddress& server,
                                                     const std::filesystem::path& ca_file,
                                                     bhttp::request<bhttp::string_body>& request,
                                                     std::chrono::seconds timeout) {
  asio::io_context io;
  asio::ssl::context tls(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  tls.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1, ec);
  tls.load_verify_file(ca_file.string(), ec);
  if (ec) {
    return Fail(ErrorCode::kFailedPrecondition,
                "cannot load CA file " + ca_file.string() + ": " + ec.message());
  }
  tls.set_verify_mode(asio::ssl::verify_peer);
  const std::string host = server.host == "localhost" ? "127.0.0.1" : server.host;
  beast::ssl_stream<beast::tcp_stream> stream(io, tls);
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(host, std::to_string(server.port), ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "cannot resolve " + server.ToString());
  beast::get_lowest_layer(stream).expires_after(timeout);
  beast::get_lowest_layer(stream).connect(endpoints, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable,
                "cannot connect to " + server.ToString() + ": " + ec.message());
  }
  stream.handshake(asio::ssl::stream_base::client, ec);
  if (ec) {
    return Fail(ErrorCode::kUnavailable,
                "TLS handshake with " + server.ToString() + " failed: " + ec.message());
  }
  request.set(bhttp::field::host, server.ToString());
  request.set(bhttp::field::connection, "close");
  request.prepare_payload();
  bhttp::write(stream, request, ec);
  Wipe(request.body());
  if (ec) return Fail(ErrorCode::kUnavailable, "sending the request failed: " + ec.message());
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  bhttp::read(stream, buffer, response, ec);
  if (ec) return Fail(ErrorCode::kUnavailable, "reading the answer failed: " + ec.message());
  beast::error_code ignored;
  stream.shutdown(ignored);
  return response;
}

}  // namespace

Result<UnsealReply> PostUnseal(const NetAddress& server, const std::filesystem::path& ca_file,
                               const SecretBytes& passphrase, std::chrono::seconds timeout) {
  bhttp::request<bhttp::string_body> request{bhttp::verb::post, "/v1/sys/unseal", 11};
  request.set(bhttp::field::content_type, "application/json");
  request.body() = UnsealBody(passphrase.reveal_as_text());
  auto response = Exchange(server, ca_file, request, timeout);
  if (!response) return std::unexpected(response.error());
  UnsealReply reply;
  reply.status = static_cast<int>(response->result_int());
  reply.body = std::move(response->body());
  if (auto it = response->find(bhttp::field::retry_after); it != response->end()) {
    reply.retry_after = std::string(it->value());
  }
  return reply;
}

Result<ApiReply> CallApi(const NetAddress& server, const std::filesystem::path& ca_file,
                         const SecretBytes& token, ApiCall call, std::chrono::seconds timeout) {
  const bhttp::verb verb = bhttp::string_to_verb(call.method);
  if (verb == bhttp::verb::unknown) return Fail(ErrorCode::kInvalidArgument, "unknown method");
  bhttp::request<bhttp::string_body> request{verb, call.target, 11};
  std::string authorization = "Bearer " + std::string(token.reveal_as_text());
  request.set(bhttp::field::authorization, authorization);
  Wipe(authorization);
  if (!call.body.empty()) {
    request.set(bhttp::field::content_type, "application/json");
    request.body() = std::move(call.body);  // Exchange wipes it once sent
  }
  auto response = Exchange(server, ca_file, request, timeout);
  if (!response) return std::unexpected(response.error());
  return ApiReply{static_cast<int>(response->result_int()), std::move(response->body())};
}

}  // namespace strongroom::cli
