"""The HTTPS API surface: health, readiness, metrics, every error case, limits, log hygiene."""
import json
import os
import select
import socket
import ssl
import time
import unittest

from harness import NO_WAF, STUCK_REQUEST, ServerTestCase, parse_response, read_until_closed, samples


class HttpApiTest(ServerTestCase):
    @classmethod
    def setUpClass(cls):
        pass

    def setUp(self):
        super().setUp()
        # The HTTP layer's own limits, tested with GETs that carry bodies: the WAF would refuse
        # those first (CRS 920170).
        self.server = self.make_server("--limits-max-header-count", "20",
                                       "--limits-max-header-bytes", "4096", *NO_WAF)

    def test_health(self):
        status, headers, body = self.server.request("GET", "/v1/health")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {"status": "ok"})
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["Cache-Control"], "no-store")
        self.assertEqual(len(headers["X-Request-Id"]), 20)

    def test_ready_lists_each_dependency(self):
        status, _, body = self.server.request("GET", "/v1/ready")
        self.assertEqual(status, 200)
        ready = json.loads(body)
        self.assertEqual(ready["status"], "ready")
        self.assertEqual(ready["dependencies"]["server"], {"state": "ok"})
        self.assertEqual(ready["dependencies"]["data_dir"], {"state": "ok"})
        self.assertEqual(ready["dependencies"]["tls_certificate"]["state"], "ok")
        self.assertTrue(ready["dependencies"]["tls_certificate"]["detail"].startswith("expires "))

    def test_ready_reports_missing_data_dir(self):
        # Moving the directory away works as root too (a permission change would not).
        conn = self.server.https()  # loads the CA file, which lives in the data directory
        moved = self.server.data_dir + ".moved"
        os.rename(self.server.data_dir, moved)
        try:
            conn.request("GET", "/v1/ready")
            response = conn.getresponse()
            status, body = response.status, response.read()
        finally:
            conn.close()
            os.rename(moved, self.server.data_dir)
        self.assertEqual(status, 503)
        ready = json.loads(body)
        self.assertEqual(ready["status"], "not_ready")
        self.assertEqual(ready["dependencies"]["data_dir"], {"state": "not_writable"})

    def test_metrics_scrape_parses_and_counts_requests(self):
        for _ in range(3):
            self.assertEqual(self.server.request("GET", "/v1/health")[0], 200)
        self.assertEqual(self.server.request("GET", "/nope")[0], 404)
        values = samples(self.server.metrics_text())
        health = frozenset({"route": "/v1/health", "method": "GET", "code": "200"}.items())
        self.assertEqual(values[("strongroom_http_requests_total", health)], 3)
        unmatched = frozenset({"route": "unmatched", "method": "GET", "code": "404"}.items())
        self.assertEqual(values[("strongroom_http_requests_total", unmatched)], 1)
        count = values[("strongroom_http_request_duration_seconds_count",
                        frozenset({"route": "/v1/health"}.items()))]
        self.assertEqual(count, 3)
        self.assertEqual(values[("strongroom_build_info", frozenset({"version": "0.1.0"}.items()))], 1)
        for name in ("strongroom_http_open_connections", "strongroom_tls_handshake_failures_total",
                     "process_resident_memory_bytes", "process_start_time_seconds"):
            self.assertIn((name, frozenset()), values)

    def test_metrics_listener_serves_only_metrics(self):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.server.metrics_port, timeout=10)
        conn.request("GET", "/v1/health")
        response = conn.getresponse()
        self.assert_error(response.status, response.read(), 404, "not_found")
        conn.close()

    def test_api_port_has_no_plain_http(self):
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=10) as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertEqual(read_until_closed(s, 10), b"")  # closed without an HTTP answer
        values = samples(self.server.metrics_text())
        self.assertGreaterEqual(values[("strongroom_tls_handshake_failures_total", frozenset())], 1)

    def test_unknown_route_is_404(self):
        status, headers, body = self.server.request("GET", "/v1/nothing-here")
        error = self.assert_error(status, body, 404, "not_found")
        self.assertEqual(error["request_id"], headers["X-Request-Id"])

    def test_wrong_method_is_405_with_allow(self):
        status, headers, body = self.server.request("DELETE", "/v1/health")
        self.assert_error(status, body, 405, "method_not_allowed")
        self.assertEqual(headers["Allow"], "GET")

    def test_malformed_http_is_400(self):
        raw = self.server.raw_exchange(b"GARBAGE\x01 / HTTP/9.9\r\n\r\n")
        status, headers, body = parse_response(raw)
        self.assert_error(status, body, 400, "invalid_argument")
        self.assertEqual(headers["connection"], "close")

    def test_invalid_content_length_is_400(self):
        raw = self.server.raw_exchange(
            b"POST /v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n")
        status, _, body = parse_response(raw)
        self.assert_error(status, body, 400, "invalid_argument")

    def test_body_over_limit_is_413_before_reading_it(self):
        raw = self.server.raw_exchange(
            b"GET /v1/ready HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1048577\r\n\r\n{")
        status, _, body = parse_response(raw)
        self.assert_error(status, body, 413, "payload_too_large")

    def test_chunked_body_over_limit_is_413(self):
        chunk = b"x" * 65536
        payload = (b"GET /v1/ready HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n")
        payload += (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 17  # 1.06 MiB > 1 MiB
        payload += b"0\r\n\r\n"
        raw = self.server.raw_exchange(payload)
        status, _, body = parse_response(raw)
        self.assert_error(status, body, 413, "payload_too_large")

    def test_body_at_limit_is_accepted(self):
        body = b'"' + b"a" * (1048576 - 2) + b'"'
        status, _, _ = self.server.request("GET", "/v1/ready", body=body,
                                           headers={"Content-Type": "application/json"})
        self.assertEqual(status, 200)

    def test_too_many_headers_is_431(self):
        headers = "".join("X-H%d: v\r\n" % i for i in range(21)).encode()
        raw = self.server.raw_exchange(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        status, _, body = parse_response(raw)
        self.assert_error(status, body, 431, "headers_too_large")

    def test_too_large_headers_is_431(self):
        raw = self.server.raw_exchange(
            b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
        status, _, body = parse_response(raw)
        self.assert_error(status, body, 431, "headers_too_large")

    def test_non_json_body_is_415(self):
        status, _, body = self.server.request("GET", "/v1/ready", body=b"a=b",
                                              headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assert_error(status, body, 415, "unsupported_media_type")
        status, _, body = self.server.request("GET", "/v1/ready", body=b"{}")  # no Content-Type
        self.assert_error(status, body, 415, "unsupported_media_type")

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        conn = self.server.https()
        try:
            for _ in range(5):
                conn.request("GET", "/v1/health")
                response = conn.getresponse()
                self.assertEqual(response.status, 200)
                response.read()
        finally:
            conn.close()
        values = samples(self.server.metrics_text())
        health = frozenset({"route": "/v1/health", "method": "GET", "code": "200"}.items())
        self.assertEqual(values[("strongroom_http_requests_total", health)], 5)

    def test_expect_100_continue(self):
        with self.server.tls_socket() as s:
            s.sendall(b"GET /v1/ready HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
            interim = s.recv(4096)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
            s.sendall(b"{}")
            status, _, _ = parse_response(read_until_closed(s))
            self.assertEqual(status, 200)


class ProtocolEdgesTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        # HTTP/1.0 without Host, GETs with bodies: the WAF would refuse them before the HTTP
        # layer's handling under test here.
        self.server = self.make_server(*NO_WAF)

    def test_head_answer_has_no_body(self):
        # Raw bytes: http.client would hide a stray body by discarding its read buffer.
        raw = self.server.raw_exchange(b"HEAD /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
                                       b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        head, _, rest = raw.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 405"), head)
        self.assertIn(b"Content-Length: 126", head)  # what GET's answer would carry...
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 OK\r\n"), rest[:60])  # ...but no body

    def test_endless_chunk_size_line_is_refused_promptly(self):
        start = time.monotonic()
        raw = self.server.raw_exchange(
            b"GET /v1/ready HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n1;" + b"a" * 300000)
        status, _, body = parse_response(raw)
        self.assert_error(status, body, 400, "invalid_argument")
        self.assertLess(time.monotonic() - start, 10.0)  # not held for the body timeout

    def test_trailer_fields_are_refused(self):
        raw = self.server.raw_exchange(
            b"GET /v1/ready HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Smuggled: 1\r\n\r\n")
        status, _, body = parse_response(raw)
        error = self.assert_error(status, body, 400, "invalid_argument")
        self.assertEqual(error["message"], "trailer fields are not accepted")

    def test_http10_gets_no_100_continue(self):
        with self.server.tls_socket() as s:
            s.sendall(b"GET /v1/ready HTTP/1.0\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n{}")
            raw = read_until_closed(s)
        self.assertTrue(raw.startswith(b"HTTP/1.0 200"), raw[:40])
        self.assertNotIn(b"100 Continue", raw)


class LimitsTest(ServerTestCase):
    def test_slow_header_client_is_cut_off(self):
        server = self.make_server("--limits-header-timeout-ms", "2000")
        request = b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"p" * 40
        start = time.monotonic()
        closed_at = None
        with server.tls_socket(timeout=5) as s:
            for byte in request:  # one byte per second, at most len(request) seconds
                try:
                    s.sendall(bytes([byte]))
                except (ssl.SSLError, OSError):
                    closed_at = time.monotonic()
                    break
                readable, _, _ = select.select([s], [], [], 1.0)
                if readable:
                    try:
                        data = s.recv(1)
                    except (ssl.SSLError, OSError):
                        data = b""
                    if not data:
                        closed_at = time.monotonic()
                        break
        self.assertIsNotNone(closed_at, "server kept a 1 byte/s client for the whole header")
        self.assertLess(closed_at - start, 6.0)
        values = samples(server.metrics_text())
        self.assertGreaterEqual(values[("strongroom_http_timeouts_total",
                                        frozenset({"phase": "header"}.items()))], 1)

    def test_stalled_body_is_cut_off(self):
        server = self.make_server("--limits-body-timeout-ms", "1000")
        with server.tls_socket() as s:
            s.sendall(STUCK_REQUEST)
            start = time.monotonic()
            self.assertEqual(read_until_closed(s, 10), b"")  # closed without a response
            self.assertLess(time.monotonic() - start, 5.0)
        values = samples(server.metrics_text())
        self.assertEqual(values[("strongroom_http_timeouts_total",
                                 frozenset({"phase": "body"}.items()))], 1)

    def test_idle_keep_alive_connection_is_closed(self):
        server = self.make_server("--limits-idle-timeout-ms", "1000")
        with server.tls_socket() as s:
            s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            first = s.recv(4096)
            self.assertTrue(first.startswith(b"HTTP/1.1 200"), first)
            start = time.monotonic()
            self.assertEqual(read_until_closed(s, 10), b"")  # then silence until the idle cut
            elapsed = time.monotonic() - start
            self.assertGreater(elapsed, 0.5)
            self.assertLess(elapsed, 5.0)
        values = samples(server.metrics_text())
        self.assertEqual(values[("strongroom_http_timeouts_total",
                                 frozenset({"phase": "idle"}.items()))], 1)

    def test_trickling_client_cannot_stretch_the_lingering_close(self):
        server = self.make_server()
        s = server.tls_socket()
        raw = socket.fromfd(s.fileno(), socket.AF_INET, socket.SOCK_STREAM)  # beneath TLS
        s.sendall(b"GET /v1/ready HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 5000000\r\n\r\n")
        status, _, _ = parse_response(s.recv(65536))
        self.assertEqual(status, 413)
        start = time.monotonic()
        open_connections = None
        while time.monotonic() - start < 8:  # one byte every 0.2 s, as a slow-drip attacker would
            try:
                raw.send(b"x")  # below TLS: the server only discards what it reads now
            except OSError:
                pass
            time.sleep(0.2)
            open_connections = samples(server.metrics_text())[
                ("strongroom_http_open_connections", frozenset())]
            if open_connections == 0:
                break
        self.assertEqual(open_connections, 0)
        self.assertLess(time.monotonic() - start, 4.0)  # one linger deadline, about 1 s
        raw.close()

    def test_idle_handshake_is_cut_off(self):
        server = self.make_server("--limits-handshake-timeout-ms", "500")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            start = time.monotonic()
            self.assertEqual(read_until_closed(s, 10), b"")
            self.assertLess(time.monotonic() - start, 5.0)

    def test_connection_cap(self):
        server = self.make_server("--max-connections", "2")
        held = [server.tls_socket(), server.tls_socket()]
        try:
            time.sleep(0.2)
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                with self.assertRaises((ssl.SSLError, ConnectionResetError, OSError)):
                    server.tls_context().wrap_socket(s, server_hostname="127.0.0.1")
            values = samples(server.metrics_text())
            self.assertEqual(values[("strongroom_http_connections_rejected_total", frozenset())], 1)
            self.assertEqual(values[("strongroom_http_open_connections", frozenset())], 2)
        finally:
            for s in held:
                s.close()
        # Once the held connections are gone, new ones are served again.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if server.request("GET", "/v1/health")[0] == 200:
                    break
            except (ssl.SSLError, OSError):
                time.sleep(0.1)
        else:
            self.fail("server did not accept connections after the cap cleared")


class LogHygieneTest(ServerTestCase):
    def test_marker_values_never_reach_the_log(self):
        marker = "SRMARKER" + os.urandom(8).hex()
        server = self.make_server("--log-level", "debug")
        server.request("GET", "/v1/health?email=%s" % marker)
        server.request("GET", "/v1/%s" % marker)
        server.request("GET", "/v1/health", headers={"Authorization": "Bearer " + marker,
                                                     "Cookie": "s=" + marker, "X-Note": marker})
        server.request("GET", "/v1/ready", body=json.dumps({"email": marker}).encode(),
                       headers={"Content-Type": "application/json"})
        server.request("POST", "/v1/health", body=json.dumps({"name": marker}).encode(),
                       headers={"Content-Type": "application/json"})
        server.request("GET", "/v1/ready", body=marker.encode(), headers={"Content-Type": "text/plain"})
        server.raw_exchange(("%s / HTTP/1.1\r\n\r\n" % marker).encode())
        server.raw_exchange(b"GET /v1/health HTTP/1.1\r\nX-" + marker.encode() + b": " + b"v" * 20000 + b"\r\n\r\n")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(marker.encode() + b"\r\n\r\n")
            read_until_closed(s, 5)
        self.assertEqual(server.stop(), 0)
        log = server.log_text()
        self.assertGreater(len(server.events("http.request")), 5)  # the requests were logged...
        import base64
        for form in (marker, marker.encode().hex(), base64.b64encode(marker.encode()).decode()[:16]):
            self.assertNotIn(form, log)  # ...but none of what they carried


if __name__ == "__main__":
    unittest.main()
