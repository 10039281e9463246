"""The `strongroom` command line: commands, help, exit codes, configuration layering."""
import json
import os
import socket
import unittest

from harness import NO_WAF, ServerTestCase, run_cli

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class CliTest(ServerTestCase):
    def assert_usage_error(self, done, *needles):
        self.assertEqual(done.returncode, 2, done.stderr)
        lines = done.stderr.strip().split("\n")
        self.assertEqual(len(lines), 1, done.stderr)
        for needle in needles:
            self.assertIn(needle, lines[0])
        return lines[0]

    def test_version(self):
        for args in (["version"], ["--version"]):
            done = run_cli(*args)
            self.assertEqual(done.returncode, 0)
            self.assertEqual(done.stdout.strip(), "strongroom 0.1.0")

    def test_help_on_every_command(self):
        expectations = {
            (): ["init", "serve", "unseal", "principal", "token", "config", "version"],
            ("principal",): ["list", "show", "create", "set-roles", "disable", "enable", "delete",
                             "reset-password", "unlock", "sessions", "end-sessions", "reset-2fa",
                             "--token-file", "--ca-file", "--listen", "--output"],
            ("principal", "create"): ["USERNAME", "--role", "--kind", "--tenant",
                                      "--password-file", "--password-prompt"],
            ("token",): ["list", "issue", "revoke", "--token-file"],
            ("token", "issue"): ["PRINCIPAL", "--name", "--scope", "--expires-in"],
            ("serve",): ["--config", "--listen", "--data-dir", "--metrics-listen",
                         "--limits-max-body-bytes", "--tls-cert-file"],
            ("init",): ["--data-dir", "--output", "--keys-unseal-passphrase-file"],
            ("unseal",): ["--listen", "--ca-file", "--keys-unseal-passphrase-file"],
            ("config",): ["check"],
            ("config", "check"): ["FILE"],
            ("version",): ["version"],
        }
        for command, needles in expectations.items():
            done = run_cli(*command, "--help")
            self.assertEqual(done.returncode, 0, command)
            for needle in needles:
                self.assertIn(needle, done.stdout, command)

    def test_unknown_flag(self):
        self.assert_usage_error(run_cli("serve", "--bogus"), "strongroom: error:", "--bogus")

    def test_no_command(self):
        self.assert_usage_error(run_cli(), "strongroom: error:", "subcommand")

    def test_bad_flag_value(self):
        self.assert_usage_error(run_cli("serve", "--listen", "nope"),
                                "--listen: expected HOST:PORT")
        self.assert_usage_error(run_cli("serve", "--io-threads", "0"),
                                "--io-threads: must be between 1 and 64")
        self.assert_usage_error(run_cli("init", "--output", "yaml"), "--output")

    def test_missing_config_file(self):
        self.assert_usage_error(run_cli("serve", "--config", "/nonexistent/x.toml"),
                                "cannot read config file /nonexistent/x.toml")
        self.assert_usage_error(run_cli("serve", env={"STRONGROOM_CONFIG": "/nonexistent/y.toml"}),
                                "/nonexistent/y.toml")

    def test_bad_environment_variable(self):
        self.assert_usage_error(run_cli("serve", env={"STRONGROOM_SERVER_IO_THREADS": "0"}),
                                "environment STRONGROOM_SERVER_IO_THREADS: must be between 1 and 64")
        self.assert_usage_error(run_cli("serve", env={"STRONGROOM_LISTEN": "127.0.0.1:1"}),
                                "environment STRONGROOM_LISTEN: not a Strongroom setting")

    def test_config_check(self):
        done = run_cli("config", "check", os.path.join(REPO, "strongroom.toml"))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(done.stdout.strip().endswith("strongroom.toml: ok"))
        bad = os.path.join(self.workdir, "bad.toml")
        with open(bad, "w") as f:
            f.write("[server]\nlisten = \"127.0.0.1:8443\"\n\n[limits]\nmax_body_bytes = -5\n")
        self.assert_usage_error(run_cli("config", "check", bad),
                                bad + ":5:18: limits.max_body_bytes: must be between 1024 and")
        with open(bad, "w") as f:
            f.write("[server]\nlisten = \"127.0.0.1:8443\"\nmetrics_listen = \"127.0.0.1:8443\"\n")
        self.assert_usage_error(run_cli("config", "check", bad),
                                bad + ":3:18: server.metrics_listen must differ from server.listen")

    def test_init_json_and_refusal_to_reinitialise(self):
        data_dir = os.path.join(self.workdir, "vault")
        done = run_cli("init", "--data-dir", data_dir, "--output", "json")
        self.assertEqual(done.returncode, 0, done.stderr)
        out = json.loads(done.stdout)
        self.assertRegex(out["admin_token"], r"^srt_[A-Za-z0-9_-]{43}$")
        self.assertRegex(out["admin_token_id"], r"^tok_[0-9a-f]{12}$")
        self.assertEqual(out["data_dir"], data_dir)
        self.assertTrue(out["development_certificate"])
        self.assertEqual(out["tls_certificate"], os.path.join(data_dir, "tls", "server.crt"))
        self.assertIn("SELF-SIGNED DEVELOPMENT", done.stderr)
        # The token is shown once and stored nowhere in the clear.
        for root, _, files in os.walk(data_dir):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    self.assertNotIn(out["admin_token"][4:].encode(), f.read())
        self.assert_usage_error(run_cli("init", "--data-dir", data_dir), "already holds a vault")

    def test_init_with_missing_configured_certificate(self):
        done = run_cli("init", "--data-dir", os.path.join(self.workdir, "v"),
                       "--tls-cert-file", "/nonexistent/cert.pem",
                       "--tls-key-file", "/nonexistent/key.pem")
        self.assert_usage_error(done, "cannot read certificate /nonexistent/cert.pem")
        self.assertFalse(os.path.exists(os.path.join(self.workdir, "v", "vault.json")))

    def test_init_text_output(self):
        done = run_cli("init", "--data-dir", os.path.join(self.workdir, "v"))
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertRegex(done.stdout, r"Bootstrap admin token .*\n  srt_[A-Za-z0-9_-]{43}\n")

    def test_serve_refuses_uninitialised_data_dir(self):
        done = run_cli("serve", "--data-dir", os.path.join(self.workdir, "empty"),
                       "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0")
        self.assertEqual(done.returncode, 2)
        line = json.loads(done.stderr.strip())
        self.assertEqual(line["event"], "server.start_failed")
        self.assertIn("strongroom init --data-dir", line["reason"])

    def test_serve_reports_port_in_use(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        try:
            server = self.make_server(start=False)
            server.args[server.args.index("--listen") + 1] = "127.0.0.1:%d" % taken.getsockname()[1]
            done = run_cli(*server.args)
        finally:
            taken.close()
        self.assertEqual(done.returncode, 1)
        self.assertIn("Address already in use", json.loads(done.stderr.strip())["reason"])

    def test_port_zero_is_named_in_the_first_log_line(self):
        server = self.make_server()
        self.assertEqual(server.first_log["event"], "server.listening")
        self.assertRegex(server.first_log["api"], r"^https://127\.0\.0\.1:\d+$")
        self.assertNotEqual(server.port, 0)
        self.assertEqual(server.request("GET", "/v1/health")[0], 200)

    def test_warns_when_open_file_limit_cannot_fit_max_connections(self):
        import resource

        def low_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

        server = self.make_server("--max-connections", "1024", preexec_fn=low_limit)
        warning = server.wait_for_event("server.fd_limit_low")[0]
        self.assertEqual(warning["open_file_limit"], 256)
        self.assertEqual(warning["max_connections"], 1024)
        fits = self.make_server("--max-connections", "100", preexec_fn=low_limit)
        self.assertEqual(fits.request("GET", "/v1/health")[0], 200)
        self.assertEqual(fits.events("server.fd_limit_low"), [])

    def test_layering_file_then_environment_then_flags(self):
        config = os.path.join(self.workdir, "s.toml")
        with open(config, "w") as f:
            f.write("[limits]\nmax_body_bytes = 2048\n")
        body = b'"' + b"x" * 3000 + b'"'
        headers = {"Content-Type": "application/json"}
        # GETs with bodies test the limit; the WAF would refuse them first (CRS 920170).
        from_file = self.make_server("--config", config, *NO_WAF)
        self.assertEqual(from_file.request("GET", "/v1/ready", body, headers)[0], 413)
        from_env = self.make_server("--config", config, *NO_WAF,
                                    env={"STRONGROOM_LIMITS_MAX_BODY_BYTES": "4096"})
        self.assertEqual(from_env.request("GET", "/v1/ready", body, headers)[0], 200)
        from_flag = self.make_server("--config", config, *NO_WAF, "--limits-max-body-bytes", "2048",
                                     env={"STRONGROOM_LIMITS_MAX_BODY_BYTES": "4096"})
        self.assertEqual(from_flag.request("GET", "/v1/ready", body, headers)[0], 413)




class AdminCliTest(ServerTestCase):
    """`strongroom principal` and `strongroom token` against a running server over HTTPS."""

    def setUp(self):
        super().setUp()
        self.server = self.make_server()
        self.token_file = os.path.join(self.workdir, "admin.token")
        with open(self.token_file, "w") as f:
            f.write(self.server.admin_token + "\n")
        os.chmod(self.token_file, 0o600)

    def cli(self, *args, env=None):
        where = ["--listen", "127.0.0.1:%d" % self.server.port, "--data-dir", self.server.data_dir]
        return run_cli(args[0], *where, *args[1:], env=env)

    def test_principals_and_tokens_from_the_command_line(self):
        password_file = os.path.join(self.workdir, "first.password")
        with open(password_file, "w") as f:
            f.write("a temporary passphrase 2026\n")
        done = self.cli("principal", "--token-file", self.token_file, "create", "carol@example.com",
                        "--role", "admin", "--role", "auditor", "--password-file", password_file)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Created prn_", done.stdout)
        carol = done.stdout.split()[1]
        # The token may come from the environment too; JSON output is the server's answer.
        env = {"STRONGROOM_TOKEN": self.server.admin_token}
        done = self.cli("principal", "--output", "json", "show", carol, env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        shown = json.loads(done.stdout)
        self.assertEqual((shown["username"], shown["roles"], shown["must_change_password"]),
                         ("carol@example.com", ["admin", "auditor"], True))
        done = self.cli("principal", "list", env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(carol + "  default  user  carol@example.com  admin,auditor", done.stdout)
        done = self.cli("principal", "set-roles", carol, "--role", "auditor", env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        done = self.cli("principal", "disable", carol, env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("[disabled", done.stdout)
        status, body = self.server.api("GET", "/v1/principals/" + carol)
        self.assertEqual((body["disabled"], body["roles"]), (True, ["auditor"]))
        self.assertEqual(self.cli("principal", "enable", carol, env=env).returncode, 0)
        done = self.cli("principal", "unlock", carol, env=env)
        self.assertEqual((done.returncode, done.stdout.strip()), (0, "Was not locked: %s." % carol))

        # A service account and a token for it: printed once, alone on stdout, and it works.
        done = self.cli("principal", "create", "billing-app", "--kind", "service", "--role",
                        "service", env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        app = done.stdout.split()[1]
        done = self.cli("token", "issue", app, "--name", "billing", "--scope", "data:read",
                        "--expires-in", "3600", env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        token = done.stdout.strip()
        self.assertTrue(token.startswith("srt_"), done.stdout)
        self.assertIn("shown once", done.stderr)
        status, body = self.server.api("GET", "/v1/collections", token=token)
        self.assertEqual(status, 200, body)
        done = self.cli("token", "list", "--principal", app, env=env)
        self.assertEqual(done.returncode, 0, done.stderr)
        token_id = done.stdout.split()[0]
        self.assertTrue(token_id.startswith("tok_"))
        self.assertIn("billing  data:read", done.stdout)
        self.assertNotIn(token, done.stdout)
        self.assertEqual(self.cli("token", "revoke", token_id, env=env).returncode, 0)
        status, _ = self.server.api("GET", "/v1/collections", token=token)
        self.assertEqual(status, 401)
        done = self.cli("principal", "delete", app, env=env)
        self.assertEqual((done.returncode, done.stdout.strip()), (0, "Deleted %s." % app))

        # Failures: one line, the server's code and message, exit 1; usage errors exit 2.
        done = self.cli("principal", "show", "prn_0000000000000000", env=env)
        self.assertEqual(done.returncode, 1)
        self.assertEqual(done.stderr.strip(),
                         "strongroom: error: HTTP 404 not_found: no such principal")
        done = self.cli("principal", "create", "dave", "--role", "Bad Role", env=env)
        self.assertEqual(done.returncode, 1)
        self.assertIn("invalid_argument", done.stderr)
        self.assertIn("$.roles[0]: format", done.stderr)
        done = self.cli("principal", "list")
        self.assertEqual(done.returncode, 2)
        self.assertIn("no API token", done.stderr)
        done = self.cli("principal", "list", env={"STRONGROOM_TOKEN": "srt_wrong"})
        self.assertEqual(done.returncode, 1)
        self.assertIn("HTTP 401 unauthenticated", done.stderr)
        done = self.cli("principal", "show", "../sys/seal", env=env)
        self.assertEqual(done.returncode, 2)
        done = self.cli("principal", "reset-password", carol, env=env)
        self.assertEqual(done.returncode, 2)
        self.assertIn("--password-file", done.stderr)
        # Nothing secret reached the server's log.
        self.assertNotIn(token, self.server.log_text())
        self.assertNotIn("a temporary passphrase 2026", self.server.log_text())


if __name__ == "__main__":
    unittest.main()
