"""Two-factor sign-in end to end over real HTTPS, with codes from oathtool (oath-toolkit, an
independent RFC 6238 client) at the real time, and the QR code read back by zbarimg (zbar, an
independent reader): enrolment, the sign-in challenge, the ±1 step window, replay, the code
lock, recovery codes, Basic refused for two-factor principals, the tenant policy that leads a
user through enrolment, and the proof that no secret or code reaches a file or the log."""
import base64
import os
import subprocess
import time
import unittest

from harness import ServerTestCase, samples
from test_identity import ALICE_PASSWORD, TEMPORARY, IdentityHelpers, basic

STEP = 30


def oathtool(secret_base32, at):
    """The code an authenticator app shows at Unix time `at`."""
    return subprocess.run(["oathtool", "--totp", "--base32", "--now=@%d" % at, secret_base32],
                          check=True, capture_output=True, text=True, timeout=10).stdout.strip()


def start_of_a_fresh_step():
    """Waits (at most 12 s) until at least 18 s remain in the current 30-second step, so a test
    run entirely inside one step; returns the step's first second."""
    now = time.time()
    if STEP - now % STEP < 18:
        time.sleep(STEP - now % STEP + 0.2)
        now = time.time()
    return int(now // STEP * STEP)


class TwoFactorTest(IdentityHelpers, ServerTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.make_server()

    def enrol(self, csrf_headers):
        """Starts an enrolment in the session; returns its JSON."""
        status, _, body = self.call("POST", "/v1/auth/totp", None, csrf_headers)
        self.assertEqual(status, 201, body)
        return body

    def challenge(self, username="alice@example.com", password=ALICE_PASSWORD):
        status, headers, body = self.login(username, password)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["two_factor_required"], body)
        self.assertNotIn("set-cookie", headers)  # no session before the code
        return body["pending_token"]

    def answer(self, pending, code=None, recovery=None):
        body = {"pending_token": pending}
        if code is not None:
            body["code"] = code
        if recovery is not None:
            body["recovery_code"] = recovery
        return self.call("POST", "/v1/auth/login/totp", body)

    def test_enrol_with_the_qr_code_then_sign_in_with_oathtool_codes(self):
        alice, _, csrf = self.ready_alice()
        enrolment = self.enrol(csrf)
        secret = enrolment["secret"]
        self.assertEqual(len(secret), 32)
        self.assertEqual(enrolment["otpauth_uri"],
                         "otpauth://totp/Strongroom:alice%40example.com?secret=" + secret +
                         "&issuer=Strongroom&algorithm=SHA1&digits=6&period=30")
        self.assertTrue(enrolment["qr_svg"].startswith("<svg "))
        prefix = "data:image/png;base64,"
        self.assertTrue(enrolment["qr_png"].startswith(prefix))
        png = os.path.join(self.workdir, "qr.png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(enrolment["qr_png"][len(prefix):]))
        scanned = subprocess.run(["zbarimg", "--quiet", "--raw", png], capture_output=True,
                                 text=True, timeout=30)
        self.assertEqual(scanned.stdout.strip(), enrolment["otpauth_uri"])

        step = start_of_a_fresh_step()
        # A wrong code does not confirm; the app's code one step back (-1) does.
        wrong = "000000" if oathtool(secret, step - STEP) != "000000" else "111111"
        status, _, body = self.call("POST", "/v1/auth/totp/confirm", {"code": wrong}, csrf)
        self.assertEqual((status, body["error"]["code"]), (401, "unauthenticated"), body)
        status, headers, body = self.call("POST", "/v1/auth/totp/confirm",
                                          {"code": oathtool(secret, step - STEP)}, csrf)
        self.assertEqual(status, 200, body)
        recovery = body["recovery_codes"]
        self.assertEqual(len(recovery), 10)
        self.assertEqual(len(set(recovery)), 10)
        self.assertIn("set-cookie", headers)  # a privilege change: a new session
        status, _, body = self.call("GET", "/v1/auth/session", None, csrf)
        self.assertEqual(status, 401, body)  # the old session ended

        # The password alone gives a challenge; the current step (0) answers it.
        status, headers, body = self.answer(self.challenge(), oathtool(secret, step))
        self.assertEqual(status, 200, body)
        self.assertIn("__Host-strongroom_session=", headers["set-cookie"])
        self.assertEqual(body["caller"]["principal_id"], alice["id"])
        # ±2 steps are outside the window; +1 is inside; a used step is refused (replay).
        pending = self.challenge()
        for at in (step + 2 * STEP, step - 2 * STEP, step):
            status, _, body = self.answer(pending, oathtool(secret, at))
            self.assertEqual(status, 401, (at - step, body))
        status, _, body = self.answer(pending, oathtool(secret, step + STEP))
        self.assertEqual(status, 200, body)
        status, _, body = self.answer(self.challenge(), oathtool(secret, step + STEP))
        self.assertEqual(status, 401, body)
        self.assertIn("already used", body["error"]["message"])

        # A recovery code works once, typed any way.
        status, _, body = self.answer(self.challenge(), recovery=recovery[0].upper())
        self.assertEqual(status, 200, body)
        status, _, body = self.answer(self.challenge(), recovery=recovery[0])
        self.assertEqual(status, 401, body)
        status, principal = self.server.api("GET", "/v1/principals/" + alice["id"])
        self.assertEqual((principal["two_factor_enabled"], principal["recovery_codes_remaining"]),
                         (True, 9))

        # Basic with the password carries no second factor: refused, and said so.
        status, _, body = self.call("GET", "/v1/auth/session",
                                    headers={"Authorization": basic("alice@example.com",
                                                                    ALICE_PASSWORD)})
        self.assertEqual(status, 401, body)
        self.assertIn("two factors", body["error"]["message"])

        values = samples(self.server.metrics_text())
        self.assertGreaterEqual(
            values[("strongroom_auth_second_factor_total", frozenset({("result", "refused")}))], 5)
        self.assertGreaterEqual(
            values[("strongroom_auth_second_factor_total", frozenset({("result", "ok")}))], 4)
        needles = [secret.encode(), base64.b32decode(secret)]
        needles += [code.encode() for code in recovery] + [code.replace("-", "").encode()
                                                          for code in recovery]
        self.assert_nowhere(self.server, needles, min_files=3)
        self.server.wait_for_event("security.two_factor_enabled")
        self.server.wait_for_event("security.recovery_code_used")

    def test_wrong_codes_lock_the_principal_and_bad_input_is_refused_cleanly(self):
        _, _, csrf = self.ready_alice()
        secret = self.enrol(csrf)["secret"]
        step = start_of_a_fresh_step()
        status, _, body = self.call("POST", "/v1/auth/totp/confirm",
                                    {"code": oathtool(secret, step)}, csrf)
        self.assertEqual(status, 200, body)
        pending = self.challenge()
        for bad, path in (({"pending_token": pending, "code": "12345"}, "$.code"),
                          ({"pending_token": pending, "code": 123456}, "$.code"),
                          ({"pending_token": pending}, "$.code"),
                          ({"pending_token": pending, "code": "123456",
                            "recovery_code": "abcde-fghij"}, "$.code"),
                          ({"pending_token": pending, "recovery_code": "not one"},
                           "$.recovery_code"),
                          ({"code": "123456"}, "$.pending_token"),
                          ({"pending_token": pending, "code": "123456", "extra": 1}, "$.extra")):
            status, _, body = self.call("POST", "/v1/auth/login/totp", bad)
            self.assertEqual(status, 400, (bad, body))
            self.assertEqual(body["error"]["details"]["path"], path, bad)
        status, _, raw = self.server.request("POST", "/v1/auth/login/totp", body="{not json",
                                             headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400, raw)
        status, _, body = self.answer("garbage-token", "123456")
        self.assertEqual(status, 401, body)

        # Five wrong codes lock the principal's codes: then even the right one is refused.
        wrong = "000000" if oathtool(secret, step + STEP) != "000000" else "111111"
        for _ in range(5):
            pending = self.challenge()
            status, _, body = self.answer(pending, wrong)
            self.assertEqual(status, 401, body)
        status, _, body = self.answer(self.challenge(), oathtool(secret, step + STEP))
        self.assertEqual(status, 401, body)
        self.assertIn("temporarily locked", body["error"]["message"])
        self.server.wait_for_event("security.second_factor_locked")

    def test_a_tenant_policy_leads_users_through_enrolment_and_admins_can_reset(self):
        # A first password must be changed before anything else, enrolment included.
        self.create_user("carol")
        status, headers, body = self.login("carol", TEMPORARY)
        self.assertEqual(status, 200, body)
        carol = self.session_headers(headers["set-cookie"], body["csrf_token"])
        status, _, body = self.call("POST", "/v1/auth/totp", None, carol)
        self.assertEqual((status, body["error"]["details"]["rule"]),
                         (403, "password_change_required"), body)
        bob, _, _ = self.ready_user("bob")
        for bad in ({"all_users": "yes"}, {"roles": ["admin"]}, {"all_users": False,
                                                                 "roles": ["Not A Role"]}):
            status, body = self.server.api("PUT", "/v1/tenants/default/two-factor-policy", bad)
            self.assertEqual(status, 400, (bad, body))
        status, body = self.server.api("PUT", "/v1/tenants/nowhere/two-factor-policy",
                                       {"all_users": True})
        self.assertEqual(status, 404, body)
        status, policy = self.server.api("PUT", "/v1/tenants/default/two-factor-policy",
                                         {"all_users": False, "roles": ["admin"]})
        self.assertEqual(status, 200, policy)
        self.assertEqual((policy["all_users"], policy["roles"]), (False, ["admin"]))

        # Bob signs in: a session that may only enrol.
        status, headers, body = self.login("bob", ALICE_PASSWORD)
        self.assertEqual(status, 200, body)
        self.assertTrue(body["caller"]["two_factor_enrolment_required"])
        csrf = self.session_headers(headers["set-cookie"], body["csrf_token"])
        status, _, body = self.call("GET", "/v1/principals", None, csrf)
        self.assertEqual(status, 403, body)
        self.assertEqual(body["error"]["details"]["rule"], "two_factor_enrolment_required")
        secret = self.enrol(csrf)["secret"]
        step = start_of_a_fresh_step()
        status, headers, body = self.call("POST", "/v1/auth/totp/confirm",
                                          {"code": oathtool(secret, step)}, csrf)
        self.assertEqual(status, 200, body)
        csrf = self.session_headers(headers["set-cookie"], body["csrf_token"])
        status, _, body = self.call("GET", "/v1/principals", None, csrf)
        self.assertEqual(status, 200, body)
        # Required: he may not turn it off himself.
        status, _, body = self.call("POST", "/v1/auth/totp/disable",
                                    {"code": oathtool(secret, step + STEP)}, csrf)
        self.assertEqual(status, 412, body)
        # He lost his phone: the operator resets the factor; he enrols again at sign-in.
        status, body = self.server.api("DELETE", "/v1/principals/%s/totp" % bob["id"])
        self.assertEqual(status, 204, body)
        status, _, body = self.call("GET", "/v1/principals", None, csrf)
        self.assertEqual(status, 401, body)  # the reset ended his sessions
        status, headers, body = self.login("bob", ALICE_PASSWORD)
        self.assertEqual(status, 200, body)
        self.assertNotIn("pending_token", body)
        self.assertTrue(body["caller"]["two_factor_enrolment_required"])
        status, body = self.server.api("GET", "/v1/tenants/default/two-factor-policy")
        self.assertEqual((status, body["roles"]), (200, ["admin"]))


if __name__ == "__main__":
    unittest.main()
