"""An operator's first hour, black box: what a new operator meets first
(flag and file errors, a port in use, the root URL, --config, the
wording of refusals and their counters, the example tokens, the state
dir's mode) and the node forget and reaper, with the real clusterm and,
where a job must be running, the real ansible-playbook."""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import (CLUSTERM, SOURCE_DIR, Clusterm, free_port, report, request,  # noqa: E402
                  wait_until)

PLAYBOOKS = os.path.join(SOURCE_DIR, "tests", "playbooks")
RUN_S = 30


def run_clusterm(*args):
    """clusterm run to its exit (a refusal at start, or -n): (rc, stderr+stdout)."""
    p = subprocess.run([CLUSTERM] + list(args), capture_output=True, text=True,
                       timeout=RUN_S)
    return p.returncode, p.stderr + p.stdout


def metric(c, name, label):
    st, text, _ = c.get("/metrics")
    m = re.search(r'^%s\{%s\} (\d+)$' % (re.escape(name), re.escape(label)), text, re.M)
    return int(m.group(1)) if m else None


def write_private(path, obj):
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    os.chmod(path, 0o600)


class Startup(unittest.TestCase):
    """Points 1, 5, 6 (the mode check), 8: refusals at start."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-op-")
        self.state = os.path.join(self.tmp, "state")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_flag_error_names_the_flag(self):
        rc, out = run_clusterm("-l", "127.0.0.1:99999", "-d", self.state, "-n")
        self.assertEqual(rc, 1, out)
        self.assertIn("-l: '127.0.0.1:99999' is not HOST:PORT (port 0-65535", out)
        self.assertNotIn("manager.addr", out)
        self.assertNotIn("clusterm.conf", out)
        rc, out = run_clusterm("-l", "127.0.0.1:9007", "-d", "relative/dir", "-n")
        self.assertEqual(rc, 1, out)
        self.assertIn("-d: 'relative/dir' must be an absolute path", out)

    def test_file_error_names_file_and_key(self):
        conf = os.path.join(self.tmp, "c.conf")
        write_private(conf, {"manager": {"addr": "nohostport", "state_dir": self.state}})
        rc, out = run_clusterm("-c", conf, "-n")
        self.assertEqual(rc, 1, out)
        self.assertIn("%s: manager.addr: 'nohostport' is not HOST:PORT" % conf, out)

    def test_port_in_use_says_why(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen(1)
            port = s.getsockname()[1]
            rc, out = run_clusterm("-l", "127.0.0.1:%d" % port, "-d", self.state)
        self.assertEqual(rc, 1, out)
        self.assertIn("cannot listen on 127.0.0.1:%d: Address already in use" % port, out)

    def test_config_long_option(self):
        conf = os.path.join(self.tmp, "c.conf")
        write_private(conf, {"manager": {"state_dir": self.state}})
        for args in (["--config", conf], ["--config=" + conf], ["-c", conf]):
            rc, out = run_clusterm(*(args + ["-n"]))
            self.assertEqual(rc, 0, out)
            self.assertIn("configuration ok", out)
        write_private(conf, {"monitor": {"reap_after_s": -1}})
        rc, out = run_clusterm("--config", conf, "-n")
        self.assertEqual(rc, 1, out)
        self.assertIn("monitor.reap_after_s", out)

    def example_tokens(self):
        path = os.path.join(self.tmp, "tokens.json")
        shutil.copy(os.path.join(SOURCE_DIR, "scripts", "examples", "tokens.json"), path)
        os.chmod(path, 0o600)
        return path

    def test_example_tokens_refused_at_start(self):
        tokens = self.example_tokens()
        conf = os.path.join(self.tmp, "c.conf")
        write_private(conf, {"auth": {"tokens_file": tokens}})
        rc, out = run_clusterm("-c", conf, "-l", "127.0.0.1:%d" % free_port(), "-d",
                               self.state)
        self.assertEqual(rc, 1, out)
        self.assertIn(tokens, out)
        self.assertIn("token ops still holds the placeholder CHANGE-ME", out)

    # The man page's truth: the mode is checked before recovery, and by -n.
    def test_state_dir_mode_checked_by_n_and_before_recovery(self):
        os.makedirs(self.state)
        os.chmod(self.state, 0o755)
        rc, out = run_clusterm("-l", "127.0.0.1:9007", "-d", self.state, "-n")
        self.assertEqual(rc, 1, out)
        self.assertIn("mode 0755", out)
        rc, out = run_clusterm("-l", "127.0.0.1:%d" % free_port(), "-d", self.state)
        self.assertEqual(rc, 1, out)
        self.assertIn("mode 0755", out)
        self.assertEqual(os.listdir(self.state), [], "recovery wrote into the state dir")


class Api(unittest.TestCase):
    """Points 2, 3, 7 and the contiv refusals' wording."""

    def setUp(self):
        self.c = Clusterm(config={"monitor": {"grace_s": 0}}).start()

    def tearDown(self):
        self.c.cleanup()

    def test_root_redirects_to_the_dashboard(self):
        st, _, hdrs = self.c.get("/")
        self.assertEqual(st, 302)
        self.assertEqual(hdrs.get("Location"), "/ui/")

    def test_unparsable_bodies_said_and_counted_alike(self):
        before = (metric(self.c, "clusterm_requests_rejected_total", 'reason="malformed"'),
                  metric(self.c, "clusterm_requests_rejected_total", 'reason="invalid"'))
        truncated = b'{"nodes": ["a"'
        for path in ("/commission/nodes", "/api/v1/jobs", "/monitor/event/discovered",
                     "/monitor/event", "/globals", "/config"):
            with self.subTest(path=path):
                st, body, _ = self.c.post(path, truncated)
                self.assertEqual(st, 400, body)
                self.assertIn("body is not valid JSON", body["error"])
        after = (metric(self.c, "clusterm_requests_rejected_total", 'reason="malformed"'),
                 metric(self.c, "clusterm_requests_rejected_total", 'reason="invalid"'))
        self.assertEqual(after[0] - before[0], 6)
        self.assertEqual(after[1], before[1])

    def test_no_such_node_in_both_words(self):
        for method, path in (("POST", "/commission/node/nosuch"),
                             ("GET", "/info/node/nosuch"),
                             ("GET", "/api/v1/nodes/nosuch")):
            with self.subTest(path=path):
                body = {"host_group": "service-master"} if method == "POST" else None
                st, reply, _ = request(self.c.port, method, path, body=body)
                self.assertEqual(st, 404, reply)
                self.assertIn("no such node: nosuch", reply["error"])
                self.assertIn("doesn't exists", reply["error"])
        st, reply, _ = self.c.post("/commission/nodes",
                                   {"nodes": ["nosuch"], "host_group": "service-master"})
        self.assertEqual(st, 404, reply)
        self.assertIn("node with name or address \"nosuch\" doesn't exists", reply["error"])


class Tokens(unittest.TestCase):
    """Points 4 and 5 (reload)."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-op-tok-")
        self.admin, self.reader = secrets.token_hex(16), secrets.token_hex(16)
        self.tokens = os.path.join(self.tmp, "tokens.json")
        write_private(self.tokens, {"tokens": [
            {"name": "ops", "role": "admin", "token": self.admin},
            {"name": "ops-read", "role": "reader", "token": self.reader}]})
        self.c = Clusterm(config={"auth": {"tokens_file": self.tokens}}).start()

    def tearDown(self):
        self.c.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def as_(self, tok):
        return {"Authorization": "Bearer " + tok}

    def test_401_and_403_say_what_is_needed(self):
        st, body, _ = self.c.get("/api/v1/nodes")
        self.assertEqual(st, 401)
        self.assertEqual(body["error"],
                         "missing or bad token: send Authorization: Bearer <token>")
        st, body, _ = self.c.post("/globals", {"extra_vars": "{}"},
                                  headers=self.as_(self.reader))
        self.assertEqual(st, 403)
        self.assertIn("token 'ops-read' has role reader; this needs admin", body["error"])
        st, body, _ = request(self.c.port, "DELETE", "/api/v1/nodes/x",
                              headers=self.as_(self.reader))
        self.assertEqual(st, 403)
        self.assertIn("this needs admin", body["error"])

    def test_reload_keeps_tokens_when_the_file_holds_a_placeholder(self):
        write_private(self.tokens, {"tokens": [
            {"name": "ops", "role": "admin", "token": "CHANGE-ME-admin-token"}]})
        self.c.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the tokens in force" in self.c.log(),
                   what="the reload's refusal")
        self.assertIn("token ops still holds the placeholder", self.c.log())
        self.assertIn(self.tokens, self.c.log())
        st, _, _ = self.c.get("/api/v1/nodes", headers=self.as_(self.admin))
        self.assertEqual(st, 200)
        st, _, _ = self.c.get("/api/v1/nodes",
                              headers=self.as_("CHANGE-ME-admin-token"))
        self.assertEqual(st, 401)


def delete(c, name, query="", headers=None):
    return request(c.port, "DELETE", "/api/v1/nodes/" + name + query, headers=headers)


def events(c, node, kind):
    st, body, _ = c.get("/api/v1/events?node=%s&limit=1000" % node)
    return [e for e in body["events"] if e["kind"] == kind]


class Forget(unittest.TestCase):
    """Point 11: DELETE /api/v1/nodes/{name}, the reaper."""

    def tearDown(self):
        self.c.cleanup()

    def discover(self, *names):
        st, body, _ = self.c.post("/monitor/event/discovered",
                                  [report(n, "127.0.3.%d" % (i + 1)) for i, n in enumerate(names)])
        self.assertEqual(st, 200, body)

    def disappear(self, *names):
        st, body, _ = self.c.post("/monitor/event/disappeared",
                                  [report(n, "127.0.3.9") for n in names])
        self.assertEqual(st, 200, body)

    def test_forget_refusals_audit_and_restart(self):
        self.c = Clusterm(config={"monitor": {"grace_s": 0}}).start()
        self.discover("f1", "f2", "f3")
        st, body, _ = delete(self.c, "nosuch")
        self.assertEqual(st, 404, body)
        self.assertIn("no such node: nosuch", body["error"])
        st, body, _ = delete(self.c, "f1")
        self.assertEqual(st, 409, body)
        self.assertIn("f1 is Discovered", body["error"])
        self.disappear("f1")
        st, body, _ = delete(self.c, "f1", "?comment=rack%2012%20retired")
        self.assertEqual((st, body), (200, {"forgotten": "f1"}))
        self.assertIsNone(self.c.node("f1"))
        st, body, _ = self.c.get("/info/node/f1")
        self.assertEqual(st, 404)
        ev = events(self.c, "f1", "forget")
        self.assertEqual(len(ev), 1, ev)
        self.assertEqual(ev[0]["comment"], "rack 12 retired")
        self.assertEqual(ev[0]["new"], "forgotten")
        # A body may carry the why instead.
        self.disappear("f2")
        st, body, _ = request(self.c.port, "DELETE", "/api/v1/nodes/f2",
                              body={"comment": "gone"})
        self.assertEqual(st, 200, body)
        # Gone after a restart too: the log is replayed.
        self.assertEqual(self.c.stop(), 0)
        self.c.start()
        self.assertIsNone(self.c.node("f1"))
        self.assertIsNone(self.c.node("f2"))
        self.assertEqual(self.c.state_of("f3"), "Discovered")
        self.assertEqual(events(self.c, "f2", "forget")[0]["comment"], "gone")
        st, body, _ = self.c.get("/api/v1/nodes")
        self.assertEqual([n["name"] for n in body["nodes"]], ["f3"])

    @unittest.skipUnless(shutil.which("ansible-playbook"), "ansible-playbook is not installed")
    def test_forget_refused_while_in_a_job(self):
        markers = tempfile.mkdtemp(prefix="clusterm-op-markers-")
        try:
            self.c = Clusterm(config={
                "monitor": {"grace_s": 0},
                "ansible": {"playbook_location": PLAYBOOKS, "configure_playbook": "slow.yml",
                            "cleanup_playbook": "cleanup.yml",
                            "extra_variables": json.dumps({"marker_dir": markers,
                                                           "sleep_s": 60}),
                            "timeout_s": 120}}).start()
            self.discover("j1", "j2", "j3")
            st, body, _ = self.c.post("/commission/nodes",
                                      {"nodes": ["j1"], "host_group": "service-master"})
            self.assertEqual(st, 200, body)
            job = body["job_id"]
            wait_until(lambda: os.path.exists(os.path.join(markers, "j1.started")),
                       timeout=120, what="the slow playbook to start")
            self.disappear("j1")
            st, body, _ = delete(self.c, "j1")
            self.assertEqual(st, 409, body)
            self.assertIn("job %d" % job, body["error"])
            self.assertEqual(self.c.state_of("j1"), "Disappeared")
            st, _, _ = self.c.post("/api/v1/jobs/%d/cancel" % job, {})
            self.assertEqual(st, 202)

            def ended():
                st, j, _ = self.c.get("/api/v1/jobs/%d" % job)
                return j["status"] in ("Complete", "Errored", "Cancelled")
            wait_until(ended, timeout=120, interval=0.2, what="the job's end")
            st, body, _ = delete(self.c, "j1")
            self.assertEqual(st, 200, body)
        finally:
            shutil.rmtree(markers, ignore_errors=True)

    def test_reaper_forgets_after_reap_after_s(self):
        self.c = Clusterm(config={"monitor": {"grace_s": 0, "reap_after_s": 1}}).start()
        self.discover("r1", "r2", "r3")
        self.disappear("r3")
        wait_until(lambda: self.c.node("r3") is None, what="r3 reaped")
        ev = events(self.c, "r3", "forget")
        self.assertEqual(ev[0]["actor"], "clusterm")
        self.assertIn("reap_after_s", ev[0]["comment"])
        self.assertEqual(self.c.state_of("r1"), "Discovered")

    def test_reaper_set_by_sighup(self):
        self.c = Clusterm(config={"monitor": {"grace_s": 0}}).start()
        self.discover("h1", "h2", "h3")
        self.disappear("h3")
        self.assertEqual(self.c.state_of("h3"), "Disappeared")
        with open(os.path.join(self.c.tmp, "clusterm.conf"), "w") as f:
            json.dump({"monitor": {"grace_s": 0, "reap_after_s": 1}}, f)
        self.c.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.c.node("h3") is None, what="h3 reaped after SIGHUP")
        self.assertEqual(self.c.state_of("h1"), "Discovered")


try:
    import etcd_util  # noqa: E402
except ImportError:  # pragma: no cover
    etcd_util = None


@unittest.skipUnless(etcd_util is not None and etcd_util.have_etcd(), "etcd is not installed")
class ForgetOnEtcd(unittest.TestCase):
    """Point 11 on the shared log: a forget asked of a follower is the
    leader's operation, and every instance applies it; so does a reap."""

    def setUp(self):
        self.etcd = etcd_util.EtcdCluster(n=1).start()
        self.m = etcd_util.Manager(self.etcd.client_urls(), k=2,
                                   monitor={"grace_s": 0, "reap_after_s": 3}).start()

    def tearDown(self):
        self.m.cleanup()
        self.etcd.cleanup()

    def test_forget_and_reap_everywhere(self):
        leader = self.m.wait_leader()
        follower = [c for c in self.m.instances if c is not leader][0]
        st, body, _ = leader.post("/monitor/event/discovered",
                                  [report(n, "127.0.4.%d" % i) for i, n in
                                   enumerate(["e1", "e2", "e3", "e4", "e5"], 1)])
        self.assertEqual(st, 200, body)
        # e5 Disappeared and Unallocated: reaped 3 s later on every instance.
        leader.post("/monitor/event/disappeared", [report("e5", "127.0.4.5")])
        # e4 forgotten through the follower meanwhile: forwarded to the leader.
        leader.post("/monitor/event/disappeared", [report("e4", "127.0.4.4")])
        st, body, _ = request(follower.port, "DELETE", "/api/v1/nodes/e4?comment=bye")
        self.assertEqual((st, body), (200, {"forgotten": "e4"}))
        for c in self.m.instances:
            wait_until(lambda c=c: c.node("e4") is None, what="e4 gone on %s" % c.id)
            wait_until(lambda c=c: c.node("e5") is None, timeout=30,
                       what="e5 reaped on %s" % c.id)
        self.assertEqual(sorted(leader.nodes()), ["e1", "e2", "e3"])
        self.assertEqual(sorted(follower.nodes()), ["e1", "e2", "e3"])
        st, ev, _ = follower.get("/api/v1/events?node=e4")
        self.assertEqual([e["comment"] for e in ev["events"] if e["kind"] == "forget"], ["bye"])
        # A restarted follower reads the same from etcd.
        follower.stop()
        follower.start()
        self.assertEqual(sorted(follower.nodes()), ["e1", "e2", "e3"])


class Docs(unittest.TestCase):
    """Points 12 and 13: the README's order, scripts/demo's ports."""

    def test_readme_starts_with_what_and_install(self):
        with open(os.path.join(SOURCE_DIR, "README.md")) as f:
            text = f.read()
        heads = [l for l in text.splitlines() if l.startswith("## ")]
        names = [h[3:].strip().lower() for h in heads]
        first = lambda word: next(i for i, n in enumerate(names) if word in n)  # noqa: E731
        self.assertLess(first("install"), first("architecture"))
        self.assertLess(first("first steps"), first("architecture"))
        self.assertLess(first("install"), first("first steps"))
        # What it is comes before any section.
        intro = text.split("\n## ", 1)[0]
        self.assertIn("serf", intro)
        self.assertIn("clusterm", intro)

    def test_demo_ports(self):
        demo = os.path.join(SOURCE_DIR, "scripts", "demo")
        p = subprocess.run([demo, "--help"], capture_output=True, text=True, timeout=RUN_S)
        self.assertEqual(p.returncode, 0)
        for word in ("--port", "DEMO_PORT", "DEMO_SERF_PORT"):
            self.assertIn(word, p.stdout)
        p = subprocess.run([demo, "--port", "99999"], capture_output=True, text=True,
                           timeout=RUN_S)
        self.assertEqual(p.returncode, 1)
        self.assertIn("'99999' is not a port", p.stderr)
        p = subprocess.run([demo], capture_output=True, text=True, timeout=RUN_S,
                           env=dict(os.environ, DEMO_PORT="0x10"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("DEMO_PORT", p.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
