"""The server's own backups (docs/backup.md, "Schedule", "Restore drill", "Admin API"): the
schedule runs full and incremental backups and the restore drill by itself, the admin API queues
jobs and shows their progress, and failures and lateness show in metrics, the log and the audit
trail.

Bounded: every wait polls with a deadline; intervals are seconds long."""
import json
import os
import time
import unittest

import test_backup  # its collection (the module, not its tests: they run in their own suite)
from harness import ServerTestCase, counter, run_cli, samples, wait_until

COLLECTION = test_backup.COLLECTION
MARKER = "Marker-Scheduled-Okapi"


def gauge(server, name, **labels):
    for (sample_name, sample_labels), value in samples(server.metrics_text()).items():
        if sample_name == name and dict(sample_labels) == labels:
            return value
    return None


class BackupServiceTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.targets = [os.path.join(self.workdir, "t1"), os.path.join(self.workdir, "t2")]
        for target in self.targets:
            os.makedirs(target)

    def populate(self, server, count=30):
        self.assertEqual(server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        subject = server.api("POST", "/v1/subjects", {})[1]["id"]
        items = [{"subject_id": subject, "fields": {"tag": "t%d" % i, "note": MARKER}}
                 for i in range(count)]
        status, result = server.api("POST", "/v1/collections/people/records/batch",
                                    {"records": items})
        self.assertEqual(status, 200, result)

    def wait_job(self, server, job_id, timeout=60):
        job = {}

        def finished():
            nonlocal job
            status, job = server.api("GET", "/v1/backups/jobs/" + job_id)
            self.assertEqual(status, 200, job)
            return job["state"] in ("succeeded", "failed")

        self.assertTrue(wait_until(finished, timeout=timeout, step=0.2), job)
        return job

    def audit_entries(self, server, action):
        auditor = getattr(self, "_auditor", None)
        if auditor is None:
            auditor = self._auditor = server.principal_token(
                "the-auditor", ["auditor"], kind="user", scopes=["audit:read"])["token"]
        status, page = server.api("GET", "/v1/audit?limit=200&action=" + action, token=auditor)
        self.assertEqual(status, 200, page)
        return page["entries"]

    def test_the_schedule_runs_full_incremental_and_drill_by_itself(self):
        server = self.make_server("--audit-checkpoint-interval-ms", "200")
        self.populate(server)
        server.stop()
        server.args += ["--backup-targets", ",".join(self.targets),
                        "--backup-full-interval-seconds", "3600",
                        "--backup-incremental-interval-seconds", "2",
                        "--backup-drill-interval-seconds", "3600"]
        server.start()

        def succeeded(kind):
            value = gauge(server, "strongroom_backup_last_success_timestamp_seconds", kind=kind)
            return value is not None and value > 0

        for kind in ("full", "incremental", "drill"):
            self.assertTrue(wait_until(lambda: succeeded(kind), timeout=90, step=0.2),
                            kind + "\n" + server.log_text())
        status, listing = server.api("GET", "/v1/backups")
        self.assertEqual(status, 200, listing)
        for target in listing["targets"]:
            kinds = [b["kind"] for b in target["backups"]]
            self.assertEqual(kinds[0], "full", target)
            self.assertIn("incremental", kinds, target)
        schedule = {s["kind"]: s for s in listing["schedule"]}
        self.assertEqual(set(schedule), {"full", "incremental", "drill"})
        for kind in ("full", "incremental", "drill"):
            self.assertFalse(schedule[kind]["overdue"], schedule)
            self.assertEqual(schedule[kind]["failures"], 0, schedule)
            self.assertIsNotNone(schedule[kind]["last_success"], schedule)
        self.assertEqual(gauge(server, "strongroom_backup_overdue", kind="full"), 0)
        self.assertGreater(gauge(server, "strongroom_backup_last_size_bytes", kind="full"), 0)

        # The drill restored the full backup, decrypted the records it sampled, cleaned up.
        status, jobs = server.api("GET", "/v1/backups/jobs")
        drills = [j for j in jobs["jobs"] if j["kind"] == "drill" and j["state"] == "succeeded"]
        self.assertTrue(drills, jobs)
        result = drills[-1]["result"]
        self.assertEqual(result["records_decrypted"], 5)  # 5 of the collection's 30: a sample
        self.assertEqual(result["skipped_targets"], [])
        self.assertGreater(result["audit_entries"], 0)
        self.assertEqual(drills[-1]["requested_by"], "schedule")
        drill_dir = os.path.join(server.data_dir, "backup-drill")
        self.assertEqual(os.listdir(drill_dir), ["last-success"])

        # Each finished job is a security event in the audit trail.
        entries = self.audit_entries(server, "backup.job_finished")
        targets = {e["resource"]["target"] for e in entries}
        self.assertLessEqual({"full", "incremental", "drill"}, targets, entries)
        for entry in entries:
            self.assertEqual(entry["actor"]["id"], "system:backup")
            self.assertEqual(entry["outcome"], {"status": 200, "code": "ok"})

        # No plaintext in the backups, and no personal data in the log.
        for target in self.targets:
            for root, _, files in os.walk(target):
                for name in files:
                    with open(os.path.join(root, name), "rb") as f:
                        self.assertNotIn(MARKER.encode(), f.read(), name)
        self.assertNotIn(MARKER, server.log_text())

        # A restart reads when each kind last ran: no full backup and no drill is due again.
        server.stop()
        server.start()
        status, listing = server.api("GET", "/v1/backups")
        schedule = {s["kind"]: s for s in listing["schedule"]}
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for kind in ("full", "drill"):
            self.assertIsNotNone(schedule[kind]["last_success"], schedule)
            self.assertGreater(schedule[kind]["next_due"], now, schedule)
        time.sleep(3.0)  # long enough for the incremental that is due to run
        status, jobs = server.api("GET", "/v1/backups/jobs")
        kinds = [j["kind"] for j in jobs["jobs"]]
        self.assertNotIn("full", kinds, jobs)
        self.assertNotIn("drill", kinds, jobs)

    def test_the_admin_api_queues_jobs_shows_progress_and_refuses_bad_input(self):
        restore_dir = os.path.join(self.workdir, "restores")
        os.makedirs(restore_dir)
        server = self.make_server("--audit-checkpoint-interval-ms", "200",
                                  "--backup-targets", ",".join(self.targets),
                                  "--backup-full-interval-seconds", "86400",
                                  "--backup-incremental-interval-seconds", "0",
                                  "--backup-drill-interval-seconds", "0",
                                  "--backup-keep-full", "1",
                                  "--backup-restore-dir", restore_dir)
        self.populate(server)
        # The schedule's first full backup runs at start.
        self.assertTrue(wait_until(lambda: server.events("backup.job_succeeded"), timeout=60,
                                   step=0.2), server.log_text())
        first = json.loads(server.events("backup.job_succeeded")[0]["result"])["backup_id"]

        status, job = server.api("POST", "/v1/backups", {"kind": "full"})
        self.assertEqual(status, 202, job)
        self.assertEqual((job["kind"], job["state"]), ("full", "queued"))
        self.assertTrue(job["id"].startswith("job_"))
        job = self.wait_job(server, job["id"])
        self.assertEqual(job["state"], "succeeded", job)
        self.assertEqual(job["progress"]["percent"], 100)
        self.assertGreater(job["progress"]["done_bytes"], 0)
        self.assertEqual([t["ok"] for t in job["result"]["targets"]], [True, True])
        # Retention: keep_full 1, so the schedule's first full backup is pruned.
        self.assertEqual(job["result"]["pruned"], [first, first])
        second = job["result"]["backup_id"]

        status, job = server.api("POST", "/v1/backups", {"kind": "incremental"})
        job = self.wait_job(server, job["id"])
        self.assertEqual(job["state"], "succeeded", job)
        incremental = job["result"]["backup_id"]

        # The server's keys are the CLI's: an operator verifies its backups offline.
        done = run_cli("backup", "verify", "--data-dir", server.data_dir, "--target",
                       self.targets[1], "--output", "json", timeout=120)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(sorted(b["id"] for b in json.loads(done.stdout)),
                         sorted([second, incremental]))

        status, job = server.api("POST", "/v1/backups/verify", {})
        job = self.wait_job(server, job["id"])
        self.assertEqual(job["state"], "succeeded", job)
        self.assertEqual(sorted(b["id"] for b in job["result"]["targets"][0]["backups"]),
                         sorted([second, incremental]))

        status, job = server.api("POST", "/v1/backups/restore",
                                 {"destination": "copy1", "backup_id": second})
        self.assertEqual(status, 202, job)
        job = self.wait_job(server, job["id"])
        self.assertEqual(job["state"], "succeeded", job)
        self.assertEqual(job["result"]["chain"], [second])
        restored = os.path.join(restore_dir, "copy1")
        for name in ("metadata.db", "profiles.db", "vault.json", "keys/root.sealed"):
            self.assertTrue(os.path.exists(os.path.join(restored, name)), name)

        status, job = server.api("POST", "/v1/backups/drill", {})
        job = self.wait_job(server, job["id"])
        self.assertEqual(job["state"], "succeeded", job)
        self.assertEqual(job["result"]["chain"], [second, incremental])
        self.assertEqual(job["result"]["records_decrypted"], 5)

        status, job = server.api("POST", "/v1/backups/prune", {"keep_full": 1})
        job = self.wait_job(server, job["id"])
        self.assertEqual(job["state"], "succeeded", job)
        self.assertEqual(job["result"]["targets"][0]["deleted"], [])

        # Refusals, each naming what is wrong.
        def refused(path, body, expected_status, code, at=None, raw=None):
            status, _, data = server.request(
                "POST", path, body=raw if raw is not None else json.dumps(body),
                headers={"Authorization": "Bearer " + server.admin_token,
                         "Content-Type": "application/json"})
            error = self.assert_error(status, data, expected_status, code)
            if at:
                self.assertEqual(error["details"]["path"], at, error)
                self.assertTrue(error["details"]["rule"], error)
            return error

        refused("/v1/backups", {"kind": "weekly"}, 400, "invalid_argument", "$.kind")
        refused("/v1/backups", {}, 400, "invalid_argument", "$.kind")
        refused("/v1/backups", {"kind": "full", "extra": 1}, 400, "invalid_argument", "$.extra")
        refused("/v1/backups", None, 400, "invalid_argument", raw='{"kind": "full"')
        # ("../evil" never gets here: the web application firewall refuses it first, 403.)
        refused("/v1/backups/restore", {"destination": "a/b"}, 400, "invalid_argument",
                "$.destination")
        refused("/v1/backups/restore", {"destination": ".hidden"}, 400, "invalid_argument",
                "$.destination")
        refused("/v1/backups/restore", {}, 400, "invalid_argument", "$.destination")
        refused("/v1/backups/restore", {"destination": "d2", "at": "yesterday"}, 400,
                "invalid_argument", "$.at")
        refused("/v1/backups/restore", {"destination": "d2", "backup_id": "x/y"}, 400,
                "invalid_argument", "$.backup_id")
        error = refused("/v1/backups/restore", {"destination": "copy1"}, 409, "already_exists")
        self.assertIn("copy1", error["message"])
        refused("/v1/backups/prune", {"keep_full": 0}, 400, "invalid_argument", "$.keep_full")
        refused("/v1/backups/drill", {"now": True}, 400, "invalid_argument", "$.now")
        status, body = server.api("GET", "/v1/backups/jobs/job_0000000000000000")
        self.assertEqual(status, 404, body)
        # A restore of a backup that is nowhere fails in its job, naming it.
        status, job = server.api("POST", "/v1/backups/restore",
                                 {"destination": "d3", "backup_id": "20200101T000000Z-full-00"})
        job = self.wait_job(server, job["id"])
        self.assertEqual(job["state"], "failed", job)
        self.assertEqual(job["error"]["code"], "not_found", job)
        self.assertIn("20200101T000000Z-full-00", job["error"]["message"])
        self.assertFalse(os.path.exists(os.path.join(restore_dir, "d3")))

        # Applications and other tenants' administrators may not touch backups.
        status, body = server.api("GET", "/v1/backups", token=server.app_token)
        self.assertEqual(status, 403, body)
        status, body = server.api("POST", "/v1/backups", {"kind": "full"}, token=server.app_token)
        self.assertEqual(status, 403, body)
        self.assertEqual(server.api("POST", "/v1/tenants", {"id": "other", "name": "Other"})[0],
                         201)
        other = server.principal_token("other-admin", ["admin"], tenant="other")["token"]
        for method, path, body in (("GET", "/v1/backups", None),
                                   ("POST", "/v1/backups", {"kind": "full"}),
                                   ("POST", "/v1/backups/restore", {"destination": "x"}),
                                   ("GET", "/v1/backups/jobs", None)):
            status, answer = server.api(method, path, body, token=other)
            self.assertEqual(status, 403, (path, answer))

        # The requests are audited with who made them, and each job's end as well.
        created = self.audit_entries(server, "backup.create")
        self.assertEqual(len([e for e in created if e["outcome"]["status"] == 202]), 2, created)
        for entry in [e for e in created if e["outcome"]["status"] == 202]:
            job_id = entry["resource"]["ids"][0]
            status, job = server.api("GET", "/v1/backups/jobs/" + job_id)
            self.assertEqual(job["requested_by"], entry["actor"]["id"], entry)
            self.assertNotEqual(job["requested_by"], "schedule")
        finished = self.audit_entries(server, "backup.job_finished")
        self.assertIn({"status": 500, "code": "not_found"}, [e["outcome"] for e in finished])

        # Sealed, nothing that needs the keys is accepted.
        self.assertEqual(server.api("POST", "/v1/sys/seal", {})[0], 200)
        status, _, data = server.request("POST", "/v1/backups", body=json.dumps({"kind": "full"}),
                                         headers={"Authorization": "Bearer " + server.admin_token,
                                                  "Content-Type": "application/json"})
        self.assert_error(status, data, 503, "sealed")

    def test_change_capture_backs_up_changes_and_restores_to_a_point_between(self):
        restore_dir = os.path.join(self.workdir, "restores")
        os.makedirs(restore_dir)
        server = self.make_server("--backup-targets", self.targets[0],
                                  "--backup-full-interval-seconds", "3600",
                                  "--backup-incremental-interval-seconds", "3600",
                                  "--backup-drill-interval-seconds", "0",
                                  "--backup-capture-interval-seconds", "1",
                                  "--backup-restore-dir", restore_dir)

        def captures():
            status, jobs = server.api("GET", "/v1/backups/jobs")
            return [j for j in jobs["jobs"] if j["requested_by"] == "capture"]

        def settled_capture(after=None):
            """The newest capture once captures have stopped for three intervals (a change may
            take several commits, each possibly its own capture), newer than `after`."""
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = [j for j in captures() if j["state"] == "succeeded"]
                newest = done[0]["result"]["backup_id"] if done else None
                if newest and newest != after:
                    time.sleep(3.0)
                    again = [j for j in captures() if j["state"] == "succeeded"]
                    if again[0]["result"]["backup_id"] == newest and all(
                            j["state"] == "succeeded" for j in captures()):
                        return newest
                time.sleep(0.2)
            self.fail("captures did not settle\n" + server.log_text())

        self.assertTrue(wait_until(lambda: server.events("backup.job_succeeded"), timeout=60,
                                   step=0.2), server.log_text())
        # Nothing changed since the full backup: nothing is captured.
        time.sleep(2.5)
        self.assertEqual(captures(), [])
        self.populate(server, count=3)
        first = settled_capture()
        between = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        time.sleep(1.1)
        self.assertEqual(server.api("POST", "/v1/subjects", {})[0], 201)
        second = settled_capture(after=first)
        self.assertGreater(second, first)

        status, job = server.api("POST", "/v1/backups/restore",
                                 {"destination": "pitr", "at": between})
        self.assertEqual(status, 202, job)
        job = self.wait_job(server, job["id"])
        self.assertEqual(job["state"], "succeeded", job)
        # The newest capture at or before `between`: the first change, not the second.
        self.assertEqual(job["result"]["chain"][-1], first)
        self.assertIn("-full-", job["result"]["chain"][0])

    def test_failed_and_overdue_backups_raise_alerts(self):
        missing = os.path.join(self.workdir, "not-mounted")
        server = self.make_server("--backup-targets", missing,
                                  "--backup-overdue-grace-seconds", "0",
                                  "--backup-full-interval-seconds", "60",
                                  "--backup-incremental-interval-seconds", "10")
        failed = server.wait_for_event("backup.job_failed", timeout=30)[0]
        self.assertEqual(failed["kind"], "full")
        self.assertEqual(failed["requested_by"], "schedule")
        self.assertIn(missing, failed["reason"])
        overdue = server.wait_for_event("backup.overdue", timeout=30)[0]
        self.assertEqual(overdue["kind"], "full")
        self.assertTrue(wait_until(
            lambda: gauge(server, "strongroom_backup_overdue", kind="full") == 1, timeout=30))
        self.assertGreaterEqual(counter(server, "strongroom_backup_failures_total", kind="full"), 1)
        self.assertEqual(gauge(server, "strongroom_backup_last_success_timestamp_seconds",
                               kind="full"), 0)
        status, listing = server.api("GET", "/v1/backups")
        full = [s for s in listing["schedule"] if s["kind"] == "full"][0]
        self.assertTrue(full["overdue"], full)
        self.assertIn(missing, full["last_error"])
        self.assertEqual(listing["targets"][0]["target"], missing)
        self.assertIn("error", listing["targets"][0])
        # The failure is retried by itself (a tenth of the incremental interval later).
        self.assertTrue(wait_until(lambda: len(server.events("backup.job_failed")) >= 2,
                                   timeout=30), server.log_text())
        # Once the target is there, the next try succeeds and the alert clears.
        os.makedirs(missing)
        self.assertTrue(wait_until(
            lambda: gauge(server, "strongroom_backup_overdue", kind="full") == 0, timeout=30),
            server.log_text())
        self.assertGreater(gauge(server, "strongroom_backup_last_success_timestamp_seconds",
                                 kind="full"), 0)

    def test_a_sealed_vault_queues_nothing_and_turns_overdue(self):
        server = self.make_server("--backup-targets", self.targets[0],
                                  "--backup-overdue-grace-seconds", "0", sealed=True)
        waiting = server.wait_for_event("backup.waiting_for_keys", timeout=30)[0]
        self.assertIn("sealed", waiting["reason"])
        self.assertTrue(wait_until(
            lambda: gauge(server, "strongroom_backup_overdue", kind="full") == 1, timeout=30))
        self.assertEqual(server.events("backup.job_failed"), [])
        self.assertEqual(counter(server, "strongroom_backup_failures_total"), 0)
        self.assertEqual(os.listdir(self.targets[0]), [])

    def test_without_targets_backup_calls_say_what_to_set(self):
        server = self.make_server()
        status, _, data = server.request("POST", "/v1/backups", body=json.dumps({"kind": "full"}),
                                         headers={"Authorization": "Bearer " + server.admin_token,
                                                  "Content-Type": "application/json"})
        error = self.assert_error(status, data, 412, "failed_precondition")
        self.assertIn("backup.targets", error["message"])
        status, listing = server.api("GET", "/v1/backups")
        self.assertEqual(status, 200, listing)
        self.assertEqual(listing["targets"], [])
        self.assertTrue(all(s["next_due"] is None for s in listing["schedule"]), listing)


if __name__ == "__main__":
    unittest.main()
