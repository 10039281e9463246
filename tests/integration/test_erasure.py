"""Subject erasure (docs/privacy.md): DELETE /v1/subjects/{id} destroys the subject's keys and
rows, leaves nothing of them in the database files, writes a signed receipt to the erasure
ledger, and a restore of a backup taken before the erasure replays the ledger, so the subject
stays erased there too (CLI restore, API restore and the drill). Writes racing the erasure
leave nothing behind.

Bounded: every CLI call has a timeout; every wait polls with a deadline; writer threads make a
fixed number of attempts."""
import datetime
import glob
import json
import os
import shutil
import sqlite3
import threading
import unittest

from harness import PASSPHRASE, Server, ServerTestCase, ed25519_verifies, run_cli, wait_until

COLLECTION = {"name": "people", "fields": [
    {"name": "email", "type": "email", "indexed": True, "required": True,
     "classification": {"grade": "confidential", "category": "contact"}},
    {"name": "note", "type": "string",
     "classification": {"grade": "confidential", "category": "health"}}]}
MARKER = "Marker-Erasure-Quokka"
DOCUMENT = b"%PDF-1.4 " + MARKER.encode() + b" scan " + bytes(range(256)) * 300


def store_rows(db_file, space, like):
    """(key, value) rows of `space` whose key matches the LIKE pattern, read with sqlite3."""
    with sqlite3.connect("file:%s?mode=ro" % db_file, uri=True) as db:
        return db.execute("SELECT CAST(key AS TEXT), value FROM kv WHERE space = ? AND "
                          "CAST(key AS TEXT) LIKE ?", (b"" + space.encode(), like)).fetchall()


def files_holding(directory, needles):
    """The store files (main and write-ahead log) under `directory` holding any of `needles`."""
    found = []
    for path in glob.glob(os.path.join(directory, "*.db*")):
        with open(path, "rb") as f:
            data = f.read()
        found += ["%s holds %r..." % (os.path.basename(path), n[:12]) for n in needles if n in data]
    return found


class ErasureTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.target = os.path.join(self.workdir, "t1")
        os.makedirs(self.target)

    def populate(self, server):
        self.assertEqual(server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        victim = server.api("POST", "/v1/subjects", {})[1]["id"]
        keeper = server.api("POST", "/v1/subjects", {})[1]["id"]
        records = {}
        for subject, count in ((victim, 3), (keeper, 2)):
            for i in range(count):
                status, record = server.api("POST", "/v1/collections/people/records", {
                    "subject_id": subject,
                    "fields": {"email": "%s-%d@example.org" % (subject[-6:].lower(), i),
                               "note": "%s %s %d" % (MARKER, subject, i)}})
                self.assertEqual(status, 201, record)
                records.setdefault(subject, []).append(record)
        for kind in ("cycle.logged", "symptom.logged"):
            status, _ = server.api("POST", "/v1/subjects/%s/activity" % victim,
                                   {"type": kind, "data": {"note": MARKER}})
            self.assertEqual(status, 201)
        status, _, body = server.request(
            "POST", "/v1/subjects/%s/documents" % victim, body=DOCUMENT,
            headers={"Authorization": "Bearer " + server.app_token,
                     "Content-Type": "application/pdf"})
        self.assertEqual(status, 201, body)
        return victim, keeper, records

    def ciphertexts_of(self, server, victim, records):
        """Bytes that only the victim's data holds in the stores: its wrapped key, its records'
        envelopes, its events and its document's chunks."""
        data = server.data_dir
        needles = [value for _, value in store_rows(os.path.join(data, "metadata.db"), "keys",
                                                    "dek/%%/%s/%%" % victim)]
        self.assertEqual(len(needles), 1)
        for record in records[victim]:
            needles += [v for _, v in store_rows(os.path.join(data, "profiles.db"), "records",
                                                 "%%/people/%s" % record["id"])]
        needles += [v for _, v in store_rows(os.path.join(data, "activity.db"), "events",
                                             "%%/%s/%%" % victim)]
        documents = store_rows(os.path.join(data, "documents.db"), "documents",
                               "%%/%s/%%" % victim)
        self.assertEqual(len(documents), 1)
        doc_id = documents[0][0].rsplit("/", 1)[1]
        needles += [v[:64] for _, v in store_rows(os.path.join(data, "documents.db"), "chunks",
                                                  "%%/%s/%%" % doc_id)]
        self.assertEqual(len(needles), 1 + 3 + 2 + 2, "key, records, events, two chunks")
        return needles

    def verify_receipt(self, line):
        """Checks the receipt's Ed25519 signature with openssl; returns the receipt."""
        receipt = line["receipt"]
        payload = json.dumps(receipt, separators=(",", ":"), ensure_ascii=False).encode()
        self.assertTrue(ed25519_verifies(self.workdir, payload, line["signature"],
                                         line["public_key"]))
        # ... and a changed count does not.
        changed = payload.replace(b'"records":3', b'"records":2')
        self.assertNotEqual(changed, payload)
        self.assertFalse(ed25519_verifies(self.workdir, changed, line["signature"],
                                          line["public_key"]))
        return receipt

    def test_erasure_destroys_keys_and_rows_and_survives_a_restore(self):
        server = self.make_server("--audit-checkpoint-interval-ms", "200")
        victim, keeper, records = self.populate(server)
        needles = self.ciphertexts_of(server, victim, records)
        done = run_cli("backup", "create", "--full", "--data-dir", server.data_dir, "--target",
                       self.target, "--output", "json", timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]

        def audit_about(subject):
            status, page = server.api("GET", "/v1/audit?limit=1000&subject=" + subject,
                                      token=auditor)
            self.assertEqual(status, 200, page)
            return page["entries"]

        # Before the erasure the trail names the victim by its own pseudonym, which a search by
        # its id finds.
        before = audit_about(victim)
        self.assertEqual(sorted(e["action"] for e in before),
                         ["activity.append"] * 2 + ["document.upload"] + ["record.create"] * 3 +
                         ["subject.create"])
        (own_pseudonym,) = {s for e in before for s in e["resource"]["subjects"]}
        self.assertRegex(own_pseudonym, r"^psn_[A-Za-z0-9_-]{22}$")
        keeper_before = audit_about(keeper)
        self.assertEqual(len(keeper_before), 3)
        self.assertNotIn(own_pseudonym, json.dumps(keeper_before))

        status, erased = server.api("DELETE", "/v1/subjects/" + victim)
        self.assertEqual(status, 200, erased)
        self.assertEqual(erased["destroyed"], {"keys": 1, "records": 3, "index_entries": 3,
                                               "activity_events": 2, "documents": 1,
                                               "consents": 0, "processing": 0, "tokens": 0,
                                               "document_chunks": 2})
        self.assertEqual(server.api("DELETE", "/v1/subjects/" + victim)[0], 404)
        # Unreadable through the API: the subject, its records (by id and through the blind
        # index), its activity and its documents.
        self.assertEqual(server.api("GET", "/v1/subjects/" + victim)[0], 404)
        for record in records[victim]:
            self.assertEqual(
                server.api("GET", "/v1/collections/people/records/" + record["id"])[0], 404)
        status, found = server.api("POST", "/v1/collections/people/records/search",
                                   {"field": "email", "value": records[victim][0]["fields"]["email"]})
        self.assertEqual((status, found["records"]), (200, []))
        self.assertEqual(server.api("GET", "/v1/subjects/%s/activity" % victim)[0], 404)
        self.assertEqual(server.api("GET", "/v1/subjects/%s/documents" % victim)[0], 404)
        self.assertEqual(
            server.api("POST", "/v1/collections/people/records",
                       {"subject_id": victim, "fields": {"email": "x@example.org"}})[0], 400)
        # The other subject is untouched.
        for record in records[keeper]:
            status, got = server.api("GET", "/v1/collections/people/records/" + record["id"])
            self.assertEqual((status, got["fields"]), (200, record["fields"]))
        # Absent from the database files, write-ahead logs included.
        self.assertEqual(files_holding(server.data_dir, needles), [])

        # The ledger holds the receipt as answered, signed; it names no subject id.
        ledger = os.path.join(server.data_dir, "erasure-ledger.jsonl")
        with open(ledger) as f:
            lines = [json.loads(l) for l in f]
        self.assertEqual(lines, [erased["receipt"]])
        receipt = self.verify_receipt(lines[0])
        self.assertTrue(receipt["subject"].startswith("esn_"))
        self.assertEqual(receipt["prev"], "none")
        with open(ledger) as f:
            self.assertNotIn(victim, f.read())
        self.assertNotIn(MARKER, server.log_text())
        # The log is written by its own thread: wait for the line rather than race it.
        (event,) = server.wait_for_event("privacy.subject_erased")
        self.assertEqual(event["subject"], receipt["subject"])

        # The audit trail records the erasure and still verifies.
        status, page = server.api("GET", "/v1/audit?action=subject.erase", token=auditor)
        self.assertEqual(status, 200, page)
        entries = page["entries"]
        self.assertEqual(sorted(e["outcome"]["status"] for e in entries), [200, 404])
        self.assertEqual(len({json.dumps(e["resource"]["subjects"]) for e in entries}), 1)
        self.assertNotIn(victim, json.dumps(entries))
        # The entries about the victim's data are still there, under its own pseudonym, but its
        # key is gone: a search by its id no longer finds them, only what came after.
        self.assertEqual(audit_about(own_pseudonym), before)
        after = audit_about(victim)
        self.assertIn("subject.erase", {e["action"] for e in after})
        self.assertGreater(min(e["seq"] for e in after), max(e["seq"] for e in before))
        self.assertNotIn(own_pseudonym, json.dumps(after))
        # The other subject is still found by its id, under the same pseudonym as before.
        self.assertEqual(audit_about(keeper)[:3], keeper_before)
        key_file = os.path.join(server.data_dir, "audit", "public-key.json")
        self.assertTrue(wait_until(lambda: os.path.exists(key_file)))
        done = run_cli("audit", "verify", "--audit-dir", os.path.join(server.data_dir, "audit"),
                       "--public-key", key_file)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

        # The backup taken before the erasure: restored, the ledger is replayed first.
        restored_dir = os.path.join(self.workdir, "restored")
        done = run_cli("backup", "restore", "--data-dir", server.data_dir, "--target",
                       self.target, "--to", restored_dir, "--output", "json", timeout=120)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(json.loads(done.stdout)["erasures"],
                         "1 erasure receipts replayed: 1 subjects erased, "
                         "0 interrupted erasures finished")
        self.assertEqual(files_holding(restored_dir, needles), [])
        os.makedirs(os.path.join(self.workdir, "served"))
        restored = Server(os.path.join(self.workdir, "served"), init=False)
        restored.data_dir = restored_dir
        restored.cert = os.path.join(restored_dir, "tls", "server.crt")
        restored.args[restored.args.index("--data-dir") + 1] = restored_dir
        restored.init_output = server.init_output
        shutil.copy(os.path.join(server.workdir, "harness-app.token"), restored.workdir)
        self._servers.append(restored)
        restored.start()
        self.assertEqual(restored.api("GET", "/v1/subjects/" + victim)[0], 404)
        self.assertEqual(restored.api("GET", "/v1/subjects/%s/activity" % victim)[0], 404)
        for record in records[victim]:
            self.assertEqual(
                restored.api("GET", "/v1/collections/people/records/" + record["id"])[0], 404)
        for record in records[keeper]:
            status, got = restored.api("GET", "/v1/collections/people/records/" + record["id"])
            self.assertEqual((status, got["fields"]), (200, record["fields"]))
        restored.stop()

        # Control: without the ledger, the backup brings the subject back (so the replay is
        # what keeps it erased).
        done = run_cli("backup", "restore", "--data-dir", server.data_dir, "--target",
                       self.target, "--to", os.path.join(self.workdir, "no-ledger"),
                       "--erasure-ledger", os.path.join(self.workdir, "absent.jsonl"),
                       "--output", "json", timeout=120)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(json.loads(done.stdout)["erasures"],
                         "0 erasure receipts replayed: 0 subjects erased, "
                         "0 interrupted erasures finished")
        self.assertNotEqual(files_holding(os.path.join(self.workdir, "no-ledger"), needles), [])

        # A ledger altered by one byte is refused, and nothing is left at the destination.
        forged = os.path.join(self.workdir, "forged.jsonl")
        with open(ledger) as f:
            text = f.read()
        with open(forged, "w") as f:
            f.write(text.replace('"documents":1', '"documents":0'))
        destination = os.path.join(self.workdir, "forged-restore")
        done = run_cli("backup", "restore", "--data-dir", server.data_dir, "--target",
                       self.target, "--to", destination, "--erasure-ledger", forged,
                       timeout=120)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn("line 1: the signature does not verify", done.stderr)
        self.assertFalse(os.path.exists(destination))
        self.assertEqual(glob.glob(os.path.join(self.workdir, ".forged-restore*")), [])

    def test_the_server_copies_the_ledger_to_its_targets_and_its_restores_replay_it(self):
        restore_dir = os.path.join(self.workdir, "restores")
        os.makedirs(restore_dir)
        server = self.make_server("--backup-targets", self.target,
                                  "--backup-restore-dir", restore_dir,
                                  "--backup-drill-interval-seconds", "0")
        victim, keeper, records = self.populate(server)
        needles = self.ciphertexts_of(server, victim, records)
        status, job = server.api("POST", "/v1/backups", {"kind": "full"})
        self.assertEqual(status, 202, job)
        self.assertTrue(wait_until(lambda: server.api("GET", "/v1/backups/jobs/" + job["id"])[1]
                                   ["state"] == "succeeded", timeout=60, step=0.2))
        status, erased = server.api("DELETE", "/v1/subjects/" + victim)
        self.assertEqual(status, 200, erased)
        # The copy on the target is there at once, and equal.
        with open(os.path.join(server.data_dir, "erasure-ledger.jsonl")) as f:
            local = f.read()
        with open(os.path.join(self.target, "erasure-ledger.jsonl")) as f:
            self.assertEqual(f.read(), local)
        # Lost with the data directory, the local ledger is not needed: the target's copy is.
        os.remove(os.path.join(server.data_dir, "erasure-ledger.jsonl"))
        status, job = server.api("POST", "/v1/backups/restore", {"destination": "r1"})
        self.assertEqual(status, 202, job)
        state = {}

        def finished():
            nonlocal state
            state = server.api("GET", "/v1/backups/jobs/" + job["id"])[1]
            return state["state"] in ("succeeded", "failed")

        self.assertTrue(wait_until(finished, timeout=60, step=0.2))
        self.assertEqual(state["state"], "succeeded", state)
        self.assertEqual(state["result"]["erasures"],
                         "1 erasure receipts replayed: 1 subjects erased, "
                         "0 interrupted erasures finished")
        self.assertEqual(files_holding(os.path.join(restore_dir, "r1"), needles), [])
        with sqlite3.connect(os.path.join(restore_dir, "r1", "metadata.db")) as db:
            subjects = [k for (k,) in db.execute(
                "SELECT CAST(key AS TEXT) FROM kv WHERE space = ?", (b"subjects",))]
        self.assertEqual([s.rsplit("/", 1)[1] for s in subjects], [keeper])
        # The restored vault keeps the ledger it was made from (its own erasures chain on).
        with open(os.path.join(restore_dir, "r1", "erasure-ledger.jsonl")) as f:
            self.assertEqual(f.read(), local)
        # The drill replays it too, and its sample of the rest decrypts.
        status, job = server.api("POST", "/v1/backups/drill", {})
        self.assertEqual(status, 202, job)
        self.assertTrue(wait_until(finished, timeout=60, step=0.2))
        self.assertEqual(state["state"], "succeeded", state)
        # Restarted without its ledger, the server takes the target's copy back.
        server.stop()
        server.start()
        server.wait_for_event("privacy.ledger_adopted")
        with open(os.path.join(server.data_dir, "erasure-ledger.jsonl")) as f:
            self.assertEqual(f.read(), local)

    def test_an_erasure_cut_short_by_a_crash_is_finished_at_the_unseal(self):
        server = self.make_server()
        victim, keeper, records = self.populate(server)
        server.stop()
        # What a crash right after the shred leaves: the subject and its key gone, the marker
        # there, every row still in place (written as the shred's batch would, with sqlite3).
        metadata = os.path.join(server.data_dir, "metadata.db")
        ((dek_key, _),) = store_rows(metadata, "keys", "dek/%%/%s/%%" % victim)
        tenant = dek_key.split("/")[1]
        with sqlite3.connect(metadata) as db:
            db.execute("DELETE FROM kv WHERE space = ? AND CAST(key AS TEXT) = ?",
                       (b"keys", dek_key))
            db.execute("DELETE FROM kv WHERE space = ? AND CAST(key AS TEXT) = ?",
                       (b"subjects", "%s/%s" % (tenant, victim)))
            db.execute("INSERT INTO kv(space, key, value) VALUES(?, ?, ?)",
                       (b"erasures", ("%s/%s" % (tenant, victim)).encode(),
                        json.dumps({"erased_at": "2026-11-23T10:00:00Z",
                                    "receipt_id": "ers_AAAAAAAAAAAAAAAAAAAAAA",
                                    "keys": 1}).encode()))
        server.env = {}  # starts sealed: the resume waits for the keys
        server.start()
        self.assertEqual(server.events("privacy.erasures_resumed"), [])
        status, _ = server.api("POST", "/v1/sys/unseal", {"passphrase": PASSPHRASE})
        self.assertEqual(status, 200)
        (event,) = server.wait_for_event("privacy.erasures_resumed")
        self.assertEqual(event["count"], 1)
        self.assertEqual(store_rows(os.path.join(server.data_dir, "profiles.db"), "by_subject",
                                    "%%/%s/%%" % victim), [])
        self.assertEqual(store_rows(os.path.join(server.data_dir, "activity.db"), "events",
                                    "%%/%s/%%" % victim), [])
        self.assertEqual(store_rows(metadata, "erasures", "%"), [])
        with open(os.path.join(server.data_dir, "erasure-ledger.jsonl")) as f:
            (line,) = [json.loads(l) for l in f]
        self.assertEqual(line["receipt"]["id"], "ers_AAAAAAAAAAAAAAAAAAAAAA")
        self.assertEqual(line["receipt"]["destroyed"]["records"], 3)
        self.assertEqual(line["receipt"]["destroyed"]["keys"], 1)
        # Asked again, the erasure is over: 404; the other subject serves.
        self.assertEqual(server.api("DELETE", "/v1/subjects/" + victim)[0], 404)
        record = records[keeper][0]
        self.assertEqual(
            server.api("GET", "/v1/collections/people/records/" + record["id"])[0], 200)

    def test_writes_racing_an_erasure_leave_nothing_behind(self):
        server = self.make_server()
        victim, _, _ = self.populate(server)
        stop = threading.Event()
        outcomes = []

        def writer(n):
            for i in range(200):
                if stop.is_set():
                    return
                if i % 2:
                    status, _ = server.api("POST", "/v1/collections/people/records", {
                        "subject_id": victim,
                        "fields": {"email": "w%d-%d@example.org" % (n, i), "note": MARKER}})
                else:
                    status, _ = server.api("POST", "/v1/subjects/%s/activity" % victim,
                                           {"type": "race", "data": {"n": i}})
                outcomes.append(status)
                if status != 201:
                    return

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        self.assertTrue(wait_until(lambda: len(outcomes) >= 20, timeout=30))
        status, erased = server.api("DELETE", "/v1/subjects/" + victim)
        self.assertEqual(status, 200, erased)
        self.assertTrue(wait_until(lambda: all(not t.is_alive() for t in threads), timeout=60))
        stop.set()
        # Every write after the erasure was refused; none of them left a row.
        self.assertTrue(set(outcomes) <= {201, 400, 404}, set(outcomes))
        self.assertIn(201, outcomes)
        data = server.data_dir
        self.assertEqual(store_rows(os.path.join(data, "profiles.db"), "by_subject",
                                    "%%/%s/%%" % victim), [])
        with sqlite3.connect("file:%s?mode=ro" % os.path.join(data, "profiles.db"),
                             uri=True) as db:
            left = db.execute("SELECT count(*) FROM kv WHERE space = ? AND instr(value, ?) > 0",
                              (b"records", victim.encode())).fetchone()[0]
        self.assertEqual(left, 0)
        self.assertEqual(store_rows(os.path.join(data, "activity.db"), "events",
                                    "%%/%s/%%" % victim), [])
        self.assertEqual(store_rows(os.path.join(data, "metadata.db"), "keys",
                                    "dek/%%/%s/%%" % victim), [])
        # The receipt counts what was there when the purge ran.
        destroyed = erased["destroyed"]
        self.assertGreaterEqual(destroyed["records"], 3)
        self.assertEqual(destroyed["records"] + destroyed["activity_events"],
                         3 + 2 + outcomes.count(201))



class ErasureGraceTest(ServerTestCase):
    """privacy.erasure_grace_days: DELETE schedules the erasure (202) and hides the subject at
    once, across a restart; DELETE .../erasure cancels it and everything is back; both audited.
    That the erasure is carried out when due is erasure_schedule_test.cc (an injected "now")."""

    def test_a_scheduled_erasure_hides_the_subject_until_cancelled(self):
        server = self.make_server("--privacy-erasure-grace-days", "7")
        self.assertEqual(server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        victim = server.api("POST", "/v1/subjects", {})[1]["id"]
        keeper = server.api("POST", "/v1/subjects", {})[1]["id"]
        status, record = server.api("POST", "/v1/collections/people/records", {
            "subject_id": victim, "fields": {"email": "grace@example.org", "note": MARKER}})
        self.assertEqual(status, 201, record)
        record_path = "/v1/collections/people/records/" + record["id"]

        status, answer = server.api("DELETE", "/v1/subjects/" + victim)
        self.assertEqual(status, 202, answer)
        self.assertEqual((answer["subject"], answer["state"]), (victim, "scheduled"))
        requested = datetime.datetime.strptime(answer["requested_at"], "%Y-%m-%dT%H:%M:%SZ")
        erase_at = datetime.datetime.strptime(answer["erase_at"], "%Y-%m-%dT%H:%M:%SZ")
        self.assertEqual(erase_at - requested, datetime.timedelta(days=7))
        # Asked again: the first date stands.
        self.assertEqual(server.api("DELETE", "/v1/subjects/" + victim)[1]["erase_at"],
                         answer["erase_at"])

        def hidden():
            self.assertEqual(server.api("GET", "/v1/subjects/" + victim)[0], 404)
            self.assertEqual(server.api("GET", record_path)[0], 404)
            self.assertEqual(server.api("POST", "/v1/subjects/%s/activity" % victim,
                                        {"type": "visit.logged"})[0], 404)
            listed = [s["id"] for s in server.api("GET", "/v1/subjects")[1]["subjects"]]
            self.assertEqual(listed, [keeper])
        hidden()
        self.assertIn("strongroom_erasures_scheduled 1", server.metrics_text())
        server.stop()
        server.start()
        hidden()

        # Bad input: an unknown subject, text that is no subject id.
        self.assertEqual(server.api("DELETE", "/v1/subjects/sub_AAAAAAAAAAAAAAAAAAAAAA")[0], 404)
        self.assertEqual(server.api("DELETE", "/v1/subjects/%s/erasure" % keeper)[0], 404)
        self.assertEqual(server.api("DELETE", "/v1/subjects/not-an-id/erasure")[0], 404)

        status, answer = server.api("DELETE", "/v1/subjects/%s/erasure" % victim)
        self.assertEqual(status, 200, answer)
        self.assertEqual(answer, {"subject": victim, "state": "cancelled"})
        status, back = server.api("GET", record_path)
        self.assertEqual(status, 200, back)
        self.assertEqual(back["fields"]["note"], MARKER)
        self.assertEqual(server.api("DELETE", "/v1/subjects/%s/erasure" % victim)[0], 404)
        self.assertIn("strongroom_erasures_scheduled 0", server.metrics_text())

        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        status, page = server.api("GET", "/v1/audit?action=subject.erase", token=auditor)
        self.assertEqual(status, 200, page)
        self.assertEqual(sorted(e["outcome"]["status"] for e in page["entries"]), [202, 202, 404])
        status, page = server.api("GET", "/v1/audit?action=subject.cancel_erasure", token=auditor)
        self.assertEqual(sorted(e["outcome"]["status"] for e in page["entries"]),
                         [200, 404, 404, 404])
        # Hidden, the subject still had its keys: the trail named it by its own pseudonym
        # throughout (the schedule, the refused reads, the cancel), so a search by its id
        # finds all of it, and the erasure, when it comes, takes that pseudonym with it.
        status, page = server.api("GET", "/v1/audit?limit=1000&subject=" + victim, token=auditor)
        self.assertEqual(status, 200, page)
        about = page["entries"]
        self.assertEqual(len({s for e in about for s in e["resource"]["subjects"]}), 1, about)
        actions = [e["action"] for e in about]
        for action in ("subject.create", "record.create", "subject.erase",
                       "subject.cancel_erasure", "subject.read"):
            self.assertIn(action, actions)


if __name__ == "__main__":
    unittest.main()
