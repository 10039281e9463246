"""Identity end to end over real HTTPS: principals, sign-in and session cookies, CSRF, Basic and
bearer authentication, token scopes and expiry, brute-force locks, enumeration-safe answers and
timing, the credential pool's bounded queue, and the proof that no username, password or token
reaches a file or the log."""
import base64
import http.client
import json
import os
import statistics
import threading
import time
import unittest

from harness import ServerTestCase, samples

TEMPORARY = "a temporary passphrase 2026"
ALICE_PASSWORD = "violet tractor umbrella quietly 1987"
COOKIE = "__Host-strongroom_session"


def thread_stats(pid):
    """(niceness, minor page faults) of each thread of process `pid`, from /proc (stat(5))."""
    stats = []
    task_dir = "/proc/%d/task" % pid
    for tid in os.listdir(task_dir):
        with open(os.path.join(task_dir, tid, "stat")) as f:
            fields = f.read().rsplit(")", 1)[1].split()  # fields[0] is field 3 of stat(5)
        stats.append((int(fields[16]), int(fields[7])))  # field 19: nice; field 10: minflt
    return stats


def basic(user, secret):
    return "Basic " + base64.b64encode(("%s:%s" % (user, secret)).encode()).decode()


class IdentityHelpers:
    """Requests as a browser or a client would make them; needs self.server."""

    def call(self, method, path, body=None, headers=None):
        """A request with exactly these headers (no default token): (status, headers, JSON)."""
        h = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body)
            h["Content-Type"] = "application/json"
        status, response_headers, data = self.server.request(method, path, body=payload, headers=h)
        lowered = {name.lower(): value for name, value in response_headers.items()}
        return status, lowered, (json.loads(data) if data else None)

    def create_user(self, username, roles=("admin",), password=TEMPORARY, tenant=None):
        body = {"username": username, "roles": list(roles)}
        if password is not None:
            body["password"] = password
        if tenant:
            body["tenant"] = tenant
        status, principal = self.server.api("POST", "/v1/principals", body)
        self.assertEqual(status, 201, principal)
        return principal

    def login(self, username, password):
        return self.call("POST", "/v1/auth/login", {"username": username, "password": password})

    def session_headers(self, set_cookie, csrf=None):
        value = set_cookie.split(";")[0]
        headers = {"Cookie": "theme=dark; " + value}
        if csrf:
            headers["X-CSRF-Token"] = csrf
        return headers

    def ready_alice(self):
        """Alice, an administrator who has chosen her own password; returns (principal, cookie
        headers without and with the CSRF token)."""
        return self.ready_user("alice@example.com", "Alice@Example.com")

    def ready_user(self, username, login_as=None):
        """An administrator who has changed the first password to ALICE_PASSWORD."""
        alice = self.create_user(username)
        status, headers, body = self.login(login_as or username, TEMPORARY)
        self.assertEqual(status, 200, body)
        first = self.session_headers(headers["set-cookie"], body["csrf_token"])
        status, headers, body = self.call("POST", "/v1/auth/password",
                                          {"current_password": TEMPORARY,
                                           "new_password": ALICE_PASSWORD}, first)
        self.assertEqual(status, 200, body)
        return (alice, self.session_headers(headers["set-cookie"]),
                self.session_headers(headers["set-cookie"], body["csrf_token"]))


class IdentityTest(IdentityHelpers, ServerTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.make_server("--auth-lockout-max-failures", "3")

    def test_sign_in_sets_a_strict_cookie_and_a_first_password_must_be_changed(self):
        alice = self.create_user("alice@example.com")
        self.assertEqual((alice["kind"], alice["must_change_password"], alice["has_password"]),
                         ("user", True, True))
        status, headers, body = self.login("alice@example.com", TEMPORARY)
        self.assertEqual(status, 200, body)
        cookie = headers["set-cookie"]
        self.assertTrue(cookie.startswith(COOKIE + "="), cookie)
        attributes = [a.strip() for a in cookie.split(";")[1:]]
        self.assertEqual(sorted(attributes), ["HttpOnly", "Path=/", "SameSite=Strict", "Secure"])
        self.assertEqual(headers["cache-control"], "no-store")
        self.assertEqual(body["caller"]["principal_id"], alice["id"])
        self.assertTrue(body["caller"]["password_change_required"])
        self.assertGreaterEqual(len(body["csrf_token"]), 40)
        plain = self.session_headers(cookie)
        with_csrf = self.session_headers(cookie, body["csrf_token"])
        # Nothing but the password change until it is done.
        status, _, err = self.call("GET", "/v1/collections", headers=plain)
        self.assertEqual((status, err["error"]["details"]["rule"]), (403, "password_change_required"))
        status, _, me = self.call("GET", "/v1/auth/session", headers=plain)
        self.assertEqual(status, 200)
        self.assertEqual(me["csrf_token"], body["csrf_token"])
        # State-changing calls need the CSRF token.
        change = {"current_password": TEMPORARY, "new_password": ALICE_PASSWORD}
        status, _, err = self.call("POST", "/v1/auth/password", change, plain)
        self.assertEqual((status, err["error"]["code"]), (403, "permission_denied"))
        status, _, err = self.call("POST", "/v1/auth/password",
                                   {"current_password": TEMPORARY, "new_password": "password1234"},
                                   with_csrf)
        # On the shipped list of common passwords (data/common-passwords.txt).
        self.assertEqual((status, err["error"]["details"]["path"],
                          err["error"]["details"]["rule"]), (400, "$.new_password", "blocklisted"))
        status, _, err = self.call("POST", "/v1/auth/password",
                                   {"current_password": TEMPORARY, "new_password": "abcabcabcabc1"},
                                   with_csrf)
        self.assertEqual((status, err["error"]["details"]["path"],
                          err["error"]["details"]["rule"]), (400, "$.new_password", "too_weak"))
        status, headers, changed = self.call("POST", "/v1/auth/password", change, with_csrf)
        self.assertEqual(status, 200, changed)
        # The session was rotated: the old cookie is dead, the new one works.
        self.assertEqual(self.call("GET", "/v1/auth/session", headers=plain)[0], 401)
        fresh = self.session_headers(headers["set-cookie"], changed["csrf_token"])
        self.assertEqual(self.call("GET", "/v1/collections", headers=fresh)[0], 200)
        status, headers, _ = self.call("POST", "/v1/auth/logout", headers=fresh)
        self.assertEqual(status, 204)
        self.assertIn("Max-Age=0", headers["set-cookie"])
        self.assertEqual(self.call("GET", "/v1/collections", headers=fresh)[0], 401)

    def test_failed_sign_ins_look_alike_and_a_lock_refuses_the_right_password(self):
        alice, _, _ = self.ready_alice()
        self.create_user("svc-no-password", roles=("service",), password=None)
        answers = []
        for username, password in [("alice@example.com", "wrong password here"),
                                   ("nobody@example.com", "wrong password here"),
                                   ("svc-no-password", "wrong password here")]:
            status, headers, body = self.login(username, password)
            answers.append((status, body["error"]["code"], body["error"]["message"],
                            "set-cookie" in headers))
        self.assertEqual(len(set(answers)), 1, answers)
        self.assertEqual(answers[0][:2], (401, "unauthenticated"))
        # Two more failures for Alice (3 in all) lock her username; the right password then gets
        # the very same answer.
        for _ in range(2):
            self.login("alice@example.com", "wrong password here")
        status, _, body = self.login("alice@example.com", ALICE_PASSWORD)
        self.assertEqual((status, body["error"]["message"]), (401, answers[0][2]))
        self.server.wait_for_event("security.account_locked")
        _, principal = self.server.api("GET", "/v1/principals/" + alice["id"])
        self.assertTrue(principal["locked"])
        status, unlocked = self.server.api("POST", "/v1/principals/%s/unlock" % alice["id"])
        self.assertEqual((status, unlocked), (200, {"was_locked": True}))
        self.assertEqual(self.login("alice@example.com", ALICE_PASSWORD)[0], 200)
        # Malformed sign-ins are refused by rule.
        for body, path in [({"username": "", "password": "x"}, "$.username"),
                           ({"username": "a", "password": ""}, "$.password"),
                           ({"username": "a"}, "$.password"),
                           ({"username": 7, "password": "x"}, "$.username"),
                           ({"username": "a" * 129, "password": "x"}, "$.username"),
                           ({"username": "a", "password": "x", "extra": 1}, "$.extra")]:
            status, _, err = self.call("POST", "/v1/auth/login", body)
            self.assertEqual((status, err["error"]["details"]["path"]), (400, path), body)
        status, _, err = self.call("POST", "/v1/auth/login", None,
                                   {"Content-Type": "application/json"})
        self.assertEqual(status, 400)
        status, _, data = self.server.request("POST", "/v1/auth/login",
                                              body=b'{"username":"a","password":"\xff"}',
                                              headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400)

    def test_tokens_basic_auth_scopes_expiry_and_revocation(self):
        self.ready_alice()
        reader = self.server.principal_token("billing-reader", ["service"], scopes=["data:read"])
        self.assertRegex(reader["token"], r"^srt_[A-Za-z0-9_-]{43}$")
        self.assertEqual(reader["scopes"], ["data:read"])
        bearer = {"Authorization": "Bearer " + reader["token"]}
        self.assertEqual(self.call("GET", "/v1/collections", headers=bearer)[0], 200)
        status, _, err = self.call("POST", "/v1/collections", {"name": "x", "fields": []}, bearer)
        self.assertEqual(status, 403)
        self.assertIn("data:write", err["error"]["message"])
        # Basic with username + token, and with username + password.
        self.assertEqual(self.call("GET", "/v1/collections",
                                   headers={"Authorization": basic("billing-reader",
                                                                   reader["token"])})[0], 200)
        self.assertEqual(self.call("GET", "/v1/collections",
                                   headers={"Authorization": basic("alice@example.com",
                                                                   ALICE_PASSWORD)})[0], 200)
        self.assertEqual(self.call("GET", "/v1/collections",
                                   headers={"Authorization": basic("alice@example.com",
                                                                   reader["token"])})[0], 401)
        # Last use is recorded.
        _, listed = self.server.api("GET", "/v1/principals/%s/tokens" % reader["principal_id"])
        self.assertIsNotNone(listed["tokens"][0]["last_used_at"])
        # Garbage is refused cleanly, with the challenge, and counted.
        for value in ["Basic", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(),
                      "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(), "Bearer",
                      "Bearer srt_" + "x" * 300, "Bearer not-a-token", "Negotiate abc"]:
            status, headers, err = self.call("GET", "/v1/collections",
                                             headers={"Authorization": value})
            self.assertEqual((status, err["error"]["code"]), (401, "unauthenticated"), value)
            self.assertIn("Bearer", headers["www-authenticate"])
        counted = samples(self.server.metrics_text())
        malformed = frozenset({"method": "basic_password", "result": "malformed"}.items())
        self.assertGreaterEqual(counted[("strongroom_auth_attempts_total", malformed)], 3)
        # Expiry.
        status, short = self.server.api("POST", "/v1/principals/%s/tokens" % reader["principal_id"],
                                        {"name": "short", "expires_in_seconds": 1})
        self.assertEqual(status, 201, short)
        self.assertIsNotNone(short["expires_at"])
        short_bearer = {"Authorization": "Bearer " + short["token"]}
        deadline = time.monotonic() + 5
        while self.call("GET", "/v1/collections", headers=short_bearer)[0] == 200:
            self.assertLess(time.monotonic(), deadline, "the token did not expire")
            time.sleep(0.2)
        self.assertEqual(self.call("GET", "/v1/collections", headers=short_bearer)[0], 401)
        # Disabling the principal stops its tokens on the next request; enabling restores them.
        pid = reader["principal_id"]
        self.assertEqual(self.server.api("PATCH", "/v1/principals/" + pid, {"disabled": True})[0], 200)
        self.assertEqual(self.call("GET", "/v1/collections", headers=bearer)[0], 401)
        self.assertEqual(self.server.api("PATCH", "/v1/principals/" + pid, {"disabled": False})[0], 200)
        self.assertEqual(self.call("GET", "/v1/collections", headers=bearer)[0], 200)
        self.assertEqual(self.server.api("DELETE", "/v1/tokens/" + reader["token_id"])[0], 204)
        self.assertEqual(self.call("GET", "/v1/collections", headers=bearer)[0], 401)
        # Bad token requests.
        for body, path, rule in [({"name": "x", "scopes": ["root"]}, "$.scopes[0]", "enum"),
                                 ({"name": "x", "scopes": []}, "$.scopes", "min_items"),
                                 ({"name": "x", "expires_in_seconds": 0}, "$.expires_in_seconds",
                                  "range"),
                                 ({"name": "x", "expires_in_seconds": "1"}, "$.expires_in_seconds",
                                  "type"),
                                 ({"scopes": ["admin"]}, "$.name", "required")]:
            status, err = self.server.api("POST", "/v1/principals/%s/tokens" % pid, body)
            self.assertEqual((status, err["error"]["details"]["path"],
                              err["error"]["details"]["rule"]), (400, path, rule), body)

    def test_sessions_are_listed_revoked_and_end_with_privilege_changes(self):
        alice, plain, with_csrf = self.ready_alice()
        _, headers, second = self.login("alice@example.com", ALICE_PASSWORD)
        other = self.session_headers(headers["set-cookie"], second["csrf_token"])
        _, listed = self.server.api("GET", "/v1/principals/%s/sessions" % alice["id"])
        self.assertEqual(len(listed["sessions"]), 2)
        self.assertTrue(all(s["session_id"].startswith("ses_") for s in listed["sessions"]))
        target = second["session"]["session_id"]
        self.assertEqual(self.server.api(
            "DELETE", "/v1/principals/%s/sessions/%s" % (alice["id"], target))[0], 204)
        self.assertEqual(self.call("GET", "/v1/auth/session", headers=other)[0], 401)
        self.assertEqual(self.call("GET", "/v1/auth/session", headers=plain)[0], 200)
        # A role change ends her sessions: she signs in again to get the new privileges.
        status, changed = self.server.api("PATCH", "/v1/principals/" + alice["id"],
                                          {"roles": ["auditor"]})
        self.assertEqual((status, changed["roles"]), (200, ["auditor"]))
        self.assertEqual(self.call("GET", "/v1/auth/session", headers=plain)[0], 401)
        _, headers, again = self.login("alice@example.com", ALICE_PASSWORD)
        self.assertEqual(again["caller"]["roles"], ["auditor"])
        mine = self.session_headers(headers["set-cookie"], again["csrf_token"])
        self.assertEqual(self.call("GET", "/v1/collections", headers=mine)[0], 403)
        status, _, ended = self.call("POST", "/v1/auth/logout-everywhere", headers=mine)
        self.assertEqual((status, ended), (200, {"sessions_ended": 1}))
        # An administrator's reset forces a change at the next sign-in.
        self.assertEqual(self.server.api("POST", "/v1/principals/%s/password" % alice["id"],
                                         {"password": TEMPORARY})[0], 204)
        _, _, reset = self.login("alice@example.com", TEMPORARY)
        self.assertTrue(reset["caller"]["password_change_required"])
        # Administrators cannot disable or delete themselves (no accidental lock-out).
        ops = self.create_user("ops@example.com", password=None)
        status, issued = self.server.api("POST", "/v1/principals/%s/tokens" % ops["id"],
                                         {"name": "ops", "scopes": ["admin"]})
        self.assertEqual(status, 201, issued)
        for method, body in [("PATCH", {"disabled": True}), ("PATCH", {"roles": ["auditor"]}),
                             ("DELETE", None)]:
            status, err = self.server.api(method, "/v1/principals/" + ops["id"], body,
                                          token=issued["token"])
            self.assertEqual((status, err["error"]["code"]), (412, "failed_precondition"))
        self.assertEqual(self.server.api("DELETE", "/v1/principals/" + ops["id"])[0], 204)
        self.assertEqual(self.server.api("GET", "/v1/principals/" + ops["id"])[0], 404)
        self.assertEqual(self.call("GET", "/v1/tokens",
                                   headers={"Authorization": "Bearer " + issued["token"]})[0], 401)

    def test_no_username_password_or_token_reaches_a_file_or_the_log(self):
        alice, _, with_csrf = self.ready_alice()
        token = self.server.principal_token("ledger-app-5c1d", ["service"])["token"]
        self.call("GET", "/v1/collections", headers={"Authorization": "Bearer " + token})
        self.login("alice@example.com", "a wrong password 77")
        self.login("eve-unknown@example.com", "another wrong password 78")
        self.call("GET", "/v1/collections",
                  headers={"Authorization": basic("alice@example.com", ALICE_PASSWORD)})
        self.server.stop()
        needles = [b"alice@example.com", b"Alice@Example.com", b"ledger-app-5c1d",
                   b"eve-unknown", TEMPORARY.encode(), ALICE_PASSWORD.encode(),
                   b"a wrong password 77", token.encode(), token[4:24].encode()]
        self.assert_nowhere(self.server, needles, min_files=3)
        self.assertIn("security.sign_in", self.server.log_text())


class CredentialPoolTest(ServerTestCase):
    def test_a_full_sign_in_queue_answers_503_with_retry_after(self):
        server = self.make_server("--auth-credential-queue", "1")
        results = []
        lock = threading.Lock()

        def attempt():
            body = json.dumps({"username": "nobody", "password": "some wrong password"})
            status, headers, _ = server.request("POST", "/v1/auth/login", body=body,
                                                headers={"Content-Type": "application/json"})
            with lock:
                results.append((status, {k.lower(): v for k, v in headers.items()}.get("retry-after")))

        for _ in range(5):  # bounded: a burst of 8 against a queue of 1 overflows at once
            threads = [threading.Thread(target=attempt) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            if any(status == 503 for status, _ in results):
                break
        self.assertIn((503, "1"), results)
        self.assertIn(401, {status for status, _ in results})

    def test_the_credential_thread_runs_at_a_lower_priority(self):
        server = self.make_server("--auth-credential-nice", "7")

        def nice_values():
            return [nice for nice, _ in thread_stats(server.proc.pid)]

        self.assertNotIn(7, nice_values())  # not before it has run a sign-in
        body = json.dumps({"username": "nobody", "password": "some wrong password"})
        status, _, _ = server.request("POST", "/v1/auth/login", body=body,
                                      headers={"Content-Type": "application/json"})
        self.assertEqual(status, 401)
        values = nice_values()
        self.assertEqual(values.count(7), 1, values)  # the one credential thread, alone
        self.assertEqual(set(values) - {7}, {0}, values)

    def test_the_credential_thread_keeps_argon2s_memory_between_sign_ins(self):
        """Every sign-in runs Argon2id over 19 MiB (4,864 pages). The credential thread keeps
        that memory (crypto/argon2_memory.h): it faults it in at the first sign-in only."""
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            if "[always]" in f.read():
                self.skipTest("2 MiB pages: the fault counts below assume 4 KiB ones")
        server = self.make_server("--auth-credential-nice", "7")  # 7 tells the thread apart

        def credential_thread_faults():
            faults = [minflt for nice, minflt in thread_stats(server.proc.pid) if nice == 7]
            self.assertEqual(len(faults), 1)
            return faults[0]

        body = json.dumps({"username": "nobody", "password": "some wrong password"})

        def sign_in():  # an unknown name runs Argon2id like a known one
            status, _, _ = server.request("POST", "/v1/auth/login", body=body,
                                          headers={"Content-Type": "application/json"})
            self.assertEqual(status, 401)

        sign_in()
        first = credential_thread_faults()
        self.assertGreaterEqual(first, 4864)  # the first sign-in did map and fault it in
        for _ in range(4):
            sign_in()
        later = credential_thread_faults() - first
        self.assertLess(later, 4 * 4864 // 8, "faults over 4 more sign-ins")


class EnumerationTimingTest(ServerTestCase):
    def test_unknown_and_known_usernames_take_the_same_time(self):
        server = self.make_server("--auth-lockout-max-failures", "100",
                                  "--auth-source-lockout-max-failures", "100000")
        known = []
        for i in range(4):
            status, p = server.api("POST", "/v1/principals",
                                   {"username": "staff%d@example.com" % i, "roles": ["admin"],
                                    "password": TEMPORARY})
            self.assertEqual(status, 201, p)
            known.append("staff%d@example.com" % i)
        unknown = ["ghost%d@example.com" % i for i in range(4)]
        conn = http.client.HTTPSConnection("127.0.0.1", server.port, context=server.tls_context(),
                                           timeout=30)
        times = {"known": [], "unknown": []}
        bodies = {"known": set(), "unknown": set()}

        def attempt(kind, name):
            body = json.dumps({"username": name, "password": "a wrong password 1234"})
            started = time.perf_counter()
            conn.request("POST", "/v1/auth/login", body=body,
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            times[kind].append(time.perf_counter() - started)
            envelope = json.loads(data)
            del envelope["error"]["request_id"]
            bodies[kind].add((response.status, json.dumps(envelope, sort_keys=True)))

        for round_ in range(50):  # 400 attempts, interleaved so drift hits both alike
            for i in range(4):
                attempt("known", known[i])
                attempt("unknown", unknown[i])
        conn.close()
        self.assertEqual(bodies["known"], bodies["unknown"])
        self.assertEqual(len(bodies["known"]), 1)
        difference = abs(statistics.median(times["known"]) - statistics.median(times["unknown"]))
        self.assertLess(difference, 0.005, "median known %.4f s, unknown %.4f s" % (
            statistics.median(times["known"]), statistics.median(times["unknown"])))


if __name__ == "__main__":
    unittest.main()
