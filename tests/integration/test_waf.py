"""The web application firewall (docs/guard.md) in front of the real server: ModSecurity v3 with
Debian's OWASP CRS. Sample attacks (SQL injection, XSS, path traversal, command injection) in
the query, a header and JSON bodies are refused with 403 before any handler; the rule ids reach
the audit trail and the log, never the client; what the attack carried (personal data) reaches
no file. Ordinary records pass, free-text fields the operator excludes may hold apostrophes and
angle brackets, WAF hits ban a source, detection-only mode refuses nothing, SIGHUP switches the
mode, and bad settings stop the start."""
import json
import os
import signal
import unittest

from harness import ServerTestCase, counter

TICKETS = {
    "name": "tickets",
    "fields": [
        {"name": "email", "type": "email", "indexed": True,
         "classification": {"grade": "confidential", "category": "contact"}},
        {"name": "title", "type": "string",
         "classification": {"grade": "internal", "category": "behavioural"}},
        {"name": "notes", "type": "string",
         "classification": {"grade": "confidential", "category": "behavioural"}},
    ],
}

# (what, method, path, headers, body): one sample of each kind, in each place.
ATTACKS = [
    ("sqli in query", "GET", "/v1/collections/tickets/records?cursor=1%27%20OR%20%271%27%3D%271",
     {}, None, "942"),
    ("xss in header", "GET", "/v1/collections/tickets/records",
     {"Referer": "<script>alert(document.cookie)</script>"}, None, "941"),
    ("path traversal in query", "GET",
     "/v1/collections/tickets/records?cursor=..%2F..%2F..%2F..%2Fetc%2Fpasswd", {}, None, "930"),
    ("command injection in body", "POST", "/v1/collections/tickets/records", {},
     {"subject_id": "s", "fields": {"title": "a; cat /etc/passwd"}}, "932"),
    ("sqli in body", "POST", "/v1/collections/tickets/records", {},
     {"subject_id": "s", "fields": {"title": "x' UNION SELECT password FROM principals--"}}, "942"),
    ("xss in body", "POST", "/v1/collections/tickets/records", {},
     {"subject_id": "s", "fields": {"title": "<img src=x onerror=alert(1)>"}}, "941"),
]


class WafTest(ServerTestCase):
    def start(self, *args, **kwargs):
        server = self.make_server("--waf-free-text-fields", "notes", *args, **kwargs)
        status, body = server.api("POST", "/v1/collections", TICKETS)
        self.assertEqual(status, 201, body)
        status, subject = server.api("POST", "/v1/subjects", {})
        self.assertEqual(status, 201, subject)
        return server, subject["id"]

    def send(self, server, method, path, headers, body):
        h = {"Authorization": "Bearer " + server.default_token(path), **headers}
        raw = None
        if body is not None:
            h["Content-Type"] = "application/json"
            raw = json.dumps(body)
        return server.request(method, path, body=raw, headers=h)

    def auditor(self, server):
        return server.principal_token("the-auditor", ["auditor"], kind="user",
                                      scopes=["audit:read"])["token"]

    def test_attacks_are_refused_audited_and_logged_by_rule_id_only(self):
        server, _ = self.start()
        for what, method, path, headers, body, family in ATTACKS:
            status, _, raw = self.send(server, method, path, headers, body)
            error = self.assert_error(status, raw, 403, "permission_denied")
            self.assertEqual(error["message"], "refused by the web application firewall", what)
            self.assertNotIn("details", error, what)  # the rule ids are not the client's
            self.assertEqual(set(error), {"code", "message", "request_id"}, what)
        # Each refusal is on the trail with the rules that caught it.
        status, entries = server.api("GET", "/v1/audit?action=waf.block",
                                     token=self.auditor(server))
        self.assertEqual(status, 200, entries)
        got = sorted(entries["entries"], key=lambda e: e["seq"])
        self.assertEqual(len(got), len(ATTACKS), got)
        for entry, (what, _, path, _, _, family) in zip(got, ATTACKS):
            self.assertEqual(entry["outcome"]["status"], 403, what)
            self.assertEqual(entry["outcome"]["code"], "permission_denied", what)
            rules = entry["outcome"]["details"]["rule"].split(",")
            self.assertTrue(any(r.startswith(family) for r in rules), (what, rules))
            self.assertEqual(entry["resource"]["target"], "/v1/collections/{collection}/records",
                             what)
            self.assertIsNone(entry["actor"], "refused before authentication")
        logged = server.events("security.waf_block")
        self.assertEqual(len(logged), len(ATTACKS))
        self.assertTrue(all(e["rules"] and e["request_id"] for e in logged))
        self.assertEqual(counter(server, "strongroom_waf_requests_total", outcome="refused"),
                         len(ATTACKS))
        self.assertGreater(counter(server, "strongroom_waf_requests_total", outcome="passed"), 0)
        self.assertGreater(counter(server, "strongroom_waf_inspection_seconds_count"), 0)
        # Nothing was stored.
        status, listed = server.api("GET", "/v1/collections/tickets/records")
        self.assertEqual((status, listed["records"]), (200, []))

    def test_ordinary_records_and_excluded_free_text_pass(self):
        server, subject = self.start()
        fields = {"email": "ann.oneil@example.com", "title": "Ann O'Neil can't sign in",
                  "notes": "<b>it's</b> 1 < 2 && 'quoted'; SELECT * FROM t -- <script>x</script>"}
        status, created = server.api("POST", "/v1/collections/tickets/records",
                                     {"subject_id": subject, "fields": fields})
        self.assertEqual(status, 201, created)
        status, got = server.api("GET", "/v1/collections/tickets/records/" + created["id"])
        self.assertEqual(status, 200, got)
        self.assertEqual(got["fields"], fields)
        status, updated = server.api("PATCH", "/v1/collections/tickets/records/" + created["id"],
                                     {"fields": {"notes": "<i>and</i> 'again'"}})
        self.assertEqual(status, 200, updated)
        status, batch = server.api("POST", "/v1/collections/tickets/records/batch", {
            "records": [{"subject_id": subject, "fields": {"notes": "<p>O'Brien</p>"}}]})
        self.assertEqual(status, 200, batch)
        # The excluded field's text in a field that is not excluded is refused.
        status, refused = server.api("POST", "/v1/collections/tickets/records",
                                     {"subject_id": subject, "fields": {"title": fields["notes"]}})
        self.assertEqual(status, 403, refused)
        status, _ = server.api("DELETE", "/v1/collections/tickets/records/" + created["id"])
        self.assertEqual(status, 204)

    def test_what_an_attack_carried_reaches_no_file_log_or_audit_entry(self):
        server, _ = self.start()
        marker = "zelda.marker.4417@example.com"
        status, _, _ = self.send(server, "POST", "/v1/collections/tickets/records", {}, {
            "subject_id": "s", "fields": {"email": marker, "title": "' OR 1=1; DROP TABLE x--"}})
        self.assertEqual(status, 403)
        status, _, _ = self.send(server, "GET", "/v1/collections/tickets/records?q=" + marker +
                                 "%27%20UNION%20SELECT%201--", {}, None)
        self.assertEqual(status, 403)
        # In the path: a record id is the client's text too.
        status, _, _ = self.send(server, "GET", "/v1/collections/tickets/records/" + marker +
                                 "%3Cscript%3Ealert(1)%3C%2Fscript%3E", {}, None)
        self.assertEqual(status, 403)
        status, entries = server.api("GET", "/v1/audit?action=waf.block",
                                     token=self.auditor(server))
        self.assertEqual((status, len(entries["entries"])), (200, 3), entries)
        self.assertNotIn(marker, json.dumps(entries))
        server.stop()
        self.assert_nowhere(server, [marker.encode(), b"DROP TABLE", b"UNION SELECT"],
                            min_files=5)

    def test_waf_hits_ban_the_source(self):
        server, _ = self.start("--guard-ban-after-waf-hits", "3", guard=True)
        attacker = server.https(source="127.0.0.71")
        try:
            for _ in range(3):
                attacker.request("GET", "/v1/collections/tickets/records?q=%3Cscript%3Ealert(1)"
                                 "%3C%2Fscript%3E",
                                 headers={"Authorization": "Bearer " + server.admin_token})
                response = attacker.getresponse()
                response.read()
                self.assertEqual(response.status, 403)
        finally:
            attacker.close()
        ban = server.wait_for_event("security.ban")[0]
        self.assertEqual((ban["cause"], ban["source"]), ("waf", "127.0.0.71"))
        conn = server.https(source="127.0.0.71")
        try:
            with self.assertRaises(OSError):
                conn.request("GET", "/v1/health")
                conn.getresponse().read()
        finally:
            conn.close()
        # Another source is untouched.
        conn = server.https(source="127.0.0.72")
        try:
            conn.request("GET", "/v1/health")
            self.assertEqual(conn.getresponse().status, 200)
        finally:
            conn.close()

    def test_detection_only_logs_and_counts_but_refuses_nothing(self):
        server, _ = self.start("--waf-mode", "detection_only")
        status, _, raw = self.send(server, "GET", "/v1/collections/tickets/records?cursor=1%27%20OR"
                                   "%20%271%27%3D%271", {}, None)
        # The handler answered (the cursor is not one of ours), not the firewall.
        self.assert_error(status, raw, 400, "invalid_argument")
        detected = server.wait_for_event("security.waf_detected")[0]
        self.assertTrue(detected["rules"].startswith("942") or ",942" in detected["rules"],
                        detected)
        self.assertEqual(counter(server, "strongroom_waf_requests_total", outcome="detected"), 1)
        self.assertEqual(counter(server, "strongroom_waf_requests_total", outcome="refused"), 0)
        self.assertEqual(server.events("security.waf_block"), [])
        self.assertNotIn("OR '1'='1", server.log_text())  # the rules, not what they matched
        self.assertNotIn("%27%20OR", server.log_text())

    def test_sighup_switches_the_mode_and_a_bad_file_changes_nothing(self):
        config = os.path.join(self.workdir, "strongroom.toml")
        with open(config, "w") as f:
            f.write('[waf]\nmode = "blocking"\nfree_text_fields = "notes"\n')
        server = self.make_server("--config", config)
        attack = "/v1/health?x=%3Cscript%3Ealert(1)%3C%2Fscript%3E"
        self.assertEqual(server.request("GET", attack)[0], 403)
        with open(config, "w") as f:
            f.write('[waf]\nmode = "detection_only"\n')
        server.signal(signal.SIGHUP)
        self.assertEqual(server.wait_for_event("waf.reconfigured")[0]["mode"], "detection_only")
        self.assertEqual(server.request("GET", attack)[0], 200)
        # A missing rules file is refused as a whole: the mode in force stays.
        with open(config, "w") as f:
            f.write('[waf]\nmode = "blocking"\nextra_rules_file = "/nonexistent/rules.conf"\n')
        server.signal(signal.SIGHUP)
        failed = server.wait_for_event("config.reload_failed")[0]
        self.assertIn("waf.extra_rules_file", failed["reason"])
        self.assertEqual(server.request("GET", attack)[0], 200)

    def test_bad_settings_stop_the_start(self):
        for args, needle in ((["--waf-mode", "loud"], "waf.mode"),
                             (["--waf-paranoia-level", "7"], "--waf-paranoia-level"),
                             (["--waf-free-text-fields", "notes|.*"], "waf.free_text_fields"),
                             (["--waf-rule-files", "REQUEST-999-NOPE.conf"],
                              "REQUEST-999-NOPE.conf"),
                             # Checked with the firewall off too: turning it on later must not
                             # be when the mistake shows.
                             (["--waf-enabled", "false", "--waf-extra-rules-file",
                               "/nonexistent/rules.conf"], "waf.extra_rules_file")):
            server = self.make_server(*args, start=False)
            # A setting refused by the configuration is reported before logging starts (plain
            # text); one refused by the firewall, as the server.start_failed event.
            with self.assertRaises((AssertionError, ValueError)):
                server.start()
            self.assertEqual(server.proc.wait(timeout=20), 2, args)
            self.assertIn(needle, server.log_text(), args)

    def test_off_means_no_inspection(self):
        server = self.make_server("--waf-enabled", "false")
        self.assertEqual(server.request("GET", "/v1/health?x=%3Cscript%3E")[0], 200)
        self.assertNotIn("strongroom_waf_", server.metrics_text())  # never set up
        self.assertEqual(server.events("security.waf_block"), [])


if __name__ == "__main__":
    unittest.main()
