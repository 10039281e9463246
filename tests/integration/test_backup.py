"""Backups end to end (docs/backup.md): `strongroom backup create | list | verify | restore |
prune` against a running server's data directory, and the restored vault served by a real server.

Bounded: every CLI call has a timeout, every writer thread a fixed number of batches."""
import glob
import json
import os
import pty
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

from harness import BIN, PASSPHRASE, Server, ServerTestCase, run_cli, wait_until

COLLECTION = {"name": "people", "fields": [
    {"name": "tag", "type": "string", "indexed": True, "required": True,
     "classification": {"grade": "internal", "category": "other"}},
    {"name": "note", "type": "string",
     "classification": {"grade": "confidential", "category": "health"}}]}
MARKER = "Marker-Backup-Zebra"


class BackupTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        # Checkpoints often, so backups hold signed ones (and the trail's public key).
        self.server = self.make_server("--audit-checkpoint-interval-ms", "200")
        self.assertEqual(self.server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        self.subject = self.server.api("POST", "/v1/subjects", {})[1]["id"]
        self.targets = [os.path.join(self.workdir, "t1"), os.path.join(self.workdir, "t2")]
        for target in self.targets:
            os.makedirs(target)

    def write(self, tags, note_of=lambda tag: "%s %s" % (MARKER, tag)):
        """Creates one record per tag (batches of 100); returns {record id: fields}."""
        written = {}
        for start in range(0, len(tags), 100):
            items = [{"subject_id": self.subject, "fields": {"tag": t, "note": note_of(t)}}
                     for t in tags[start:start + 100]]
            status, result = self.server.api("POST", "/v1/collections/people/records/batch",
                                             {"records": items})
            self.assertEqual(status, 200, result)
            for item in result["results"]:
                written[item["record"]["id"]] = item["record"]["fields"]
        return written

    def backup(self, kind, *targets, expect=0):
        done = run_cli("backup", "create", "--" + kind, "--data-dir", self.server.data_dir,
                       *sum((["--target", t] for t in (targets or self.targets)), []),
                       "--output", "json", timeout=120)
        self.assertEqual(done.returncode, expect, done.stderr)
        return json.loads(done.stdout) if done.stdout else None

    def restore(self, destination, *args, target=None, expect=0):
        done = run_cli("backup", "restore", "--data-dir", self.server.data_dir, "--target",
                       target or self.targets[0], "--to", destination, "--output", "json", *args,
                       timeout=120)
        self.assertEqual(done.returncode, expect, done.stdout + done.stderr)
        return json.loads(done.stdout) if expect == 0 else done

    def verify(self, target=None, *args):
        done = run_cli("backup", "verify", "--data-dir", self.server.data_dir, "--target",
                       target or self.targets[0], "--output", "json", *args, timeout=120)
        return done.returncode, json.loads(done.stdout) if done.stdout.strip() else done.stderr

    def serve_restored(self, name):
        """A server on a restored vault (with the app token the original's work dir holds)."""
        workdir = os.path.join(self.workdir, name)
        restored = Server(workdir, init=False)
        restored.init_output = self.server.init_output
        shutil.copy(os.path.join(self.server.workdir, "harness-app.token"), workdir)
        self._servers.append(restored)
        return restored.start()

    def records_of(self, server):
        records, cursor = {}, None
        for _ in range(100):
            status, page = server.api("GET", "/v1/collections/people/records?limit=200" +
                                      ("&cursor=" + cursor if cursor else ""))
            self.assertEqual(status, 200, page)
            records.update({r["id"]: r["fields"] for r in page["records"]})
            cursor = page["next_cursor"]
            if cursor is None:
                return records
        self.fail("more than 100 pages")

    def test_full_backup_under_writes_restores_what_was_acknowledged(self):
        before = self.write(["a%d" % i for i in range(300)])
        self.assertTrue(wait_until(lambda: os.path.exists(os.path.join(
            self.server.data_dir, "audit", "public-key.json"))))
        stop = threading.Event()
        during = {}

        def writer():
            for batch in range(40):
                if stop.is_set():
                    return
                during.update(self.write(["w%d-%d" % (batch, i) for i in range(20)]))

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            report = self.backup("full")
        finally:
            stop.set()
            thread.join(timeout=60)
        self.assertEqual(report["kind"], "full")
        self.assertEqual([t["ok"] for t in report["targets"]], [True, True])
        self.assertEqual(self.verify()[0], 0)
        self.assertEqual(self.verify(self.targets[1])[0], 0)
        # Nothing in the backup files is readable personal data.
        for target in self.targets:
            for root, _, files in os.walk(target):
                for name in files:
                    with open(os.path.join(root, name), "rb") as f:
                        content = f.read()
                    for needle in (MARKER.encode(), MARKER.lower().encode(), self.subject.encode()):
                        self.assertNotIn(needle, content, name)

        destination = os.path.join(self.workdir, "restored", "vault")
        os.makedirs(os.path.dirname(destination))
        restored_report = self.restore(destination)
        self.assertGreater(restored_report["audit_entries"], 300 // 100)
        self.assertEqual(len(restored_report["chain"]), 1)
        restored = self.serve_restored("restored")
        got = self.records_of(restored)
        # Every record acknowledged before the backup began is there, exactly; every record
        # there decrypts to what was acknowledged (a write during the backup is in or out whole).
        for record_id, fields in before.items():
            self.assertEqual(got.get(record_id), fields)
        for record_id, fields in got.items():
            self.assertEqual(fields, before.get(record_id) or during.get(record_id))
        # The restored audit trail verifies offline too, with the original's public key.
        done = run_cli("audit", "verify", "--audit-dir", os.path.join(destination, "audit"),
                       "--public-key", os.path.join(self.server.data_dir, "audit",
                                                    "public-key.json"))
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)

    def test_incremental_chain_restores_each_point_and_grows_with_the_change(self):
        records = self.write(["c%d" % i for i in range(1000)])
        full = self.backup("full")
        ids = sorted(records)
        changed = ids[:10]  # 1% of the records
        for record_id in changed:
            status, _ = self.server.api("PATCH", "/v1/collections/people/records/" + record_id,
                                        {"fields": {"note": "changed " + record_id}})
            self.assertEqual(status, 200)
        time.sleep(1.1)  # distinct creation seconds, for --at
        first = self.backup("incremental")
        self.assertEqual(first["parent"], full["id"])
        sys.stderr.write("\nincremental after changing 1%%: %d of %d bytes (%.2f%%)\n"
                         % (first["bytes"], full["bytes"], 100.0 * first["bytes"] / full["bytes"]))
        self.assertLess(first["bytes"], full["bytes"] * 0.05,
                        "an incremental after changing 1%% of the records: %d of %d bytes"
                        % (first["bytes"], full["bytes"]))
        deleted = ids[10]
        self.assertEqual(self.server.api("DELETE",
                                         "/v1/collections/people/records/" + deleted)[0], 204)
        added = self.write(["late"])
        time.sleep(1.1)
        second = self.backup("incremental")
        self.assertEqual(second["parent"], first["id"])
        self.assertEqual(self.verify()[0], 0)

        listed = run_cli("backup", "list", "--target", self.targets[0], "--output", "json")
        self.assertEqual([b["id"] for b in json.loads(listed.stdout)],
                         [full["id"], first["id"], second["id"]])

        at_full = self.restore(os.path.join(self.workdir, "p0"), "--backup", full["id"])
        self.assertEqual(at_full["chain"], [full["id"]])
        created_first = [b for b in json.loads(listed.stdout) if b["id"] == first["id"]][0]
        at_first = self.restore(os.path.join(self.workdir, "p1"), "--at",
                                created_first["created_at"])
        self.assertEqual(at_first["chain"], [full["id"], first["id"]])
        latest = self.restore(os.path.join(self.workdir, "p2"))
        self.assertEqual(latest["chain"], [full["id"], first["id"], second["id"]])

        def served(name, data_dir):
            os.makedirs(os.path.join(self.workdir, name))
            os.rename(data_dir, os.path.join(self.workdir, name, "vault"))
            return self.records_of(self.serve_restored(name))

        state0 = served("r0", os.path.join(self.workdir, "p0"))
        self.assertEqual(state0, records)
        state1 = served("r1", os.path.join(self.workdir, "p1"))
        self.assertEqual({k: v["note"] for k, v in state1.items() if k in changed},
                         {k: "changed " + k for k in changed})
        self.assertIn(deleted, state1)
        # Restored stores are written with secure_delete: the record the second incremental
        # deletes leaves no bytes (its id is in its keys) in any database file, free pages included.
        for name in os.listdir(os.path.join(self.workdir, "p2")):
            if ".db" in name:
                with open(os.path.join(self.workdir, "p2", name), "rb") as f:
                    self.assertNotIn(deleted.encode(), f.read(), name)
        state2 = served("r2", os.path.join(self.workdir, "p2"))
        self.assertNotIn(deleted, state2)
        self.assertEqual(len(state2), 1000)
        for record_id in added:
            self.assertIn(record_id, state2)

    def test_tampered_backups_are_refused_naming_what_is_wrong(self):
        self.write(["t%d" % i for i in range(50)])
        full = self.backup("full")
        other = self.backup("full")
        target = self.targets[0]
        directory = os.path.join(target, full["id"])
        pieces = sorted(n for n in os.listdir(directory) if n.endswith(".piece"))
        original = {n: open(os.path.join(directory, n), "rb").read() for n in pieces}

        def expect_refused(fragment):
            code, results = self.verify(target, "--backup", full["id"])
            self.assertEqual(code, 1, results)
            self.assertFalse(results[0]["ok"])
            self.assertIn(fragment, results[0]["problem"])
            destination = os.path.join(self.workdir, "refused")
            done = self.restore(destination, "--backup", full["id"], target=target, expect=1)
            self.assertIn(fragment, done.stderr)
            self.assertFalse(os.path.exists(destination))
            self.assertEqual([n for n in os.listdir(self.workdir) if "restoring" in n], [])

        def put_back():
            for name, content in original.items():
                with open(os.path.join(directory, name), "wb") as f:
                    f.write(content)

        # A flipped byte.
        victim = os.path.join(directory, pieces[0])
        content = bytearray(original[pieces[0]])
        content[len(content) // 2] ^= 1
        open(victim, "wb").write(bytes(content))
        expect_refused("piece %s" % pieces[0])
        put_back()
        self.assertEqual(self.verify(target, "--backup", full["id"])[0], 0)
        # A missing piece.
        os.remove(os.path.join(directory, pieces[1]))
        expect_refused("piece %s (" % pieces[1])
        expect_refused("is missing")
        put_back()
        # Two pieces swapped.
        a, b = pieces[0], pieces[1]
        open(os.path.join(directory, a), "wb").write(original[b])
        open(os.path.join(directory, b), "wb").write(original[a])
        expect_refused("swapped")
        put_back()
        # The manifest replaced by another backup's.
        manifest = os.path.join(directory, "manifest.json")
        saved = open(manifest, "rb").read()
        shutil.copy(os.path.join(target, other["id"], "manifest.json"), manifest)
        expect_refused("signature does not verify")
        open(manifest, "wb").write(saved)
        # A backup under another name than its manifest's.
        renamed = os.path.join(target, "20990101T000000.000000Z-full-deadbeef")
        os.rename(os.path.join(target, other["id"]), renamed)
        code, results = self.verify(target, "--backup", os.path.basename(renamed))
        self.assertEqual(code, 1, results)
        self.assertIn("directory renamed", results[0]["problem"])
        os.rename(renamed, os.path.join(target, other["id"]))
        self.assertEqual(self.verify(target)[0], 0)

    def test_wrong_root_key_missing_target_and_full_disk_fail_cleanly(self):
        self.write(["k%d" % i for i in range(20)])
        self.backup("full")
        # Another vault's sealed key (same passphrase): the backup does not open.
        other = os.path.join(self.workdir, "other")
        done = run_cli("init", "--data-dir", other, "--output", "json")
        self.assertEqual(done.returncode, 0, done.stderr)
        destination = os.path.join(self.workdir, "wrong-key")
        done = self.restore(destination, "--sealed-key",
                            os.path.join(other, "keys", "root.sealed"), expect=1)
        self.assertIn("root key", done.stderr)
        self.assertFalse(os.path.exists(destination))
        # A wrong passphrase.
        done = run_cli("backup", "verify", "--data-dir", self.server.data_dir, "--target",
                       self.targets[0], env={"STRONGROOM_UNSEAL_PASSPHRASE": "not the passphrase"})
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("cannot open the root key", done.stderr)
        # A missing target: nothing written anywhere.
        missing = os.path.join(self.workdir, "nope")
        done = run_cli("backup", "create", "--full", "--data-dir", self.server.data_dir,
                       "--target", self.targets[1], "--target", missing)
        self.assertEqual(done.returncode, 2)
        self.assertIn("nope does not exist", done.stderr)
        self.assertEqual(len(os.listdir(self.targets[1])), 2)  # the first backup and .lock
        # An incremental with no backup to base it on.
        empty = os.path.join(self.workdir, "empty")
        os.makedirs(empty)
        done = run_cli("backup", "create", "--incremental", "--data-dir", self.server.data_dir,
                       "--target", empty)
        self.assertEqual(done.returncode, 2)
        self.assertIn("take a full backup first", done.stderr)

    @unittest.skipUnless(os.geteuid() == 0, "mounting a tiny filesystem needs root")
    def test_a_full_target_is_reported_and_the_other_keeps_the_backup(self):
        self.write(["f%d" % i for i in range(300)])
        small = os.path.join(self.workdir, "small")
        os.makedirs(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", small], check=True)
        self.addCleanup(subprocess.run, ["umount", "-l", small])
        report = self.backup("full", self.targets[0], small, expect=1)
        by_target = {t["target"]: t for t in report["targets"]}
        self.assertTrue(by_target[self.targets[0]]["ok"])
        self.assertFalse(by_target[small]["ok"])
        self.assertIn("No space left on device", by_target[small]["error"])
        self.assertEqual(sorted(os.listdir(small)), [".lock"])  # nothing half-written left
        self.assertEqual(self.verify(self.targets[0])[0], 0)
        # Restoring onto a full disk: refused, nothing left behind.
        destination = os.path.join(small, "vault")
        done = self.restore(destination, expect=1)
        self.assertRegex(done.stderr, "No space left on device|disk is full")
        self.assertEqual(sorted(os.listdir(small)), [".lock"])

    @unittest.skipUnless(shutil.which("strace"), "strace is installed by scripts/install-deps --test")
    def test_every_file_is_synced_and_read_back_before_the_backup_is_renamed_into_place(self):
        """Pieces are synced and read back on the checker's thread while later pieces are
        prepared (docs/backup.md): the trace shows each file of each target fdatasync'ed on the
        descriptor it was written through, then read back, before its directory's rename."""
        # About 6 MB of records: two store pieces, so pieces are written while others are checked.
        self.write(["s%d" % i for i in range(6000)], lambda tag: tag + " " + "n" * 1000)
        trace = os.path.join(self.workdir, "backup.trace")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        env["STRONGROOM_UNSEAL_PASSPHRASE"] = PASSPHRASE
        done = subprocess.run(
            ["strace", "-f", "-qq", "-y", "-o", trace, "-e", "signal=none", "-e",
             "trace=openat,pwrite64,fdatasync,fadvise64,read,rename,renameat,renameat2", BIN,
             "backup", "create", "--full",
             "--data-dir", self.server.data_dir, "--target", self.targets[0], "--target",
             self.targets[1], "--output", "json"],
            capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        self.assertEqual(done.returncode, 0, done.stderr)
        backup_id = json.loads(done.stdout)["id"]
        steps = {}  # path in a partial directory -> the steps seen, in order
        renamed = set()
        # "PID call(FD</path>, ..." or "PID openat(AT_FDCWD</cwd>, "/path", ..." (strace -f -y).
        call = re.compile(r"^(?:\d+ +)?(\w+)\((?:\d+<([^>]*)>|[^,]*, \"([^\"]*)\")")
        rename = re.compile(r"^(?:\d+ +)?rename(?:at2?)?\((?:[^,\"]*, )?\"([^\"]*)\", ")
        for line in open(trace):
            match = call.match(line)
            if not match or re.search(r"= -1 \w+", line):
                continue
            name, path = match.group(1), match.group(2) or match.group(3)
            if name in ("rename", "renameat", "renameat2"):
                renamed.add(rename.match(line).group(1))
            elif ".partial/" in path and not any(path.startswith(r + "/") for r in renamed):
                step = {"pwrite64": "write", "fdatasync": "sync", "read": "read"}.get(name)
                if name == "fadvise64" and "POSIX_FADV_DONTNEED" in line:
                    step = "drop"  # the page cache dropped: the read-back comes from the disk
                if name == "openat":
                    step = "open-read" if "O_RDONLY" in line else "create"
                if step and steps.setdefault(path, [])[-1:] != [step]:
                    steps[path].append(step)
        for target in self.targets:
            partial = os.path.join(target, "." + backup_id + ".partial")
            self.assertIn(partial, renamed)
            files = sorted(os.listdir(os.path.join(target, backup_id)))
            self.assertIn("manifest.json", files)
            self.assertGreater(len(files), 3)
            for name in files:
                self.assertEqual(steps.get(os.path.join(partial, name)),
                                 ["create", "write", "sync", "open-read", "drop", "read"], name)
        # Any other step after the rename would have been left out above: none is expected.
        self.assertEqual(len(steps), sum(len(os.listdir(os.path.join(t, backup_id)))
                                         for t in self.targets))

    def test_kill_9_during_a_backup_leaves_every_backup_good(self):
        # About 3.5 MB of records: a backup runs for tens of milliseconds after its first piece
        # reaches the target (a vault a tenth of the size was done within the kill's delay).
        self.write(["k%d" % i for i in range(4000)], lambda tag: tag + " " + "k" * 800)
        self.backup("full", self.targets[0])
        rng = random.Random(20261123)
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        env["STRONGROOM_UNSEAL_PASSPHRASE"] = PASSPHRASE
        pieces_written = lambda: glob.glob(os.path.join(self.targets[0], ".*.partial", "*.piece"))
        killed_while_writing = 0
        for attempt in range(4):
            proc = subprocess.Popen([BIN, "backup", "create", "--incremental" if attempt % 2
                                     else "--full", "--data-dir", self.server.data_dir,
                                     "--target", self.targets[0]], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Past the unseal (Argon2id): once the first piece is on the target, kill at once or
            # a few milliseconds later, while the rest is being read and written.
            wait_until(lambda: pieces_written() or proc.poll() is not None, timeout=30,
                       step=0.001)
            time.sleep(rng.uniform(0, 0.005))
            if proc.poll() is None and pieces_written():
                killed_while_writing += 1
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            self.write(["after%d" % attempt])
        self.assertGreater(killed_while_writing, 0, "no kill landed mid-backup")
        code, results = self.verify(self.targets[0])
        self.assertEqual(code, 0, results)
        report = self.backup("incremental", self.targets[0])
        self.assertEqual([n for n in os.listdir(self.targets[0]) if n.endswith(".partial")], [])
        restored = self.restore(os.path.join(self.workdir, "after-kill"), "--backup", report["id"])
        self.assertEqual(restored["chain"][-1], report["id"])

    def test_a_terminal_gets_a_progress_bar(self):
        self.write(["g%d" % i for i in range(50)])
        leader, follower = pty.openpty()
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        env["STRONGROOM_UNSEAL_PASSPHRASE"] = PASSPHRASE
        try:
            done = subprocess.run([BIN, "backup", "create", "--full", "--data-dir",
                                   self.server.data_dir, "--target", self.targets[0]],
                                  env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=follower, timeout=120)
            os.close(follower)
            shown = b""
            while True:
                try:
                    chunk = os.read(leader, 4096)
                except OSError:  # EIO: the terminal's other side is closed, all is read
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(leader)
        self.assertEqual(done.returncode, 0, shown)
        # The last redraw: everything done, bytes, rate and time left.
        self.assertRegex(shown.decode(), r"full backup 100% [\d.]+ MiB of [\d.]+ MiB, "
                                         r"[\d.]+ MiB/s, ETA 0 s")

    def test_prune_keeps_the_newest_generations(self):
        self.write(["p0"])
        fulls = []
        for generation in range(3):
            fulls.append(self.backup("full", self.targets[0])["id"])
            self.write(["p%d" % (generation + 1)])
            self.backup("incremental", self.targets[0])
        done = run_cli("backup", "prune", "--target", self.targets[0], "--keep-full", "2")
        self.assertEqual(done.returncode, 0, done.stderr)
        listed = json.loads(run_cli("backup", "list", "--target", self.targets[0], "--output",
                                    "json").stdout)
        self.assertEqual(len(listed), 4)
        self.assertEqual(sorted({b["full"] for b in listed}), sorted(fulls[1:]))
        self.assertEqual(self.verify(self.targets[0])[0], 0)


if __name__ == "__main__":
    unittest.main()
