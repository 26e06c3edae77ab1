"""Heartbeats and reporter records (CONTRACT 11), black box: a real clusterm
taking plain HTTP posts with the reporter headers a forwarder sends:
/monitor/heartbeat, GET /api/v1/reporters, the node's own evidence of life
(partitioned, unreachable, Disappeared after grace + heartbeat interval),
metrics and audit entries; with the etcd backend, two instances agree on
the reporters' records."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import CLUSTERM, Clusterm, report, request, wait_until  # noqa: E402

EPOCH = "ep-1"


def member(name):
    """The report serf member name sends of itself (label = name)."""
    return report(name, "10.9.0.%d" % (sum(map(ord, name)) % 250 + 1), Node_Name=name)


class Forwarder:
    """What serf-forwarder sends for one node: batches with a counter, heartbeats
    carrying the current last seq (not a new one), X-Spool-Depth on every POST."""

    def __init__(self, c, name, depth=0):
        self.c = c
        self.name = name
        self.seq = 0
        self.depth = depth

    def headers(self, seq):
        return {"X-Reporter": self.name, "X-Reporter-Epoch": EPOCH,
                "X-Reporter-Seq": str(seq), "X-Spool-Depth": str(self.depth)}

    def batch(self, kind, names):
        self.seq += 1
        st, body, _ = self.c.post("/monitor/event/" + kind, [member(n) for n in names],
                                  headers=self.headers(self.seq))
        assert st == 200, (st, body)
        return body

    def snapshot(self, names):
        self.seq += 1
        st, body, _ = self.c.post("/monitor/snapshot", {"members": [
            dict(member(n), **{"Serf-Status": "alive"}) for n in names]},
            headers=self.headers(self.seq))
        assert st == 200, (st, body)
        return body

    def heartbeat(self):
        st, body, _ = request(self.c.port, "POST", "/monitor/heartbeat",
                              headers=self.headers(self.seq), host=self.c.host)
        assert st == 200, (st, body)
        return body


class Ticker:
    """Heartbeats of some nodes every interval_s, as their tick timers would."""

    def __init__(self, fwds, interval_s=0.3):
        self.fwds = list(fwds)
        self.interval_s = interval_s
        self.stop_ev = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop_ev.is_set():
            for f in self.fwds:
                try:
                    f.heartbeat()
                except (AssertionError, OSError) as e:
                    self.errors.append(repr(e))
            self.stop_ev.wait(self.interval_s)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(10)


def reporters(c, **kw):
    st, body, _ = c.get("/api/v1/reporters", **kw)
    assert st == 200, (st, body)
    return {r["name"]: r for r in body["reporters"]}


def metric(c, line_start):
    st, text, _ = c.get("/metrics")
    assert st == 200, text
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric %s in:\n%s" % (line_start, text))


def events(c, node, kind):
    st, body, _ = c.get("/api/v1/events?limit=1000&node=" + node)
    assert st == 200, body
    return [e for e in body["events"] if e["kind"] == kind]


class Reporters(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Clusterm(config={"monitor": {"grace_s": 0, "reporter_stale_s": 2}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def test_a_view_counts_stale_spool(self):
        r1 = Forwarder(self.c, "rv1", depth=3)
        r2 = Forwarder(self.c, "rv2", depth=0)
        r1.batch("discovered", ["rv1", "rv2"])
        r1.snapshot(["rv1", "rv2"])
        self.assertEqual(r2.heartbeat(), {})
        v = reporters(self.c)
        self.assertEqual(set(v["rv1"]), {"name", "epoch", "last_seq", "last_heard", "last_sync",
                                          "batches", "reports", "spool_depth", "stale"})
        self.assertEqual((v["rv1"]["epoch"], v["rv1"]["last_seq"], v["rv1"]["batches"],
                          v["rv1"]["reports"], v["rv1"]["spool_depth"], v["rv1"]["stale"]),
                         (EPOCH, 2, 1, 4, 3, False))
        self.assertRegex(v["rv1"]["last_heard"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIsNotNone(v["rv1"]["last_sync"])
        self.assertEqual((v["rv2"]["batches"], v["rv2"]["reports"], v["rv2"]["spool_depth"],
                          v["rv2"]["last_sync"], v["rv2"]["stale"]), (0, 0, 0, None, False))
        self.assertGreaterEqual(metric(self.c, "clusterm_reporter_spool_depth"), 3)
        self.assertGreaterEqual(metric(self.c, 'clusterm_reporters{state="fresh"}'), 2)
        # Not heard for reporter_stale_s: stale, judged at read time.
        wait_until(lambda: reporters(self.c)["rv1"]["stale"], timeout=10, interval=0.2,
                   what="rv1 stale")
        self.assertTrue(reporters(self.c)["rv2"]["stale"])
        self.assertGreaterEqual(metric(self.c, 'clusterm_reporters{state="stale"}'), 2)
        # Heard again (a heartbeat is enough): fresh.
        r1.depth = 0
        r1.heartbeat()
        v = reporters(self.c)["rv1"]
        self.assertEqual((v["stale"], v["spool_depth"], v["batches"]), (False, 0, 1))

    def test_b_heartbeat_is_not_a_batch(self):
        f = Forwarder(self.c, "nb1")
        f.batch("discovered", ["nb1"])          # seq 1
        f.heartbeat()                           # carries seq 1 again: no duplicate
        f.heartbeat()
        # A heartbeat ahead of the batches moves no watermark either.
        st, _, _ = request(self.c.port, "POST", "/monitor/heartbeat",
                           headers=dict(f.headers(9)), host=self.c.host)
        self.assertEqual(st, 200)
        body = f.batch("discovered", ["nb1"])   # seq 2: taken
        self.assertEqual(body, {"accepted": 1, "duplicates": 0})
        self.assertEqual(reporters(self.c)["nb1"]["last_seq"], 9)
        node = self.c.node("nb1")
        self.assertEqual([v["seq"] for v in node["votes"]], [2])

    def test_c_bad_heartbeats(self):
        st, body, _ = request(self.c.port, "POST", "/monitor/heartbeat", host=self.c.host)
        self.assertEqual(st, 400)
        self.assertIn("X-Reporter", body["error"])
        h = {"X-Reporter": "bh1"}
        st, body, _ = self.c.post("/monitor/heartbeat", {}, headers=h)
        self.assertEqual((st, body), (200, {}))
        st, body, _ = self.c.post("/monitor/heartbeat", [1], headers=h)
        self.assertEqual(st, 400)
        st, body, _ = self.c.post("/monitor/heartbeat", None, headers=dict(
            h, **{"X-Spool-Depth": "many"}))
        self.assertEqual(st, 400)
        self.assertIn("X-Spool-Depth", body["error"])
        st, body, _ = self.c.post("/monitor/event/discovered", [member("bh2")], headers={
            "X-Reporter": "bh2", "X-Spool-Depth": "-1"})
        self.assertEqual(st, 400)
        self.assertIn("bh1", reporters(self.c))
        self.assertNotIn("bh2", reporters(self.c))
        st, _, _ = self.c.get("/monitor/heartbeat")
        self.assertEqual(st, 405)


class Auth(unittest.TestCase):
    def test_roles_and_binding(self):
        d = tempfile.mkdtemp(prefix="clusterm-hb-")
        path = os.path.join(d, "tokens.json")
        with open(path, "w") as f:
            json.dump({"tokens": [
                {"name": "n1", "role": "reporter", "reporter": "n1", "token": "tok-n1-0123456789ab"},
                {"name": "ro", "role": "reader", "token": "tok-ro-0123456789ab"}]}, f)
        os.chmod(path, 0o600)
        c = Clusterm(config={"auth": {"tokens_file": path}})
        try:
            c.start()
            bearer = {"Authorization": "Bearer tok-n1-0123456789ab"}
            st, body, _ = c.post("/monitor/heartbeat", None, headers=dict(bearer, **{
                "X-Reporter": "n2"}))
            self.assertEqual(st, 403)
            self.assertIn("n1", body["error"])
            st, body, _ = c.post("/monitor/heartbeat", None, headers=dict(bearer, **{
                "X-Reporter": "n1", "X-Spool-Depth": "5"}))
            self.assertEqual((st, body), (200, {}))
            st, _, _ = c.post("/monitor/heartbeat", None, headers={"X-Reporter": "n1"})
            self.assertEqual(st, 401)
            st, _, _ = c.get("/api/v1/reporters", headers=bearer)
            self.assertEqual(st, 403)
            v = reporters(c, headers={"Authorization": "Bearer tok-ro-0123456789ab"})
            self.assertEqual(list(v), ["n1"])
            self.assertEqual(v["n1"]["spool_depth"], 5)
        finally:
            c.cleanup()
            for n in os.listdir(d):
                os.unlink(os.path.join(d, n))
            os.rmdir(d)


class Config(unittest.TestCase):
    def test_keys_range_checked_and_named(self):
        d = tempfile.mkdtemp(prefix="clusterm-hb-")
        path = os.path.join(d, "c.conf")
        try:
            for key, val, words in (("heartbeat_timeout_s", 0, "between 1 and 86400"),
                                    ("heartbeat_interval_s", -1, "between 0 and 86400"),
                                    ("reporter_stale_s", "30", "integer")):
                with open(path, "w") as f:
                    json.dump({"monitor": {key: val}}, f)
                p = subprocess.run([CLUSTERM, "-n", "-c", path], capture_output=True,
                                   text=True, timeout=10)
                self.assertEqual(p.returncode, 1, (key, p.stderr))
                self.assertIn("monitor." + key, p.stderr)
                self.assertIn(words, p.stderr)
        finally:
            if os.path.exists(path):
                os.unlink(path)
            os.rmdir(d)

    def test_sighup_applies_reporter_stale_s(self):
        c = Clusterm(config={"monitor": {"reporter_stale_s": 3600}})
        try:
            c.start()
            Forwarder(c, "sh1").heartbeat()
            self.assertFalse(reporters(c)["sh1"]["stale"])
            c.config["monitor"]["reporter_stale_s"] = 1
            with open(os.path.join(c.tmp, "clusterm.conf"), "w") as f:
                json.dump(c.config, f)
            c.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "reloaded monitor" in c.log(), what="reload log line")
            wait_until(lambda: reporters(c)["sh1"]["stale"], timeout=10, interval=0.2,
                       what="sh1 stale under the reloaded key")
            ev = c.get("/api/v1/events?limit=1000")[1]["events"]
            self.assertTrue(any(e["kind"] == "config" and "reporter_stale_s 1," in e["comment"]
                                for e in ev), ev)
            self.assertEqual(c.stop(), 0)
        finally:
            c.cleanup()


GRACE_S, HB_TIMEOUT_S, HB_INTERVAL_S = 1, 3, 2


class Liveness(unittest.TestCase):
    """The node's own evidence of life in rule 3 (CONTRACT 11)."""

    def setUp(self):
        self.c = Clusterm(config={"monitor": {
            "grace_s": GRACE_S, "heartbeat_timeout_s": HB_TIMEOUT_S,
            "heartbeat_interval_s": HB_INTERVAL_S, "reporter_stale_s": 5}}).start()
        self.names = ["a", "b", "c", "d", "e"]
        self.fw = {n: Forwarder(self.c, n) for n in self.names}
        for n in self.names:
            self.fw[n].batch("discovered", self.names)

    def tearDown(self):
        self.c.cleanup()

    def node(self, name):
        n = self.c.node(name)
        self.assertIsNotNone(n)
        return n

    def flags(self, name):
        n = self.node(name)
        return n["state"], n["partitioned"], n["unreachable"]

    def test_partitioned_then_healed(self):
        with Ticker([self.fw["e"]]) as t:
            wait_until(lambda: reporters(self.c).get("e"), what="e heard")
            for n in ("a", "b", "c"):
                self.fw[n].batch("disappeared", ["e"])
            wait_until(lambda: self.flags("e") == ("Discovered", True, False), timeout=15,
                       interval=0.1, what="e partitioned")
            # Held well past grace + interval: never Disappeared while it is heard.
            time.sleep(GRACE_S + HB_INTERVAL_S + 1)
            self.assertEqual(self.flags("e"), ("Discovered", True, False))
            self.assertEqual(self.c.get("/api/v1/nodes")[1]["nodes"][4]["partitioned"], True)
            self.assertEqual(metric(self.c, 'clusterm_nodes_flagged{flag="partitioned"}'), 1)
            for n in ("a", "b", "c"):
                self.fw[n].batch("discovered", ["e"])
            self.assertEqual(self.flags("e"), ("Discovered", False, False))
            self.assertEqual(t.errors, [])
        self.assertEqual(metric(self.c, 'clusterm_nodes_flagged{flag="partitioned"}'), 0)
        on = [e for e in events(self.c, "e", "partitioned") if e["new"] == "on"]
        off = [e for e in events(self.c, "e", "partitioned") if e["new"] == "off"]
        self.assertEqual((len(on), len(off)), (1, 1))
        self.assertIn("heard", on[0]["comment"])
        self.assertEqual([e for e in events(self.c, "e", "state") if e["new"] == "Disappeared"],
                         [])

    def test_unreachable_no_disruption(self):
        # Every node heartbeats once, then none does: the manager is cut off.
        for n in self.names:
            self.fw[n].heartbeat()
        t0 = time.monotonic()
        wait_until(lambda: all(self.flags(n) == ("Discovered", False, True) for n in self.names),
                   timeout=15, interval=0.1, what="all unreachable")
        self.assertGreaterEqual(time.monotonic() - t0, HB_TIMEOUT_S - 0.5)
        st, h, _ = self.c.get("/healthz")
        self.assertEqual((st, h["status"], h["disruption"]), (200, "ok", False))
        self.assertEqual(metric(self.c, 'clusterm_nodes_flagged{flag="unreachable"}'), 5)
        self.assertEqual(metric(self.c, 'clusterm_nodes{state="Disappeared"}'), 0)
        ev = events(self.c, "c", "unreachable")
        self.assertEqual([e["new"] for e in ev], ["on"])
        self.assertIn("no heartbeat", ev[0]["comment"])
        # Heard again: the flag goes.
        self.fw["c"].heartbeat()
        self.assertEqual(self.flags("c"), ("Discovered", False, False))
        self.assertEqual([e["new"] for e in events(self.c, "c", "unreachable")], ["on", "off"])

    def test_silent_and_voted_gone_disappears(self):
        self.fw["e"].heartbeat()
        t0 = time.monotonic()
        for n in ("a", "b", "c"):
            self.fw[n].batch("disappeared", ["e"])
        wait_until(lambda: self.flags("e")[0] == "Disappeared", timeout=15, interval=0.05,
                   what="e Disappeared")
        # Not before the heartbeat interval (longer than the grace here) has passed.
        self.assertGreaterEqual(time.monotonic() - t0, HB_INTERVAL_S - 0.3)
        self.assertEqual(self.flags("e"), ("Disappeared", False, False))

    def test_without_heartbeats_as_before(self):
        t0 = time.monotonic()
        for n in ("a", "b", "c"):
            self.fw[n].batch("disappeared", ["d"])
        wait_until(lambda: self.flags("d")[0] == "Disappeared", timeout=15, interval=0.05,
                   what="d Disappeared")
        self.assertGreaterEqual(time.monotonic() - t0, GRACE_S - 0.3)
        self.assertEqual(self.flags("d"), ("Disappeared", False, False))


def have_etcd():
    try:
        from etcd_util import have_etcd as h
        return h()
    except ImportError:
        return False


@unittest.skipUnless(have_etcd(), "etcd is not installed")
class OnEtcd(unittest.TestCase):
    def test_two_instances_agree(self):
        from etcd_util import EtcdCluster, Manager, same_everywhere
        tmp = tempfile.mkdtemp(prefix="clusterm-hb-etcd-")
        etcd = EtcdCluster(1, tmp=os.path.join(tmp, "etcd"))
        cm = None
        try:
            os.makedirs(etcd.tmp, mode=0o700)
            etcd.start()
            cm = Manager(etcd.client_urls(), 2, tmp=os.path.join(tmp, "cm"),
                         monitor={"grace_s": 1, "heartbeat_timeout_s": 3,
                                  "heartbeat_interval_s": 1})
            cm.start()
            cm.wait_leader()
            f1 = Forwarder(cm[0], "x1", depth=2)
            f2 = Forwarder(cm[1], "x2", depth=7)
            f1.batch("discovered", ["x1", "x2"])
            f2.batch("discovered", ["x1", "x2"])
            f1.heartbeat()
            f2.heartbeat()
            f2.snapshot(["x1", "x2"])
            view, _ = same_everywhere(cm.instances, lambda c: reporters(c), timeout=15)
            self.assertEqual(set(view), {"x1", "x2"})
            self.assertEqual((view["x1"]["spool_depth"], view["x2"]["spool_depth"]), (2, 7))
            self.assertIsNotNone(view["x2"]["last_sync"])
            # The flags too: x2 stops heartbeating, x1 votes it alive: unreachable on both.
            wait_until(lambda: all(c.node("x2")["unreachable"] for c in cm.instances),
                       timeout=20, interval=0.1, what="x2 unreachable on both instances")
        finally:
            if cm is not None:
                cm.cleanup()
            etcd.cleanup()
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
