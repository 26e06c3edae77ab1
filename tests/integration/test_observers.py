"""Observers (CONTRACT 12), black box: a real clusterm with monitor.observers
taking the posts forwarders send (reporter headers, X-Observe-Version): the
observe assignment in replies (batches, snapshot, heartbeat), only observers'
votes counted, GET of a node with observers/subjects/counted, a kill decided
by the observers alone, K = 0 unchanged, the rings kept across a restart."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import Clusterm, report, request, wait_until  # noqa: E402

EPOCH = "ep-obs"
K = 3
NAMES = ["ob%02d" % i for i in range(10)]


def member(name, status=None):
    r = report(name, "10.8.0.%d" % (NAMES.index(name) + 1 if name in NAMES else 99),
               Node_Name=name)
    if status:
        r["Serf-Status"] = status
    return r


class Fwd:
    """What serf-forwarder sends for one node, keeping the assignment it got."""

    def __init__(self, c, name):
        self.c, self.name, self.seq = c, name, 0
        self.version, self.subjects = None, None

    def headers(self, seq):
        h = {"X-Reporter": self.name, "X-Reporter-Epoch": EPOCH, "X-Reporter-Seq": str(seq)}
        if self.version is not None:
            h["X-Observe-Version"] = str(self.version)
        return h

    def take(self, body):
        ob = body.get("observe")
        if ob is not None:
            self.version = ob["version"]
            self.subjects = ob.get("subjects")
        return body

    def batch(self, kind, names, event=None):
        self.seq += 1
        ev = event or ("member-join" if kind == "discovered" else "member-failed")
        st, body, _ = self.c.post("/monitor/event/" + kind,
                                  [dict(member(n), **{"Serf-Event": ev}) for n in names],
                                  headers=self.headers(self.seq))
        assert st == 200, (st, body)
        return self.take(body)

    def snapshot(self, names):
        self.seq += 1
        st, body, _ = self.c.post("/monitor/snapshot",
                                  {"members": [member(n, "alive") for n in names]},
                                  headers=self.headers(self.seq))
        assert st == 200, (st, body)
        return self.take(body)

    def heartbeat(self):
        st, body, _ = request(self.c.port, "POST", "/monitor/heartbeat",
                              headers=self.headers(self.seq), host=self.c.host)
        assert st == 200, (st, body)
        return self.take(body)


def boot(c, names):
    """Each node joins by its own report, then fetches its assignment and
    reports its subjects alive, as forwarders do."""
    fwds = {n: Fwd(c, n) for n in names}
    for n in names:
        fwds[n].batch("discovered", [n])
    for n in names:
        fwds[n].heartbeat()
        if fwds[n].subjects:
            fwds[n].batch("discovered", fwds[n].subjects)
    return fwds


class Observers(unittest.TestCase):
    def setUp(self):
        self.c = Clusterm(config={"monitor": {"grace_s": 0, "observers": K,
                                              "heartbeat_interval_s": 0}}).start()

    def tearDown(self):
        self.c.cleanup()

    def test_assignment_and_counting(self):
        c = self.c
        fwds = boot(c, NAMES)
        version = fwds[NAMES[0]].version
        self.assertIsInstance(version, int)
        nodes = {n: c.node(n) for n in NAMES}
        for n, body in nodes.items():
            self.assertEqual(body["state"], "Discovered", body)
            obs, subj = body["observers"], body["subjects"]
            self.assertTrue(1 <= len(obs) <= K and n not in obs, (n, obs))
            self.assertTrue(1 <= len(subj) <= K and n not in subj, (n, subj))
            # the forwarder's assignment is the node's subjects
            self.assertEqual(sorted(fwds[n].subjects), sorted(subj), n)
            for o in obs:
                self.assertIn(n, nodes[o]["subjects"])
            counted = {v["reporter"] for v in body["votes"] if v["counted"]}
            self.assertEqual(counted, set(obs), (n, body["votes"]))
        # the held version is current: no observe in the reply
        f = fwds[NAMES[1]]
        f.version = None
        f.heartbeat()
        self.assertNotIn("observe", f.heartbeat())
        self.assertNotIn("observe", f.batch("discovered", [f.name]))

        # a non-observer's gone vote is stored, shown not counted, changes nothing
        victim = NAMES[4]
        obs = nodes[victim]["observers"]
        outsider = next(n for n in NAMES if n != victim and n not in obs)
        fwds[outsider].batch("disappeared", [victim])
        body = c.node(victim)
        self.assertEqual(body["state"], "Discovered")
        v = [v for v in body["votes"] if v["reporter"] == outsider]
        self.assertEqual((v[0]["vote"], v[0]["counted"]), ("gone", False), body["votes"])

        # its observers decide: Disappeared, off the rings, the others intact
        for o in obs:
            fwds[o].batch("disappeared", [victim])
        wait_until(lambda: c.state_of(victim) == "Disappeared", what="victim Disappeared")
        body = c.node(victim)
        self.assertEqual((body["observers"], body["subjects"]), ([], []))
        for n in NAMES:
            if n != victim:
                self.assertEqual(c.state_of(n), "Discovered", n)
        # the version moved: an old holder gets the new subjects, without the victim
        for n in NAMES:
            if n == victim:
                continue
            fwds[n].heartbeat()   # those that posted since hold it already
            self.assertGreater(fwds[n].version, version, n)
            self.assertNotIn(victim, fwds[n].subjects)
            self.assertEqual(sorted(fwds[n].subjects), sorted(c.node(n)["subjects"]), n)

        # a rejoin: its own join brings it back on the rings
        fwds[victim].batch("discovered", [victim])
        self.assertEqual(c.state_of(victim), "Discovered")
        self.assertTrue(c.node(victim)["observers"])

    def test_snapshot_reply_and_bad_header(self):
        c = self.c
        f = Fwd(c, "ob00")
        body = f.snapshot(["ob00"])
        self.assertIn("observe", body)
        self.assertEqual(body["observe"]["subjects"], [])
        st, body, _ = request(c.port, "POST", "/monitor/heartbeat",
                              headers={"X-Reporter": "ob00", "X-Observe-Version": "v1"},
                              host=c.host)
        self.assertEqual(st, 400)
        self.assertIn("X-Observe-Version", body["error"])

    def test_restart_keeps_rings(self):
        c = self.c
        boot(c, NAMES[:6])
        before = {n: c.node(n) for n in NAMES[:6]}
        f = Fwd(c, NAMES[0])
        v_before = f.heartbeat()["observe"]["version"]
        c.stop()
        c.start()
        f2 = Fwd(c, NAMES[0])
        self.assertEqual(f2.heartbeat()["observe"]["version"], v_before)
        for n in NAMES[:6]:
            after = c.node(n)
            self.assertEqual(after["observers"], before[n]["observers"], n)
            self.assertEqual(after["subjects"], before[n]["subjects"], n)
            self.assertEqual(sorted(v["counted"] for v in after["votes"]),
                             sorted(v["counted"] for v in before[n]["votes"]), n)


class WithoutObservers(unittest.TestCase):
    def test_k0_unchanged(self):
        with Clusterm(config={"monitor": {"grace_s": 0}}) as c:
            a, b = Fwd(c, "ob00"), Fwd(c, "ob01")
            body = a.batch("discovered", ["ob00", "ob01"])
            self.assertNotIn("observe", body)
            b.batch("discovered", ["ob00", "ob01"])
            n = c.node("ob01")
            self.assertEqual((n["observers"], n["subjects"]), ([], []))
            self.assertTrue(all(v["counted"] for v in n["votes"] if not v["self"]))
            # a forwarder that holds an assignment is told observers are off
            b.version = 5
            self.assertEqual(b.heartbeat().get("observe"), {"version": 0})


if __name__ == "__main__":
    unittest.main(verbosity=2)
