"""The instances of a manager as the API shows them (CONTRACT section 9), black
box. On the embedded store, where one instance, this one, leads: /healthz's
role and leader, GET /api/v1/cluster, the cluster series of /metrics,
clusterctl cluster (table, -j, exit codes), a forwarded request served by the
leader itself, and the config checks of store.* and manager.instance_id. On
one etcd member with two instances (when etcd is installed): the follower's
view, a lifecycle request and a followed job log through the follower, no
second hop, and /healthz's 503 while etcd does not answer."""

import calendar
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import CLUSTERCTL, CLUSTERM, Clusterm, report, request, wait_until  # noqa: E402

PORTS = (31000, 31999)
INSTANCE = "mgr-a:9007"
ADVERTISE = "http://mgr-a.example.net:9007"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ADMIN = "cluster-api-admin-token-0123456789"
READER = "cluster-api-reader-token-0123456789"
REPORTER = "cluster-api-reporter-token-0123456789"


_given = set()


def pick_port():
    """A free loopback port from this test's range, not given out before."""
    for _ in range(200):
        port = random.randint(*PORTS)
        if port in _given:
            continue
        _given.add(port)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in %d-%d" % PORTS)


def ctl(*args, timeout=30):
    """Runs clusterctl; returns (exit status, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in ("CLUSTERM_URL", "CLUSTERM_TOKEN")}
    p = subprocess.run([CLUSTERCTL] + list(args), env=env, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def table(text):
    """An aligned table: (header names, rows as dicts), cells cut at the header's columns."""
    lines = [l for l in text.splitlines() if l.strip()]
    head = lines[0]
    starts = [0] + [m.end() for m in re.finditer(r"  +", head)]
    names = [n.strip() for n in re.split(r"  +", head.strip())]
    rows = []
    for l in lines[1:]:
        cells = [l[s:(starts[i + 1] if i + 1 < len(starts) else None)].strip()
                 for i, s in enumerate(starts)]
        rows.append(dict(zip(names, cells)))
    return names, rows


def metric(text, name):
    """The value of the sample named name (with its labels), or None."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def utc_age_s(stamp):
    """How far an RFC 3339 UTC time is from now, in seconds."""
    return abs(time.time() - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


class SingleInstance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Clusterm(port=pick_port(), config={
            "manager": {"instance_id": INSTANCE, "advertise_url": ADVERTISE}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def test_healthz_role_and_leader(self):
        st, body, _ = self.c.get("/healthz")
        self.assertEqual(st, 200, body)
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["role"], "leader")
        self.assertEqual(body["leader"], INSTANCE)
        # The fields it had before stay.
        for k in ("disruption", "store_failed", "insecure", "nodes", "uptime_s"):
            self.assertIn(k, body)
        self.assertNotIn("reason", body)

    def test_cluster_shape(self):
        st, body, hdrs = self.c.get("/api/v1/cluster")
        self.assertEqual(st, 200, body)
        self.assertTrue(hdrs["Content-Type"].startswith("application/json"))
        self.assertEqual(set(body), {"self", "leader", "instances"})
        self.assertEqual(body["self"], INSTANCE)
        self.assertEqual(body["leader"], INSTANCE)
        self.assertEqual(len(body["instances"]), 1)
        inst = body["instances"][0]
        self.assertEqual(set(inst), {"id", "url", "role", "last_seen"})
        self.assertEqual(inst["id"], INSTANCE)
        self.assertEqual(inst["url"], ADVERTISE)
        self.assertEqual(inst["role"], "leader")
        self.assertRegex(inst["last_seen"], RFC3339)
        self.assertLess(utc_age_s(inst["last_seen"]), 60)
        st, body, _ = self.c.post("/api/v1/cluster", {})
        self.assertEqual(st, 405, body)

    def test_metrics_series(self):
        st, text, _ = self.c.get("/metrics")
        self.assertEqual(st, 200)
        self.assertEqual(metric(text, 'clusterm_role{role="leader"}'), 1)
        self.assertEqual(metric(text, 'clusterm_role{role="follower"}'), 0)
        self.assertEqual(metric(text, "clusterm_leader_changes_total"), 1)
        self.assertEqual(metric(text, "clusterm_applied_revision"), 0)
        self.assertEqual(metric(text, "clusterm_revision_lag"), 0)
        for name, kind in (("clusterm_role", "gauge"), ("clusterm_leader_changes_total", "counter"),
                           ("clusterm_applied_revision", "gauge"),
                           ("clusterm_revision_lag", "gauge")):
            self.assertIn("# TYPE %s %s\n" % (name, kind), text)
            self.assertIn("# HELP %s " % name, text)

    def test_forwarded_request_served_by_the_leader(self):
        # The only instance leads: a request forwarded to it is its own to answer.
        hdr = {"X-Clusterm-Forwarded": "mgr-b:9007"}
        st, body, _ = self.c.get("/api/v1/jobs/77/log", headers=hdr)
        self.assertEqual(st, 404, body)
        self.assertIn("job 77 does not exist", body["error"])
        st, body, _ = self.c.post("/commission/nodes", {"nodes": ["nope"],
                                                        "host_group": "service-master"},
                                  headers=hdr)
        self.assertEqual(st, 404, body)
        self.assertIn("doesn't exists", body["error"])

    def test_clusterctl_cluster_table(self):
        rc, out, err = ctl("-u", self.c.url(), "cluster")
        self.assertEqual(rc, 0, err)
        names, rows = table(out)
        self.assertEqual(names, ["ID", "URL", "ROLE", "LAST SEEN"])
        self.assertEqual(len(rows), 1, out)
        self.assertEqual(rows[0]["ID"], INSTANCE)
        self.assertEqual(rows[0]["URL"], ADVERTISE)
        self.assertEqual(rows[0]["ROLE"], "leader")
        self.assertRegex(rows[0]["LAST SEEN"], RFC3339)

    def test_clusterctl_cluster_json(self):
        for flag in ("-j", "--json"):
            rc, out, err = ctl("-u", self.c.url(), "cluster", flag)
            self.assertEqual(rc, 0, err)
            body = json.loads(out)
            self.assertEqual(body["self"], INSTANCE)
            self.assertEqual(body["leader"], INSTANCE)
            self.assertEqual([i["id"] for i in body["instances"]], [INSTANCE])

    def test_clusterctl_cluster_exit_codes(self):
        rc, _, err = ctl("-u", self.c.url(), "cluster", "extra")
        self.assertEqual(rc, 1, err)
        self.assertIn("expects 0 argument", err)
        rc, _, err = ctl("-u", self.c.url(), "cluster", "-f")
        self.assertEqual(rc, 1, err)
        rc, _, err = ctl("-u", "127.0.0.1:%d" % pick_port(), "cluster")
        self.assertEqual(rc, 3, err)
        rc, out, _ = ctl("--help")
        self.assertIn("clusterctl cluster\n", out)


class Tokens(unittest.TestCase):
    """GET /api/v1/cluster is a reader's, as the other GETs."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="clusterm-cluster-api-")
        path = os.path.join(cls.tmp, "tokens.json")
        with open(path, "w") as f:
            json.dump({"tokens": [{"name": "ops", "role": "admin", "token": ADMIN},
                                  {"name": "ro", "role": "reader", "token": READER},
                                  {"name": "fw", "role": "reporter", "token": REPORTER}]}, f)
        os.chmod(path, 0o600)
        cls.c = Clusterm(port=pick_port(), config={
            "manager": {"instance_id": INSTANCE}, "auth": {"tokens_file": path}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        for n in os.listdir(cls.tmp):
            os.unlink(os.path.join(cls.tmp, n))
        os.rmdir(cls.tmp)

    def test_roles(self):
        def get(token):
            hdrs = {"Authorization": "Bearer " + token} if token else {}
            return self.c.get("/api/v1/cluster", headers=hdrs)[0]
        self.assertEqual(get(None), 401)
        self.assertEqual(get(REPORTER), 403)
        self.assertEqual(get(READER), 200)
        self.assertEqual(get(ADMIN), 200)
        # /healthz stays open.
        st, body, _ = self.c.get("/healthz")
        self.assertEqual((st, body["role"], body["leader"]), (200, "leader", INSTANCE))


class Defaults(unittest.TestCase):
    def test_default_instance_id_and_url(self):
        port = pick_port()
        with Clusterm(port=port) as c:
            st, body, _ = c.get("/api/v1/cluster")
            self.assertEqual(st, 200, body)
            want = "%s:%d" % (socket.gethostname(), port)
            self.assertEqual(body["self"], want)
            self.assertEqual(body["instances"][0]["url"], "http://127.0.0.1:%d" % port)
            st, body, _ = c.get("/healthz")
            self.assertEqual(body["leader"], want)


# ansible-playbook's stand-in: prints a numbered line every 0.1 s, "n" lines
# (from the extra-vars file it is given, 10 without), then succeeds.
FAKE_ANSIBLE = """#!/bin/sh
n=
for a in "$@"; do
    case "$a" in @*) n=$(sed -n 's/.*"n": *\\([0-9][0-9]*\\).*/\\1/p' "${a#@}");; esac
done
[ -n "$n" ] || n=10
i=1
while [ $i -le $n ]; do echo "line $i of $n"; i=$((i+1)); sleep 0.1; done
"""


@unittest.skipUnless(shutil.which("etcd"), "etcd is not installed")
class TwoInstances(unittest.TestCase):
    """One etcd member, two instances: i1 (started first) leads, i2 follows."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="clusterm-cluster-etcd-")
        cls.etcd_port, peer = pick_port(), pick_port()
        cls.etcd_log = open(os.path.join(cls.tmp, "etcd.log"), "wb")
        cls.etcd = subprocess.Popen(
            ["etcd", "--name", "e1", "--data-dir", os.path.join(cls.tmp, "etcd"),
             "--listen-client-urls", "http://127.0.0.1:%d" % cls.etcd_port,
             "--advertise-client-urls", "http://127.0.0.1:%d" % cls.etcd_port,
             "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-cluster", "e1=http://127.0.0.1:%d" % peer,
             "--initial-cluster-state", "new", "--initial-cluster-token", "cluster-api-%d" % peer,
             "--heartbeat-interval", "100", "--election-timeout", "1000"],
            stdout=cls.etcd_log, stderr=subprocess.STDOUT)
        cls.inst = []
        try:
            wait_until(lambda: '"true"' in request(cls.etcd_port, "GET", "/health", raw=True)[1],
                       timeout=15, what="etcd /health")
            playbooks = os.path.join(cls.tmp, "playbooks")
            os.mkdir(playbooks)
            for name in ("site.yml", "cleanup.yml", "rolling-upgrade.yml"):
                open(os.path.join(playbooks, name), "w").close()
            fake = os.path.join(cls.tmp, "fake-ansible")
            with open(fake, "w") as f:
                f.write(FAKE_ANSIBLE)
            os.chmod(fake, 0o755)
            for i in (1, 2):
                c = Clusterm(port=pick_port(), config={
                    "manager": {"instance_id": "i%d" % i, "max_jobs": 4},
                    "monitor": {"grace_s": 0},
                    "store": {"backend": "etcd", "etcd": {
                        "endpoints": ["http://127.0.0.1:%d" % cls.etcd_port],
                        "prefix": "/cluster-api", "lease_ttl_s": 3}},
                    "ansible": {"command": fake, "playbook_location": playbooks,
                                "timeout_s": 60}})
                cls.inst.append(c)
                c.start()
                wait_until(lambda: c.get("/healthz")[0] == 200, timeout=15,
                           what="i%d healthy" % i)
            cls.leader, cls.follower = cls.inst
            wait_until(lambda: cls.follower.get("/healthz")[1].get("leader") == "i1",
                       timeout=10, what="i2 sees i1 lead")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for c in cls.inst:
            c.cleanup()
        if cls.etcd.poll() is None:
            cls.etcd.send_signal(signal.SIGCONT)
            cls.etcd.terminate()
            try:
                cls.etcd.wait(10)
            except subprocess.TimeoutExpired:
                cls.etcd.kill()
                cls.etcd.wait(10)
        cls.etcd_log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_roles_everywhere(self):
        for c, role in ((self.leader, "leader"), (self.follower, "follower")):
            st, body, _ = c.get("/healthz")
            self.assertEqual((st, body["role"], body["leader"]), (200, role, "i1"), body)
            st, body, _ = c.get("/api/v1/cluster")
            self.assertEqual(st, 200, body)
            self.assertEqual(body["self"], "i1" if role == "leader" else "i2")
            self.assertEqual(body["leader"], "i1")
            got = {i["id"]: (i["url"], i["role"]) for i in body["instances"]}
            self.assertEqual(got, {"i1": (self.leader.url(), "leader"),
                                   "i2": (self.follower.url(), "follower")})
            for i in body["instances"]:
                self.assertLess(utc_age_s(i["last_seen"]), 60)
            st, text, _ = c.get("/metrics")
            self.assertEqual(metric(text, 'clusterm_role{role="%s"}' % role), 1)
            self.assertEqual(metric(text, 'clusterm_role{role="%s"}' % (
                "follower" if role == "leader" else "leader")), 0)
            self.assertGreaterEqual(metric(text, "clusterm_leader_changes_total"), 1)
            self.assertGreater(metric(text, "clusterm_applied_revision"), 0)
            self.assertGreaterEqual(metric(text, "clusterm_revision_lag"), 0)
        rc, out, err = ctl("-u", self.follower.url(), "cluster")
        self.assertEqual(rc, 0, err)
        _, rows = table(out)
        self.assertEqual([(r["ID"], r["ROLE"]) for r in rows],
                         [("i1", "leader"), ("i2", "follower")])

    def test_job_and_followed_log_through_the_follower(self):
        st, body, _ = self.follower.post("/monitor/event/discovered",
                                         [report("fw-m1", "127.0.3.1")])
        self.assertEqual(st, 200, body)
        wait_until(lambda: self.leader.node("fw-m1") is not None, timeout=5,
                   what="the node on the leader")
        st, body, _ = self.follower.post("/commission/nodes", {
            "nodes": ["fw-m1"], "host_group": "service-master", "extra_vars": '{"n": 15}'})
        self.assertEqual(st, 200, body)
        job = body["job_id"]
        st, j, _ = self.leader.get("/api/v1/jobs/%d" % job)
        self.assertEqual(st, 200, j)
        # Followed through the follower: chunks as the leader writes them.
        conn = http.client.HTTPConnection("127.0.0.1", self.follower.port, timeout=30)
        try:
            t0 = time.monotonic()
            conn.request("GET", "/api/v1/jobs/%d/log?follow=1" % job)
            resp = conn.getresponse()
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader("Transfer-Encoding"), "chunked")
            self.assertTrue(resp.getheader("Content-Type").startswith("text/plain"))
            first = resp.readline()
            t_first = time.monotonic() - t0
            rest = resp.read().decode()
            t_end = time.monotonic() - t0
        finally:
            conn.close()
        self.assertIn("job %d Complete" % job, rest)
        self.assertIn("line 15 of 15", rest)
        self.assertLess(t_first, t_end - 0.5, "the log came in one piece at the end")
        self.assertTrue(first)
        # Whole, through either instance, the same bytes; contiv's paths too.
        for path in ("/api/v1/jobs/%d/log" % job, "/info/logs/%d" % job, "/info/job/%d" % job):
            a = request(self.follower.port, "GET", path, raw=True)
            b = request(self.leader.port, "GET", path, raw=True)
            self.assertEqual((a[0], a[1]), (b[0], b[1]), path)
            self.assertEqual(a[2]["Content-Type"], b[2]["Content-Type"], path)
        # The leader's refusals come back as they are.
        a = self.follower.post("/commission/nodes", {"nodes": ["nope"],
                                                     "host_group": "service-master"})
        b = self.leader.post("/commission/nodes", {"nodes": ["nope"],
                                                   "host_group": "service-master"})
        self.assertEqual((a[0], a[1]), (b[0], b[1]))
        self.assertEqual(a[0], 404)
        st, body, _ = self.follower.post("/api/v1/jobs/%d/cancel" % job, {})
        self.assertEqual(st, 409, body)

    def test_no_second_hop(self):
        hdr = {"X-Clusterm-Forwarded": "i9"}
        st, body, _ = self.follower.post("/commission/nodes", {"nodes": ["x"]}, headers=hdr)
        self.assertEqual(st, 503, body)
        self.assertEqual(body["error"], "this instance is not the leader (forwarded from i9)")
        st, body, _ = self.follower.get("/api/v1/jobs/1/log", headers=hdr)
        self.assertEqual(st, 503, body)
        # The leader serves what is forwarded to it.
        st, body, _ = self.leader.get("/api/v1/jobs/999/log", headers=hdr)
        self.assertEqual(st, 404, body)

    def test_zz_healthz_503_without_etcd(self):
        self.etcd.send_signal(signal.SIGSTOP)
        try:
            for c in self.inst:
                def down():
                    st, body, _ = c.get("/healthz", timeout=5)
                    return body if st == 503 else None
                body = wait_until(down, timeout=10, interval=0.1, what="/healthz 503")
                self.assertTrue(body["reason"].startswith("etcd: "), body)
                self.assertFalse(body["reason"].startswith("etcd: etcd: "), body)
                self.assertEqual(body["status"], "etcd unavailable")
                self.assertIn(body["role"], ("leader", "follower"))
                for k in ("disruption", "store_failed", "insecure", "nodes", "uptime_s"):
                    self.assertIn(k, body)
        finally:
            self.etcd.send_signal(signal.SIGCONT)
        for c in self.inst:
            wait_until(lambda: c.get("/healthz", timeout=5)[0] == 200, timeout=15,
                       interval=0.1, what="/healthz 200 again")


class Config(unittest.TestCase):
    def check(self, conf, want_rc, want_text=None):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            json.dump(conf, f)
        try:
            p = subprocess.run([CLUSTERM, "-n", "-c", f.name], capture_output=True, text=True,
                               timeout=10)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, want_rc, p.stderr)
        if want_text:
            self.assertIn(want_text, p.stderr + p.stdout)

    def test_store_and_instance_checks(self):
        self.check({"store": {"backend": "wal"}, "manager": {"instance_id": INSTANCE}}, 0)
        self.check({"store": {"backend": "zookeeper"}}, 1, "store.backend")
        self.check({"store": {"backend": "etcd", "etcd": {"prefix": "x"}}}, 1,
                   "store.etcd.prefix")
        self.check({"manager": {"instance_id": "mgr/a"}}, 1, "manager.instance_id")
        # An etcd member's time to answer: 100 ms to 60 s.
        for bad in (50, 60001, "1000"):
            self.check({"store": {"backend": "etcd", "etcd": {"endpoint_timeout_ms": bad}}}, 1,
                       "store.etcd.endpoint_timeout_ms")
        self.check({"store": {"backend": "etcd", "etcd": {"endpoint_timeout_ms": 250}},
                    "manager": {"instance_id": INSTANCE}}, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
