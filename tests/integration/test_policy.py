"""Access policy against the real server: the authorization matrix (role x action x grade x
purpose x network), exact views, no existence oracle, cross-tenant and IDOR, a role downgrade
taking effect on the next request, the policy's own API (line errors, versions, lockout, dry
run), and the audit entry of each decision."""

import json
import os
import time
import unittest

from harness import ServerTestCase
from test_identity import ALICE_PASSWORD, TEMPORARY, IdentityHelpers
from test_two_factor import STEP, oathtool, start_of_a_fresh_step

PATIENTS = {"name": "patients", "fields": [
    {"name": "nickname", "type": "string", "indexed": True,
     "classification": {"grade": "public", "category": "other"}},
    {"name": "city", "type": "string",
     "classification": {"grade": "internal", "category": "location"}},
    {"name": "email", "type": "email",
     "classification": {"grade": "confidential", "category": "contact"}},
    {"name": "ssn", "type": "national_id",
     "classification": {"grade": "restricted", "category": "identity"}},
]}
VALUES = {"nickname": "Jo", "city": "Leeds", "email": "jane.doe@example.com",
          "ssn": "AB123456C"}
MASKED = {"nickname": "***", "city": "***", "email": "j***@example.com", "ssn": "*****456C"}
GRADES = {"nickname": "public", "city": "internal", "email": "confidential",
          "ssn": "restricted"}

# The document under test. NETWORK is replaced by the agents' office network: 127.0.0.0/8 puts
# the test client inside it, 192.0.2.0/24 outside.
DOCUMENT = """
purposes = ["support", "billing", "subject-request"]

[[rule]]
name = "administrators run the vault"
effect = "allow"
roles = ["admin"]
actions = ["manage-schema", "manage-principals", "manage-keys", "manage-tenants", "manage-policy"]

[[rule]]
name = "administrators and operators handle records"
effect = "allow"
roles = ["admin", "operator"]
actions = ["read", "create", "delete"]
view = "plain"

[[rule]]
name = "applications"
effect = "allow"
roles = ["app"]
actions = ["read", "search", "create", "update", "delete"]
view = "plain"

[[rule]]
name = "agents see public data"
effect = "allow"
roles = ["agent"]
actions = ["read"]
grades = ["public"]
networks = ["NETWORK"]
view = "plain"

[[rule]]
name = "agents on support see contact data masked"
effect = "allow"
roles = ["agent"]
actions = ["read"]
grades = ["internal", "confidential"]
purposes = ["support"]
networks = ["NETWORK"]
view = "masked"

[[rule]]
name = "agents never see restricted data"
effect = "deny"
roles = ["agent"]
actions = ["read"]
grades = ["restricted"]

[[rule]]
name = "subject requests"
effect = "allow"
roles = ["dpo"]
actions = ["read"]
purposes = ["subject-request"]
view = "plain"

[[rule]]
name = "auditors and dpos read the trail"
effect = "allow"
roles = ["auditor", "dpo"]
actions = ["read-audit"]
"""

ROLES = ["admin", "operator", "auditor", "dpo", "app", "agent"]
PURPOSES = [None, "support", "subject-request"]


def expected_view(role, grade, purpose, inside):
    """The table: the view of a field of `grade`, or "deny" for a refused read (403), or
    "withheld" for a field left out of an allowed read."""
    if role in ("admin", "operator"):
        # Allowed plain by the document; the guardrail caps confidential and restricted.
        return "masked" if grade in ("confidential", "restricted") else "plain"
    if role == "app":
        return "plain"
    if role == "dpo":
        return "plain" if purpose == "subject-request" else "deny"
    if role == "agent":
        if not inside:
            return "deny"
        if grade == "public":
            return "plain"
        if grade == "restricted":
            return "withheld"
        return "masked" if purpose == "support" else "withheld"
    return "deny"  # auditor, and anyone else


# Every other action of the matrix: what DOCUMENT allows each role (whatever the purpose and the
# network: no rule for these names either), as "allow" or "deny".
ACTIONS = ["search", "create", "update", "delete", "tokenize", "detokenize",
           "manage-principals", "manage-policy", "read-audit"]


def expected_action(role, action):
    if action in ("create", "delete"):
        return "allow" if role in ("admin", "operator", "app") else "deny"
    if action in ("search", "update"):
        return "allow" if role == "app" else "deny"
    if action in ("manage-principals", "manage-policy"):
        return "allow" if role == "admin" else "deny"
    if action == "read-audit":
        return "allow" if role in ("auditor", "dpo") else "deny"
    return "deny"  # tokenize, detokenize: DOCUMENT names nobody


class PolicyTest(IdentityHelpers, ServerTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.make_server()
        status, body = self.server.api("POST", "/v1/collections", PATIENTS)
        self.assertEqual(status, 201, body)
        status, subject = self.server.api("POST", "/v1/subjects", {})
        self.assertEqual(status, 201, subject)
        self.subject = subject["id"]
        status, record = self.server.api("POST", "/v1/collections/patients/records",
                                         {"subject_id": self.subject, "fields": VALUES})
        self.assertEqual(status, 201, record)
        self.record = record["id"]
        self.tokens = {"admin": self.server.admin_token}
        for role in ROLES[1:]:
            kind = "service" if role == "app" else "user"
            self.tokens[role] = self.server.principal_token("matrix-" + role, [role],
                                                            kind=kind)["token"]
        self.admin_id = self.server.principal_token("matrix-admin", ["admin"])["principal_id"]

    def put_policy(self, text, expected=None, token=None):
        body = {"document": text}
        if expected is not None:
            body["expected_version"] = expected
        return self.server.api("PUT", "/v1/policy", body, token=token)

    def get(self, role, purpose=None, record=None):
        headers = {"Strongroom-Purpose": purpose} if purpose else {}
        return self.server.api("GET", "/v1/collections/patients/records/" + (record or self.record),
                               token=self.tokens[role], headers=headers)

    def test_the_authorization_matrix(self):
        checked = 0
        for inside in (True, False):
            network = "127.0.0.0/8" if inside else "192.0.2.0/24"
            status, stored = self.put_policy(DOCUMENT.replace("NETWORK", network))
            self.assertEqual(status, 200, stored)
            for role in ROLES:
                for purpose in PURPOSES:
                    status, body = self.get(role, purpose)
                    expected = {f: expected_view(role, g, purpose, inside)
                                for f, g in GRADES.items()}
                    cell = (role, purpose, inside)
                    if all(v in ("deny", "withheld") for v in expected.values()) and \
                            "deny" in expected.values():
                        self.assertEqual(status, 403, (cell, body))
                        self.assertEqual(body["error"]["code"], "permission_denied", cell)
                        checked += len(GRADES)
                        continue
                    self.assertEqual(status, 200, (cell, body))
                    for field, view in expected.items():
                        checked += 1
                        if view == "withheld":
                            self.assertNotIn(field, body["fields"], cell)
                            self.assertEqual(body["views"][field], "withheld", cell)
                        else:
                            want = VALUES[field] if view == "plain" else MASKED[field]
                            self.assertEqual(body["fields"][field], want, (cell, field))
                            self.assertEqual(body["views"][field], view, (cell, field))
        self.assertEqual(checked, 2 * len(ROLES) * len(PURPOSES) * len(GRADES))
        # Actions besides read, inside the network: who may create and delete.
        self.put_policy(DOCUMENT.replace("NETWORK", "127.0.0.0/8"))
        for role in ROLES:
            status, body = self.server.api(
                "POST", "/v1/collections/patients/records",
                {"subject_id": self.subject, "fields": {"nickname": "x"}},
                token=self.tokens[role])
            allowed = role in ("admin", "operator", "app")
            self.assertEqual(status, 201 if allowed else 403, (role, body))
            if allowed:
                status, _ = self.server.api(
                    "DELETE", "/v1/collections/patients/records/" + body["id"],
                    token=self.tokens[role])
                self.assertEqual(status, 204, role)
        # Managing: only the admin may change the policy; auditors read the trail, admins not.
        for role in ROLES:
            status, _ = self.server.api("GET", "/v1/policy", token=self.tokens[role])
            self.assertEqual(status, 200 if role == "admin" else 403, role)
            status, _ = self.server.api("GET", "/v1/audit?limit=1", token=self.tokens[role])
            self.assertEqual(status, 200 if role in ("auditor", "dpo") else 403, role)

    def test_the_action_matrix(self):
        """role x action x purpose x in/out of the network, for every action but read (above)."""
        def attempt(role, action, purpose, field="nickname"):
            token = self.tokens[role]
            headers = {"Strongroom-Purpose": purpose} if purpose else {}
            records = "/v1/collections/patients/records"
            if action == "search":
                return self.server.api("POST", records + "/search",
                                       {"field": "nickname", "value": "Jo"}, token=token,
                                       headers=headers)
            if action == "create":
                return self.server.api("POST", records, {"subject_id": self.subject,
                                                         "fields": {field: VALUES[field]}},
                                       token=token, headers=headers)
            if action == "update":
                return self.server.api("PATCH", records + "/" + self.record,
                                       {"fields": {field: VALUES[field]}}, token=token,
                                       headers=headers)
            if action == "delete":
                status, made = self.server.api("POST", records, {"subject_id": self.subject,
                                                                 "fields": {"nickname": "y"}},
                                               token=self.tokens["app"])
                self.assertEqual(status, 201, made)
                return self.server.api("DELETE", records + "/" + made["id"], token=token,
                                       headers=headers)
            if action == "tokenize":
                return self.server.api("POST", "/v1/tokenize",
                                       {"kind": "random", "values": ["x"]}, token=token,
                                       headers=headers)
            if action == "detokenize":
                return self.server.api("POST", "/v1/detokenize",
                                       {"tokens": ["tkr_AAAAAAAAAAAAAAAAAAAAAA"]}, token=token,
                                       headers=headers)
            if action == "manage-principals":
                return self.server.api("GET", "/v1/principals", token=token, headers=headers)
            if action == "manage-policy":
                return self.server.api("GET", "/v1/policy", token=token, headers=headers)
            return self.server.api("GET", "/v1/audit?limit=1", token=token, headers=headers)

        cells = 0
        for inside in (True, False):
            network = "127.0.0.0/8" if inside else "192.0.2.0/24"
            self.assertEqual(self.put_policy(DOCUMENT.replace("NETWORK", network))[0], 200)
            for role in ROLES:
                for action in ACTIONS:
                    # Writes once per classification grade (a field of each); the rest once.
                    fields = list(GRADES) if action in ("create", "update") else ["nickname"]
                    for purpose in PURPOSES:
                        for field in fields:
                            status, body = attempt(role, action, purpose, field)
                            cell = (role, action, purpose, inside, GRADES[field])
                            if expected_action(role, action) == "allow":
                                self.assertIn(status, (200, 201, 204), (cell, body))
                            else:
                                self.assertEqual(status, 403, (cell, body))
                                self.assertEqual(body["error"]["details"],
                                                 {"path": "policy", "rule": "denied"}, cell)
                            cells += 1
        self.assertEqual(cells, 2 * len(ROLES) * (len(ACTIONS) + 2 * (len(GRADES) - 1)) *
                         len(PURPOSES))

    def test_no_existence_oracle_cross_tenant_and_idor(self):
        self.put_policy(DOCUMENT.replace("NETWORK", "192.0.2.0/24"))  # agents are outside
        missing = "rec_" + "0" * 32
        for record in (self.record, missing, "not-an-id"):
            status, body = self.get("agent", "support", record=record)
            self.assertEqual(status, 403, body)
            del body["error"]["request_id"]
            self.assertEqual(body, {"error": {
                "code": "permission_denied",
                "message": "the access policy does not allow read here",
                "details": {"path": "policy", "rule": "denied"}}})
        # Nor for a collection that does not exist.
        status, body = self.server.api("GET", "/v1/collections/nothing/records/" + missing,
                                       token=self.tokens["agent"])
        self.assertEqual(status, 403, body)
        # Another tenant's application finds the record nowhere, by its id or otherwise.
        self.assertEqual(self.server.api("POST", "/v1/tenants", {"id": "other"})[0], 201)
        other = self.server.principal_token("other-app", ["app"], tenant="other")["token"]
        other_admin = self.server.principal_token("other-admin", ["admin"], tenant="other")
        self.assertEqual(self.server.api("POST", "/v1/collections", PATIENTS,
                                         token=other_admin["token"])[0], 201)
        status, _ = self.server.api("GET", "/v1/collections/patients/records/" + self.record,
                                    token=other)
        self.assertEqual(status, 404)
        status, _ = self.server.api("PATCH", "/v1/collections/patients/records/" + self.record,
                                    {"fields": {"city": "York"}}, token=other)
        self.assertEqual(status, 404)
        status, listed = self.server.api("GET", "/v1/collections/patients/records", token=other)
        self.assertEqual((status, listed["records"]), (200, []))
        # The other tenant's policy is its own: the default tenant's document does not apply.
        status, shown = self.server.api("GET", "/v1/policy", token=other_admin["token"])
        self.assertEqual((status, shown["version"], shown["builtin"]), (200, 0, True))

    def test_a_role_downgrade_takes_effect_on_the_next_request(self):
        status, principal = self.server.api("POST", "/v1/principals",
                                            {"username": "downgraded", "kind": "service",
                                             "roles": ["app"]})
        self.assertEqual(status, 201, principal)
        status, issued = self.server.api("POST", "/v1/principals/%s/tokens" % principal["id"],
                                         {"name": "t"})
        token = issued["token"]
        self.tokens["downgraded"] = token
        status, body = self.get("downgraded")
        self.assertEqual((status, body["fields"]["ssn"]), (200, "AB123456C"))
        status, _ = self.server.api("PATCH", "/v1/principals/" + principal["id"],
                                    {"roles": ["operator"]})
        self.assertEqual(status, 200)
        status, body = self.get("downgraded")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["fields"]["ssn"], "*****456C")
        self.assertEqual(body["views"], {"nickname": "plain", "city": "plain",
                                         "email": "masked", "ssn": "masked"})
        self.assertEqual(self.server.api("PATCH", "/v1/principals/" + principal["id"],
                                         {"roles": ["agent"]})[0], 200)
        self.assertEqual(self.get("downgraded")[0], 403)

    def test_purposes_views_and_the_audit_entry(self):
        self.put_policy(DOCUMENT.replace("NETWORK", "127.0.0.0/8"))
        status, body = self.get("agent", "curiosity")
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["details"],
                         {"path": "header:strongroom-purpose", "rule": "unknown_purpose"})
        status, body = self.get("agent", "support")
        self.assertEqual(status, 200, body)
        status, page = self.server.api(
            "GET", "/v1/audit?action=record.read&limit=1000", token=self.tokens["auditor"])
        self.assertEqual(status, 200, page)
        entry = [e for e in page["entries"]
                 if e["actor"] and e["actor"]["roles"] == ["agent"]
                 and e["purpose"] == "support" and e["outcome"]["status"] == 200][-1]
        self.assertEqual(entry["purpose"], "support")
        self.assertEqual(entry["policy"], {"version": 1, "rule": "agents see public data"})
        self.assertEqual(sorted(entry["fields"]), ["city:masked", "email:masked",
                                                   "nickname:plain", "ssn:withheld"])
        denied = [e for e in page["entries"] if e["outcome"]["status"] == 400]
        self.assertTrue(denied)
        self.assertNotIn("jane", json.dumps(page))
        # A denial names the deciding rule in the trail, not to the caller.
        self.get("auditor")
        status, page = self.server.api(
            "GET", "/v1/audit?action=record.read&outcome=permission_denied",
            token=self.tokens["auditor"])
        self.assertEqual(status, 200, page)
        self.assertEqual(page["entries"][-1]["policy"], {"version": 1, "rule": "default deny"})
        # A required purpose.
        strict = DOCUMENT.replace("NETWORK", "127.0.0.0/8").replace(
            'purposes = ["support", "billing", "subject-request"]',
            'purposes = ["support", "billing", "subject-request"]\nrequire_purpose = true')
        self.assertEqual(self.put_policy(strict)[0], 200)
        status, body = self.get("app")
        self.assertEqual((status, body["error"]["details"]["rule"]), (403, "required"))
        self.assertEqual(self.get("app", "billing")[0], 200)

    def test_guardrails_hold_against_the_vaults_own_operators(self):
        # An operator manages principals but never makes or touches an administrator.
        op = self.tokens["operator"]
        status, body = self.server.api("POST", "/v1/principals",
                                       {"username": "sneaky", "roles": ["admin"]}, token=op)
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "$.roles", "rule": "admin_only"}))
        # Nor an account that sees more than its manager: only roles it holds itself.
        for role in ("app", "auditor", "dpo"):
            status, body = self.server.api("POST", "/v1/principals",
                                           {"username": "x-" + role, "roles": [role]}, token=op)
            self.assertEqual((status, body["error"]["details"]),
                             (403, {"path": "$.roles", "rule": "not_held"}), role)
        status, mine = self.server.api("POST", "/v1/principals",
                                       {"username": "helper", "roles": ["operator"]}, token=op)
        self.assertEqual(status, 201, mine)
        self.assertEqual(self.server.api("PATCH", "/v1/principals/" + mine["id"],
                                         {"roles": ["admin"]}, token=op)[0], 403)
        status, made = self.server.api("POST", "/v1/principals",
                                       {"username": "second-admin", "roles": ["admin"]})
        self.assertEqual(status, 201, made)
        for method, path in [("POST", "/v1/principals/%s/tokens"),
                             ("POST", "/v1/principals/%s/password"),
                             ("DELETE", "/v1/principals/%s/totp"),
                             ("PATCH", "/v1/principals/%s"),
                             ("DELETE", "/v1/principals/%s")]:
            body = {"name": "t"} if path.endswith("tokens") else (
                {"disabled": True} if method == "PATCH" else None)
            status, answer = self.server.api(method, path % made["id"], body, token=op)
            self.assertEqual(status, 403, (method, path, answer))
        status, admin_tokens = self.server.api("GET", "/v1/tokens")
        admin_token_id = [t for t in admin_tokens["tokens"]
                          if t["principal_id"] == self.admin_id][0]["token_id"]
        status, body = self.server.api("DELETE", "/v1/tokens/" + admin_token_id, token=op)
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "principal", "rule": "admin_only"}))
        # A principal made an administrator loses the tokens it had: an operator who issued one
        # does not inherit the promotion.
        status, issued = self.server.api("POST", "/v1/principals/%s/tokens" % mine["id"],
                                         {"name": "t"}, token=op)
        self.assertEqual(status, 201, issued)
        self.assertEqual(self.server.api("PATCH", "/v1/principals/" + mine["id"],
                                         {"roles": ["admin"]})[0], 200)
        self.assertEqual(self.server.api("GET", "/v1/policy", token=issued["token"])[0], 401)
        # Nor does it weaken who needs a second factor (a policy, not an account matter).
        status, _ = self.server.api("PUT", "/v1/tenants/default/two-factor-policy",
                                    {"all_users": True}, token=op)
        self.assertEqual(status, 403)
        # A document granting administrators documents or activity is capped by the engine.
        text = DOCUMENT.replace("NETWORK", "127.0.0.0/8") + """
[[rule]]
effect = "allow"
roles = ["admin"]
actions = ["read"]
collections = ["@documents", "@activity"]
view = "plain"
"""
        self.assertEqual(self.put_policy(text)[0], 200)
        status, body = self.server.api("GET", "/v1/subjects/%s/activity" % self.subject,
                                       token=self.server.admin_token)
        self.assertEqual((status, body["error"]["code"]), (403, "permission_denied"))
        self.assertEqual(self.server.api("GET", "/v1/subjects/%s/documents" % self.subject,
                                         token=self.server.admin_token)[0], 403)

    def test_answers_show_only_what_reading_would(self):
        text = DOCUMENT.replace("NETWORK", "127.0.0.0/8") + """
[[rule]]
name = "clerks update cities but read no more than nicknames"
effect = "allow"
roles = ["clerk"]
actions = ["update"]
view = "plain"

[[rule]]
effect = "allow"
roles = ["clerk"]
actions = ["read"]
fields = ["nickname"]
view = "plain"

[[rule]]
effect = "allow"
roles = ["clerk"]
actions = ["search"]
fields = ["email"]
view = "masked"
"""
        self.assertEqual(self.put_policy(text)[0], 200)
        clerk = self.server.principal_token("clerk", ["clerk"], kind="user")["token"]
        path = "/v1/collections/patients/records/" + self.record
        status, body = self.server.api("PATCH", path, {"fields": {"city": "York"}}, token=clerk)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["fields"], {"nickname": "Jo"})
        self.assertEqual(body["views"], {"nickname": "plain", "city": "withheld",
                                         "email": "withheld", "ssn": "withheld"})
        # A masked search view is no licence to test guesses against the values.
        status, body = self.server.api("POST", "/v1/collections/patients/records/search",
                                       {"field": "email", "value": "jane.doe@example.com"},
                                       token=clerk)
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "$.field", "rule": "policy"}))
        # "withheld" names every field the caller may not read, held or not.
        status, bare = self.server.api("POST", "/v1/collections/patients/records",
                                       {"subject_id": self.subject, "fields": {"nickname": "N"}})
        status, body = self.get("agent", "support", record=bare["id"])
        self.assertEqual(body["views"], {"nickname": "plain", "ssn": "withheld"})

    def two_factor_admin(self, username):
        """An administrator signed in with a password and a TOTP code (from oathtool): the
        session's headers (cookie and CSRF token)."""
        _, _, csrf = self.ready_user(username)
        status, _, enrolment = self.call("POST", "/v1/auth/totp", None, csrf)
        self.assertEqual(status, 201, enrolment)
        step = start_of_a_fresh_step()
        status, _, body = self.call("POST", "/v1/auth/totp/confirm",
                                    {"code": oathtool(enrolment["secret"], step)}, csrf)
        self.assertEqual(status, 200, body)
        status, _, body = self.login(username, ALICE_PASSWORD)
        self.assertTrue(body["two_factor_required"], body)
        status, headers, body = self.call(
            "POST", "/v1/auth/login/totp",
            {"pending_token": body["pending_token"],
             "code": oathtool(enrolment["secret"], step + STEP)})
        self.assertEqual(status, 200, body)
        return self.session_headers(headers["set-cookie"], body["csrf_token"])

    def test_break_glass_needs_a_second_administrator_and_is_audited(self):
        record_path = "/v1/collections/patients/records/" + self.record
        approver = self.two_factor_admin("approver@example.com")
        time.sleep(1.1)  # the approver's account predates the request by a second at least
        status, seen = self.get("admin")
        self.assertEqual((seen["fields"]["email"], seen["fields"]["ssn"]),
                         (MASKED["email"], MASKED["ssn"]))
        # Nothing to lift for a caller who reads plain already; bad input names its place.
        status, body = self.server.api("POST", "/v1/collections/patients/break-glass",
                                       {"reason": "INC-1"}, token=self.tokens["app"])
        self.assertEqual((status, body["error"]["details"]["rule"]), (412, "nothing_to_lift"))
        status, body = self.server.api("POST", "/v1/collections/patients/break-glass",
                                       {"reason": "INC-1", "fields": ["shoe_size"]})
        self.assertEqual((status, body["error"]["details"]["path"]), (400, "$.fields[0]"))
        status, body = self.server.api("POST", "/v1/collections/patients/break-glass",
                                       {"reason": "INC-1", "minutes": 241})
        self.assertEqual((status, body["error"]["details"]["path"]), (400, "$.minutes"))

        status, asked = self.server.api(
            "POST", "/v1/collections/patients/break-glass",
            {"reason": "INC-4711: patient locked out", "fields": ["email"], "minutes": 15})
        self.assertEqual(status, 201, asked)
        self.assertEqual((asked["status"], asked["approved_by"]), ("pending", None))
        self.assertEqual(self.get("admin")[1]["fields"]["email"], MASKED["email"])
        approve = "/v1/break-glass/%s/approve" % asked["id"]
        status, body = self.server.api("POST", approve, {})
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "principal", "rule": "same_principal"}))
        status, body = self.server.api("POST", approve, {}, token=self.tokens["operator"])
        self.assertEqual(status, 403, body)
        # Another administrator's API token (which the requester may have issued) does not
        # approve; neither does an account made after the request, in a session with a factor.
        second = self.server.principal_token("second-admin", ["admin"])["token"]
        status, body = self.server.api("POST", approve, {}, token=second)
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "principal", "rule": "two_factor_session"}))
        late = self.two_factor_admin("late@example.com")
        status, _, body = self.call("POST", approve, {}, late)
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "principal", "rule": "approver_changed"}))
        status, _, approved = self.call("POST", approve, {}, approver)
        self.assertEqual((status, approved["status"]), (200, "active"), approved)
        self.assertEqual(self.call("POST", approve, {}, approver)[0], 412)

        # The grant's fields read plain, and only for its requester; the rest stays as it was.
        status, seen = self.get("admin")
        self.assertEqual(status, 200, seen)
        self.assertEqual(seen["fields"]["email"], VALUES["email"])
        self.assertEqual(seen["fields"]["ssn"], MASKED["ssn"])
        self.assertEqual((seen["views"]["email"], seen["break_glass"]), ("plain", asked["id"]))
        # Asked without a purpose: a call stating one is not the call it was asked for.
        self.assertEqual(self.get("admin", "support")[1]["fields"]["email"], MASKED["email"])
        other = self.server.api("GET", record_path, token=second)[1]
        self.assertEqual(other["fields"]["email"], MASKED["email"])
        status, listed = self.server.api("GET", "/v1/break-glass")
        self.assertEqual([(r["id"], r["status"]) for r in listed["requests"]],
                         [(asked["id"], "active")])
        # Both steps and every use are on the trail.
        status, page = self.server.api("GET", "/v1/audit?limit=1000",
                                       token=self.tokens["auditor"])
        actions = {e["action"] for e in page["entries"]
                   if asked["id"] in e.get("resource", {}).get("ids", [])}
        # (The listing above names the grants it showed, as every listing names its items.)
        self.assertEqual(actions, {"break_glass.request", "break_glass.approve",
                                   "break_glass.list"})
        approvals = [e["outcome"]["status"] for e in page["entries"]
                     if e["action"] == "break_glass.approve"]
        self.assertEqual(approvals, [403, 403, 403, 403, 200, 412])
        used = [e for e in page["entries"] if e["action"] == "record.read"
                and e["policy"]["rule"].endswith("; break-glass " + asked["id"])]
        self.assertEqual(len(used), 1)
        self.assertIn("email:plain", used[0]["fields"])
        self.assertNotIn("INC-4711", json.dumps(page))
        # Revoked: masked again at once.
        status, _, revoked = self.call("POST", "/v1/break-glass/%s/revoke" % asked["id"], {},
                                       approver)
        self.assertEqual((status, revoked["status"]), (200, "revoked"))
        status, seen = self.get("admin")
        self.assertEqual(seen["fields"]["email"], MASKED["email"])
        self.assertNotIn("break_glass", seen)

    def test_network_zones_and_trusted_proxies(self):
        zone = """
[[zone]]
name = "applications from their subnet"
api = "data"
roles = ["app"]
networks = ["203.0.113.0/24", "2001:db8::/32"]
"""
        builtin = self.server.api("GET", "/v1/policy")[1]["document"]
        # This server trusts no proxy: the header is anyone's to forge, the TCP peer counts.
        self.assertEqual(self.put_policy(builtin + zone)[0], 200)
        status, body = self.server.api("GET", "/v1/collections", token=self.tokens["app"],
                                       headers={"X-Forwarded-For": "203.0.113.9"})
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "policy", "rule": "denied"}))
        # Zones of the data API leave the administrators' console alone (and vice versa).
        self.assertEqual(self.server.api("GET", "/v1/policy")[0], 200)
        # A zone that would shut its author out is refused.
        status, body = self.put_policy(builtin + zone.replace('"data"', '"admin"').replace(
            '["app"]', '["admin"]'))
        self.assertEqual((status, body["error"]["details"]["rule"]), (412, "lockout"))

        # Behind a trusted proxy (the test client, on loopback) X-Forwarded-For is believed,
        # read from the right: the address the proxy appended, not what the client claimed.
        proxied = self.make_server("--trusted-proxies", "127.0.0.1/32, ::1")
        app = proxied.principal_token("app", ["app"])["token"]
        builtin = proxied.api("GET", "/v1/policy")[1]["document"]
        self.assertEqual(proxied.api("PUT", "/v1/policy", {"document": builtin + zone})[0], 200)
        for forwarded, expected in (("203.0.113.9", 200), ("2001:db8::7", 200),
                                    ("198.51.100.7", 403), ("203.0.113.9, 198.51.100.7", 403),
                                    ("198.51.100.7, 203.0.113.9", 200),
                                    ("203.0.113.9, 127.0.0.1", 200), ("not-an-address", 403),
                                    (None, 403)):
            headers = {"X-Forwarded-For": forwarded} if forwarded else {}
            status, body = proxied.api("GET", "/v1/collections", token=app, headers=headers)
            self.assertEqual(status, expected, (forwarded, body))
        auditor = proxied.principal_token("auditor", ["auditor"])["token"]
        status, page = proxied.api("GET", "/v1/audit?action=collection.list", token=auditor)
        self.assertEqual([(e["source"], e["outcome"]["status"], e["policy"]["rule"])
                          for e in page["entries"]][:3],
                         [("203.0.113.9", 200, "applications read and write their tenant's data"),
                          ("2001:db8::7", 200, "applications read and write their tenant's data"),
                          ("198.51.100.7", 403, "zone: applications from their subnet")])
        # An unparsable header: the client is unknown (outside every zone), via the proxy.
        self.assertEqual(page["entries"][6]["source"], "unknown-via-127.0.0.1")

        # From outside a zone, one's own credentials do not change: a stolen password cannot
        # enrol its own second factor there to pass an `outside = "two_factor"` zone.
        clerk_zone = """
[[zone]]
name = "clerks at the office, or with a second factor"
api = "admin"
roles = ["clerk"]
networks = ["203.0.113.0/24"]
outside = "two_factor"
"""
        self.assertEqual(proxied.api("PUT", "/v1/policy",
                                     {"document": builtin + zone + clerk_zone})[0], 200)
        status, _ = proxied.api("POST", "/v1/principals", {"username": "clerk@example.com",
                                                           "roles": ["clerk"],
                                                           "password": TEMPORARY})
        self.assertEqual(status, 201)

        def call(method, path, body, headers):
            headers = dict(headers)
            if body is not None:
                headers["Content-Type"] = "application/json"
            status, response_headers, data = proxied.request(
                method, path, body=json.dumps(body) if body is not None else None,
                headers=headers)
            return (status, {k.lower(): v for k, v in response_headers.items()},
                    json.loads(data) if data else None)

        inside, outside = {"X-Forwarded-For": "203.0.113.9"}, {"X-Forwarded-For": "198.51.100.7"}
        status, headers, body = call("POST", "/v1/auth/login",
                                     {"username": "clerk@example.com", "password": TEMPORARY},
                                     outside)
        self.assertEqual(status, 200, body)  # signing in is not zoned
        session = dict(self.session_headers(headers["set-cookie"], body["csrf_token"]))
        change = {"current_password": TEMPORARY, "new_password": ALICE_PASSWORD}
        status, _, body = call("POST", "/v1/auth/password", change, dict(session, **outside))
        self.assertEqual((status, body["error"]["details"]),
                         (403, {"path": "policy", "rule": "denied"}))
        status, headers, body = call("POST", "/v1/auth/password", change, dict(session, **inside))
        self.assertEqual(status, 200, body)
        session = dict(self.session_headers(headers["set-cookie"], body["csrf_token"]))
        status, _, body = call("POST", "/v1/auth/totp", None, dict(session, **outside))
        self.assertEqual(status, 403, body)
        status, _, body = call("POST", "/v1/auth/totp", None, dict(session, **inside))
        self.assertEqual(status, 201, body)
        status, page = proxied.api("GET", "/v1/audit?action=auth.enrol_totp", token=auditor)
        self.assertEqual([(e["source"], e["outcome"]["status"]) for e in page["entries"]],
                         [("198.51.100.7", 403), ("203.0.113.9", 201)])
        self.assertEqual(page["entries"][0]["policy"]["rule"],
                         "zone: clerks at the office, or with a second factor")

    def test_hashed_and_redacted_views(self):
        text = DOCUMENT.replace("NETWORK", "127.0.0.0/8") + """
[[rule]]
name = "agents see emails as pseudonyms at most"
effect = "limit"
roles = ["agent"]
actions = ["read"]
grades = ["confidential"]
view = "hashed"

[[rule]]
name = "cities redacted"
effect = "limit"
roles = ["agent"]
actions = ["read"]
fields = ["city"]
view = "redacted"
"""
        self.assertEqual(self.put_policy(text)[0], 200)
        status, body = self.get("agent", "support")
        self.assertEqual(status, 200, body)
        self.assertEqual(body["fields"]["city"], "[redacted]")
        pseudonym = body["fields"]["email"]
        self.assertRegex(pseudonym, r"^psn_[A-Za-z0-9_-]{22}$")
        # Same value (any case: emails are normalised), same pseudonym: joinable.
        status, other = self.server.api("POST", "/v1/collections/patients/records",
                                        {"subject_id": self.subject,
                                         "fields": {"email": "Jane.Doe@Example.com"}})
        self.assertEqual(status, 201, other)
        status, again = self.get("agent", "support", record=other["id"])
        self.assertEqual(again["fields"]["email"], pseudonym)
        # Neither the values nor anything of them reached a file: logs, trail, stores.
        self.server.stop()
        self.assert_nowhere(self.server, [b"jane.doe", b"AB123456C", b"Leeds"], min_files=6)

    def test_the_policy_api(self):
        status, shown = self.server.api("GET", "/v1/policy")
        self.assertEqual((status, shown["version"], shown["builtin"]), (200, 0, True))
        self.assertIn("[[rule]]", shown["document"])
        status, body = self.put_policy("[[rule]]\neffect = \"allow\"\nroles = [\"app\"]\n"
                                       "actions = [\"read\"]\nview = \"clear\"\n")
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"]["message"],
                         "line 5: view must be \"plain\", \"masked\", \"tokenized\", \"hashed\" "
                         "or \"redacted\"")
        self.assertEqual(body["error"]["details"], {"path": "$.document", "rule": "policy"})
        # A document that would lock its author out is refused.
        status, body = self.put_policy("[[rule]]\neffect = \"allow\"\nroles = [\"app\"]\n"
                                       "actions = [\"read\"]\nview = \"plain\"\n")
        self.assertEqual((status, body["error"]["details"]["rule"]), (412, "lockout"))
        # Dry run: what the change would allow or deny, before it is stored.
        proposed = DOCUMENT.replace("NETWORK", "127.0.0.0/8")
        status, run = self.server.api("POST", "/v1/policy/dry-run",
                                      {"document": proposed, "roles": ["agent", "app"]})
        self.assertEqual(status, 200, run)
        self.assertFalse(run["truncated"])
        changes = {(c["role"], c["action"], c["collection"], c.get("field"), c["purpose"],
                    c["two_factor"]): (c["before"], c["after"]) for c in run["changes"]}
        self.assertEqual(changes[("agent", "read", "patients", "email", "support", False)],
                         ("deny", "masked"))
        self.assertNotIn(("app", "read", "patients", "ssn", None, False), changes)
        self.assertEqual({c["role"] for c in run["changes"]}, {"agent", "app"})
        # The proposed document no longer lets applications export: that is all that changes.
        self.assertEqual({(c["action"], c["before"], c["after"]) for c in run["changes"]
                          if c["role"] == "app" and c["collection"] == "patients"},
                         {("export", "allow", "deny"), ("export", "plain", "deny")})
        status, body = self.server.api("POST", "/v1/policy/dry-run", {"document": "x ="})
        self.assertEqual((status, body["error"]["details"]["path"]), (400, "$.document"))
        self.assertEqual(self.server.api("GET", "/v1/policy")[1]["version"], 0)  # not stored
        # Versions, and optimistic concurrency.
        status, stored = self.put_policy(proposed, expected=0)
        self.assertEqual((status, stored["version"], stored["builtin"]), (200, 1, False))
        status, body = self.put_policy(proposed, expected=0)
        self.assertEqual((status, body["error"]["code"]), (412, "failed_precondition"))
        self.assertEqual(self.put_policy(proposed, expected=1)[0], 200)
        status, versions = self.server.api("GET", "/v1/policy/versions")
        self.assertEqual([v["version"] for v in versions["versions"]], [1, 2])
        # The stored document survives a restart, and is compiled at start.
        self.server.stop()
        self.server.start()
        status, shown = self.server.api("GET", "/v1/policy")
        loaded = self.server.wait_for_event("policy.loaded")[-1]
        self.assertEqual((loaded["documents"], loaded["unreadable"]), (1, 0))
        self.assertEqual((shown["version"], shown["document"]), (2, proposed))
        status, body = self.get("agent", "support")
        self.assertEqual(body["fields"]["email"], "j***@example.com")


if __name__ == "__main__":
    unittest.main()
