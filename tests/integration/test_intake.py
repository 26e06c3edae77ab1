"""clusterm intake, black box: every monitor endpoint, every bad input, the
vote rules over HTTP, durability across kill -9, config errors."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import (CLUSTERM, Clusterm, report, reporter_headers, request,  # noqa: E402
                  wait_until)


def nodes(c):
    st, body, _ = c.get("/api/v1/nodes")
    assert st == 200, body
    return {n["name"]: n for n in body["nodes"]}


class Endpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Clusterm(config={"monitor": {"grace_s": 0}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def test_healthz_and_metrics(self):
        st, body, _ = self.c.get("/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(body["status"], "ok")
        self.assertFalse(body["disruption"])
        st, text, hdrs = self.c.get("/metrics")
        self.assertEqual(st, 200)
        self.assertIn("text/plain", hdrs["Content-Type"])
        for m in ("clusterm_reports_received_total", "clusterm_nodes{state=\"Discovered\"}",
                  "clusterm_store_fsync_seconds_bucket", "clusterm_requests_rejected_total",
                  "clusterm_http_requests_total"):
            self.assertIn(m, text)

    def test_batch_discovered_then_disappeared(self):
        batch = [report("ep-a", "10.0.0.1", "S1", rack="r1"), report("ep-b", "10.0.0.2")]
        st, body, _ = self.c.post("/monitor/event/discovered", batch)
        self.assertEqual((st, body), (200, {"accepted": 2, "duplicates": 0}))
        n = nodes(self.c)
        self.assertEqual(n["ep-a-S1"]["state"], "Discovered")
        self.assertEqual(n["ep-a-S1"]["status"], "Unallocated")
        self.assertEqual(n["ep-a-S1"]["tags"], {"rack": "r1"})
        self.assertEqual(n["ep-b"]["address"], "10.0.0.2")
        st, body, _ = self.c.post("/monitor/event/disappeared", [report("ep-b", "10.0.0.2")])
        self.assertEqual(st, 200)
        self.assertEqual(self.c.state_of("ep-b"), "Disappeared")
        self.assertEqual(self.c.node("ep-b")["prev_state"], "Discovered")

    def test_contiv_info_shapes(self):
        self.c.post("/monitor/event/discovered", [report("ci-1", "10.1.0.1", "SN")])
        st, body, _ = self.c.get("/info/node/ci-1-SN")
        self.assertEqual(st, 200)
        self.assertEqual(body["monitoring_state"], {"label": "ci-1", "serial_number": "SN",
                                                    "management_address": "10.1.0.1"})
        self.assertEqual(body["inventory_state"], {"name": "ci-1-SN", "status": "Unallocated",
                                                   "prev_status": "Incomplete",
                                                   "state": "Discovered", "prev_state": "Unknown"})
        self.assertEqual(body["configuration_state"]["inventory_name"], "ci-1-SN")
        self.assertEqual(body["configuration_state"]["ssh_address"], "10.1.0.1")
        self.assertEqual(body["configuration_state"]["inventory_vars"],
                         {"node_name": "ci-1-SN", "node_addr": "10.1.0.1"})
        st, body, _ = self.c.get("/info/nodes")
        self.assertEqual(st, 200)
        self.assertIn("ci-1-SN", body)
        st, body, _ = self.c.get("/info/node/nope")
        self.assertEqual(st, 404)
        self.assertIn("error", body)

    def test_single_and_contiv_and_snapshot_forms(self):
        st, body, _ = self.c.post("/monitor/discovered/one-x", report("one", "10.2.0.1", "x"))
        self.assertEqual((st, body["accepted"]), (200, 1))
        st, body, _ = self.c.post("/monitor/discovered/other", report("one", "10.2.0.1", "x"))
        self.assertEqual(st, 400)
        self.assertIn("other", body["error"])
        st, body, _ = self.c.post("/monitor/event", {"monitor_event": {
            "name": "disappeared", "nodes": [{"label": "one", "serial": "x", "addr": "10.2.0.1"}]}})
        self.assertEqual(st, 200)
        self.assertEqual(self.c.state_of("one-x"), "Disappeared")
        # snap2 is known first: a failed member never known makes no node (contiv).
        self.c.post("/monitor/event/discovered", [report("snap2", "10.2.0.6")])
        st, body, _ = self.c.post("/monitor/snapshot", {"members": [
            dict(report("snap1", "10.2.0.5"), **{"Serf-Status": "alive"}),
            dict(report("snap2", "10.2.0.6"), **{"Serf-Status": "failed"}),
            dict(report("snap3", "10.2.0.7"), **{"Serf-Status": "failed"})]})
        self.assertEqual((st, body["accepted"]), (200, 3))
        self.assertEqual(self.c.state_of("snap1"), "Discovered")
        self.assertEqual(self.c.state_of("snap2"), "Disappeared")
        self.assertIsNone(self.c.state_of("snap3"))
        # A snapshot's failed member never known is not audited (syncs repeat it).
        self.assertEqual(self.c.get("/api/v1/events?node=snap3")[1]["events"], [])

    def test_bad_inputs_change_nothing(self):
        before = nodes(self.c)
        good = report("bad-good", "10.3.0.1")
        cases = [
            ("POST", "/monitor/event/discovered", b"[{", {}, 400),
            ("POST", "/monitor/event/discovered", [good, report("bad label", "10.3.0.2")], {}, 400),
            ("POST", "/monitor/event/discovered", [good, {"Node-Label": "x"}], {}, 400),
            ("POST", "/monitor/event/discovered", [good, {"Node-Label": "x", "Node-Mgmt-Address": 5}], {}, 400),
            ("POST", "/monitor/event/discovered", [good, report("x", "1.2.3.4; rm -rf /")], {}, 400),
            ("POST", "/monitor/event/discovered", [good, report("x", "10.3.0.9", "a/../b")], {}, 400),
            ("POST", "/monitor/event/discovered", [good, report("x$(id)", "10.3.0.9")], {}, 400),
            ("POST", "/monitor/event/discovered", [good, report("x" * 64, "10.3.0.9")], {}, 400),
            ("POST", "/monitor/event/discovered", [good, report("x", "10.3.0.9", Serf_Event="bogus")], {}, 400),
            ("POST", "/monitor/event/discovered", {"Node-Label": "x"}, {}, 400),
            ("POST", "/monitor/event/discovered", [good], {"Content-Type": "text/plain"}, 415),
            ("POST", "/monitor/event/discovered", [good], {"X-Reporter": "r", "X-Reporter-Seq": "x1"}, 400),
            ("POST", "/monitor/event/discovered", [good], {"X-Reporter-Seq": "1"}, 400),
            ("POST", "/monitor/event/exploded", [good], {}, 404),
            ("GET", "/monitor/event/discovered", None, {}, 405),
            ("GET", "/no/such/path", None, {}, 404),
            ("POST", "/monitor/event/discovered", "[" + "[" * 40 + "]" * 40 + "]", {}, 400),
            ("POST", "/monitor/snapshot", {"members": [good]}, {}, 400),
        ]
        for method, path, body, hdrs, want in cases:
            with self.subTest(path=path, body=str(body)[:60], hdrs=hdrs):
                st, reply, _ = request(self.c.port, method, path, body=body, headers=hdrs)
                self.assertEqual(st, want, reply)
                self.assertIsInstance(reply, dict)
                self.assertIn("error", reply)
        self.assertEqual(nodes(self.c), before)
        self.assertIsNone(self.c.node("bad-good"))

    def test_oversized_body(self):
        big = [report("big%d" % i, "10.4.0.1", pad="x" * 1000) for i in range(1200)]
        st, body, _ = self.c.post("/monitor/event/discovered", big)
        self.assertEqual(st, 413)
        self.assertIn("limit", body["error"])
        self.assertIsNone(self.c.node("big0"))
        # The server still serves afterwards.
        self.assertEqual(self.c.get("/healthz")[0], 200)

    def test_batch_limit(self):
        many = [report("lim%d" % i, "10.5.0.1") for i in range(10001)]
        st, body, _ = self.c.post("/monitor/event/discovered", many,
                                  timeout=30)
        self.assertIn(st, (400, 413))
        self.assertIsNone(self.c.node("lim0"))

    def test_dedupe_by_watermark(self):
        h = reporter_headers("dd-r", 5, "ep1")
        batch = [report("dd-1", "10.6.0.1", Node_Name="dd-1")]
        self.assertEqual(self.c.post("/monitor/event/discovered", batch, headers=h)[1],
                         {"accepted": 1, "duplicates": 0})
        self.assertEqual(self.c.post("/monitor/event/discovered", batch, headers=h)[1],
                         {"accepted": 0, "duplicates": 1})
        older = reporter_headers("dd-r", 4, "ep1")
        st, body, _ = self.c.post("/monitor/event/disappeared", batch, headers=older)
        self.assertEqual(body["duplicates"], 1)
        self.assertEqual(self.c.state_of("dd-1"), "Discovered")
        # A new epoch (a recreated spool) starts again from any seq.
        st, body, _ = self.c.post("/monitor/event/discovered", batch,
                                  headers=reporter_headers("dd-r", 1, "ep2"))
        self.assertEqual(body, {"accepted": 1, "duplicates": 0})


class Votes(unittest.TestCase):
    """Rules of contract 3.2 through the HTTP API (grace 0 unless said)."""

    def setUp(self):
        self.c = Clusterm(config={"monitor": {"grace_s": 0}}).start()

    def tearDown(self):
        self.c.cleanup()

    def join_all(self, names, seq=1):
        members = [report(n, "127.0.1.%d" % (i + 1), Node_Name=n) for i, n in enumerate(names)]
        for n in names:
            st, body, _ = self.c.post("/monitor/event/discovered", members,
                                      headers=reporter_headers(n, seq))
            self.assertEqual(st, 200, body)
        return members

    def vote(self, reporter, node, kind, seq, addr="127.0.1.99", event=None):
        r = report(node, addr, Node_Name=node)
        if event:
            r["Serf-Event"] = event
        st, body, _ = self.c.post("/monitor/event/" + kind, [r],
                                  headers=reporter_headers(reporter, seq))
        self.assertEqual(st, 200, body)

    def test_lone_node_discovered_by_its_own_join(self):
        self.join_all(["solo"])
        self.assertEqual(self.c.state_of("solo"), "Discovered")

    def test_majority_decides_and_dead_node_cannot_keep_itself_alive(self):
        self.join_all(["a", "b", "c"])
        self.vote("a", "c", "disappeared", 2)
        # a: gone, b: alive (its join) -> 1 of 2 is not more than half.
        self.assertEqual(self.c.state_of("c"), "Discovered")
        self.vote("b", "c", "disappeared", 2)
        self.assertEqual(self.c.state_of("c"), "Disappeared")
        votes = {v["reporter"]: v for v in self.c.node("c")["votes"]}
        self.assertEqual(votes["a"]["vote"], "gone")
        self.assertTrue(votes["a"]["counted"])
        self.assertFalse(votes["c"]["counted"])  # its own join vote no longer counts

    def test_partition_three_two(self):
        names = ["p1", "p2", "p3", "p4", "p5"]
        self.join_all(names)
        seq = 10
        for r in ("p1", "p2", "p3"):
            for n in ("p4", "p5"):
                seq += 1
                self.vote(r, n, "disappeared", seq)
        for r in ("p4", "p5"):
            for n in ("p1", "p2", "p3"):
                seq += 1
                self.vote(r, n, "disappeared", seq)
        states = {n: self.c.state_of(n) for n in names}
        self.assertEqual(states, {"p1": "Discovered", "p2": "Discovered", "p3": "Discovered",
                                  "p4": "Disappeared", "p5": "Disappeared"})

    def test_self_leave_is_immediate(self):
        self.c.stop()
        self.c = Clusterm(config={"monitor": {"grace_s": 30}}).start()
        self.join_all(["l1", "l2", "l3"])
        self.vote("l3", "l3", "disappeared", 5, event="member-leave")
        self.assertEqual(self.c.state_of("l3"), "Disappeared")
        # The others' leave reports keep it there.
        self.vote("l1", "l3", "disappeared", 6, event="member-leave")
        self.assertEqual(self.c.state_of("l3"), "Disappeared")

    def test_grace_timer_fires_without_another_report(self):
        self.c.stop()
        self.c = Clusterm(config={"monitor": {"grace_s": 1}}).start()
        self.join_all(["g1", "g2", "g3"])
        self.vote("g1", "g3", "disappeared", 2)
        self.vote("g2", "g3", "disappeared", 2)
        n = self.c.node("g3")
        self.assertEqual(n["state"], "Discovered")
        self.assertIsNotNone(n["grace_ends"])
        wait_until(lambda: self.c.state_of("g3") == "Disappeared", timeout=5,
                   what="grace expiry")

    def test_flap_within_grace_keeps_state(self):
        self.c.stop()
        self.c = Clusterm(config={"monitor": {"grace_s": 30}}).start()
        self.join_all(["f1", "f2", "f3"])
        self.vote("f1", "f3", "disappeared", 2)
        self.vote("f2", "f3", "disappeared", 2)
        self.vote("f1", "f3", "discovered", 3)
        self.vote("f2", "f3", "discovered", 3)
        n = self.c.node("f3")
        self.assertEqual(n["state"], "Discovered")
        self.assertIsNone(n["gone_since"])

    def test_operator_report_overrides_and_clears_votes(self):
        self.join_all(["o1", "o2"])
        st, _, _ = self.c.post("/monitor/event/disappeared", [report("o2", "127.0.1.2")])
        self.assertEqual(st, 200)
        n = self.c.node("o2")
        self.assertEqual(n["state"], "Disappeared")
        self.assertEqual(n["votes"], [])

    def test_disruption_mode(self):
        names = ["d%d" % i for i in range(5)]
        self.join_all(names)
        # The operator marks most nodes gone at once.
        st, _, _ = self.c.post("/monitor/event/disappeared",
                               [report(n, "127.0.1.9") for n in names[:3]])
        self.assertEqual(st, 200)
        st, body, _ = self.c.get("/healthz")
        self.assertEqual(body["status"], "disruption")
        self.assertTrue(body["disruption"])
        self.assertIn("clusterm_disruption 1", self.c.get("/metrics")[1])
        st, _, _ = self.c.post("/monitor/event/discovered",
                               [report(n, "127.0.1.9") for n in names[:3]])
        self.assertFalse(self.c.get("/healthz")[1]["disruption"])


class Durability(unittest.TestCase):
    def test_kill9_loses_no_acknowledged_report(self):
        c = Clusterm()
        try:
            c.start()
            acked = []
            lock = threading.Lock()

            def worker(w):
                for i in range(60):
                    name = "k%d-%d" % (w, i)
                    st, body, _ = c.post("/monitor/event/discovered", [report(name, "10.9.0.1")],
                                         headers=reporter_headers("w%d" % w, i + 1))
                    if st == 200:
                        with lock:
                            acked.append(name)
            threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            self.assertEqual(c.kill9(), -signal.SIGKILL)
            self.assertEqual(len(acked), 480)
            c.start()
            have = nodes(c)
            missing = [n for n in acked if n not in have]
            self.assertEqual(missing, [])
            # Watermarks survived too: a replay is a duplicate.
            st, body, _ = c.post("/monitor/event/discovered", [report("k0-0", "10.9.0.1")],
                                 headers=reporter_headers("w0", 1))
            self.assertEqual(body["duplicates"], 1)
        finally:
            c.cleanup()

    def test_restart_keeps_votes_and_states(self):
        c = Clusterm(config={"monitor": {"grace_s": 0}})
        try:
            c.start()
            for r in ("x", "y", "z"):
                c.post("/monitor/event/discovered",
                       [report(n, "10.8.0.1", Node_Name=n) for n in ("x", "y", "z")],
                       headers=reporter_headers(r, 1))
            c.post("/monitor/event/disappeared", [report("z", "10.8.0.1", Node_Name="z")],
                   headers=reporter_headers("x", 2))
            c.post("/monitor/event/disappeared", [report("z", "10.8.0.1", Node_Name="z")],
                   headers=reporter_headers("y", 2))
            before = c.node("z")
            self.assertEqual(c.stop(), 0)
            c.start()
            after = c.node("z")
            self.assertEqual(after["state"], "Disappeared")
            self.assertEqual(after["votes"], before["votes"])
        finally:
            c.cleanup()

    def test_torn_tail_dropped_and_corruption_refused(self):
        c = Clusterm()
        try:
            c.start()
            for i in range(5):
                st, _, _ = c.post("/monitor/event/discovered", [report("t%d" % i, "10.9.1.1")])
                self.assertEqual(st, 200)
            self.assertEqual(c.kill9(), -signal.SIGKILL)
            wal = sorted(f for f in os.listdir(c.state_dir) if f.startswith("wal-"))[-1]
            path = os.path.join(c.state_dir, wal)
            size = os.path.getsize(path)
            # A torn last record: half of a new one at the end.
            with open(path, "ab") as f:
                f.write(b"\x40\x00\x00\x00\x01\x02")
            c.start()
            self.assertIn("t4", nodes(c))
            self.assertIn(wal, c.log())
            self.assertEqual(c.stop(), 0)
            # A flipped byte before the tail: start-up refused, file and offset named.
            with open(path, "r+b") as f:
                f.seek(size // 2)
                b = f.read(1)
                f.seek(size // 2)
                f.write(bytes([b[0] ^ 0xff]))
            p = subprocess.run([CLUSTERM, "-l", "127.0.0.1:%d" % c.port, "-d", c.state_dir],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn(wal, p.stderr)
            self.assertIn("offset", p.stderr)
        finally:
            c.cleanup()

    def test_second_instance_refused(self):
        c = Clusterm()
        try:
            c.start()
            p = subprocess.run([CLUSTERM, "-l", "127.0.0.1:1", "-d", c.state_dir],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn(c.state_dir, p.stderr)
            self.assertEqual(oct(os.stat(c.state_dir).st_mode & 0o777), "0o700")
        finally:
            c.cleanup()


class Config(unittest.TestCase):
    def check(self, conf, want_rc, want_text=None):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            f.write(conf if isinstance(conf, str) else json.dumps(conf))
        try:
            p = subprocess.run([CLUSTERM, "-n", "-c", f.name], capture_output=True, text=True,
                               timeout=10)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, want_rc, p.stderr)
        if want_text:
            self.assertIn(want_text, p.stderr + p.stdout)

    def test_good_and_bad_configs(self):
        self.check({}, 0)
        self.check({"monitor": {"grace_s": 2, "quorum": 3}}, 0)
        self.check({"manager": {"adr": "x"}}, 1, "manager.adr: unknown key")
        self.check({"monitor": {"grace_s": "5"}}, 1, "monitor.grace_s: expected an integer")
        self.check({"monitor": {"disruption_ratio": 3}}, 1, "monitor.disruption_ratio")
        self.check({"ansible": {"extra_variables": "[1]"}}, 1, "ansible.extra_variables")
        self.check({"manager": {"addr": "nohostport"}}, 1, "manager.addr")
        self.check("{not json", 1, "not valid JSON")
        self.check({"manager": {"addr": "0.0.0.0:9007"}}, 1, "--insecure")

    def test_contiv_config_loads(self):
        self.check({"serf": {"addr": "127.0.0.1:7373"}, "inventory": {"collins": {}},
                    "ansible": {"playbook_location": "/tmp", "user": "vagrant"}},
                   0, "serf: section not used, ignored")

    def test_missing_file_named(self):
        p = subprocess.run([CLUSTERM, "-n", "-c", "/nonexistent/c.conf"], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/c.conf", p.stderr)

    def test_sighup_reloads_monitor(self):
        c = Clusterm(config={"monitor": {"grace_s": 300}})
        try:
            c.start()
            c.config["monitor"]["grace_s"] = 0
            with open(os.path.join(c.tmp, "clusterm.conf"), "w") as f:
                json.dump(c.config, f)
            c.proc.send_signal(signal.SIGHUP)
            wait_until(lambda: "reloaded monitor" in c.log(), what="reload log line")
            for r in ("h1", "h2", "h3"):
                c.post("/monitor/event/discovered",
                       [report(n, "10.7.0.1", Node_Name=n) for n in ("h1", "h2", "h3")],
                       headers=reporter_headers(r, 1))
            for r in ("h1", "h2"):
                c.post("/monitor/event/disappeared", [report("h3", "10.7.0.1", Node_Name="h3")],
                       headers=reporter_headers(r, 2))
            self.assertEqual(c.state_of("h3"), "Disappeared")
            self.assertEqual(c.stop(), 0)
        finally:
            c.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
