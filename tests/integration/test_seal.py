"""Sealed and unsealed: a server started without a passphrase serves no data until unsealed (API
or `strongroom unseal`), wrong passphrases are refused and rate limited, sealing drops the keys."""
import json
import os
import time
import unittest

from harness import PASSPHRASE, ServerTestCase, run_cli


class SealTest(ServerTestCase):
    def unseal(self, server, passphrase):
        status, headers, body = server.request(
            "POST", "/v1/sys/unseal", body=json.dumps({"passphrase": passphrase}),
            headers={"Content-Type": "application/json"})
        return status, headers, json.loads(body)

    def ready(self, server):
        status, _, body = server.request("GET", "/v1/ready")
        return status, json.loads(body)

    def test_sealed_start_serves_no_data_until_unsealed(self):
        server = self.make_server(sealed=True)
        server.wait_for_event("vault.sealed")  # logged just after server.listening
        status, ready = self.ready(server)
        self.assertEqual(status, 503)
        self.assertEqual(ready["dependencies"]["vault"]["state"], "sealed")
        status, _, body = server.request("GET", "/v1/sys/seal-status")
        self.assertEqual(json.loads(body), {"sealed": True, "provider": "sealed_file"})
        for method, path in (("GET", "/v1/collections"), ("POST", "/v1/subjects"),
                             ("GET", "/v1/collections/x/records/rec_AAAAAAAAAAAAAAAAAAAAAA"),
                             ("POST", "/v1/tenants")):
            status, body = server.api(method, path, {} if method == "POST" else None)
            self.assertEqual((status, body["error"]["code"]), (503, "sealed"), path)
        # Writes and searches that carry values (which the audit entry would hash, with a key the
        # sealed vault does not have) are refused as sealed too, not as an audit failure.
        for path, body in (("/v1/collections/x/records",
                            {"subject_id": "sub_x", "fields": {"email": "a@example.org"}}),
                           ("/v1/collections/x/records/search",
                            {"field": "email", "value": "a@example.org"})):
            status, answer = server.api("POST", path, body)
            self.assertEqual((status, answer["error"]["code"]), (503, "sealed"), path)
        status, _, body = self.unseal(server, PASSPHRASE)
        self.assertEqual((status, body), (200, {"sealed": False}))
        self.assertEqual(self.ready(server)[0], 200)
        self.assertEqual(server.api("GET", "/v1/collections")[0], 200)
        # The passphrase never reaches the log.
        self.assertNotIn(PASSPHRASE, server.log_text())

    def test_wrong_passphrase_is_refused_and_rate_limited(self):
        server = self.make_server("--keys-unseal-attempts-per-minute", "3", sealed=True)
        for _ in range(3):
            status, _, body = self.unseal(server, "not the passphrase")
            self.assertEqual(status, 403, body)
            self.assertEqual(body["error"]["code"], "permission_denied")
            self.assertEqual(body["error"]["message"], "unseal refused")
        status, headers, body = self.unseal(server, PASSPHRASE)
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["code"], "resource_exhausted")
        self.assertGreaterEqual(int(headers["Retry-After"]), 1)
        self.assertLessEqual(int(headers["Retry-After"]), 20)
        self.assertEqual(self.ready(server)[0], 503)
        # Log lines reach us asynchronously: wait (bounded) for all four.
        deadline = time.monotonic() + 10
        while len(server.events("security.unseal_refused")) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(len(server.events("security.unseal_refused")), 4)
        # Malformed requests cost nothing and say exactly what is wrong.
        status, body = server.api("POST", "/v1/sys/unseal", {"passphrase": ""})
        self.assertEqual((status, body["error"]["details"]["path"]), (400, "$.passphrase"))
        status, body = server.api("POST", "/v1/sys/unseal", {"passphrase": "x", "extra": 1})
        self.assertEqual((status, body["error"]["details"]["rule"]), (400, "unknown_field"))

    def test_cli_unseal_and_api_seal(self):
        server = self.make_server(sealed=True)
        common = ["--data-dir", server.data_dir, "--listen", "127.0.0.1:%d" % server.port]
        done = run_cli("unseal", *common, env={"STRONGROOM_UNSEAL_PASSPHRASE": "wrong passphrase"})
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("wrong passphrase", done.stderr)
        # A passphrase file readable by others is refused before anything is sent.
        secret = os.path.join(self.workdir, "passphrase")
        with open(secret, "w") as f:
            f.write(PASSPHRASE + "\n")
        os.chmod(secret, 0o644)
        done = run_cli("unseal", *common, "--keys-unseal-passphrase-file", secret,
                       env={"STRONGROOM_UNSEAL_PASSPHRASE": None})
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("chmod 600", done.stderr)
        os.chmod(secret, 0o600)
        done = run_cli("unseal", *common, "--keys-unseal-passphrase-file", secret,
                       env={"STRONGROOM_UNSEAL_PASSPHRASE": None})
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Vault unsealed.", done.stdout)
        status, subject = server.api("POST", "/v1/subjects", {})
        self.assertEqual(status, 201)
        # Sealing needs the admin role, drops the keys and stops data calls at once.
        self.assertEqual(server.api("POST", "/v1/sys/seal", token="srt_" + "x" * 43)[0], 401)
        status, body = server.api("POST", "/v1/sys/seal")
        self.assertEqual((status, body), (200, {"sealed": True}))
        status, body = server.api("GET", "/v1/subjects/" + subject["id"])
        self.assertEqual((status, body["error"]["code"]), (503, "sealed"))
        self.assertEqual(self.unseal(server, PASSPHRASE)[0], 200)
        self.assertEqual(server.api("GET", "/v1/subjects/" + subject["id"])[0], 200)

    def test_wrong_passphrase_at_start_is_a_usage_error(self):
        server = self.make_server(start=False, env={"STRONGROOM_UNSEAL_PASSPHRASE": "wrong one!!"})
        done = run_cli(*server.args, env=server.env)
        self.assertEqual(done.returncode, 2, done.stderr)
        line = json.loads(done.stderr.strip().splitlines()[-1])
        self.assertEqual(line["event"], "server.start_failed")
        self.assertIn("wrong passphrase", line["reason"])
        self.assertNotIn("wrong one!!", done.stderr)

    def test_init_needs_a_passphrase_and_refuses_a_short_one(self):
        data_dir = os.path.join(self.workdir, "v")
        done = run_cli("init", "--data-dir", data_dir, env={"STRONGROOM_UNSEAL_PASSPHRASE": None})
        self.assertEqual(done.returncode, 2)
        self.assertIn("STRONGROOM_UNSEAL_PASSPHRASE", done.stderr)
        done = run_cli("init", "--data-dir", data_dir, env={"STRONGROOM_UNSEAL_PASSPHRASE": "short"})
        self.assertEqual(done.returncode, 2)
        self.assertIn("at least 12", done.stderr)
        self.assertFalse(os.path.exists(os.path.join(data_dir, "vault.json")))

    def test_passphrase_is_scrubbed_from_the_server_environment(self):
        server = self.make_server()
        with open("/proc/%d/environ" % server.proc.pid, "rb") as f:
            environ = f.read()
        self.assertNotIn(PASSPHRASE.encode(), environ)


if __name__ == "__main__":
    unittest.main()
