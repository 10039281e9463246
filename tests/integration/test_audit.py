"""The audit trail end to end: every access recorded (never a value), the trail verified offline
by `strongroom audit verify` with only the public key, each kind of tampering caught at the right
entry, fail-closed when the trail's disk is full (and service back when it has room), and every
acknowledged access present after kill -9."""
import glob
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time
import unittest

from harness import ServerTestCase, run_cli, samples

PEOPLE = {
    "name": "people",
    "fields": [
        {"name": "email", "type": "email", "required": True, "indexed": True,
         "classification": {"grade": "confidential", "category": "contact"}},
        {"name": "note", "type": "string",
         "classification": {"grade": "restricted", "category": "health"}},
    ],
}
# Debian's libfaketime (scripts/install-deps --test installs it), whatever the architecture.
FAKETIME_LIB = (glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") or ["libfaketime missing"])[0]
MARK_EMAIL = "audit-marker-7d3f@example.org"
MARK_NOTE = "audit-marker-note-c81e"


def read_entries(audit_dir):
    """Every entry of every segment, as (bytes, parsed JSON)."""
    out = []
    seg_dir = os.path.join(audit_dir, "segments")
    for name in sorted(os.listdir(seg_dir)):
        with open(os.path.join(seg_dir, name), "rb") as f:
            data = f.read()
        at = 0
        while at + 4 <= len(data):
            (n,) = struct.unpack(">I", data[at:at + 4])
            if n == 0 or at + 4 + n > len(data):
                break  # the end: zeros the writer reserved ahead, or a torn frame
            raw = data[at + 4:at + 4 + n]
            out.append((raw, json.loads(raw)))
            at += 4 + n
    return out


def write_entries(audit_dir, raws):
    seg_dir = os.path.join(audit_dir, "segments")
    for name in os.listdir(seg_dir):
        os.remove(os.path.join(seg_dir, name))
    with open(os.path.join(seg_dir, "%020d.seg" % 0), "wb") as f:
        for raw in raws:
            f.write(struct.pack(">I", len(raw)) + raw)


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 §2.1.3.2, written again here so the server's proofs are checked independently."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


class AuditTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.key_copy = os.path.join(self.workdir, "audit-public-key.json")

    def start(self, *args, **kwargs):
        server = self.make_server("--audit-checkpoint-interval-ms", "200", *args, **kwargs)
        return server

    def audit_dir(self, server):
        return os.path.join(server.data_dir, "audit")

    def keep_public_key(self, server, audit_dir=None):
        """The auditor's copy of the key, taken apart from the trail once it exists."""
        path = os.path.join(audit_dir or self.audit_dir(server), "public-key.json")
        for _ in range(100):
            if os.path.exists(path):
                break
            time.sleep(0.05)
        shutil.copy(path, self.key_copy)

    def verify(self, audit_dir, *extra):
        done = run_cli("audit", "verify", "--audit-dir", audit_dir, "--public-key", self.key_copy,
                       "--output", "json", *extra)
        self.assertIn(done.returncode, (0, 1), done.stderr)
        return done.returncode, json.loads(done.stdout)

    def populate(self, server):
        status, body = server.api("POST", "/v1/collections", PEOPLE)
        self.assertEqual(status, 201, body)
        status, subject = server.api("POST", "/v1/subjects", {})
        self.assertEqual(status, 201, subject)
        status, record = server.api("POST", "/v1/collections/people/records",
                                    {"subject_id": subject["id"],
                                     "fields": {"email": MARK_EMAIL, "note": MARK_NOTE}})
        self.assertEqual(status, 201, record)
        return subject["id"], record["id"]

    def test_every_access_is_recorded_without_values_and_verifies_offline(self):
        server = self.start()
        subject, record = self.populate(server)
        self.keep_public_key(server)
        reader = server.principal_token("audit-reader", ["service"], scopes=["data:read"])
        status, got = server.api("GET", "/v1/collections/people/records/" + record,
                                 token=reader["token"])
        self.assertEqual(status, 200, got)
        status, _, _ = server.request("GET", "/v1/collections/people/records/" + record,
                                      headers={"Authorization": "Bearer srt_not-a-token"})
        self.assertEqual(status, 401)
        status, _ = server.api("POST", "/v1/collections/people/records",
                               {"subject_id": subject, "fields": {"email": MARK_EMAIL}},
                               token=reader["token"])
        self.assertEqual(status, 403)
        status, _ = server.api("GET", "/v1/collections/people/records/rec_doesnotexist")
        self.assertEqual(status, 404)
        server.stop()

        entries = [e for _, e in read_entries(self.audit_dir(server))]
        self.assertEqual([e["seq"] for e in entries], list(range(len(entries))))
        reads = [e for e in entries if e["action"] == "record.read"]
        self.assertEqual(len(reads), 3, reads)
        ok_read = reads[0]
        self.assertEqual(ok_read["actor"]["id"], reader["principal_id"])
        self.assertEqual(ok_read["actor"]["kind"], "service")
        self.assertEqual(ok_read["actor"]["via"], "token")
        self.assertEqual(ok_read["actor"]["credential"], reader["token_id"])
        self.assertEqual(ok_read["tenant"], "default")
        self.assertEqual(ok_read["source"], "127.0.0.1")
        self.assertEqual(ok_read["resource"]["collection"], "people")
        self.assertEqual(ok_read["resource"]["ids"], [record])
        self.assertEqual(len(ok_read["resource"]["subjects"]), 1)
        self.assertTrue(ok_read["resource"]["subjects"][0].startswith("psn_"))
        self.assertEqual(sorted(ok_read["fields"]), ["email:plain", "note:plain"])
        self.assertEqual(ok_read["outcome"], {"status": 200, "code": "ok"})
        self.assertIsNone(reads[1]["actor"])
        self.assertEqual(reads[1]["outcome"], {"status": 401, "code": "unauthenticated"})
        self.assertEqual(reads[2]["outcome"], {"status": 404, "code": "not_found"})
        denied = [e for e in entries if e["action"] == "record.create"][-1]
        self.assertEqual(denied["outcome"]["code"], "permission_denied")
        # The subject of the write and of the read is the same pseudonym; never its id.
        create = [e for e in entries if e["action"] == "record.create"][0]
        self.assertEqual(create["resource"]["subjects"], ok_read["resource"]["subjects"])
        self.assertIn("principal.create", [e["action"] for e in entries])
        self.assertIn("token.issue", [e["action"] for e in entries])

        code, report = self.verify(self.audit_dir(server))
        self.assertEqual(code, 0, report)
        self.assertTrue(report["ok"])
        self.assertEqual(report["entries"], len(entries))
        self.assertEqual(report["vouched"], len(entries))  # the stop signed a last checkpoint
        # The segment being written ends in zeros reserved ahead of the entries; the report says
        # where the entries end, and nothing was taken for a torn tail.
        seg_dir = os.path.join(self.audit_dir(server), "segments")
        with open(os.path.join(seg_dir, sorted(os.listdir(seg_dir))[-1]), "rb") as f:
            data = f.read()
        self.assertFalse(report["torn_tail"])
        self.assertEqual(report["end_offset"], len(data.rstrip(b"\0")))
        if shutil.disk_usage(seg_dir).free > (2 << 30):  # above audit.min_free_mib + 1 MiB
            self.assertGreater(len(data), report["end_offset"])
        # Proofs from the files alone, checked against the last signed checkpoint.
        with open(os.path.join(self.audit_dir(server), "checkpoints.log")) as f:
            last = json.loads(f.read().splitlines()[-1])
        self.assertEqual(last["size"], len(entries))
        raws = [raw for raw, _ in read_entries(self.audit_dir(server))]
        done = run_cli("audit", "proof", "--audit-dir", self.audit_dir(server), "--index", "2")
        self.assertEqual(done.returncode, 0, done.stderr)
        proof = json.loads(done.stdout)
        self.assertEqual(proof["root"], last["root"])
        self.assertEqual(proof["leaf_hash"], hashlib.sha256(b"\x00" + raws[2]).hexdigest())
        self.assertTrue(verify_inclusion(2, last["size"], bytes.fromhex(proof["leaf_hash"]),
                                         [bytes.fromhex(p) for p in proof["proof"]],
                                         bytes.fromhex(last["root"])))
        done = run_cli("audit", "proof", "--audit-dir", self.audit_dir(server), "--old", "3")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(json.loads(done.stdout)["new_root"], last["root"])
        done = run_cli("audit", "proof", "--audit-dir", self.audit_dir(server), "--index", "2",
                       "--old", "3")
        self.assertEqual(done.returncode, 2)
        # No value, and no subject id, anywhere in the trail (or any other file, or the log).
        self.assert_nowhere(server, [MARK_EMAIL.encode(), MARK_NOTE.encode()], min_files=6)
        for root, _, files in os.walk(self.audit_dir(server)):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    self.assertNotIn(subject.encode(), f.read(), name)

    def test_tampering_is_caught_offline_and_the_server_refuses_a_tampered_trail(self):
        witness = os.path.join(self.workdir, "witness")
        server = self.start("--audit-witness-dirs", witness, "--audit-checkpoint-entries", "10")
        _, record = self.populate(server)
        self.keep_public_key(server)
        for _ in range(30):
            self.assertEqual(server.api("GET", "/v1/collections/people/records/" + record)[0], 200)
        server.stop()
        audit_dir = self.audit_dir(server)
        pristine = [raw for raw, _ in read_entries(audit_dir)]
        self.assertGreater(len(pristine), 30)
        self.assertEqual(self.verify(audit_dir)[0], 0)

        flipped = list(pristine)
        at = flipped[20].index(b'"request_id":"') + 16
        flipped[20] = flipped[20][:at] + bytes([flipped[20][at] ^ 1]) + flipped[20][at + 1:]
        # A changed entry is named exactly when entry 21, which chains to it, is read; unless a
        # checkpoint of size 21 comes first: then it is found as that checkpoint's mismatch, and
        # only what the checkpoint before it covered stays vouched for. Where checkpoints fall
        # depends on timing (one is signed once 10 entries wait; the next request may land
        # first), so they are read, not assumed.
        with open(os.path.join(audit_dir, "checkpoints.log")) as f:
            sizes = [json.loads(line)["size"] for line in f if line.strip()]
        flip_found_at = max((s for s in sizes if s <= 20), default=0) if 21 in sizes else 20
        cases = {
            "flip": (flipped, flip_found_at),
            "delete": (pristine[:12] + pristine[13:], 12),
            "swap": (pristine[:15] + [pristine[16], pristine[15]] + pristine[17:], 15),
            "insert": (pristine[:25] + [pristine[24]] + pristine[25:], 25),
        }
        for name, (raws, first_bad) in cases.items():
            write_entries(audit_dir, raws)
            code, report = self.verify(audit_dir)
            self.assertEqual(code, 1, name)
            self.assertEqual(report["first_bad"], first_bad, (name, report))
            # The server will not write to a trail that does not verify.
            refused = self.start_expecting_failure(server)
            self.assertIn("does not verify", refused)

        # The tail cut off, the trail's own checkpoints too: the witness still has them.
        write_entries(audit_dir, pristine[:20])
        open(os.path.join(audit_dir, "checkpoints.log"), "w").close()
        self.assertEqual(self.verify(audit_dir)[0], 0)  # alone, a shorter trail looks whole
        code, report = self.verify(audit_dir, "--checkpoint",
                                   os.path.join(witness, "checkpoints.log"))
        self.assertEqual(code, 1)
        self.assertEqual(report["first_bad"], 20, report)

    def test_auditors_read_filter_prove_and_hash_and_reading_is_audited(self):
        server = self.start("--audit-alert-distinct-subjects", "3")
        subject, record = self.populate(server)
        others = []
        for i in range(4):
            status, s = server.api("POST", "/v1/subjects", {})
            status, r = server.api("POST", "/v1/collections/people/records",
                                   {"subject_id": s["id"], "fields": {"email": "p%d@example.org" % i}})
            self.assertEqual(status, 201, r)
            others.append(r["id"])
        reader = server.principal_token("mass-reader", ["service"], scopes=["data:read"])
        for rec in [record] + others:
            self.assertEqual(server.api("GET", "/v1/collections/people/records/" + rec,
                                        token=reader["token"])[0], 200)
        auditor = server.principal_token("the-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        # The administrator runs the vault; it does not read the record of what it did.
        status, body = server.api("GET", "/v1/audit")
        self.assertEqual(status, 403, body)

        status, page = server.api("GET", "/v1/audit?action=record.read&actor=%s&limit=2"
                                  % reader["principal_id"], token=auditor)
        self.assertEqual(status, 200, page)
        self.assertEqual(len(page["entries"]), 2)
        self.assertEqual(page["entries"][0]["resource"]["ids"], [record])
        status, rest = server.api("GET", "/v1/audit?action=record.read&actor=%s&cursor=%s"
                                  % (reader["principal_id"], page["next_cursor"]), token=auditor)
        self.assertEqual([e["resource"]["ids"][0] for e in rest["entries"]], others[1:])
        self.assertIsNone(rest["next_cursor"])
        # By subject id (the server turns it into its pseudonym): its creation, its record's.
        status, by_subject = server.api("GET", "/v1/audit?subject=" + subject, token=auditor)
        self.assertEqual([e["action"] for e in by_subject["entries"]],
                         ["subject.create", "record.create", "record.read"])
        # Who wrote a value: its keyed hash, then the entries that carried it.
        status, hashed = server.api("POST", "/v1/audit/hash", {"value": MARK_EMAIL}, token=auditor)
        self.assertEqual(status, 200, hashed)
        self.assertTrue(hashed["hash"].startswith("hmac-sha256:"))
        status, by_value = server.api("GET", "/v1/audit?value_hash=" + hashed["hash"],
                                      token=auditor)
        self.assertEqual([(e["action"], e["resource"]["ids"]) for e in by_value["entries"]],
                         [("record.create", [record])])
        # A tenant's data-protection officer reads its tenant's entries, and only those.
        self.assertEqual(server.api("POST", "/v1/tenants", {"id": "acme", "name": "Acme"})[0], 201)
        dpo = server.principal_token("acme-dpo", ["dpo"], tenant="acme", kind="user",
                                     scopes=["audit:read"])["token"]
        self.assertEqual(server.api("GET", "/v1/auth/session", token=dpo)[0], 200)
        status, own = server.api("GET", "/v1/audit", token=dpo)
        self.assertEqual(status, 200, own)
        self.assertTrue(own["entries"])
        self.assertEqual({e["tenant"] for e in own["entries"]}, {"acme"})
        status, body = server.api("GET", "/v1/audit?tenant=default", token=dpo)
        self.assertEqual((status, body["error"]["code"]), (403, "permission_denied"))
        status, denied = server.api("GET", "/v1/audit?outcome=denied", token=auditor)
        self.assertIn("audit.read", [e["action"] for e in denied["entries"]])
        status, body = server.api("GET", "/v1/audit?from=yesterday", token=auditor)
        self.assertEqual(body["error"]["details"], {"path": "from", "rule": "format"})
        status, body = server.api("GET", "/v1/audit?limit=0", token=auditor)
        self.assertEqual(body["error"]["details"], {"path": "limit", "rule": "range"})

        # The stored bytes (JSON lines), proven included in the signed checkpoint.
        status, checkpoint = server.api("GET", "/v1/audit/checkpoint", token=auditor)
        for _ in range(50):
            if status == 200 and checkpoint["size"] >= 10:
                break
            time.sleep(0.1)
            status, checkpoint = server.api("GET", "/v1/audit/checkpoint", token=auditor)
        self.assertEqual(status, 200, checkpoint)
        status, headers, lines = server.request(
            "GET", "/v1/audit?format=jsonl&limit=1000",
            headers={"Authorization": "Bearer " + auditor})
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "application/x-ndjson")
        raws = lines.split(b"\n")[:-1]
        root = bytes.fromhex(checkpoint["root"])
        for index in (0, 3, checkpoint["size"] - 1):
            status, proof = server.api("GET", "/v1/audit/proof/inclusion?index=%d&size=%d"
                                       % (index, checkpoint["size"]), token=auditor)
            self.assertEqual(status, 200, proof)
            self.assertEqual(proof["root"], checkpoint["root"])
            leaf = hashlib.sha256(b"\x00" + raws[index]).digest()
            self.assertTrue(verify_inclusion(index, checkpoint["size"], leaf,
                                             [bytes.fromhex(p) for p in proof["proof"]], root))
            self.assertFalse(verify_inclusion(index, checkpoint["size"],
                                              hashlib.sha256(b"\x00" + raws[index] + b" ").digest(),
                                              [bytes.fromhex(p) for p in proof["proof"]], root))
        status, consistency = server.api("GET", "/v1/audit/proof/consistency?old=3&new=%d"
                                         % checkpoint["size"], token=auditor)
        self.assertEqual(status, 200, consistency)
        self.assertEqual(consistency["new_root"], checkpoint["root"])
        status, body = server.api("GET", "/v1/audit/proof/inclusion?index=5&size=5", token=auditor)
        self.assertEqual(body["error"]["details"], {"path": "index", "rule": "range"})

        # One reader, five distinct subjects over the limit of 3: one alert.
        alerts = server.wait_for_event("security.alert")
        self.assertEqual(alerts[0]["rule"], "mass_read")
        self.assertEqual(alerts[0]["actor"], reader["principal_id"])
        metrics = samples(server.metrics_text())
        self.assertEqual(metrics[("strongroom_security_alerts_total",
                                  frozenset({("rule", "mass_read")}))], 1)
        self.assertNotIn(MARK_EMAIL, server.log_text())

    def start_expecting_failure(self, server):
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        done = subprocess.run([os.environ.get("STRONGROOM_BIN", "../../build/dev/strongroom"),
                               *server.args], env={**env, **server.env},
                              capture_output=True, timeout=30)
        self.assertEqual(done.returncode, 2, done.stderr)
        return done.stderr.decode()

    def test_retention_moves_old_segments_to_an_archive_that_still_verifies(self):
        archive = os.path.join(self.workdir, "archive")
        server = self.start("--audit-segment-bytes", "65536", "--audit-retention-days", "1",
                            "--audit-archive-dir", archive)
        _, record = self.populate(server)
        self.keep_public_key(server)
        for _ in range(300):  # entries of ~500 bytes: a new segment at entry 256
            self.assertEqual(server.api("GET", "/v1/collections/people/records/" + record)[0], 200)
        server.stop()
        audit_dir = self.audit_dir(server)
        before = [raw for raw, _ in read_entries(audit_dir)]
        self.assertEqual(sorted(os.listdir(os.path.join(audit_dir, "segments")))[1],
                         "%020d.seg" % 256)

        # Three days later (the wall clock only, through libfaketime; timers keep the real
        # monotonic clock), the first retention pass at start moves the closed segment.
        server.env.update({"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+3d",
                           "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        server.start()
        moved = server.wait_for_event("audit.archived", timeout=30)[0]
        self.assertEqual((moved["segments"], moved["entries"], moved["first"]), (1, 256, 256))
        self.assertEqual(os.listdir(os.path.join(archive, "segments")), ["%020d.seg" % 0])
        self.assertEqual(sorted(os.listdir(os.path.join(audit_dir, "segments")))[0],
                         "%020d.seg" % 256)
        self.assertIn("strongroom_audit_archived_entries 256", server.metrics_text())

        auditor = server.principal_token("retention-auditor", ["auditor"], kind="user",
                                         scopes=["audit:read"])["token"]
        status, checkpoint = server.api("GET", "/v1/audit/checkpoint", token=auditor)
        self.assertEqual((status, checkpoint["first"]), (200, 256), checkpoint)
        status, page = server.api("GET", "/v1/audit?limit=1", token=auditor)
        self.assertGreaterEqual(page["entries"][0]["seq"], 256)
        status, body = server.api("GET", "/v1/audit/proof/inclusion?index=3", token=auditor)
        self.assertEqual((status, body["error"]["code"]), (412, "failed_precondition"), body)
        self.assertIn("archived", body["error"]["message"])
        status, proof = server.api("GET", "/v1/audit/proof/inclusion?index=260", token=auditor)
        self.assertEqual(status, 200, proof)
        server.stop()

        # The live trail alone, the archive alone, and both as one trail verify; the bytes moved
        # unchanged.
        code, live = self.verify(audit_dir)
        self.assertEqual((code, live["first"]), (0, 256), live)
        code, old = self.verify(archive)
        self.assertEqual((code, old["entries"], old["vouched"]), (0, 256, 256), old)
        code, whole = self.verify(audit_dir, "--archive-dir", archive)
        after = [raw for raw, _ in read_entries(archive)] + [raw for raw, _ in
                                                             read_entries(audit_dir)]
        self.assertEqual((code, whole["first"], whole["entries"]), (0, 0, len(after)), whole)
        self.assertEqual(after[:len(before)], before)

        # A proof about an archived entry, from both directories, checks against the last
        # signed checkpoint.
        with open(os.path.join(audit_dir, "checkpoints.log")) as f:
            last = json.loads(f.read().splitlines()[-1])
        done = run_cli("audit", "proof", "--audit-dir", audit_dir, "--archive-dir", archive,
                       "--index", "3", "--size", str(last["size"]))
        self.assertEqual(done.returncode, 0, done.stderr)
        proof = json.loads(done.stdout)
        self.assertTrue(verify_inclusion(3, last["size"],
                                         hashlib.sha256(b"\x00" + after[3]).digest(),
                                         [bytes.fromhex(p) for p in proof["proof"]],
                                         bytes.fromhex(last["root"])))
        done = run_cli("audit", "proof", "--audit-dir", audit_dir, "--index", "3")
        self.assertEqual(done.returncode, 2)
        self.assertIn("archived: add --archive-dir", done.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "mounting a tiny filesystem needs root")
    def test_fails_closed_when_the_trail_cannot_be_written_and_recovers(self):
        mount = os.path.join(self.workdir, "auditfs")
        os.makedirs(mount)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", mount])
        server = self.start("--audit-dir", os.path.join(mount, "audit"))
        subject, record = self.populate(server)
        filler = os.path.join(mount, "filler")
        try:
            with open(filler, "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass  # the filesystem is full
        path = "/v1/collections/people/records/" + record
        # The segment's last page may still have room for a few entries; then nothing fits.
        for _ in range(40):
            status, _, body = server.request("GET", path,
                                             headers={"Authorization": "Bearer " + server.admin_token})
            if status != 200:
                break
        for _ in range(3):
            status, _, body = server.request("GET", path,
                                             headers={"Authorization": "Bearer " + server.admin_token})
            self.assert_error(status, body, 503, "audit_unavailable")
            self.assertNotIn(MARK_EMAIL.encode(), body)
            self.assertNotIn(MARK_NOTE.encode(), body)
        status, body = server.api("POST", "/v1/collections/people/records",
                                  {"subject_id": subject, "fields": {"email": "x2@example.org"}})
        self.assertEqual(status, 503, body)
        self.assertEqual(body["error"]["code"], "audit_unavailable")
        status, _, ready = server.request("GET", "/v1/ready")
        self.assertEqual(status, 503)
        self.assertEqual(json.loads(ready)["dependencies"]["audit"]["state"], "unavailable")
        metrics = samples(server.metrics_text())
        self.assertEqual(metrics[("strongroom_audit_available", frozenset())], 0)
        self.assertGreaterEqual(metrics[("strongroom_audit_failures_total", frozenset())], 3)

        os.remove(filler)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status, got = server.api("GET", path)
            if status == 200:
                break
            time.sleep(0.2)
        self.assertEqual(status, 200, got)
        self.assertEqual(got["fields"]["email"], MARK_EMAIL)
        status, _, ready = server.request("GET", "/v1/ready")
        self.assertEqual(status, 200, ready)
        # The refused write was not made.
        status, listed = server.api("GET", "/v1/collections/people/records")
        self.assertEqual(len(listed["records"]), 1, listed)
        self.keep_public_key(server, os.path.join(mount, "audit"))
        server.stop()
        code, report = self.verify(os.path.join(mount, "audit"))
        self.assertEqual(code, 0, report)

    def test_every_acknowledged_access_survives_kill_9(self):
        server = self.start()
        _, record = self.populate(server)
        self.keep_public_key(server)
        acknowledged = []
        lock = threading.Lock()
        stop = threading.Event()

        def reader():
            conn = server.https()
            headers = {"Authorization": "Bearer " + server.admin_token}
            while not stop.is_set():
                try:
                    conn.request("GET", "/v1/collections/people/records/" + record, headers=headers)
                    response = conn.getresponse()
                    response.read()
                except OSError:
                    return
                if response.status == 200:
                    with lock:
                        acknowledged.append(response.getheader("X-Request-Id"))

        for round_ in range(3):
            threads = [threading.Thread(target=reader) for _ in range(4)]
            for t in threads:
                t.start()
            time.sleep(0.7)
            server.kill()
            stop.set()
            for t in threads:
                t.join(timeout=10)
            stop.clear()
            recorded = {e["request_id"] for _, e in read_entries(self.audit_dir(server))
                        if e["action"] == "record.read"}
            with lock:
                missing = [r for r in acknowledged if r not in recorded]
                self.assertGreater(len(acknowledged), 10 * (round_ + 1))
            self.assertEqual(missing, [], "acknowledged reads without an audit entry")
            server.start()  # a torn last frame is cut; the trail still verifies
        server.stop()
        code, report = self.verify(self.audit_dir(server))
        self.assertEqual(code, 0, report)


if __name__ == "__main__":
    unittest.main()
