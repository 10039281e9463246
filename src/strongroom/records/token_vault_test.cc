#include "strongroom/records/token_vault.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "strongroom/barrier/data_barrier.h"
#include "strongroom/base/blocking.h"
#include "strongroom/base/card_numbers.h"
#include "strongroom/keys/keyring.h"
#include "strongroom/storage/sqlite_store.h"
#include "support/scratch_dir.h"
#include "support/sealed_vault.h"

namespace strongroom::records {
namespace {

namespace json = boost::json;

class TokenVaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto metadata = storage::OpenSqliteStore(scratch_ / "metadata.db");
    ASSERT_TRUE(metadata);
    metadata_ = std::move(*metadata);
    auto profiles = storage::OpenSqliteStore(scratch_ / "profiles.db");
    ASSERT_TRUE(profiles);
    profiles_ = std::move(*profiles);
    seal_ = strongroom::testing::MakeSealState(scratch_.path(), *metadata_);
    ASSERT_TRUE(seal_->Unseal(strongroom::testing::TestPassphrase()));
    storage::WriteBatch batch;
    ASSERT_TRUE(seal_->keys()->keyring->AddTenantKeys("ten_acme", batch));
    ASSERT_TRUE(seal_->keys()->keyring->AddTenantKeys("ten_beta", batch));
    ASSERT_TRUE(metadata_->Write(std::move(batch)));
    vault_ = std::make_unique<TokenVault>(*profiles_, *seal_);
  }

  Result<json::object> Tokenize(std::string_view kind, json::array values,
                                std::string_view tenant = "ten_acme") {
    return vault_->Tokenize(tenant, json::object{{"kind", kind}, {"values", std::move(values)}},
                            exists_);
  }
  std::vector<std::string> Tokens(std::string_view kind, json::array values,
                                  std::string_view tenant = "ten_acme") {
    auto answer = Tokenize(kind, std::move(values), tenant);
    EXPECT_TRUE(answer) << answer.error().message();
    std::vector<std::string> out;
    if (!answer) return out;
    EXPECT_EQ(answer->at("kind").as_string(), kind);
    for (const auto& t : answer->at("tokens").as_array()) out.emplace_back(t.as_string());
    return out;
  }
  Result<json::object> Detokenize(std::vector<std::string> tokens,
                                  std::string_view tenant = "ten_acme") {
    json::array list;
    for (auto& t : tokens) list.emplace_back(t);
    return vault_->Detokenize(tenant, json::object{{"tokens", std::move(list)}}, readable_,
                              subject_readable_);
  }
  Result<json::object> DetokenizeBody(std::string_view body) {
    return vault_->Detokenize("ten_acme", json::parse(body), readable_, subject_readable_);
  }
  static void ExpectError(const Result<json::object>& result, ErrorCode code, std::string_view path,
                          std::string_view rule) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), code) << result.error().message();
    EXPECT_EQ(result.error().path(), path);
    EXPECT_EQ(result.error().rule(), rule);
  }
  std::string FileBytes(const std::string& name) {
    std::ifstream in(scratch_ / name, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  strongroom::testing::ScratchDir scratch_;
  std::unique_ptr<storage::Store> metadata_, profiles_;
  std::unique_ptr<barrier::SealState> seal_;
  std::unique_ptr<TokenVault> vault_;
  // Which record fields the caller reads plain (the API asks the access policy).
  std::set<std::string> plain_ = {"patients/email"};
  TokenVault::FieldReadable readable_ = [this](std::string_view c, std::string_view f) {
    return Result<bool>(plain_.contains(std::string(c) + "/" + std::string(f)));
  };
  // The subjects that exist (the API asks the vault service).
  std::set<std::string, std::less<>> subjects_ = {"sub_AAAAAAAAAAAAAAAAAAAAAA",
                                                  "sub_BBBBBBBBBBBBBBBBBBBBBB"};
  TokenVault::SubjectExists exists_ = [this](std::string_view subject) {
    return Result<bool>(subjects_.contains(subject));
  };
  // What the subjects' choices say of the caller's purpose (the API asks the policy): the
  // subjects in `refusals_` answer that error; the others allow it.
  std::map<std::string, Error, std::less<>> refusals_;
  std::vector<std::string> asked_;
  TokenVault::SubjectReadable subject_readable_ = [this](std::string_view subject) -> Result<void> {
    asked_.emplace_back(subject);
    if (auto it = refusals_.find(subject); it != refusals_.end()) {
      return std::unexpected(it->second);
    }
    return {};
  };
  bool Stored(std::string_view space, const std::string& key) {
    auto found = profiles_->Get(space, key);
    EXPECT_TRUE(found);
    return found && found->has_value();
  }
  bool Linked(std::string_view subject, std::string_view token) {
    const bool link =
        Stored(kTokenLinks, "ten_acme/" + std::string(subject) + "/" + std::string(token));
    EXPECT_EQ(Stored(kTokenHolders, "ten_acme/" + std::string(token) + "/" + std::string(subject)),
              link);
    return link;
  }
};

constexpr std::string_view kAlice = "sub_AAAAAAAAAAAAAAAAAAAAAA";
constexpr std::string_view kBob = "sub_BBBBBBBBBBBBBBBBBBBBBB";

TEST_F(TokenVaultTest, RandomTokensAreNewEveryTimeAndComeBack) {
  const auto first = Tokens("random", {"ada.lovelace@example.com", "ada.lovelace@example.com"});
  ASSERT_EQ(first.size(), 2u);
  EXPECT_TRUE(first[0].starts_with("tkr_"));
  EXPECT_EQ(first[0].size(), 26u);
  EXPECT_NE(first[0], first[1]);
  auto values = Detokenize(first);
  ASSERT_TRUE(values) << values.error().message();
  EXPECT_EQ(json::serialize(values->at("values")),
            R"(["ada.lovelace@example.com","ada.lovelace@example.com"])");
  // Below the barrier: ciphertext only.
  seal_->Seal();
  profiles_.reset();
  EXPECT_EQ(FileBytes("profiles.db").find("lovelace"), std::string::npos);
  EXPECT_EQ(FileBytes("profiles.db-wal").find("lovelace"), std::string::npos);
}

TEST_F(TokenVaultTest, DeterministicTokensJoinWithinATenantOnly) {
  const auto a = Tokens("deterministic", {"NHS 943 476 5919", "NHS 943 476 5919", "other"});
  ASSERT_EQ(a.size(), 3u);
  EXPECT_TRUE(a[0].starts_with("tkd_"));
  EXPECT_EQ(a[0], a[1]);
  EXPECT_NE(a[0], a[2]);
  EXPECT_EQ(Tokens("deterministic", {"NHS 943 476 5919"})[0], a[0]);
  const auto beta = Tokens("deterministic", {"NHS 943 476 5919"}, "ten_beta");
  EXPECT_NE(beta[0], a[0]);
  auto values = Detokenize({a[0], a[2]});
  ASSERT_TRUE(values);
  EXPECT_EQ(json::serialize(values->at("values")), R"(["NHS 943 476 5919","other"])");
}

TEST_F(TokenVaultTest, AFieldsTokenComesBackOnlyToWhoMayReadTheFieldPlain) {
  // A field value of any JSON type, as a "tokenized" view makes it: equal within the field,
  // unrelated to the same value elsewhere (or tokenized through the API).
  auto email =
      vault_->TokenizeField("ten_acme", "patients", "email", json::value("a@b.example"), "");
  ASSERT_TRUE(email) << email.error().message();
  EXPECT_TRUE(email->starts_with("tkd_"));
  EXPECT_EQ(*vault_->TokenizeField("ten_acme", "patients", "email", json::value("a@b.example"), ""),
            *email);
  auto other_field =
      vault_->TokenizeField("ten_acme", "patients", "backup_email", json::value("a@b.example"), "");
  ASSERT_TRUE(other_field);
  EXPECT_NE(*other_field, *email);
  EXPECT_NE(Tokens("deterministic", {"a@b.example"})[0], *email);
  auto year = vault_->TokenizeField("ten_acme", "patients", "born", json::value(1987), "");
  ASSERT_TRUE(year);
  auto values = Detokenize({*email});
  ASSERT_TRUE(values) << values.error().message();
  EXPECT_EQ(json::serialize(values->at("values")), R"(["a@b.example"])");
  ExpectError(Detokenize({*email, *year}), ErrorCode::kPermissionDenied, "$.tokens[1]",
              "field_not_readable");
  plain_.insert("patients/born");
  values = Detokenize({*year});
  ASSERT_TRUE(values);
  EXPECT_EQ(json::serialize(values->at("values")), "[1987]");
  plain_.clear();
  ExpectError(Detokenize({*email}), ErrorCode::kPermissionDenied, "$.tokens[0]",
              "field_not_readable");
}

TEST_F(TokenVaultTest, FormatPreservingTokensKeepTheShape) {
  const auto t = Tokens("format-preserving", {"1234-5678-90", "123456", "1234-5678-90"});
  ASSERT_EQ(t.size(), 3u);
  ASSERT_EQ(t[0].size(), 12u);
  for (std::size_t i = 0; i < t[0].size(); ++i) {
    if (i == 4 || i == 9) {
      EXPECT_EQ(t[0][i], '-');
    } else {
      EXPECT_TRUE(t[0][i] >= '0' && t[0][i] <= '9') << t[0];
    }
  }
  EXPECT_NE(t[0], "1234-5678-90");
  EXPECT_EQ(t[0], t[2]);
  EXPECT_EQ(t[1].size(), 6u);
  auto values = Detokenize({t[1], t[0]});
  ASSERT_TRUE(values) << values.error().message();
  EXPECT_EQ(json::serialize(values->at("values")), R"(["123456","1234-5678-90"])");
  ExpectError(Tokenize("format-preserving", {"12345"}), ErrorCode::kInvalidArgument, "$.values[0]",
              "format");
  ExpectError(Tokenize("format-preserving", {"123456", "12345a7"}), ErrorCode::kInvalidArgument,
              "$.values[1]", "format");
  ExpectError(Tokenize("format-preserving", {std::string(65, '7')}), ErrorCode::kInvalidArgument,
              "$.values[0]", "format");
  // More separators than a detokenize would take as a token: refused here already.
  ExpectError(Tokenize("format-preserving", {"123456" + std::string(123, '-')}),
              ErrorCode::kInvalidArgument, "$.values[0]", "format");
  EXPECT_EQ(Tokens("format-preserving", {"123456" + std::string(122, '-')}).size(), 1u);
  // The layout is FF1's tweak: the same digits laid out differently are unrelated tokens.
  const auto laid_out = Tokens("format-preserving", {"123 456", "123-456"});
  EXPECT_NE(laid_out[0].substr(0, 3) + laid_out[0].substr(4), t[1]);
  EXPECT_NE(laid_out[0].substr(0, 3) + laid_out[0].substr(4),
            laid_out[1].substr(0, 3) + laid_out[1].substr(4));
}

TEST_F(TokenVaultTest, FormatPreservingTokensNeverReadAsCardNumbers) {
  // 16-digit values that are not card numbers: without cycle walking, a few in a hundred of
  // their FF1 images would pass Luhn with a card scheme's prefix.
  json::array values;
  std::uint64_t n = 4000000000000000;
  while (values.size() < 100) {
    const std::string digits = std::to_string(n);
    n += 7919;
    if (!ContainsCardNumber(digits)) values.emplace_back(digits);
  }
  const auto tokens = Tokens("format-preserving", values);
  ASSERT_EQ(tokens.size(), 100u);
  std::set<std::string> distinct(tokens.begin(), tokens.end());
  EXPECT_EQ(distinct.size(), 100u);
  for (const auto& token : tokens) {
    EXPECT_EQ(token.size(), 16u);
    EXPECT_FALSE(ContainsCardNumber(token)) << token;
  }
  auto back = Detokenize(tokens);
  ASSERT_TRUE(back);
  EXPECT_EQ(json::serialize(back->at("values")), json::serialize(values));
}

TEST_F(TokenVaultTest, OneWayTokensAreNotReversible) {
  const auto t = Tokens("one-way", {"ada@example.com", "ada@example.com"});
  ASSERT_EQ(t.size(), 2u);
  EXPECT_TRUE(t[0].starts_with("tkh_"));
  // Not the pseudonym a "hashed" view shows: tokenizing is no way to guess at those.
  auto pseudonym = seal_->keys()->barrier->Pseudonym("ten_acme", "ada@example.com");
  ASSERT_TRUE(pseudonym);
  EXPECT_NE(t[0].substr(4), pseudonym->substr(4));
  EXPECT_EQ(t[0], t[1]);
  ExpectError(Detokenize({t[0]}), ErrorCode::kInvalidArgument, "$.tokens[0]", "not_reversible");
}

TEST_F(TokenVaultTest, ATokenIsFoundOnlyInItsTenant) {
  const auto acme = Tokens("random", {"ada@example.com"});
  const auto fpe = Tokens("format-preserving", {"555-0100-42"});
  // Another tenant's token, a token never issued and text that is no token answer alike.
  ExpectError(Detokenize({acme[0]}, "ten_beta"), ErrorCode::kNotFound, "$.tokens[0]",
              "unknown_token");
  ExpectError(Detokenize({fpe[0]}, "ten_beta"), ErrorCode::kNotFound, "$.tokens[0]",
              "unknown_token");
  ExpectError(Detokenize({acme[0], "tkr_AAAAAAAAAAAAAAAAAAAAAA"}), ErrorCode::kNotFound,
              "$.tokens[1]", "unknown_token");
  ExpectError(Detokenize({"ada@example.com"}), ErrorCode::kNotFound, "$.tokens[0]",
              "unknown_token");
  auto missing = Detokenize({"ada@example.com"});
  EXPECT_EQ(missing.error().message().find("ada"), std::string::npos);
}

TEST_F(TokenVaultTest, TamperedOrMovedCiphertextIsDataLoss) {
  const auto t = Tokens("random", {"first value", "second value"});
  auto second = profiles_->Get("tokens", "ten_acme/" + t[1]);
  ASSERT_TRUE(second && *second);
  // The second token's ciphertext copied under the first: bound to its token, it fails.
  storage::WriteBatch moved;
  moved.Put("tokens", "ten_acme/" + t[0], **second);
  ASSERT_TRUE(profiles_->Write(std::move(moved)));
  ExpectError(Detokenize({t[0]}), ErrorCode::kDataLoss, "", "");
  storage::WriteBatch flipped;
  storage::Bytes tampered = **second;
  tampered.back() ^= 1;
  flipped.Put("tokens", "ten_acme/" + t[1], tampered);
  ASSERT_TRUE(profiles_->Write(std::move(flipped)));
  ExpectError(Detokenize({t[1]}), ErrorCode::kDataLoss, "", "");
}

// Tokens of a subject's values are linked to it both ways (token_links, token_holders), so
// that its erasure finds them (test_erasure.py checks the erasure itself).
TEST_F(TokenVaultTest, TokensForASubjectAreLinkedToIt) {
  auto answer = vault_->Tokenize(
      "ten_acme", json::object{{"kind", "random"}, {"values", {"x", "y"}}, {"subject_id", kAlice}},
      exists_);
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_EQ(answer->at("subject_id").as_string(), kAlice);  // the audit entry names it
  const auto& tokens = answer->at("tokens").as_array();
  for (const auto& token : tokens) EXPECT_TRUE(Linked(kAlice, token.as_string()));
  EXPECT_FALSE(Linked(kBob, tokens[0].as_string()));
  // An equal value of two subjects: one deterministic token, held by both.
  const json::object shared{{"kind", "deterministic"}, {"values", {"same", "same"}}};
  json::object for_alice = shared, for_bob = shared;
  for_alice["subject_id"] = kAlice;
  for_bob["subject_id"] = kBob;
  auto a = vault_->Tokenize("ten_acme", for_alice, exists_);
  auto b = vault_->Tokenize("ten_acme", for_bob, exists_);
  ASSERT_TRUE(a && b);
  const std::string token(a->at("tokens").as_array()[0].as_string());
  EXPECT_EQ(b->at("tokens").as_array()[0].as_string(), token);
  EXPECT_TRUE(Linked(kAlice, token));
  EXPECT_TRUE(Linked(kBob, token));
  // Without a subject: the tenant's, linked to nobody.
  const auto loose = Tokens("random", {"z"});
  EXPECT_FALSE(Linked(kAlice, loose[0]));

  // A field's token is linked to its record's subject, once.
  auto field =
      vault_->TokenizeField("ten_acme", "patients", "email", json::value("a@b.example"), kAlice);
  ASSERT_TRUE(field) << field.error().message();
  EXPECT_TRUE(Linked(kAlice, *field));
  const auto batches = profiles_->stats().batches;
  EXPECT_EQ(
      *vault_->TokenizeField("ten_acme", "patients", "email", json::value("a@b.example"), kAlice),
      *field);
  EXPECT_EQ(profiles_->stats().batches, batches);  // nothing written the second time
  // Stored before without a subject: the link comes on the next read that has one, and on an
  // I/O thread that write waits for a worker.
  auto unlinked =
      vault_->TokenizeField("ten_acme", "patients", "phone", json::value("555 0100"), "");
  ASSERT_TRUE(unlinked);
  {
    NonBlockingScope io_thread;
    auto refused =
        vault_->TokenizeField("ten_acme", "patients", "phone", json::value("555 0100"), kBob);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), ErrorCode::kWouldBlock);
  }
  EXPECT_FALSE(Linked(kBob, *unlinked));
  EXPECT_EQ(*vault_->TokenizeField("ten_acme", "patients", "phone", json::value("555 0100"), kBob),
            *unlinked);
  EXPECT_TRUE(Linked(kBob, *unlinked));

  // A subject erased (or hidden) since its record was read: the read shows the token, and
  // nothing is stored or linked for it.
  seal_->gate().Erase("ten_acme", kBob);
  auto erased =
      vault_->TokenizeField("ten_acme", "patients", "email", json::value("bob@b.example"), kBob);
  ASSERT_TRUE(erased) << erased.error().message();
  EXPECT_FALSE(Stored(kTokensSpace, "ten_acme/" + *erased));
  EXPECT_FALSE(Linked(kBob, *erased));
  ExpectError(vault_->Tokenize("ten_acme", for_bob, exists_), ErrorCode::kNotFound, "$.subject_id",
              "unknown_subject");
  ExpectError(
      vault_->Tokenize("ten_acme",
                       json::parse(R"({"kind":"random","values":["a"],"subject_id":""})"), exists_),
      ErrorCode::kNotFound, "$.subject_id", "unknown_subject");
}

// The tenant holds what it tokenized without a subject (deterministic, format-preserving, a
// field of a record without one) and every token from before links: a subject's erasure must
// find another holder for those, so links to them never make them the subject's alone.
TEST_F(TokenVaultTest, TheTenantHoldsTokensMadeWithoutASubject) {
  const auto det = Tokens("deterministic", {"tenant value"});
  const std::string holders = "ten_acme/" + det[0] + "/";
  EXPECT_TRUE(Stored(kTokenHolders, holders + std::string(kTenantHolder)));
  EXPECT_FALSE(Stored(kTokenLinks, "ten_acme/" + std::string(kTenantHolder) + "/" + det[0]));
  auto field =
      vault_->TokenizeField("ten_acme", "patients", "email", json::value("x@y.example"), "");
  ASSERT_TRUE(field);
  EXPECT_TRUE(Stored(kTokenHolders, "ten_acme/" + *field + "/" + std::string(kTenantHolder)));
  // A token from before links (stored, no holder at all), then linked to a subject: the
  // tenant is made a holder too.
  auto old = vault_->TokenizeField("ten_acme", "patients", "phone", json::value("555 0199"), "");
  ASSERT_TRUE(old);
  storage::WriteBatch unheld;
  unheld.Delete(kTokenHolders, "ten_acme/" + *old + "/" + std::string(kTenantHolder));
  ASSERT_TRUE(profiles_->Write(std::move(unheld)));
  ASSERT_TRUE(
      vault_->TokenizeField("ten_acme", "patients", "phone", json::value("555 0199"), kAlice));
  EXPECT_TRUE(Linked(kAlice, *old));
  EXPECT_TRUE(Stored(kTokenHolders, "ten_acme/" + *old + "/" + std::string(kTenantHolder)));
  // A random token without a subject is never linked later: no holder needed.
  const auto loose = Tokens("random", {"r"});
  EXPECT_FALSE(Stored(kTokenHolders, "ten_acme/" + loose[0] + "/" + std::string(kTenantHolder)));
}

TEST_F(TokenVaultTest, RefusesCardNumbersAndBadRequests) {
  ExpectError(vault_->Tokenize("ten_acme",
                               json::parse(R"({"kind":"random","values":["a"],)"
                                           R"("subject_id":"sub_CCCCCCCCCCCCCCCCCCCCCC"})"),
                               exists_),
              ErrorCode::kNotFound, "$.subject_id", "unknown_subject");
  ExpectError(
      vault_->Tokenize("ten_acme",
                       json::parse(R"({"kind":"random","values":["a"],"subject_id":7})"), exists_),
      ErrorCode::kInvalidArgument, "$.subject_id", "type");
  ExpectError(
      vault_->Tokenize(
          "ten_acme", json::parse(R"({"kind":"random","values":["a"],"subject_id":"x"})"), exists_),
      ErrorCode::kNotFound, "$.subject_id", "unknown_subject");
  ExpectError(vault_->Tokenize("ten_acme",
                               json::parse(R"({"kind":"one-way","values":["a"],)"
                                           R"("subject_id":"sub_AAAAAAAAAAAAAAAAAAAAAA"})"),
                               exists_),
              ErrorCode::kInvalidArgument, "$.subject_id", "not_stored");
  ExpectError(Tokenize("random", {"ok", "4111 1111 1111 1111"}), ErrorCode::kCardDataRefused,
              "$.values[1]", "card_number");
  ExpectError(Tokenize("format-preserving", {"4111-1111-1111-1111"}), ErrorCode::kCardDataRefused,
              "$.values[0]", "card_number");
  ExpectError(vault_->Tokenize("ten_acme", json::parse(R"({"values":["a"]})"), exists_),
              ErrorCode::kInvalidArgument, "$.kind", "required");
  ExpectError(Tokenize("reversible", {"a"}), ErrorCode::kInvalidArgument, "$.kind", "enum");
  ExpectError(
      vault_->Tokenize("ten_acme", json::parse(R"({"kind":"random","values":"a"})"), exists_),
      ErrorCode::kInvalidArgument, "$.values", "type");
  ExpectError(Tokenize("random", {}), ErrorCode::kInvalidArgument, "$.values", "size");
  ExpectError(Tokenize("random", json::array(101, "a")), ErrorCode::kInvalidArgument, "$.values",
              "size");
  ExpectError(Tokenize("random", {"a", 7}), ErrorCode::kInvalidArgument, "$.values[1]", "type");
  ExpectError(Tokenize("random", {std::string(kMaxTokenValueBytes + 1, 'x')}),
              ErrorCode::kInvalidArgument, "$.values[0]", "max_length");
  ExpectError(vault_->Tokenize("ten_acme", json::parse(R"({"kind":"random","values":["a"],"x":1})"),
                               exists_),
              ErrorCode::kInvalidArgument, "$.x", "unknown_field");
  ExpectError(DetokenizeBody(R"({"tokens":[1]})"), ErrorCode::kInvalidArgument, "$.tokens[0]",
              "type");
  ExpectError(DetokenizeBody(R"({"tokens":[]})"), ErrorCode::kInvalidArgument, "$.tokens", "size");
  ExpectError(DetokenizeBody("[]"), ErrorCode::kInvalidArgument, "$", "type");
  seal_->Seal();
  ExpectError(Tokenize("random", {"a"}), ErrorCode::kSealed, "", "");
  ExpectError(Detokenize({"tkr_AAAAAAAAAAAAAAAAAAAAAA"}), ErrorCode::kSealed, "", "");
}

// Detokenizing a subject's token answers no more than reading the subject's data: its choices
// (restriction, objection, consent) are weighed for each subject linked to the token.
TEST_F(TokenVaultTest, TheChoicesOfEverySubjectLinkedToATokenDecideItsDetokenizing) {
  const auto tokens_of = [&](std::string_view kind, json::array values, std::string_view subject) {
    json::object body{{"kind", kind}, {"values", std::move(values)}};
    if (!subject.empty()) body["subject_id"] = subject;
    auto answer = vault_->Tokenize("ten_acme", body, exists_);
    EXPECT_TRUE(answer) << answer.error().message();
    std::vector<std::string> out;
    for (const auto& t : answer->at("tokens").as_array()) out.emplace_back(t.as_string());
    return out;
  };
  const std::string alices = tokens_of("random", {"alice's value"}, kAlice)[0];
  const std::string shared = tokens_of("deterministic", {"same"}, kAlice)[0];
  ASSERT_EQ(tokens_of("deterministic", {"same"}, kBob)[0], shared);
  const std::string bobs = tokens_of("random", {"bob's value"}, kBob)[0];
  // Deterministic tokens made without a subject are the tenant's ("$tenant" holds them); the
  // second is later made for Alice too.
  const std::string tenants = tokens_of("deterministic", {"the tenant's"}, "")[0];
  const std::string with_tenant = tokens_of("deterministic", {"tenant and alice"}, "")[0];
  ASSERT_EQ(tokens_of("deterministic", {"tenant and alice"}, kAlice)[0], with_tenant);

  auto all = Detokenize({alices, shared, bobs, tenants, with_tenant});
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(all->at("values"), (json::array{"alice's value", "same", "bob's value", "the tenant's",
                                            "tenant and alice"}));
  // Each linked subject asked once in the call, however many of its tokens it held; the
  // tenant's token asked nobody.
  std::sort(asked_.begin(), asked_.end());
  EXPECT_EQ(asked_, (std::vector<std::string>{std::string(kAlice), std::string(kBob)}));

  // Alice restricted her data. Her own token is refused with her rule at its path; a token
  // someone else holds too says only that a subject's choices refuse it (its other holders, and
  // whoever tokenizes a guessed value, must not learn what she chose).
  Error restricted(ErrorCode::kPermissionDenied, "the data subject's data is restricted");
  restricted.At("subject", "restricted");
  refusals_.emplace(std::string(kAlice), restricted);
  ExpectError(Detokenize({bobs, alices}), ErrorCode::kPermissionDenied, "$.tokens[1]",
              "restricted");
  ExpectError(Detokenize({shared}), ErrorCode::kPermissionDenied, "$.tokens[0]", "subject_choices");
  ExpectError(Detokenize({with_tenant}), ErrorCode::kPermissionDenied, "$.tokens[0]",
              "subject_choices");
  auto others = Detokenize({bobs, tenants});
  ASSERT_TRUE(others);
  EXPECT_EQ(others->at("values"), (json::array{"bob's value", "the tenant's"}));

  // A subject that is gone (its link outlived it): its own token answers as an unknown one; a
  // token others hold too is theirs to decide.
  refusals_.clear();
  refusals_.emplace(std::string(kBob), Error(ErrorCode::kNotFound, "no such subject"));
  ExpectError(Detokenize({bobs}), ErrorCode::kNotFound, "$.tokens[0]", "unknown_token");
  auto still = Detokenize({shared});
  ASSERT_TRUE(still) << still.error().message();
  EXPECT_EQ(still->at("values"), (json::array{"same"}));

  // The gate hides a subject whose erasure is under way or in its grace period, whatever its
  // choices say: as after the erasure, its own token is unknown, and a shared one is not held
  // up (nor does it tell anyone that an erasure is pending).
  refusals_.clear();
  refusals_.emplace(std::string(kAlice), restricted);
  seal_->gate().MarkErased("ten_acme", kAlice);
  ExpectError(Detokenize({alices}), ErrorCode::kNotFound, "$.tokens[0]", "unknown_token");
  auto shared_back = Detokenize({shared, with_tenant});
  ASSERT_TRUE(shared_back) << shared_back.error().message();
  EXPECT_EQ(shared_back->at("values"), (json::array{"same", "tenant and alice"}));
  seal_->gate().Unerase("ten_acme", kAlice);
  // Any other failure passes through as it is (a sealed vault, a store error).
  refusals_.clear();
  refusals_.emplace(std::string(kAlice), Error(ErrorCode::kUnavailable, "store busy"));
  auto failed = Detokenize({alices});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace strongroom::records
