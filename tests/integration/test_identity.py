"""Reporter identity, black box (CONTRACT 4, "Reporter identity"): tokens
bound to one reporter, shared reporter tokens and the warning about them,
operator reports that need an admin token, X-Reporter checked against the
client certificate's CN under mutual TLS, and refusals (401, 403, 413)
that are answered at once and close the connection without reading the
body. Every refusal is checked to change nothing."""

import http.client
import json
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import (CLUSTERM, Clusterm, free_port, report, reporter_headers, request,  # noqa: E402
                  wait_until)

TOKENS = [
    {"name": "ops", "role": "admin", "token": "admin-token-0123456789"},
    {"name": "fwd", "role": "reporter", "token": "shared-token-0123456789"},
    {"name": "node-n1", "role": "reporter", "reporter": "n1", "token": "n1-token-0123456789"},
    {"name": "node-n2", "role": "reporter", "reporter": "n2", "token": "n2-token-0123456789"},
    {"name": "mon", "role": "reader", "token": "reader-token-0123456789"},
]


def bearer(name):
    for t in TOKENS:
        if t["name"] == name:
            return {"Authorization": "Bearer " + t["token"]}
    raise KeyError(name)


def write_tokens(path, tokens):
    with open(path, "w") as f:
        json.dump({"tokens": tokens}, f)
    os.chmod(path, 0o600)


def hdrs(token, reporter=None, seq=None):
    h = dict(bearer(token)) if token else {}
    if reporter is not None:
        if seq is not None:
            h.update(reporter_headers(reporter, seq))
        else:
            h["X-Reporter"] = reporter
    return h


# Each monitor endpoint with a body that reports node t1 (label t1, no serial).
def bodies(kind="discovered"):
    r = report("t1", "10.0.0.1", Node_Name="t1")
    alive = "alive" if kind == "discovered" else "failed"
    return [("/monitor/event/" + kind, [r]),
            ("/monitor/%s/t1" % kind, r),
            ("/monitor/event", {"monitor_event": {"name": kind, "nodes": [
                {"label": "t1", "serial": "", "addr": "10.0.0.1"}]}}),
            ("/monitor/snapshot", {"members": [dict(r, **{"Serf-Status": alive})]})]


class Identity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="clusterm-ident-")
        cls.tokens = os.path.join(cls.dir, "tokens.json")
        write_tokens(cls.tokens, TOKENS)
        cls.c = Clusterm(config={"auth": {"tokens_file": cls.tokens},
                                 "monitor": {"grace_s": 0}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        subprocess.run(["rm", "-rf", cls.dir], check=False)

    def snapshot(self):
        """What a refusal must leave as it was: t1's node (votes included)
        and the audit log."""
        st, node, _ = self.c.get("/api/v1/nodes/t1", headers=bearer("mon"))
        ev = self.c.get("/api/v1/events?limit=1000", headers=bearer("mon"))[1]["events"]
        return (st, node if st == 200 else None, len(ev), ev[-1]["id"] if ev else 0)

    def assert_refused(self, path, body, headers, *words):
        before = self.snapshot()
        st, reply, _ = self.c.post(path, body, headers=headers)
        self.assertEqual(st, 403, reply)
        for w in words:
            self.assertIn(w, reply["error"])
        self.assertEqual(self.snapshot(), before, "a 403 changed something")
        return reply["error"]

    def test_shared_tokens_warned_at_start(self):
        log = self.c.log()
        line = [ln for ln in log.splitlines() if "shared reporter token" in ln]
        self.assertEqual(len(line), 1, log)
        self.assertIn("fwd", line[0])
        self.assertIn("not authenticated", line[0])
        self.assertNotIn("node-n1", line[0])
        for t in TOKENS:
            self.assertNotIn(t["token"], log)

    def test_bound_token_reports_as_its_reporter(self):
        for i, (path, body) in enumerate(bodies()):
            with self.subTest(path=path):
                st, reply, _ = self.c.post(path, body, headers=hdrs("node-n1", "n1", 100 + i))
                self.assertEqual(st, 200, reply)
        votes = self.c.get("/api/v1/nodes/t1", headers=bearer("mon"))[1]
        self.assertIn("n1", [v["reporter"] for v in votes["votes"]])

    def test_bound_token_refused_under_another_name(self):
        # t1 exists, with n1's vote, before the refused attempts.
        st, _, _ = self.c.post("/monitor/event/discovered", [report("t1", "10.0.0.1")],
                               headers=hdrs("node-n1", "n1", 1))
        self.assertEqual(st, 200)
        for path, body in bodies("disappeared"):
            with self.subTest(path=path):
                err = self.assert_refused(path, body, hdrs("node-n2", "n1", 2),
                                          "node-n2", "n2", "n1")
                self.assertIn("bound", err)
                # Without X-Reporter: still the binding that refuses.
                self.assert_refused(path, body, hdrs("node-n2"), "node-n2", "n2",
                                    "no X-Reporter")
        st, node, _ = self.c.get("/api/v1/nodes/t1", headers=bearer("mon"))
        self.assertEqual(node["state"], "Discovered")
        self.assertNotIn("n2", [v["reporter"] for v in node["votes"]])

    def test_operator_reports_need_admin(self):
        for path, body in bodies("disappeared"):
            with self.subTest(path=path):
                self.assert_refused(path, body, hdrs("fwd"), "admin", "fwd", "X-Reporter")
        # The admin token may; its report sets the state at once.
        self.c.post("/monitor/event/discovered", [report("op1", "10.0.0.9")],
                    headers=hdrs("ops"))
        st, reply, _ = self.c.post("/monitor/event/disappeared", [report("op1", "10.0.0.9")],
                                   headers=hdrs("ops"))
        self.assertEqual(st, 200, reply)
        self.assertEqual(self.c.get("/api/v1/nodes/op1", headers=bearer("mon"))[1]["state"],
                         "Disappeared")

    def test_shared_token_votes_under_any_name(self):
        for name in ("s1", "s2", "n1"):
            st, reply, _ = self.c.post("/monitor/event/discovered", [report("sh1", "10.0.0.5")],
                                       headers=hdrs("fwd", name))
            self.assertEqual(st, 200, reply)
        votes = self.c.get("/api/v1/nodes/sh1", headers=bearer("mon"))[1]["votes"]
        self.assertEqual(sorted(v["reporter"] for v in votes), ["n1", "s1", "s2"])

    def test_refusals_counted(self):
        self.c.post("/monitor/event/discovered", [report("t9", "10.0.0.1")],
                    headers=hdrs("node-n1", "n9"))
        metrics = self.c.get("/metrics", headers=bearer("mon"))[1]
        self.assertIn("clusterm_requests_rejected_total{reason=\"auth\"}", metrics)
        self.assertIn("refused", self.c.log())


class Reload(unittest.TestCase):
    def test_sighup_warns_again_and_rebinds(self):
        d = tempfile.mkdtemp(prefix="clusterm-ident-")
        path = os.path.join(d, "tokens.json")
        write_tokens(path, [TOKENS[0], TOKENS[2]])
        c = Clusterm(config={"auth": {"tokens_file": path}})
        try:
            c.start()
            self.assertNotIn("shared reporter token", c.log())
            st, _, _ = c.post("/monitor/event/discovered", [report("r1", "10.0.0.1")],
                              headers=hdrs("node-n1", "n2"))
            self.assertEqual(st, 403)
            # node-n1 becomes a shared token.
            unbound = dict(TOKENS[2])
            del unbound["reporter"]
            write_tokens(path, [TOKENS[0], unbound])
            c.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "shared reporter token" in c.log(), what="the reload warning")
            self.assertIn("node-n1", [ln for ln in c.log().splitlines()
                                      if "shared reporter token" in ln][0])
            st, reply, _ = c.post("/monitor/event/discovered", [report("r1", "10.0.0.1")],
                                  headers=hdrs("node-n1", "n2"))
            self.assertEqual(st, 200, reply)
        finally:
            c.cleanup()
            subprocess.run(["rm", "-rf", d], check=False)


class TokensFile(unittest.TestCase):
    def check(self, entry):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "tokens.json")
            write_tokens(path, [entry])
            conf = os.path.join(d, "c.conf")
            with open(conf, "w") as f:
                json.dump({"auth": {"tokens_file": path}}, f)
            return subprocess.run([CLUSTERM, "-n", "-c", conf], capture_output=True,
                                  text=True, timeout=10)

    def test_reporter_key_checked(self):
        base = {"name": "x", "role": "reporter", "token": "abcdefghijklmnopqrstuvwxyz"}
        for bad in (5, "", "a b", "x" * 129, None, ["n1"], "n\u00011"):
            with self.subTest(bad=bad):
                p = self.check(dict(base, reporter=bad))
                self.assertEqual(p.returncode, 1, p.stdout)
                self.assertIn("reporter must be", p.stderr)
                self.assertIn("token x", p.stderr)
        p = self.check(dict(base, role="admin", reporter="n1"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("reporter is only for tokens of role reporter", p.stderr)
        p = self.check(dict(base, reporter="n1.example-net_01"))
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_reporter_from_cert_must_be_bool(self):
        with tempfile.TemporaryDirectory() as d:
            conf = os.path.join(d, "c.conf")
            with open(conf, "w") as f:
                json.dump({"auth": {"reporter_from_cert": "yes"}}, f)
            p = subprocess.run([CLUSTERM, "-n", "-c", conf], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn("auth.reporter_from_cert", p.stderr)
            # Without mutual TLS it could not be checked: refused, not ignored.
            with open(conf, "w") as f:
                json.dump({"auth": {"reporter_from_cert": True}}, f)
            p = subprocess.run([CLUSTERM, "-n", "-c", conf], capture_output=True,
                               text=True, timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn("auth.reporter_from_cert: needs mutual TLS", p.stderr)


def raw_post(port, head_extra, length, timeout=5.0):
    """Sends only the head of a POST declaring length body bytes (None: no
    Content-Length), then nothing. Returns (seconds to the whole reply, seconds to EOF or None,
    the reply's bytes)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        t0 = time.monotonic()
        s.sendall(("POST /monitor/event/discovered HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Content-Type: application/json\r\n%s%s\r\n"
                   % (head_extra, "" if length is None else
                      "Content-Length: %d\r\n" % length)).encode())
        data, t_reply, t_eof = b"", None, None
        while t_eof is None:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                t_eof = time.monotonic() - t0
                break
            data += b
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep and t_reply is None:
                n = [int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
                     if ln.lower().startswith(b"content-length:")][0]
                if len(rest) >= n:
                    t_reply = time.monotonic() - t0
        return t_reply, t_eof, data
    finally:
        s.close()


class RefusedUploads(unittest.TestCase):
    """A refusal is sent before the body is read and the connection is then
    closed: the server does not wait for (or read) a declared 1 GiB."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="clusterm-ident-")
        cls.tokens = os.path.join(cls.dir, "tokens.json")
        write_tokens(cls.tokens, TOKENS)
        cls.c = Clusterm(config={"auth": {"tokens_file": cls.tokens}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        subprocess.run(["rm", "-rf", cls.dir], check=False)

    def check_prompt(self, head_extra, status, length=1 << 30, closes=True):
        t_reply, t_eof, data = raw_post(self.c.port, head_extra, length,
                                        timeout=5.0 if closes else 1.5)
        self.assertTrue(data.startswith(b"HTTP/1.1 %d " % status), data[:200])
        self.assertIsNotNone(t_reply, data[:200])
        self.assertLess(t_reply, 1.0)
        if closes:
            self.assertIn(b"Connection: close", data)
            self.assertIsNotNone(t_eof, "the server kept the connection open")
            self.assertLess(t_eof, 1.0)
        else:
            # A body this short is still read (and dropped) after the reply.
            self.assertNotIn(b"Connection: close", data)
        return json.loads(data.partition(b"\r\n\r\n")[2])

    def test_no_token_401(self):
        self.check_prompt("", 401)

    def test_over_the_limit_413(self):
        reply = self.check_prompt("Authorization: Bearer %s\r\nX-Reporter: n1\r\n"
                                  % TOKENS[2]["token"], 413)
        self.assertIn("over the limit", reply["error"])

    def test_no_token_401_chunked(self):
        self.check_prompt("Transfer-Encoding: chunked\r\n", 401, length=None)

    def test_identity_403(self):
        # Within the limit: answered before the body is sent (or read).
        reply = self.check_prompt("Authorization: Bearer %s\r\nX-Reporter: n2\r\n"
                                  % TOKENS[2]["token"], 403, length=512 * 1024, closes=False)
        self.assertIn("node-n1", reply["error"])

    def test_body_sent_without_waiting_gets_the_reply(self):
        # Slightly over the limit, sent whole before the reply is read: the
        # client gets its 413 (and a 401 without token), not a reset.
        big = json.dumps([report("big%d" % i, "10.4.0.1", pad="x" * 1000)
                          for i in range(1200)])
        for headers, status in ((hdrs("node-n1", "n1"), 413), ({}, 401)):
            st, reply, _ = self.c.post("/monitor/event/discovered", big, headers=headers)
            self.assertEqual(st, status, reply)
        self.assertEqual(self.c.get("/healthz")[0], 200)

    def test_accepted_requests_keep_the_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.c.port, timeout=10)
        try:
            for i in range(3):
                conn.request("POST", "/monitor/event/discovered",
                             body=json.dumps([report("ka%d" % i, "10.0.0.1")]),
                             headers=dict(hdrs("node-n1", "n1"),
                                          **{"Content-Type": "application/json"}))
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
                self.assertNotEqual(r.getheader("Connection"), "close")
        finally:
            conn.close()
        self.assertEqual(self.c.get("/healthz")[0], 200)


class IntakeStoreFailure(unittest.TestCase):
    """A store that cannot write (a file size limit: writes past it fail
    with EFBIG) answers the monitor endpoints 503 with the error sentence,
    not 500."""

    def test_store_failure_is_503(self):
        tmp = tempfile.mkdtemp(prefix="clusterm-ident-store-")
        port = free_port()

        def limit():
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # EFBIG instead of a kill
            resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
        with open(os.path.join(tmp, "log"), "wb") as log:
            p = subprocess.Popen([CLUSTERM, "-l", "127.0.0.1:%d" % port, "-d",
                                  os.path.join(tmp, "state")], preexec_fn=limit,
                                 stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: request(port, "GET", "/healthz")[0] == 200, what="healthz")
            for i in range(2000):    # about 0.5 MB of batches: past the limit
                batch = [report("sf%d" % (i * 10 + j), "10.0.0.1", pad="x" * 200)
                         for j in range(10)]
                st, reply, _ = request(port, "POST", "/monitor/event/discovered", batch)
                if st != 200:
                    break
            self.assertEqual(st, 503, reply)
            self.assertIn("store", reply["error"])
            self.assertEqual(request(port, "GET", "/healthz")[0], 503)
        finally:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
            shutil.rmtree(tmp, ignore_errors=True)


def make_ca(d):
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
         "-keyout", d + "/ca.key", "-out", d + "/ca.pem")
    with open(d + "/ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def cert(who, subj):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subj,
             "-keyout", "%s/%s.key" % (d, who), "-out", "%s/%s.csr" % (d, who))
        ossl("x509", "-req", "-in", "%s/%s.csr" % (d, who), "-CA", d + "/ca.pem",
             "-CAkey", d + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile", d + "/ext",
             "-out", "%s/%s.pem" % (d, who))
    cert("server", "/CN=server")
    cert("n1", "/O=cluster/CN=n1")
    cert("n2", "/CN=n2")
    cert("nocn", "/O=cluster/OU=nodes")
    cert("twocn", "/CN=n2/CN=n1")
    # No CN: "CN=n1" is inside the O value (OpenSSL writes its "/" as "\/").
    cert("hiddencn", "/O=evil\\/CN=n1")


class CertIdentity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="clusterm-ident-tls-")
        make_ca(cls.dir)
        cls.tokens = os.path.join(cls.dir, "tokens.json")
        write_tokens(cls.tokens, TOKENS)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.dir], check=False)

    def start(self, from_cert, tokens=True):
        conf = {"tls": {"cert_file": self.dir + "/server.pem", "key_file": self.dir + "/server.key",
                        "ca_file": self.dir + "/ca.pem"},
                "auth": {"reporter_from_cert": from_cert}}
        if tokens:
            conf["auth"]["tokens_file"] = self.tokens
        c = Clusterm(config=conf)
        c.start(wait=False)
        try:
            wait_until(lambda: self.https(c.port, "GET", "/healthz", "n1")[0] == 200,
                       what="TLS healthz")
        except BaseException:
            c.cleanup()
            raise
        return c

    def https(self, port, method, path, who, body=None, headers=None):
        ctx = ssl.create_default_context(cafile=self.dir + "/ca.pem")
        ctx.load_cert_chain("%s/%s.pem" % (self.dir, who), "%s/%s.key" % (self.dir, who))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        try:
            h = dict(headers or {})
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                h["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            text = r.read().decode()
            return r.status, json.loads(text) if text.startswith("{") else text
        finally:
            conn.close()

    def node(self, c, name, who="n1"):
        st, n = self.https(c.port, "GET", "/api/v1/nodes/" + name, who, headers=bearer("mon"))
        return n if st == 200 else None

    def events(self, c):
        return len(self.https(c.port, "GET", "/api/v1/events?limit=1000", "n1",
                              headers=bearer("mon"))[1]["events"])

    def test_cn_must_match(self):
        c = self.start(True)
        try:
            body = [report("c1", "10.0.0.1")]
            st, reply = self.https(c.port, "POST", "/monitor/event/discovered", "n1", body,
                                   hdrs("fwd", "n1"))
            self.assertEqual(st, 200, reply)
            before = (self.node(c, "c1"), self.events(c))
            for path, b in bodies("disappeared"):
                with self.subTest(path=path):
                    st, reply = self.https(c.port, "POST", path, "n1", b, hdrs("fwd", "n2"))
                    self.assertEqual(st, 403, reply)
                    self.assertIn("CN is n1", reply["error"])
                    self.assertIn("X-Reporter is n2", reply["error"])
            for who in ("nocn", "twocn", "hiddencn"):
                st, reply = self.https(c.port, "POST", "/monitor/event/disappeared", who,
                                       [report("c1", "10.0.0.1")], hdrs("fwd", "n1"))
                self.assertEqual(st, 403, reply)
                self.assertIn("exactly one CN", reply["error"])
            # A bound token and the certificate must both agree.
            st, reply = self.https(c.port, "POST", "/monitor/event/disappeared", "n2",
                                   [report("c1", "10.0.0.1")], hdrs("node-n1", "n1"))
            self.assertEqual(st, 403, reply)
            self.assertIn("CN is n2", reply["error"])
            # Operator reports on a certificate-identified connection: admin only.
            st, reply = self.https(c.port, "POST", "/monitor/event/disappeared", "n1",
                                   [report("c1", "10.0.0.1")], hdrs("fwd"))
            self.assertEqual(st, 403, reply)
            self.assertIn("admin", reply["error"])
            self.assertEqual((self.node(c, "c1"), self.events(c)), before)
            self.assertEqual(before[0]["state"], "Discovered")
            st, reply = self.https(c.port, "POST", "/monitor/event/discovered", "n2",
                                   [report("c2", "10.0.0.2")], hdrs("ops"))
            self.assertEqual(st, 200, reply)
            st, reply = self.https(c.port, "POST", "/monitor/event/discovered", "n2",
                                   [report("c2", "10.0.0.2")], hdrs("node-n2", "n2"))
            self.assertEqual(st, 200, reply)
        finally:
            c.cleanup()

    def test_off_by_default(self):
        c = self.start(False)
        try:
            st, reply = self.https(c.port, "POST", "/monitor/event/discovered", "n1",
                                   [report("c3", "10.0.0.3")], hdrs("fwd", "n2"))
            self.assertEqual(st, 200, reply)
        finally:
            c.cleanup()

    def test_without_tokens(self):
        # The certificate alone decides; operator reports are unchanged.
        c = self.start(True, tokens=False)
        try:
            st, reply = self.https(c.port, "POST", "/monitor/event/discovered", "n1",
                                   [report("c4", "10.0.0.4")], {"X-Reporter": "n2"})
            self.assertEqual(st, 403, reply)
            self.assertIsNone(self.node(c, "c4"))
            st, reply = self.https(c.port, "POST", "/monitor/event/discovered", "n1",
                                   [report("c4", "10.0.0.4")], {"X-Reporter": "n1"})
            self.assertEqual(st, 200, reply)
            st, reply = self.https(c.port, "POST", "/monitor/event/disappeared", "n1",
                                   [report("c4", "10.0.0.4")])
            self.assertEqual(st, 200, reply)
            self.assertEqual(self.node(c, "c4")["state"], "Disappeared")
        finally:
            c.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
