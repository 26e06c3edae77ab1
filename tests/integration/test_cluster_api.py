"""The instances of a manager as the API shows them (CONTRACT section 9), black
box on the embedded store, where one instance, this one, leads: /healthz's
role and leader, GET /api/v1/cluster, the cluster series of /metrics,
clusterctl cluster (table, -j, exit codes), a forwarded request served by the
leader itself, and the config checks of store.* and manager.instance_id."""

import calendar
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import CLUSTERCTL, CLUSTERM, Clusterm  # noqa: E402

PORTS = (31000, 31999)
INSTANCE = "mgr-a:9007"
ADVERTISE = "http://mgr-a.example.net:9007"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ADMIN = "cluster-api-admin-token-0123456789"
READER = "cluster-api-reader-token-0123456789"
REPORTER = "cluster-api-reporter-token-0123456789"


def pick_port():
    """A free loopback port from this test's range."""
    for _ in range(200):
        port = random.randint(*PORTS)
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
