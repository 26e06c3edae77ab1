"""End to end: three real `serf agent`s on loopback, serf-forwarder as their
event handler (via a config file: serf refuses a handler command holding
'='), clusterm discovering them, `sync`, and a killed agent disappearing."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import FORWARDER, Clusterm, free_port, wait_until  # noqa: E402
from fwd_util import run_fwd, status  # noqa: E402

SERF = shutil.which("serf")
EVENTS = "member-join,member-leave,member-failed,member-update,member-reap"


@unittest.skipIf(SERF is None, "serf is not installed")
class SerfEndToEnd(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fwd-e2e-")
        self.cm = Clusterm(config={"monitor": {"grace_s": 0}})
        self.agents = {}

    def tearDown(self):
        for name, (proc, log) in self.agents.items():
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            log.close()
        self.cm.cleanup()
        if os.environ.get("KEEP_TMP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def agent_log(self, name):
        with open(os.path.join(self.tmp, name + ".log"), errors="replace") as f:
            return f.read()

    def start_agent(self, name, ip, join=None):
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        fwd_conf = os.path.join(d, "serf-forwarder.conf")
        with open(fwd_conf, "w") as f:
            json.dump({"urls": [self.cm.url()], "spool_dir": os.path.join(d, "spool"),
                       "timeout_s": 5}, f)
        port = free_port(ip)
        rpc = "127.0.0.1:%d" % free_port()
        conf = {"node_name": name, "bind": "%s:%d" % (ip, port), "rpc_addr": rpc,
                "log_level": "debug", "tags": {"NodeSerial": "SN-" + name, "rack": "r1"},
                "event_handlers": ["%s=%s -c %s" % (EVENTS, FORWARDER, fwd_conf)]}
        if join:
            conf["start_join"] = [join]
        path = os.path.join(d, "serf.json")
        with open(path, "w") as f:
            json.dump(conf, f)
        log = open(os.path.join(self.tmp, name + ".log"), "wb")
        proc = subprocess.Popen([SERF, "agent", "-config-file", path], stdout=log,
                                stderr=subprocess.STDOUT)
        self.agents[name] = (proc, log)
        wait_until(lambda: subprocess.run([SERF, "members", "-rpc-addr", rpc],
                                          capture_output=True, timeout=5).returncode == 0,
                   timeout=20, what="serf agent %s RPC" % name)
        return "%s:%d" % (ip, port), rpc, os.path.join(d, "spool")

    def test_discovery_and_failure(self):
        self.cm.start()
        a1, rpc1, spool1 = self.start_agent("a1", "127.0.0.11")
        self.start_agent("a2", "127.0.0.12", join=a1)
        self.start_agent("a3", "127.0.0.13", join=a1)
        names = ["a1-SN-a1", "a2-SN-a2", "a3-SN-a3"]

        def discovered():
            return all(self.cm.state_of(n) == "Discovered" for n in names)
        try:
            wait_until(discovered, timeout=30, what="3 nodes Discovered")
            # every agent reports on the others: a2 has votes from several reporters
            wait_until(lambda: len(self.cm.node("a2-SN-a2")["votes"]) >= 2, timeout=30,
                       what="two reporters on a2")
        except AssertionError:
            print(self.agent_log("a1"), file=sys.stderr)
            raise
        n = self.cm.node("a1-SN-a1")
        self.assertEqual(n["address"], "127.0.0.11")
        self.assertEqual(n["tags"], {"rack": "r1"})

        # sync: a1's full view as a snapshot, through SERF_RPC_ADDR
        conf = os.path.join(self.tmp, "a1", "serf-forwarder.conf")
        p = run_fwd(["-c", conf, "sync"], env={"SERF_RPC_ADDR": rpc1})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("3 members", p.stderr)

        # a3 dies without leaving: the survivors report member-failed
        proc, _ = self.agents["a3"]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        try:
            wait_until(lambda: self.cm.state_of("a3-SN-a3") == "Disappeared", timeout=60,
                       interval=0.2, what="a3 Disappeared")
        except AssertionError:
            print(self.agent_log("a1"), file=sys.stderr)
            raise
        self.assertEqual(self.cm.state_of("a1-SN-a1"), "Discovered")
        self.assertEqual(status(spool1)["depth"], "0")


if __name__ == "__main__":
    unittest.main(verbosity=2)
