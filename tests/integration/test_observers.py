"""Observers (CONTRACT 12), black box: a real clusterm with monitor.observers
taking the posts forwarders send (reporter headers, X-Observe-Version): the
observe assignment in replies (batches, snapshot, heartbeat), only observers'
votes counted, GET of a node with observers/subjects/counted, a kill decided
by the observers alone, K = 0 unchanged, the rings kept across a restart,
assignments held back while a burst of joins settles."""

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fwd_util import member_line, run_fwd, status  # noqa: E402
from util import CLUSTERCTL, Clusterm, report, request, wait_until  # noqa: E402

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
        # clusterctl node votes: the observers, and the outsider's vote not counted
        env = {k: v for k, v in os.environ.items() if k not in ("CLUSTERM_URL", "CLUSTERM_TOKEN")}
        env["CLUSTERM_URL"] = c.url()
        p = subprocess.run([CLUSTERCTL, "node", "votes", victim], env=env, text=True,
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("observers: " + ", ".join(obs), p.stdout)
        row = [line for line in p.stdout.splitlines() if line.startswith(outsider + " ")]
        self.assertEqual(len(row), 1, p.stdout)
        self.assertIn("gone", row[0])
        self.assertEqual(row[0].split()[4], "no", row[0])   # COUNTED

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


BURST = 100	# more than clusterm's OBSERVERS_BURST_CHANGES (64) joins at once


class Settling(unittest.TestCase):
    """A burst of joins (one operation turning BURST nodes Discovered): a
    node's assignment waits for its subjects to settle (1 s of operation
    time), a reporter without one is told to report only itself meanwhile;
    then the assignment is handed out, and the votes count as ever."""

    def test_burst_settles(self):
        names = ["bu%03d" % i for i in range(BURST)]
        with Clusterm(config={"monitor": {"grace_s": 0, "observers": K,
                                          "heartbeat_interval_s": 0}}) as c:
            t0 = time.monotonic()
            st, body, _ = c.post("/monitor/event/discovered",
                                 [report(n, "10.9.%d.%d" % (i // 200, i % 200 + 1), Node_Name=n)
                                  for i, n in enumerate(names)])
            self.assertEqual(st, 200, body)
            fwds = {n: Fwd(c, n) for n in names[:5]}
            early = {n: f.heartbeat().get("observe") for n, f in fwds.items()}
            if time.monotonic() - t0 < 0.5:	# well inside the settle time
                for n, ob in early.items():
                    self.assertEqual(ob, {"version": 0, "subjects": []}, n)
            for n in names:
                self.assertEqual(c.state_of(n), "Discovered", n)

            # once settled, a heartbeat carries the node's subjects
            def settled(n):
                f = fwds[n]
                f.heartbeat()
                return f.version and f.subjects and \
                    sorted(f.subjects) == sorted(c.node(n)["subjects"])
            for n in fwds:
                wait_until(lambda: settled(n), timeout=30, interval=0.2,
                           what="%s handed its assignment" % n)
            # its reports on them count
            f = fwds[names[0]]
            f.batch("discovered", f.subjects)
            for sub in f.subjects:
                counted = {v["reporter"] for v in c.node(sub)["votes"] if v["counted"]}
                self.assertIn(names[0], counted, sub)


FNAMES = ["fw%d" % i for i in range(6)]


def lines(names):
    return "".join(member_line(n, "10.7.0.%d" % (i + 1)) for i, n in enumerate(names))


class RealForwarder(unittest.TestCase):
    """The real serf-forwarder against a real clusterm with observers (K = 2)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="obs-fwd-")
        self.c = Clusterm(config={"monitor": {"grace_s": 0, "observers": 2,
                                              "heartbeat_interval_s": 0}}).start()

    def tearDown(self):
        self.c.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def spool(self, name):
        return os.path.join(self.tmp, name)

    def fwd(self, name, event=None, stdin="", cmd=()):
        p = run_fwd(["-u", self.c.url(), "-s", self.spool(name)] + list(cmd), event=event,
                    stdin=stdin, self_name=name)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def assignment(self, name):
        with open(os.path.join(self.spool(name), "observe")) as f:
            return json.load(f)

    def reports_taken(self, name):
        st, body, _ = self.c.get("/api/v1/reporters")
        self.assertEqual(st, 200, body)
        return {r["name"]: r["reports"] for r in body["reporters"]}.get(name, 0)

    def test_reports_only_self_and_subjects(self):
        c = self.c
        # each agent starts: its join event lists every member it sees
        for n in FNAMES:
            p = self.fwd(n, "member-join", lines(FNAMES))
            self.assertIn("version", self.assignment(n))
            # the own report, then each subject of the assignment it took
            # once: reported on taking it, left out of the batch that follows
            # (the nodes join one by one: nothing changes during the run)
            subjects = self.assignment(n)["subjects"]
            self.assertEqual(self.reports_taken(n), 1 + len(subjects), p.stderr)
            if subjects:
                self.assertIn("reported already as new subjects", p.stderr)
        # the own report first, then only the subjects of the assignment it
        # got: at most K reports on others per node, not N - 1
        others = sum(1 for n in FNAMES for v in c.node(n)["votes"] if not v["self"])
        self.assertLessEqual(others, 2 * len(FNAMES))
        # a tick brings each node its current assignment and reports its subjects
        taken = 0
        for n in FNAMES:
            taken += "assignment taken" in self.fwd(n, cmd=["tick"]).stderr
        self.assertGreater(taken, 0)
        for n in FNAMES:
            body = c.node(n)
            self.assertEqual(body["state"], "Discovered")
            self.assertEqual(sorted(self.assignment(n)["subjects"]), sorted(body["subjects"]))
            # all its observers reported on it, and only they count (an
            # earlier assignment may have had others report too)
            counted = {v["reporter"] for v in body["votes"] if v["counted"] and not v["self"]}
            self.assertEqual(counted, set(body["observers"]), (n, body["votes"]))
            self.assertLessEqual(len(body["votes"]), 1 + 2 * 2, body["votes"])
        # nothing changed: a second tick takes no assignment
        p = self.fwd(FNAMES[0], cmd=["tick"])
        self.assertNotIn("assignment taken", p.stderr)

        # a member fails: only its observers report it, it is Disappeared
        victim = FNAMES[3]
        obs = c.node(victim)["observers"]
        for n in FNAMES:
            if n != victim:
                p = self.fwd(n, "member-failed", lines([victim]))
                if n not in obs:
                    self.assertIn("not among this node's subjects", p.stderr)
        wait_until(lambda: c.state_of(victim) == "Disappeared", what="victim Disappeared")
        self.assertEqual({v["reporter"] for v in c.node(victim)["votes"]
                          if v["vote"] == "gone"}, set(obs))
        for n in FNAMES:
            if n != victim:
                self.assertEqual(c.state_of(n), "Discovered", n)

    def test_gone_report_kept_for_a_new_subject(self):
        """A member-failed about a member that is not a subject under the
        assignment held, but is under the one clusterm hands out next, is
        delivered when that assignment arrives (here by the tick), not lost
        with the reports the old assignment left out."""
        c = self.c
        for n in FNAMES:
            self.fwd(n, "member-join", lines(FNAMES))
        for n in FNAMES:
            self.fwd(n, cmd=["tick"])
        victim = FNAMES[2]
        watcher = c.node(victim)["observers"][0]
        held = self.assignment(watcher)
        self.assertIn(victim, held["subjects"])
        # the watcher holds an older assignment that does not name the victim
        with open(os.path.join(self.spool(watcher), "observe"), "w") as f:
            json.dump({"version": max(1, held["version"] - 1) if held["version"] > 1 else
                       held["version"] + 1000, "subjects": []}, f)
        p = self.fwd(watcher, "member-failed", lines([victim]))
        p = self.fwd(watcher, cmd=["tick"])
        self.assertIn(victim, self.assignment(watcher)["subjects"], p.stderr)
        gone = {v["reporter"] for v in c.node(victim)["votes"] if v["vote"] == "gone"}
        self.assertIn(watcher, gone, p.stderr)

    def test_assignment_file_kept_and_malformed_ignored(self):
        c = self.c
        self.fwd("fw0", "member-join", lines(["fw0"]))
        a = self.assignment("fw0")
        self.assertEqual(a["subjects"], [])
        # no temporary file left beside it
        self.assertEqual([f for f in os.listdir(self.spool("fw0")) if "observe" in f and
                          f != "observe"], [])
        # a damaged file is ignored with a line: every member reported
        with open(os.path.join(self.spool("fw0"), "observe"), "w") as f:
            f.write("{not json")
        self.fwd("fw1", "member-join", lines(["fw1"]))
        p = self.fwd("fw0", "member-update", lines(["fw0", "fw1"]))
        self.assertIn("ignored", p.stderr)
        self.assertIn("fw0", {v["reporter"] for v in c.node("fw1")["votes"]})
        # and replaced by the next reply's assignment
        self.assertIn("subjects", self.assignment("fw0"))

    def test_unreached_spools_one_batch(self):
        """No assignment known and clusterm not reached: the own member is not
        sent ahead on its own, the run spools one batch as without observers;
        a flush delivers it and the next run learns the assignment."""
        spool = self.spool("fw0")
        p = run_fwd(["-u", "http://127.0.0.1:9", "-s", spool], event="member-join",
                    stdin=lines(FNAMES[:3]), self_name="fw0")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(status(spool)["depth"], "1")
        self.assertFalse(os.path.exists(os.path.join(spool, "observe")))
        p = self.fwd("fw0", cmd=["flush"])
        self.assertEqual(status(spool)["depth"], "0")
        self.assertEqual(self.c.state_of("fw0"), "Discovered")

    def test_malformed_observe_reply(self):
        """A reply with a malformed observe: logged, the batch still delivered."""
        got = []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                got.append(self.rfile.read(n))
                body = json.dumps({"accepted": 1, "duplicates": 0,
                                   "observe": {"version": "x", "subjects": 3}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        try:
            spool = self.spool("bad")
            p = run_fwd(["-u", "http://127.0.0.1:%d" % srv.server_address[1], "-s", spool],
                        event="member-join", stdin=lines(["fw0", "fw1"]), self_name="fw0")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("malformed assignment", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(spool, "observe")))
            # both members were delivered (the own one first, then the other)
            sent = [r["Node-Name"] for b in got for r in json.loads(b)]
            self.assertEqual(sorted(sent), ["fw0", "fw1"])
        finally:
            srv.shutdown()
            srv.server_close()


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

    def test_k0_real_forwarder_reports_everyone(self):
        tmp = tempfile.mkdtemp(prefix="obs-k0-")
        try:
            with Clusterm(config={"monitor": {"grace_s": 0}}) as c:
                spool = os.path.join(tmp, "fw0")
                for ev in ("member-join", "member-update"):
                    p = run_fwd(["-u", c.url(), "-s", spool], event=ev,
                                stdin=lines(FNAMES[:3]), self_name="fw0")
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertNotIn("left out: not among", p.stderr)
                # the first run learnt that observers are off, and kept it
                with open(os.path.join(spool, "observe")) as f:
                    self.assertEqual(json.load(f), {"version": 0})
                for n in FNAMES[1:3]:
                    self.assertIn("fw0", {v["reporter"] for v in c.node(n)["votes"]})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
