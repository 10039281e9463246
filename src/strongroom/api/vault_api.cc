#include "strongroom/api/vault_api.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>

#include "strongroom/api/api_support.h"
#include "strongroom/api/audit_support.h"
#include "strongroom/api/record_views.h"
#include "strongroom/crypto/encoding.h"
#include "strongroom/http/error_response.h"
#include "strongroom/observe/log.h"
#include "strongroom/records/json_input.h"

namespace strongroom::api {
namespace {

namespace json = boost::json;
using http::Method;
using http::Request;
using http::Response;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out.push_back(' ');
    } else if (text[i] == '%') {
      if (i + 2 >= text.size()) {
        return FailAt("query", "format", "bad percent-escape in the query string");
      }
      const int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0)
        return FailAt("query", "format", "bad percent-escape in the query string");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

std::string_view QueryValue(const std::vector<std::pair<std::string, std::string>>& query,
                            std::string_view name) {
  for (const auto& [n, v] : query) {
    if (n == name) return v;
  }
  return {};
}

// Wraps a service call that returns an object: 200 (or `status`) with it.
template <typename F>
Call Returning(int status, F f) {
  return [status, f = std::move(f)](const Request& request,
                                    const auth::Caller& principal) -> Result<Answer> {
    auto result = f(request, principal);
    if (!result) return std::unexpected(result.error());
    return Answer{status, std::move(*result)};
  };
}

void AddSysRoutes(http::Router& router, const VaultApi& api) {
  router.Add(Method::kGet, "/v1/sys/seal-status", http::Execution::kInline, [api](const Request&) {
    return Json(200, {{"sealed", api.seal.sealed()}, {"provider", api.seal.provider_kind()}});
  });
  router.Add(
      Method::kPost, "/v1/sys/unseal", http::Execution::kWorker,
      AuditedOpen(api, [api](const Request& request) -> Response {
        auto body = Body(request);
        if (!body) return Failure(request, body.error());
        if (!body->is_object()) {
          return Failure(request, FailAt("$", "type", "must be an object").error());
        }
        auto& o = body->get_object();
        if (auto known = records::RefuseUnknownMembers(o, {"passphrase"}, "$"); !known) {
          return Failure(request, known.error());
        }
        auto* passphrase = o.if_contains("passphrase");
        if (passphrase == nullptr || !passphrase->is_string() || passphrase->get_string().empty()) {
          return Failure(
              request,
              FailAt("$.passphrase", "required", "a non-empty string is required").error());
        }
        SecretBytes secret(std::string_view(passphrase->get_string()));
        auto& text = passphrase->get_string();
        std::fill(text.begin(), text.end(), '\0');
        auto unsealed = api.seal.Unseal(secret.reveal());
        if (!unsealed) {
          observe::Warn("security.unseal_refused",
                        {{"request_id", request.request_id},
                         {"code", ErrorCodeName(unsealed.error().code())}});
          if (unsealed.error().code() == ErrorCode::kFailedPrecondition) {
            // The reason names files, a PKCS#11 module and a token: the operator's log has it,
            // an unauthenticated caller does not.
            observe::Error("vault.unseal_failed", {{"request_id", request.request_id},
                                                   {"reason", unsealed.error().message()}});
            return Failure(request, Error(ErrorCode::kFailedPrecondition,
                                          "the root key provider cannot be used; see the "
                                          "server's log (vault.unseal_failed)"));
          }
          Response r = Failure(request, unsealed.error());
          if (unsealed.error().code() == ErrorCode::kResourceExhausted) {
            const auto wait = std::max<std::int64_t>(api.seal.retry_after().count(), 1);
            r.headers.emplace_back("Retry-After", std::to_string(wait));
          }
          return r;
        }
        observe::Info("vault.unsealed", {{"request_id", request.request_id}});
        return Json(200, {{"sealed", false}});
      }));
  router.Add(Method::kPost, "/v1/sys/seal", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, false,
                     [api](const Request& request, const auth::Caller& who) -> Result<Answer> {
                       // Sealing stops every tenant: only the vault's operators may.
                       if (!IsOperator(who)) return std::unexpected(OperatorsOnly());
                       api.seal.Seal();
                       observe::Warn("vault.sealed", {{"request_id", request.request_id},
                                                      {"by", who.credential_id}});
                       return Answer{200, {{"sealed", true}}};
                     }));
}

void AddAdminRoutes(http::Router& router, const VaultApi& api) {
  router.Add(
      Method::kPost, "/v1/tenants", http::Execution::kWorker,
      Guarded(api, Access::kAdmin, true,
              Returning(201, [api](const Request& r, const auth::Caller& who) {
                if (!IsOperator(who)) return Result<json::object>(std::unexpected(OperatorsOnly()));
                auto body = Body(r);
                if (!body) return Result<json::object>(std::unexpected(body.error()));
                return api.service.CreateTenant(*body);
              })));
  router.Add(Method::kGet, "/v1/tenants", http::Execution::kWorker,
             Guarded(api, Access::kAdmin, false,
                     Returning(200, [api](const Request&, const auth::Caller& who) {
                       if (!IsOperator(who)) {
                         return Result<json::object>(std::unexpected(OperatorsOnly()));
                       }
                       return api.service.ListTenants();
                     })));
}

// A data call with a JSON body: f(tenant, body, request).
using Query = std::vector<std::pair<std::string, std::string>>;

template <typename F>
http::Handler WithBody(const VaultApi& api, int status, F f, Access access = Access::kWrite) {
  return Guarded(
      api, access, true,
      Returning(status, [f = std::move(f)](const Request& request, const auth::Caller& who) {
        auto body = Body(request);
        if (!body) return Result<json::object>(std::unexpected(body.error()));
        return f(std::string_view(who.tenant), *body, request);
      }));
}

// The query parameters of `request`, each one of `names`.
Result<std::vector<std::pair<std::string, std::string>>> AllowedQuery(
    const Request& request, const std::vector<std::string_view>& names) {
  Result<std::vector<std::pair<std::string, std::string>>> query =
      std::vector<std::pair<std::string, std::string>>{};
  if (request.query.empty()) return query;
  query = ParseQuery(request.query, {});
  if (!query) return query;
  for (const auto& [name, value] : *query) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return FailAt(name, "unknown_parameter", "unknown query parameter");
    }
  }
  return query;
}

// Archived data is read only for the purpose legal (docs/privacy.md, "The archive"): GDPR art.
// 17(3)(e) and 18(2) keep it for legal claims, and nothing else may reach it.
Result<void> RequireLegalPurpose(const Request& request) {
  if (request.headers->Get(kPurposeHeader).value_or("") == records::kLegalPurpose) return {};
  Error refused(ErrorCode::kPermissionDenied,
                "archived data is read only for the purpose legal: state it in the "
                "Strongroom-Purpose header");
  refused.At("header:strongroom-purpose", "archive_legal_only");
  return std::unexpected(refused);
}

// The page a listing of the archive asks for, once its purpose is legal.
Result<records::Page> LegalPage(const Request& request, const Query& query) {
  if (auto legal = RequireLegalPurpose(request); !legal) return std::unexpected(legal.error());
  return PageFrom(query);
}

// A data call without a body: f(tenant, request) after checking the query parameters.
template <typename F>
http::Handler WithQuery(const VaultApi& api, std::initializer_list<std::string_view> allowed, F f) {
  std::vector<std::string_view> names(allowed);
  return Guarded(
      api, Access::kRead, true,
      Returning(200, [names, f = std::move(f)](const Request& request, const auth::Caller& who) {
        auto query = AllowedQuery(request, names);
        if (!query) return Result<json::object>(std::unexpected(query.error()));
        return f(std::string_view(who.tenant), *query, request);
      }));
}

// A read of the data of the subject in the path ({id}): WithQuery after the subject's choices
// allow the request's purpose (CheckSubjectChoices).
template <typename F>
http::Handler SubjectDataWithQuery(const VaultApi& api,
                                   std::initializer_list<std::string_view> allowed, F f) {
  std::vector<std::string_view> names(allowed);
  return Guarded(
      api, Access::kRead, true,
      Returning(200,
                [&api, names, f = std::move(f)](const Request& request, const auth::Caller& who) {
                  auto query = AllowedQuery(request, names);
                  if (!query) return Result<json::object>(std::unexpected(query.error()));
                  if (auto chosen = CheckSubjectChoices(api, request, who, request.PathParam("id"));
                      !chosen) {
                    return Result<json::object>(std::unexpected(chosen.error()));
                  }
                  return f(std::string_view(who.tenant), *query, request);
                }));
}

// A record call with a JSON body, in the caller's views (record_views.h): the fields it writes
// (or the field it searches on) checked against the policy first, the answer rendered after.
template <typename F>
http::Handler RecordWithBody(const VaultApi& api, int status, policy::Action action, F f) {
  const Access access = action == policy::Action::kSearch ? Access::kRead : Access::kWrite;
  return Guarded(
      api, access, true,
      Returning(
          status, [api, action, f = std::move(f)](const Request& request, const auth::Caller& who) {
            using Out = Result<json::object>;
            auto body = Body(request);
            if (!body) return Out(std::unexpected(body.error()));
            auto views = RecordViews::Prepare(api, request, who, action);
            if (!views) return Out(std::unexpected(views.error()));
            Result<void> allowed;
            if (action == policy::Action::kSearch) {
              allowed = views->CheckSearch(*body);
            } else if (const auto* o = body->if_object()) {
              allowed = views->CheckWrite(o->if_contains("fields"), "$");
              if (const auto* batch = o->if_contains("records");
                  allowed && batch != nullptr && batch->is_array()) {
                std::size_t i = 0;
                for (const auto& item : batch->get_array()) {
                  const auto* fields =
                      item.is_object() ? item.get_object().if_contains("fields") : nullptr;
                  allowed = views->CheckWrite(fields, "$.records[" + std::to_string(i++) + "]");
                  if (!allowed) break;
                }
              }
            }
            if (!allowed) return Out(std::unexpected(allowed.error()));
            auto answer = f(std::string_view(who.tenant), *body, request);
            if (!answer) return answer;
            if (auto shown = views->Apply(*answer); !shown) {
              return Out(std::unexpected(shown.error()));
            }
            return answer;
          }));
}

// A record read without a body (one record, or a page), in the caller's views.
template <typename F>
http::Handler RecordWithQuery(const VaultApi& api, std::initializer_list<std::string_view> allowed,
                              F f) {
  std::vector<std::string_view> names(allowed);
  return Guarded(api, Access::kRead, true,
                 Returning(200, [api, names, f = std::move(f)](const Request& request,
                                                               const auth::Caller& who) {
                   using Out = Result<json::object>;
                   auto query = AllowedQuery(request, names);
                   if (!query) return Out(std::unexpected(query.error()));
                   auto views = RecordViews::Prepare(api, request, who, policy::Action::kRead);
                   if (!views) return Out(std::unexpected(views.error()));
                   auto answer = f(std::string_view(who.tenant), *query, request);
                   if (!answer) return answer;
                   if (auto shown = views->Apply(*answer); !shown)
                     return Out(std::unexpected(shown.error()));
                   return answer;
                 }));
}

// An upload's body, piece by piece, into its DocumentUpload (on the worker pool).
class UploadSink final : public http::BodySink {
 public:
  UploadSink(std::unique_ptr<records::DocumentUpload> upload, std::string_view request_id)
      : upload_(std::move(upload)), request_id_(request_id) {}
  Result<void> Write(std::span<const std::uint8_t> data) override { return upload_->Write(data); }
  Response Finish(const Error* failure) override {
    Result<json::object> done =
        failure != nullptr ? Result<json::object>(std::unexpected(*failure)) : upload_->Commit();
    upload_.reset();  // a failed upload deletes what it stored, now
    if (!done) return Failure(request_id_, done.error());
    return Json(201, *done);
  }

 private:
  std::unique_ptr<records::DocumentUpload> upload_;
  std::string request_id_;  // a copy: the request is gone while the body streams
};

// A download's body, read and authenticated chunk by chunk (on the worker pool).
class DocumentSource final : public http::BodySource {
 public:
  explicit DocumentSource(std::unique_ptr<records::DocumentReader> reader)
      : reader_(std::move(reader)) {}
  Result<std::size_t> Read(std::span<std::uint8_t> out) override { return reader_->Read(out); }

 private:
  std::unique_ptr<records::DocumentReader> reader_;
};

void AddDocumentRoutes(http::Router& router, const VaultApi& api) {
  auto& d = api.documents;
  router.Add(
      Method::kPost, "/v1/subjects/{id}/documents", http::Execution::kWorker,
      Guarded(api, Access::kWrite, true,
              [&d](const Request& request, const auth::Caller& who) -> Result<Answer> {
                if (!request.query.empty()) {
                  return FailAt("query", "unknown_parameter", "this call takes no query");
                }
                auto upload = d.BeginUpload(who.tenant, request.PathParam("id"),
                                            request.headers->Get("content-type").value_or(""));
                if (!upload) return std::unexpected(upload.error());
                Response accepted;
                accepted.body_sink =
                    std::make_unique<UploadSink>(std::move(*upload), request.request_id);
                return Answer(std::move(accepted));
              }),
      http::BodyPolicy::kStream, static_cast<std::size_t>(d.max_document_bytes()));
  router.Add(Method::kGet, "/v1/subjects/{id}/documents", http::Execution::kWorker,
             SubjectDataWithQuery(api, {"limit", "cursor"},
                                  [&d](std::string_view t, const Query& q, const Request& r) {
                                    auto page = PageFrom(q);
                                    if (!page)
                                      return Result<json::object>(std::unexpected(page.error()));
                                    return d.List(t, r.PathParam("id"), *page);
                                  }));
  // A download, live or from retention's archive (purpose legal only).
  const auto download = [&api, &d](bool archived) {
    return Guarded(
        api, Access::kRead, true,
        [&api, &d, archived](const Request& request, const auth::Caller& who) -> Result<Answer> {
          if (!request.query.empty()) {
            return FailAt("query", "unknown_parameter", "this call takes no query");
          }
          if (archived) {
            if (auto legal = RequireLegalPurpose(request); !legal) {
              return std::unexpected(legal.error());
            }
          }
          if (auto allowed = CheckSubjectChoices(api, request, who, request.PathParam("id"));
              !allowed) {
            return std::unexpected(allowed.error());
          }
          auto reader =
              d.Open(who.tenant, request.PathParam("id"), request.PathParam("doc"), archived);
          if (!reader) return std::unexpected(reader.error());
          Response r;
          // The stored type goes in a header (content_type must be a constant). The file is an
          // attachment in a sandbox, never rendered as part of a page of ours.
          r.headers.emplace_back("Content-Type", (*reader)->content_type());
          r.headers.emplace_back("Content-Disposition", "attachment");
          r.headers.emplace_back("Content-Security-Policy", "default-src 'none'; sandbox");
          r.headers.emplace_back("Repr-Digest",
                                 "sha-256=:" + crypto::Base64Encode((*reader)->sha256()) + ":");
          r.body_length = (*reader)->size();
          r.body_source = std::make_unique<DocumentSource>(std::move(*reader));
          return Answer(std::move(r));
        });
  };
  router.Add(Method::kGet, "/v1/subjects/{id}/documents/{doc}", http::Execution::kWorker,
             download(false));
  router.Add(Method::kGet, "/v1/subjects/{id}/archive/documents", http::Execution::kWorker,
             SubjectDataWithQuery(api, {"limit", "cursor"},
                                  [&d](std::string_view t, const Query& q, const Request& r) {
                                    auto page = LegalPage(r, q);
                                    if (!page)
                                      return Result<json::object>(std::unexpected(page.error()));
                                    return d.List(t, r.PathParam("id"), *page, true);
                                  }));
  router.Add(Method::kGet, "/v1/subjects/{id}/archive/documents/{doc}", http::Execution::kWorker,
             download(true));
  router.Add(Method::kDelete, "/v1/subjects/{id}/documents/{doc}", http::Execution::kWorker,
             Guarded(api, Access::kWrite, true,
                     [&d](const Request& request, const auth::Caller& who) -> Result<Answer> {
                       auto deleted = d.Delete(who.tenant, request.PathParam("id"),
                                               request.PathParam("doc"));
                       if (!deleted) return std::unexpected(deleted.error());
                       return Answer{204, {}};
                     }));
}

void AddTokenRoutes(http::Router& router, const VaultApi& api) {
  auto& tokens = api.tokens;
  router.Add(Method::kPost, "/v1/tokenize", http::Execution::kWorker,
             WithBody(api, 200,
                      [&tokens, &service = api.service](std::string_view t, const json::value& b,
                                                        const Request&) {
                        // Tokens for a subject are linked to it, so its erasure finds them.
                        const auto exists = [&](std::string_view subject) -> Result<bool> {
                          auto found = service.GetSubject(t, subject);
                          if (found) return true;
                          if (found.error().code() == ErrorCode::kNotFound) return false;
                          return std::unexpected(found.error());
                        };
                        return tokens.Tokenize(t, b, exists);
                      }));
  router.Add(Method::kPost, "/v1/detokenize", http::Execution::kWorker,
             Guarded(api, Access::kRead, true,
                     Returning(200, [api](const Request& request, const auth::Caller& who) {
                       auto body = Body(request);
                       if (!body) return Result<json::object>(std::unexpected(body.error()));
                       // A token of a record field: only for a caller whose read view of it is
                       // plain.
                       const auto readable = [&](std::string_view collection,
                                                 std::string_view field) -> Result<bool> {
                         auto schema = api.service.CollectionSchema(who.tenant, collection);
                         if (!schema) {
                           if (schema.error().code() == ErrorCode::kNotFound) return false;
                           return std::unexpected(schema.error());
                         }
                         const records::FieldSpec* spec = (*schema)->Find(field);
                         auto policy = api.policies.For(who.tenant);
                         if (!policy) return std::unexpected(policy.error());
                         const auto read =
                             CallContext(request, who, policy::Action::kRead, collection);
                         return spec != nullptr &&
                                (*policy)->FieldView(read, *spec) == privacy::View::kPlain;
                       };
                       // A token of a subject's value: only where the subject's choices allow
                       // the caller's purpose, as for reading its data.
                       auto policy = api.policies.For(who.tenant);
                       if (!policy) return Result<json::object>(std::unexpected(policy.error()));
                       const auto subject_readable = [&](std::string_view subject) {
                         return CheckSubjectChoices(api, **policy, request, who, subject);
                       };
                       return api.tokens.Detokenize(who.tenant, *body, readable, subject_readable);
                     })));
}

void AddDataRoutes(http::Router& router, const VaultApi& api) {
  AddTokenRoutes(router, api);
  auto& s = api.service;
  router.Add(Method::kPost, "/v1/collections", http::Execution::kWorker,
             WithBody(api, 201, [&s](std::string_view t, const json::value& b, const Request&) {
               return s.CreateCollection(t, b);
             }));
  router.Add(
      Method::kGet, "/v1/collections", http::Execution::kWorker,
      WithQuery(api, {"limit", "cursor"}, [&s](std::string_view t, const Query& q, const Request&) {
        auto page = PageFrom(q);
        if (!page) return Result<json::object>(std::unexpected(page.error()));
        return s.ListCollections(t, *page);
      }));
  router.Add(Method::kGet, "/v1/collections/{collection}", http::Execution::kWorker,
             WithQuery(api, {}, [&s](std::string_view t, const Query&, const Request& r) {
               return s.GetCollection(t, r.PathParam("collection"));
             }));
  router.Add(Method::kPatch, "/v1/collections/{collection}", http::Execution::kWorker,
             WithBody(api, 200, [&s](std::string_view t, const json::value& b, const Request& r) {
               return s.EvolveCollection(t, r.PathParam("collection"), b);
             }));
  router.Add(Method::kPost, "/v1/collections/{collection}/records", http::Execution::kWorker,
             RecordWithBody(api, 201, policy::Action::kCreate,
                            [&s](std::string_view t, const json::value& b, const Request& r) {
                              return s.CreateRecord(t, r.PathParam("collection"), b);
                            }));
  router.Add(Method::kPost, "/v1/collections/{collection}/records/batch", http::Execution::kWorker,
             RecordWithBody(api, 200, policy::Action::kCreate,
                            [&s](std::string_view t, const json::value& b, const Request& r) {
                              return s.CreateRecords(t, r.PathParam("collection"), b);
                            }));
  router.Add(Method::kPost, "/v1/collections/{collection}/records/search", http::Execution::kWorker,
             RecordWithBody(api, 200, policy::Action::kSearch,
                            [&s](std::string_view t, const json::value& b, const Request& r) {
                              return s.SearchRecords(t, r.PathParam("collection"), b);
                            }));
  router.Add(Method::kGet, "/v1/collections/{collection}/records", http::Execution::kWorker,
             RecordWithQuery(api, {"limit", "cursor"},
                             [&s](std::string_view t, const Query& q, const Request& r) {
                               auto page = PageFrom(q);
                               if (!page)
                                 return Result<json::object>(std::unexpected(page.error()));
                               return s.ListRecords(t, r.PathParam("collection"), *page);
                             }));
  // Inline-first: a record whose ciphertext, key and schema are in memory is answered on the
  // I/O thread (router.h). The handler only reads.
  router.Add(Method::kGet, "/v1/collections/{collection}/records/{id}",
             http::Execution::kInlineFirst,
             RecordWithQuery(api, {}, [&s](std::string_view t, const Query&, const Request& r) {
               return s.GetRecord(t, r.PathParam("collection"), r.PathParam("id"));
             }));
  // The archive (docs/privacy.md, "The archive"): what retention moved out of the live data,
  // read only for the purpose legal, in the caller's views like live records.
  router.Add(Method::kGet, "/v1/collections/{collection}/archive", http::Execution::kWorker,
             RecordWithQuery(api, {"subject", "limit", "cursor"},
                             [&s](std::string_view t, const Query& q, const Request& r) {
                               auto page = LegalPage(r, q);
                               if (!page)
                                 return Result<json::object>(std::unexpected(page.error()));
                               return s.ListArchivedRecords(t, r.PathParam("collection"),
                                                            QueryValue(q, "subject"), *page);
                             }));
  router.Add(Method::kGet, "/v1/collections/{collection}/archive/{id}", http::Execution::kWorker,
             RecordWithQuery(api, {}, [&s](std::string_view t, const Query&, const Request& r) {
               if (auto legal = RequireLegalPurpose(r); !legal) {
                 return Result<json::object>(std::unexpected(legal.error()));
               }
               return s.GetArchivedRecord(t, r.PathParam("collection"), r.PathParam("id"));
             }));
  router.Add(Method::kPatch, "/v1/collections/{collection}/records/{id}", http::Execution::kWorker,
             RecordWithBody(api, 200, policy::Action::kUpdate,
                            [&s](std::string_view t, const json::value& b, const Request& r) {
                              return s.UpdateRecord(t, r.PathParam("collection"), r.PathParam("id"),
                                                    b);
                            }));
  router.Add(Method::kDelete, "/v1/collections/{collection}/records/{id}", http::Execution::kWorker,
             Guarded(api, Access::kWrite, true,
                     [&s](const Request& r, const auth::Caller& who) -> Result<Answer> {
                       auto deleted =
                           s.DeleteRecord(who.tenant, r.PathParam("collection"), r.PathParam("id"));
                       if (!deleted) return std::unexpected(deleted.error());
                       return Answer{204, {}};
                     }));
  router.Add(Method::kPost, "/v1/subjects", http::Execution::kWorker,
             WithBody(api, 201, [&s](std::string_view t, const json::value& b, const Request&) {
               return s.CreateSubject(t, b);
             }));
  router.Add(
      Method::kGet, "/v1/subjects", http::Execution::kWorker,
      WithQuery(api, {"limit", "cursor"}, [&s](std::string_view t, const Query& q, const Request&) {
        auto page = PageFrom(q);
        if (!page) return Result<json::object>(std::unexpected(page.error()));
        return s.ListSubjects(t, *page);
      }));
  router.Add(Method::kGet, "/v1/subjects/{id}", http::Execution::kWorker,
             WithQuery(api, {}, [&s](std::string_view t, const Query&, const Request& r) {
               return s.GetSubject(t, r.PathParam("id"));
             }));
  // Erasure: crypto-shredding, the rows, a signed receipt in the erasure ledger
  // (records/subject_erasure.h): at once (200 with the receipt, which the caller may hand to the
  // person), or with a grace period scheduled (202) and cancellable until it ends.
  router.Add(Method::kDelete, "/v1/subjects/{id}", http::Execution::kWorker,
             Guarded(api, Access::kWrite, true,
                     [&api](const Request& r, const auth::Caller& who) -> Result<Answer> {
                       if (api.eraser == nullptr) {
                         return Fail(ErrorCode::kUnavailable, "erasure is not available");
                       }
                       const std::string_view subject = r.PathParam("id");
                       if (api.erasure_grace.count() > 0) {
                         auto scheduled = api.eraser->Schedule(who.tenant, subject,
                                                               std::chrono::system_clock::now(),
                                                               api.erasure_grace);
                         if (!scheduled) return std::unexpected(scheduled.error());
                         // What a read during the grace period cached of its choices is stale.
                         api.service.ForgetChoices(who.tenant, subject);
                         return Answer(202, std::move(*scheduled));
                       }
                       auto erased = api.eraser->Erase(who.tenant, subject);
                       if (!erased) return std::unexpected(erased.error());
                       api.service.ForgetChoices(who.tenant, subject);
                       return Answer(200, std::move(*erased));
                     }));
  router.Add(Method::kDelete, "/v1/subjects/{id}/erasure", http::Execution::kWorker,
             Guarded(api, Access::kWrite, true,
                     Returning(200, [&api](const Request& r, const auth::Caller& who) {
                       if (api.eraser == nullptr) {
                         return Result<json::object>(
                             Fail(ErrorCode::kUnavailable, "erasure is not available"));
                       }
                       auto cancelled = api.eraser->CancelScheduled(who.tenant, r.PathParam("id"));
                       // Reads while it was hidden may have cached its choices as empty.
                       if (cancelled) api.service.ForgetChoices(who.tenant, r.PathParam("id"));
                       return cancelled;
                     })));
  // Consent records (records/vault_consents.cc): the purposes are the tenant policy's.
  router.Add(Method::kPost, "/v1/subjects/{id}/consents", http::Execution::kWorker,
             Guarded(api, Access::kWrite, true,
                     Returning(201, [&api](const Request& r, const auth::Caller& who) {
                       using Out = Result<json::object>;
                       auto body = Body(r);
                       if (!body) return Out(std::unexpected(body.error()));
                       auto policy = api.policies.For(who.tenant);
                       if (!policy) return Out(std::unexpected(policy.error()));
                       return api.service.RecordConsent(who.tenant, r.PathParam("id"), *body,
                                                        (*policy)->document().purposes,
                                                        who.principal_id);
                     })));
  router.Add(Method::kGet, "/v1/subjects/{id}/consents", http::Execution::kWorker,
             WithQuery(api, {}, [&s](std::string_view t, const Query&, const Request& r) {
               return s.ListConsents(t, r.PathParam("id"));
             }));
  // The processing state (records/vault_consents.cc): restriction and objections.
  router.Add(Method::kPut, "/v1/subjects/{id}/processing", http::Execution::kWorker,
             Guarded(api, Access::kWrite, true,
                     Returning(200, [&api](const Request& r, const auth::Caller& who) {
                       using Out = Result<json::object>;
                       auto body = Body(r);
                       if (!body) return Out(std::unexpected(body.error()));
                       auto policy = api.policies.For(who.tenant);
                       if (!policy) return Out(std::unexpected(policy.error()));
                       return api.service.SetProcessing(who.tenant, r.PathParam("id"), *body,
                                                        (*policy)->document().purposes,
                                                        who.principal_id);
                     })));
  router.Add(Method::kGet, "/v1/subjects/{id}/processing", http::Execution::kWorker,
             WithQuery(api, {}, [&s](std::string_view t, const Query&, const Request& r) {
               return s.GetProcessing(t, r.PathParam("id"));
             }));
  router.Add(Method::kPost, "/v1/subjects/{id}/activity", http::Execution::kWorker,
             WithBody(api, 201, [&s](std::string_view t, const json::value& b, const Request& r) {
               return s.AppendActivity(t, r.PathParam("id"), b);
             }));
  router.Add(Method::kGet, "/v1/subjects/{id}/activity", http::Execution::kWorker,
             SubjectDataWithQuery(api, {"from", "to", "limit", "cursor"},
                                  [&s](std::string_view t, const Query& q, const Request& r) {
                                    auto page = PageFrom(q);
                                    if (!page)
                                      return Result<json::object>(std::unexpected(page.error()));
                                    return s.ListActivity(t, r.PathParam("id"),
                                                          QueryValue(q, "from"),
                                                          QueryValue(q, "to"), *page);
                                  }));
  router.Add(Method::kGet, "/v1/subjects/{id}/archive/activity", http::Execution::kWorker,
             SubjectDataWithQuery(api, {"from", "to", "limit", "cursor"},
                                  [&s](std::string_view t, const Query& q, const Request& r) {
                                    auto page = LegalPage(r, q);
                                    if (!page)
                                      return Result<json::object>(std::unexpected(page.error()));
                                    return s.ListActivity(t, r.PathParam("id"),
                                                          QueryValue(q, "from"),
                                                          QueryValue(q, "to"), *page, true);
                                  }));
  AddDocumentRoutes(router, api);
}

}  // namespace

Result<records::Page> PageFrom(const std::vector<std::pair<std::string, std::string>>& query) {
  records::Page page;
  for (const auto& [name, value] : query) {
    if (name == "limit") {
      std::size_t limit = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), limit);
      if (ec != std::errc() || end != value.data() + value.size()) {
        return FailAt("limit", "type", "limit must be an integer");
      }
      page.limit = limit;
    } else if (name == "cursor") {
      page.cursor = value;
    }
  }
  return page;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    std::string_view query, std::initializer_list<std::string_view> allowed) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto name = PercentDecode(part.substr(0, eq));
    if (!name) return std::unexpected(name.error());
    auto value =
        PercentDecode(eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1));
    if (!value) return std::unexpected(value.error());
    if (allowed.size() != 0 &&
        std::find(allowed.begin(), allowed.end(), std::string_view(*name)) == allowed.end()) {
      return FailAt(*name, "unknown_parameter", "unknown query parameter");
    }
    for (const auto& [seen, v] : out) {
      if (seen == *name) return FailAt(*name, "repeated_parameter", "query parameter given twice");
    }
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

void AddVaultRoutes(http::Router& router, const VaultApi& api) {
  AddSysRoutes(router, api);
  AddAdminRoutes(router, api);
  AddIdentityRoutes(router, api);
  AddAuditRoutes(router, api);
  AddPolicyRoutes(router, api);
  AddBreakGlassRoutes(router, api);
  AddGuardRoutes(router, api);
  AddBackupRoutes(router, api);
  AddKeyRoutes(router, api);
  AddPrivacyRoutes(router, api);
  AddRetentionRoutes(router, api);
  AddExportRoute(router, api);
  AddDataRoutes(router, api);
  router.Add(Method::kGet, "/v1/openapi.yaml", http::Execution::kInline, [api](const Request&) {
    Response r;
    r.content_type = "application/yaml";
    r.body = std::string(api.openapi_yaml);
    return r;
  });
}

}  // namespace strongroom::api
