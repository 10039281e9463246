"""Documents end to end over real HTTPS: streamed upload and download, limits, bad input,
abandoned and crash-cut uploads, tampered chunks below the barrier, bounded server memory, and
no plaintext in any file of the vault."""
import base64
import hashlib
import http.client
import json
import os
import sqlite3
import time
import unittest

from harness import ServerTestCase, parse_response, read_until_closed

CHUNK = 64 << 10


def payload(size, seed=b"doc"):
    """Deterministic, incompressible bytes (SHA-256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def wait_until(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("%s not reached within %.0fs" % (what, timeout))


class DocumentsTest(ServerTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.make_server()
        self.subject = self.new_subject()

    def new_subject(self):
        status, subject = self.server.api("POST", "/v1/subjects", {})
        self.assertEqual(status, 201, subject)
        return subject["id"]

    def path(self, doc=None, subject=None):
        base = "/v1/subjects/%s/documents" % (subject or self.subject)
        return base if doc is None else base + "/" + doc

    def auth(self, **extra):
        return {"Authorization": "Bearer " + self.server.app_token, **extra}

    def upload(self, data, content_type="application/pdf", subject=None, chunked=False):
        conn = self.server.https(timeout=60)
        try:
            headers = self.auth()
            if content_type is not None:
                headers["Content-Type"] = content_type
            if chunked:  # an iterable body: http.client sends it with chunked transfer coding
                pieces = (data[i:i + 10007] for i in range(0, len(data), 10007))
                conn.request("POST", self.path(subject=subject), body=pieces, headers=headers,
                             encode_chunked=True)
            else:
                conn.request("POST", self.path(subject=subject), body=data, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()

    def download(self, doc, subject=None):
        return self.server.request("GET", self.path(doc, subject), headers=self.auth())

    def documents_db(self, query, args=()):
        db = sqlite3.connect(os.path.join(self.server.data_dir, "documents.db"))
        try:
            return db.execute(query, args).fetchall()
        finally:
            db.close()

    def count(self, space):
        return self.documents_db("SELECT count(*) FROM kv WHERE space = ?", (space.encode(),))[0][0]

    def test_round_trip_at_every_chunk_boundary(self):
        sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17, 17 * CHUNK + 5]
        ids = []
        for size in sizes:
            data = payload(size, seed=b"%d" % size)
            status, doc = self.upload(data, chunked=size % 2 == 1)
            self.assertEqual(status, 201, doc)
            self.assertEqual(set(doc), {"id", "subject", "content_type", "size", "sha256",
                                        "created_at"})
            self.assertEqual((doc["subject"], doc["content_type"], doc["size"], doc["sha256"]),
                             (self.subject, "application/pdf", size, hashlib.sha256(data).hexdigest()))
            status, headers, body = self.download(doc["id"])
            self.assertEqual(status, 200)
            self.assertEqual(body, data, "size %d" % size)
            self.assertEqual(headers["Content-Type"], "application/pdf")
            self.assertEqual(headers["Content-Length"], str(size))
            self.assertEqual(headers["Content-Disposition"], "attachment")
            self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
            self.assertEqual(headers["Repr-Digest"],
                             "sha-256=:%s:" % base64.b64encode(hashlib.sha256(data).digest()).decode())
            ids.append(doc["id"])
        # documents.db has 64 KiB pages (a chunk is one page write, not 16).
        self.assertEqual(self.documents_db("PRAGMA page_size"), [(65536,)])
        # Stored as ceil(size / 64 KiB) chunks, one for an empty document.
        self.assertEqual(self.count("chunks"), sum(max(1, -(-s // CHUNK)) for s in sizes))
        status, listed = self.server.api("GET", self.path() + "?limit=200")
        self.assertEqual(status, 200, listed)
        self.assertEqual(sorted(d["id"] for d in listed["documents"]), sorted(ids))
        self.assertIsNone(listed["next_cursor"])
        status, page = self.server.api("GET", self.path() + "?limit=3")
        self.assertEqual((status, len(page["documents"])), (200, 3))
        status, rest = self.server.api("GET", self.path() + "?limit=200&cursor=" + page["next_cursor"])
        self.assertEqual(len(rest["documents"]), len(sizes) - 3)
        # Without a Content-Type the document is application/octet-stream.
        status, doc = self.upload(b"x", content_type=None)
        self.assertEqual((status, doc["content_type"]), (201, "application/octet-stream"))

    def test_pipelined_requests_after_a_streamed_upload_and_download(self):
        data = payload(2 * CHUNK + 3)
        conn = self.server.https()
        try:
            conn.request("POST", self.path(), body=data,
                         headers=self.auth(**{"Content-Type": "text/plain; charset=utf-8"}))
            response = conn.getresponse()
            doc = json.loads(response.read())
            self.assertEqual(response.status, 201, doc)
            self.assertEqual(doc["content_type"], "text/plain; charset=utf-8")
            for _ in range(2):  # the same connection serves more requests after each stream
                conn.request("GET", self.path(doc["id"]), headers=self.auth())
                response = conn.getresponse()
                self.assertEqual((response.status, response.read()), (200, data))
            conn.request("GET", "/v1/subjects/" + self.subject, headers=self.auth())
            response = conn.getresponse()
            self.assertEqual(response.status, 200)
            response.read()
        finally:
            conn.close()

    def test_expect_100_continue_gets_the_go_ahead_only_when_accepted(self):
        data = payload(CHUNK + 9)
        head = ("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Content-Type: application/pdf\r\nContent-Length: %d\r\n"
                "Expect: 100-continue\r\n\r\n")
        with self.server.tls_socket() as s:
            s.sendall((head % (self.path(), self.server.app_token, len(data))).encode())
            interim = s.recv(4096)
            self.assertTrue(interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim)
            s.sendall(data)
            s.sendall(b"GET /v1/subjects/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      b"Authorization: Bearer %s\r\n\r\n"
                      % (self.subject.encode(), self.server.app_token.encode()))
            raw = read_until_closed(s)
        status, _, body = parse_response(raw)
        self.assertEqual(status, 201, body)
        self.assertIn(b"HTTP/1.1 200 OK", raw)  # the pipelined request after it was served
        # Refused from the headers: the final answer comes instead of 100, no body is read.
        with self.server.tls_socket() as s:
            s.sendall((head % (self.path(subject="sub_AAAAAAAAAAAAAAAAAAAAAA"),
                               self.server.app_token, len(data))).encode())
            status, _, body = parse_response(read_until_closed(s))
        self.assert_error(status, body, 404, "not_found")
        self.assertEqual(self.count("documents"), 1)

    def test_delete_removes_manifest_and_chunks(self):
        status, doc = self.upload(payload(5 * CHUNK))
        self.assertEqual(status, 201)
        self.assertEqual(self.count("chunks"), 5)
        status, body = self.server.api("DELETE", self.path(doc["id"]))
        self.assertEqual(status, 204, body)
        self.assertEqual((self.count("documents"), self.count("chunks")), (0, 0))
        status, _, body = self.download(doc["id"])
        self.assert_error(status, body, 404, "not_found")
        status, body = self.server.api("DELETE", self.path(doc["id"]))
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))

    def test_bad_input_is_refused_and_nothing_is_written(self):
        for content_type in ["pdf", "application/", "/pdf", "text/plain; charset", "a b/c",
                             "text/plain; x=\"unterminated", "a/" + "b" * 300]:
            status, body = self.upload(b"data", content_type=content_type)
            self.assertEqual(status, 400, (content_type, body))
            self.assertEqual(body["error"]["details"], {"path": "Content-Type", "rule": "media_type"})
        status, body = self.upload(b"data", subject="sub_AAAAAAAAAAAAAAAAAAAAAA")
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
        status, body = self.upload(b"data", subject="../etc")
        self.assertEqual((status, body["error"]["code"]), (404, "not_found"))
        for doc in ["doc_AAAAAAAAAAAAAAAAAAAAAA", "nope", "doc_%2e%2e"]:
            status, _, body = self.download(doc)
            self.assert_error(status, body, 404, "not_found")
        status, _, body = self.server.request("POST", self.path(), body=b"x")  # no token
        self.assert_error(status, body, 401, "unauthenticated")
        status, _, body = self.server.request("POST", self.path() + "?name=x", body=b"x",
                                              headers=self.auth())
        self.assert_error(status, body, 400, "invalid_argument")
        status, _, body = self.server.request("GET", self.path("x") + "?inline=1",
                                              headers=self.auth())
        self.assert_error(status, body, 400, "invalid_argument")
        self.assertEqual((self.count("documents"), self.count("chunks"), self.count("uploads")),
                         (0, 0, 0))

    def test_size_limit_with_and_without_content_length(self):
        server = self.make_server("--limits-max-document-bytes", str(4 * CHUNK))
        self.server = server
        self.subject = self.new_subject()
        status, doc = self.upload(payload(4 * CHUNK))
        self.assertEqual(status, 201, doc)
        # Declared too large: refused from the headers, before a byte of the body is read.
        with server.tls_socket() as s:
            s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                       "Content-Type: application/pdf\r\nContent-Length: %d\r\n\r\n"
                       % (self.path(), server.app_token, 4 * CHUNK + 1)).encode())
            status, _, body = parse_response(read_until_closed(s))
        self.assert_error(status, body, 413, "payload_too_large")
        # Chunked, cut off once it passes the limit; the chunks written so far are deleted.
        status, body = self.upload(payload(6 * CHUNK), chunked=True)
        self.assertEqual((status, body["error"]["code"]), (413, "payload_too_large"))
        wait_until(lambda: self.count("chunks") == 4 and self.count("uploads") == 0,
                   what="the refused upload's chunks deleted")
        self.assertEqual(self.count("documents"), 1)

    def test_abandoned_upload_is_deleted(self):
        declared = 40 * CHUNK
        s = self.server.tls_socket()
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/pdf\r\nContent-Length: %d\r\n\r\n"
                   % (self.path(), self.server.app_token, declared)).encode())
        s.sendall(payload(20 * CHUNK))  # past the first durable batch of 16 chunks
        wait_until(lambda: self.count("chunks") >= 16, what="the first batch stored")
        self.assertEqual(self.count("uploads"), 1)
        s.close()  # the client goes away mid-body
        wait_until(lambda: self.count("chunks") == 0 and self.count("uploads") == 0,
                   what="the abandoned upload deleted")
        self.assertEqual(self.count("documents"), 0)

    def test_upload_cut_by_a_crash_is_swept_at_start(self):
        s = self.server.tls_socket()
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/pdf\r\nContent-Length: %d\r\n\r\n"
                   % (self.path(), self.server.app_token, 40 * CHUNK)).encode())
        s.sendall(payload(20 * CHUNK))
        wait_until(lambda: self.count("chunks") >= 16, what="the first batch stored")
        self.server.kill()
        s.close()
        self.assertGreaterEqual(self.count("chunks"), 16)
        self.assertEqual(self.count("uploads"), 1)
        self.server.start()
        event = self.server.wait_for_event("documents.abandoned_uploads_deleted")[0]
        self.assertEqual(event["count"], 1)
        self.assertEqual((self.count("chunks"), self.count("uploads")), (0, 0))

    def stored_chunks(self, doc):
        rows = self.documents_db("SELECT key, value FROM kv WHERE space = ? ORDER BY key",
                                 (b"chunks",))
        return [(k, bytes(v)) for k, v in rows if ("/%s/" % doc).encode() in bytes(k)]

    def set_chunk(self, key, value):
        db = sqlite3.connect(os.path.join(self.server.data_dir, "documents.db"))
        try:
            if value is None:
                db.execute("DELETE FROM kv WHERE space = ? AND key = ?", (b"chunks", key))
            else:
                db.execute("UPDATE kv SET value = ? WHERE space = ? AND key = ?",
                           (value, b"chunks", key))
            db.commit()
        finally:
            db.close()

    def test_tampered_reordered_truncated_and_spliced_chunks_are_refused(self):
        data = payload(3 * CHUNK + 100)
        docs = [self.upload(data)[1]["id"] for _ in range(6)]
        other = self.upload(payload(3 * CHUNK + 100, seed=b"other"))[1]["id"]
        self.server.stop()
        chunks = {d: self.stored_chunks(d) for d in docs + [other]}
        # 0: a byte flipped in the middle chunk; 1: chunks 1 and 2 swapped; 2: the last chunk
        # removed; 3: chunk 0 taken from another document; 4: the first chunk flipped.
        (k, v) = chunks[docs[0]][1]
        self.set_chunk(k, v[:50] + bytes([v[50] ^ 1]) + v[51:])
        (k1, v1), (k2, v2) = chunks[docs[1]][1], chunks[docs[1]][2]
        self.set_chunk(k1, v2)
        self.set_chunk(k2, v1)
        self.set_chunk(chunks[docs[2]][3][0], None)
        self.set_chunk(chunks[docs[3]][0][0], chunks[other][0][1])
        (k, v) = chunks[docs[4]][0]
        self.set_chunk(k, v[:20] + bytes([v[20] ^ 0x80]) + v[21:])
        # 5: the clear chunk count in the manifest lowered to drop the last chunk.
        db = sqlite3.connect(os.path.join(self.server.data_dir, "documents.db"))
        (key, manifest), = [(k, v) for k, v in db.execute(
            "SELECT key, value FROM kv WHERE space = ?", (b"documents",)).fetchall()
            if bytes(k).endswith(docs[5].encode())]
        m = json.loads(bytes(manifest))
        m["chunks"] = 3
        db.execute("UPDATE kv SET value = ? WHERE space = ? AND key = ?",
                   (json.dumps(m).encode(), b"documents", key))
        db.commit()
        db.close()
        self.server.start()
        # Damage at the start is found before the response begins: a clean data_loss error.
        for doc in (docs[3], docs[4], docs[5]):
            status, _, body = self.download(doc)
            self.assert_error(status, body, 500, "data_loss")
            self.assertNotIn(data[:16], body)
        # Damage further in cuts the response short: the client never gets a complete body.
        for doc in (docs[0], docs[1], docs[2]):
            conn = self.server.https()
            try:
                conn.request("GET", self.path(doc), headers=self.auth())
                response = conn.getresponse()
                self.assertEqual(response.status, 200)
                with self.assertRaises(http.client.IncompleteRead):
                    response.read()
            finally:
                conn.close()
        events = self.server.wait_for_event("security.ciphertext_rejected")
        wait_until(lambda: len(self.server.events("security.ciphertext_rejected")) >= 6,
                   what="six security events")
        rejected = {(e["object_id"], e["field"]) for e in self.server.events("security.ciphertext_rejected")}
        self.assertEqual(rejected, {(docs[0], "chunk 1"), (docs[1], "chunk 1"), (docs[2], "chunk 3"),
                                    (docs[3], "chunk 0"), (docs[4], "chunk 0"), (docs[5], "chunks")})
        self.assertTrue(events)
        # Logged asynchronously: the client can see the cut before the line is written.
        wait_until(lambda: len(self.server.events("http.stream_aborted")) >= 3,
                   what="three aborted streams logged")
        self.assertEqual(len(self.server.events("http.stream_aborted")), 3)
        # Each cut download has two audit entries under one request id: the 200 written before
        # the first byte left, then the cut (500, its code, rule stream_aborted), written before
        # the connection was cut.
        auditor = self.server.principal_token("doc-auditor", ["auditor"], kind="user",
                                              scopes=["audit:read"])["token"]
        status, page = self.server.api("GET", "/v1/audit?action=document.read&limit=500",
                                       token=auditor)
        self.assertEqual(status, 200, page)
        for doc in (docs[0], docs[1], docs[2]):
            entries = [e for e in page["entries"] if doc in e["resource"].get("ids", [])]
            self.assertEqual([e["outcome"] for e in entries],
                             [{"status": 200, "code": "ok"},
                              {"status": 500, "code": "data_loss",
                               "details": {"path": "", "rule": "stream_aborted"}}], doc)
            self.assertEqual(entries[0]["request_id"], entries[1]["request_id"])
        for doc in (docs[3], docs[4], docs[5]):  # refused before the answer began: one entry
            entries = [e for e in page["entries"] if doc in e["resource"].get("ids", [])]
            self.assertEqual([e["outcome"]["status"] for e in entries], [500], doc)
        # The untouched document still reads in full.
        self.assertEqual(self.download(other)[2], payload(3 * CHUNK + 100, seed=b"other"))

    def test_sealed_and_wrong_role(self):
        status, doc = self.upload(b"hello")
        self.assertEqual(status, 201)
        status, body = self.server.api("POST", "/v1/sys/seal", {})
        self.assertEqual(status, 200, body)
        status, body = self.upload(b"data")
        self.assertEqual((status, body["error"]["code"]), (503, "sealed"))
        status, _, body = self.download(doc["id"])
        self.assert_error(status, body, 503, "sealed")

    def test_server_memory_stays_bounded_for_a_large_document(self):
        def high_water_kib():
            with open("/proc/%d/status" % self.server.proc.pid) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
            raise AssertionError("no VmHWM")
        self.upload(payload(CHUNK))  # warm every code path once
        # Reset the peak (unsealing's Argon2 set it far above anything measured here).
        with open("/proc/%d/clear_refs" % self.server.proc.pid, "w") as f:
            f.write("5")
        before = high_water_kib()
        size = 64 << 20  # the default limit
        data = payload(size, seed=b"large")
        status, doc = self.upload(data, chunked=True)
        self.assertEqual(status, 201, doc)
        self.assertEqual(self.download(doc["id"])[2], data)
        grown_mib = (high_water_kib() - before) / 1024
        # Whole in memory would be 64 MiB at least; streaming needs a few buffers.
        self.assertLess(grown_mib, 24, "peak memory grew %.1f MiB" % grown_mib)

    def test_no_plaintext_below_the_barrier(self):
        marker = b"MarkerDocument5e7a-" * 4000  # spans two chunks
        content_type = "application/x-marker-type-3c9d"
        status, doc = self.upload(marker, content_type=content_type)
        self.assertEqual(status, 201, doc)
        self.assertEqual(self.download(doc["id"])[2], marker)
        self.server.stop()
        needles = [b"MarkerDocument5e7a", content_type.encode(),
                   hashlib.sha256(marker).hexdigest().encode(),
                   base64.b64encode(hashlib.sha256(marker).digest()),
                   base64.b64encode(marker[:300])[:40], marker[:30].hex().encode()]
        self.assert_nowhere(self.server, needles, min_files=7)


if __name__ == "__main__":
    unittest.main()
