"""The whole server under kill -9: concurrent HTTPS writers create record batches; the server is
killed mid-flight, restarted, and every acknowledged record must be there and decrypt to exactly
what was sent, and no batch may be half there. Bounded: a fixed number of rounds, each killed
after a fraction of a second; every wait has a deadline. (That each acknowledgement follows an
fsync is proven for the store in test_storage_crash.py; the service acknowledges only after the
store's Write returns.)"""
import random
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
