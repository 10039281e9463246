"""Personal-data records end to end: collections, subjects, records, search, activity, tenants
and tokens over real HTTPS, every bad input with its exact status, code, path and rule, and the
proof that no marker value reaches any file below the barrier."""
import base64
import json
import os
import sqlite3
import unittest

import yaml

from harness import NO_WAF, ServerTestCase, samples

PATIENTS = {
    "name": "patients",
    "fields": [
        {"name": "email", "type": "email", "required": True, "indexed": True,
         "classification": {"grade": "confidential", "category": "contact"}},
        {"name": "full_name", "type": "name", "indexed": True,
         "classification": {"grade": "confidential", "category": "identity"}},
        {"name": "phone", "type": "phone", "indexed": True,
         "classification": {"grade": "confidential", "category": "contact"}},
        {"name": "birth_date", "type": "date",
         "classification": {"grade": "restricted", "category": "identity"}},
        {"name": "diagnosis", "type": "string", "max_length": 40,
         "classification": {"grade": "restricted", "category": "health"}},
        {"name": "visits", "type": "integer",
         "classification": {"grade": "internal", "category": "behavioural"}},
        {"name": "notes", "type": "json",
         "classification": {"grade": "restricted", "category": "health"}},
    ],
}


class RecordsTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.make_server()
        status, body = self.server.api("POST", "/v1/collections", PATIENTS)
        self.assertEqual(status, 201, body)
        self.subject = self.new_subject()

    def new_subject(self, **body):
        status, subject = self.server.api("POST", "/v1/subjects", body)
        self.assertEqual(status, 201, subject)
        return subject["id"]

    def create(self, fields, subject=None):
        return self.server.api("POST", "/v1/collections/patients/records",
                               {"subject_id": subject or self.subject, "fields": fields})

    def assert_invalid(self, result, path, rule, status=400, code="invalid_argument"):
        got_status, body = result
        self.assertEqual(got_status, status, body)
        self.assertEqual(body["error"]["code"], code, body)
        self.assertEqual(body["error"]["details"], {"path": path, "rule": rule}, body)

    def test_collection_create_get_list_and_evolve(self):
        status, got = self.server.api("GET", "/v1/collections/patients")
        self.assertEqual(status, 200)
        self.assertEqual(got["version"], 1)
        email = got["fields"][0]
        self.assertEqual(email["classification"], {"grade": "confidential", "category": "contact"})
        self.assertTrue(email["indexed"])
        status, listed = self.server.api("GET", "/v1/collections?limit=10")
        self.assertEqual(status, 200)
        self.assertEqual([c["name"] for c in listed["collections"]], ["patients"])
        self.assertIsNone(listed["next_cursor"])
        status, body = self.server.api("POST", "/v1/collections", PATIENTS)
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"]["code"], "already_exists")
        status, evolved = self.server.api("PATCH", "/v1/collections/patients", {
            "add_fields": [{"name": "allergies", "type": "string",
                            "classification": {"grade": "restricted", "category": "health"}}],
            "deprecate_fields": ["visits"]})
        self.assertEqual(status, 200, evolved)
        self.assertEqual(evolved["version"], 2)
        # A deprecated field takes no new values; the added one does.
        self.assert_invalid(self.create({"email": "a@example.com", "visits": 3}),
                            "$.fields.visits", "deprecated")
        status, rec = self.create({"email": "a@example.com", "allergies": "peanuts"})
        self.assertEqual(status, 201, rec)
        self.assertEqual(rec["schema_version"], 2)
        self.assertEqual(self.server.api("GET", "/v1/collections/nope")[0], 404)

    def test_record_lifecycle(self):
        fields = {"email": "Alice.Smith@Example.com", "full_name": "Alice Smith",
                  "phone": "+44 20 7946 0958", "birth_date": "1990-02-28",
                  "diagnosis": "asthma", "visits": 3, "notes": {"allergies": ["pollen"]}}
        status, rec = self.create(fields)
        self.assertEqual(status, 201, rec)
        self.assertRegex(rec["id"], r"^rec_[A-Za-z0-9_-]{22}$")
        self.assertEqual(rec["fields"], fields)
        self.assertEqual(rec["subject_id"], self.subject)
        path = "/v1/collections/patients/records/" + rec["id"]
        status, got = self.server.api("GET", path)
        self.assertEqual(status, 200)
        self.assertEqual(got["fields"], fields)
        # Partial update: change one field, remove another, keep the rest.
        status, updated = self.server.api("PATCH", path, {"fields": {"visits": 4, "notes": None}})
        self.assertEqual(status, 200, updated)
        expected = dict(fields, visits=4)
        del expected["notes"]
        self.assertEqual(updated["fields"], expected)
        self.assertEqual(self.server.api("GET", path)[1]["fields"], expected)
        self.assert_invalid(self.server.api("PATCH", path, {"fields": {"email": None}}),
                            "$.fields.email", "required")
        status, _ = self.server.api("DELETE", path)
        self.assertEqual(status, 204)
        status, body = self.server.api("GET", path)
        self.assertEqual(status, 404)
        self.assertEqual(body["error"]["code"], "not_found")
        self.assertEqual(self.server.api("DELETE", path)[0], 404)

    def test_search_through_blind_indexes_normalises_per_type(self):
        _, alice = self.create({"email": "alice@example.com", "phone": "+1 555 010 0001",
                                "full_name": "Alice Smith"})
        self.create({"email": "bob@example.com", "phone": "+1 555 010 0002"})
        search = "/v1/collections/patients/records/search"
        for field, value in (("email", "ALICE@Example.COM"), ("phone", "+1 (555) 010-0001"),
                             ("full_name", "alice   SMITH")):
            status, found = self.server.api("POST", search, {"field": field, "value": value})
            self.assertEqual(status, 200, found)
            self.assertEqual([r["id"] for r in found["records"]], [alice["id"]], field)
        status, none = self.server.api("POST", search, {"field": "email", "value": "carol@example.com"})
        self.assertEqual(none["records"], [])
        self.assert_invalid(self.server.api("POST", search, {"field": "diagnosis", "value": "x"}),
                            "$.field", "not_indexed")
        self.assert_invalid(self.server.api("POST", search, {"field": "email", "value": "nope"}),
                            "$.value", "format")
        # An update moves the record in the index; a delete removes it.
        path = "/v1/collections/patients/records/" + alice["id"]
        self.server.api("PATCH", path, {"fields": {"email": "alice@new.example.com"}})
        _, old = self.server.api("POST", search, {"field": "email", "value": "alice@example.com"})
        _, new = self.server.api("POST", search, {"field": "email", "value": "alice@new.example.com"})
        self.assertEqual((len(old["records"]), len(new["records"])), (0, 1))
        self.server.api("DELETE", path)
        _, gone = self.server.api("POST", search, {"field": "email", "value": "alice@new.example.com"})
        self.assertEqual(gone["records"], [])

    def test_batch_create_reports_each_item(self):
        status, result = self.server.api("POST", "/v1/collections/patients/records/batch", {"records": [
            {"subject_id": self.subject, "fields": {"email": "one@example.com"}},
            {"subject_id": self.subject, "fields": {"email": "not-an-email"}},
            {"subject_id": self.subject, "fields": {"email": "three@example.com", "bogus": 1}},
            {"subject_id": "sub_AAAAAAAAAAAAAAAAAAAAAA", "fields": {"email": "four@example.com"}},
        ]})
        self.assertEqual(status, 200, result)
        self.assertEqual((result["created"], result["failed"]), (1, 3))
        statuses = [r["status"] for r in result["results"]]
        self.assertEqual(statuses, [201, 400, 400, 400])
        self.assertEqual(result["results"][1]["error"]["details"],
                         {"path": "$.records[1].fields.email", "rule": "format"})
        self.assertEqual(result["results"][2]["error"]["details"],
                         {"path": "$.records[2].fields.bogus", "rule": "unknown_field"})
        self.assertEqual(result["results"][3]["error"]["details"],
                         {"path": "$.records[3].subject_id", "rule": "exists"})
        # Only the good item was written, whole.
        _, listed = self.server.api("GET", "/v1/collections/patients/records")
        self.assertEqual([r["fields"] for r in listed["records"]], [{"email": "one@example.com"}])
        self.assert_invalid(self.server.api("POST", "/v1/collections/patients/records/batch",
                                            {"records": []}), "$.records", "min_items")

    def test_cursor_pagination_visits_every_record_once(self):
        ids = set()
        status, result = self.server.api("POST", "/v1/collections/patients/records/batch", {"records": [
            {"subject_id": self.subject, "fields": {"email": "p%d@example.com" % i}} for i in range(7)]})
        self.assertEqual(result["created"], 7)
        ids = {r["record"]["id"] for r in result["results"]}
        seen, cursor, pages = [], None, 0
        while pages < 10:
            path = "/v1/collections/patients/records?limit=3" + ("&cursor=" + cursor if cursor else "")
            status, page = self.server.api("GET", path)
            self.assertEqual(status, 200, page)
            seen += [r["id"] for r in page["records"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(sorted(seen), sorted(ids))
        self.assertEqual(pages, 3)
        self.assert_invalid(self.server.api("GET", "/v1/collections/patients/records?limit=0"),
                            "limit", "range")
        self.assert_invalid(self.server.api("GET", "/v1/collections/patients/records?limit=x"),
                            "limit", "type")
        self.assert_invalid(self.server.api("GET", "/v1/collections/patients/records?cursor=zzz"),
                            "cursor", "format")
        self.assert_invalid(self.server.api("GET", "/v1/collections/patients/records?sort=asc"),
                            "sort", "unknown_parameter")

    def test_subjects_minors_and_guardians(self):
        guardian = self.new_subject()
        status, minor = self.server.api("POST", "/v1/subjects", {"minor": True, "guardians": [guardian]})
        self.assertEqual(status, 201, minor)
        status, got = self.server.api("GET", "/v1/subjects/" + minor["id"])
        self.assertEqual(status, 200)
        self.assertEqual((got["minor"], got["guardians"]), (True, [guardian]))
        self.assert_invalid(self.server.api("POST", "/v1/subjects", {"guardians": [guardian]}),
                            "$.guardians", "minor_only")
        self.assert_invalid(self.server.api("POST", "/v1/subjects",
                                            {"minor": True, "guardians": ["sub_nope"]}),
                            "$.guardians[0]", "exists")
        self.assert_invalid(self.server.api("POST", "/v1/subjects", {"minor": "yes"}),
                            "$.minor", "type")
        _, listed = self.server.api("GET", "/v1/subjects")
        self.assertEqual(len(listed["subjects"]), 3)
        self.assertEqual(self.server.api("GET", "/v1/subjects/sub_AAAAAAAAAAAAAAAAAAAAAA")[0], 404)

    def test_activity_append_and_time_range(self):
        base = "/v1/subjects/%s/activity" % self.subject
        status, one = self.server.api("POST", base, {"type": "cycle.logged",
                                                     "occurred_at": "2026-11-01T08:00:00Z",
                                                     "data": {"flow": "light"}})
        self.assertEqual(status, 201, one)
        status, many = self.server.api("POST", base, {"events": [
            {"type": "clock.in", "occurred_at": "2026-11-02T09:00:00+01:00"},
            {"type": "clock.out", "occurred_at": "2026-11-02T17:30:00.250Z", "data": {"site": 4}},
        ]})
        self.assertEqual(status, 201, many)
        status, listed = self.server.api("GET", base)
        self.assertEqual([e["type"] for e in listed["events"]], ["cycle.logged", "clock.in", "clock.out"])
        self.assertEqual(listed["events"][0]["data"], {"flow": "light"})
        self.assertEqual(listed["events"][1]["occurred_at"], "2026-11-02T08:00:00.000000Z")
        status, ranged = self.server.api(
            "GET", base + "?from=2026-11-02T00%3A00%3A00Z&to=2026-11-02T17%3A30%3A00.250Z")
        self.assertEqual(status, 200, ranged)
        self.assertEqual([e["type"] for e in ranged["events"]], ["clock.in"])
        status, paged = self.server.api("GET", base + "?limit=2")
        self.assertEqual(len(paged["events"]), 2)
        _, rest = self.server.api("GET", base + "?limit=2&cursor=" + paged["next_cursor"])
        self.assertEqual([e["type"] for e in rest["events"]], ["clock.out"])
        # A bad event anywhere in a batch writes none of it.
        self.assert_invalid(self.server.api("POST", base, {"events": [
            {"type": "ok"}, {"type": "Bad Type"}]}), "$.events[1].type", "pattern")
        self.assert_invalid(self.server.api("POST", base, {"type": "x", "occurred_at": "yesterday"}),
                            "$.occurred_at", "format")
        self.assertEqual(len(self.server.api("GET", base)[1]["events"]), 3)
        self.assertEqual(self.server.api("POST", "/v1/subjects/sub_AAAAAAAAAAAAAAAAAAAAAA/activity",
                                         {"type": "x"})[0], 404)

    def test_every_bad_input_is_refused_with_path_and_rule(self):
        records = "/v1/collections/patients/records"
        cases = [
            (self.create({"email": "a@example.com", "visits": "three"}), "$.fields.visits", "type"),
            (self.create({"email": "a@example.com", "visits": 2 ** 63}), "$.fields.visits", "range"),
            (self.create({"email": "a@example.com", "birth_date": "1990-02-30"}),
             "$.fields.birth_date", "format"),
            (self.create({"email": "a@example.com", "diagnosis": "x" * 41}),
             "$.fields.diagnosis", "max_length"),
            (self.create({"email": "a@example.com", "unknown": 1}), "$.fields.unknown", "unknown_field"),
            (self.create({"full_name": "No Email"}), "$.fields.email", "required"),
            (self.create({"email": None}), "$.fields.email", "type"),
            (self.server.api("POST", records, {"fields": {}}), "$.subject_id", "required"),
            (self.server.api("POST", records, {"subject_id": self.subject, "fields": {}, "x": 1}),
             "$.x", "unknown_field"),
            (self.server.api("POST", records, [1, 2]), "$", "type"),
            (self.server.api("POST", records, raw='{"subject_id":"a","subject_id":"b","fields":{}}'),
             "$.subject_id", "duplicate_key"),
            (self.server.api("POST", records, raw='{"subject_id": '), "$", "json"),
            (self.server.api("POST", records, raw=b'{"subject_id":"\xff","fields":{}}'), "$", "json"),
            (self.server.api("POST", records, raw="[" * 40 + "]" * 40), "$", "max_depth"),
            (self.server.api("POST", "/v1/collections", {"name": "x", "fields": [
                {"name": "a", "type": "string"}]}), "$.fields[0].classification", "required"),
        ]
        for result, path, rule in cases:
            with self.subTest(path=path, rule=rule):
                self.assert_invalid(result, path, rule)
        # Nothing was written by any of them.
        self.assertEqual(self.server.api("GET", records)[1]["records"], [])
        # (Bodies over limits.max_body_bytes never reach a handler: test_http.py covers 413.)

    def test_payment_card_numbers_are_refused_and_never_stored(self):
        records = "/v1/collections/patients/records"
        card = "4111 1111 1111 1111"
        cases = [
            (self.create({"email": "a@example.com", "diagnosis": card}), "$.fields.diagnosis"),
            (self.create({"email": "a@example.com", "diagnosis": "5555-5555-5555-4444"}),
             "$.fields.diagnosis"),
            (self.create({"email": "a@example.com", "notes": {"paid": [1, {"with": card}]}}),
             "$.fields.notes.paid[1].with"),
            (self.create({"email": "a@example.com", "notes": [["x"], ["378282246310005"]]}),
             "$.fields.notes[1][0]"),
            (self.create({"email": "a@example.com", "visits": 4111111111111111}), "$.fields.visits"),
            (self.create({"email": "a@example.com", "notes": {"n": 4111111111111111.0}}),
             "$.fields.notes.n"),
        ]
        for (status, body), path in cases:
            with self.subTest(path=path):
                self.assertEqual(status, 422, body)
                self.assertEqual(body["error"]["code"], "card_data_refused")
                self.assertEqual(body["error"]["details"], {"path": path, "rule": "card_number"})
                self.assertNotIn("4111", body["error"]["message"])
        status, batch = self.server.api("POST", records + "/batch", {"records": [
            {"subject_id": self.subject, "fields": {"email": "ok@example.com",
                                                    "notes": {"order": "4111111111111112"}}},
            {"subject_id": self.subject, "fields": {"email": "b@example.com", "diagnosis": card}},
        ]})
        self.assertEqual(status, 200, batch)
        self.assertEqual([r["status"] for r in batch["results"]], [201, 422])
        self.assertEqual(batch["results"][1]["error"]["details"],
                         {"path": "$.records[1].fields.diagnosis", "rule": "card_number"})
        kept = batch["results"][0]["record"]["id"]
        status, body = self.server.api("PATCH", records + "/" + kept,
                                       {"fields": {"diagnosis": "paid by " + card}})
        self.assertEqual((status, body["error"]["code"]), (422, "card_data_refused"), body)
        status, body = self.server.api("POST", "/v1/subjects/%s/activity" % self.subject,
                                       {"type": "payment", "data": {"card": card}})
        self.assertEqual((status, body["error"]["code"]), (422, "card_data_refused"), body)
        self.assertEqual(body["error"]["details"], {"path": "$.data.card", "rule": "card_number"})
        status, body = self.server.api("POST", "/v1/subjects/%s/activity" % self.subject,
                                       {"type": "4111-1111-1111-1111"})
        self.assertEqual((status, body["error"]["details"]), (422, {"path": "$.type",
                                                                   "rule": "card_number"}), body)
        # A card number as a key is never echoed: not in the answer, so not in the audit trail.
        status, body = self.create({"email": "a@example.com", card: 1})
        self.assertEqual((status, body["error"]["details"]),
                         (400, {"path": "$.fields['<card number removed>']",
                                "rule": "unknown_field"}), body)
        status, body = self.server.api("POST", records + "/search",
                                       {"field": "full_name", "value": card})
        self.assertEqual((status, body["error"]["details"]), (422, {"path": "$.value",
                                                                   "rule": "card_number"}), body)
        # The audit trail keeps keyed hashes of written values, but not of a refused card number.
        auditor = self.server.principal_token("card-auditor", ["auditor"], kind="user",
                                              scopes=["audit:read"])["token"]
        for value, expected in (("ok@example.com", ["record.create"]), (card, [])):
            status, hashed = self.server.api("POST", "/v1/audit/hash", {"value": value},
                                             token=auditor)
            self.assertEqual(status, 200, hashed)
            status, found = self.server.api("GET", "/v1/audit?value_hash=" + hashed["hash"],
                                            token=auditor)
            self.assertEqual([e["action"] for e in found["entries"]], expected, value)
        # Only the order id (it fails the Luhn check) went in, unchanged.
        _, listed = self.server.api("GET", records)
        self.assertEqual([r["fields"] for r in listed["records"]],
                         [{"email": "ok@example.com", "notes": {"order": "4111111111111112"}}])
        self.server.stop()
        needles = []
        for number in ("4111111111111111", "5555555555554444", "378282246310005"):
            needles += [number.encode(), number[-8:].encode()]
        needles += [card.encode(), b"5555-5555-5555-4444"]
        self.assert_nowhere(self.server, needles, min_files=6)

    def test_authentication_roles_and_tenant_isolation(self):
        records = "/v1/collections/patients/records"
        status, body = self.server.api("GET", records, token="srt_" + "A" * 43)
        self.assertEqual((status, body["error"]["code"]), (401, "unauthenticated"))
        status, _, data = self.server.request("GET", records)
        self.assertEqual(status, 401)
        status, tenant = self.server.api("POST", "/v1/tenants", {"id": "clinic-b", "name": "Clinic B"})
        self.assertEqual(status, 201, tenant)
        self.assertEqual(self.server.api("POST", "/v1/tenants", {"id": "clinic-b"})[0], 409)
        self.assert_invalid(self.server.api("POST", "/v1/tenants", {"id": "Bad_Id"}), "$.id", "pattern")
        token = self.server.principal_token("clinic-b-app", ["service"], tenant="clinic-b")
        self.assertRegex(token["token"], r"^srt_")
        b = token["token"]
        # Tenant B sees nothing of the default tenant, and cannot reach its records by id.
        status, body = self.server.api("GET", "/v1/collections/patients", token=b)
        self.assertEqual(status, 404, body)
        _, rec = self.create({"email": "a@example.com"})
        status, _ = self.server.api("GET", records + "/" + rec["id"], token=b)
        self.assertEqual(status, 404)
        # Defining collections is the administrators' (manage-schema), not the applications'.
        self.assertEqual(self.server.api("POST", "/v1/collections", PATIENTS, token=b)[0], 403)
        ba = self.server.principal_token("clinic-b-admin", ["admin"], tenant="clinic-b")["token"]
        status, _ = self.server.api("POST", "/v1/collections", PATIENTS, token=ba)
        self.assertEqual(status, 201)
        status, listed = self.server.api("GET", records, token=b)
        self.assertEqual(listed["records"], [])
        # A service token may not administer.
        status, body = self.server.api("POST", "/v1/principals",
                                       {"username": "x", "roles": ["admin"]}, token=b)
        self.assertEqual((status, body["error"]["code"]), (403, "permission_denied"))
        self.assertEqual(self.server.api("POST", "/v1/sys/seal", token=b)[0], 403)
        # An administrator of another tenant manages only its own tenant.
        self.server.principal_token("clinic-b-other", ["service"], token=ba)
        self.assertEqual(self.server.api("POST", "/v1/sys/seal", token=ba)[0], 403)  # operators only
        status, body = self.server.api("POST", "/v1/principals", {"username": "x", "roles": ["admin"],
                                                                  "tenant": "default"}, token=ba)
        self.assertEqual((status, body["error"]["code"]), (403, "permission_denied"))
        self.assertEqual(self.server.api("POST", "/v1/tenants", {"id": "clinic-c"}, token=ba)[0], 403)
        self.assertEqual(self.server.api("GET", "/v1/tenants", token=ba)[0], 403)
        _, listed = self.server.api("GET", "/v1/tokens", token=ba)
        self.assertEqual({t["tenant"] for t in listed["tokens"]}, {"clinic-b"})
        _, principals = self.server.api("GET", "/v1/principals", token=ba)
        self.assertEqual({p["tenant"] for p in principals["principals"]}, {"clinic-b"})
        admin_id = self.server.init_output["admin_token_id"]
        self.assertEqual(self.server.api("DELETE", "/v1/tokens/" + admin_id, token=ba)[0], 404)
        self.assertEqual(self.server.api("DELETE", "/v1/tokens/" + admin_id)[0], 412)
        _, everything = self.server.api("GET", "/v1/tokens")
        self.assertEqual({t["tenant"] for t in everything["tokens"]}, {"default", "clinic-b"})
        # Revocation takes effect on the very next request.
        self.assertEqual(self.server.api("DELETE", "/v1/tokens/" + token["token_id"])[0], 204)
        self.assertEqual(self.server.api("GET", records, token=b)[0], 401)
        self.assert_invalid(self.server.api("POST", "/v1/principals",
                                            {"username": "x", "roles": ["Root"]}),
                            "$.roles[0]", "format")

    def test_free_text_detectors_refuse_mask_or_flag_per_collection(self):
        status, body = self.server.api("POST", "/v1/collections", {
            "name": "tickets",
            "fields": [{"name": "notes", "type": "string",
                        "classification": {"grade": "internal", "category": "other"}}],
            "detectors": {"email": "mask", "phone": "flag", "national_id": "refuse"}})
        self.assertEqual(status, 201, body)
        self.assertEqual(body["detectors"],
                         {"email": "mask", "phone": "flag", "national_id": "refuse"})
        status, subject = self.server.api("POST", "/v1/subjects", {})
        note = "Customer jane.doe@example.com asked us to ring 07700 900123."
        status, record = self.server.api("POST", "/v1/collections/tickets/records",
                                         {"subject_id": subject["id"], "fields": {"notes": note}})
        self.assertEqual(status, 201, record)
        masked = "Customer j***@example.com asked us to ring 07700 900123."
        self.assertEqual(record["fields"]["notes"], masked)
        self.assertEqual(record["flags"], {"notes": ["phone"]})
        status, read = self.server.api("GET", "/v1/collections/tickets/records/" + record["id"])
        self.assertEqual(read["fields"]["notes"], masked)  # what was stored
        status, body = self.server.api(
            "POST", "/v1/collections/tickets/records",
            {"subject_id": subject["id"], "fields": {"notes": "SSN 078-05-1120, call me"}})
        self.assertEqual((status, body["error"]["details"]),
                         (400, {"path": "$.fields.notes", "rule": "contains_national_id"}))
        self.assertNotIn("078", body["error"]["message"])
        status, page = self.server.api("GET", "/v1/collections/tickets/records")
        self.assertEqual(len(page["records"]), 1)  # the refused write stored nothing
        status, updated = self.server.api(
            "PATCH", "/v1/collections/tickets/records/" + record["id"],
            {"fields": {"notes": "now at ada@example.org"}})
        self.assertEqual((status, updated["fields"]["notes"]), (200, "now at a***@example.org"))
        # The flag is on the audit entry, as a kind, not a value.
        auditor = self.server.principal_token("auditor", ["auditor"])["token"]
        status, entries = self.server.api("GET", "/v1/audit?action=record.create",
                                          token=auditor)
        flagged = [e for e in entries["entries"] if "notes:flagged:phone" in e.get("fields", [])]
        self.assertEqual(len(flagged), 1)
        self.server.stop()
        self.assert_nowhere(self.server, [b"jane.doe@example.com", b"078-05-1120",
                                          b"ada@example.org"], min_files=6)

    def test_openapi_document_is_served_and_names_every_route(self):
        status, headers, body = self.server.request("GET", "/v1/openapi.yaml")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/yaml")
        text = body.decode()
        self.assertTrue(text.startswith("openapi: 3.1.0"), text[:40])
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "api",
                               "openapi.yaml"), encoding="utf-8") as f:
            self.assertEqual(text, f.read())  # the served document is the one in the repository
        # It is YAML a client's tooling can load (a colon in a plain scalar once broke that).
        document = yaml.safe_load(text)
        self.assertEqual(document["openapi"], "3.1.0")
        self.assertIn("post", document["paths"]["/v1/tokenize"])
        self.assertIn("post", document["paths"]["/v1/detokenize"])
        for path in ("/v1/sys/unseal", "/v1/sys/seal", "/v1/sys/seal-status", "/v1/tenants",
                     "/v1/tokens", "/v1/tokens/{id}", "/v1/principals", "/v1/principals/{id}",
                     "/v1/principals/{id}/password", "/v1/principals/{id}/unlock",
                     "/v1/principals/{id}/sessions", "/v1/principals/{id}/sessions/{session}",
                     "/v1/principals/{id}/tokens", "/v1/auth/login", "/v1/auth/logout",
                     "/v1/auth/logout-everywhere", "/v1/auth/session", "/v1/auth/password",
                     "/v1/collections",
                     "/v1/collections/{collection}", "/v1/collections/{collection}/records",
                     "/v1/collections/{collection}/records/batch",
                     "/v1/collections/{collection}/records/search",
                     "/v1/collections/{collection}/records/{id}", "/v1/subjects",
                     "/v1/subjects/{id}", "/v1/subjects/{id}/activity", "/v1/health", "/v1/ready"):
            self.assertIn("\n  %s:" % path, text, path)

    def inline_retries(self):
        return samples(self.server.metrics_text())[("strongroom_http_inline_retries_total",
                                                    frozenset())]

    def store_counter(self, name, store):
        return samples(self.server.metrics_text())[(name, frozenset({"store": store}.items()))]

    def test_record_reads_from_memory_are_never_stale(self):
        # A get whose record is in the read cache is answered on the I/O thread; one that needs
        # the disk runs again on the worker pool (counted). Either way, never an old value.
        # Only without the WAF: with it, every request runs on the worker pool.
        self.server.stop()
        self.server.args += NO_WAF
        self.server.start()
        _, rec = self.create({"email": "a@example.com", "visits": 1})
        path = "/v1/collections/patients/records/" + rec["id"]
        steps = []
        def get():
            before = self.inline_retries()
            status, body = self.server.api("GET", path)
            steps.append(self.inline_retries() - before)
            return status, body
        self.assertEqual(get()[1]["fields"]["visits"], 1)  # from disk, then cached
        self.assertEqual(get()[1]["fields"]["visits"], 1)  # from memory
        status, _ = self.server.api("PATCH", path, {"fields": {"visits": 2}})
        self.assertEqual(status, 200)
        self.assertEqual(get()[1]["fields"]["visits"], 2)  # the write dropped the cached copy
        self.assertEqual(get()[1]["fields"]["visits"], 2)
        self.assertEqual(self.server.api("DELETE", path)[0], 204)
        self.assertEqual(get()[0], 404)
        self.assertEqual(get()[0], 404)  # absence is not cached: the disk says so each time
        self.assertEqual(steps, [1, 0, 1, 0, 1, 1])
        self.assertNotIn("a@example.com", self.server.metrics_text())
        # The two inline gets, and the reads PATCH and DELETE make before they write.
        self.assertEqual(self.store_counter("strongroom_store_cache_hits_total", "profiles"), 4)
        self.assertGreaterEqual(self.store_counter("strongroom_store_batches_total", "profiles"),
                                self.store_counter("strongroom_store_commits_total", "profiles"))
        # Without a cache every read takes the worker pool, with the same answers.
        self.server.stop()
        self.server.args += ["--read-cache-bytes", "0"]
        self.server.start()
        _, rec = self.create({"email": "b@example.com", "visits": 7})
        path = "/v1/collections/patients/records/" + rec["id"]
        steps.clear()
        self.assertEqual(get()[1]["fields"]["visits"], 7)
        self.assertEqual(get()[1]["fields"]["visits"], 7)
        self.assertEqual(steps, [1, 1])

    def test_moved_ciphertext_is_data_loss_and_a_security_event(self):
        _, a = self.create({"email": "a@example.com", "diagnosis": "flu"})
        _, b = self.create({"email": "b@example.com", "diagnosis": "cold"})
        db = sqlite3.connect(os.path.join(self.server.data_dir, "profiles.db"))
        try:
            def envelope(rid):
                row = db.execute("SELECT value FROM kv WHERE space = ? AND key = ?",
                                 (b"records", ("default/patients/" + rid).encode())).fetchone()
                return json.loads(bytes(row[0]))
            ea, eb = envelope(a["id"]), envelope(b["id"])
            eb["fields"]["diagnosis"] = ea["fields"]["diagnosis"]  # a's value pasted into b
            with db:
                db.execute("UPDATE kv SET value = ? WHERE space = ? AND key = ?",
                           (json.dumps(eb).encode(), b"records", ("default/patients/" + b["id"]).encode()))
        finally:
            db.close()
        status, body = self.server.api("GET", "/v1/collections/patients/records/" + b["id"])
        self.assertEqual(status, 500, body)
        self.assertEqual(body["error"]["code"], "data_loss")
        self.assertNotIn("flu", json.dumps(body))
        event = self.server.wait_for_event("security.ciphertext_rejected")[0]
        self.assertEqual((event["object_id"], event["field"]), (b["id"], "diagnosis"))
        # The untouched record still reads.
        self.assertEqual(self.server.api("GET", "/v1/collections/patients/records/" + a["id"])[0], 200)

    def test_no_plaintext_below_the_barrier(self):
        markers = ["MarkerEmail7f3a@example.org", "MarkerName Qx7Zeta", "+44 7700 900123",
                   "MarkerDiagnosis9b2c", "MarkerNote4d1e", "MarkerEvent8a6f"]
        guardian = self.new_subject()
        minor = self.server.api("POST", "/v1/subjects", {"minor": True, "guardians": [guardian]})[1]["id"]
        status, rec = self.create({"email": markers[0], "full_name": markers[1], "phone": markers[2],
                                   "diagnosis": markers[3], "notes": {"text": markers[4]}}, subject=minor)
        self.assertEqual(status, 201, rec)
        self.server.api("PATCH", "/v1/collections/patients/records/" + rec["id"],
                        {"fields": {"diagnosis": markers[3] + "-v2"}})
        status, _ = self.server.api("POST", "/v1/subjects/%s/activity" % minor,
                                    {"type": "note", "data": {"text": markers[5]}})
        self.assertEqual(status, 201)
        self.server.stop()  # flushes the WAL into the databases too; both are scanned
        needles = []
        for m in markers:
            raw = m.encode()
            needles += [raw, raw.lower(), base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"="),
                        raw.hex().encode(), json.dumps(m).encode()]
        needles.append(b"+447700900123")  # the normalised phone number
        self.assert_nowhere(self.server, needles, min_files=6)


if __name__ == "__main__":
    unittest.main()
