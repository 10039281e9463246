"""Data-subject rights (docs/privacy.md). The log of requests: a data-protection officer logs
what a person asked for, follows its one-month deadline (GDPR art. 12(3)), extends it once,
moves it on and closes it; others may not; every call is audited; bad input is refused with the
path. Consent records: given and withdrawn per purpose of the tenant's policy, with the text
version, encrypted at rest, current state and history, erased with the subject. Restriction,
objection and required consent: enforced by the policy on every read, audited. Retention: a
pass deletes what the tenant's rules let expire, audited in bulk.

Bounded: a fixed number of calls; the only wait polls a retention pass at most 10 s."""
import base64
import datetime
import glob
import hashlib
import json
import os
import sqlite3
import time
import unittest

from harness import ServerTestCase, ed25519_verifies


def rfc3339(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


class SubjectRequestsTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.make_server()
        status, subject = self.server.api("POST", "/v1/subjects", {})
        self.assertEqual(status, 201, subject)
        self.subject = subject["id"]
        issued = self.server.principal_token("the-dpo", ["dpo"], kind="user", scopes=["admin"])
        self.dpo, self.dpo_id = issued["token"], issued["principal_id"]

    def call(self, method, path, body=None, token=None):
        return self.server.api(method, path, body, token=token or self.dpo)

    def refused(self, method, path, body, status, code, at=None, token=None):
        headers = {"Authorization": "Bearer " + (token or self.dpo)}
        payload = None
        if body is not None:
            payload = json.dumps(body)
            headers["Content-Type"] = "application/json"
        got, _, raw = self.server.request(method, path, body=payload, headers=headers)
        error = self.assert_error(got, raw, status, code)
        if at is not None:
            self.assertEqual(error["details"]["path"], at, error)

    def test_a_dpo_logs_follows_extends_and_closes_requests(self):
        before = datetime.datetime.utcnow().replace(microsecond=0)
        status, access = self.call("POST", "/v1/privacy/requests",
                                   {"subject_id": self.subject, "kind": "access"})
        self.assertEqual(status, 201, access)
        self.assertTrue(access["id"].startswith("dsr_"))
        self.assertEqual((access["subject_id"], access["kind"], access["status"]),
                         (self.subject, "access", "received"))
        self.assertEqual((access["created_by"], access["updated_by"]), (self.dpo_id, self.dpo_id))
        received = parse(access["received_at"])
        self.assertLessEqual(abs((received - before).total_seconds()), 5)
        due = parse(access["due_at"])
        self.assertEqual((due.day, due.time()), (min(received.day, due.day), received.time()))
        self.assertIn((due - received).days, range(28, 32))  # one calendar month
        self.assertFalse(access["overdue"])
        self.assertFalse(access["extended"])
        self.assertIsNone(access["closed_at"])

        # Received by post 40 days ago: already overdue when logged.
        late_at = rfc3339(before - datetime.timedelta(days=40))
        status, erasure = self.call("POST", "/v1/privacy/requests",
                                    {"subject_id": self.subject, "kind": "erasure",
                                     "received_at": late_at})
        self.assertEqual(status, 201, erasure)
        self.assertEqual(erasure["received_at"], late_at)
        self.assertTrue(erasure["overdue"])

        def listed(query):
            status, page = self.call("GET", "/v1/privacy/requests" + query)
            self.assertEqual(status, 200, page)
            return [r["id"] for r in page["requests"]]

        # From someone the vault holds nothing about: no subject.
        status, nobody = self.call("POST", "/v1/privacy/requests",
                                   {"subject_id": None, "kind": "access"})
        self.assertEqual(status, 201, nobody)
        self.assertIsNone(nobody["subject_id"])
        status, closed = self.call("PATCH", "/v1/privacy/requests/" + nobody["id"],
                                   {"status": "rejected", "reason": "no_data_held"})
        self.assertEqual(status, 200, closed)

        self.assertEqual(sorted(listed("?status=open")), sorted([access["id"], erasure["id"]]))
        self.assertEqual(listed("?overdue=true"), [erasure["id"]])
        # Pages of one, filtered: each open request once, then no cursor.
        seen, cursor = [], ""
        for _ in range(5):
            status, page = self.call("GET", "/v1/privacy/requests?status=open&limit=1" +
                                     ("&cursor=" + cursor if cursor else ""))
            self.assertEqual(status, 200, page)
            seen += [r["id"] for r in page["requests"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        self.assertIsNone(cursor)
        self.assertEqual(sorted(seen), sorted([access["id"], erasure["id"]]))
        # The metrics count them; the overdue one is logged once for the operators' alerts.
        for _ in range(2):
            metrics = self.server.metrics_text()
            self.assertIn("\nstrongroom_subject_requests_open 2\n", metrics)
            self.assertIn("\nstrongroom_subject_requests_overdue 1\n", metrics)
        (warning,) = self.server.wait_for_event("privacy.request_overdue")
        self.assertEqual((warning["request_id"], warning["level"]), (erasure["id"], "warn"))
        self.assertEqual(len(self.server.events("privacy.request_overdue")), 1)

        path = "/v1/privacy/requests/" + erasure["id"]
        status, moved = self.call("PATCH", path, {"status": "in_progress"})
        self.assertEqual(status, 200, moved)
        self.assertEqual(moved["status"], "in_progress")
        self.assertIsNone(moved["closed_at"])
        # Its deadline passed: too late to extend it (that would hide the miss).
        self.refused("PATCH", path, {"extend": True}, 412, "failed_precondition")
        self.assertEqual(listed("?overdue=true"), [erasure["id"]])
        # Extended once, within the first month: three months from receipt; not twice.
        access_path = "/v1/privacy/requests/" + access["id"]
        status, extended = self.call("PATCH", access_path, {"extend": True})
        self.assertEqual(status, 200, extended)
        self.assertTrue(extended["extended"])
        due3 = parse(extended["due_at"])
        self.assertEqual(due3.time(), received.time())
        self.assertIn((due3 - received).days, range(89, 93))
        self.assertFalse(extended["overdue"])
        self.refused("PATCH", access_path, {"extend": True}, 412, "failed_precondition")

        # A rejection needs a reason code; a closed request no longer changes.
        self.refused("PATCH", path, {"status": "rejected"}, 400, "invalid_argument", "$.reason")
        self.refused("PATCH", path, {"status": "completed", "reason": "excessive"}, 400,
                     "invalid_argument", "$.reason")
        status, rejected = self.call("PATCH", path, {"status": "rejected",
                                                     "reason": "identity_not_verified"})
        self.assertEqual(status, 200, rejected)
        self.assertEqual(rejected["rejection_reason"], "identity_not_verified")
        self.assertIsNotNone(rejected["closed_at"])
        self.refused("PATCH", path, {"status": "in_progress"}, 412, "failed_precondition")

        status, done = self.call("PATCH", "/v1/privacy/requests/" + access["id"],
                                 {"status": "completed"})
        self.assertEqual(status, 200, done)
        self.assertEqual(listed("?status=open"), [])
        self.assertEqual(listed("?status=completed"), [access["id"]])
        self.assertEqual(sorted(listed("?status=rejected")), sorted([erasure["id"], nobody["id"]]))
        status, read = self.call("GET", path)
        self.assertEqual((status, read), (200, rejected))

        # Survives a restart.
        self.server.stop()
        self.server.start()
        status, read = self.call("GET", path)
        self.assertEqual((status, read["status"]), (200, "rejected"))

    def test_bad_input_is_refused_with_its_path(self):
        post = "/v1/privacy/requests"
        good = {"subject_id": self.subject, "kind": "objection"}
        for body, at in (
                ([], "$"),
                ({"subject_id": 7, "kind": "access"}, "$.subject_id"),
                ({"subject_id": "sub_doesnotexist000000000", "kind": "access"}, "$.subject_id"),
                ({"subject_id": self.subject}, "$.kind"),
                ({"subject_id": self.subject, "kind": "delete"}, "$.kind"),
                (dict(good, note="called on Tuesday"), "$.note"),
                (dict(good, received_at="yesterday"), "$.received_at"),
                (dict(good, received_at="2099-01-01T00:00:00Z"), "$.received_at"),
                (dict(good, received_at="2001-01-01T00:00:00Z"), "$.received_at")):
            self.refused("POST", post, body, 400, "invalid_argument", at)
        self.refused("POST", post, None, 400, "invalid_argument")
        for query in ("?status=bogus", "?overdue=maybe", "?limit=0", "?cursor=nope", "?sort=id"):
            self.refused("GET", post + query, None, 400, "invalid_argument")
        status, logged = self.call("POST", post, good)
        self.assertEqual(status, 201, logged)
        path = post + "/" + logged["id"]
        for body, at in (({}, "$"), ({"status": "received"}, "$.status"),
                         ({"extend": False}, "$.extend"), ({"status": "done"}, "$.status"),
                         ({"status": "rejected", "reason": "bored"}, "$.reason"),
                         ({"colour": "red"}, "$.colour")):
            self.refused("PATCH", path, body, 400, "invalid_argument", at)
        for missing in ("dsr_0000000000000000000000", "dsr_x", "nope"):
            self.refused("GET", post + "/" + missing, None, 404, "not_found")
            self.refused("PATCH", post + "/" + missing, {"status": "completed"}, 404, "not_found")

    def test_only_the_dpo_keeps_the_log_and_every_call_is_audited(self):
        body = {"subject_id": self.subject, "kind": "access"}
        auditor = self.server.principal_token("the-auditor", ["auditor"], kind="user",
                                              scopes=["admin", "audit:read"])["token"]
        operator = self.server.principal_token("the-operator", ["operator"], kind="user",
                                               scopes=["admin"])["token"]
        for token in (self.server.admin_token, auditor, operator):
            self.refused("POST", "/v1/privacy/requests", body, 403, "permission_denied",
                         token=token)
            self.refused("GET", "/v1/privacy/requests", None, 403, "permission_denied",
                         token=token)
        # An application's token has no admin scope.
        self.refused("GET", "/v1/privacy/requests", None, 403, "permission_denied",
                     token=self.server.app_token)
        status, logged = self.call("POST", "/v1/privacy/requests", body)
        self.assertEqual(status, 201, logged)
        self.assertEqual(self.call("GET", "/v1/privacy/requests/" + logged["id"])[0], 200)

        status, page = self.server.api("GET", "/v1/audit?action=subject_request.create",
                                       token=auditor)
        self.assertEqual(status, 200, page)
        self.assertEqual(sorted(e["outcome"]["status"] for e in page["entries"]),
                         [201, 403, 403, 403])
        status, page = self.server.api("GET", "/v1/audit?action=subject_request.read",
                                       token=auditor)
        self.assertEqual([e["outcome"]["status"] for e in page["entries"]], [200])
        # A listing names the requests it showed and their subjects (as pseudonyms).
        self.assertEqual(self.call("GET", "/v1/privacy/requests")[0], 200)
        status, page = self.server.api("GET", "/v1/audit?action=subject_request.list",
                                       token=auditor)
        (entry,) = [e for e in page["entries"] if e["outcome"]["status"] == 200]
        self.assertIn(logged["id"], entry["resource"]["ids"])
        self.assertEqual(len(entry["resource"]["subjects"]), 1)
        self.assertNotIn(self.subject, json.dumps(page))



class ConsentRecordsTest(ServerTestCase):
    def test_consents_are_recorded_listed_encrypted_and_erased_with_the_subject(self):
        server = self.make_server()
        subject = server.api("POST", "/v1/subjects", {})[1]["id"]
        other = server.api("POST", "/v1/subjects", {})[1]["id"]
        path = "/v1/subjects/%s/consents" % subject
        status, first = server.api("POST", path, {"purpose": "analytics", "given": True,
                                                  "text_version": "2026-11.v3"})
        self.assertEqual(status, 201, first)
        self.assertTrue(first["id"].startswith("csn_"))
        self.assertEqual((first["purpose"], first["given"], first["text_version"]),
                         ("analytics", True, "2026-11.v3"))
        self.assertTrue(first["recorded_by"].startswith("prn_"))
        status, withdrawn = server.api("POST", path, {"purpose": "analytics", "given": False,
                                                      "text_version": "2026-11.v3"})
        self.assertEqual(status, 201, withdrawn)
        status, billing = server.api("POST", path, {"purpose": "billing", "given": True,
                                                    "text_version": "v1"})
        self.assertEqual(status, 201, billing)
        self.assertEqual(server.api("POST", "/v1/subjects/%s/consents" % other,
                                    {"purpose": "support", "given": True,
                                     "text_version": "v1"})[0], 201)

        status, listed = server.api("GET", path)
        self.assertEqual(status, 200, listed)
        self.assertEqual([(r["purpose"], r["given"]) for r in listed["history"]],
                         [("analytics", True), ("analytics", False), ("billing", True)])
        self.assertEqual({p: c["given"] for p, c in listed["current"].items()},
                         {"analytics": False, "billing": True})
        self.assertEqual(listed["current"]["analytics"]["id"], withdrawn["id"])

        # Bad input, with its path; the purpose must be one of the tenant policy's.
        for body, at in (({"given": True, "text_version": "v1"}, "$.purpose"),
                         ({"purpose": "marketing", "given": True, "text_version": "v1"},
                          "$.purpose"),
                         ({"purpose": "billing", "text_version": "v1"}, "$.given"),
                         ({"purpose": "billing", "given": "yes", "text_version": "v1"},
                          "$.given"),
                         ({"purpose": "billing", "given": True}, "$.text_version"),
                         ({"purpose": "billing", "given": True, "text_version": "a b"},
                          "$.text_version"),
                         ({"purpose": "billing", "given": True, "text_version": "x" * 65},
                          "$.text_version"),
                         ({"purpose": "billing", "given": True, "text_version": "v1",
                           "note": "rang us"}, "$.note")):
            status, _, raw = server.request("POST", path, body=json.dumps(body), headers={
                "Authorization": "Bearer " + server.app_token,
                "Content-Type": "application/json"})
            error = self.assert_error(status, raw, 400, "invalid_argument")
            self.assertEqual(error["details"]["path"], at, body)
        for missing in ("sub_0000000000000000000000", "nope"):
            status, _, raw = server.request("GET", "/v1/subjects/%s/consents" % missing,
                                            headers={"Authorization": "Bearer " +
                                                     server.app_token})
            self.assert_error(status, raw, 404, "not_found")

        # Ciphertext at rest: the purpose and the text version are in no database file.
        activity = os.path.join(server.data_dir, "activity.db")
        with sqlite3.connect("file:%s?mode=ro" % activity, uri=True) as db:
            rows = db.execute("SELECT CAST(key AS TEXT) FROM kv WHERE space = ?",
                              (b"consents",)).fetchall()
        self.assertEqual(len(rows), 4)
        for needle in (b"2026-11.v3", b"analytics"):
            for db_file in glob.glob(os.path.join(server.data_dir, "*.db*")):
                with open(db_file, "rb") as f:
                    self.assertNotIn(needle, f.read(), db_file)
            self.assertNotIn(needle.decode(), server.log_text())

        # Erasure takes them with the subject; the other subject's stay.
        status, erased = server.api("DELETE", "/v1/subjects/" + subject)
        self.assertEqual(status, 200, erased)
        self.assertEqual(erased["destroyed"]["consents"], 3)
        with sqlite3.connect("file:%s?mode=ro" % activity, uri=True) as db:
            rows = db.execute("SELECT CAST(key AS TEXT) FROM kv WHERE space = ?",
                              (b"consents",)).fetchall()
        self.assertEqual([r[0].split("/")[1] for r in rows], [other])
        self.assertEqual(server.api("GET", path)[0], 404)

        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        status, page = server.api("GET", "/v1/audit?action=consent.create", token=auditor)
        self.assertEqual(status, 200, page)
        self.assertEqual(sorted(e["outcome"]["status"] for e in page["entries"]),
                         [201] * 4 + [400] * 8)


CHOICES_POLICY = """
purposes = ["support", "marketing", "analytics", "legal", "subject-request"]
require_consent = ["marketing"]

[[rule]]
name = "administrators run the vault"
effect = "allow"
roles = ["admin"]
actions = ["manage-schema", "manage-principals", "manage-keys", "manage-tenants", "manage-policy"]

[[rule]]
name = "applications"
effect = "allow"
roles = ["app"]
actions = ["read", "search", "create", "update", "delete", "export"]
view = "plain"

[[rule]]
name = "auditors"
effect = "allow"
roles = ["auditor"]
actions = ["read-audit"]
"""

PEOPLE = {"name": "people", "fields": [
    {"name": "email", "type": "email", "indexed": True, "required": True,
     "classification": {"grade": "confidential", "category": "contact"}},
    {"name": "note", "type": "string",
     "classification": {"grade": "internal", "category": "other"}}]}


class ProcessingChoicesTest(ServerTestCase):
    """Restriction, objection and required consent, enforced by the policy on every read of a
    subject's data (records one by one, listed and searched; activity; documents), audited."""

    def setUp(self):
        super().setUp()
        self.server = server = self.make_server()
        status, answer = server.api("PUT", "/v1/policy", {"document": CHOICES_POLICY},
                                    token=server.admin_token)
        self.assertEqual(status, 200, answer)
        self.assertEqual(server.api("POST", "/v1/collections", PEOPLE,
                                    token=server.admin_token)[0], 201)
        self.subjects, self.records = {}, {}
        for name in ("open", "restricted", "objector"):
            subject = server.api("POST", "/v1/subjects", {})[1]["id"]
            status, record = server.api("POST", "/v1/collections/people/records", {
                "subject_id": subject,
                "fields": {"email": "%s@example.org" % name, "note": "about " + name}})
            self.assertEqual(status, 201, record)
            self.subjects[name], self.records[name] = subject, record
        restricted = self.subjects["restricted"]
        self.assertEqual(server.api("POST", "/v1/subjects/%s/activity" % restricted,
                                    {"type": "visit.logged"})[0], 201)

    def read(self, name, purpose=None):
        headers = {"Strongroom-Purpose": purpose} if purpose else {}
        return self.server.api("GET", "/v1/collections/people/records/" +
                               self.records[name]["id"], headers=headers)

    def refusal(self, status, answer, rule):
        self.assertEqual(status, 403, answer)
        self.assertEqual(answer["error"]["code"], "permission_denied")
        self.assertEqual(answer["error"]["details"], {"path": "subject", "rule": rule})

    def set_processing(self, name, restricted, objections):
        return self.server.api("PUT", "/v1/subjects/%s/processing" % self.subjects[name],
                               {"restricted": restricted, "objections": objections})

    def test_restriction_objection_and_consent_decide_reads_and_are_audited(self):
        server = self.server
        # Before any choice: the processing state is empty, every read passes but marketing.
        status, state = server.api("GET", "/v1/subjects/%s/processing" % self.subjects["open"])
        self.assertEqual((status, state["restricted"], state["objections"], state["updated_at"]),
                         (200, False, [], None))
        self.assertEqual(self.read("restricted", "support")[0], 200)
        self.refusal(*self.read("open", "marketing"), "consent_required")

        status, state = self.set_processing("restricted", True, [])
        self.assertEqual(status, 200, state)
        self.assertEqual((state["restricted"], state["objections"]), (True, []))
        self.assertTrue(state["updated_by"].startswith("prn_"))
        status, state = self.set_processing("objector", False, ["marketing", "analytics"])
        self.assertEqual((status, state["objections"]), (200, ["analytics", "marketing"]))
        status, state = server.api("GET", "/v1/subjects/%s/processing" % self.subjects["objector"])
        self.assertEqual((status, state["objections"]), (200, ["analytics", "marketing"]))

        # Restriction: only legal claims and the subject's own request.
        for purpose in (None, "support", "analytics", "marketing"):
            self.refusal(*self.read("restricted", purpose), "restricted")
        for purpose in ("legal", "subject-request"):
            status, record = self.read("restricted", purpose)
            self.assertEqual((status, record["fields"]["email"]), (200, "restricted@example.org"))
        restricted = self.subjects["restricted"]
        self.refusal(*server.api("GET", "/v1/subjects/%s/activity" % restricted,
                                 headers={"Strongroom-Purpose": "support"}), "restricted")
        self.refusal(*server.api("GET", "/v1/subjects/%s/documents" % restricted),
                     "restricted")
        status, events = server.api("GET", "/v1/subjects/%s/activity" % restricted,
                                    headers={"Strongroom-Purpose": "legal"})
        self.assertEqual((status, len(events["events"])), (200, 1))
        # Storing stays allowed: a restricted subject's new record is kept, its answer withheld.
        status, written = server.api("POST", "/v1/collections/people/records", {
            "subject_id": restricted, "fields": {"email": "again@example.org"}},
            headers={"Strongroom-Purpose": "support"})
        self.assertEqual(status, 201, written)
        self.assertEqual((written["refused"], written["fields"]), ("restricted", {}))

        # Objection: the purposes named, whatever the consent says; other purposes pass.
        objector = self.subjects["objector"]
        self.assertEqual(server.api("POST", "/v1/subjects/%s/consents" % objector,
                                    {"purpose": "marketing", "given": True,
                                     "text_version": "v1"})[0], 201)
        self.refusal(*self.read("objector", "analytics"), "objected")
        self.refusal(*self.read("objector", "marketing"), "objected")
        self.assertEqual(self.read("objector", "support")[0], 200)
        self.assertEqual(self.read("objector")[0], 200)

        # Consent: required for marketing; given, then withdrawn.
        opened = self.subjects["open"]
        consent = {"purpose": "marketing", "given": True, "text_version": "2026-11"}
        self.assertEqual(server.api("POST", "/v1/subjects/%s/consents" % opened, consent)[0], 201)
        status, record = self.read("open", "marketing")
        self.assertEqual((status, record["fields"]["email"]), (200, "open@example.org"))
        consent["given"] = False
        self.assertEqual(server.api("POST", "/v1/subjects/%s/consents" % opened, consent)[0], 201)
        self.refusal(*self.read("open", "marketing"), "consent_required")

        # Lifting the restriction opens the reads again.
        self.assertEqual(self.set_processing("restricted", False, [])[0], 200)
        self.assertEqual(self.read("restricted", "support")[0], 200)
        self.assertEqual(self.set_processing("restricted", True, [])[0], 200)

        # A listing keeps refused records, withheld, with the reason.
        status, page = server.api("GET", "/v1/collections/people/records?limit=50",
                                  headers={"Strongroom-Purpose": "analytics"})
        self.assertEqual(status, 200, page)
        shown = {r["subject_id"]: r for r in page["records"]}
        self.assertEqual(shown[opened]["fields"]["email"], "open@example.org")
        self.assertNotIn("refused", shown[opened])
        for subject, rule in ((restricted, "restricted"), (objector, "objected")):
            self.assertEqual((shown[subject]["refused"], shown[subject]["fields"]), (rule, {}))
            self.assertEqual(shown[subject]["views"], {"email": "withheld", "note": "withheld"})
        self.assertNotIn("restricted@example.org", json.dumps(page))
        status, found = server.api("POST", "/v1/collections/people/records/search",
                                   {"field": "email", "value": "objector@example.org"},
                                   headers={"Strongroom-Purpose": "analytics"})
        # A search leaves the refusing subject's record out: a match would tell she holds it.
        self.assertEqual((status, found["records"]), (200, []))
        status, found = server.api("POST", "/v1/collections/people/records/search",
                                   {"field": "email", "value": "objector@example.org"},
                                   headers={"Strongroom-Purpose": "support"})
        ((hit,),) = (found["records"],)
        self.assertEqual(hit["fields"]["email"], "objector@example.org")

        # Audited: each refusal with its rule; the listing says how many it withheld; the
        # processing entries never name the purposes objected to.
        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        status, page = server.api("GET", "/v1/audit?action=record.read&limit=200", token=auditor)
        self.assertEqual(status, 200, page)
        rules = sorted(e["outcome"]["details"]["rule"] for e in page["entries"]
                       if e["outcome"]["status"] == 403)
        self.assertEqual(rules, ["consent_required"] * 2 + ["objected"] * 2 +
                         ["restricted"] * 4)
        refused = [e for e in page["entries"] if e["outcome"]["status"] == 403]
        self.assertEqual({e["resource"]["ids"][0] for e in refused},
                         {self.records[n]["id"] for n in ("open", "restricted", "objector")})
        status, page = server.api("GET", "/v1/audit?action=record.list", token=auditor)
        (listing,) = page["entries"]
        self.assertTrue(listing["policy"]["rule"].endswith("; subjects' choices withheld 3 records"),
                        listing)
        self.assertIn("note:withheld", listing["fields"])
        status, page = server.api("GET", "/v1/audit?action=processing.update", token=auditor)
        self.assertEqual([e["outcome"]["status"] for e in page["entries"]], [200] * 4)
        self.assertNotIn("analytics", json.dumps(page))
        for subject in (restricted, objector, opened):
            self.assertNotIn(subject, json.dumps(page))

        # Encrypted at rest: the state's words are in no file of the activity store.
        for db_file in glob.glob(os.path.join(server.data_dir, "activity.db*")):
            with open(db_file, "rb") as f:
                data = f.read()
            for needle in (b'"restricted"', b"analytics", b"marketing"):
                self.assertNotIn(needle, data, db_file)

        # Kept across a restart (the choices are learnt again from the stores).
        server.stop()
        server.start()
        self.refusal(*self.read("restricted", "support"), "restricted")
        self.refusal(*self.read("objector", "analytics"), "objected")
        self.refusal(*self.read("open", "marketing"), "consent_required")
        self.assertEqual(self.read("open", "support")[0], 200)

        # Erased with the subject.
        status, erased = server.api("DELETE", "/v1/subjects/" + restricted)
        self.assertEqual(status, 200, erased)
        self.assertEqual(erased["destroyed"]["processing"], 1)
        with sqlite3.connect("file:%s?mode=ro" % os.path.join(server.data_dir, "activity.db"),
                             uri=True) as db:
            rows = db.execute("SELECT CAST(key AS TEXT) FROM kv WHERE space = ?",
                              (b"processing",)).fetchall()
        self.assertEqual([r[0].split("/")[1] for r in rows], [objector])

    def test_bad_processing_input_is_refused_with_its_path(self):
        server = self.server
        path = "/v1/subjects/%s/processing" % self.subjects["open"]
        for body, at in (({"objections": []}, "$.restricted"),
                         ({"restricted": "yes", "objections": []}, "$.restricted"),
                         ({"restricted": True}, "$.objections"),
                         ({"restricted": True, "objections": "marketing"}, "$.objections"),
                         ({"restricted": False, "objections": ["newsletters"]},
                          "$.objections[0]"),
                         ({"restricted": False, "objections": ["support", 7]},
                          "$.objections[1]"),
                         ({"restricted": False, "objections": ["legal"]}, "$.objections[0]"),
                         ({"restricted": False, "objections": ["subject-request"]},
                          "$.objections[0]"),
                         ({"restricted": False, "objections": ["support", "support"]},
                          "$.objections"),
                         ({"restricted": False, "objections": [], "note": "called"}, "$.note")):
            status, _, raw = server.request("PUT", path, body=json.dumps(body), headers={
                "Authorization": "Bearer " + server.app_token,
                "Content-Type": "application/json"})
            error = self.assert_error(status, raw, 400, "invalid_argument")
            self.assertEqual(error["details"]["path"], at, body)
        status, _, raw = server.request("PUT", path, body="{\"restricted\": tru", headers={
            "Authorization": "Bearer " + server.app_token, "Content-Type": "application/json"})
        self.assert_error(status, raw, 400, "invalid_argument")
        for missing in ("sub_0000000000000000000000", "nope"):
            status, answer = server.api("PUT", "/v1/subjects/%s/processing" % missing,
                                        {"restricted": True, "objections": []})
            self.assertEqual((status, answer["error"]["code"]), (404, "not_found"))
            self.assertEqual(server.api("GET", "/v1/subjects/%s/processing" % missing)[0], 404)
        # Nothing was stored by the refusals.
        status, state = server.api("GET", path)
        self.assertEqual((status, state["restricted"], state["updated_at"]), (200, False, None))
        # A subject that does not exist is 404 whatever the purpose (not consent_required).
        for missing in ("sub_0000000000000000000000", "nope"):
            status, answer = server.api("GET", "/v1/subjects/%s/activity" % missing,
                                        headers={"Strongroom-Purpose": "marketing"})
            self.assertEqual((status, answer["error"]["code"]), (404, "not_found"))
        # An unknown purpose in the header is refused before any subject is looked at.
        status, answer = self.read("open", "newsletters")
        self.assertEqual((status, answer["error"]["code"]), (400, "invalid_argument"))


EXPORT_MARKER = "Marker-Export-Wombat"
EXPORT_DOCUMENT = b"%PDF-1.4 " + EXPORT_MARKER.encode() + b" " + bytes(range(256)) * 500


class ExportTest(ServerTestCase):
    """GET /v1/subjects/{id}/export: exactly the subject's data, streamed, signed."""

    def setUp(self):
        super().setUp()
        self.server = server = self.make_server()
        self.assertEqual(server.api("POST", "/v1/collections", PEOPLE,
                                    token=server.admin_token)[0], 201)
        self.alice = server.api("POST", "/v1/subjects", {})[1]["id"]
        self.bob = server.api("POST", "/v1/subjects", {})[1]["id"]
        self.records = []
        for subject, email, note in ((self.alice, "alice@example.org", EXPORT_MARKER + " one"),
                                     (self.alice, "alice.b@example.org", EXPORT_MARKER + " two"),
                                     (self.bob, "bob@example.org", "Bob-Only-Note")):
            status, record = server.api("POST", "/v1/collections/people/records",
                                        {"subject_id": subject,
                                         "fields": {"email": email, "note": note}})
            self.assertEqual(status, 201, record)
            self.records.append(record)
        for subject, kind in ((self.alice, "login.recorded"), (self.bob, "bob.only")):
            self.assertEqual(server.api("POST", "/v1/subjects/%s/activity" % subject,
                                        {"type": kind, "data": {"where": "home"}})[0], 201)
        self.assertEqual(server.api("POST", "/v1/subjects/%s/consents" % self.alice,
                                    {"purpose": "support", "given": True,
                                     "text_version": "v2"})[0], 201)
        status, _, body = server.request(
            "POST", "/v1/subjects/%s/documents" % self.alice, body=EXPORT_DOCUMENT,
            headers={"Authorization": "Bearer " + server.app_token,
                     "Content-Type": "application/pdf"})
        self.assertEqual(status, 201, body)
        self.document = json.loads(body)
        # Reads that the trail records against each subject.
        self.assertEqual(server.api("GET", "/v1/collections/people/records/" +
                                    self.records[0]["id"])[0], 200)
        self.assertEqual(server.api("GET", "/v1/collections/people/records/" +
                                    self.records[2]["id"])[0], 200)

    def export(self, subject, token=None, purpose=None):
        headers = {"Authorization": "Bearer " + (token or self.server.app_token)}
        if purpose:
            headers["Strongroom-Purpose"] = purpose
        return self.server.request("GET", "/v1/subjects/%s/export" % subject, headers=headers)

    def verify(self, body):
        """Checks the last line's digest and signature (openssl); returns the parsed lines."""
        lines = body.split(b"\n")
        self.assertEqual(lines[-1], b"")
        signed, last = b"\n".join(lines[:-2]) + b"\n", json.loads(lines[-2])
        self.assertEqual(last["kind"], "signature")
        self.assertEqual(last["sha256"], hashlib.sha256(signed).hexdigest())
        message = b"strongroom-export/v1\n" + last["sha256"].encode()
        self.assertTrue(ed25519_verifies(self.workdir, message, last["signature"],
                                         last["public_key"]))
        # Another digest (a changed archive) does not verify.
        other = b"strongroom-export/v1\n" + hashlib.sha256(signed + b" ").hexdigest().encode()
        self.assertFalse(ed25519_verifies(self.workdir, other, last["signature"],
                                          last["public_key"]))
        return [json.loads(l) for l in lines[:-1]]

    def test_the_export_holds_exactly_the_subjects_data_and_its_signature_verifies(self):
        server = self.server
        status, headers, body = self.export(self.alice)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers.get("Transfer-Encoding"), "chunked")
        self.assertEqual(headers.get("Content-Type"), "application/x-ndjson")
        lines = self.verify(body)
        text = body.decode()
        header = lines[0]
        self.assertEqual((header["format"], header["subject_id"]),
                         ("strongroom-export/v1", self.alice))
        self.assertEqual(header["counts"], {"records": 2, "activity_events": 1, "consents": 1,
                                            "documents": 1})
        kinds = [l["kind"] for l in lines[1:]]
        self.assertEqual(kinds[:3], ["subject", "processing", "consent"])
        by_kind = {}
        for line in lines[1:]:
            by_kind.setdefault(line["kind"], []).append(line)
        self.assertEqual(by_kind["subject"][0]["subject"]["id"], self.alice)
        self.assertEqual(by_kind["consent"][0]["consent"]["purpose"], "support")
        self.assertEqual(sorted((r["record"]["id"], r["record"]["fields"]["email"],
                                 r["record"]["fields"]["note"]) for r in by_kind["record"]),
                         sorted((r["id"], r["fields"]["email"], r["fields"]["note"])
                                for r in self.records[:2]))
        self.assertEqual([e["event"]["type"] for e in by_kind["event"]], ["login.recorded"])
        (document,) = by_kind["document"]
        self.assertEqual(document["document"]["id"], self.document["id"])
        chunks = by_kind["document_chunk"]
        self.assertGreater(len(chunks), 2)
        content = b"".join(base64.b64decode(c["data"]) for c in chunks)
        self.assertEqual(content, EXPORT_DOCUMENT)
        self.assertEqual([c["offset"] for c in chunks],
                         [sum(len(base64.b64decode(c["data"])) for c in chunks[:i])
                          for i in range(len(chunks))])
        # The audit entries about the subject: those the trail gives for her, no other.
        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        status, page = server.api("GET", "/v1/audit?subject=%s&limit=1000" % self.alice,
                                  token=auditor)
        self.assertEqual(status, 200, page)
        exported = [l["entry"]["seq"] for l in by_kind["audit"]]
        self.assertEqual(exported, [e["seq"] for e in page["entries"]
                                    if e["seq"] < header["audit_entries_to"]])
        self.assertIn("record.read", {l["entry"]["action"] for l in by_kind["audit"]})
        self.assertEqual(lines[-1]["counts"], {"records": 2, "activity_events": 1,
                                               "documents": 1, "consents": 1,
                                               "audit_entries": len(exported),
                                               "records_withheld": 0})
        # Audit entries are projected: no staff ids, credentials or addresses.
        for line in by_kind["audit"]:
            self.assertLessEqual(set(line["entry"]), {"seq", "time", "action", "purpose", "actor",
                                                      "resource", "fields", "outcome"})
            self.assertNotIn("id", line["entry"]["actor"] or {})
        self.assertNotIn("127.0.0.1", text)
        # Nothing of the other subject.
        for needle in (self.bob, "bob@example.org", "Bob-Only-Note", "bob.only",
                       self.records[2]["id"]):
            self.assertNotIn(needle, text)
        # The export itself is audited; the log holds none of it.
        status, page = server.api("GET", "/v1/audit?action=subject.export", token=auditor)
        ((entry,),) = (page["entries"],)
        self.assertEqual(entry["outcome"]["status"], 200)
        self.assertEqual(len(entry["resource"]["subjects"]), 1)
        self.assertNotIn(EXPORT_MARKER, server.log_text())
        self.assertNotIn("alice@example.org", server.log_text())

        # A tampered line no longer matches the digest.
        tampered = body.replace(b"alice.b@example.org", b"alice.c@example.org")
        self.assertNotEqual(hashlib.sha256(tampered.split(b"\n")[0]).hexdigest(), None)
        signed = b"\n".join(tampered.split(b"\n")[:-2]) + b"\n"
        self.assertNotEqual(hashlib.sha256(signed).hexdigest(), lines[-1]["sha256"])
        # The same key signs every export of this vault.
        status, _, again = self.export(self.bob)
        self.assertEqual(status, 200, again)
        bob_lines = self.verify(again)
        self.assertEqual(bob_lines[-1]["public_key"], lines[-1]["public_key"])
        self.assertNotIn(EXPORT_MARKER, again.decode())

    def test_an_http_1_0_client_gets_the_archive_ended_by_the_close(self):
        server = self.server
        raw = server.raw_exchange(("GET /v1/subjects/%s/export HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                                   "Authorization: Bearer %s\r\n\r\n" %
                                   (self.bob, server.app_token)).encode())
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.0 200"), head)
        self.assertNotIn(b"transfer-encoding", head.lower())
        self.assertNotIn(b"content-length", head.lower())
        lines = self.verify(body)
        self.assertEqual((lines[0]["subject_id"], lines[-1]["counts"]["records"]), (self.bob, 1))

    def test_the_export_keeps_to_the_policy_and_the_subjects_choices(self):
        server = self.server
        # An administrator may not export (the built-in policy grants it to apps and dpo).
        status, _, raw = self.export(self.alice, token=server.admin_token)
        self.assert_error(status, raw, 403, "permission_denied")
        for missing in ("sub_0000000000000000000000", "nope"):
            status, _, raw = self.export(missing)
            self.assert_error(status, raw, 404, "not_found")
        status, _, raw = self.server.request(
            "GET", "/v1/subjects/%s/export?all=1" % self.alice,
            headers={"Authorization": "Bearer " + server.app_token})
        self.assert_error(status, raw, 400, "invalid_argument")
        # Restricted: exported only for the subject's request (or legal claims).
        self.assertEqual(server.api("PUT", "/v1/subjects/%s/processing" % self.alice,
                                    {"restricted": True, "objections": []})[0], 200)
        status, _, raw = self.export(self.alice, purpose="support")
        error = self.assert_error(status, raw, 403, "permission_denied")
        self.assertEqual(error["details"], {"path": "subject", "rule": "restricted"})
        status, _, body = self.export(self.alice, purpose="subject-request")
        self.assertEqual(status, 200, body)
        self.verify(body)
        # Export views: a field the caller's export view does not show plain is left out, named.
        policy = CHOICES_POLICY.replace('require_consent = ["marketing"]', "") + """
[[rule]]
name = "notes leave only masked"
effect = "limit"
roles = ["app"]
actions = ["export"]
fields = ["note"]
view = "masked"

[[rule]]
name = "documents are not exported"
effect = "deny"
roles = ["app"]
actions = ["export"]
collections = ["@documents"]
"""
        status, answer = server.api("PUT", "/v1/policy", {"document": policy},
                                    token=server.admin_token)
        self.assertEqual(status, 200, answer)
        status, _, body = self.export(self.alice, purpose="subject-request")
        self.assertEqual(status, 200, body)
        exported = self.verify(body)
        records = [l["record"] for l in exported if l.get("kind") == "record"]
        self.assertEqual(len(records), 2)
        self.assertIn({"kind": "withheld", "section": "documents"}, exported)
        self.assertEqual([l for l in exported if l.get("kind") in ("document", "document_chunk")],
                         [])
        self.assertEqual([l["event"]["type"] for l in exported if l.get("kind") == "event"],
                         ["login.recorded"])
        for record in records:
            self.assertEqual(set(record["fields"]), {"email"})
            self.assertEqual(record["withheld"], ["note"])
        self.assertNotIn(EXPORT_MARKER, body.decode())


RETENTION_POLICY = CHOICES_POLICY.replace('require_consent = ["marketing"]\n', "") + """
[[retention]]
name = "old activity"
collections = ["@activity"]
days = 30

[[retention]]
name = "visits"
collections = ["people"]
days = 365
"""


ARCHIVE_POLICY = CHOICES_POLICY.replace('require_consent = ["marketing"]\n', "") + """
[[rule]]
name = "clerks see tokens"
effect = "allow"
roles = ["clerk"]
actions = ["read"]
collections = ["people"]
view = "tokenized"

[[retention]]
name = "old activity"
collections = ["@activity"]
days = 30
archive_days = 100

[[retention]]
name = "people"
collections = ["people"]
days = 1
archive_days = 30

[[retention]]
name = "scans"
collections = ["@documents"]
days = 1
archive_days = 30
"""

# Debian's libfaketime (scripts/install-deps --test installs it), whatever the architecture.
FAKETIME_LIB = (glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") or ["libfaketime missing"])[0]


class ArchiveTest(ServerTestCase):
    """Retention's archive (archive_days): what a rule lets expire leaves the live data for the
    archive, where it is read only for the purpose legal (in the caller's views, audited), is
    exported with the subject's data, is deleted archive_days later, and is erased with its
    subject. Records expire a day after their last change: the second pass runs two days on
    (libfaketime moves the server's wall clock)."""

    def run_pass(self):
        server = self.server
        status, answer = server.api("POST", "/v1/retention/run", {}, token=server.admin_token)
        self.assertEqual(status, 202, answer)
        for _ in range(200):  # bounded: 10 s
            status, state = server.api("GET", "/v1/retention", token=server.admin_token)
            self.assertEqual(status, 200, state)
            if state["pass"] and state["pass"]["state"] in ("done", "failed"):
                self.assertEqual(state["pass"]["state"], "done", state)
                return state
            time.sleep(0.05)
        self.fail("the retention pass did not finish: %s" % state)

    def legal(self, path, purpose="legal"):
        headers = {"Strongroom-Purpose": purpose} if purpose else {}
        return self.server.api("GET", path, headers=headers)

    def rows(self, store, space):
        with sqlite3.connect("file:%s?mode=ro" % os.path.join(self.server.data_dir, store),
                             uri=True) as db:
            return db.execute("SELECT COUNT(*) FROM kv WHERE space = ?",
                              (space.encode(),)).fetchone()[0]

    def test_expired_data_is_archived_read_only_for_legal_exported_and_erased(self):
        self.server = server = self.make_server()
        status, answer = server.api("PUT", "/v1/policy", {"document": ARCHIVE_POLICY},
                                    token=server.admin_token)
        self.assertEqual(status, 200, answer)
        self.assertEqual(server.api("POST", "/v1/collections", PEOPLE,
                                    token=server.admin_token)[0], 201)
        alice = server.api("POST", "/v1/subjects", {})[1]["id"]
        bob = server.api("POST", "/v1/subjects", {})[1]["id"]
        records = {}
        for subject, email in ((alice, "alice.archive@example.org"),
                               (bob, "bob.archive@example.org")):
            status, record = server.api("POST", "/v1/collections/people/records", {
                "subject_id": subject, "fields": {"email": email, "note": "kept for claims"}})
            self.assertEqual(status, 201, record)
            records[subject] = record["id"]
        now = datetime.datetime.utcnow().replace(microsecond=0)
        events = [{"type": "visit.logged", "occurred_at": rfc3339(now - datetime.timedelta(days=d)),
                   "data": {"room": "r%d" % d}} for d in (400, 31, 29, 0)]
        self.assertEqual(server.api("POST", "/v1/subjects/%s/activity" % alice,
                                    {"events": events})[0], 201)
        scan = b"%PDF-1.4 archived scan " + os.urandom(70000)  # two chunks
        status, _, body = server.request(
            "POST", "/v1/subjects/%s/documents" % alice, body=scan,
            headers={"Authorization": "Bearer " + server.app_token,
                     "Content-Type": "application/pdf"})
        self.assertEqual(status, 201, body)
        document = json.loads(body)["id"]

        status, state = server.api("GET", "/v1/retention", token=server.admin_token)
        self.assertEqual([(r["name"], r["days"], r["archive_days"]) for r in state["rules"]],
                         [("old activity", 30, 100), ("people", 1, 30), ("scans", 1, 30)])
        cutoff = parse(state["rules"][0]["archive_cutoff"])
        self.assertLess(abs((datetime.datetime.utcnow() - datetime.timedelta(days=130) -
                             cutoff).total_seconds()), 60)

        # Now: r31 leaves the live events for the archive; r400, past 30 + 100 days already, is
        # deleted at once. The records (a day to go) stay.
        done = self.run_pass()["pass"]
        self.assertEqual((done["archived"], done["purged"]), (1, 1), done)
        self.assertEqual(done["purges"], [
            {"rule": "old activity", "data": "@activity", "action": "purge", "count": 1},
            {"rule": "old activity", "data": "@activity", "action": "archive", "count": 1}])
        status, page = server.api("GET", "/v1/subjects/%s/activity" % alice)
        self.assertEqual([e["data"]["room"] for e in page["events"]], ["r29", "r0"])
        path = "/v1/subjects/%s/archive/activity" % alice
        status, page = self.legal(path)
        self.assertEqual(status, 200, page)
        self.assertEqual([(e["data"]["room"], e["archived"]) for e in page["events"]],
                         [("r31", True)])
        for purpose in (None, "support"):
            status, refused = self.legal(path, purpose)
            self.assertEqual((status, refused["error"]["code"]), (403, "permission_denied"))
            self.assertEqual(refused["error"]["details"],
                             {"path": "header:strongroom-purpose", "rule": "archive_legal_only"})
        self.assertEqual(self.rows("activity.db", "archived_events"), 1)

        # Two days on, both records have expired: archived, with r29 (31 days old now).
        server.stop()
        server.env.update({"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+2d",
                           "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        server.start()
        done = self.run_pass()["pass"]
        self.assertEqual((done["archived"], done["purged"]), (4, 0), done)
        # The document: out of the live listing, downloaded from the archive for legal only.
        status, page = server.api("GET", "/v1/subjects/%s/documents" % alice)
        self.assertEqual((status, page["documents"]), (200, []))
        status, page = self.legal("/v1/subjects/%s/archive/documents" % alice)
        self.assertEqual([(d["id"], d["archived"]) for d in page["documents"]],
                         [(document, True)])
        download = "/v1/subjects/%s/archive/documents/%s" % (alice, document)
        status, _, body = server.request("GET", download,
                                         headers={"Authorization": "Bearer " + server.app_token})
        self.assertEqual(status, 403, body)
        self.assertEqual(json.loads(body)["error"]["details"]["rule"], "archive_legal_only")
        status, _, body = server.request("GET", download,
                                         headers={"Authorization": "Bearer " + server.app_token,
                                                  "Strongroom-Purpose": "legal"})
        self.assertEqual((status, body), (200, scan))
        self.assertEqual(server.api("GET", "/v1/subjects/%s/documents/%s" % (alice, document))[0],
                         404)
        record_path = "/v1/collections/people/records/" + records[alice]
        self.assertEqual(server.api("GET", record_path)[0], 404)
        status, found = server.api("POST", "/v1/collections/people/records/search",
                                   {"field": "email", "value": "alice.archive@example.org"})
        self.assertEqual((status, found["records"]), (200, []))
        archived_path = "/v1/collections/people/archive/" + records[alice]
        status, refused = self.legal(archived_path, None)
        self.assertEqual((status, refused["error"]["details"]["rule"]),
                         (403, "archive_legal_only"))
        # The administrators, who run the vault, read no archive either (the policy's rules).
        status, refused = server.api("GET", archived_path, token=server.admin_token,
                                     headers={"Strongroom-Purpose": "legal"})
        self.assertEqual((status, refused["error"]["details"]["rule"]), (403, "denied"))
        status, record = self.legal(archived_path)
        self.assertEqual(status, 200, record)
        self.assertEqual((record["fields"]["email"], record["archived"], record["subject_id"]),
                         ("alice.archive@example.org", True, alice))
        self.assertEqual(record["views"]["email"], "plain")
        status, page = self.legal("/v1/collections/people/archive?subject=" + alice)
        self.assertEqual([r["id"] for r in page["records"]], [records[alice]])
        status, page = self.legal("/v1/collections/people/archive?limit=1")
        self.assertEqual((status, len(page["records"])), (200, 1), page)
        status, rest = self.legal("/v1/collections/people/archive?cursor=" + page["next_cursor"])
        self.assertEqual(sorted(r["id"] for r in page["records"] + rest["records"]),
                         sorted(records.values()))
        for bad, status_code, where in (
                ("?subject=sub_AAAAAAAAAAAAAAAAAAAAAA", 404, None),
                ("?limit=zero", 400, "limit"), ("?cursor=x", 400, "cursor"),
                ("?colour=red", 400, "colour")):
            status, error = self.legal("/v1/collections/people/archive" + bad)
            self.assertEqual(status, status_code, (bad, error))
            if where:
                self.assertEqual(error["error"]["details"]["path"], where, error)
        self.assertEqual(self.legal("/v1/collections/nowhere/archive/" + records[alice])[0], 404)
        self.assertEqual(self.legal("/v1/collections/people/archive/rec_nothing")[0], 404)
        self.assertEqual(self.rows("profiles.db", "archived_records"), 2)
        self.assertEqual(self.rows("profiles.db", "records"), 0)
        # Archived, the values are ciphertext in the file and nowhere in the log.
        with open(os.path.join(server.data_dir, "profiles.db"), "rb") as f:
            self.assertNotIn(b"alice.archive@example.org", f.read())
        self.assertNotIn("alice.archive@example.org", server.log_text())
        self.assertNotIn("kept for claims", server.log_text())

        # A caller who would see the email tokenized sees it masked in the archive: no token of
        # an archived value is made (it could be detokenized for another purpose).
        clerk = server.principal_token("archive-clerk", ["clerk"], scopes=["data:read"])["token"]
        status, record = server.api("GET", archived_path, token=clerk,
                                    headers={"Strongroom-Purpose": "legal"})
        self.assertEqual(status, 200, record)
        self.assertEqual(record["views"]["email"], "masked")
        self.assertNotIn("alice.archive", record["fields"]["email"])
        self.assertEqual(self.rows("profiles.db", "tokens"), 0)

        # An export for another purpose leaves the archive out and says so.
        def export(purpose):
            headers = {"Authorization": "Bearer " + server.app_token}
            if purpose:
                headers["Strongroom-Purpose"] = purpose
            status, _, body = server.request("GET", "/v1/subjects/%s/export" % alice,
                                             headers=headers)
            self.assertEqual(status, 200, body)
            return body, [json.loads(l) for l in body.split(b"\n") if l]

        body, lines = export("support")
        self.assertIn({"kind": "withheld", "section": "archive"}, lines)
        # The first line does not count the archive either.
        self.assertEqual((lines[0]["counts"]["records"], lines[0]["counts"]["activity_events"],
                          lines[0]["counts"]["documents"]), (0, 1, 0))
        self.assertEqual([l for l in lines if l.get("kind") in ("record", "document")], [])
        self.assertNotIn(b"alice.archive", body)
        self.assertEqual([l["event"]["data"]["room"] for l in lines if l.get("kind") == "event"],
                         ["r0"])
        # For the subject's own request, it holds the archived record and events, marked, and
        # nothing of Bob's.
        body, lines = export("subject-request")
        self.assertNotIn({"kind": "withheld", "section": "archive"}, lines)
        self.assertEqual([(l["document"]["id"], l["document"]["archived"]) for l in lines
                          if l.get("kind") == "document"], [(document, True)])
        self.assertEqual(b"".join(base64.b64decode(l["data"]) for l in lines
                                  if l.get("kind") == "document_chunk"), scan)
        exported = [l["record"] for l in lines if l.get("kind") == "record"]
        self.assertEqual([(r["id"], r.get("archived")) for r in exported],
                         [(records[alice], True)])
        self.assertEqual([(l["event"]["data"]["room"], l["event"].get("archived"))
                          for l in lines if l.get("kind") == "event"],
                         [("r0", None), ("r31", True), ("r29", True)])
        self.assertEqual((lines[0]["counts"]["records"], lines[0]["counts"]["activity_events"],
                          lines[0]["counts"]["documents"]), (1, 3, 1))
        self.assertNotIn(b"bob.archive", body)

        # Audited: the reads with their purpose and record, the refusals with their rule, the
        # moves in the system's bulk entries.
        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        status, page = server.api("GET", "/v1/audit?action=record.read_archived", token=auditor)
        self.assertEqual([(e["outcome"]["status"], e.get("purpose")) for e in page["entries"]],
                         [(403, None), (403, "legal"), (200, "legal"), (404, "legal"),
                          (404, "legal"), (200, "legal")])
        self.assertEqual(page["entries"][2]["resource"]["ids"], [records[alice]])
        status, page = server.api("GET", "/v1/audit?action=retention.purge", token=auditor)
        self.assertEqual([e["resource"]["target"] for e in page["entries"]], [
            "rule 'old activity': 1 in @activity; rule 'old activity': 1 archived from "
            "@activity",
            "rule 'people': 2 archived from people; rule 'old activity': 1 archived from "
            "@activity; rule 'scans': 1 archived from @documents"])
        metrics = server.metrics_text()
        self.assertIn('strongroom_retention_archived_total{data="records"} 2', metrics)
        self.assertIn('strongroom_retention_archived_total{data="activity"} 1', metrics)
        self.assertIn('strongroom_retention_archived_total{data="documents"} 1', metrics)

        # Erasing Alice reaches her archived record and events; Bob's stay.
        status, erased = server.api("DELETE", "/v1/subjects/" + alice)
        self.assertEqual(status, 200, erased)
        self.assertEqual((erased["destroyed"]["records"], erased["destroyed"]["activity_events"],
                          erased["destroyed"]["documents"]), (1, 3, 1), erased)
        self.assertEqual(self.rows("documents.db", "archived_documents"), 0)
        self.assertEqual(self.rows("documents.db", "chunks"), 0)
        self.assertEqual(self.rows("profiles.db", "archived_records"), 1)
        self.assertEqual(self.rows("profiles.db", "archived_by_subject"), 1)
        self.assertEqual(self.rows("activity.db", "archived_events"), 0)
        self.assertEqual(self.legal(archived_path)[0], 404)
        self.assertEqual(self.legal("/v1/collections/people/archive/" + records[bob])[0], 200)


class RetentionTest(ServerTestCase):
    """Retention ([[retention]] in the tenant's policy): a pass on demand deletes exactly what
    expired (here activity events whose occurred_at is past 30 days; records written now are
    kept), a dry run only counts, the deletion is one bulk audit entry of the system, the metrics
    count it, and bad input is refused with its path. The injected-clock test of every kind of
    data is records/retention_test.cc."""

    def setUp(self):
        super().setUp()
        self.server = server = self.make_server()
        status, answer = server.api("PUT", "/v1/policy", {"document": RETENTION_POLICY},
                                    token=server.admin_token)
        self.assertEqual(status, 200, answer)
        self.policy_version = answer["version"]
        self.assertEqual(server.api("POST", "/v1/collections", PEOPLE,
                                    token=server.admin_token)[0], 201)
        self.subject = server.api("POST", "/v1/subjects", {})[1]["id"]
        status, self.record = server.api("POST", "/v1/collections/people/records", {
            "subject_id": self.subject, "fields": {"email": "kept@example.org"}})
        self.assertEqual(status, 201, self.record)
        now = datetime.datetime.utcnow().replace(microsecond=0)
        events = [{"type": "visit.logged", "occurred_at": rfc3339(now - datetime.timedelta(days=d)),
                   "data": {"room": "r%d" % d}} for d in (400, 31, 29, 0)]
        status, answer = server.api("POST", "/v1/subjects/%s/activity" % self.subject,
                                    {"events": events})
        self.assertEqual(status, 201, answer)

    def run_pass(self, body):
        status, answer = self.server.api("POST", "/v1/retention/run", body,
                                         token=self.server.admin_token)
        self.assertEqual(status, 202, answer)
        self.assertIn(answer["pass"]["state"], ("queued", "running"))
        for _ in range(200):  # bounded: 10 s
            status, state = self.server.api("GET", "/v1/retention", token=self.server.admin_token)
            self.assertEqual(status, 200, state)
            if state["pass"] and state["pass"]["state"] in ("done", "failed"):
                return state
            time.sleep(0.05)
        self.fail("the retention pass did not finish: %s" % state)

    def event_times(self):
        status, page = self.server.api("GET", "/v1/subjects/%s/activity" % self.subject)
        self.assertEqual(status, 200, page)
        return [e["data"]["room"] for e in page["events"]]

    def test_a_pass_deletes_what_expired_and_is_audited_in_bulk(self):
        server = self.server
        status, state = server.api("GET", "/v1/retention", token=server.admin_token)
        self.assertEqual(status, 200, state)
        self.assertEqual(state["policy_version"], self.policy_version)
        self.assertEqual([(r["name"], r["collections"], r["days"]) for r in state["rules"]],
                         [("old activity", ["@activity"], 30), ("visits", ["people"], 365)])
        cutoff = parse(state["rules"][0]["cutoff"])
        self.assertLess(abs((datetime.datetime.utcnow() - datetime.timedelta(days=30) -
                             cutoff).total_seconds()), 60)
        self.assertIsNone(state["pass"])
        self.assertIsNotNone(state["next_scheduled_pass"])

        # A dry run counts the two old events and deletes nothing.
        state = self.run_pass({"dry_run": True})
        done = state["pass"]
        self.assertEqual((done["state"], done["dry_run"], done["purged"]), ("done", True, 2), done)
        self.assertEqual(done["purges"], [{"rule": "old activity", "data": "@activity",
                                           "action": "purge", "count": 2}])
        self.assertEqual(self.event_times(), ["r400", "r31", "r29", "r0"])

        state = self.run_pass(None)
        done = state["pass"]
        self.assertEqual((done["state"], done["dry_run"], done["purged"]), ("done", False, 2), done)
        self.assertTrue(done["trigger"].startswith("api: prn_"), done)
        self.assertGreaterEqual(done["scanned"], 3)
        self.assertEqual(self.event_times(), ["r29", "r0"])
        # The record (written now, kept 365 days) is still there.
        self.assertEqual(server.api("GET", "/v1/collections/people/records/" +
                                    self.record["id"])[0], 200)
        # The rows left the file.
        with sqlite3.connect("file:%s?mode=ro" % os.path.join(server.data_dir, "activity.db"),
                             uri=True) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM kv WHERE space = ?",
                                  (b"events",)).fetchone()
        self.assertEqual(count, 2)
        # Again: nothing more has expired, so nothing is deleted (and nothing audited).
        self.assertEqual(self.run_pass({})["pass"]["purged"], 0)

        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        status, page = server.api("GET", "/v1/audit?action=retention.purge", token=auditor)
        self.assertEqual(status, 200, page)
        (entry,) = page["entries"]
        self.assertEqual(entry["actor"]["id"], "system:retention", entry)
        self.assertEqual(entry["resource"]["target"], "rule 'old activity': 2 in @activity")
        self.assertEqual(entry["policy"]["version"], self.policy_version)
        self.assertTrue(entry["policy"]["rule"].startswith("retention (api: prn_"), entry)
        self.assertEqual(entry["outcome"]["status"], 200)
        self.assertNotIn(self.subject, json.dumps(entry))
        status, page = server.api("GET", "/v1/audit?action=retention.run", token=auditor)
        self.assertEqual([e["outcome"]["status"] for e in page["entries"]], [202, 202, 202])

        metrics = server.metrics_text()
        self.assertIn('strongroom_retention_purged_total{data="activity"} 2', metrics)
        self.assertIn('strongroom_retention_purged_total{data="records"} 0', metrics)
        self.assertIn("strongroom_retention_passes_running 0", metrics)

    def test_bad_input_and_callers_without_manage_policy_are_refused(self):
        server = self.server

        def refused(body, status, code, token=None, at=None):
            headers = {"Authorization": "Bearer " + (token or server.admin_token),
                       "Content-Type": "application/json"}
            got, _, raw = server.request("POST", "/v1/retention/run",
                                         body=body if isinstance(body, str) else json.dumps(body),
                                         headers=headers)
            error = self.assert_error(got, raw, status, code)
            if at is not None:
                self.assertEqual(error["details"]["path"], at, error)

        refused({"dry_run": "yes"}, 400, "invalid_argument", at="$.dry_run")
        refused({"dry_run": True, "now": "2030-01-01"}, 400, "invalid_argument", at="$.now")
        refused([], 400, "invalid_argument", at="$")
        refused("{not json", 400, "invalid_argument")
        # Applications hold no manage-policy (nor an admin scope).
        refused({}, 403, "permission_denied", token=server.app_token)
        self.assertEqual(server.api("GET", "/v1/retention", token=server.app_token)[0], 403)
        # A document whose rule could purge what nobody meant is refused at PUT, with its line.
        status, answer = server.api("PUT", "/v1/policy", {
            "document": RETENTION_POLICY + "\n[[retention]]\ncollections = [\"@subjects\"]\n"
                                           "days = 1\n"}, token=server.admin_token)
        self.assertEqual(status, 400, answer)
        self.assertIn("'@subjects' has no retention", answer["error"]["message"])
        # Without rules there is nothing to run.
        status, answer = server.api("PUT", "/v1/policy", {"document": CHOICES_POLICY},
                                    token=server.admin_token)
        self.assertEqual(status, 200, answer)
        refused({}, 412, "failed_precondition")
        # Nothing was deleted by any of it.
        self.assertEqual(len(self.event_times()), 4)


if __name__ == "__main__":
    unittest.main()
