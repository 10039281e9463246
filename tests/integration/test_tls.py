"""TLS policy, checked with openssl s_client (a real client that can be told to offer anything).

s_client's exit code is not the verdict: each test reads what was negotiated, or which alert the
server sent, from its output.
"""
import re
import subprocess
import unittest

from harness import ServerTestCase

ALLOWED_TLS12 = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305",
}
ALLOWED_TLS13 = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}


def s_client(port, *args):
    done = subprocess.run(
        ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
         *args],
        input=b"", capture_output=True, timeout=20)
    return done.stdout.decode("utf-8", "replace") + done.stderr.decode("utf-8", "replace")


def negotiated_cipher(output):
    match = re.search(r"Cipher is (\S+)", output)
    return None if match is None or match.group(1) == "(NONE)" else match.group(1)


def negotiated_protocol(output):
    match = re.search(r"New, (TLSv1\.\d), Cipher is", output)
    return match.group(1) if match else None


def openssl_ciphers(spec):
    done = subprocess.run(["openssl", "ciphers", spec], capture_output=True, text=True, timeout=20)
    return done.stdout.strip().split(":")


class TlsPolicyTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.make_server()

    def test_tls13_works(self):
        output = s_client(self.server.port, "-tls1_3", "-CAfile", self.server.cert)
        self.assertEqual(negotiated_protocol(output), "TLSv1.3")
        self.assertIn(negotiated_cipher(output), ALLOWED_TLS13)
        self.assertIn("Verify return code: 0 (ok)", output)

    def test_tls12_works_with_ecdhe_aead(self):
        output = s_client(self.server.port, "-tls1_2")
        self.assertEqual(negotiated_protocol(output), "TLSv1.2")
        self.assertIn(negotiated_cipher(output), ALLOWED_TLS12)

    def test_old_protocols_are_refused_by_the_server(self):
        # SECLEVEL=0 makes the client willing to offer TLS 1.0/1.1; the refusal must be the
        # server's protocol_version alert, not the client declining to try.
        for flag in ("-tls1", "-tls1_1"):
            output = s_client(self.server.port, flag, "-cipher", "DEFAULT:@SECLEVEL=0")
            self.assertIsNone(negotiated_cipher(output), flag)
            self.assertIn("alert protocol version", output, flag)

    def test_only_ecdhe_aead_suites_are_accepted_for_tls12(self):
        accepted = set()
        for cipher in openssl_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0"):
            if cipher.startswith("TLS_"):
                continue  # TLS 1.3 suites are tested separately
            output = s_client(self.server.port, "-tls1_2", "-cipher", cipher + ":@SECLEVEL=0")
            if negotiated_cipher(output):
                accepted.add(negotiated_cipher(output))
        # The development certificate is P-256, so exactly the ECDSA half of the policy works.
        self.assertEqual(accepted, {c for c in ALLOWED_TLS12 if "ECDSA" in c})

    def test_only_aead_suites_are_accepted_for_tls13(self):
        offered = ALLOWED_TLS13 | {"TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"}
        accepted = set()
        for suite in offered:
            output = s_client(self.server.port, "-tls1_3", "-ciphersuites", suite)
            if negotiated_cipher(output):
                accepted.add(negotiated_cipher(output))
        self.assertEqual(accepted, ALLOWED_TLS13)

    def test_certificate_is_p256(self):
        output = s_client(self.server.port, "-tls1_3")
        self.assertIn("Server public key is 256 bit", output)
        self.assertRegex(output, r"Peer signature type: ECDSA")
        text = subprocess.run(["openssl", "x509", "-in", self.server.cert, "-noout", "-text"],
                              capture_output=True, text=True, timeout=20).stdout
        self.assertIn("ASN1 OID: prime256v1", text)
        self.assertIn("IP Address:127.0.0.1", text)


if __name__ == "__main__":
    unittest.main()
