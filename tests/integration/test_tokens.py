"""Tokenization against the real server: every token kind over HTTPS, detokenize denied until a
tenant's policy grants it (and never to administrators), tokens refused across tenants, the
"tokenized" view of a record turning back into its value, the audit entries, and no value in
any file."""

import json
import unittest

from harness import ServerTestCase

PATIENTS = {"name": "patients", "fields": [
    {"name": "email", "type": "email",
     "classification": {"grade": "confidential", "category": "contact"}},
    {"name": "city", "type": "string",
     "classification": {"grade": "internal", "category": "location"}},
]}

# The built-in policy plus: billing clerks detokenize for billing, agents see emails tokenized.
EXTRA_RULES = """
[[rule]]
name = "billing clerks detokenize for billing"
effect = "allow"
roles = ["billing"]
actions = ["detokenize"]
collections = ["@tokens"]
purposes = ["billing"]

[[rule]]
name = "billing clerks read emails for billing"
effect = "allow"
roles = ["billing"]
actions = ["read"]
collections = ["patients"]
fields = ["email"]
purposes = ["billing"]
view = "plain"

[[rule]]
name = "agents see emails as tokens"
effect = "allow"
roles = ["agent"]
actions = ["read"]
fields = ["email"]
view = "tokenized"
"""


class TokensTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.make_server()
        self.app = self.server.app_token
        self.billing = self.server.principal_token("clerk", ["billing"])["token"]
        self.agent = self.server.principal_token("agent", ["agent"])["token"]

    def tokenize(self, kind, values, token=None):
        return self.server.api("POST", "/v1/tokenize", {"kind": kind, "values": values},
                               token=token or self.app)

    def detokenize(self, tokens, token=None, purpose=None):
        headers = {"Strongroom-Purpose": purpose} if purpose else {}
        return self.server.api("POST", "/v1/detokenize", {"tokens": tokens},
                               token=token or self.billing, headers=headers)

    def grant(self):
        status, shown = self.server.api("GET", "/v1/policy")
        self.assertEqual(status, 200, shown)
        status, body = self.server.api("PUT", "/v1/policy",
                                       {"document": shown["document"] + EXTRA_RULES})
        self.assertEqual(status, 200, body)

    def test_tokens_of_every_kind_and_detokenize_by_policy(self):
        status, random = self.tokenize("random", ["ada.lovelace@example.com"])
        self.assertEqual(status, 200, random)
        self.assertRegex(random["tokens"][0], r"^tkr_[A-Za-z0-9_-]{22}$")
        status, fpe = self.tokenize("format-preserving", ["0207 946 0018"])
        self.assertEqual(status, 200, fpe)
        self.assertRegex(fpe["tokens"][0], r"^\d{4} \d{3} \d{4}$")
        self.assertNotEqual(fpe["tokens"][0], "0207 946 0018")
        status, det = self.tokenize("deterministic", ["AB123456C", "AB123456C"])
        self.assertEqual(status, 200, det)
        self.assertEqual(det["tokens"][0], det["tokens"][1])
        status, one_way = self.tokenize("one-way", ["AB123456C"])
        self.assertEqual(status, 200, one_way)
        self.assertRegex(one_way["tokens"][0], r"^tkh_[A-Za-z0-9_-]{22}$")
        every = random["tokens"] + fpe["tokens"] + det["tokens"][:1]

        # Nobody detokenizes under the built-in policy, not even the application that tokenized.
        for token in (self.app, self.billing):
            status, body = self.detokenize(every, token=token, purpose="billing")
            self.assertEqual(status, 403, body)
            self.assertEqual(body["error"]["details"], {"path": "policy", "rule": "denied"})
        # "*" never includes detokenize: it must be named.
        status, shown = self.server.api("GET", "/v1/policy")
        status, body = self.server.api("PUT", "/v1/policy", {"document": shown["document"] + """
[[rule]]
effect = "allow"
roles = ["app"]
actions = ["*"]
view = "plain"
"""})
        self.assertEqual(status, 200, body)
        status, body = self.detokenize(every, token=self.app)
        self.assertEqual((status, body["error"]["details"]["rule"]), (403, "denied"))
        self.grant()
        status, body = self.detokenize(every)  # no purpose stated
        self.assertEqual(status, 403, body)
        status, back = self.detokenize(every, purpose="billing")
        self.assertEqual(status, 200, back)
        self.assertEqual(back, {"values": ["ada.lovelace@example.com", "0207 946 0018",
                                           "AB123456C"]})
        status, body = self.detokenize(one_way["tokens"], purpose="billing")
        self.assertEqual((status, body["error"]["details"]),
                         (400, {"path": "$.tokens[0]", "rule": "not_reversible"}))
        # Administrators never detokenize (a guardrail), nor can a document say they may.
        status, body = self.detokenize(every, token=self.server.admin_token, purpose="billing")
        self.assertEqual(status, 403, body)
        status, shown = self.server.api("GET", "/v1/policy")
        status, body = self.server.api("PUT", "/v1/policy", {"document": shown["document"] + """
[[rule]]
effect = "allow"
roles = ["admin"]
actions = ["detokenize"]
"""})
        self.assertEqual(status, 400, body)
        self.assertIn("administrators and operators do not detokenize", body["error"]["message"])

        # Bad input names the place; card numbers are refused like everywhere.
        status, body = self.tokenize("random", ["ok", "4111 1111 1111 1111"])
        self.assertEqual((status, body["error"]["code"], body["error"]["details"]["path"]),
                         (422, "card_data_refused", "$.values[1]"))
        status, body = self.tokenize("format-preserving", ["12-34"])
        self.assertEqual((status, body["error"]["details"]),
                         (400, {"path": "$.values[0]", "rule": "format"}))
        status, body = self.tokenize("secret", ["x"])
        self.assertEqual((status, body["error"]["details"]), (400, {"path": "$.kind",
                                                                    "rule": "enum"}))
        status, _, raw = self.server.request(
            "POST", "/v1/tokenize", body='{"kind": "random", "values": ["x"',
            headers={"Authorization": "Bearer " + self.app, "Content-Type": "application/json"})
        self.assertEqual(status, 400, raw)
        # A read-only token cannot make tokens.
        reader = self.server.principal_token("reader", ["app"], scopes=["data:read"])["token"]
        status, body = self.tokenize("random", ["x"], token=reader)
        self.assertEqual(status, 403, body)
        self.assertIn("data:write", body["error"]["message"])

        # The trail names who tokenized and detokenized, and what decided: no value, no token.
        auditor = self.server.principal_token("auditor", ["auditor"])["token"]
        status, page = self.server.api("GET", "/v1/audit?limit=1000", token=auditor)
        self.assertEqual(status, 200, page)
        tokenized = [e for e in page["entries"] if e["action"] == "tokenization.tokenize"]
        self.assertGreaterEqual(len(tokenized), 4)
        detokenized = [e for e in page["entries"] if e["action"] == "tokenization.detokenize"]
        # Built-in policy (app, clerk), "*" (app), no purpose (clerk), then the clerk's success.
        self.assertEqual([e["outcome"]["status"] for e in detokenized][:5],
                         [403, 403, 403, 403, 200])
        self.assertEqual(detokenized[4]["policy"]["rule"], "billing clerks detokenize for billing")
        self.assertEqual(detokenized[4]["purpose"], "billing")
        # Who turned which token back: findable by the token's keyed hash.
        status, hashed = self.server.api("POST", "/v1/audit/hash", {"value": every[0]},
                                         token=auditor)
        status, by_token = self.server.api("GET", "/v1/audit?value_hash=" + hashed["hash"],
                                           token=auditor)
        self.assertEqual([(e["action"], e["outcome"]["status"]) for e in by_token["entries"]],
                         [("tokenization.detokenize", 403)] * 4 +
                         [("tokenization.detokenize", 200), ("tokenization.detokenize", 403)])
        text = json.dumps(page)
        for needle in ["lovelace", "0207 946", "AB123456C"] + every:
            self.assertNotIn(needle, text)
        self.server.stop()
        self.assert_nowhere(self.server, [b"lovelace", b"0207 946 0018", b"AB123456C"],
                            min_files=6)

    def test_tokens_are_refused_across_tenants(self):
        self.grant()
        self.assertEqual(self.server.api("POST", "/v1/tenants", {"id": "other"})[0], 201)
        other_app = self.server.principal_token("other-app", ["app"], tenant="other")["token"]
        status, theirs = self.tokenize("random", ["grace@example.com"], token=other_app)
        self.assertEqual(status, 200, theirs)
        status, fpe = self.tokenize("format-preserving", ["555 0100 42"], token=other_app)
        self.assertEqual(status, 200, fpe)
        status, det = self.tokenize("deterministic", ["grace@example.com"], token=other_app)
        self.assertEqual(status, 200, det)
        status, ours = self.tokenize("deterministic", ["grace@example.com"])
        self.assertEqual(status, 200, ours)
        self.assertNotEqual(det["tokens"][0], ours["tokens"][0])
        # Another tenant's token answers exactly like one never issued.
        answers = []
        for token in (theirs["tokens"][0], fpe["tokens"][0], det["tokens"][0],
                      "tkr_AAAAAAAAAAAAAAAAAAAAAA"):
            status, body = self.detokenize([token], purpose="billing")
            self.assertEqual(status, 404, body)
            del body["error"]["request_id"]
            answers.append(body)
        self.assertEqual(answers, [answers[3]] * 4)
        self.assertEqual(answers[0]["error"]["details"],
                         {"path": "$.tokens[0]", "rule": "unknown_token"})

    def test_a_subjects_choices_decide_the_detokenizing_of_its_tokens(self):
        """A restricted subject's tokens, and one it shares with another subject, are not turned
        back for billing, as its data is not read for billing (a shared one without saying what
        the subject chose); the tenant's own token is."""
        self.grant()
        subject = self.server.api("POST", "/v1/subjects", {})[1]["id"]
        other = self.server.api("POST", "/v1/subjects", {})[1]["id"]

        def tokenize_for(who, kind, value):
            status, made = self.server.api("POST", "/v1/tokenize", {
                "kind": kind, "values": [value], "subject_id": who}, token=self.app)
            self.assertEqual(status, 200, made)
            return made["tokens"][0]

        own = tokenize_for(subject, "random", "restricted person's value")
        shared = tokenize_for(subject, "deterministic", "a value two people hold")
        self.assertEqual(tokenize_for(other, "deterministic", "a value two people hold"), shared)
        # The tenant's own (deterministic, so the tenant is recorded as its holder).
        loose = self.tokenize("deterministic", ["nobody's in particular"])[1]["tokens"][0]
        status, back = self.detokenize([own, shared, loose], purpose="billing")
        self.assertEqual(status, 200, back)

        status, state = self.server.api("PUT", "/v1/subjects/%s/processing" % subject,
                                        {"restricted": True, "objections": []})
        self.assertEqual(status, 200, state)
        for tokens, at, rule in (([loose, own], "$.tokens[1]", "restricted"),
                                 ([shared], "$.tokens[0]", "subject_choices")):
            status, body = self.detokenize(tokens, purpose="billing")
            self.assertEqual(status, 403, body)
            self.assertEqual(body["error"]["details"], {"path": at, "rule": rule})
            self.assertNotIn("restricted person's value", json.dumps(body))
        status, back = self.detokenize([loose], purpose="billing")
        self.assertEqual((status, back["values"]), (200, ["nobody's in particular"]))
        # The refusal is audited with the subject's rule.
        auditor = self.server.principal_token("token-auditor", ["auditor"], kind="user",
                                              scopes=["audit:read"])["token"]
        status, page = self.server.api("GET", "/v1/audit?action=tokenization.detokenize&limit=50",
                                       token=auditor)
        self.assertEqual(status, 200, page)
        refused = [e["outcome"] for e in page["entries"] if e["outcome"]["status"] == 403]
        self.assertEqual(refused[-2:], [
            {"status": 403, "code": "permission_denied",
             "details": {"path": "$.tokens[1]", "rule": "restricted"}},
            {"status": 403, "code": "permission_denied",
             "details": {"path": "$.tokens[0]", "rule": "subject_choices"}}])

        status, state = self.server.api("PUT", "/v1/subjects/%s/processing" % subject,
                                        {"restricted": False, "objections": []})
        self.assertEqual(status, 200, state)
        status, back = self.detokenize([own, shared], purpose="billing")
        self.assertEqual((status, back["values"]),
                         (200, ["restricted person's value", "a value two people hold"]))

    def test_erasing_a_subject_takes_the_tokens_of_its_values(self):
        """Tokens made for a subject (its record's tokenized view, a tokenize naming it) go
        with its erasure; a token another subject holds too, and the tenant's own, stay."""
        self.grant()
        self.assertEqual(self.server.api("POST", "/v1/collections", PATIENTS)[0], 201)
        victim = self.server.api("POST", "/v1/subjects", {})[1]["id"]
        keeper = self.server.api("POST", "/v1/subjects", {})[1]["id"]
        status, record = self.server.api("POST", "/v1/collections/patients/records",
                                         {"subject_id": victim,
                                          "fields": {"email": "erase.me@example.com"}})
        self.assertEqual(status, 201, record)
        status, seen = self.server.api("GET", "/v1/collections/patients/records/" + record["id"],
                                       token=self.agent)
        self.assertEqual(status, 200, seen)
        view_token = seen["fields"]["email"]

        def tokenize_for(subject, kind, value):
            status, made = self.server.api("POST", "/v1/tokenize", {
                "kind": kind, "values": [value], "subject_id": subject}, token=self.app)
            self.assertEqual(status, 200, made)
            self.assertEqual(made["subject_id"], subject)
            return made["tokens"][0]

        own = tokenize_for(victim, "random", "victim's own value")
        shared = tokenize_for(victim, "deterministic", "a value both hold")
        self.assertEqual(tokenize_for(keeper, "deterministic", "a value both hold"), shared)
        loose = self.tokenize("random", ["the tenant's value"])[1]["tokens"][0]
        # The tenant's own deterministic token of a value, later made for the victim too: the
        # tenant still holds it.
        tenants = self.tokenize("deterministic", ["held by the tenant"])[1]["tokens"][0]
        self.assertEqual(tokenize_for(victim, "deterministic", "held by the tenant"), tenants)
        # Bad input: an unknown subject, a one-way token (never stored), a wrong type.
        for body, code, details in (
                ({"kind": "random", "values": ["x"], "subject_id": "sub_AAAAAAAAAAAAAAAAAAAAAA"},
                 404, {"path": "$.subject_id", "rule": "unknown_subject"}),
                ({"kind": "one-way", "values": ["x"], "subject_id": victim},
                 400, {"path": "$.subject_id", "rule": "not_stored"}),
                ({"kind": "random", "values": ["x"], "subject_id": ["x"]},
                 400, {"path": "$.subject_id", "rule": "type"})):
            status, refused = self.server.api("POST", "/v1/tokenize", body, token=self.app)
            self.assertEqual((status, refused["error"]["details"]), (code, details))
        status, back = self.detokenize([view_token, own, shared, loose, tenants],
                                       purpose="billing")
        self.assertEqual(status, 200, back)

        status, erased = self.server.api("DELETE", "/v1/subjects/" + victim)
        self.assertEqual(status, 200, erased)
        self.assertEqual(erased["destroyed"]["tokens"], 2)  # the view's and its own
        for gone in (view_token, own):
            status, body = self.detokenize([gone], purpose="billing")
            self.assertEqual((status, body["error"]["details"]),
                             (404, {"path": "$.tokens[0]", "rule": "unknown_token"}))
        status, back = self.detokenize([shared, loose, tenants], purpose="billing")
        self.assertEqual((status, back), (200, {"values": ["a value both hold",
                                                           "the tenant's value",
                                                           "held by the tenant"]}))
        # Tokenizing for the erased subject is refused like for one that never existed.
        status, refused = self.server.api("POST", "/v1/tokenize", {
            "kind": "random", "values": ["x"], "subject_id": victim}, token=self.app)
        self.assertEqual(status, 404, refused)
        # The keeper's erasure then takes the shared one.
        status, erased = self.server.api("DELETE", "/v1/subjects/" + keeper)
        self.assertEqual((status, erased["destroyed"]["tokens"]), (200, 1))
        self.assertEqual(self.detokenize([shared], purpose="billing")[0], 404)
        # The tokenize entries name the subject (by pseudonym), never the value.
        auditor = self.server.principal_token("auditor", ["auditor"])["token"]
        status, page = self.server.api("GET", "/v1/audit?action=tokenization.tokenize",
                                       token=auditor)
        named = [e for e in page["entries"] if e["outcome"]["status"] == 200 and
                 e.get("resource", {}).get("subjects")]
        self.assertEqual(len(named), 4, page["entries"])
        self.assertNotIn("value both hold", json.dumps(page["entries"]))

    def test_a_tokenized_view_turns_back_into_the_value(self):
        self.grant()
        self.assertEqual(self.server.api("POST", "/v1/collections", PATIENTS)[0], 201)
        status, subject = self.server.api("POST", "/v1/subjects", {})
        status, record = self.server.api("POST", "/v1/collections/patients/records",
                                         {"subject_id": subject["id"],
                                          "fields": {"email": "jane.doe@example.com",
                                                     "city": "Leeds"}})
        self.assertEqual(status, 201, record)
        status, seen = self.server.api("GET", "/v1/collections/patients/records/" + record["id"],
                                       token=self.agent)
        self.assertEqual(status, 200, seen)
        token = seen["fields"]["email"]
        self.assertRegex(token, r"^tkd_[A-Za-z0-9_-]{22}$")
        self.assertEqual(seen["views"], {"email": "tokenized", "city": "withheld"})
        self.assertNotIn("city", seen["fields"])
        # Read twice (or another record with the same email), the same token: it joins within
        # the field; the application's own deterministic token of the value is another one.
        again = self.server.api("GET", "/v1/collections/patients/records/" + record["id"],
                                token=self.agent)[1]
        self.assertEqual(again["fields"]["email"], token)
        status, det = self.tokenize("deterministic", ["jane.doe@example.com"])
        self.assertNotEqual(det["tokens"], [token])
        # The agent cannot turn it back; a clerk who may detokenize gets it back only while it
        # may also read the field plain (for billing): no more than reading the record gives.
        self.assertEqual(self.detokenize([token], token=self.agent, purpose="billing")[0], 403)
        status, back = self.detokenize([token], purpose="billing")
        self.assertEqual((status, back), (200, {"values": ["jane.doe@example.com"]}))
        status, shown = self.server.api("GET", "/v1/policy")
        narrowed = shown["document"].replace('fields = ["email"]\npurposes = ["billing"]',
                                              'fields = ["city"]\npurposes = ["billing"]')
        self.assertNotEqual(narrowed, shown["document"])
        self.assertEqual(self.server.api("PUT", "/v1/policy", {"document": narrowed})[0], 200)
        status, body = self.detokenize([token], purpose="billing")
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "$.tokens[0]", "rule": "field_not_readable"}))
        auditor = self.server.principal_token("auditor", ["auditor"])["token"]
        status, page = self.server.api("GET", "/v1/audit?action=record.read", token=auditor)
        self.assertEqual(sorted(page["entries"][-1]["fields"]),
                         ["city:withheld", "email:tokenized"])


if __name__ == "__main__":
    unittest.main()
