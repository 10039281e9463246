"""The root key in an HSM through PKCS#11 (docs/keys.md, "Root key providers"), with a real
SoftHSM2 token whose files live in the test's directory: `strongroom rekey --to pkcs11` moves a
vault's root key into the token and `--to sealed_file` back out, re-encrypting nothing; a server
with keys.provider = pkcs11 unseals with the token's PIN (at start, and through
POST /v1/sys/unseal); a backup restores with the token; `init` can start a vault in the token.

Bounded: every CLI call and server start has a timeout."""
import json
import os
import shutil
import subprocess
import unittest

from harness import PASSPHRASE, Server, ServerTestCase, run_cli

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "strongroom-it"
PIN = "pin-Zq7x-3141"
NEW_PASSPHRASE = "a passphrase for the way back out"
COLLECTION = {"name": "people", "fields": [
    {"name": "email", "type": "email", "required": True,
     "classification": {"grade": "confidential", "category": "contact"}}]}
EMAIL = "hsm-moved@example.org"


class Pkcs11Test(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.assertTrue(os.path.exists(MODULE),
                        "%s is missing: install softhsm2 (scripts/install-deps --test)" % MODULE)
        tokens = os.path.join(self.workdir, "tokens")
        os.makedirs(tokens)
        self.conf = os.path.join(self.workdir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n"
                    % tokens)
        made = subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", TOKEN,
                               "--pin", PIN, "--so-pin", "so-pin-8642"], capture_output=True,
                              text=True, timeout=30, env={**os.environ, "SOFTHSM2_CONF": self.conf})
        self.assertEqual(made.returncode, 0, made.stderr)
        self.pin_file = self.secret_file("pin", PIN)
        self.passphrase_file = self.secret_file("new-passphrase", NEW_PASSPHRASE)
        self.pkcs11 = ["--keys-pkcs11-module", MODULE, "--keys-pkcs11-token-label", TOKEN]

    def secret_file(self, name, text):
        path = os.path.join(self.workdir, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(text + "\n")
        return path

    def cli(self, *args, secret=PASSPHRASE, timeout=60):
        return run_cli(*args, *self.pkcs11, timeout=timeout,
                       env={"SOFTHSM2_CONF": self.conf, "STRONGROOM_UNSEAL_PASSPHRASE": secret})

    @staticmethod
    def set_flags(server, *flags):
        """Sets `--flag value` pairs in the server's arguments, replacing earlier values (each
        flag may be given once)."""
        for flag, value in zip(flags[::2], flags[1::2]):
            if flag in server.args:
                at = server.args.index(flag)
                del server.args[at:at + 2]
            server.args += [flag, value]

    def create_record(self, server):
        status, subject = server.api("POST", "/v1/subjects", {})
        self.assertEqual(status, 201, subject)
        status, record = server.api("POST", "/v1/collections/people/records",
                                    {"subject_id": subject["id"], "fields": {"email": EMAIL}})
        self.assertEqual(status, 201, record)
        return record["id"]

    def read_email(self, server, record_id):
        status, got = server.api("GET", "/v1/collections/people/records/" + record_id)
        self.assertEqual(status, 200, got)
        return got["fields"]["email"]

    def keys_dir(self, server):
        return os.path.join(server.data_dir, "keys")

    def test_the_root_key_moves_into_the_token_and_back_out_and_nothing_else_changes(self):
        server = self.make_server(env={"SOFTHSM2_CONF": self.conf})
        self.assertEqual(server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        record_id = self.create_record(server)
        server.stop()
        keys = self.keys_dir(server)
        sealed = os.path.join(keys, "root.sealed")
        wrapped = os.path.join(keys, "root.p11")
        with open(os.path.join(server.data_dir, "metadata.db"), "rb") as f:
            metadata_before = f.read()

        # The current passphrase is checked before anything is written.
        done = self.cli("rekey", "--data-dir", server.data_dir, "--to", "pkcs11",
                        "--new-passphrase-file", self.pin_file, secret="not the passphrase")
        self.assertEqual(done.returncode, 1, done.stderr)
        self.assertIn("wrong current passphrase", done.stderr)
        self.assertFalse(os.path.exists(wrapped))
        self.assertTrue(os.path.exists(sealed))
        # A token that is not there is named, and nothing changes either.
        done = run_cli("rekey", "--data-dir", server.data_dir, "--to", "pkcs11",
                       "--new-passphrase-file", self.pin_file, "--keys-pkcs11-module", MODULE,
                       "--keys-pkcs11-token-label", "no-such-token",
                       env={"SOFTHSM2_CONF": self.conf}, timeout=60)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("no PKCS#11 token labelled 'no-such-token'", done.stderr)
        self.assertTrue(os.path.exists(sealed))

        # A move cut short leaves both files: running again refuses and says which to remove.
        with open(wrapped, "wb") as f:
            f.write(b"left by a move cut short")
        done = self.cli("rekey", "--data-dir", server.data_dir, "--to", "pkcs11",
                        "--new-passphrase-file", self.pin_file)
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("root.p11 already exists", done.stderr)
        os.remove(wrapped)
        # A PIN the vault sets is at least 6 characters.
        done = self.cli("rekey", "--data-dir", server.data_dir, "--to", "pkcs11",
                        "--new-passphrase-file", self.secret_file("short-pin", "12345"))
        self.assertEqual(done.returncode, 2, done.stderr)
        self.assertIn("at least 6 characters", done.stderr)

        done = self.cli("rekey", "--data-dir", server.data_dir, "--to", "pkcs11",
                        "--new-passphrase-file", self.pin_file)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Root key moved from sealed_file", done.stdout)
        self.assertNotIn(PIN, done.stdout + done.stderr)
        self.assertFalse(os.path.exists(sealed))
        self.assertEqual(os.path.getsize(wrapped), 68)
        self.assertEqual(os.stat(wrapped).st_mode & 0o777, 0o600)
        with open(os.path.join(server.data_dir, "metadata.db"), "rb") as f:
            self.assertEqual(f.read(), metadata_before)  # no KEK was re-wrapped

        # Moving again is refused: the root key is already there.
        done = self.cli("rekey", "--data-dir", server.data_dir, "--to", "pkcs11",
                        "--keys-provider", "sealed_file", "--new-passphrase-file", self.pin_file)
        self.assertEqual(done.returncode, 2)
        self.assertIn("kept by the provider pkcs11", done.stderr)

        # The server still configured for the sealed file says what to change.
        with self.assertRaises(AssertionError):
            server.start()
        server.kill()
        self.assertIn('set keys.provider = \\"pkcs11\\"', server.log_text())

        self.set_flags(server, "--keys-provider", "pkcs11", *self.pkcs11)
        server.env["STRONGROOM_UNSEAL_PASSPHRASE"] = "a wrong PIN"
        with self.assertRaises(AssertionError):
            server.start()
        server.kill()
        self.assertIn("wrong PIN for the PKCS#11 token", server.log_text())

        server.env["STRONGROOM_UNSEAL_PASSPHRASE"] = PIN
        server.start()
        self.assertEqual(server.api("GET", "/v1/sys/seal-status")[1],
                         {"sealed": False, "provider": "pkcs11"})
        self.assertEqual(self.read_email(server, record_id), EMAIL)

        # Sealed and unsealed again through the API with the PIN.
        self.assertEqual(server.api("POST", "/v1/sys/seal", {})[0], 200)
        status, body = server.api("POST", "/v1/sys/unseal", {"passphrase": "a wrong PIN"})
        self.assertEqual(status, 403, body)
        status, body = server.api("POST", "/v1/sys/unseal", {"passphrase": PIN})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.read_email(server, record_id), EMAIL)

        # A backup restores with the token: the restored vault gets root.p11, never the root key.
        target = os.path.join(self.workdir, "backups")
        os.makedirs(target)
        done = self.cli("backup", "create", "--full", "--data-dir", server.data_dir, "--target",
                        target, "--keys-provider", "pkcs11", secret=PIN, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        restored_dir = os.path.join(self.workdir, "restored", "vault")
        os.makedirs(os.path.dirname(restored_dir))
        done = self.cli("backup", "restore", "--data-dir", server.data_dir, "--target", target,
                        "--to", restored_dir, "--keys-provider", "pkcs11", secret=PIN,
                        timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(sorted(os.listdir(os.path.join(restored_dir, "keys"))), ["root.p11"])
        restored = Server(os.path.dirname(restored_dir), "--keys-provider", "pkcs11",
                          *self.pkcs11, init=False,
                          env={"SOFTHSM2_CONF": self.conf, "STRONGROOM_UNSEAL_PASSPHRASE": PIN})
        restored.init_output = server.init_output
        shutil.copy(os.path.join(server.workdir, "harness-app.token"), restored.workdir)
        self._servers.append(restored)
        restored.start()
        self.assertEqual(self.read_email(restored, record_id), EMAIL)
        restored.stop()
        self.assert_nowhere(server, [PIN.encode(), EMAIL.encode()], min_files=5)

        # A new PIN is the token's business, not the vault's.
        done = self.cli("rekey", "--data-dir", server.data_dir, "--keys-provider", "pkcs11",
                        "--new-passphrase-file", self.pin_file, secret=PIN)
        self.assertEqual(done.returncode, 2)
        self.assertIn("change the PIN with the token's own tools", done.stderr)

        # And back out to a sealed file under a new passphrase (too short is refused first).
        short_file = self.secret_file("short", "too short")
        done = self.cli("rekey", "--data-dir", server.data_dir, "--keys-provider", "pkcs11",
                        "--to", "sealed_file", "--new-passphrase-file", short_file, secret=PIN)
        self.assertEqual(done.returncode, 2)
        self.assertIn("at least 12 characters", done.stderr)
        server.stop()
        done = self.cli("rekey", "--data-dir", server.data_dir, "--keys-provider", "pkcs11",
                        "--to", "sealed_file", "--new-passphrase-file", self.passphrase_file,
                        secret=PIN)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("stays in the token", done.stdout)
        self.assertFalse(os.path.exists(wrapped))
        self.assertTrue(os.path.exists(sealed))
        self.set_flags(server, "--keys-provider", "sealed_file")
        server.env["STRONGROOM_UNSEAL_PASSPHRASE"] = NEW_PASSPHRASE
        server.start()
        self.assertEqual(server.api("GET", "/v1/sys/seal-status")[1]["provider"], "sealed_file")
        self.assertEqual(self.read_email(server, record_id), EMAIL)

    def test_init_puts_a_new_vaults_root_key_in_the_token(self):
        env = {"SOFTHSM2_CONF": self.conf, "STRONGROOM_UNSEAL_PASSPHRASE": PIN}
        server = Server(os.path.join(self.workdir, "fresh"), "--keys-provider", "pkcs11",
                        *self.pkcs11, init=False, env=env)
        done = run_cli("init", "--data-dir", server.data_dir, "--output", "json",
                       "--keys-provider", "pkcs11", *self.pkcs11, env=env, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        server.init_output = json.loads(done.stdout)
        self.assertEqual(sorted(os.listdir(os.path.join(server.data_dir, "keys"))), ["root.p11"])
        self._servers.append(server)
        server.start()
        self.assertEqual(server.api("GET", "/v1/sys/seal-status")[1]["provider"], "pkcs11")
        self.assertEqual(server.api("POST", "/v1/collections", COLLECTION)[0], 201)
        self.assertEqual(self.read_email(server, self.create_record(server)), EMAIL)

        # Started sealed with a token that is not there: the open unseal endpoint says only
        # that the provider cannot be used; the operator's log names the token.
        server.stop()
        server.env.pop("STRONGROOM_UNSEAL_PASSPHRASE")
        self.set_flags(server, "--keys-pkcs11-token-label", "gone-token")
        server.start()
        status, body = server.api("POST", "/v1/sys/unseal", {"passphrase": PIN})
        self.assertEqual(status, 412, body)
        self.assertEqual(body["error"]["code"], "failed_precondition")
        self.assertNotIn("gone-token", json.dumps(body))
        self.assertNotIn(MODULE, json.dumps(body))
        self.assertIn("no PKCS#11 token labelled 'gone-token'",
                      server.wait_for_event("vault.unseal_failed")[0]["reason"])
        self.assertNotIn(PIN, server.log_text())

    def test_a_pkcs11_provider_needs_its_token_named(self):
        done = run_cli("config", "check", "/dev/null", env={"STRONGROOM_KEYS_PROVIDER": "pkcs11"})
        self.assertEqual(done.returncode, 2)
        self.assertIn("keys.provider is pkcs11 but keys.pkcs11_module is not set", done.stderr)
        done = run_cli("config", "check", "/dev/null", env={"STRONGROOM_KEYS_PROVIDER": "hsm"})
        self.assertEqual(done.returncode, 2)
        self.assertIn("keys.provider must be sealed_file or pkcs11", done.stderr)
        done = run_cli("config", "check", "/dev/null",
                       env={"STRONGROOM_KEYS_PKCS11_MODULE": "libsofthsm2.so"})
        self.assertEqual(done.returncode, 2)
        self.assertIn("keys.pkcs11_module must be an absolute path", done.stderr)


if __name__ == "__main__":
    unittest.main()
