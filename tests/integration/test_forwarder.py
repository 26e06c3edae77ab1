"""serf-forwarder against the real clusterm, black box: batches per event,
update suppression, the spool across an outage, duplicates of a retried
batch, rejections, concurrent runs on one spool, kill -9 while spooling."""

import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import FORWARDER, Clusterm, free_port, wait_until  # noqa: E402
from fwd_util import (DroppingProxy, FakeHTTPS, make_cert, member_line,  # noqa: E402
                      run_fwd, status)


class ForwarderTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fwd-test-")
        self.spool = os.path.join(self.tmp, "spool")
        self.cm = Clusterm(config={"monitor": {"grace_s": 0}})

    def tearDown(self):
        self.cm.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fwd(self, event, lines, extra=(), self_name="rep1", url=None, t="5"):
        args = ["-s", self.spool, "-t", t, "-u", url or self.cm.url()] + list(extra)
        return run_fwd(args, event=event, stdin="".join(lines), self_name=self_name)

    def assertRun(self, p, rc=0):
        self.assertEqual(p.returncode, rc, "stdout=%r stderr=%r" % (p.stdout, p.stderr))

    def assertGoneUnknown(self, name):
        """Only its failure reached clusterm (the join was left out as stale):
        a node never known is not made by a gone report, which is audited."""
        self.assertIsNone(self.cm.node(name))
        st, ev, _ = self.cm.get("/api/v1/events?node=" + name)
        self.assertIn(("report", "Disappeared"), [(e["kind"], e["new"]) for e in ev["events"]])

    def test_join_update_leave_failed(self):
        self.cm.start()
        lines = [member_line("rep1", "127.0.0.1", "web", NodeSerial="S1", rack="r1"),
                 member_line("m2", "127.0.0.2", NodeLabel="host2", NodeAddr="10.1.1.2"),
                 member_line("m3", "127.0.0.3", weird="a,b", eq="x=y")]
        p = self.fwd("member-join", lines)
        self.assertRun(p)
        self.assertIn("delivered", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        n = self.cm.node("rep1-S1")
        self.assertEqual(n["state"], "Discovered")
        self.assertEqual(n["role"], "web")
        self.assertEqual(n["tags"], {"rack": "r1"})
        self.assertEqual(n["votes"][0]["reporter"], "rep1")
        n2 = self.cm.node("host2")
        self.assertEqual(n2["address"], "10.1.1.2")
        self.assertEqual(n2["member"], "m2")
        self.assertEqual(self.cm.node("m3")["tags"], {"weird": "a,b", "eq": "x=y"})
        seq = n2["votes"][0]["seq"]

        # serf#555: an unchanged update is left out, a changed one goes
        p = self.fwd("member-update", [lines[1]])
        self.assertRun(p)
        self.assertIn("1 unchanged", p.stderr)
        self.assertEqual(self.cm.node("host2")["votes"][0]["seq"], seq)
        p = self.fwd("member-update", [member_line("m2", "127.0.0.2", NodeLabel="host2",
                                                   NodeAddr="10.1.1.2", rack="r9")])
        self.assertRun(p)
        self.assertEqual(self.cm.node("host2")["tags"], {"rack": "r9"})

        p = self.fwd("member-failed", [lines[2]])
        self.assertRun(p)
        self.assertEqual(self.cm.state_of("m3"), "Disappeared")
        # back within a second: only an update, which must not be suppressed
        p = self.fwd("member-update", [lines[2]])
        self.assertRun(p)
        self.assertEqual(self.cm.state_of("m3"), "Discovered")
        p = self.fwd("member-leave", [lines[1]])
        self.assertRun(p)
        self.assertEqual(self.cm.state_of("host2"), "Disappeared")
        self.assertEqual(status(self.spool)["depth"], "0")

    def test_user_events_and_usage(self):
        p = self.fwd("user", ["payload\n"])
        self.assertRun(p)
        self.assertIn("ignored", p.stderr)
        p = run_fwd(["-s", self.spool])            # no SERF_EVENT: not run by serf
        self.assertRun(p, 1)
        p = run_fwd(["-t", "abc", "flush"])
        self.assertRun(p, 1)
        p = run_fwd(["frobnicate"])
        self.assertRun(p, 1)
        cfg = os.path.join(self.tmp, "bad.conf")
        with open(cfg, "w") as f:
            f.write('{"timeout_s": "soon"}')
        p = run_fwd(["-c", cfg, "status"])
        self.assertRun(p, 1)
        self.assertIn("timeout_s", p.stderr)
        p = run_fwd(["version"])
        self.assertRun(p)
        self.assertRegex(p.stdout, r"^serf-forwarder \d+\.\d+")

    def test_invalid_members_left_out(self):
        self.cm.start()
        p = self.fwd("member-join", [member_line("ok1", "127.0.0.5"),
                                     member_line("bad name", "127.0.0.6"),
                                     "garbage-without-tabs\n",
                                     member_line("ok2", "127.0.0.7", NodeAddr="999.1.1.1")])
        self.assertRun(p, 3)
        self.assertIn("bad name", p.stderr)
        self.assertEqual(self.cm.state_of("ok1"), "Discovered")
        self.assertIsNone(self.cm.node("ok2"))

    def test_outage_spool_then_flush_in_order(self):
        # clusterm not running yet: everything is spooled, exit 0
        url = self.cm.url()
        events = [("member-join", [member_line("a", "127.0.0.1"), member_line("b", "127.0.0.2"),
                                   member_line("c", "127.0.0.3")]),
                  ("member-failed", [member_line("b", "127.0.0.2")]),
                  ("member-update", [member_line("c", "127.0.0.3", rack="r2")]),
                  ("member-leave", [member_line("c", "127.0.0.3", rack="r2")]),
                  ("member-join", [member_line("c", "127.0.0.3", rack="r3")])]
        for ev, lines in events:
            p = self.fwd(ev, lines, url=url)
            self.assertRun(p)
            self.assertIn("spooled", p.stderr)
        st = status(self.spool)
        self.assertEqual(st["depth"], "5")
        self.assertNotEqual(st["oldest"], "-")
        self.assertRegex(st["oldest"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIn("onnect", st["last_error"])
        p = run_fwd(["-s", self.spool, "-u", url, "-t", "2", "flush"])
        self.assertRun(p, 2)                       # still down: flush says so

        self.cm.start()
        p = run_fwd(["-s", self.spool, "-u", url, "flush"])
        self.assertRun(p)
        self.assertEqual(self.cm.state_of("a"), "Discovered")
        self.assertGoneUnknown("b")
        self.assertEqual(self.cm.state_of("c"), "Discovered")
        self.assertEqual(self.cm.node("c")["tags"], {"rack": "r3"})
        st = status(self.spool)
        self.assertEqual((st["depth"], st["bytes"], st["oldest"], st["last_error"]),
                         ("0", "0", "-", "-"))

    def test_next_event_replays_spool_first(self):
        url = self.cm.url()
        self.assertRun(self.fwd("member-join", [member_line("x", "127.0.0.9")], url=url))
        self.assertRun(self.fwd("member-failed", [member_line("x", "127.0.0.9")], url=url))
        self.cm.start()
        p = self.fwd("member-join", [member_line("y", "127.0.0.10")])
        self.assertRun(p)
        self.assertIn("2 delivered", p.stderr)
        self.assertGoneUnknown("x")
        self.assertEqual(self.cm.state_of("y"), "Discovered")

    def test_retried_batch_is_duplicate(self):
        self.cm.start()
        proxy = DroppingProxy(self.cm.port)
        try:
            p = self.fwd("member-join", [member_line("d1", "127.0.0.1"),
                                         member_line("d2", "127.0.0.2")],
                         url="http://127.0.0.1:%d" % proxy.port)
            self.assertRun(p)                      # no reply: spooled
            self.assertIn("spooled", p.stderr)
            wait_until(lambda: proxy.forwarded == 1, what="proxy forwarded")
        finally:
            proxy.close()
        self.assertEqual(self.cm.state_of("d1"), "Discovered")  # applied all the same
        p = run_fwd(["-s", self.spool, "-u", self.cm.url(), "flush"])
        self.assertRun(p)
        self.assertIn("accepted 0, duplicates 2", p.stderr)
        self.assertEqual(status(self.spool)["depth"], "0")

    def test_rejected_4xx(self):
        self.cm.start()
        # a path clusterm does not serve: 404
        p = self.fwd("member-join", [member_line("r1", "127.0.0.1")],
                     url=self.cm.url() + "/nope")
        self.assertRun(p, 3)
        self.assertIn("REJECTED", p.stderr)
        rej = os.path.join(self.spool, "rejected")
        files = sorted(os.listdir(rej))
        self.assertEqual(len(files), 2, files)
        self.assertTrue(files[0].endswith(".json") and files[1].endswith(".reply"))
        with open(os.path.join(rej, files[1])) as f:
            self.assertTrue(f.read().startswith("HTTP 404"))
        self.assertEqual(status(self.spool)["depth"], "0")

    def test_rejected_413_from_spool(self):
        self.cm.config = {"monitor": {"grace_s": 0}, "manager": {"max_body_bytes": 1024}}
        big = [member_line("big%d" % i, "127.0.0.1", rack="r" * 40) for i in range(30)]
        self.assertRun(self.fwd("member-join", big))           # down: spooled
        self.assertRun(self.fwd("member-join", [member_line("small", "127.0.0.1")]))
        self.cm.start()
        p = run_fwd(["-s", self.spool, "-u", self.cm.url(), "flush"])
        self.assertRun(p, 3)
        self.assertIn("rejected", p.stderr)
        self.assertEqual(self.cm.state_of("small"), "Discovered")
        self.assertIsNone(self.cm.node("big0"))
        replies = [f for f in os.listdir(os.path.join(self.spool, "rejected"))
                   if f.endswith(".reply")]
        with open(os.path.join(self.spool, "rejected", replies[0])) as f:
            self.assertTrue(f.read().startswith("HTTP 413"))

    def test_failover_to_second_url(self):
        self.cm.start()
        dead = "http://127.0.0.1:%d" % free_port()
        p = run_fwd(["-s", self.spool, "-u", dead, "-u", self.cm.url()], event="member-join",
                    stdin=member_line("f1", "127.0.0.1"))
        self.assertRun(p)
        self.assertIn("delivered to " + self.cm.url(), p.stderr)
        # SERF_FORWARDER_URL and the config file give the list too
        cfg = os.path.join(self.tmp, "fwd.conf")
        with open(cfg, "w") as f:
            f.write('{"urls": ["%s"], "spool_dir": "%s", "timeout_s": 3}' % (dead, self.spool))
        p = run_fwd(["-c", cfg], event="member-join", stdin=member_line("f2", "127.0.0.2"),
                    env={"SERF_FORWARDER_URL": "%s,%s" % (dead, self.cm.url())})
        self.assertRun(p)
        self.assertEqual(self.cm.state_of("f2"), "Discovered")

    def concurrent(self, n, url):
        procs = []
        e = {k: v for k, v in os.environ.items() if not k.startswith("SERF_")}
        try:
            for i in range(n):
                env = dict(e, SERF_EVENT="member-join", SERF_SELF_NAME="rep1")
                pr = subprocess.Popen([FORWARDER, "-s", self.spool, "-u", url],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=env, text=True)
                procs.append(pr)
            for i, pr in enumerate(procs):
                out, err = pr.communicate(member_line("c%d" % i, "127.0.0.1"), timeout=30)
                self.assertEqual(pr.returncode, 0, err)
        finally:
            for pr in procs:
                if pr.poll() is None:
                    pr.kill()
                    pr.wait()

    def test_concurrent_runs_one_spool(self):
        self.concurrent(8, self.cm.url())          # down: all spooled
        self.assertEqual(status(self.spool)["depth"], "8")
        self.cm.start()
        self.concurrent(8, self.cm.url())          # up: replay + new, serialised
        for i in range(8):
            self.assertEqual(self.cm.state_of("c%d" % i), "Discovered")
        self.assertEqual(status(self.spool)["depth"], "0")

    def test_kill9_while_spooling(self):
        url = self.cm.url()
        many = "".join(member_line("k%d" % i, "127.0.0.1", rack="r" * 50) for i in range(3000))
        e = {k: v for k, v in os.environ.items() if not k.startswith("SERF_")}
        env = dict(e, SERF_EVENT="member-join", SERF_SELF_NAME="rep1")
        killed = 0
        for delay in (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08):
            pr = subprocess.Popen([FORWARDER, "-s", self.spool, "-u", url],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, env=env)
            try:
                try:
                    pr.stdin.write(many.encode())
                    pr.stdin.close()
                except BrokenPipeError:
                    pass
                time.sleep(delay)
                if pr.poll() is None:
                    pr.send_signal(signal.SIGKILL)
                    killed += 1
            finally:
                pr.wait(10)
        # the spool still works: status reads it, a new run spools behind it (and
        # may leave out batches whose every member has a newer report behind it)
        st = status(self.spool)
        self.assertRun(self.fwd("member-join", [member_line("last", "127.0.0.2")], url=url))
        self.assertGreaterEqual(int(status(self.spool)["depth"]), 1)
        self.assertLessEqual(int(status(self.spool)["depth"]), int(st["depth"]) + 1)
        self.cm.start()
        p = run_fwd(["-s", self.spool, "-u", url, "-t", "20", "flush"])
        self.assertRun(p)
        self.assertNotRegex(p.stderr, r"[1-9]\d* corrupt")
        self.assertGreater(killed, 0)
        self.assertEqual(self.cm.state_of("last"), "Discovered")
        self.assertEqual(status(self.spool)["depth"], "0")
        leftovers = [f for f in os.listdir(os.path.join(self.spool, "q"))]
        self.assertEqual(leftovers, [])

    def test_replay_leaves_out_stale_reports(self):
        # clusterm down: x2 joins, then fails; both batches wait in the spool
        url = self.cm.url()
        self.assertRun(self.fwd("member-join", [member_line("x1", "127.0.0.1"),
                                                member_line("x2", "127.0.0.2")], url=url))
        self.assertRun(self.fwd("member-failed", [member_line("x2", "127.0.0.2")], url=url))
        self.assertEqual(status(self.spool)["depth"], "2")
        self.cm.start()
        p = run_fwd(["-s", self.spool, "-u", url, "flush"])
        self.assertRun(p)
        self.assertIn("1 stale reports left out", p.stderr)
        self.assertEqual(self.cm.state_of("x1"), "Discovered")
        # x2 never looked alive on the way: its alive report was stale, and
        # its failure alone makes no node
        self.assertGoneUnknown("x2")
        st, ev, _ = self.cm.get("/api/v1/events?node=x2")
        self.assertEqual([e for e in ev["events"] if e["kind"] == "state"], [])

    def test_compaction_keeps_latest(self):
        url = self.cm.url()
        compacted = 0
        for i in range(20):
            ev = "member-join" if i % 2 == 0 else "member-failed"
            p = self.fwd(ev, [member_line("cp%d" % (i % 3), "127.0.0.1", round=str(i))],
                         extra=["-c", self.small_conf()], url=url)
            self.assertRun(p)
            # stale reports go either by compaction or by the replay leaving out
            # reports that have a newer one for the node queued behind them
            compacted += ("compacted" in p.stderr or
                          re.search(r"[1-9]\d* stale reports left out", p.stderr) is not None)
        self.assertGreater(compacted, 0)
        self.assertLess(int(status(self.spool)["bytes"]), 4096 + 1024)
        self.cm.start()
        self.assertRun(run_fwd(["-s", self.spool, "-u", url, "flush"]))
        # cp0 last at i=18 (join), cp1 at i=19 (failed), cp2 at i=17 (failed)
        self.assertEqual(self.cm.state_of("cp0"), "Discovered")
        self.assertEqual(self.cm.node("cp0")["tags"], {"round": "18"})
        self.assertGoneUnknown("cp1")
        self.assertGoneUnknown("cp2")

    def hold_lock(self):
        """Takes the spool lock as another run would (the caller closes it)."""
        os.makedirs(self.spool, exist_ok=True)
        f = open(os.path.join(self.spool, "lock"), "a+")
        fcntl.flock(f, fcntl.LOCK_EX)
        return f

    def test_lock_timeout_goes_to_incoming(self):
        self.cm.start()
        incoming = os.path.join(self.spool, "incoming")
        events = [("member-join", member_line("lk1", "127.0.0.1", rack="r1")),
                  ("member-failed", member_line("lk1", "127.0.0.1", rack="r1")),
                  ("member-join", member_line("lk1", "127.0.0.1", rack="r3")),
                  ("member-update", member_line("lk1", "127.0.0.1", rack="r3"))]
        lock = self.hold_lock()
        try:
            for ev, line in events:
                t0 = time.monotonic()
                p = self.fwd(ev, [line], t="0.5")
                self.assertRun(p)                  # not lost: exit 0
                self.assertLess(time.monotonic() - t0, 2.0)
                self.assertIn("incoming", p.stderr)
            files = sorted(f for f in os.listdir(incoming) if not f.startswith("."))
            self.assertEqual(len(files), 4, files)
            st = status(self.spool)                # status counts incoming/
            self.assertEqual(st["depth"], "4")
            self.assertGreater(int(st["bytes"]), 0)
            self.assertNotEqual(st["oldest"], "-")
            p = run_fwd(["-s", self.spool, "-u", self.cm.url(), "-t", "0.5", "flush"])
            self.assertRun(p, 2)                   # flush cannot get the lock either
        finally:
            lock.close()
        self.assertIsNone(self.cm.node("lk1"))
        p = run_fwd(["-s", self.spool, "-u", self.cm.url(), "flush"])
        self.assertRun(p)
        self.assertIn("4 delivered", p.stderr)
        # in writing order: the final state is the last event's
        self.assertEqual(self.cm.state_of("lk1"), "Discovered")
        self.assertEqual(self.cm.node("lk1")["tags"], {"rack": "r3"})
        self.assertEqual(os.listdir(incoming), [])
        self.assertEqual(status(self.spool)["depth"], "0")
        # seen learnt the absorbed state: a repeated update is left out
        p = self.fwd("member-update", [events[2][1]])
        self.assertRun(p)
        self.assertIn("1 unchanged", p.stderr)

    def test_lock_timeout_then_next_event_absorbs(self):
        url = self.cm.url()
        # behind an outage too: q/ holds one batch, incoming/ two, then the event
        self.assertRun(self.fwd("member-join", [member_line("ab1", "127.0.0.1")], url=url))
        lock = self.hold_lock()
        try:
            self.assertRun(self.fwd("member-failed", [member_line("ab1", "127.0.0.1")],
                                    t="0.3"))
            self.assertRun(self.fwd("member-join", [member_line("ab2", "127.0.0.2")],
                                    t="0.3"))
        finally:
            lock.close()
        self.assertEqual(status(self.spool)["depth"], "3")
        self.cm.start()
        p = self.fwd("member-failed", [member_line("ab2", "127.0.0.2")])
        self.assertRun(p)
        self.assertIn("3 delivered", p.stderr)
        self.assertGoneUnknown("ab1")
        self.assertEqual(self.cm.state_of("ab2"), "Disappeared")
        self.assertEqual(status(self.spool)["depth"], "0")

    def test_http_runs_do_not_load_libcurl(self):
        self.cm.start()
        p = run_fwd(["-s", self.spool, "-u", self.cm.url()], event="member-join",
                    stdin=member_line("nc1", "127.0.0.1"), env={"LD_DEBUG": "files"})
        self.assertRun(p)
        self.assertNotIn("libcurl", p.stderr)
        self.assertNotIn("libssl", p.stderr)
        self.assertIn("libc.so", p.stderr)        # LD_DEBUG did report the loads
        out = subprocess.run(["ldd", FORWARDER], capture_output=True, text=True).stdout
        self.assertNotIn("libcurl", out)
        self.assertNotIn("libssl", out)

    def test_https_with_ca_file_and_token(self):
        cert, key = make_cert(self.tmp)
        tok = os.path.join(self.tmp, "token")
        with open(tok, "w") as f:
            f.write("t0ken-value\n")
        srv = FakeHTTPS(cert, key)
        try:
            base = ["-s", self.spool, "-u", srv.url(), "--token-file", tok]
            p = run_fwd(base + ["--cacert", cert], event="member-join",
                        stdin=member_line("tls1", "127.0.0.1"), env={"LD_DEBUG": "files"})
            self.assertRun(p)
            self.assertIn("delivered to https://", p.stderr)
            self.assertIn("libssl.so.3", p.stderr)    # loaded for https only
            path, hdrs, body = srv.posts[-1]
            self.assertEqual(path, "/monitor/event/discovered")
            self.assertEqual(hdrs["Authorization"], "Bearer t0ken-value")
            self.assertEqual(hdrs["X-Reporter"], "rep1")
            self.assertIn(b'"tls1"', body)
            # not trusted without the CA file: spooled, exit 0
            p = run_fwd(base, event="member-join", stdin=member_line("tls2", "127.0.0.1"))
            self.assertRun(p)
            self.assertIn("spooled", p.stderr)
            self.assertEqual(status(self.spool)["depth"], "1")
            # libssl that cannot be loaded: said clearly, spooled, exit 0
            libdir = os.path.join(self.tmp, "badlib")
            os.makedirs(libdir)
            open(os.path.join(libdir, "libssl.so.3"), "w").close()
            p = run_fwd(base + ["--cacert", cert], event="member-join",
                        stdin=member_line("tls3", "127.0.0.1"),
                        env={"LD_LIBRARY_PATH": libdir})
            self.assertRun(p)
            self.assertIn("cannot load libssl.so.3", p.stderr)
            self.assertIn("spooled", p.stderr)
            self.assertEqual(status(self.spool)["depth"], "2")
            p = run_fwd(base + ["--cacert", cert, "flush"])
            self.assertRun(p)
            self.assertEqual(status(self.spool)["depth"], "0")
            self.assertIn(b'"tls3"', srv.posts[-1][2])
        finally:
            srv.close()

    def small_conf(self):
        path = os.path.join(self.tmp, "small.conf")
        with open(path, "w") as f:
            f.write('{"spool_max_bytes": 4096}')
        return path


if __name__ == "__main__":
    unittest.main(verbosity=2)
