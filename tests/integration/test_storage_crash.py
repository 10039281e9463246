"""Storage durability: kill -9 in a loop under concurrent writers, and fsync before every ack.

The writer is tests/storage/crash_writer (the SQLite Store with group commit). Bounded: a fixed
number of kills, each after a fraction of a second.
"""
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

WRITER = os.environ.get("STRONGROOM_CRASH_WRITER", "../../build/dev/tests/storage/crash_writer")


def acked(stdout):
    return {tuple(m.groups()) for m in re.finditer(r"^ACK (\d+) (\d+)$", stdout, re.M)}


class StorageCrashTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sr-crash-")
        self.db = os.path.join(self.dir, "store.db")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def dump(self):
        done = subprocess.run([WRITER, "dump", self.db], capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        return set(done.stdout.split())

    def test_acknowledged_batches_survive_kill_9_and_none_is_partial(self):
        rng = random.Random(20261122)
        all_acked = set()
        for round_number in range(12):
            proc = subprocess.Popen([WRITER, "write", self.db, "4"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(rng.uniform(0.15, 0.5))
            proc.send_signal(signal.SIGKILL)
            stdout, _ = proc.communicate(timeout=30)
            this_round = acked(stdout)
            self.assertTrue(this_round, "round %d acknowledged nothing" % round_number)
            all_acked |= this_round
            keys = self.dump()
            for thread, index in all_acked:
                for part in "abc":
                    self.assertIn("%s-%s-%s" % (thread, index, part), keys,
                                  "acknowledged batch %s/%s lost after kill -9" % (thread, index))
            batches = {}
            for key in keys:
                stem, _, part = key.rpartition("-")
                batches.setdefault(stem, set()).add(part)
            partial = {stem: parts for stem, parts in batches.items() if parts != set("abc")}
            self.assertEqual(partial, {}, "partially applied batches after kill -9")

    @unittest.skipUnless(shutil.which("strace"), "strace is installed by scripts/install-deps --test")
    def test_every_ack_follows_an_fsync_made_after_its_submit(self):
        trace = os.path.join(self.dir, "trace")
        proc = subprocess.Popen(
            ["strace", "-f", "-qq", "-e", "trace=write,fsync,fdatasync", "-e", "signal=none",
             "-o", trace, WRITER, "write", self.db, "4"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        # Kill the traced writer (strace then exits by itself); killing strace first would
        # leave the writer running, detached.
        subprocess.run(["pkill", "-9", "-f", "crash_writer write " + self.db], timeout=10)
        try:
            proc.communicate(timeout=30)
        finally:
            proc.kill()
        events = []  # ("submit"|"ack", id) or ("sync", None), in the order the kernel saw them
        with open(trace) as f:
            for line in f:
                # A sync counts when it completes; with -f, strace may split a call into
                # "fdatasync(4 <unfinished ...>" and "<... fdatasync resumed>) = 0".
                if re.search(r"\b(fsync|fdatasync)\(\d+\)\s+=\s+0|<\.\.\. f(data)?sync resumed>\)\s+=\s+0",
                             line):
                    events.append(("sync", None))
                m = re.search(r'write\(1, "(SUBMIT|ACK) (\d+ \d+)\\n"', line)
                if m:
                    events.append((m.group(1).lower(), m.group(2)))
        submitted_at = {}
        last_sync = -1
        checked = 0
        for position, (kind, batch) in enumerate(events):
            if kind == "sync":
                last_sync = position
            elif kind == "submit":
                submitted_at[batch] = position
            else:
                self.assertIn(batch, submitted_at)
                self.assertGreater(last_sync, submitted_at[batch],
                                   "batch %s acknowledged without an fsync after its submit" % batch)
                checked += 1
        self.assertGreater(checked, 20, "too few acknowledgements traced to judge")


if __name__ == "__main__":
    unittest.main()
