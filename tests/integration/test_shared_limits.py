"""Rate limits shared by several nodes through Redis (docs/guard.md, "Shared limits"): two real
Strongroom nodes and Debian's redis-server, all on loopback. The nodes share one bucket per
source and per tenant; Redis holds only keyed names and counts; when Redis goes away each node
limits on its own, says so in its log and its metrics, and shares again once Redis is back.

Different clients are played from different loopback addresses (127.0.0.x). Every loop is
bounded."""
import json
import math
import os
import re
import signal
import socket
import subprocess
import time
import unittest

from harness import ServerTestCase, counter, wait_until

KEY_NAME = re.compile(r"^strongroom:((s[0-2]|p|t):[0-9a-f]{32}|probe)$")
PASSWORD = "redis-test-password-7f3a"
BURST = 30


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_private(path, text):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(text)
    return path


class Redis:
    """A redis-server of our own on 127.0.0.1, password-protected, nothing saved to disk."""

    def __init__(self, workdir, port=None):
        self.workdir = workdir
        self.port = port or free_port()
        self.conf = os.path.join(workdir, "redis.conf")
        # The password sits in a 0600 file, not on a command line other users could read.
        write_private(self.conf, "\n".join([
            "bind 127.0.0.1", "port %d" % self.port, 'save ""', "appendonly no",
            "dir %s" % workdir, "requirepass %s" % PASSWORD, 'logfile ""', ""]))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["redis-server", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(lambda: self.ping(), timeout=10):
            self.stop()
            raise AssertionError("redis-server did not answer on port %d" % self.port)
        return self

    def cli(self, *args):
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                              capture_output=True, text=True, timeout=10,
                              env={**os.environ, "REDISCLI_AUTH": PASSWORD})
        return done.stdout.strip()

    def ping(self):
        try:
            return self.cli("PING") == "PONG"
        except subprocess.TimeoutExpired:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class SharedLimitsTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.redis = Redis(self.workdir).start()
        self.key_file = write_private(os.path.join(self.workdir, "shared.key"),
                                      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n")
        self.password_file = write_private(os.path.join(self.workdir, "redis.password"),
                                           PASSWORD + "\n")

    def tearDown(self):
        self.redis.stop()
        super().tearDown()

    def node(self, start=True, **settings):
        """A node sharing limits through our Redis; `settings` override flags by name
        (redis_address="..." for --guard-redis-address), each flag given once."""
        flags = {
            "redis_address": "127.0.0.1:%d" % self.redis.port,
            "shared_key_file": self.key_file,
            "redis_password_file": self.password_file,
            "shared_sync_ms": "50",
            "source_read_per_second": "1",
            "source_read_burst": str(BURST),
            "ban_after_client_errors": "0",
        }
        flags.update(settings)
        args = []
        for name, value in flags.items():
            args += ["--guard-" + name.replace("_", "-"), value]
        return self.make_server(*args, guard=True, start=start)

    def alternate(self, nodes, source, count, path="/v1/health", headers=None):
        """`count` GETs from `source`, taking turns between the nodes (one kept-alive
        connection each); returns the statuses in order, and sets self.elapsed to the seconds
        they took (a bucket refilled at 1/s gains that many tokens meanwhile)."""
        connections = [n.https(timeout=5, source=source) for n in nodes]
        statuses = []
        started = time.monotonic()
        try:
            for i in range(count):
                conn = connections[i % len(connections)]
                conn.request("GET", path, headers=headers or {})
                response = conn.getresponse()
                response.read()
                statuses.append(response.status)
                time.sleep(0.02)
        finally:
            for conn in connections:
                conn.close()
        self.elapsed = time.monotonic() - started
        return statuses

    def test_two_nodes_share_one_bucket_per_source_and_redis_sees_no_address(self):
        a, b = self.node(), self.node()
        for n in (a, b):
            n.wait_for_event("guard.shared_limits_connected")
            self.assertEqual(counter(n, "strongroom_guard_shared_limits_up"), 1)
            self.assertEqual(counter(n, "strongroom_guard_shared_limits_fallback"), 0)
        statuses = self.alternate([a, b], "127.0.0.7", 80)
        admitted = statuses.count(200)
        # Each node alone would admit its own burst (60 in all); together they admit the one
        # shared burst, plus the refill meanwhile (1/s) and what one exchange's lag lets
        # through. Fewer than 30 would mean another node's takings counted twice.
        self.assertGreaterEqual(admitted, BURST, statuses)
        self.assertLessEqual(admitted, BURST + math.ceil(self.elapsed) + 6, statuses)
        self.assertLess(admitted, 2 * BURST, statuses)
        self.assertEqual(set(statuses), {200, 429})
        self.assertGreater(counter(a, "strongroom_guard_shared_exchanges_total", outcome="ok"), 0)
        self.assertGreater(counter(b, "strongroom_guard_refusals_total", reason="rate_limited",
                                   scope="source"), 0)

        # Redis holds keyed names and numbers only: no address, no tenant name.
        keys = self.redis.cli("--scan").split()
        self.assertTrue(keys)
        for key in keys:
            self.assertRegex(key, KEY_NAME)
            self.assertRegex(self.redis.cli("GET", key), r"^\d+$")
            self.assertGreater(int(self.redis.cli("PTTL", key)), 0)  # counters expire
        dump = " ".join(keys)
        for needle in ("127.0.0", "7f000007", "default"):
            self.assertNotIn(needle, dump)
        # The password and the key never reach the log.
        for n in (a, b):
            self.assertNotIn(PASSWORD, n.log_text())
            self.assertNotIn("9f86d081", n.log_text())

    def test_two_nodes_share_a_tenant_bucket(self):
        # Source limits off: only the tenant's bucket (both vaults' "default" tenant) limits.
        limits = {"source_read_per_second": "0", "tenant_per_second": "1",
                  "tenant_burst": str(BURST), "principal_per_second": "0"}
        a, b = self.node(**limits), self.node(**limits)
        for n in (a, b):
            n.wait_for_event("guard.shared_limits_connected")
        conns = [(n, n.https(timeout=5)) for n in (a, b)]
        statuses = []
        started = time.monotonic()
        try:
            for i in range(80):
                n, conn = conns[i % 2]
                conn.request("GET", "/v1/collections",
                             headers={"Authorization": "Bearer " + n.admin_token})
                response = conn.getresponse()
                body = response.read()
                statuses.append(response.status)
                if response.status == 429:
                    self.assertEqual(json.loads(body)["error"]["code"], "resource_exhausted")
                time.sleep(0.02)
        finally:
            for _, conn in conns:
                conn.close()
        elapsed = time.monotonic() - started
        admitted = statuses.count(200)
        self.assertGreaterEqual(admitted, BURST, statuses)
        self.assertLessEqual(admitted, BURST + math.ceil(elapsed) + 6, statuses)
        self.assertLess(admitted, 2 * BURST, statuses)
        self.assertGreater(counter(a, "strongroom_guard_refusals_total", reason="rate_limited",
                                   scope="tenant") +
                           counter(b, "strongroom_guard_refusals_total", reason="rate_limited",
                                   scope="tenant"), 0)
        keys = self.redis.cli("--scan").split()
        self.assertTrue(any(k.startswith("strongroom:t:") for k in keys), keys)

    def test_falls_back_to_local_limits_says_so_and_shares_again_when_redis_returns(self):
        a = self.node()
        a.wait_for_event("guard.shared_limits_connected")
        self.redis.stop()
        (event,) = a.wait_for_event("guard.shared_limits_unavailable")
        self.assertEqual(event["level"], "warn")
        self.assertEqual(event["redis"], "127.0.0.1:%d" % self.redis.port)
        self.assertTrue(event["reason"])
        self.assertTrue(wait_until(
            lambda: counter(a, "strongroom_guard_shared_limits_fallback") == 1))
        self.assertEqual(counter(a, "strongroom_guard_shared_limits_up"), 0)

        # The node's own limits still hold: one burst, then 429.
        statuses = self.alternate([a], "127.0.0.8", BURST + 10)
        self.assertGreaterEqual(statuses.count(200), BURST, statuses)
        self.assertLessEqual(statuses.count(200), BURST + math.ceil(self.elapsed), statuses)
        self.assertEqual(statuses[:BURST], [200] * BURST)
        self.assertIn(429, statuses[BURST:])
        # Said once, not once per retry.
        time.sleep(1.5)
        self.assertEqual(len(a.events("guard.shared_limits_unavailable")), 1)

        self.redis = Redis(self.workdir, port=self.redis.port).start()
        a.wait_for_event("guard.shared_limits_restored")
        self.assertTrue(wait_until(lambda: counter(a, "strongroom_guard_shared_limits_up") == 1))
        self.assertEqual(counter(a, "strongroom_guard_shared_limits_fallback"), 0)
        # And counts go to Redis again.
        self.alternate([a], "127.0.0.9", 3)
        self.assertTrue(wait_until(lambda: bool(self.redis.cli("--scan"))))

    def test_a_refused_password_is_logged_without_the_password(self):
        wrong = write_private(os.path.join(self.workdir, "wrong.password"), "not-the-password")
        a = self.node(redis_password_file=wrong)
        (event,) = a.wait_for_event("guard.shared_limits_unavailable")
        self.assertRegex(event["reason"], r"WRONGPASS|invalid password")
        self.assertNotIn("not-the-password", a.log_text())
        self.assertNotIn(PASSWORD, a.log_text())
        # The node serves, limiting on its own.
        self.assertEqual(self.alternate([a], "127.0.0.10", 1), [200])
        self.assertEqual(counter(a, "strongroom_guard_shared_limits_fallback"), 1)

    def test_sighup_turns_sharing_on_and_off(self):
        config = os.path.join(self.workdir, "strongroom.toml")
        with open(config, "w") as f:
            f.write("[guard]\nsource_read_per_second = 1\n")
        a = self.make_server("--config", config, guard=True)
        self.assertEqual(a.events("guard.shared_limits_connected"), [])
        with open(config, "a") as f:
            f.write('redis_address = "127.0.0.1:%d"\nshared_key_file = "%s"\n'
                    'redis_password_file = "%s"\nshared_sync_ms = 50\n'
                    % (self.redis.port, self.key_file, self.password_file))
        a.signal(signal.SIGHUP)
        a.wait_for_event("guard.shared_limits_connected")
        self.assertTrue(wait_until(lambda: counter(a, "strongroom_guard_shared_limits_up") == 1))
        # A reload that breaks the key file is refused whole: sharing goes on.
        os.chmod(self.key_file, 0o644)
        a.signal(signal.SIGHUP)
        (failed,) = a.wait_for_event("config.reload_failed")
        self.assertIn("chmod 600", failed["reason"])
        os.chmod(self.key_file, 0o600)
        self.alternate([a], "127.0.0.11", 2)
        self.assertTrue(wait_until(lambda: bool(self.redis.cli("--scan"))))
        self.assertEqual(counter(a, "strongroom_guard_shared_limits_up"), 1)
        # Without the address, the node limits alone, and says it is not falling back.
        with open(config, "w") as f:
            f.write("[guard]\nsource_read_per_second = 1\n")
        a.signal(signal.SIGHUP)
        self.assertTrue(wait_until(lambda: counter(a, "strongroom_guard_shared_limits_up") == 0))
        self.assertEqual(counter(a, "strongroom_guard_shared_limits_fallback"), 0)

    def test_a_redis_that_refuses_writes_is_reported_once_not_over_and_over(self):
        # No password for a Redis that requires one: it accepts the connection and refuses
        # every command (NOAUTH). The node must call that unavailable, once, and not flap.
        a = self.node(redis_password_file="")
        (event,) = a.wait_for_event("guard.shared_limits_unavailable")
        self.assertIn("NOAUTH", event["reason"])
        time.sleep(2.5)  # two more attempts, a second apart
        self.assertEqual(len(a.events("guard.shared_limits_unavailable")), 1)
        self.assertEqual(a.events("guard.shared_limits_connected"), [])
        self.assertEqual(a.events("guard.shared_limits_restored"), [])
        self.assertGreaterEqual(
            counter(a, "strongroom_guard_shared_exchanges_total", outcome="failed"), 2)
        self.assertEqual(counter(a, "strongroom_guard_shared_limits_fallback"), 1)

    def test_bad_shared_settings_stop_the_start_and_name_the_problem(self):
        short = write_private(os.path.join(self.workdir, "short.key"), "too-short")
        shared = os.path.join(self.workdir, "readable.key")
        with open(shared, "w") as f:
            f.write("x" * 64)
        os.chmod(shared, 0o644)
        cases = [
            (self.node(start=False, shared_key_file=short), "holds fewer than 32 bytes"),
            (self.node(start=False, shared_key_file=shared), "chmod 600"),
            (self.node(start=False, redis_address="127.0.0.1"), "host:port"),
            (self.node(start=False, shared_key_prefix="bad prefix"), "guard.shared_key_prefix"),
        ]
        for server, expected in cases:
            with self.subTest(expected=expected):
                with self.assertRaises(AssertionError):
                    server.start()
                self.assertIn(expected, server.log_text())
                self.assertNotEqual(server.proc.returncode, 0)


if __name__ == "__main__":
    unittest.main()
