"""The whole server under kill -9: concurrent HTTPS writers create record batches; the server is
killed mid-flight, restarted, and every acknowledged record must be there and decrypt to exactly
what was sent, and no batch may be half there. Bounded: a fixed number of rounds, each killed
after a fraction of a second; every wait has a deadline. (That each acknowledgement follows an
fsync is proven for the whole server by ServerFsyncTest below, and for the store alone in
test_storage_crash.py.)"""
import json
import os
import random
import re
import shutil
import signal
import threading
import time
import unittest

from harness import ServerTestCase

COLLECTION = {"name": "crash", "fields": [
    {"name": "tag", "type": "string", "indexed": True, "required": True,
     "classification": {"grade": "internal", "category": "other"}},
    {"name": "body", "type": "string",
     "classification": {"grade": "confidential", "category": "other"}}]}
ROUNDS = 5
WRITERS = 4


class ServerCrashTest(ServerTestCase):
    def test_acknowledged_records_survive_kill_9_and_no_batch_is_partial(self):
        server = self.make_server()
        self.assertEqual(server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        subject = server.api("POST", "/v1/subjects", {})[1]["id"]
        rng = random.Random(20261122)
        acknowledged = {}   # record id -> fields
        attempted = []      # every batch tag sent, acknowledged or not
        for round_number in range(ROUNDS):
            stop = threading.Event()
            lock = threading.Lock()

            def writer(number):
                sequence = 0
                while not stop.is_set() and sequence < 500:
                    tag = "r%d-w%d-b%d" % (round_number, number, sequence)
                    sequence += 1
                    with lock:
                        attempted.append(tag)
                    items = [{"subject_id": subject,
                              "fields": {"tag": tag, "body": "%s/%d" % (tag, part)}}
                             for part in range(3)]
                    try:
                        status, result = server.api("POST", "/v1/collections/crash/records/batch",
                                                    {"records": items})
                    except Exception:  # the server died under us: this batch is unacknowledged
                        return
                    if status != 200:
                        return
                    with lock:
                        for item in result["results"]:
                            record = item["record"]
                            acknowledged[record["id"]] = record["fields"]

            threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.4, 1.0))
            server.signal(signal.SIGKILL)
            server.proc.wait(timeout=10)
            stop.set()
            for t in threads:
                t.join(timeout=30)
                self.assertFalse(t.is_alive(), "a writer did not stop")
            server.kill()
            server.start()
            self.assertTrue(acknowledged, "round %d acknowledged nothing" % round_number)

            # Every acknowledged record is there and decrypts to exactly what was sent.
            for record_id, fields in acknowledged.items():
                status, got = server.api("GET", "/v1/collections/crash/records/" + record_id)
                self.assertEqual(status, 200, "acknowledged record %s lost" % record_id)
                self.assertEqual(got["fields"], fields)
        # No batch is partial: through the blind index, each tag has 0 or 3 records.
        for tag in attempted:
            status, found = server.api("POST", "/v1/collections/crash/records/search",
                                       {"field": "tag", "value": tag})
            self.assertEqual(status, 200, found)
            self.assertIn(len(found["records"]), (0, 3), "batch %s is partial" % tag)


if __name__ == "__main__":
    unittest.main()


class ServerFsyncTest(ServerTestCase):
    """kill -9 cannot catch a missing fsync (the page cache survives a killed process), so this
    traces the real server: every response sent for a record write must come after an fsync that
    completed after its request was read."""

    @staticmethod
    def events_after(trace, mark):
        """(kind, fd) in kernel order for syscalls after `mark`: recv/send on sockets, sync.

        A receive counts where it *returned data*: with -f, strace splits a call that another
        thread interrupts into "recvmsg(26, <unfinished ...>" and "<... recvmsg resumed> ... = N",
        and a receive that found nothing (EAGAIN) is no request. A send counts where it starts
        (the earliest its bytes can leave); a sync where it completes."""
        events, accepted, pending = [], [], {}
        pattern = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(<\.\.\. )?(\w+)(?:\((\d+)?| resumed>)")
        with open(trace) as f:
            lines = f.readlines()
        for line in lines:
            m = pattern.match(line)
            if not m:
                continue
            pid, when, resumed, call, fd = m.group(1), float(m.group(2)), m.group(3), m.group(4), m.group(5)
            result = re.search(r"=\s+(-?\d+)(?:\s+\w+.*)?$", line.rstrip())
            returned = int(result.group(1)) if result else None
            if call in ("accept", "accept4") and returned is not None and returned >= 0:
                accepted.append(str(returned))
            if call in ("recvmsg", "recvfrom", "read"):
                if resumed:
                    fd = pending.pop(pid, None)
                elif "<unfinished ...>" in line:
                    pending[pid] = fd
                    continue
            if when < mark:
                continue
            if call in ("fsync", "fdatasync"):
                if returned == 0:
                    events.append(("sync", None))
            elif call in ("recvmsg", "recvfrom", "read"):
                if fd is not None and returned is not None and returned > 0:
                    events.append(("recv", fd))
            elif call in ("sendmsg", "sendto", "write", "writev") and not resumed and fd is not None:
                events.append(("send", fd))
        return events, accepted

    @staticmethod
    def unsynced_sends(events, connection_fd):
        """How many sends on the connection had no completed sync since the last receive."""
        synced, sends, unsynced = True, 0, 0
        for kind, fd in events:
            if kind == "sync":
                synced = True
            elif kind == "recv" and fd == connection_fd:
                synced = False
            elif kind == "send" and fd == connection_fd:
                sends += 1
                unsynced += 0 if synced else 1
        return sends, unsynced

    @unittest.skipUnless(shutil.which("strace"), "strace is installed by scripts/install-deps --test")
    def test_every_write_acknowledgement_follows_an_fsync(self):
        trace = os.path.join(self.workdir, "trace")
        server = self.make_server(wrapper=[
            "strace", "-f", "-qq", "-ttt", "-o", trace, "-e", "signal=none", "-e",
            "trace=accept,accept4,read,recvmsg,recvfrom,write,writev,sendmsg,sendto,fsync,fdatasync"])
        self.assertEqual(server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        subject = server.api("POST", "/v1/subjects", {})[1]["id"]
        conn = server.https()
        headers = {"Authorization": "Bearer " + server.admin_token,
                   "Content-Type": "application/json"}

        def call(method, path, body=None):
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.assertLess(response.status, 300, data)
            return json.loads(data)

        call("GET", "/v1/collections/crash")  # handshake and warm-up
        writes_from = time.time()
        for n in range(20):
            call("POST", "/v1/collections/crash/records",
                 json.dumps({"subject_id": subject, "fields": {"tag": "fsync-%d" % n, "body": "x"}}))
        # The control: health checks are the one kind of call not audited (every other answer,
        # reads included, now waits for its audit entry's fsync), so they leave with none.
        reads_from = time.time()
        for n in range(20):
            call("GET", "/v1/health")
        conn.close()
        os.kill(server.first_log["pid"], signal.SIGTERM)  # the traced server, not strace
        server.proc.wait(timeout=30)

        events, accepted = self.events_after(trace, writes_from)
        connection = accepted[-1]  # our keep-alive connection is the last one accepted
        # The write phase alone: the read phase's events are a suffix of these.
        read_events, _ = self.events_after(trace, reads_from)
        write_events = events[:len(events) - len(read_events)]
        sends, unsynced = self.unsynced_sends(write_events, connection)
        self.assertGreaterEqual(sends, 20, "too few responses traced to judge")
        self.assertEqual(unsynced, 0, "a record write was acknowledged before an fsync")
        # The check can fail: health checks are answered without any fsync, and it says so.
        sends, unsynced = self.unsynced_sends(read_events, connection)
        self.assertGreaterEqual(sends, 20)
        self.assertEqual(unsynced, sends)
