"""System: agents that die, come back, leave or hang, in a 5-agent serf
cluster on loopback; clusterm follows through the forwarders' votes."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sysutil import CLUSTERCTL, SystemCase, log, main  # noqa: E402

N = 5


def iso_s(t):
    """Seconds since the epoch of an RFC 3339 UTC time of the API."""
    return datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").timestamp()


class Failures(SystemCase):
    def cluster(self, grace_s, base=200):
        """5 agents f1..f5 on 127.0.0.<base+i>, every node Discovered with
        every agent's vote on it."""
        self.start_clusterm(grace_s=grace_s)
        self.grace_s = grace_s
        agents = []
        for i in range(1, N + 1):
            # each joins every agent before it: a join is a TCP state
            # exchange with each, where one seed would leave the others to
            # learn of it by UDP gossip, which a loaded machine can drop
            # (then only serf's 30 s push-pull brings it)
            agents.append(self.add_agent("f%d" % i, "127.0.0.%d" % (base + i),
                                         join=[a.addr for a in agents],
                                         label="fnode%d" % i, serial="S%d" % i))
        self.wait_states({a.node: "Discovered" for a in agents}, 30)
        self.wait(lambda: all(len(self.cm.node(a.node)["votes"]) == N for a in agents), 30,
                  "every agent's vote on every node")
        return agents

    def watch(self, victim, others, until, timeout, what):
        """Polls until until() holds; meanwhile every node of others must
        stay Discovered. Returns (seconds, first time serf on others[0]'s
        agent showed victim failed or None, first time clusterm's gone votes
        won for victim or None, per-poll samples)."""
        t0 = time.monotonic()
        serf_failed = gone_since = None
        deadline = t0 + timeout
        while True:
            now = time.monotonic() - t0
            s = self.states()
            for o in others:
                if s.get(o.node) != "Discovered":
                    self.diagnose()
                    self.fail("%s left Discovered (%s) at %.1fs while waiting for %s"
                              % (o.node, s.get(o.node), now, what))
            if serf_failed is None:
                try:
                    if self.agents[others[0].name].members()[victim.name][0] == "failed":
                        serf_failed = now
                except (AssertionError, KeyError, subprocess.TimeoutExpired):
                    pass
            if gone_since is None:
                n = self.cm.node(victim.node)
                if n.get("gone_since"):
                    gone_since = now
            if until():
                return now, serf_failed, gone_since
            if time.monotonic() > deadline:
                self.diagnose()
                self.fail("timed out after %.0fs waiting for %s" % (timeout, what))
            time.sleep(0.1)

    def test_sigkill_disappears_after_detection_plus_grace(self):
        agents = self.cluster(grace_s=3)
        victim, others = agents[2], agents[:2] + agents[3:]
        victim.kill()
        took, serf_s, gone_s = self.watch(
            victim, others, lambda: self.cm.state_of(victim.node) == "Disappeared", 60,
            "%s Disappeared" % victim.node)
        log("SIGKILL %s: serf declared it failed after %.1fs, gone votes won after %.1fs, "
            "Disappeared after %.1fs (grace %ds)" % (victim.name, serf_s or -1, gone_s or -1, took,
                                                   self.grace_s))
        self.assertIsNotNone(gone_s)
        # the hold-down: Disappeared only once the gone votes held for
        # grace_s, by the server's clock (the polls above can be late on a
        # loaded machine): the Disappeared event against gone_since, both
        # whole seconds
        n = self.cm.node(victim.node)
        gone_at = iso_s(n["gone_since"])
        disappeared_at = [iso_s(e["time"]) for e in self.state_events(victim.node)
                          if e["new"] == "Disappeared"]
        self.assertEqual(len(disappeared_at), 1, disappeared_at)
        self.assertGreaterEqual(disappeared_at[0] - gone_at, self.grace_s - 1)
        votes = {v["reporter"]: v for v in n["votes"]}
        for o in others:
            self.assertEqual(votes[o.name]["vote"], "gone", votes)
            self.assertTrue(votes[o.name]["counted"], votes)
        # its own vote from its join is still there but does not count
        self.assertEqual(votes[victim.name]["vote"], "alive")
        self.assertFalse(votes[victim.name]["counted"])
        self.assertEqual(n["last_event"], "member-failed")
        # the votes through clusterctl, as an operator sees them
        p = subprocess.run([CLUSTERCTL, "-u", self.cm.url(), "node", "votes", victim.node],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stderr)
        for o in others:
            self.assertIn(o.name, p.stdout)
        self.assertIn("gone", p.stdout)
        # clusterm agrees with serf everywhere
        for o in others:
            self.assertEqual(self.states(), self.expected(o.name))

    def test_rejoin_with_the_same_name_is_discovered(self):
        agents = self.cluster(grace_s=1)
        victim = agents[3]
        victim.kill()
        self.wait_states({victim.node: "Disappeared"}, 60)
        victim.start()      # same name, address, tags and spool
        took = self.wait_states({a.node: "Discovered" for a in agents}, 60)
        log("%s rejoined: Discovered again %.1fs after its restart" % (victim.name, took))
        self.wait(lambda: all(v["vote"] == "alive" for v in
                              self.cm.node(victim.node)["votes"]), 30, "alive votes only")
        self.assertEqual([e["new"] for e in self.state_events(victim.node)],
                         ["Discovered", "Disappeared", "Discovered"])
        for a in agents:
            self.assertEqual(self.states(), self.expected(a.name))

    def test_graceful_leave_disappears_at_once(self):
        # a grace period far longer than the test waits: only the self-leave
        # rule can make the node Disappeared in time
        agents = self.cluster(grace_s=60)
        leaver, others = agents[1], agents[:1] + agents[2:]
        t0 = time.monotonic()
        leaver.leave()
        took, _, _ = self.watch(leaver, others,
                                lambda: self.cm.state_of(leaver.node) == "Disappeared", 20,
                                "%s Disappeared after serf leave" % leaver.node)
        log("serf leave %s: Disappeared after %.1fs (grace 60s)" % (leaver.name,
                                                                   time.monotonic() - t0))
        n = self.cm.node(leaver.node)
        self.assertEqual(n["last_event"], "member-leave")
        # serf gossips the leave intent; on a loaded machine the others can
        # miss it and see the leaver's exit as a failure instead: either way
        # it is gone, which is what clusterm must agree with
        self.wait_serf(others[0].name, {leaver.name: ("left", "failed")}, timeout=20)
        for o in others:
            self.assertEqual(self.states(), self.expected(o.name))

    def test_sigstop_sigcont_before_detection(self):
        agents = self.cluster(grace_s=2)
        hung, others = agents[1], agents[:1] + agents[2:]
        hung.signal(signal.SIGSTOP)
        try:
            # 1 s: well inside memberlist's suspicion timeout (4 probe
            # intervals at this size); a deliberate duration, not a wait
            time.sleep(1.0)
        finally:
            hung.signal(signal.SIGCONT)
        self.assertNotEqual(others[0].members()[hung.name][0], "failed")
        # for a while after: serf never declared it failed, clusterm never moved
        end = time.monotonic() + 8
        while time.monotonic() < end:
            self.assertEqual(others[0].members()[hung.name][0], "alive")
            self.assertEqual(self.states(), {a.node: "Discovered" for a in agents})
            time.sleep(0.2)
        self.assertEqual([e["new"] for e in self.state_events(hung.node)], ["Discovered"])

    def test_sigstop_until_detected_then_sigcont(self):
        agents = self.cluster(grace_s=2)
        hung, others = agents[4], agents[:4]
        hung.signal(signal.SIGSTOP)
        try:
            took, serf_s, _ = self.watch(
                hung, others, lambda: self.cm.state_of(hung.node) == "Disappeared", 60,
                "the hung %s Disappeared" % hung.node)
            log("SIGSTOP %s: serf declared it failed after %.1fs, Disappeared after %.1fs"
                % (hung.name, serf_s or -1, took))
        finally:
            hung.signal(signal.SIGCONT)
        # it refutes its death, the others see it join again
        took = self.wait_states({a.node: "Discovered" for a in agents}, 60,
                                "the resumed %s Discovered again" % hung.node)
        log("SIGCONT %s: Discovered again after %.1fs" % (hung.name, took))
        for a in agents:
            self.wait_serf(a.name, {x.name: "alive" for x in agents}, timeout=30)
        # every agent's view and clusterm's agree, and keep agreeing for a
        # while (no late report of the resumed agent moves anything)
        end = time.monotonic() + 3
        while time.monotonic() < end:
            for a in agents:
                self.assertEqual(self.states(), self.expected(a.name))
            time.sleep(0.2)
        self.assertEqual([e["new"] for e in self.state_events(hung.node)],
                         ["Discovered", "Disappeared", "Discovered"])


if __name__ == "__main__":
    main()
