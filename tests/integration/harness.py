"""Test harness: runs the real `strongroom` binary on loopback and talks to it over real TLS.

Every wait here is bounded; every server is stopped in tearDown even when a test fails.
"""
import base64
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

from prometheus_client.parser import text_string_to_metric_families

BIN = os.environ.get("STRONGROOM_BIN", "../../build/dev/strongroom")
START_TIMEOUT = 20.0
# The unseal passphrase of every test vault (given through the environment, as an operator may).
PASSPHRASE = "integration-test passphrase"
# Headers and the first byte of a 100-byte JSON body whose rest never comes: a request that stays
# in flight until a timeout, a drain deadline or a forced stop ends it.
STUCK_REQUEST = (b"GET /v1/ready HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100\r\n\r\n{")


def run_cli(*args, env=None, timeout=30):
    """Runs `strongroom ARGS` to completion; returns CompletedProcess with text output.

    The test passphrase is in the environment unless `env` maps it to None."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    full_env["STRONGROOM_UNSEAL_PASSPHRASE"] = PASSPHRASE
    full_env.update(env or {})
    full_env = {k: v for k, v in full_env.items() if v is not None}
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=full_env, stdin=subprocess.DEVNULL)


# The traffic guard's limits off (0: unlimited / never) for suites about something else, which
# make many requests and many deliberate failures from 127.0.0.1; the guard still runs (its
# lists, connection bookkeeping and lookups). test_guard.py starts servers with guard=True.
RELAXED_GUARD = ["--guard-source-read-per-second", "0", "--guard-source-write-per-second", "0",
                 "--guard-source-credential-per-minute", "0", "--guard-principal-per-second", "0",
                 "--guard-tenant-per-second", "0", "--guard-ban-after-auth-failures", "0",
                 "--guard-ban-after-client-errors", "0", "--guard-ban-after-waf-hits", "0",
                 "--guard-max-connections-per-source", "0"]


# The web application firewall off, for tests of the HTTP layer's own handling of odd requests
# (a GET with a body, HTTP/1.0 without Host) that the CRS would refuse first, and of the inline
# read path, which only exists without it. test_waf.py tests the firewall.
NO_WAF = ["--waf-enabled", "false"]


class Server:
    """A `strongroom serve` process with its own initialised data directory."""

    def __init__(self, workdir, *extra_args, init=True, env=None, preexec_fn=None, sealed=False,
                 wrapper=None, guard=False):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "vault")
        self.cert = os.path.join(self.data_dir, "tls", "server.crt")
        self.init_output = None
        if init:
            done = run_cli("init", "--data-dir", self.data_dir, "--output", "json")
            assert done.returncode == 0, done.stderr
            self.init_output = json.loads(done.stdout)
        self.args = ["serve", "--data-dir", self.data_dir, "--listen", "127.0.0.1:0",
                     "--metrics-listen", "127.0.0.1:0", *([] if guard else RELAXED_GUARD),
                     *extra_args]
        # Unsealed at start through the environment, unless the test wants a sealed server.
        self.env = {} if sealed else {"STRONGROOM_UNSEAL_PASSPHRASE": PASSPHRASE}
        self.env.update(env or {})
        self.preexec_fn = preexec_fn
        self.wrapper = list(wrapper or [])  # e.g. ["strace", ...]: the server runs under it
        self.lines = []
        self._lines_lock = threading.Lock()
        self._first_line = threading.Event()
        self.proc = None

    def start(self):
        """Starts (or restarts) the process; the log of a previous run is discarded."""
        with self._lines_lock:
            self.lines = []
        self._first_line = threading.Event()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        env.update(self.env)
        self.proc = subprocess.Popen([*self.wrapper, BIN, *self.args], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                                     preexec_fn=self.preexec_fn)
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._first_line.wait(START_TIMEOUT):
            self.kill()
            raise AssertionError("server printed nothing within %.0fs" % START_TIMEOUT)
        first = json.loads(self.lines[0])
        if first.get("event") != "server.listening":
            self.proc.wait(timeout=10)
            raise AssertionError("server did not start: %s" % self.lines)
        self.first_log = first
        self.port = int(first["api"].rsplit(":", 1)[1])
        self.metrics_port = int(first["metrics"].rsplit(":", 1)[1].split("/")[0])
        return self

    def _read_stderr(self):
        for raw in self.proc.stderr:
            with self._lines_lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
            self._first_line.set()
        self._first_line.set()

    def log_text(self):
        with self._lines_lock:
            return "\n".join(self.lines)

    def events(self, name):
        with self._lines_lock:
            lines = list(self.lines)
        return [e for e in (json.loads(l) for l in lines if l.startswith("{")) if e["event"] == name]

    def wait_for_event(self, name, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(name)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError("no %s event within %.0fs; log:\n%s" % (name, timeout, self.log_text()))

    # --- clients ---------------------------------------------------------------------------
    def tls_context(self, cafile=None):
        return ssl.create_default_context(cafile=cafile or self.cert)

    def https(self, timeout=10, source=None):
        """A client connection; `source` binds it to another loopback address (127.x.y.z), to
        play a different client."""
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.tls_context(),
                                           timeout=timeout,
                                           source_address=(source, 0) if source else None)

    @property
    def admin_token(self):
        return self.init_output["admin_token"]

    @property
    def app_token(self):
        """A token of the service account "harness-app" (role app), made on first use and kept
        in the work directory (restarts reuse it): what an application holds. Administrators see
        confidential data masked (docs/policy.md), so record and subject calls default to it.
        None while the vault cannot make one (sealed)."""
        path = os.path.join(self.workdir, "harness-app.token")
        if os.path.exists(path):
            with open(path) as f:
                return f.read()
        status, principal = self.api("POST", "/v1/principals",
                                     {"username": "harness-app", "kind": "service",
                                      "roles": ["app"]}, token=self.admin_token)
        if status != 201:
            return None
        status, issued = self.api("POST", "/v1/principals/%s/tokens" % principal["id"],
                                  {"name": "harness"}, token=self.admin_token)
        if status != 201:
            return None
        with open(path, "w") as f:
            f.write(issued["token"])
        return issued["token"]

    def default_token(self, path):
        """The app's token for record and subject calls, else the admin's."""
        data = path.startswith("/v1/subjects") or (path.startswith("/v1/collections/") and
                                                   ("/records" in path or "/archive" in path))
        return (self.app_token or self.admin_token) if data else self.admin_token

    def api(self, method, path, body=None, token=None, raw=None, headers=None):
        """A JSON API call as `token`, or by default as the admin (records and subjects: as the
        app, see app_token); returns (status, parsed JSON or None).

        `body` is serialised to JSON; `raw` (bytes or str) is sent as it is instead."""
        h = {"Authorization": "Bearer " + (token or self.default_token(path))}
        payload = raw
        if body is not None:
            payload = json.dumps(body)
        if payload is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        status, _, data = self.request(method, path, body=payload, headers=h)
        return status, (json.loads(data) if data else None)

    def principal_token(self, username, roles, tenant=None, kind="service", scopes=None,
                        token=None):
        """Creates a principal (as the admin, or `token`) and issues it an API token; returns
        the token's JSON (with "token", "token_id" and "principal_id")."""
        body = {"username": username, "kind": kind, "roles": roles}
        if tenant:
            body["tenant"] = tenant
        status, principal = self.api("POST", "/v1/principals", body, token=token)
        assert status == 201, (status, principal)
        request = {"name": "integration"}
        if scopes is not None:
            request["scopes"] = scopes
        status, issued = self.api("POST", "/v1/principals/%s/tokens" % principal["id"], request,
                                  token=token)
        assert status == 201, (status, issued)
        return issued

    def request(self, method, path, body=None, headers=None):
        """One request on a fresh connection; returns (status, headers dict, body bytes)."""
        conn = self.https()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def tls_socket(self, timeout=10):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        return self.tls_context().wrap_socket(raw, server_hostname="127.0.0.1")

    def raw_exchange(self, payload, timeout=10):
        """Sends raw bytes over TLS; returns everything the server sends until it closes."""
        with self.tls_socket(timeout) as s:
            s.sendall(payload)
            return read_until_closed(s, timeout)

    def metrics_text(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=10)
        try:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            assert response.status == 200, response.status
            return response.read().decode()
        finally:
            conn.close()

    # --- lifecycle -------------------------------------------------------------------------
    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        if self.proc:
            self._close_reader()
            return self.proc.returncode
        return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc:
            self._close_reader()

    def _close_reader(self):
        self._reader.join(timeout=5)
        if not self._reader.is_alive():
            self.proc.stderr.close()


# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw 32-byte key follows.
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ed25519_verifies(workdir, message, signature, public_key):
    """openssl's verdict on an Ed25519 signature: `message` bytes, `signature` and `public_key`
    (the raw 32 bytes) in unpadded base64url, as Strongroom writes them."""
    paths = [os.path.join(workdir, name) for name in ("ed25519.msg", "ed25519.sig", "ed25519.der")]
    for path, data in zip(paths, (message, b64url_decode(signature),
                                  ED25519_SPKI_PREFIX + b64url_decode(public_key))):
        with open(path, "wb") as f:
            f.write(data)
    return subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", paths[2], "-keyform", "DER",
         "-rawin", "-in", paths[0], "-sigfile", paths[1]],
        capture_output=True, timeout=30).returncode == 0


def samples(metrics_text):
    """{(name, frozenset(labels.items())): value} from a Prometheus text exposition."""
    out = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def counter(server, name, **labels):
    """The sum of `name`'s samples whose labels include `labels`."""
    total = 0
    for (sample_name, sample_labels), value in samples(server.metrics_text()).items():
        have = dict(sample_labels)
        if sample_name == name and all(have.get(k) == v for k, v in labels.items()):
            total += value
    return total


def wait_until(predicate, timeout=10.0, step=0.05):
    """Polls `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def read_until_closed(sock, timeout=10):
    sock.settimeout(timeout)
    chunks = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError, socket.timeout, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def parse_response(raw):
    """Splits a raw HTTP/1.1 response into (status, headers dict lower-cased, body bytes)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


class ServerTestCase(unittest.TestCase):
    """Gives each test a scratch directory; servers made with make_server() stop afterwards."""

    def setUp(self):
        self.workdir = tempfile.mkdtemp(prefix="sr-it-")
        self._servers = []

    def tearDown(self):
        for server in self._servers:
            server.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def make_server(self, *extra_args, start=True, **kwargs):
        server = Server(os.path.join(self.workdir, "s%d" % len(self._servers)), *extra_args,
                        **kwargs)
        self._servers.append(server)
        return server.start() if start else server

    def assert_nowhere(self, server, needles, min_files):
        """No needle in any file of the server's data directory (databases, WAL, keys...) nor in
        its log; at least `min_files` files were scanned."""
        scanned = 0
        for root, _, files in os.walk(server.data_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    content = f.read()
                scanned += 1
                for needle in needles:
                    self.assertNotIn(needle, content, "%s holds %r" % (name, needle))
        self.assertGreaterEqual(scanned, min_files)
        log = server.log_text().encode()
        for needle in needles:
            self.assertNotIn(needle, log)

    def assert_error(self, status, body, expected_status, expected_code):
        self.assertEqual(status, expected_status, body)
        envelope = json.loads(body)
        self.assertEqual(set(envelope), {"error"})
        self.assertLessEqual({"code", "message", "request_id"}, set(envelope["error"]))
        self.assertLessEqual(set(envelope["error"]), {"code", "message", "request_id", "details"})
        self.assertEqual(envelope["error"]["code"], expected_code)
        self.assertTrue(envelope["error"]["message"])
        return envelope["error"]
