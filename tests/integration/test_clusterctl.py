"""clusterctl, black box: the real binary against a real clusterm. Tables,
-j/--json, flag placement, aliases, exit codes (0 ok, 1 usage, 2 refused,
3 unreachable), the server's error sentence, disruption warning, tokens, and
the lifecycle commands where the server answers them."""

import json
import shutil
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from util import (CLUSTERCTL, SOURCE_DIR, Clusterm, free_port, report,  # noqa: E402
                  reporter_headers, wait_until)

MAN_PAGE = os.path.join(SOURCE_DIR, "man", "clusterctl.1")
PLAYBOOKS = os.path.abspath(os.path.join(SOURCE_DIR, "tests", "playbooks"))


def ctl(*args, url=None, env=None, stdin=None, timeout=60):
    """Runs clusterctl; returns (exit status, stdout, stderr)."""
    e = {k: v for k, v in os.environ.items() if k not in ("CLUSTERM_URL", "CLUSTERM_TOKEN")}
    if url is not None:
        e["CLUSTERM_URL"] = url
    e.update(env or {})
    p = subprocess.run([CLUSTERCTL] + list(args), env=e, input=stdin, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def table(text):
    """Parses an aligned table: header columns from the first line; returns
    (header names, rows as dicts). Columns are two or more spaces apart in
    the header; cells are cut at the header's column starts."""
    lines = [l for l in text.splitlines() if l.strip()]
    head = lines[0]
    starts = [0] + [m.end() for m in re.finditer(r"  +", head)]
    names = [n.strip() for n in re.split(r"  +", head.strip())]
    rows = []
    for l in lines[1:]:
        cells = []
        for i, s in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else None
            cells.append(l[s:end].strip())
        rows.append(dict(zip(names, cells)))
    return names, rows


def missing(c, method, path, body=None):
    """The endpoint is not served yet (404 'no such path')."""
    if method == "GET":
        st, b, _ = c.get(path)
    else:
        st, b, _ = c.post(path, body if body is not None else {})
    return st == 404 and isinstance(b, dict) and b.get("error", "").startswith("no such path")


class Reads(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Clusterm(config={"monitor": {"grace_s": 0}}).start()
        st, _, _ = cls.c.post("/monitor/event/discovered", [
            report("ctl-a", "10.7.0.1", "S1", Node_Name="ctl-a"),
            report("ctl-b", "10.7.0.2", Node_Name="ctl-b"),
            report("ctl-c", "10.7.0.3", Node_Name="ctl-c"),
        ])
        assert st == 200
        st, _, _ = cls.c.post("/monitor/event/discovered", [report("ctl-a", "10.7.0.1", "S1")],
                              headers=reporter_headers("ctl-b", 1))
        assert st == 200
        st, _, _ = cls.c.post("/monitor/event/disappeared", [report("ctl-a", "10.7.0.1", "S1")],
                              headers=reporter_headers("ctl-c", 1))
        assert st == 200
        cls.url = cls.c.url()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def run_ok(self, *args, **kw):
        rc, out, err = ctl(*args, url=self.url, **kw)
        self.assertEqual(rc, 0, "clusterctl %s: %s" % (" ".join(args), err))
        return out

    def test_nodes_get_table(self):
        out = self.run_ok("nodes", "get")
        names, rows = table(out)
        self.assertEqual(names, ["NAME", "STATE", "STATUS", "HOST GROUP", "ADDRESS", "LAST JOB",
                                 "FLAGS"])
        by = {r["NAME"]: r for r in rows}
        self.assertEqual(set(by), {"ctl-a-S1", "ctl-b", "ctl-c"})
        self.assertEqual(by["ctl-b"]["STATE"], "Discovered")
        self.assertEqual(by["ctl-b"]["STATUS"], "Unallocated")
        self.assertEqual(by["ctl-b"]["ADDRESS"], "10.7.0.2")
        self.assertEqual(by["ctl-b"]["HOST GROUP"], "-")
        self.assertEqual(by["ctl-b"]["LAST JOB"], "-")
        # Aligned: every row's cells start where the header's do.
        head = out.splitlines()[0]
        for line in out.splitlines()[1:]:
            self.assertEqual(line[head.index("STATUS")], "U")

    def test_nodes_get_named(self):
        _, rows = table(self.run_ok("nodes", "get", "ctl-b", "ctl-c"))
        self.assertEqual([r["NAME"] for r in rows], ["ctl-b", "ctl-c"])
        rc, out, err = ctl("nodes", "get", "ctl-b", "nope", url=self.url)
        self.assertEqual(rc, 2)
        self.assertIn("no such node: nope", err)
        self.assertEqual(out, "")

    def test_node_get(self):
        out = self.run_ok("node", "get", "ctl-a-S1")
        self.assertRegex(out, r"(?m)^name: +ctl-a-S1$")
        self.assertRegex(out, r"(?m)^serial: +S1$")
        self.assertRegex(out, r"(?m)^address: +10\.7\.0\.1$")
        self.assertRegex(out, r"(?m)^status: +Unallocated")
        self.assertRegex(out, r"(?m)^votes: +2 ")

    def test_node_votes(self):
        out = self.run_ok("node", "votes", "ctl-a-S1")
        first, rest = out.split("\n", 1)
        self.assertTrue(first.startswith("ctl-a-S1: "), first)
        names, rows = table(rest)
        self.assertEqual(names, ["REPORTER", "VOTE", "SEQ", "RECEIVED", "COUNTED", "SELF"])
        by = {r["REPORTER"]: r for r in rows}
        self.assertEqual(by["ctl-b"]["VOTE"], "alive")
        self.assertEqual(by["ctl-c"]["VOTE"], "gone")
        self.assertEqual(by["ctl-b"]["SEQ"], "1")
        self.assertIn(by["ctl-b"]["COUNTED"], ("yes", "no"))
        self.assertEqual(by["ctl-b"]["SELF"], "no")
        self.assertRegex(by["ctl-b"]["RECEIVED"], r"^\d{4}-\d\d-\d\dT")
        out = self.run_ok("node", "votes", "ctl-b")
        self.assertIn("no votes", out)

    def test_json_is_the_servers(self):
        st, body, _ = self.c.get("/api/v1/nodes")
        self.assertEqual(json.loads(self.run_ok("-j", "nodes", "get")), body)
        st, body, _ = self.c.get("/api/v1/nodes/ctl-a-S1")
        self.assertEqual(json.loads(self.run_ok("node", "get", "ctl-a-S1", "--json")), body)
        self.assertEqual(json.loads(self.run_ok("node", "votes", "ctl-a-S1", "-j")), body)
        got = json.loads(self.run_ok("nodes", "get", "ctl-b", "--json"))
        self.assertEqual([n["name"] for n in got["nodes"]], ["ctl-b"])
        self.assertIn("disruption", got)

    def test_flag_placement_and_aliases(self):
        want = self.run_ok("node", "get", "ctl-b", "--json")
        variants = [
            ["--json", "node", "get", "ctl-b"],
            ["node", "--json", "get", "ctl-b"],
            ["node", "get", "-j", "ctl-b"],
            ["n", "g", "ctl-b", "-j"],
            ["node", "get", "ctl-b", "-json"],
            ["node", "get", "ctl-b", "-j", "-u", self.url],
            ["-u", self.url, "node", "get", "ctl-b", "-j"],
            ["node", "get", "ctl-b", "-j", "--url=" + self.url],
            ["node", "get", "ctl-b", "-j", "--url", self.url],
            ["-ju", self.url, "node", "get", "ctl-b"],
            ["-j", "--", "node", "get", "ctl-b"],
        ]
        for v in variants:
            rc, out, err = ctl(*v, url="127.0.0.1:1" if "-u" in v or any(
                a.startswith("--url") for a in v) or "-ju" in v else self.url)
            self.assertEqual((rc, out), (0, want), "%s: %s" % (v, err))
        _, rows = table(self.run_ok("a", "g"))
        self.assertEqual(len(rows), 3)

    def test_usage_errors(self):
        cases = [
            [],
            ["bogus"],
            ["node"],
            ["node", "bogus"],
            ["node", "get"],
            ["node", "get", "a", "b"],
            ["node", "get", "ctl-b", "-g", "service-master"],
            ["nodes", "get", "--follow"],
            ["--nope", "nodes", "get"],
            ["nodes", "get", "-x"],
            ["node", "get", "ctl-b", "-u"],
            ["job", "get", "sometimes"],
            ["job", "log", "abc"],
            ["job", "cancel", "0"],
            ["discover"],
            ["discover", "bad address!"],
            ["node", "commission", "ctl-b", "-e", "not json"],
            ["node", "commission", "ctl-b", "-e", "[1]"],
            ["global", "set"],
            ["global", "set", "extra"],
            ["config", "set"],
            ["config", "set", "/nonexistent/clusterctl.conf"],
            ["events", "--limit", "x"],
            ["events", "extra"],
            ["jobs", "extra"],
            ["--token-file", "/nonexistent/token", "nodes", "get"],
        ]
        for args in cases:
            rc, out, err = ctl(*args, url=self.url)
            self.assertEqual(rc, 1, "%s: rc %d, %s" % (args, rc, err))
            self.assertEqual(out, "", args)
            self.assertTrue(err.startswith("clusterctl: ") or err.startswith("usage: "),
                            "%s: %s" % (args, err))
        rc, _, err = ctl("bogus", url=self.url)
        self.assertIn("usage: clusterctl", err)

    def test_help_matches_man_synopsis(self):
        rc, out, err = ctl("--help")
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith("usage: clusterctl"))
        rc2, out2, _ = ctl("-h")
        self.assertEqual((rc2, out2), (0, out))
        rc, ver, _ = ctl("--version")
        self.assertEqual(rc, 0)
        self.assertTrue(ver.startswith("clusterctl "))
        if not os.path.exists(MAN_PAGE):
            self.skipTest("man page not found")
        p = subprocess.run(["mandoc", "-Tascii", MAN_PAGE], capture_output=True, text=True)
        if p.returncode != 0:
            self.skipTest("mandoc unavailable")
        man = re.sub(r".\x08", "", p.stdout)
        syn = man.split("SYNOPSIS", 1)[1].split("DESCRIPTION", 1)[0]
        syn = " ".join(syn.split())
        usage = out.split("\n\n", 1)[0]
        self.assertIn("clusterctl help [command ...]", usage)
        for line in usage.splitlines():
            words = line.replace("usage:", "").split()
            self.assertIn(" ".join(words), syn, "usage line not in the SYNOPSIS: %s" % line)

    def test_unknown_node_prints_server_sentence(self):
        st, body, _ = self.c.get("/api/v1/nodes/nope")
        self.assertEqual(st, 404)
        for args in (["node", "get", "nope"], ["node", "votes", "nope"]):
            rc, out, err = ctl(*args, url=self.url)
            self.assertEqual(rc, 2)
            self.assertEqual(out, "")
            self.assertEqual(err, "clusterctl: %s\n" % body["error"])

    def test_unreachable(self):
        dead = "127.0.0.1:%d" % free_port()
        for args in (["nodes", "get"], ["-u", dead, "node", "get", "x"], ["jobs"]):
            rc, out, err = ctl(*args, url=dead)
            self.assertEqual(rc, 3, args)
            self.assertIn("cannot reach clusterm", err)
        rc, _, err = ctl("nodes", "get", url="http://" + dead + "/")
        self.assertEqual(rc, 3)

    def test_url_from_environment_and_scheme(self):
        self.assertIn("ctl-b", self.run_ok("nodes", "get"))
        rc, out, err = ctl("nodes", "get", url="http://127.0.0.1:%d/" % self.c.port)
        self.assertEqual(rc, 0, err)


class Disruption(unittest.TestCase):
    def test_nodes_get_warns(self):
        with Clusterm(config={"monitor": {"grace_s": 0}}) as c:
            names = ["dz-%d" % i for i in range(4)]
            c.post("/monitor/event/discovered", [report(n, "10.8.0.%d" % i)
                                                 for i, n in enumerate(names)])
            rc, out, err = ctl("nodes", "get", url=c.url())
            self.assertEqual(rc, 0)
            self.assertNotIn("disruption", err)
            c.post("/monitor/event/disappeared", [report(n, "10.8.0.%d" % i)
                                                  for i, n in enumerate(names[:3])])
            wait_until(lambda: c.get("/healthz")[1]["disruption"], what="disruption mode")
            rc, out, err = ctl("nodes", "get", url=c.url())
            self.assertEqual(rc, 0)
            self.assertIn("warning: clusterm is in disruption mode", err)
            self.assertEqual(len(table(out)[1]), 4)
            rc, out, err = ctl("nodes", "get", "-j", url=c.url())
            self.assertTrue(json.loads(out)["disruption"])
            self.assertIn("disruption mode", err)


class Tokens(unittest.TestCase):
    def test_token_file_and_environment(self):
        tmp = tempfile.mkdtemp(prefix="clusterctl-tok-")
        self.addCleanup(shutil.rmtree, tmp, True)
        secret = "s3cret-token-0123456789"
        tokens = os.path.join(tmp, "tokens.json")
        with open(tokens, "w") as f:
            json.dump({"tokens": [{"name": "ops", "role": "admin", "token": secret}]}, f)
        os.chmod(tokens, 0o600)
        tokfile = os.path.join(tmp, "token")
        with open(tokfile, "w") as f:
            f.write(secret + "\n")
        c = Clusterm(config={"auth": {"tokens_file": tokens}})
        self.addCleanup(c.cleanup)
        c.start()
        st, body, _ = c.get("/api/v1/nodes")
        self.assertEqual(st, 401)
        rc, out, err = ctl("nodes", "get", url=c.url())
        self.assertEqual(rc, 2)
        self.assertEqual(err.splitlines()[0], "clusterctl: %s" % body["error"])
        rc, out, err = ctl("nodes", "get", "--token-file", tokfile, url=c.url())
        self.assertEqual(rc, 0, err)
        rc, out, err = ctl("nodes", "get", url=c.url(), env={"CLUSTERM_TOKEN": secret})
        self.assertEqual(rc, 0, err)
        rc, out, err = ctl("nodes", "get", url=c.url(), env={"CLUSTERM_TOKEN": "wrong"})
        self.assertEqual(rc, 2)


class Fake:
    """A stand-in clusterm on loopback: canned replies per (method, path),
    every request recorded. A reply is (status, content type, body), the body
    a str or a list of str chunks sent chunked, 0.2 s apart."""

    def __init__(self, routes):
        self.routes = routes
        self.seen = []
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_one(self, method):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n).decode() if n else ""
                fake.seen.append((method, self.path, dict(self.headers), body))
                st, ctype, out = fake.routes.get((method, self.path),
                                                 (404, "application/json",
                                                  '{"error": "no such path: %s"}' % self.path))
                self.send_response(st)
                self.send_header("Content-Type", ctype)
                if isinstance(out, list):
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for chunk in out:
                        data = chunk.encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                        time.sleep(0.2)
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    data = out.encode()
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def do_GET(self):
                self.handle_one("GET")

            def do_POST(self):
                self.handle_one("POST")

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "127.0.0.1:%d" % self.srv.server_address[1]
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()

    def posted(self, path):
        """The JSON bodies POSTed to path."""
        return [json.loads(b) for m, p, _, b in self.seen if m == "POST" and p == path]


J = "application/json"


class AgainstFake(unittest.TestCase):
    """What clusterctl sends and how it prints, independent of the server's progress."""

    def setUp(self):
        self.f = Fake({
            ("GET", "/api/v1/nodes"): (200, J, '{"nodes": [], "disruption": false}'),
            ("POST", "/commission/nodes"): (200, J, '{"job_id": 7}'),
            ("POST", "/decommission/nodes"): (200, J, '{"job_id": 8}'),
            ("POST", "/update/nodes"): (200, J, '{"job_id": 9}'),
            ("POST", "/discover/nodes"): (200, J, '{"job_id": 10}'),
            ("POST", "/globals"): (200, J, "{}"),
            ("POST", "/config"): (200, J, "{}"),
            ("POST", "/api/v1/jobs/5/cancel"): (202, J, '{"id": 5, "status": "Running"}'),
            ("POST", "/api/v1/jobs/6/cancel"): (409, J, '{"error": "job 6 has ended"}'),
            ("GET", "/api/v1/jobs/5"): (200, J, '{"id": 5, "status": "Running"}'),
            ("GET", "/api/v1/jobs/5/log?follow=1"): (200, "text/plain", ["PLAY [all]\n", "ok\n"]),
            ("GET", "/api/v1/jobs/5/log"): (200, "text/plain", "PLAY [all]\n"),
            ("GET", "/info/job/last"): (200, J, json.dumps({
                "desc": "commission nodes [n1]", "task": "t", "status": "Errored",
                "error": "exit status 2", "logs": ["PLAY [all]", "failed"]})),
            ("GET", "/info/job/active"): (200, J, json.dumps({
                "desc": "commission nodes [n1]", "task": "t", "status": "Running",
                "error": "", "logs": ["PLAY [all]"]})),
            ("GET", "/info/logs/active"): (200, "text/plain", ["PLAY [all]\n", "done\n"]),
            ("GET", "/info/globals"): (200, J, '{"extra_vars": {"a": "b", "l": [1, 2]}}'),
            ("GET", "/api/v1/events?node=n%201&since=2024-01-01T00%3A00%3A00Z&limit=1000"):
                (200, J, json.dumps({"events": [{"time": "2024-01-02T00:00:00Z", "node": "n 1",
                                                 "kind": "status", "old": "Unallocated",
                                                 "new": "Provisioning", "actor": "ops",
                                                 "comment": ""}]})),
            ("GET", "/api/v1/jobs"): (200, J, json.dumps({"jobs": [{
                "id": 3, "operation": "commission", "nodes": ["a", "b"],
                "host_group": "service-worker", "status": "Complete",
                "created": "2024-01-01T00:00:00Z", "started": "2024-01-01T00:00:01Z",
                "ended": "2024-01-01T00:01:00Z", "exit_code": 0, "error": ""}]})),
        })

    def tearDown(self):
        self.f.close()

    def test_lifecycle_bodies_and_output(self):
        rc, out, err = ctl("node", "commission", "n1", "-g", "service-master", "-e",
                           '{"a": 1}', url=self.f.url)
        self.assertEqual((rc, out), (0, "job 7 queued: commission of n1\n"), err)
        self.assertEqual(self.f.posted("/commission/nodes"),
                         [{"nodes": ["n1"], "host_group": "service-master",
                           "extra_vars": '{"a": 1}'}])
        _, hdrs = self.f.seen[-1][1], self.f.seen[-1][2]
        self.assertTrue(hdrs["Content-Type"].startswith("application/json"))
        rc, out, err = ctl("nodes", "decommission", "a", "b", url=self.f.url)
        self.assertEqual((rc, out), (0, "job 8 queued: decommission of a, b\n"), err)
        self.assertEqual(self.f.posted("/decommission/nodes"), [{"nodes": ["a", "b"]}])
        rc, out, err = ctl("a", "u", "a", "--host-group=service-worker", "-j", url=self.f.url)
        self.assertEqual((rc, json.loads(out)), (0, {"job_id": 9}), err)
        self.assertEqual(self.f.posted("/update/nodes"),
                         [{"nodes": ["a"], "host_group": "service-worker"}])
        rc, out, err = ctl("d", "10.1.1.1", "fe80::1", "host-3.example", url=self.f.url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.f.posted("/discover/nodes"),
                         [{"addrs": ["10.1.1.1", "fe80::1", "host-3.example"]}])

    def test_global_and_config_set_bodies(self):
        rc, out, err = ctl("global", "set", "-e", '{"x": "y"}', url=self.f.url)
        self.assertEqual((rc, out), (0, "globals set\n"), err)
        self.assertEqual(self.f.posted("/globals"), [{"extra_vars": '{"x": "y"}'}])
        rc, out, err = ctl("global", "get", url=self.f.url)
        self.assertEqual(out, "extra_vars:\n    a: b\n    l:\n        1\n        2\n")
        conf = {"ansible": {"timeout_s": 5}}
        rc, out, err = ctl("config", "set", "-", url=self.f.url, stdin=json.dumps(conf))
        self.assertEqual((rc, out), (0, "configuration set\n"), err)
        rc, out, err = ctl("c", "s", "-", url=self.f.url, stdin=json.dumps({"config": conf}))
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.f.posted("/config"), [conf, {"config": conf}])

    def test_follow_streams_until_the_end(self):
        t0 = time.monotonic()
        rc, out, err = ctl("job", "log", "5", "-f", url=self.f.url)
        self.assertEqual((rc, out), (0, "PLAY [all]\nok\n"), err)
        self.assertGreater(time.monotonic() - t0, 0.3)
        rc, out, err = ctl("job", "log", "5", url=self.f.url)
        self.assertEqual((rc, out), (0, "PLAY [all]\n"), err)
        rc, out, err = ctl("job", "get", "active", "-f", url=self.f.url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "Description: commission nodes [n1]\nStatus: Running\n"
                              "Error: -\nLogs:\nPLAY [all]\ndone\n")
        rc, out, err = ctl("job", "log", "77", "-f", url=self.f.url)
        self.assertEqual((rc, out, err), (2, "", "clusterctl: no such path: /api/v1/jobs/77\n"))

    def test_job_views(self):
        rc, out, err = ctl("job", "get", "last", url=self.f.url)
        self.assertEqual(out, "Description: commission nodes [n1]\nStatus: Errored\n"
                              "Error: exit status 2\nLogs:\n    PLAY [all]\n    failed\n")
        rc, out, err = ctl("jobs", url=self.f.url)
        names, rows = table(out)
        self.assertEqual(names, ["ID", "OPERATION", "STATUS", "NODES", "HOST GROUP", "CREATED",
                                 "ENDED", "EXIT", "ERROR"])
        self.assertEqual(rows[0]["NODES"], "a,b")
        self.assertEqual(rows[0]["EXIT"], "0")
        rc, out, err = ctl("job", "cancel", "5", url=self.f.url)
        self.assertEqual((rc, out), (0, "job 5: cancel requested\n"), err)
        rc, out, err = ctl("job", "cancel", "6", url=self.f.url)
        self.assertEqual((rc, out, err), (2, "", "clusterctl: job 6 has ended\n"))

    def test_events_query(self):
        rc, out, err = ctl("events", "--node", "n 1", "--since=2024-01-01T00:00:00Z",
                           "--limit", "5", url=self.f.url)
        self.assertEqual(rc, 0, err)
        _, rows = table(out)
        self.assertEqual(rows[0]["NODE"], "n 1")
        self.assertEqual(rows[0]["NEW"], "Provisioning")
        self.assertEqual(rows[0]["COMMENT"], "-")
        ctl("events", "--since", "2h", url=self.f.url)
        path = self.f.seen[-1][1]
        m = re.match(r"/api/v1/events\?since=(\d{4})-(\d\d)-(\d\d)T(\d\d)%3A", path)
        self.assertTrue(m, path)

    def test_token_sent(self):
        tmp = tempfile.mkdtemp(prefix="clusterctl-tok-")
        tokfile = os.path.join(tmp, "token")
        with open(tokfile, "w") as f:
            f.write("  from-file \n")
        ctl("nodes", "get", url=self.f.url)
        self.assertNotIn("Authorization", self.f.seen[-1][2])
        ctl("nodes", "get", url=self.f.url, env={"CLUSTERM_TOKEN": "from-env"})
        self.assertEqual(self.f.seen[-1][2]["Authorization"], "Bearer from-env")
        ctl("nodes", "get", "--token-file", tokfile, url=self.f.url,
            env={"CLUSTERM_TOKEN": "from-env"})
        self.assertEqual(self.f.seen[-1][2]["Authorization"], "Bearer from-file")

    def test_non_json_refusal(self):
        self.f.routes[("GET", "/api/v1/nodes")] = (502, "text/plain", "bad gateway\nmore")
        rc, out, err = ctl("nodes", "get", url=self.f.url)
        self.assertEqual((rc, out, err), (2, "", "clusterctl: HTTP 502: bad gateway\n"))


class Lifecycle(unittest.TestCase):
    """Commands that need the lifecycle endpoints; each test skips, naming
    the endpoint, while the server does not serve it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="clusterctl-life-")
        cls.markers = os.path.join(cls.tmp, "markers")
        os.makedirs(cls.markers)
        cls.c = Clusterm(config={
            "monitor": {"grace_s": 0},
            "ansible": {"playbook_location": PLAYBOOKS,
                        "extra_variables": json.dumps({"marker_dir": cls.markers}),
                        "timeout_s": 120},
        }).start()
        cls.c.post("/monitor/event/discovered", [report("lc-m", "127.0.0.1"),
                                                 report("lc-w", "127.0.0.1"),
                                                 report("lc-x", "127.0.0.1")])
        cls.url = cls.c.url()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def need(self, method, path):
        if missing(self.c, method, path):
            self.skipTest("clusterm does not serve %s %s yet" % (method, path))

    def wait_job(self, jid):
        def done():
            st, j, _ = self.c.get("/api/v1/jobs/%d" % jid)
            return st == 200 and j["status"] in ("Complete", "Errored") and j
        return wait_until(done, timeout=120, interval=0.2, what="job %d to end" % jid)

    def test_commission_refused_with_sentence(self):
        self.need("POST", "/commission/nodes")
        st, body, _ = self.c.post("/commission/nodes", {"nodes": ["nope"],
                                                        "host_group": "service-master"})
        self.assertGreaterEqual(st, 400)
        rc, out, err = ctl("node", "commission", "nope", "--host-group=service-master",
                           url=self.url)
        self.assertEqual(rc, 2)
        # clusterctl's wording, then the server's (contiv's) sentence kept whole.
        if body["error"].startswith("no such node: nope"):
            self.assertEqual(err, "clusterctl: %s\n" % body["error"])
        else:
            self.assertEqual(err, "clusterctl: no such node: nope (clusterm: %s)\n"
                             % body["error"])
        rc, out, err = ctl("node", "commission", "lc-x", "-g", "no-such-group", url=self.url)
        self.assertEqual(rc, 2, err)
        self.assertTrue(err.startswith("clusterctl: "))

    def test_commission_jobs_log_events(self):
        self.need("POST", "/commission/nodes")
        rc, out, err = ctl("node", "commission", "lc-m", "--host-group=service-master",
                           url=self.url)
        self.assertEqual(rc, 0, err)
        m = re.match(r"job (\d+) queued: commission of lc-m$", out.strip())
        self.assertTrue(m, out)
        jid = int(m.group(1))
        if missing(self.c, "GET", "/api/v1/jobs/%d" % jid):
            self.skipTest("clusterm does not serve GET /api/v1/jobs/{id} yet")
        # Follow the log while the job runs; it ends when the job does.
        rc, out, err = ctl("job", "log", str(jid), "-f", url=self.url, timeout=150)
        self.assertEqual(rc, 0, err)
        job = self.wait_job(jid)
        self.assertEqual(job["status"], "Complete", job)
        self.assertIn("PLAY", out)
        rc, out2, err = ctl("job", "log", str(jid), url=self.url)
        self.assertEqual((rc, out2), (0, out))
        self.assertTrue(os.path.exists(os.path.join(self.markers, "lc-m.configure"))
                        or os.listdir(self.markers), os.listdir(self.markers))
        _, rows = table(ctl("nodes", "get", "lc-m", url=self.url)[1])
        self.assertEqual(rows[0]["STATUS"], "Allocated")
        self.assertEqual(rows[0]["HOST GROUP"], "service-master")
        self.assertEqual(rows[0]["LAST JOB"], str(jid))

        if not missing(self.c, "GET", "/api/v1/jobs"):
            rc, out, err = ctl("jobs", url=self.url)
            self.assertEqual(rc, 0, err)
            names, rows = table(out)
            self.assertEqual(names[:3], ["ID", "OPERATION", "STATUS"])
            by = {r["ID"]: r for r in rows}
            self.assertEqual(by[str(jid)]["STATUS"], "Complete")
            self.assertEqual(by[str(jid)]["NODES"], "lc-m")
            rc, out, _ = ctl("jobs", "-j", url=self.url)
            self.assertEqual(json.loads(out), self.c.get("/api/v1/jobs")[1])

        if not missing(self.c, "GET", "/info/job/last"):
            rc, out, err = ctl("job", "get", "last", url=self.url)
            self.assertEqual(rc, 0, err)
            self.assertRegex(out, r"(?m)^Status: Complete$")
            self.assertRegex(out, r"(?m)^Logs:$")
            rc, out, _ = ctl("j", "g", "last", "-j", url=self.url)
            self.assertEqual(json.loads(out), self.c.get("/info/job/last")[1])

        if not missing(self.c, "GET", "/api/v1/events"):
            rc, out, err = ctl("events", "--node", "lc-m", "--since", "1h", url=self.url)
            self.assertEqual(rc, 0, err)
            names, rows = table(out)
            self.assertEqual(names, ["TIME", "NODE", "KIND", "OLD", "NEW", "ACTOR", "COMMENT"])
            self.assertTrue(rows)
            self.assertTrue(all(r["NODE"] in ("lc-m", "-") for r in rows), rows)
            rc, out, err = ctl("events", "--limit", "1", "-j", url=self.url)
            self.assertEqual(rc, 0, err)
            self.assertLessEqual(len(json.loads(out)["events"]), 1)

    def test_unknown_job(self):
        self.need("GET", "/api/v1/jobs/424242")
        for args in (["job", "log", "424242"], ["job", "log", "424242", "-f"],
                     ["job", "cancel", "424242"]):
            rc, out, err = ctl(*args, url=self.url)
            self.assertEqual(rc, 2, "%s: %s" % (args, err))
            self.assertEqual(out, "")
            self.assertTrue(err.startswith("clusterctl: "))

    def test_job_get_active_without_job(self):
        self.need("GET", "/info/job/last")
        st, body, _ = self.c.get("/info/job/active")
        rc, out, err = ctl("job", "get", "active", url=self.url)
        if st == 200:
            self.assertEqual(rc, 0, err)
        else:
            self.assertEqual(rc, 2)
            self.assertEqual(err, "clusterctl: %s\n" % body["error"])

    def test_globals_roundtrip(self):
        self.need("GET", "/info/globals")
        rc, out, err = ctl("global", "set", "-e", '{"cl_test": "v1", "n": 2}', url=self.url)
        self.assertEqual(rc, 0, err)
        rc, out, err = ctl("global", "get", "-j", url=self.url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["extra_vars"], {"cl_test": "v1", "n": 2})
        rc, out, err = ctl("g", "g", url=self.url)
        self.assertRegex(out, r"(?m)^ +cl_test: v1$")
        rc, out, err = ctl("global", "set", "--extra-vars={}", url=self.url)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(ctl("global", "get", "-j", url=self.url)[1])["extra_vars"], {})

    def test_config_roundtrip(self):
        self.need("GET", "/config")
        rc, out, err = ctl("config", "get", "-j", url=self.url)
        self.assertEqual(rc, 0, err)
        conf = json.loads(out)
        rc, human, err = ctl("c", "g", url=self.url)
        self.assertEqual(rc, 0, err)
        self.assertTrue(human.strip())
        path = os.path.join(self.tmp, "conf.json")
        with open(path, "w") as f:
            json.dump(conf, f)
        rc, out, err = ctl("config", "set", path, url=self.url)
        self.assertEqual(rc, 0, err)
        rc, out, err = ctl("config", "set", "-", url=self.url, stdin=json.dumps(conf))
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(ctl("config", "get", "-j", url=self.url)[1]), conf)

    def test_discover_known_address_refused(self):
        self.need("POST", "/discover/nodes")
        rc, out, err = ctl("discover", "127.0.0.1", url=self.url)
        self.assertEqual(rc, 2, out + err)
        self.assertTrue(err.startswith("clusterctl: "))


if __name__ == "__main__":
    unittest.main(verbosity=2)
