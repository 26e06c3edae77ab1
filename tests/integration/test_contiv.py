"""Drop-in compatibility with contiv's own clients, black box: the bodies
contiv's Go REST client (clusterm/manager/client.go) and its monitor send,
byte for byte, and the wording of contiv's refusals inside ours.

contiv's APIRequest is
  {"nodes","addrs","host_group","extra_vars","job"} (all omitempty) plus
  "monitor_event": {"name","nodes"} (a struct: always sent),
encoded with json.NewEncoder(...).Encode, so every body ends with a newline
and carries "monitor_event":{"name":"","nodes":null} even where it means
nothing. Its config set sends the whole manager.Config, every unset string
as ""."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import CLUSTERM, Clusterm, wait_until  # noqa: E402

# What contiv's client puts in every body (Go marshals a nil slice as null).
NO_EVENT = '"monitor_event":{"name":"","nodes":null}'


def go_body(*members):
    """A body as Go's json.Encoder writes it: compact, then a newline."""
    return ("{" + ",".join(members) + "}\n").encode()


def go_str(s):
    """A Go string field: JSON-quoted."""
    return json.dumps(s, separators=(",", ":"))


def contiv_config(ansible, serf_addr="127.0.0.1:7373"):
    """clusterctl config set's body: the whole manager.Config, wrapped."""
    fields = ["configure_playbook", "cleanup_playbook", "upgrade_playbook",
              "playbook_location", "extra_variables", "user", "priv_key_file"]
    ans = ",".join('"%s":%s' % (k, go_str(ansible.get(k, ""))) for k in fields)
    for k, v in ansible.items():
        if k not in fields:
            ans += ',"%s":%s' % (k, json.dumps(v))
    conf = ('{"serf":{"Addr":%s,"AuthKey":"","Timeout":0},"inventory":{},'
            '"ansible":{%s},"manager":{"addr":""}}' % (go_str(serf_addr), ans))
    return go_body('"config":' + conf, NO_EVENT)


class Contiv(unittest.TestCase):
    def setUp(self):
        self.c = Clusterm(config={"monitor": {"grace_s": 0}}).start()

    def tearDown(self):
        self.c.cleanup()

    def globals(self):
        st, body, _ = self.c.get("/info/globals")
        self.assertEqual(st, 200, body)
        return body["extra_vars"]

    def ansible(self):
        st, body, _ = self.c.get("/config")
        self.assertEqual(st, 200, body)
        return body["ansible"]

    def refused(self, path, body, status, *texts):
        st, reply, _ = self.c.post(path, body)
        self.assertEqual(st, status, reply)
        for t in texts:
            self.assertIn(t, reply["error"])
        return reply["error"]

    def said_once(self, text):
        wait_until(lambda: text in self.c.log(), what="log line %r" % text)
        self.assertEqual(self.c.log().count(text), 1, self.c.log())

    # clusterctl global set -e '{"env":"prod"}': PostGlobals (client.go).
    def test_global_set_body(self):
        body = go_body('"extra_vars":' + go_str('{"env":"prod","n":2}'), NO_EVENT)
        st, reply, _ = self.c.post("/globals", body)
        self.assertEqual(st, 200, reply)
        self.assertEqual(reply["extra_vars"], {"env": "prod", "n": 2})
        self.assertEqual(self.globals(), {"env": "prod", "n": 2})
        # Twice: logged once only.
        self.assertEqual(self.c.post("/globals", body)[0], 200)
        self.said_once("POST /globals: key monitor_event of contiv's request is not used")
        # Every field of the struct present: those that do not apply are ignored.
        body = go_body('"nodes":["n1"]', '"addrs":["10.0.0.1"]', '"host_group":"service-master"',
                       '"extra_vars":' + go_str('{"env":"qa"}'), '"job":"active"', NO_EVENT)
        self.assertEqual(self.c.post("/globals", body)[0], 200)
        self.assertEqual(self.globals(), {"env": "qa"})

    # clusterctl global set without -e: extra_vars is left out (omitempty), and
    # contiv takes "not set" as its default, {}.
    def test_global_set_without_extra_vars_clears(self):
        self.assertEqual(self.c.post("/globals", {"extra_vars": '{"a": 1}'})[0], 200)
        self.assertEqual(self.c.post("/globals", go_body(NO_EVENT))[0], 200)
        self.assertEqual(self.globals(), {})
        self.assertEqual(self.c.post("/globals", {"extra_vars": '{"a": 1}'})[0], 200)
        self.assertEqual(self.c.post("/globals", go_body('"extra_vars":"  "', NO_EVENT))[0], 200)
        self.assertEqual(self.globals(), {})

    def test_global_set_refusals_change_nothing(self):
        self.assertEqual(self.c.post("/globals", {"extra_vars": '{"keep": true}'})[0], 200)
        cases = [
            (go_body('"extra_vars":"not json"', NO_EVENT), '"extra_vars" should be a valid json'),
            (go_body('"extra_vars":"[1,2]"', NO_EVENT), '"extra_vars" should be a valid json'),
            (go_body('"extra_vars":7', NO_EVENT), "extra_vars"),
            (go_body('"extra_vars":"{}"', '"bogus":1'), "bogus"),
            (b"[1]\n", "JSON object"),
            (b"{\n", "body is not valid JSON"),
        ]
        for body, text in cases:
            with self.subTest(body=body):
                self.refused("/globals", body, 400, text)
                self.assertEqual(self.globals(), {"keep": True})

    # clusterctl config set FILE: the whole manager.Config, "" meaning unset.
    def test_config_set_whole_struct(self):
        before = self.ansible()
        pb = tempfile.mkdtemp(prefix="clusterm-pb-")
        try:
            body = contiv_config({"playbook_location": pb, "user": "deploy"})
            st, reply, _ = self.c.post("/config", body)
            self.assertEqual(st, 200, reply)
            after = self.ansible()
            self.assertEqual(after["playbook_location"], pb)
            self.assertEqual(after["user"], "deploy")
            # Every "" left the key as it was.
            for k in ("configure_playbook", "cleanup_playbook", "upgrade_playbook",
                      "extra_variables", "priv_key_file", "command", "timeout_s"):
                self.assertEqual(after[k], before[k], k)
            # The unwrapped form (a contiv clusterm.conf posted as it is).
            conf = json.loads(body)["config"]
            conf["ansible"]["user"] = "ops"
            conf["monitor_event"] = {"name": "", "nodes": None}
            self.assertEqual(self.c.post("/config", conf)[0], 200)
            self.assertEqual(self.ansible()["user"], "ops")
            self.assertEqual(self.ansible()["playbook_location"], pb)
            for key in ("serf", "inventory", "manager", "monitor_event"):
                self.said_once("POST /config: key %s of contiv's request is not used" % key)
        finally:
            os.rmdir(pb)

    def test_config_set_refusals_change_nothing(self):
        self.assertEqual(self.c.post("/config", {"ansible": {"user": "keep"}})[0], 200)
        before = self.ansible()
        cases = [
            # A key that applies, of the wrong type: named, and the "user" beside
            # it is not applied either.
            (contiv_config({"user": "other", "timeout_s": "x"}), "ansible.timeout_s"),
            (contiv_config({"user": "other", "bogus": ""}), "ansible.bogus"),
            (go_body('"config":{"monitor":{"grace_s":1}}', NO_EVENT), "monitor"),
            (go_body('"config":[]', NO_EVENT), "config"),
            (go_body('"config":{}', '"nodes":["n1"]'), "nodes"),
            (go_body('"ansible":{"user":"other","extra_variables":"[1]"}'),
             "ansible.extra_variables"),
            (b"not json\n", '"config" should be a valid json'),
        ]
        for body, text in cases:
            with self.subTest(body=body):
                self.refused("/config", body, 400, text)
                self.assertEqual(self.ansible(), before)

    # contiv's TestSetGetConfigFailureNotPermitted: clusterctl config get shows
    # serf, inventory and manager; a set that changes one of them is refused
    # with contiv's sentence and status (500), nothing applied; the round trip
    # of what get showed passes.
    def test_config_fixed_sections(self):
        st, got, _ = self.c.get("/config")
        self.assertEqual(st, 200, got)
        self.assertEqual(got["serf"], {"Addr": "127.0.0.1:7373", "AuthKey": "", "Timeout": 0})
        self.assertEqual(got["inventory"], {})
        self.assertEqual(got["manager"], {"addr": "127.0.0.1:%d" % self.c.port})
        got["ansible"]["user"] = "roundtrip"
        body = go_body('"config":' + json.dumps(got, separators=(",", ":")), NO_EVENT)
        st, reply, _ = self.c.post("/config", body)
        self.assertEqual(st, 200, reply)
        self.assertEqual(self.ansible()["user"], "roundtrip")
        before = self.ansible()
        changed = [
            ("serf", contiv_config({"user": "other"}, serf_addr="10.1.1.1:7373")),
            ("manager", go_body('"config":{"manager":{"addr":"0.0.0.0:9999"},'
                                '"ansible":{"user":"other"}}', NO_EVENT)),
            ("inventory", go_body('"config":{"inventory":{"collins":{"URL":"http://c:9000"}},'
                                  '"ansible":{"user":"other"}}', NO_EVENT)),
        ]
        for section, body in changed:
            with self.subTest(section=section):
                self.refused("/config", body, 500,
                             "\"%s\" configuration can't be changed. Only changes to "
                             "ansible configuration are allowed." % section)
                self.assertEqual(self.ansible(), before)

    # contiv's TestDiscoverNodeSuccess: a disappeared report about a node never
    # known creates none (contiv ignores it); it is audited. A new node comes
    # from Incomplete.
    def test_disappeared_unknown_node_creates_none(self):
        body = go_body('"monitor_event":{"name":"Disappeared","nodes":'
                       '[{"label":"ghost","serial":"1","addr":"10.9.9.1"}]}')
        st, reply, _ = self.c.post("/monitor/event", body)
        self.assertEqual(st, 200, reply)
        st, reply, _ = self.c.get("/info/node/ghost-1")
        self.assertEqual(st, 404, reply)
        self.assertIn("doesn't exists", reply["error"])
        self.assertNotIn("ghost-1", self.c.get("/info/nodes")[1])
        st, ev, _ = self.c.get("/api/v1/events?node=ghost-1")
        self.assertEqual([e["kind"] for e in ev["events"]], ["report"])
        body = go_body('"monitor_event":{"name":"Discovered","nodes":'
                       '[{"label":"ghost","serial":"1","addr":"10.9.9.1"}]}')
        self.assertEqual(self.c.post("/monitor/event", body)[0], 200)
        st, node, _ = self.c.get("/info/node/ghost-1")
        self.assertEqual(st, 200, node)
        self.assertEqual(node["inventory_state"]["status"], "Unallocated")
        self.assertEqual(node["inventory_state"]["prev_status"], "Incomplete")

    # contiv's monitor: PostMonitorEvent(monitor.Discovered.String(), ...),
    # one node per POST, its fields label, serial, addr.
    def test_monitor_event_capitalised(self):
        body = go_body('"monitor_event":{"name":"Discovered","nodes":'
                       '[{"label":"host1","serial":"SN1","addr":"10.9.0.1"}]}')
        st, reply, _ = self.c.post("/monitor/event", body)
        self.assertEqual(st, 200, reply)
        self.assertEqual(self.c.state_of("host1-SN1"), "Discovered")
        body = go_body('"monitor_event":{"name":"DISAPPEARED","nodes":'
                       '[{"label":"host1","serial":"SN1","addr":"10.9.0.1"}]}')
        self.assertEqual(self.c.post("/monitor/event", body)[0], 200)
        self.assertEqual(self.c.state_of("host1-SN1"), "Disappeared")
        # An empty serial: the node's name is the label.
        body = go_body('"monitor_event":{"name":"Discovered","nodes":'
                       '[{"label":"host2","serial":"","addr":"10.9.0.2"}]}')
        self.assertEqual(self.c.post("/monitor/event", body)[0], 200)
        self.assertEqual(self.c.state_of("host2"), "Discovered")
        # Go's nil node list.
        st, reply, _ = self.c.post("/monitor/event", go_body(
            '"monitor_event":{"name":"Disappeared","nodes":null}'))
        self.assertEqual((st, reply["accepted"]), (200, 0), reply)
        for name in ("Exploded", ""):
            err = self.refused("/monitor/event", go_body(
                '"monitor_event":{"name":%s,"nodes":[{"label":"host2","serial":"",'
                '"addr":"10.9.0.2"}]}' % go_str(name)), 400,
                'Invalid or empty event name specified: "%s"' % name)
            self.assertIn("monitor_event.name", err)
            self.assertEqual(self.c.state_of("host2"), "Discovered")

    def test_inventory_vars(self):
        body = go_body('"monitor_event":{"name":"Discovered","nodes":'
                       '[{"label":"iv","serial":"S7","addr":"10.9.1.7"}]}')
        self.assertEqual(self.c.post("/monitor/event", body)[0], 200)
        st, node, _ = self.c.get("/info/node/iv-S7")
        self.assertEqual(st, 200, node)
        self.assertEqual(node["configuration_state"]["inventory_vars"],
                         {"node_name": "iv-S7", "node_addr": "10.9.1.7"})
        st, nodes, _ = self.c.get("/info/nodes")
        self.assertEqual(nodes["iv-S7"]["configuration_state"]["inventory_vars"],
                         {"node_name": "iv-S7", "node_addr": "10.9.1.7"})

    def test_refusal_messages(self):
        st, r, _ = self.c.get("/info/node/nope")
        self.assertEqual(st, 404, r)
        self.assertIn('node with name or address "nope" doesn\'t exists', r["error"])
        for path in ("/info/job/bogus", "/info/logs/bogus"):
            st, r, _ = self.c.get(path)
            self.assertEqual(st, 400, r)
            self.assertIn('Invalid or empty job label specified: "bogus"', r["error"])
        for label in ("active", "last"):
            for prefix in ("/info/job/", "/info/logs/"):
                st, r, _ = self.c.get(prefix + label)
                self.assertEqual(st, 404, r)
                self.assertIn('info for "%s" job doesn\'t exist' % label, r["error"])

    # Lifecycle bodies of contiv's client reach the lifecycle (monitor_event
    # is not an unknown key there); the refusal itself is the lifecycle's.
    def test_lifecycle_bodies_accepted(self):
        for path, body in [
                ("/commission/nodes", go_body('"nodes":["nope"]', '"host_group":"service-master"',
                                              NO_EVENT)),
                ("/decommission/nodes", go_body('"nodes":["nope"]', NO_EVENT)),
                ("/update/nodes", go_body('"nodes":["nope"]', NO_EVENT))]:
            with self.subTest(path=path):
                st, r, _ = self.c.post(path, body)
                self.assertEqual(st, 404, r)
                self.assertNotIn("unknown key", r["error"])
        self.assertEqual(self.c.get("/api/v1/jobs")[1]["jobs"], [])


class QueueJobsKey(unittest.TestCase):
    """manager.queue_jobs: a boolean, checked by name like every key."""

    def check(self, conf):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            json.dump(conf, f)
        try:
            return subprocess.run([CLUSTERM, "-n", "-c", f.name], capture_output=True,
                                  text=True, timeout=20)
        finally:
            os.unlink(f.name)

    def test_queue_jobs(self):
        for v in (True, False):
            r = self.check({"manager": {"queue_jobs": v, "max_jobs": 2}})
            self.assertEqual(r.returncode, 0, r.stderr)
        r = self.check({"manager": {"queue_jobs": "yes"}})
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("manager.queue_jobs", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
