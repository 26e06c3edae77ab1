"""serf-forwarder tick (CONTRACT sections 6 and 11) against the real
clusterm: a batch spooled while clusterm was down is delivered by the next
tick without any serf event; ticks never overlap; a tick that cannot reach
clusterm exits 0 and leaves the spool as it was; a sync when due and not
before; the node's name from the config, the last event run or
`serf info`. The headers the forwarder sends (X-Spool-Depth, the
heartbeat's reporter headers) are checked on a recording HTTP server."""

import fcntl
import hashlib
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
from util import FORWARDER, Clusterm, free_port, wait_until  # noqa: E402
from fwd_util import member_line, run_fwd, status  # noqa: E402

SERF = shutil.which("serf")


def spool_files(spool):
    """{relative path: sha256} of the queue and incoming/ (what a tick must not change)."""
    out = {}
    for sub in ("q", "incoming"):
        d = os.path.join(spool, sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                out[sub + "/" + name] = hashlib.sha256(f.read()).hexdigest()
    return out


def metric(cm, name):
    st, text, _ = cm.get("/metrics")
    assert st == 200, text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics" % name)


class Recorder:
    """An HTTP server on loopback that records every POST (path, headers)
    and answers 200 with clusterm's reply shape, or 404 for paths listed
    in missing."""

    def __init__(self, missing=()):
        outer = self
        self.posts = []
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.posts.append((self.path, {k.lower(): v for k, v in
                                                    self.headers.items()}, body))
                if self.path in missing:
                    code, reply = 404, b'{"error":"no such path"}'
                else:
                    code, reply = 200, b'{"accepted":1,"duplicates":0}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def take(self):
        with self.lock:
            p, self.posts = self.posts, []
        return p

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TickBase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fwd-tick-test-")
        self.spool = os.path.join(self.tmp, "spool")
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def conf(self, **keys):
        path = os.path.join(self.tmp, "fwd-%d.conf" % len(os.listdir(self.tmp)))
        c = {"spool_dir": self.spool, "timeout_s": 5}
        c.update(keys)
        with open(path, "w") as f:
            json.dump(c, f)
        return path

    def tick(self, url, conf=None, env=None, extra=()):
        args = ["-v", "-u", url] + (["-c", conf] if conf else ["-s", self.spool])
        return run_fwd(args + list(extra) + ["tick"], env=env)

    def event(self, url, event, name, self_name="rep1"):
        return run_fwd(["-s", self.spool, "-t", "3", "-u", url], event=event,
                       stdin=member_line(name, "127.0.0.1", rack="r1"), self_name=self_name)

    def assertRun(self, p, rc=0):
        self.assertEqual(p.returncode, rc, "stdout=%r stderr=%r" % (p.stdout, p.stderr))


class TickWithClusterm(TickBase):
    def setUp(self):
        super().setUp()
        self.cm = Clusterm(config={"monitor": {"grace_s": 0}})
        self.down_url = "http://127.0.0.1:%d" % free_port()

    def tearDown(self):
        self.cm.cleanup()
        super().tearDown()

    def test_spooled_leave_delivered_by_tick(self):
        """The case that stayed wrong: a leave spooled while clusterm was
        down; clusterm back; no serf event follows. The tick delivers it."""
        self.cm.start()
        self.assertRun(self.event(self.cm.url(), "member-join", "lv1"))
        self.assertEqual(self.cm.state_of("lv1"), "Discovered")
        self.cm.stop()
        self.assertRun(self.event(self.cm.url(), "member-leave", "lv1"))
        self.assertEqual(status(self.spool)["depth"], "1")
        self.cm.start()
        self.assertEqual(self.cm.state_of("lv1"), "Discovered")

        p = self.tick(self.cm.url(), conf=self.conf(node_name="rep1", sync_interval_s=3600),
                      env={"SERF_RPC_ADDR": "127.0.0.1:%d" % free_port()})
        self.assertRun(p)
        self.assertEqual(self.cm.state_of("lv1"), "Disappeared")
        st = status(self.spool)
        self.assertEqual(st["depth"], "0")
        self.assertEqual(st["last_error"], "-")

    def test_tick_with_clusterm_down_changes_nothing(self):
        self.cm.start()
        self.cm.stop()
        self.assertRun(self.event(self.cm.url(), "member-join", "dn1"))
        self.assertRun(self.event(self.cm.url(), "member-join", "dn2"))
        before = spool_files(self.spool)
        self.assertEqual(len(before), 2)
        conf = self.conf(node_name="rep1")
        for _ in range(2):
            p = self.tick(self.down_url, conf=conf)
            self.assertRun(p, 0)
            self.assertEqual(spool_files(self.spool), before)
            self.assertEqual(status(self.spool)["depth"], "2")
        self.assertIn("not sent (clusterm not reached)", p.stderr)
        # nothing queued either: the spool only holds the two batches
        self.assertFalse(os.path.exists(os.path.join(self.spool, "rejected")))

        # an empty spool, clusterm down: the heartbeat fails, exit 0, nothing spooled
        self.cm.start()
        self.assertRun(self.tick(self.cm.url(), conf=self.conf(node_name="rep1",
                                                               sync_interval_s=3600)))
        self.assertEqual(status(self.spool)["depth"], "0")
        self.assertEqual(self.cm.state_of("dn2"), "Discovered")
        p = self.tick(self.down_url, conf=conf)
        self.assertRun(p, 0)
        self.assertIn("heartbeat not delivered", p.stderr)
        self.assertEqual(spool_files(self.spool), {})

    def test_ticks_do_not_overlap(self):
        self.cm.start()
        self.cm.stop()
        self.assertRun(self.event(self.cm.url(), "member-join", "ov1"))
        self.cm.start()
        conf = self.conf(node_name="rep1", sync_interval_s=3600)
        os.makedirs(self.spool, exist_ok=True)
        # a tick in progress holds tick.lock: the second exits 0 at once, doing nothing
        fd = os.open(os.path.join(self.spool, "tick.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            t0 = time.monotonic()
            p = self.tick(self.cm.url(), conf=conf)
            took = time.monotonic() - t0
            self.assertRun(p, 0)
            self.assertIn("another tick holds", p.stderr)
            self.assertLess(took, 4.0, "a second tick must not wait for the first")
            self.assertEqual(status(self.spool)["depth"], "1")
            self.assertIsNone(self.cm.state_of("ov1"))
        finally:
            os.close(fd)
        # two at once: both exit 0, the batch arrives once
        ps = [subprocess.Popen([FORWARDER, "-v", "-c", conf, "-u", self.cm.url(), "tick"],
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]
        self.procs += ps
        outs = [p.communicate(timeout=30)[1] for p in ps]
        self.assertEqual([p.returncode for p in ps], [0, 0], outs)
        self.assertEqual(status(self.spool)["depth"], "0")
        self.assertEqual(self.cm.state_of("ov1"), "Discovered")
        self.assertEqual(metric(self.cm, "clusterm_reports_duplicate_total"), 0)

    def test_name_from_last_event_run(self):
        """No node_name, no SERF_SELF_NAME, serf unreachable: the tick
        reports under the name of the last event run."""
        self.cm.start()
        self.assertRun(self.event(self.cm.url(), "member-join", "nm1", self_name="evname"))
        with open(os.path.join(self.spool, "self")) as f:
            self.assertEqual(f.read().strip(), "evname")
        p = self.tick(self.cm.url(), env={"SERF_RPC_ADDR": "127.0.0.1:%d" % free_port()},
                      extra=())
        self.assertIn("node name evname (from the last event run)", p.stderr)
        self.assertIn("tick from evname", p.stderr)
        # a later event run under another name moves it
        self.assertRun(self.event(self.cm.url(), "member-join", "nm2", self_name="evname2"))
        p = self.tick(self.cm.url(), env={"SERF_RPC_ADDR": "127.0.0.1:%d" % free_port()})
        self.assertIn("tick from evname2", p.stderr)
        # node_name in the config wins over it
        p = self.tick(self.cm.url(), conf=self.conf(node_name="cfgname"))
        self.assertIn("node name cfgname (from node_name)", p.stderr)

    def test_no_name_anywhere_still_delivers_the_spool(self):
        """Neither node_name, a last event run, nor serf: the spool still goes;
        the tick says why it sent no heartbeat, and shows serf's own words."""
        self.cm.start()
        self.cm.stop()
        self.assertRun(self.event(self.cm.url(), "member-join", "nn1"))
        os.unlink(os.path.join(self.spool, "self"))
        self.cm.start()
        p = self.tick(self.cm.url(), extra=["--rpc-addr", "127.0.0.1:%d" % free_port()])
        self.assertRun(p, 2)
        self.assertIn("serf said:", p.stderr)
        self.assertIn("heartbeat no node name", p.stderr)
        self.assertEqual(self.cm.state_of("nn1"), "Discovered")
        self.assertEqual(status(self.spool)["depth"], "0")

    def test_config_keys_range_checked(self):
        for key, val in (("tick_s", 0), ("tick_s", 3601), ("sync_interval_s", 0),
                         ("sync_interval_s", "x"), ("node_name", 5), ("rpc_addr", [])):
            p = self.tick(self.down_url, conf=self.conf(**{key: val}))
            self.assertRun(p, 1)
            self.assertIn(key, p.stderr)

    def test_version(self):
        for args in (["version"], ["--version"]):
            p = run_fwd(args)
            self.assertRun(p)
            self.assertRegex(p.stdout, r"^serf-forwarder [0-9]")


@unittest.skipIf(SERF is None, "serf is not installed")
class TickSync(TickBase):
    """A real serf agent: the sync's members and `serf info`'s name."""

    def setUp(self):
        super().setUp()
        self.cm = Clusterm(config={"monitor": {"grace_s": 0}})
        self.rpc = "127.0.0.1:%d" % free_port()
        bind = "127.0.0.1:%d" % free_port()
        self.log = open(os.path.join(self.tmp, "serf.log"), "wb")
        self.serf = subprocess.Popen([SERF, "agent", "-node", "sy1", "-bind", bind,
                                      "-rpc-addr", self.rpc, "-tag", "NodeSerial=S1"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.procs.append(self.serf)
        wait_until(lambda: subprocess.run([SERF, "info", "-rpc-addr", self.rpc],
                                          capture_output=True, timeout=5).returncode == 0,
                   timeout=20, what="serf agent RPC")

    def tearDown(self):
        self.cm.cleanup()
        super().tearDown()
        self.log.close()

    def read_sync(self):
        with open(os.path.join(self.spool, "sync")) as f:
            last, due = (int(x) for x in f.read().split())
        return last, due

    def wait_due(self, due):
        wait_until(lambda: time.time() * 1000 >= due + 10, timeout=10, interval=0.1,
                   what="the sync's due time")

    def test_sync_when_due_and_not_before(self):
        self.cm.start()
        conf = self.conf(sync_interval_s=3, rpc_addr=self.rpc)
        reports = metric(self.cm, "clusterm_reports_received_total")
        # the first tick puts the first sync at a random point of one interval
        p = self.tick(self.cm.url(), conf=conf)
        self.assertRun(p)
        self.assertIn("node name sy1 (from serf info)", p.stderr)
        last, due = self.read_sync()
        self.assertLessEqual(due - time.time() * 1000, 3000)
        if "sync due in" in p.stderr:
            # the random point is ahead (it may fall on this very tick: synced)
            self.assertEqual(last, 0)
            self.assertIsNone(self.cm.state_of("sy1-S1"))
            self.assertEqual(metric(self.cm, "clusterm_reports_received_total"), reports)
            self.wait_due(due)
            p = self.tick(self.cm.url(), conf=conf)
            self.assertRun(p)
        self.assertIn("sync done", p.stderr)
        self.assertEqual(self.cm.state_of("sy1-S1"), "Discovered")
        after1 = metric(self.cm, "clusterm_reports_received_total")
        self.assertEqual(after1, reports + 1)
        last, due = self.read_sync()
        self.assertGreaterEqual(due - last, 2400)      # 3 s less at most 20 %
        self.assertLessEqual(due - last, 3000)
        # not due: no sync
        p = self.tick(self.cm.url(), conf=conf)
        self.assertRun(p)
        if time.time() * 1000 < due:
            self.assertIn("sync due in", p.stderr)
            self.assertEqual(metric(self.cm, "clusterm_reports_received_total"), after1)
            self.assertEqual(self.read_sync(), (last, due))
        # due: the next tick syncs
        self.wait_due(due)
        p = self.tick(self.cm.url(), conf=conf)
        self.assertRun(p)
        self.assertIn("sync done", p.stderr)
        self.assertEqual(metric(self.cm, "clusterm_reports_received_total"), after1 + 1)
        self.assertGreater(self.read_sync()[0], last)

    def test_sync_not_tried_while_clusterm_down(self):
        conf = self.conf(sync_interval_s=3, rpc_addr=self.rpc)
        down = "http://127.0.0.1:%d" % free_port()
        self.assertRun(self.tick(down, conf=conf), 0)
        _, due = self.read_sync()
        self.wait_due(due)
        p = self.tick(down, conf=conf)
        self.assertRun(p, 0)
        self.assertIn("sync due, left for the next tick", p.stderr)
        self.assertEqual(self.read_sync(), (0, due))
        self.assertEqual(status(self.spool)["depth"], "0")


class TickHeaders(TickBase):
    """What goes on the wire: X-Spool-Depth on every POST, the heartbeat's
    reporter headers (the last seq, not a new one), a 404 tolerated."""

    def setUp(self):
        super().setUp()
        self.rec = Recorder(missing=("/monitor/heartbeat",))

    def tearDown(self):
        self.rec.close()
        super().tearDown()

    def test_spool_depth_and_heartbeat_headers(self):
        down = "http://127.0.0.1:%d" % free_port()
        for name in ("h1", "h2", "h3"):
            self.assertRun(self.event(down, "member-join", name))
        self.assertEqual(status(self.spool)["depth"], "3")
        # three queued batches merge into one replay POST: nothing left behind it
        p = self.tick(self.rec.url(), conf=self.conf(node_name="hb1", sync_interval_s=3600))
        self.assertRun(p, 0)
        self.assertIn("answered 404", p.stderr)
        posts = self.rec.take()
        paths = [x[0] for x in posts]
        self.assertEqual(paths, ["/monitor/event/discovered", "/monitor/heartbeat"])
        replay, hb = posts[0][1], posts[1][1]
        self.assertEqual(replay["x-spool-depth"], "0")
        self.assertEqual(replay["x-reporter-seq"], "3")
        self.assertEqual(hb["x-spool-depth"], "0")
        self.assertEqual(hb["x-reporter"], "hb1")
        self.assertEqual(hb["x-reporter-epoch"], replay["x-reporter-epoch"])
        self.assertEqual(hb["x-reporter-seq"], "3")    # the last seq: a heartbeat takes none
        self.assertEqual(posts[1][2], b"")
        self.assertEqual(hb.get("content-length"), "0")

        # a batch after the heartbeat gets the next seq (4): nothing was consumed
        self.assertRun(self.event(self.rec.url(), "member-join", "h4"))
        ev = self.rec.take()
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0][1]["x-reporter-seq"], "4")
        self.assertEqual(ev[0][1]["x-spool-depth"], "0")

    def test_depth_counts_what_waits(self):
        """Each replay POST says how many batches wait behind it."""
        down = "http://127.0.0.1:%d" % free_port()
        self.assertRun(self.event(down, "member-join", "d1"))
        self.assertRun(self.event(down, "member-leave", "d2"))
        self.assertRun(self.event(down, "member-join", "d3"))
        # joins and leaves do not merge: three POSTs, 2, 1, 0 behind them
        p = self.tick(self.rec.url(), conf=self.conf(node_name="dp1", sync_interval_s=3600))
        self.assertRun(p, 0)
        posts = [x for x in self.rec.take() if x[0] != "/monitor/heartbeat"]
        self.assertEqual([x[1]["x-spool-depth"] for x in posts], ["2", "1", "0"])

    @unittest.skipIf(SERF is None, "serf is not installed")
    def test_sync_carries_depth(self):
        rpc = "127.0.0.1:%d" % free_port()
        log = open(os.path.join(self.tmp, "serf.log"), "wb")
        proc = subprocess.Popen([SERF, "agent", "-node", "sd1", "-bind",
                                 "127.0.0.1:%d" % free_port(), "-rpc-addr", rpc],
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        try:
            wait_until(lambda: subprocess.run([SERF, "info", "-rpc-addr", rpc],
                                              capture_output=True, timeout=5).returncode == 0,
                       timeout=20, what="serf agent RPC")
            p = run_fwd(["-s", self.spool, "-u", self.rec.url(), "--rpc-addr", rpc, "sync"])
            self.assertRun(p)
            posts = self.rec.take()
            self.assertEqual([x[0] for x in posts], ["/monitor/snapshot"])
            self.assertEqual(posts[0][1]["x-spool-depth"], "0")
            self.assertEqual(posts[0][1]["x-reporter"], "sd1")
        finally:
            proc.kill()
            proc.wait(10)
            log.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
