"""Signals: SIGTERM drains in-flight requests and exits 0; SIGHUP reloads the certificate; both\nare handled from the first log line on."""
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import time
import unittest

from harness import NO_WAF, STUCK_REQUEST, ServerTestCase, parse_response, read_until_closed


def make_certificate(directory, name):
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + name,
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30)
    return cert, key


def peer_fingerprint(port):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # only reading which certificate is served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw) as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(cert):
    der = subprocess.run(["openssl", "x509", "-in", cert, "-outform", "DER"], check=True,
                         capture_output=True, timeout=30).stdout
    return hashlib.sha256(der).hexdigest()


class DrainTest(ServerTestCase):
    def test_sigterm_finishes_in_flight_request_then_exits_0(self):
        server = self.make_server(*NO_WAF)  # a GET with a body: the WAF would refuse it
        with server.tls_socket() as s:
            # /v1/health, not /v1/ready: readiness rightly turns 503 once draining starts.
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 13\r\n\r\n{\"a\":")  # headers and part of the body
            time.sleep(0.2)
            server.signal(signal.SIGTERM)
            server.wait_for_event("server.draining")
            # New connections are no longer accepted...
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
            # ...but the request in flight completes.
            s.sendall(b"\"bcdefg\"}")
            status, headers, body = parse_response(read_until_closed(s))
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["connection"], "close")
        self.assertEqual(server.proc.wait(timeout=15), 0)
        self.assertEqual(server.events("server.stopped")[0]["level"], "info")

    def test_idle_keep_alive_connections_do_not_delay_shutdown(self):
        server = self.make_server()
        conn = server.https()
        conn.request("GET", "/v1/health")
        conn.getresponse().read()  # connection now idle in keep-alive
        start = time.monotonic()
        server.signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(timeout=15), 0)
        self.assertLess(time.monotonic() - start, 5.0)
        conn.close()

    def test_sigint_drains_like_sigterm(self):
        server = self.make_server()
        self.assertEqual(server.request("GET", "/v1/health")[0], 200)
        server.signal(signal.SIGINT)
        self.assertEqual(server.proc.wait(timeout=15), 0)
        self.assertEqual(len(server.events("server.draining")), 1)
        self.assertEqual(len(server.events("server.stopped")), 1)

    def test_second_signal_stops_at_once(self):
        server = self.make_server("--shutdown-grace-ms", "60000")
        with server.tls_socket() as s:
            s.sendall(STUCK_REQUEST)
            time.sleep(0.2)
            server.signal(signal.SIGTERM)
            server.wait_for_event("server.draining")
            start = time.monotonic()
            server.signal(signal.SIGTERM)
            self.assertEqual(server.proc.wait(timeout=15), 0)
            self.assertLess(time.monotonic() - start, 5.0)
        self.assertEqual(server.events("server.forced_stop")[0]["open_connections"], 1)

    def test_grace_period_bounds_a_stuck_request(self):
        server = self.make_server("--shutdown-grace-ms", "1000")
        with server.tls_socket() as s:
            s.sendall(STUCK_REQUEST)
            time.sleep(0.2)
            start = time.monotonic()
            server.signal(signal.SIGTERM)
            self.assertEqual(server.proc.wait(timeout=15), 0)
            self.assertLess(time.monotonic() - start, 5.0)
        self.assertEqual(server.events("server.drain_deadline")[0]["open_connections"], 1)

    def test_ready_reports_draining(self):
        server = self.make_server(*NO_WAF)  # a GET with a body: the WAF would refuse it
        conn = server.https()
        conn.request("GET", "/v1/ready", body=b"{", headers={"Content-Type": "application/json",
                                                             "Content-Length": "2"})
        time.sleep(0.2)
        server.signal(signal.SIGTERM)
        server.wait_for_event("server.draining")
        conn.sock.sendall(b"}")
        response = conn.getresponse()
        self.assertEqual(response.status, 503)
        self.assertIn(b'"server":{"state":"draining"}', response.read())
        conn.close()
        self.assertEqual(server.proc.wait(timeout=15), 0)


class ReloadTest(ServerTestCase):
    def test_sighup_reloads_certificate_without_dropping_connections(self):
        cert_a, key_a = make_certificate(self.workdir, "a")
        cert_b, key_b = make_certificate(self.workdir, "b")
        live_cert = os.path.join(self.workdir, "live.crt")
        live_key = os.path.join(self.workdir, "live.key")
        os.link(cert_a, live_cert)
        os.link(key_a, live_key)
        server = self.make_server("--tls-cert-file", live_cert, "--tls-key-file", live_key)
        self.assertEqual(peer_fingerprint(server.port), file_fingerprint(cert_a))

        context = ssl.create_default_context(cafile=cert_a)
        old = context.wrap_socket(socket.create_connection(("127.0.0.1", server.port), timeout=10),
                                  server_hostname="127.0.0.1")
        request = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
        old.sendall(request)
        self.assertTrue(old.recv(4096).startswith(b"HTTP/1.1 200"))

        os.replace(cert_b, live_cert)
        os.replace(key_b, live_key)
        server.signal(signal.SIGHUP)
        server.wait_for_event("tls.reloaded")
        self.assertEqual(peer_fingerprint(server.port), file_fingerprint(live_cert))
        old.sendall(request)  # the connection made under certificate A still works
        self.assertTrue(old.recv(4096).startswith(b"HTTP/1.1 200"))
        old.close()

        # A broken file on reload keeps the certificate in force and says why.
        fingerprint_b = file_fingerprint(live_cert)
        with open(live_key, "w") as f:
            f.write("not a key\n")
        server.signal(signal.SIGHUP)
        failure = server.wait_for_event("tls.reload_failed")[0]
        self.assertIn("cannot load TLS key", failure["reason"])
        self.assertEqual(peer_fingerprint(server.port), fingerprint_b)
        self.assertEqual(server.stop(), 0)

    def test_a_signal_right_after_the_first_log_line_is_handled_not_fatal(self):
        # The server logs `server.listening` before it finishes starting (policies, the backup
        # schedule, Redis); a SIGHUP sent the moment that line appears once killed it, since the
        # handlers were only installed later. Now they are installed before the line is logged.
        server = self.make_server()
        for _ in range(50):  # through the rest of the start: a few milliseconds
            server.signal(signal.SIGHUP)
            time.sleep(0.001)
        server.wait_for_event("tls.reloaded")
        self.assertIsNone(server.proc.poll())
        self.assertEqual(server.stop(), 0)
        # And a SIGTERM that early drains and exits 0, like any other.
        server = self.make_server()
        server.signal(signal.SIGTERM)
        self.assertEqual(server.proc.wait(timeout=15), 0)
        server.wait_for_event("server.draining")


if __name__ == "__main__":
    unittest.main()
