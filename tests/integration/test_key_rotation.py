"""KEK rotation (docs/keys.md): POST /v1/keys/rotate makes a new tenant KEK current and re-wraps
every subject key under it in the background; live reads, writes and erasures carry on without
a failure; a server killed with kill -9 mid-re-wrap resumes from its last batch; once done, the
old version is retired (DELETE /v1/keys/versions/{v}) and its wrapped bytes are in no file.

Bounded: reader and writer threads make a fixed number of attempts; every wait polls with a
deadline."""
import json
import os
import random
import signal
import sqlite3
import threading
import time
import unittest

from harness import PASSPHRASE, ServerTestCase, counter, run_cli, wait_until

COLLECTION = {"name": "people", "fields": [
    {"name": "email", "type": "email", "indexed": True, "required": True,
     "classification": {"grade": "confidential", "category": "contact"}},
    {"name": "note", "type": "string",
     "classification": {"grade": "confidential", "category": "health"}}]}


def key_rows(server, like):
    """(key, value) rows of the metadata store's "keys" space whose key matches `like`."""
    with sqlite3.connect("file:%s?mode=ro" % os.path.join(server.data_dir, "metadata.db"),
                         uri=True) as db:
        return db.execute("SELECT CAST(key AS TEXT), value FROM kv WHERE space = ? AND "
                          "CAST(key AS TEXT) LIKE ?", (b"keys", like)).fetchall()


class KeyRotationTest(ServerTestCase):
    def populate(self, server, subjects):
        """`subjects` subjects with one record each; {record id: (subject, fields)}."""
        self.assertEqual(server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        ids = []
        for _ in range(subjects):
            status, subject = server.api("POST", "/v1/subjects", {})
            self.assertEqual(status, 201, subject)
            ids.append(subject["id"])
        records = {}
        for start in range(0, subjects, 50):
            items = [{"subject_id": s,
                      "fields": {"email": "p%d@example.org" % (start + i), "note": "n %s" % s}}
                     for i, s in enumerate(ids[start:start + 50])]
            status, result = server.api("POST", "/v1/collections/people/records/batch",
                                        {"records": items})
            self.assertEqual(status, 200, result)
            for item in result["results"]:
                record = item["record"]
                records[record["id"]] = (record["subject_id"], record["fields"])
        return ids, records

    def keys_state(self, server):
        status, state = server.api("GET", "/v1/keys")
        self.assertEqual(status, 200, state)
        return state

    def assert_records_read_back(self, server, records):
        for record_id, (_, fields) in records.items():
            status, got = server.api("GET", "/v1/collections/people/records/" + record_id)
            self.assertEqual(status, 200, got)
            self.assertEqual(got["fields"], fields)

    def test_rotation_under_load_rewraps_every_key_then_the_old_version_is_retired(self):
        server = self.make_server("--keys-rewrap-per-second", "300")
        subjects, records = self.populate(server, 200)
        state = self.keys_state(server)
        tenant = state["tenant"]
        self.assertEqual(state["current_version"], 1)
        self.assertEqual(state["versions"], [{"version": 1, "current": True, "subject_keys": 200}])
        self.assertIsNone(state["rewrap"])
        (old_kek,) = key_rows(server, "kek/%s/0000000001" % tenant)
        old_kek_bytes = bytes(old_kek[1])

        # Readers, writers and two erasures run through the whole rotation.
        failures, written, lock, stop = [], {}, threading.Lock(), threading.Event()
        erased = subjects[:2]
        live = subjects[2:]
        live_records = {r: v for r, v in records.items() if v[0] in live}

        def reader(seed):
            rng = random.Random(seed)
            ids = sorted(live_records)
            for _ in range(2000):
                if stop.is_set():
                    return
                record_id = rng.choice(ids)
                status, got = server.api("GET", "/v1/collections/people/records/" + record_id)
                if status != 200 or got["fields"] != live_records[record_id][1]:
                    with lock:
                        failures.append(("read", status, record_id))

        def writer(seed):
            rng = random.Random(seed)
            for n in range(2000):
                if stop.is_set():
                    return
                subject = rng.choice(live)
                fields = {"email": "w%d-%d@example.org" % (seed, n), "note": "written %d" % n}
                status, got = server.api("POST", "/v1/collections/people/records",
                                         {"subject_id": subject, "fields": fields})
                with lock:
                    if status != 201:
                        failures.append(("write", status, got))
                    else:
                        written[got["id"]] = (subject, fields)

        threads = [threading.Thread(target=reader, args=(1,)),
                   threading.Thread(target=writer, args=(2,))]
        for t in threads:
            t.start()
        try:
            status, rotated = server.api("POST", "/v1/keys/rotate")
            self.assertEqual(status, 202, rotated)
            self.assertEqual(rotated["kek_version"], 2)
            self.assertEqual(rotated["rewrap"]["state"], "running")
            # Not while the re-wrap runs.
            status, _, body = server.request(
                "DELETE", "/v1/keys/versions/1",
                headers={"Authorization": "Bearer " + server.admin_token})
            self.assert_error(status, body, 412, "failed_precondition")
            for subject in erased:
                status, result = server.api("DELETE", "/v1/subjects/" + subject)
                self.assertEqual(status, 200, result)
            self.assertTrue(wait_until(
                lambda: self.keys_state(server)["rewrap"]["state"] == "done", timeout=60))
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
                self.assertFalse(t.is_alive())
        self.assertEqual(failures, [])
        self.assertTrue(written, "the writer wrote nothing")

        state = self.keys_state(server)
        self.assertEqual(state["current_version"], 2)
        versions = {v["version"]: v["subject_keys"] for v in state["versions"]}
        self.assertEqual(versions[1], 0)
        # The 198 remaining DEKs of v1 re-wrapped, plus the v2 DEKs the writer's first write to
        # each subject made after the rotation.
        self.assertGreaterEqual(versions[2], 198)
        rewrap = state["rewrap"]
        self.assertEqual(rewrap["target_version"], 2)
        # The erased subjects' keys count if the re-wrap reached them before their erasure.
        self.assertIn(rewrap["keys_moved"], (198, 199, 200))
        self.assertIsNotNone(rewrap["finished_at"])
        self.assertEqual(counter(server, "strongroom_kek_rewrapped_keys_total"),
                         rewrap["keys_moved"])
        (finished,) = server.wait_for_event("keys.rewrap_finished")
        self.assertEqual(finished["keys_moved"], rewrap["keys_moved"])
        self.assertEqual(finished["kek_version"], 2)
        # The erased subjects' keys were not brought back by the re-wrap.
        for subject in erased:
            self.assertEqual(key_rows(server, "dek/%s/%s/%%" % (tenant, subject)), [])

        # Bad retirements: the current version, a malformed one, one that does not exist.
        headers = {"Authorization": "Bearer " + server.admin_token}
        status, _, body = server.request("DELETE", "/v1/keys/versions/2", headers=headers)
        self.assert_error(status, body, 412, "failed_precondition")
        for bad in ("abc", "0", "01", "4294967296", "-1"):
            status, _, body = server.request("DELETE", "/v1/keys/versions/" + bad,
                                             headers=headers)
            self.assert_error(status, body, 400, "invalid_argument")
        status, _, body = server.request("DELETE", "/v1/keys/versions/7", headers=headers)
        self.assert_error(status, body, 404, "not_found")

        status, retired = server.api("DELETE", "/v1/keys/versions/1")
        self.assertEqual(status, 200, retired)
        self.assertEqual(retired["retired_version"], 1)
        self.assertTrue(retired["purged_from_files"])
        self.assertEqual(key_rows(server, "kek/%s/0000000001" % tenant), [])
        self.assert_nowhere(server, [old_kek_bytes], min_files=4)
        self.assertEqual([v["version"] for v in self.keys_state(server)["versions"]], [2])

        # Every record, old and new, still decrypts, also after a restart.
        live_records.update(written)
        self.assert_records_read_back(server, live_records)
        server.stop()
        server.start()
        self.assert_records_read_back(server, live_records)

        # Rotation and retirement are in the audit trail.
        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        for action, statuses in (("key.rotate", [202]), ("key.retire", [200, 400, 400, 400, 400,
                                                                        400, 404, 412, 412])):
            status, page = server.api("GET", "/v1/audit?action=" + action, token=auditor)
            self.assertEqual(status, 200, page)
            self.assertEqual(sorted(e["outcome"]["status"] for e in page["entries"]), statuses)
        # The re-wrap's end is the system's act.
        status, page = server.api("GET", "/v1/audit?action=key.rewrap_finished", token=auditor)
        self.assertEqual(status, 200, page)
        (entry,) = page["entries"]
        self.assertEqual(entry["actor"]["id"], "system:keys")
        self.assertTrue(entry["resource"]["target"].startswith("kek v2: "), entry)

    def test_a_rewrap_killed_mid_way_resumes_from_its_last_batch(self):
        # 64 keys a batch at 100 a second: some 3 s for 300 keys, killed after the first batch.
        args = ("--keys-rewrap-per-second", "100")
        server = self.make_server(*args)
        _, records = self.populate(server, 300)
        status, rotated = server.api("POST", "/v1/keys/rotate")
        self.assertEqual(status, 202, rotated)
        self.assertTrue(wait_until(
            lambda: self.keys_state(server)["rewrap"]["keys_scanned"] >= 64, timeout=30))
        before_kill = self.keys_state(server)["rewrap"]
        self.assertEqual(before_kill["state"], "running")
        server.signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        server.kill()
        server.start()
        resumed = self.keys_state(server)["rewrap"]
        self.assertEqual(resumed["state"], "running")
        self.assertGreaterEqual(resumed["keys_scanned"], 64)
        self.assertTrue(wait_until(
            lambda: self.keys_state(server)["rewrap"]["state"] == "done", timeout=60))
        state = self.keys_state(server)
        # Resumed from the recorded cursor: every entry examined once, none twice.
        self.assertEqual(state["rewrap"]["keys_scanned"], 300)
        self.assertEqual(state["rewrap"]["keys_moved"], 300)
        self.assertEqual({v["version"]: v["subject_keys"] for v in state["versions"]},
                         {1: 0, 2: 300})
        status, retired = server.api("DELETE", "/v1/keys/versions/1")
        self.assertEqual(status, 200, retired)
        self.assert_records_read_back(server, records)

    def test_a_sealed_vault_pauses_the_rewrap_until_unsealed(self):
        server = self.make_server("--keys-rewrap-per-second", "100")
        self.populate(server, 200)
        self.assertEqual(server.api("POST", "/v1/keys/rotate")[0], 202)
        self.assertEqual(server.api("POST", "/v1/sys/seal")[0], 200)
        status, _, body = server.request("GET", "/v1/keys", headers={
            "Authorization": "Bearer " + server.admin_token})
        self.assert_error(status, body, 503, "sealed")
        # Without keys nothing is re-wrapped (a batch begun before the seal may still land).
        time.sleep(0.8)
        paused_at = counter(server, "strongroom_kek_rewrapped_keys_total")
        time.sleep(1.5)
        self.assertEqual(counter(server, "strongroom_kek_rewrapped_keys_total"), paused_at)
        self.assertLess(paused_at, 200)
        self.assertEqual(server.api("POST", "/v1/sys/unseal", {"passphrase": PASSPHRASE})[0], 200)
        self.assertTrue(wait_until(
            lambda: self.keys_state(server)["rewrap"]["state"] == "done", timeout=60))
        self.assertEqual(self.keys_state(server)["rewrap"]["keys_scanned"], 200)
        self.assertEqual(counter(server, "strongroom_kek_rewrapped_keys_total"), 200)
    def test_cli_shows_rotates_and_retires(self):
        server = self.make_server()
        self.populate(server, 3)
        env = {"STRONGROOM_TOKEN": server.admin_token}
        where = ["--data-dir", server.data_dir, "--listen", "127.0.0.1:%d" % server.port]

        def keys(*args):
            return run_cli("keys", *where, *args, env=env)

        done = keys("status")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("current KEK v1", done.stdout)
        self.assertIn("v1  wraps 3 subject key(s)  [current]", done.stdout)
        self.assertIn("Re-wrap: no rotation yet", done.stdout)
        done = keys("rotate")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("KEK v2 is current", done.stdout)
        self.assertTrue(wait_until(
            lambda: json.loads(keys("--output", "json", "status").stdout)["rewrap"]["state"]
            == "done", timeout=30))
        done = keys("status")
        self.assertIn("v1  wraps 0 subject key(s)", done.stdout)
        self.assertIn("done towards v2: 3 subject keys examined, 3 moved", done.stdout)
        done = keys("retire", "2")
        self.assertEqual(done.returncode, 1)
        self.assertIn("HTTP 412 failed_precondition", done.stderr)
        done = keys("retire", "0")
        self.assertEqual(done.returncode, 2)  # a usage error, never sent
        done = keys("retire", "1")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Retired KEK v1; its bytes are gone from the metadata files.", done.stdout)
        done = run_cli("keys", *where, "status", env={})
        self.assertEqual(done.returncode, 2)
        self.assertIn("no API token", done.stderr)

    def test_rekey_reseals_the_root_key_under_a_new_passphrase(self):
        server = self.make_server()
        _, records = self.populate(server, 3)
        new_passphrase = "a brand-new integration passphrase"
        new_file = os.path.join(self.workdir, "new-passphrase")
        with open(os.open(new_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(new_passphrase + "\n")
        loose_file = os.path.join(self.workdir, "loose-passphrase")
        with open(os.open(loose_file, os.O_WRONLY | os.O_CREAT, 0o644), "w") as f:
            f.write("another passphrase entirely\n")
        os.chmod(loose_file, 0o644)
        sealed = os.path.join(server.data_dir, "keys", "root.sealed")
        with open(sealed, "rb") as f:
            before = f.read()

        def rekey(passphrase_file, current=PASSPHRASE):
            return run_cli("rekey", "--data-dir", server.data_dir, "--new-passphrase-file",
                           passphrase_file, env={"STRONGROOM_UNSEAL_PASSPHRASE": current})

        done = rekey(loose_file)  # a passphrase file others can read is refused
        self.assertEqual(done.returncode, 2, done.stderr)
        done = rekey(new_file, current="not the passphrase")
        self.assertEqual(done.returncode, 1)
        self.assertIn("wrong current passphrase", done.stderr)
        with open(sealed, "rb") as f:
            self.assertEqual(f.read(), before)
        # While the server runs: it keeps serving with the keys it has.
        done = rekey(new_file)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Root key re-sealed under the new passphrase", done.stdout)
        self.assertNotIn(new_passphrase, done.stdout + done.stderr)
        done = rekey(new_file, current=new_passphrase)  # the same again
        self.assertEqual(done.returncode, 2)
        self.assertIn("is the current one", done.stderr)
        self.assert_records_read_back(server, records)
        self.assertEqual(os.stat(sealed).st_mode & 0o777, 0o600)

        # After a restart only the new passphrase unseals, and every record is as it was.
        server.stop()
        with self.assertRaises(AssertionError):
            server.start()  # the old passphrase: the server refuses to start
        server.kill()
        self.assertIn("wrong passphrase", server.log_text())
        server.env["STRONGROOM_UNSEAL_PASSPHRASE"] = new_passphrase
        server.start()
        self.assert_records_read_back(server, records)


if __name__ == "__main__":
    unittest.main()
