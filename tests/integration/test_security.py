"""Access control and hostile input, black box: bearer tokens and roles,
refusals on unsafe files and addresses, TLS and mutual TLS, and a barrage of
mutated bodies that must all be answered 4xx (or 200 when valid) without
applying anything invalid or starting any job."""

import http.client
import json
import os
import random
import signal
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import CLUSTERCTL, CLUSTERM, FORWARDER, Clusterm, free_port, report, request, wait_until  # noqa: E402

TOKENS = {"ops": ("admin", "admin-token-0123456789"),
          "mon": ("reader", "reader-token-0123456789"),
          "fwd": ("reporter", "reporter-token-0123456789")}


def bearer(name):
    return {"Authorization": "Bearer " + TOKENS[name][1]}


def write_tokens(path, tokens=TOKENS, mode=0o600):
    with open(path, "w") as f:
        json.dump({"tokens": [{"name": n, "role": r, "token": t}
                              for n, (r, t) in tokens.items()]}, f)
    os.chmod(path, mode)


class Tokens(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="clusterm-sec-")
        self.tokens = os.path.join(self.dir, "tokens.json")
        write_tokens(self.tokens)
        self.c = Clusterm(config={"auth": {"tokens_file": self.tokens}}).start()

    def tearDown(self):
        self.c.cleanup()
        subprocess.run(["rm", "-rf", self.dir], check=False)

    def test_roles(self):
        batch = [report("sec1", "10.0.0.1")]
        self.assertEqual(self.c.get("/healthz")[0], 200)  # open, for health checks
        # Without a token nobody learns which paths exist.
        self.assertEqual(self.c.get("/no/such/path")[0], 401)
        self.assertEqual(self.c.get("/monitor/event/discovered")[0], 401)
        self.assertEqual(self.c.get("/no/such/path", headers=bearer("mon"))[0], 404)
        self.assertEqual(self.c.get("/api/v1/nodes")[0], 401)
        self.assertEqual(self.c.get("/api/v1/nodes", headers={"Authorization": "Bearer nope"})[0], 401)
        self.assertEqual(self.c.get("/api/v1/nodes", headers={"Authorization": "Basic eDp5"})[0], 401)
        self.assertEqual(self.c.post("/monitor/event/discovered", batch)[0], 401)
        st, body, _ = self.c.post("/monitor/event/discovered", batch, headers=bearer("mon"))
        self.assertEqual(st, 403)
        self.assertIn("mon", body["error"])
        # A reporter token votes (under X-Reporter); operator reports need admin.
        self.assertEqual(self.c.post("/monitor/event/discovered", batch, headers=bearer("fwd"))[0], 403)
        self.assertEqual(self.c.post("/monitor/event/discovered", batch,
                                     headers=dict(bearer("fwd"), **{"X-Reporter": "sec1"}))[0], 200)
        self.assertEqual(self.c.get("/api/v1/nodes", headers=bearer("fwd"))[0], 403)
        self.assertEqual(self.c.get("/api/v1/nodes", headers=bearer("mon"))[0], 200)
        self.assertEqual(self.c.get("/metrics", headers=bearer("mon"))[0], 200)
        self.assertEqual(self.c.post("/globals", {"extra_vars": "{}"}, headers=bearer("mon"))[0], 403)
        self.assertEqual(self.c.post("/globals", {"extra_vars": "{}"}, headers=bearer("ops"))[0], 200)
        self.assertEqual(self.c.post("/monitor/event/discovered", batch, headers=bearer("ops"))[0], 200)
        st, ev, _ = self.c.get("/api/v1/events", headers=bearer("ops"))
        actors = {e["actor"] for e in ev["events"]}
        self.assertIn("ops", actors)
        self.assertIn("sec1 (fwd)", actors)
        self.assertIn("clusterm_requests_rejected_total{reason=\"auth\"}",
                      self.c.get("/metrics", headers=bearer("mon"))[1])
        self.assertNotIn(TOKENS["ops"][1], self.c.log())

    def test_whoami(self):
        st, body, _ = self.c.get("/api/v1/whoami", headers=bearer("mon"))
        self.assertEqual((st, body), (200, {"auth": True, "name": "mon", "role": "reader"}))
        st, body, _ = self.c.get("/api/v1/whoami", headers=bearer("ops"))
        self.assertEqual((st, body["role"]), (200, "admin"))
        self.assertEqual(self.c.get("/api/v1/whoami")[0], 401)

    def test_sighup_rotates_tokens(self):
        write_tokens(self.tokens, {"new": ("admin", "rotated-token-0123456789")})
        # Even a broken clusterm.conf does not block the rotation.
        with open(os.path.join(self.c.tmp, "clusterm.conf"), "w") as f:
            f.write("{broken")
        self.c.proc.send_signal(signal.SIGHUP)
        new = {"Authorization": "Bearer rotated-token-0123456789"}
        wait_until(lambda: self.c.get("/api/v1/nodes", headers=new)[0] == 200, what="rotation")
        self.assertEqual(self.c.get("/api/v1/nodes", headers=bearer("ops"))[0], 401)


class Refusals(unittest.TestCase):
    def run_clusterm(self, conf, *args):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "c.conf")
            with open(path, "w") as f:
                json.dump(conf, f)
            return subprocess.run([CLUSTERM, "-n", "-c", path] + list(args),
                                  capture_output=True, text=True, timeout=10)

    def test_unsafe_tokens_file(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "tokens.json")
            write_tokens(path, mode=0o644)
            p = self.run_clusterm({"auth": {"tokens_file": path}})
            self.assertEqual(p.returncode, 1)
            self.assertIn(path, p.stderr)
            self.assertIn("chmod 600", p.stderr)
            write_tokens(path, {"x": ("root", "abcdefghijklmnopqrstuvwxyz")})
            p = self.run_clusterm({"auth": {"tokens_file": path}})
            self.assertIn("role must be", p.stderr)
            write_tokens(path, {"x": ("admin", "short")})
            self.assertIn("16", self.run_clusterm({"auth": {"tokens_file": path}}).stderr)

    def test_non_loopback_needs_tokens_or_insecure(self):
        conf = {"manager": {"addr": "0.0.0.0:%d" % free_port()}}
        p = self.run_clusterm(conf)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--insecure", p.stderr)
        self.assertEqual(self.run_clusterm(conf, "--insecure").returncode, 0)

    def test_insecure_says_so(self):
        c = Clusterm(args=["--insecure"], host="127.0.0.1")
        try:
            c.start()
            self.assertTrue(c.get("/healthz")[1]["insecure"])
        finally:
            c.cleanup()

    def test_open_state_dir_refused(self):
        with tempfile.TemporaryDirectory() as d:
            state = os.path.join(d, "state")
            os.mkdir(state, 0o755)
            os.chmod(state, 0o755)
            p = subprocess.run([CLUSTERM, "-l", "127.0.0.1:%d" % free_port(), "-d", state],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn(state, p.stderr)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate."""
    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
         "-keyout", d + "/ca.key", "-out", d + "/ca.pem")
    with open(d + "/ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + who,
             "-keyout", "%s/%s.key" % (d, who), "-out", "%s/%s.csr" % (d, who))
        ossl("x509", "-req", "-in", "%s/%s.csr" % (d, who), "-CA", d + "/ca.pem",
             "-CAkey", d + "/ca.key", "-CAcreateserial", "-days", "2", "-extfile", d + "/ext",
             "-out", "%s/%s.pem" % (d, who))


class TLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="clusterm-tls-")
        make_certs(cls.dir)

    @classmethod
    def tearDownClass(cls):
        subprocess.run(["rm", "-rf", cls.dir], check=False)

    def https(self, port, path, cert=None):
        ctx = ssl.create_default_context(cafile=self.dir + "/ca.pem")
        if cert:
            ctx.load_cert_chain(self.dir + "/client.pem", self.dir + "/client.key")
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def start(self, **tls):
        c = Clusterm(config={"tls": dict({"cert_file": self.dir + "/server.pem",
                                          "key_file": self.dir + "/server.key"}, **tls)})
        c.start(wait=False)
        wait_until(lambda: self.https(c.port, "/healthz", cert=True)[0] == 200,
                   what="TLS healthz")
        return c

    def test_https_only(self):
        c = self.start()
        try:
            self.assertEqual(self.https(c.port, "/healthz")[0], 200)
            with self.assertRaises((http.client.HTTPException, OSError)):
                st = request(c.port, "GET", "/healthz")[0]
                self.assertNotEqual(st, 200)
                raise OSError("plain HTTP answered %d" % st)
            # The combined key file is the owner's only.
            self.assertEqual(os.stat(c.state_dir + "/tls.pem").st_mode & 0o777, 0o600)
        finally:
            c.cleanup()

    def test_mutual_tls(self):
        c = self.start(ca_file=self.dir + "/ca.pem")
        try:
            self.assertEqual(self.https(c.port, "/healthz", cert=True)[0], 200)
            with self.assertRaises((ssl.SSLError, OSError)):
                self.https(c.port, "/healthz", cert=False)
            url = "https://127.0.0.1:%d" % c.port
            tls = ["--cacert", self.dir + "/ca.pem"]
            mine = tls + ["--cert", self.dir + "/client.pem", "--key", self.dir + "/client.key"]
            # The project's own clients present a client certificate too.
            spool = os.path.join(self.dir, "spool")
            env = dict(os.environ, SERF_EVENT="member-join", SERF_SELF_NAME="tls1")
            p = subprocess.run([FORWARDER, "-u", url, "-s", spool] + mine, input="tls1\t127.0.0.1\t\t\n",
                               env=env, capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 0, p.stderr)
            p = subprocess.run([CLUSTERCTL, "-u", url, "nodes", "get"] + mine,
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("tls1", p.stdout)
            p = subprocess.run([CLUSTERCTL, "-u", url, "nodes", "get"] + tls,
                               capture_output=True, text=True, timeout=20)
            self.assertEqual(p.returncode, 3, p.stderr)
        finally:
            c.cleanup()

    def test_bad_key_file_named(self):
        with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
            f.write("not a key\n")
        c = Clusterm(config={"tls": {"cert_file": self.dir + "/server.pem", "key_file": f.name}})
        try:
            c.start(wait=False)
            c.proc.wait(10)
            self.assertEqual(c.proc.returncode, 1)
            self.assertIn("tls.key_file", c.log())
        finally:
            c.cleanup()
            os.unlink(f.name)


class IdleFlood(unittest.TestCase):
    """Idle connections (slowloris) must not stop /healthz while fewer than
    the worker threads are held. The request's own timeout (4 s) is below
    civetweb's request timeout (5 s): an answer that needed an idle
    connection to time out first would miss it."""

    def test_healthz_answers_during_idle_flood(self):
        import socket
        c = Clusterm().start()
        socks = []
        try:
            for _ in range(100):
                socks.append(socket.create_connection(("127.0.0.1", c.port), timeout=5))
            st, body, _ = c.get("/healthz", timeout=4)
            self.assertEqual(st, 200)
            st, _, _ = c.post("/monitor/event/discovered", [report("idle1", "10.0.0.1")],
                              timeout=4)
            self.assertEqual(st, 200)
        finally:
            for s in socks:
                s.close()
            c.cleanup()


class BodyLimits(unittest.TestCase):
    def test_oversized_chunked_body(self):
        c = Clusterm().start()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", c.port, timeout=20)
            piece = json.dumps([report("ch%d" % i, "10.0.0.1", pad="x" * 900)
                                for i in range(100)]).encode()

            def chunks():
                yield b"["
                for _ in range(30):      # about 3 MB, over the 1 MiB default
                    yield piece[1:-1] + b","
                yield piece[1:]
            try:
                conn.request("POST", "/monitor/event/discovered", body=chunks(),
                             headers={"Content-Type": "application/json"},
                             encode_chunked=True)
                r = conn.getresponse()
                st, body = r.status, json.loads(r.read())
            except (BrokenPipeError, ConnectionResetError):
                st, body = 413, {"error": "closed while sending"}
            finally:
                conn.close()
            self.assertEqual(st, 413, body)
            self.assertIsNone(c.node("ch0"))
            self.assertEqual(c.get("/healthz")[0], 200)
        finally:
            c.cleanup()


def run_measured(cmd, data, env, timeout=60):
    """Runs cmd with data on stdin; returns (exit code, stderr, peak RSS in KiB)
    of that one process (wait4 gives its own rusage)."""
    import threading
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env)
    err = []

    def feed():
        try:
            p.stdin.write(data)
            p.stdin.close()
        except (BrokenPipeError, OSError):
            pass
    threads = [threading.Thread(target=feed),
               threading.Thread(target=lambda: err.append(p.stderr.read()))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err[0] if err else b"", ru.ru_maxrss


class HostileStdin(unittest.TestCase):
    """serf-forwarder fed garbage on stdin: a clear error, bounded time and
    memory, the valid members still sent."""

    def test_garbage_stdin(self):
        c = Clusterm().start()
        tmp = tempfile.mkdtemp(prefix="fwd-hostile-")
        try:
            good = b"good1\t127.0.0.1\t\tNodeLabel=good1\n"
            junk = bytearray(good)
            junk += b"x" * (3 * 1024 * 1024) + b"\n"               # one huge line
            junk += b"n\x00ul\t127.0.0.1\t\t\n"                     # NUL byte
            junk += b"\xff\xfe\xfd\t127.0.0.1\t\t\n"                # invalid UTF-8
            junk += b"".join(b"m%d\t127.0.0.1\t\t\n" % i for i in range(200000))
            env = dict(os.environ, SERF_EVENT="member-join", SERF_SELF_NAME="good1")
            cmd = [FORWARDER, "-u", c.url(), "-s", os.path.join(tmp, "spool"), "-t", "20"]
            rc, err, base = run_measured(cmd, good, env)
            self.assertEqual(rc, 0, err)
            rc, err, peak = run_measured(cmd, bytes(junk), env)
            self.assertEqual(rc, 3, err)       # members were left out
            self.assertIn(b"left out", err)
            self.assertEqual(c.state_of("good1"), "Discovered")
            # Bounded: ~6 MB of input costs far less than that on top of a
            # one-member run of the same build (ASan builds start higher).
            self.assertLess(peak - base, 32 * 1024, "peak %d KiB, base %d KiB" % (peak, base))
        finally:
            c.cleanup()
            subprocess.run(["rm", "-rf", tmp], check=False)


HOSTILE = ["a\nb", "a b", "a;b", "$(id)", "`id`", "../etc", "a/b", "x" * 70, "\u00e9t\u00e9",
           "-rf", ".hidden", "", "a\x00b", "a\tb", "a|b", "a&b", "a>b", "*", "a,b"]


class HostileInput(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Clusterm(config={"monitor": {"grace_s": 0}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def test_bad_names_and_addresses_everywhere(self):
        for bad in HOSTILE:
            for body, path in (
                    ([report(bad, "10.0.0.1")], "/monitor/event/discovered"),
                    ([report("ok", "10.0.0.1", bad or "-")], "/monitor/event/discovered"),
                    ([report("ok", bad)], "/monitor/event/disappeared"),
                    (report(bad, "10.0.0.1"), "/monitor/discovered/x"),
                    ({"monitor_event": {"name": "discovered", "nodes": [
                        {"label": bad, "serial": "", "addr": "10.0.0.1"}]}}, "/monitor/event"),
                    ({"members": [dict(report(bad, "10.0.0.1"), **{"Serf-Status": "alive"})]},
                     "/monitor/snapshot"),
                    ({"nodes": [bad], "host_group": "service-master"}, "/commission/nodes"),
                    ({"addrs": [bad]}, "/discover/nodes"),
                    ({"nodes": ["ok"], "host_group": bad}, "/commission/nodes")):
                with self.subTest(bad=bad, path=path):
                    st, reply, _ = self.c.post(path, body)
                    self.assertIn(st, (400, 404), reply)
        st, nodes, _ = self.c.get("/api/v1/nodes")
        self.assertEqual(nodes["nodes"], [])
        self.assertEqual(self.c.get("/api/v1/jobs")[1]["jobs"], [])

    def test_mutated_bodies(self):
        rng = random.Random(1234)
        seed = json.dumps([report("fz%d" % i, "10.1.0.%d" % i, "S%d" % i, Node_Name="m%d" % i)
                           for i in range(3)]).encode()
        answered = {}
        for i in range(400):
            b = bytearray(seed)
            for _ in range(rng.randint(1, 8)):
                op = rng.random()
                pos = rng.randrange(len(b))
                if op < 0.4:
                    b[pos] = rng.randrange(256)
                elif op < 0.7:
                    del b[pos]
                else:
                    b.insert(pos, rng.choice(b'{}[]",:\\\x00\xff'))
            st, reply, _ = request(self.c.port, "POST", "/monitor/event/discovered", body=bytes(b))
            answered[st] = answered.get(st, 0) + 1
            self.assertIn(st, (200, 400), reply)
        self.assertEqual(self.c.get("/healthz")[0], 200)
        # Whatever was applied passed validation: names are of the safe charset.
        for n in self.c.get("/api/v1/nodes")[1]["nodes"]:
            self.assertRegex(n["name"], r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
        self.assertGreater(answered.get(400, 0), 100)


if __name__ == "__main__":
    unittest.main(verbosity=2)
