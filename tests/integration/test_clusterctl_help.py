"""clusterctl for an operator's first hour, black box against a real clusterm:
where the URL comes from (-u, CLUSTERM_URL, manager.addr of CLUSTERM_CONF)
and what a connection failure says; help per command; the hints on 401 and
403; --since forms; events --limit keeps the newest; one wording for an
unknown node; node forget; reporters and the FLAGS column; bash completion."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import (CLUSTERCTL, SOURCE_DIR, Clusterm, free_port, report,  # noqa: E402
                  reporter_headers)
from test_clusterctl import J, Fake, table  # noqa: E402

COMPLETION = os.path.join(SOURCE_DIR, "clusterm", "ctl", "clusterctl.bash")
MAN_PAGE = os.path.join(SOURCE_DIR, "man", "clusterctl.1")
HINT = "hint: set -u URL, CLUSTERM_URL, or manager.addr in /etc/clusterm/clusterm.conf"


def ctl(*args, env=None, timeout=60):
    """Runs clusterctl with none of its variables set but those in env."""
    e = {k: v for k, v in os.environ.items()
         if k not in ("CLUSTERM_URL", "CLUSTERM_TOKEN", "CLUSTERM_CONF")}
    e.update(env or {})
    p = subprocess.run([CLUSTERCTL] + list(args), env=e, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def commands():
    """The command words of every usage line of --help: ["node", "commission"], ..."""
    rc, out, _ = ctl("--help")
    assert rc == 0
    cmds = []
    for line in out.split("\n\n", 1)[0].splitlines()[2:]:
        words = line.split()[1:]
        if words[0].startswith("-") or words[0] == "help":
            continue
        n = 2 if words[0] in ("node", "nodes", "global", "job", "config") else 1
        cmds.append(words[:n])
    return cmds


class Url(unittest.TestCase):
    """-u, else CLUSTERM_URL, else manager.addr of CLUSTERM_CONF, else the default."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="clusterctl-url-")
        cls.c = Clusterm(config={"monitor": {"grace_s": 0}})
        try:
            cls.c.start()
            st, _, _ = cls.c.post("/monitor/event/discovered", [report("url-a", "10.9.0.1")])
            assert st == 200
        except BaseException:
            cls.c.cleanup()
            raise
        cls.dead = free_port()

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def conf(self, name, obj):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj))
        return path

    def test_conf_file_names_the_server(self):
        good = self.conf("good.conf", {"manager": {"addr": "127.0.0.1:%d" % self.c.port,
                                                   "state_dir": "/nonexistent"}})
        rc, out, err = ctl("nodes", "get", env={"CLUSTERM_CONF": good})
        self.assertEqual(rc, 0, err)
        self.assertIn("url-a", out)
        # A wildcard listening address is reached on loopback.
        wild = self.conf("wild.conf", {"manager": {"addr": "0.0.0.0:%d" % self.c.port}})
        rc, out, err = ctl("nodes", "get", env={"CLUSTERM_CONF": wild})
        self.assertEqual(rc, 0, err)

    def test_precedence(self):
        good = self.conf("good2.conf", {"manager": {"addr": "127.0.0.1:%d" % self.c.port}})
        bad = self.conf("bad.conf", {"manager": {"addr": "127.0.0.1:%d" % self.dead}})
        real, dead = self.c.url(), "http://127.0.0.1:%d" % self.dead
        # CLUSTERM_URL over the file.
        rc, _, err = ctl("nodes", "get", env={"CLUSTERM_CONF": bad, "CLUSTERM_URL": real})
        self.assertEqual(rc, 0, err)
        rc, _, err = ctl("nodes", "get", env={"CLUSTERM_CONF": good, "CLUSTERM_URL": dead})
        self.assertEqual(rc, 3)
        self.assertIn("cannot reach clusterm at %s (from CLUSTERM_URL)" % dead, err)
        # -u over CLUSTERM_URL.
        rc, _, err = ctl("-u", real, "nodes", "get", env={"CLUSTERM_URL": dead})
        self.assertEqual(rc, 0, err)
        rc, _, err = ctl("nodes", "get", "-u", dead, env={"CLUSTERM_URL": real})
        self.assertEqual(rc, 3)
        self.assertIn("cannot reach clusterm at %s (from -u)" % dead, err)

    def test_unreachable_names_url_source_and_hint(self):
        bad = self.conf("bad2.conf", {"manager": {"addr": "127.0.0.1:%d" % self.dead}})
        rc, out, err = ctl("nodes", "get", env={"CLUSTERM_CONF": bad})
        self.assertEqual((rc, out), (3, ""))
        lines = err.splitlines()
        self.assertEqual(len(lines), 2, err)
        self.assertTrue(lines[0].startswith(
            "clusterctl: cannot reach clusterm at http://127.0.0.1:%d (manager.addr in %s): "
            % (self.dead, bad)), lines[0])
        self.assertTrue(lines[1].startswith(HINT), lines[1])
        # tls.cert_file set: https.
        tls = self.conf("tls.conf", {"manager": {"addr": "127.0.0.1:%d" % self.dead},
                                     "tls": {"cert_file": "/etc/ssl/x.pem"}})
        rc, _, err = ctl("jobs", env={"CLUSTERM_CONF": tls})
        self.assertEqual(rc, 3)
        self.assertIn("at https://127.0.0.1:%d (manager.addr in" % self.dead, err)
        # A file without manager.addr: the default address.
        empty = self.conf("empty.conf", {"monitor": {"grace_s": 1}})
        with socket.socket() as s:
            busy = s.connect_ex(("127.0.0.1", 9007)) == 0
        rc, _, err = ctl("jobs", env={"CLUSTERM_CONF": empty})
        if not busy:
            self.assertEqual(rc, 3)
            self.assertIn("at http://127.0.0.1:9007 (the default; %s has no manager.addr)"
                          % empty, err)
            self.assertIn(HINT, err)

    def test_bad_conf_file(self):
        rc, out, err = ctl("nodes", "get", env={"CLUSTERM_CONF": "/nonexistent/c.conf"})
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("CLUSTERM_CONF names /nonexistent/c.conf", err)
        broken = self.conf("broken.conf", "{not json")
        rc, _, err = ctl("nodes", "get", env={"CLUSTERM_CONF": broken})
        self.assertEqual(rc, 1)
        self.assertIn(broken + ": not a JSON object", err)
        # Not read at all when the URL is given.
        rc, _, err = ctl("nodes", "get", env={"CLUSTERM_CONF": broken,
                                              "CLUSTERM_URL": self.c.url()})
        self.assertEqual(rc, 0, err)


class Help(unittest.TestCase):
    def test_each_command_has_its_own_help(self):
        cmds = commands()
        self.assertIn(["node", "forget"], cmds)
        self.assertIn(["reporters"], cmds)
        seen = {}
        for words in cmds:
            rc, out, err = ctl(*(words + ["--help"]))
            self.assertEqual(rc, 0, "%s: %s" % (words, err))
            self.assertTrue(out.startswith("usage: clusterctl %s" % " ".join(words)),
                            "%s: %s" % (words, out))
            self.assertRegex(out, r"\nExample:\n    clusterctl %s\b" % words[0])
            desc = out.split("\n\n")[1]
            self.assertGreater(len(desc.split()), 8, words)
            self.assertNotIn(out, seen.values(), words)
            seen[" ".join(words)] = out
            rc, out2, _ = ctl(*(["help"] + words))
            self.assertEqual((rc, out2), (0, out), words)
        # Arguments and option placement do not change it.
        want = seen["node commission"]
        for args in (["node", "commission", "n1", "--help"], ["-h", "node", "commission"],
                     ["n", "c", "-h"], ["help", "node", "commission"]):
            rc, out, _ = ctl(*args)
            self.assertEqual((rc, out), (0, want), args)

    def test_groups_and_top(self):
        rc, out, _ = ctl("help", "node")
        self.assertEqual(rc, 0)
        self.assertIn("clusterctl node forget name", out)
        self.assertNotIn("nodes get", out)
        rc, same, _ = ctl("node", "--help")
        self.assertEqual(same, out)
        rc, top, _ = ctl("help")
        rc2, top2, _ = ctl("--help")
        self.assertEqual((rc, rc2, top), (0, 0, top2))
        for word in ("CLUSTERM_URL", "CLUSTERM_CONF", "CLUSTERM_TOKEN", "--token-file",
                     "manager.addr", "/etc/clusterm/clusterm.conf"):
            self.assertIn(word, top)
        for words in commands():
            self.assertRegex(top, r"\n    %s +\w" % " ".join(words))

    def test_help_usage_errors(self):
        for args in (["help", "bogus"], ["help", "node", "bogus"], ["bogus", "--help"],
                     ["help", "jobs", "extra"]):
            rc, out, err = ctl(*args)
            self.assertEqual((rc, out), (1, ""), args)
            self.assertTrue(err.startswith("clusterctl: "), err)
        # A wrong argument count shows that command's usage, not all of them.
        rc, out, err = ctl("node", "commission", "-u", "127.0.0.1:1")
        self.assertEqual((rc, out), (1, ""))
        self.assertIn("usage: clusterctl node commission name [-e json] [-g host-group]", err)
        self.assertNotIn("nodes get", err)

    def test_man_page(self):
        with open(MAN_PAGE) as f:
            man = f.read()
        for word in ("CLUSTERM_CONF", "forget", "reporters", "FLAGS", "partitioned",
                     "bash-completion", "help"):
            self.assertIn(word, man)
        if shutil.which("mandoc") is None:
            self.skipTest("mandoc unavailable")
        p = subprocess.run(["mandoc", "-Tlint", "-W", "warning", MAN_PAGE],
                           capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stdout + p.stderr), (0, ""))


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="clusterctl-auth-")
        tokens = os.path.join(cls.tmp, "tokens.json")
        with open(tokens, "w") as f:
            json.dump({"tokens": [{"name": "ops", "role": "admin", "token": "admin-tok-123456"},
                                  {"name": "viewer", "role": "reader",
                                   "token": "reader-tok-123456"}]}, f)
        os.chmod(tokens, 0o600)
        cls.c = Clusterm(config={"auth": {"tokens_file": tokens}})
        try:
            cls.c.start()
        except BaseException:
            cls.c.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_401_hints_at_the_token(self):
        st, body, _ = self.c.get("/api/v1/nodes")
        self.assertEqual(st, 401)
        rc, out, err = ctl("nodes", "get", env={"CLUSTERM_URL": self.c.url()})
        self.assertEqual((rc, out), (2, ""))
        lines = err.splitlines()
        self.assertEqual(lines[0], "clusterctl: " + body["error"])
        self.assertIn("--token-file", lines[1])
        self.assertIn("CLUSTERM_TOKEN", lines[1])
        rc, _, err = ctl("nodes", "get", env={"CLUSTERM_URL": self.c.url(),
                                              "CLUSTERM_TOKEN": "wrong-token"})
        self.assertEqual(rc, 2)
        self.assertIn("does not know the token", err)

    def test_403_names_the_role(self):
        env = {"CLUSTERM_URL": self.c.url(), "CLUSTERM_TOKEN": "reader-tok-123456"}
        rc, _, err = ctl("nodes", "get", env=env)
        self.assertEqual(rc, 0, err)
        st, body, _ = self.c.post("/commission/nodes", {"nodes": ["x"]},
                                  headers={"Authorization": "Bearer reader-tok-123456"})
        self.assertEqual(st, 403)
        rc, out, err = ctl("node", "commission", "x", env=env)
        self.assertEqual((rc, out), (2, ""))
        lines = err.splitlines()
        self.assertEqual(lines[0], "clusterctl: " + body["error"])
        self.assertIn("admin role", lines[1])
        self.assertIn("--token-file", lines[1])


class Events(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Clusterm(config={"monitor": {"grace_s": 0}})
        try:
            cls.c.start()
            # More events than one page of the server (1000).
            nodes = [report("ev-%04d" % i, "10.20.%d.%d" % (i // 200, i % 200 + 1))
                     for i in range(1100)]
            st, _, _ = cls.c.post("/monitor/event/discovered", nodes, timeout=60)
            assert st == 200
            st, _, _ = cls.c.post("/monitor/event/disappeared", nodes[-2:])
            assert st == 200
        except BaseException:
            cls.c.cleanup()
            raise
        cls.env = {"CLUSTERM_URL": cls.c.url()}

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def all_events(self):
        out, since = [], 0
        for _ in range(100):
            st, body, _ = self.c.get("/api/v1/events?since=%d&limit=1000" % since)
            self.assertEqual(st, 200)
            out += body["events"]
            if not body["events"] or body["next"] <= since:
                return out
            since = body["next"]
        return out

    def test_limit_keeps_the_newest(self):
        every = self.all_events()
        self.assertGreater(len(every), 1000)
        # The server's own limit without since keeps the newest too.
        st, body, _ = self.c.get("/api/v1/events?limit=3")
        self.assertEqual(st, 200)
        self.assertEqual(body["events"], every[-3:])
        rc, out, err = ctl("events", "--limit", "3", "-j", env=self.env)
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["events"], every[-3:])
        rc, out, err = ctl("events", "--limit", "3", env=self.env)
        self.assertEqual(rc, 0, err)
        names, rows = table(out)
        self.assertEqual([r["NODE"] for r in rows], [e["node"] or "-" for e in every[-3:]])
        # Without --limit: the newest 100.
        rc, out, err = ctl("events", "-j", env=self.env)
        self.assertEqual(json.loads(out)["events"], every[-100:])
        # With --node.
        rc, out, err = ctl("events", "--node", "ev-0000", "--limit", "1", "-j", env=self.env)
        mine = [e for e in every if e["node"] == "ev-0000"]
        self.assertEqual(json.loads(out)["events"], mine[-1:])

    def test_since_forms(self):
        rc, out, err = ctl("events", "--since", "yesterday", env=self.env)
        self.assertEqual((rc, out), (1, ""))
        for form in ("30s", "2h", "1d", "2026-01-02T03:04:05Z", "event id", '"yesterday"'):
            self.assertIn(form, err)
        for ok in ("2h", "90s", "1", "2020-01-02T03:04:05Z", "2020-01-02T03:04:05"):
            rc, out, err = ctl("events", "--since", ok, "--limit", "2", env=self.env)
            self.assertEqual(rc, 0, "%s: %s" % (ok, err))
            self.assertEqual(len(table(out)[1]), 2, ok)
        for bad in ("2x", "-3h", "2026-01-02", "1h30m", "99999999999d"):
            rc, _, err = ctl("events", "--since", bad, env=self.env)
            self.assertEqual(rc, 1, bad)


class Nodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Clusterm(config={"monitor": {"grace_s": 0}})
        try:
            cls.c.start()
            st, _, _ = cls.c.post("/monitor/event/discovered", [
                report("fg-up", "10.21.0.1"), report("fg-gone", "10.21.0.2"),
                report("fg-gone2", "10.21.0.3")])
            assert st == 200
            st, _, _ = cls.c.post("/monitor/event/disappeared", [
                report("fg-gone", "10.21.0.2"), report("fg-gone2", "10.21.0.3")])
            assert st == 200
        except BaseException:
            cls.c.cleanup()
            raise
        cls.env = {"CLUSTERM_URL": cls.c.url()}

    @classmethod
    def tearDownClass(cls):
        cls.c.cleanup()

    def test_unknown_node_one_wording(self):
        st, body, _ = self.c.post("/commission/nodes", {"nodes": ["nosuch"],
                                                        "host_group": "service-master"})
        self.assertIn("doesn't exists", body["error"])
        rc, out, err = ctl("node", "commission", "nosuch", "-g", "service-master", env=self.env)
        self.assertEqual((rc, out), (2, ""))
        if body["error"].startswith("no such node: nosuch"):
            want = "clusterctl: %s\n" % body["error"]   # the server says it our way
        else:
            want = "clusterctl: no such node: nosuch (clusterm: %s)\n" % body["error"]
        self.assertEqual(err, want)
        rc, _, err = ctl("nodes", "commission", "fg-up", "nosuch", "-g", "service-master",
                         env=self.env)
        self.assertEqual(rc, 2)
        self.assertTrue(err.startswith("clusterctl: no such node: nosuch ("), err)
        self.assertIn("doesn't exists", err)
        for args in (["node", "get", "nosuch"], ["node", "votes", "nosuch"]):
            rc, _, err = ctl(*args, env=self.env)
            self.assertEqual(rc, 2)
            self.assertTrue(err.startswith("clusterctl: no such node: nosuch"), err)
        rc, _, err = ctl("nodes", "get", "nosuch", env=self.env)
        self.assertEqual((rc, err), (2, "clusterctl: no such node: nosuch\n"))

    def test_forget(self):
        rc, out, err = ctl("node", "forget", "fg-gone", env=self.env)
        if rc == 2 and ("not allowed on" in err or "no such path" in err):
            self.skipTest("DELETE /api/v1/nodes/{name} is not served yet: " + err.strip())
        self.assertEqual((rc, out), (0, "forgot fg-gone\n"), err)
        self.assertIsNone(self.c.node("fg-gone"))
        rc, out, err = ctl("node", "forget", "fg-gone", env=self.env)
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("fg-gone", err)
        # A Discovered node is refused.
        rc, _, err = ctl("node", "forget", "fg-up", env=self.env)
        self.assertEqual(rc, 2, err)
        self.assertIsNotNone(self.c.node("fg-up"))
        rc, out, err = ctl("node", "forget", "fg-gone2", "-j", env=self.env)
        self.assertEqual(rc, 0, err)
        json.loads(out)

    def test_reporters_against_the_server(self):
        rc, out, err = ctl("reporters", env=self.env)
        if rc == 2 and "no such path" in err:
            self.skipTest("GET /api/v1/reporters is not served yet")
        self.assertEqual(rc, 0, err)
        h = reporter_headers("fg-up", 5, epoch="ep-fg")
        h["X-Spool-Depth"] = "4"
        st, _, _ = self.c.post("/monitor/event/discovered", [report("fg-up", "10.21.0.1")],
                               headers=h)
        self.assertEqual(st, 200)
        rc, out, err = ctl("reporters", env=self.env)
        self.assertEqual(rc, 0, err)
        names, rows = table(out)
        self.assertEqual(names, ["NAME", "EPOCH", "SEQ", "LAST-HEARD", "LAST-SYNC",
                                 "BATCHES", "REPORTS", "SPOOL", "STALE"])
        row = [r for r in rows if r["NAME"] == "fg-up"][0]
        self.assertEqual((row["EPOCH"], row["SEQ"], row["SPOOL"], row["STALE"]),
                         ("ep-fg", "5", "4", "no"))
        self.assertRegex(row["LAST-HEARD"], r"^\d+s ago$")
        st, body, _ = self.c.get("/api/v1/reporters")
        rc, out, err = ctl("reporters", "-j", env=self.env)
        got = json.loads(out)
        for r in got["reporters"] + body["reporters"]:
            r.pop("last_heard", None)   # may tick between the two reads
            r.pop("stale", None)
        self.assertEqual(got, body)

    def test_completion_of_node_names(self):
        got = complete(["clusterctl", "node", "get", "fg-g"], self.env)
        self.assertEqual(sorted(got), ["fg-gone", "fg-gone2"])
        got = complete(["clusterctl", "nodes", "commission", "fg-up", ""], self.env)
        self.assertIn("fg-up", got)
        self.assertIn("fg-gone", got)


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class AgainstFake(unittest.TestCase):
    def setUp(self):
        now = time.time()
        self.reporters = {"reporters": [
            {"name": "n1", "epoch": "e-1a2b", "last_seq": 41, "last_heard": iso(now - 3),
             "last_sync": iso(now - 125), "batches": 40, "reports": 75, "spool_depth": 0,
             "stale": False},
            {"name": "n2", "epoch": "e-9f", "last_seq": 7, "last_heard": iso(now - 7300),
             "last_sync": None, "batches": 7, "reports": 9, "spool_depth": 12, "stale": True},
        ]}
        self.f = Fake({
            ("GET", "/api/v1/reporters"): (200, J, json.dumps(self.reporters)),
            ("GET", "/api/v1/nodes"): (200, J, json.dumps({"disruption": False, "nodes": [
                {"name": "a", "state": "Discovered", "status": "Unallocated",
                 "partitioned": True, "unreachable": False},
                {"name": "b", "state": "Discovered", "status": "Allocated",
                 "partitioned": False, "unreachable": True},
                {"name": "c", "state": "Discovered", "status": "Allocated"},
                {"name": "d", "state": "Discovered", "status": "Allocated",
                 "partitioned": True, "unreachable": True}]})),
        })
        self.env = {"CLUSTERM_URL": self.f.url}

    def tearDown(self):
        self.f.close()

    def test_reporters_table(self):
        rc, out, err = ctl("reporters", env=self.env)
        self.assertEqual(rc, 0, err)
        names, rows = table(out)
        self.assertEqual(names, ["NAME", "EPOCH", "SEQ", "LAST-HEARD", "LAST-SYNC", "BATCHES",
                                 "REPORTS", "SPOOL", "STALE"])
        a, b = rows
        self.assertEqual((a["NAME"], a["EPOCH"], a["SEQ"], a["BATCHES"], a["REPORTS"],
                          a["SPOOL"], a["STALE"]), ("n1", "e-1a2b", "41", "40", "75", "0", "no"))
        self.assertRegex(a["LAST-HEARD"], r"^[3-9]s ago$")
        self.assertEqual(a["LAST-SYNC"], "2m ago")
        self.assertEqual((b["LAST-HEARD"], b["LAST-SYNC"], b["SPOOL"], b["STALE"]),
                         ("2h ago", "-", "12", "yes"))
        head = out.splitlines()[0]
        for line in out.splitlines()[1:]:
            self.assertEqual(line[head.index("STALE"):].strip() in ("yes", "no"), True, line)
        rc, out, err = ctl("reporters", "-j", env=self.env)
        self.assertEqual(json.loads(out), self.reporters)

    def test_flags_column(self):
        rc, out, err = ctl("nodes", "get", env=self.env)
        self.assertEqual(rc, 0, err)
        names, rows = table(out)
        self.assertEqual(names[-1], "FLAGS")
        self.assertEqual([r["FLAGS"] for r in rows],
                         ["partitioned", "unreachable", "", "partitioned,unreachable"])
        for line in out.splitlines():
            self.assertEqual(line, line.rstrip())


def complete(words, env=None):
    """What the completion script offers for words (the last one being typed)."""
    script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
              '_clusterctl; printf "%s\\n" "${COMPREPLY[@]}"')
    e = {k: v for k, v in os.environ.items()
         if k not in ("CLUSTERM_URL", "CLUSTERM_TOKEN", "CLUSTERM_CONF")}
    e["PATH"] = os.path.dirname(CLUSTERCTL) + os.pathsep + e.get("PATH", "")
    e.update(env or {})
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", COMPLETION]
                       + words, env=e, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr == "", p.stderr
    return [w for w in p.stdout.splitlines() if w]


class Completion(unittest.TestCase):
    def test_commands_and_options(self):
        self.assertEqual(sorted(complete(["clusterctl", "no"])), ["node", "nodes"])
        self.assertEqual(complete(["clusterctl", "node", "com"]), ["commission"])
        self.assertEqual(complete(["clusterctl", "-j", "node", "fo"]), ["forget"])
        self.assertEqual(complete(["clusterctl", "re"]), ["reporters"])
        self.assertEqual(complete(["clusterctl", "job", "get", ""]), ["active", "last"])
        self.assertIn("--since", complete(["clusterctl", "events", "--"]))
        self.assertNotIn("--since", complete(["clusterctl", "jobs", "--"]))
        self.assertIn("--host-group", complete(["clusterctl", "node", "commission", "x", "--"]))
        self.assertEqual(complete(["clusterctl", "help", "node", "v"]), ["votes"])
        self.assertEqual(sorted(complete(["clusterctl", "-g", "service-"])),
                         ["service-master", "service-worker"])
        # No server: no names, no noise.
        dead = "127.0.0.1:%d" % free_port()
        self.assertEqual(complete(["clusterctl", "node", "get", ""], {"CLUSTERM_URL": dead}), [])

    def test_installed(self):
        with open(os.path.join(SOURCE_DIR, "debian", "clusterm.install")) as f:
            self.assertIn("usr/share/bash-completion/completions/clusterctl", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
