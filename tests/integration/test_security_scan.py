"""External scanners that no one here wrote, against the real server on loopback (CTest label
`security`, run by `make test`; docs/guard.md):

- sqlmap (Debian's) against the authenticated data API: the query parameters of a record
  listing, the record id in the path, and the JSON body of a search find no injectable
  parameter. The web application firewall is off for this scan (it would refuse sqlmap's
  payloads, and its user agent, before they reach the API): the API itself is what is tested.
- testssl.sh (Debian's) against the TLS listener finds nothing above LOW.

Both are judged by their output, never their exit codes. Every run is bounded in time."""
import json
import os
import re
import subprocess
import unittest

from harness import NO_WAF, ServerTestCase

PATIENTS = {
    "name": "patients",
    "fields": [
        {"name": "email", "type": "email", "indexed": True,
         "classification": {"grade": "confidential", "category": "contact"}},
        {"name": "full_name", "type": "name", "indexed": True,
         "classification": {"grade": "confidential", "category": "identity"}},
    ],
}


class SqlmapTest(ServerTestCase):
    def sqlmap(self, server, url, *extra, data=None):
        out_dir = os.path.join(self.workdir, "sqlmap")
        args = ["sqlmap", "-u", url, "--batch", "--flush-session", "--output-dir", out_dir,
                "--level", "2", "--risk", "1", "--technique", "BEUST", "--time-sec", "2",
                "--timeout", "10", "--retries", "1", "--threads", "2", *extra]
        headers = ["Authorization: Bearer " + server.app_token]
        if data is not None:
            headers.append("Content-Type: application/json")
            args += ["--data", json.dumps(data)]
        args += ["--headers", "\n".join(headers)]  # one option: a second would replace the first
        done = subprocess.run(args, capture_output=True, text=True, timeout=600)
        return done.stdout + done.stderr

    def assert_not_injectable(self, output, min_payloads):
        self.assertNotIn("identified the following injection point", output, output[-3000:])
        self.assertIsNone(re.search(r"parameter '[^']+' (is|seems to be) .*injectable", output),
                          output[-3000:])
        # It really tested: payloads of several techniques were sent and answered.
        tested = re.findall(r"testing '([^']+)'", output)
        self.assertGreaterEqual(len(tested), min_payloads, output[-3000:])
        self.assertIn("do not appear to be injectable", output, output[-3000:])
        self.assertNotIn("unable to connect", output)
        self.assertNotIn("401 (Unauthorized)", output)  # it got past authentication

    def test_data_api_has_no_injectable_parameter(self):
        server = self.make_server(*NO_WAF)
        status, body = server.api("POST", "/v1/collections", PATIENTS)
        self.assertEqual(status, 201, body)
        status, subject = server.api("POST", "/v1/subjects", {})
        self.assertEqual(status, 201, subject)
        status, record = server.api("POST", "/v1/collections/patients/records", {
            "subject_id": subject["id"],
            "fields": {"email": "ann@example.com", "full_name": "Ann Example"}})
        self.assertEqual(status, 201, record)
        base = "https://127.0.0.1:%d/v1/collections/patients/records" % server.port

        listing = self.sqlmap(server, base + "?limit=10&cursor=abc", "-p", "limit,cursor")
        self.assert_not_injectable(listing, 20)
        by_id = self.sqlmap(server, base + "/" + record["id"] + "*")
        self.assert_not_injectable(by_id, 20)
        search = self.sqlmap(server, base + "/search",
                             data={"field": "email", "value": "ann@example.com"})
        self.assert_not_injectable(search, 20)
        # The scan changed nothing: the one record is still the only one, unchanged.
        status, listed = server.api("GET", "/v1/collections/patients/records")
        self.assertEqual(status, 200, listed)
        self.assertEqual([r["id"] for r in listed["records"]], [record["id"]])


def issue_certificate(directory):
    """A test CA and a server certificate it signed for 127.0.0.1, carrying a CRL distribution
    point as a CA's certificate would (the development certificate is self-signed and names no
    revocation source, which testssl rightly rates HIGH: a property of that certificate, not of
    the TLS configuration under test). Returns (ca, cert, key) paths."""
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr = os.path.join(directory, "server.key"), os.path.join(directory, "server.csr")
    cert, ext = os.path.join(directory, "server.pem"), os.path.join(directory, "server.ext")
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", ca_key, "-out", ca, "-days", "365", "-subj", "/CN=Strongroom test CA")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
        "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n"
                "crlDistributionPoints=URI:http://127.0.0.1/test-ca.crl\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
        "-days", "90", "-extfile", ext)
    return ca, cert, key


class TestsslTest(ServerTestCase):
    def test_tls_has_no_finding_above_low(self):
        ca, cert, key = issue_certificate(self.workdir)
        server = self.make_server("--tls-cert-file", cert, "--tls-key-file", key)
        report = os.path.join(self.workdir, "testssl.json")
        done = subprocess.run(
            ["testssl", "--quiet", "--color", "0", "--warnings", "batch", "--ip", "one",
             "--add-ca", ca, "--jsonfile", report, "127.0.0.1:%d" % server.port],
            capture_output=True, text=True, timeout=900)
        self.assertTrue(os.path.exists(report), done.stdout[-3000:] + done.stderr[-3000:])
        with open(report) as f:
            findings = json.load(f)
        self.assertIsInstance(findings, list)
        # It really scanned: protocols and ciphers were looked at.
        ids = {f.get("id") for f in findings}
        above_low = [f for f in findings
                     if f.get("severity") in ("MEDIUM", "HIGH", "CRITICAL")]
        self.assertEqual(above_low, [], json.dumps(above_low, indent=1))
        self.assertFalse([f for f in findings if f.get("severity") == "FATAL"], findings)
        self.assertLessEqual({"TLS1_2", "TLS1_3", "SSLv3", "heartbleed", "BREACH"}, ids, ids)


if __name__ == "__main__":
    unittest.main()
