"""System: network partitions between groups of serf agents, made with
network namespaces and veth pairs this test creates (needs root and
`ip netns`; skipped with the reason otherwise).

Topology (all inside namespaces created here; the root namespace is never
touched):

    ns hub:  clusterm on 10.231.0.1:9007 (on hub's lo), routes between groups
      |-- veth hA (10.231.1.1/24) -- eth0 in ns A: agents 10.231.1.x
      `-- veth hB (10.231.2.1/24) -- eth0 in ns B: agents 10.231.2.x

A partition between A and B is hub's ip_forward set to 0: A and B no
longer reach each other, both still reach clusterm (a local address of hub).
Cutting B off entirely is hB set down.
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sysutil import (CLUSTERCTL, Netns, SystemCase, ip, log, main,  # noqa: E402
                     netns_unavailable)

NET = "10.231"
CM_ADDR = NET + ".0.1"
_why_not = []


def why_not():
    if not _why_not:
        _why_not.append(netns_unavailable())
    return _why_not[0]


class Partition(SystemCase):
    def setUp(self):
        super().setUp()
        reason = why_not()
        if reason:
            self.skipTest(reason)

    def topology(self, groups, grace_s, monitor=None, ticks=True):
        """groups: {"A": [agent names], "B": [...]}; returns the agents by
        group, all Discovered with every agent's vote on every node. Without
        ticks the nodes send no heartbeats: votes alone judge them."""
        self.netns = Netns()
        self.addCleanup(self.netns.cleanup)
        hub = self.netns.add("hub")
        self.hub = hub
        ip("-n", hub, "addr", "add", CM_ADDR + "/32", "dev", "lo")
        self.netns.sysctl(hub, "net.ipv4.ip_forward", 1)
        self.group_ns = {}
        for idx, g in enumerate(groups, 1):
            ns = self.netns.add(g)
            self.group_ns[g] = ns
            self.netns.veth(hub, "h" + g, ns, "eth0")
            ip("-n", hub, "addr", "add", "%s.%d.1/24" % (NET, idx), "dev", "h" + g)
            for j in range(len(groups[g])):
                ip("-n", ns, "addr", "add", "%s.%d.%d/24" % (NET, idx, 11 + j), "dev", "eth0")
            ip("-n", ns, "route", "add", "default", "via", "%s.%d.1" % (NET, idx))
        # not loopback, no tokens: --insecure (the namespaces are this test's own)
        self.start_clusterm(grace_s=grace_s, monitor=monitor, ns=hub, host=CM_ADDR,
                            args=["--insecure"])
        out, first = {}, None
        for idx, g in enumerate(groups, 1):
            out[g] = []
            for j, name in enumerate(groups[g]):
                a = self.add_agent(name, "%s.%d.%d" % (NET, idx, 11 + j),
                                   join=[first.addr] if first else (),
                                   ns=self.group_ns[g], label="node-" + name, serial="P%d" % j,
                                   ticks=ticks)
                first = first or a
                out[g].append(a)
        every = [a for g in out.values() for a in g]
        self.wait_states({a.node: "Discovered" for a in every}, 30)
        self.wait(lambda: all(len(self.cm.node(a.node)["votes"]) == len(every)
                              for a in every), 30, "every agent's vote on every node")
        return out

    def partition(self):
        self.netns.sysctl(self.hub, "net.ipv4.ip_forward", 0)

    def heal(self):
        self.netns.sysctl(self.hub, "net.ipv4.ip_forward", 1)

    def healthz(self):
        st, body, _ = self.cm.get("/healthz")
        self.assertEqual(st, 200, body)
        return body

    def clusterctl(self, *args):
        return subprocess.run(["ip", "netns", "exec", self.hub, CLUSTERCTL, "-u", self.cm.url()]
                              + list(args), capture_output=True, text=True, timeout=20)

    def test_majority_view_wins_no_flapping_healing_restores(self):
        # Nodes without the tick timer: no heartbeat, so the votes alone
        # decide (with heartbeats the minority stays Discovered, flagged
        # partitioned: test_heartbeat_sys.py).
        groups = self.topology({"A": ["p1", "p2", "p3"], "B": ["p4", "p5"]}, grace_s=3,
                               ticks=False)
        major, minor = groups["A"], groups["B"]
        every = major + minor
        log("partition: A (p1-p3) | B (p4, p5); both still reach clusterm")
        t0 = time.monotonic()
        self.partition()
        gone_at, gone_state_seen = {}, {}
        deadline = t0 + 60
        while True:
            now = time.monotonic() - t0
            nodes = self.nodes()
            for a in major:
                if nodes[a.node]["state"] != "Discovered":
                    self.diagnose()
                    self.fail("majority node %s is %s at %.1fs"
                              % (a.node, nodes[a.node]["state"], now))
            for a in minor:
                if a.node not in gone_at and self.cm.node(a.node).get("gone_since"):
                    gone_at[a.node] = now
                if nodes[a.node]["state"] == "Disappeared":
                    gone_state_seen.setdefault(a.node, now)
                elif a.node in gone_state_seen:
                    self.diagnose()
                    self.fail("minority node %s flapped back to %s at %.1fs"
                              % (a.node, nodes[a.node]["state"], now))
            if len(gone_state_seen) == len(minor):
                break
            if time.monotonic() > deadline:
                self.diagnose()
                self.fail("timed out waiting for the minority Disappeared: %r"
                          % gone_state_seen)
            time.sleep(0.1)
        for a in minor:
            log("%s: gone votes won after %.1fs, Disappeared after %.1fs (grace 3s)"
                % (a.node, gone_at[a.node], gone_state_seen[a.node]))
            # held down for the grace period (polls are 0.1 s apart)
            self.assertGreaterEqual(gone_state_seen[a.node] - gone_at[a.node], 2.5)
        # the minority side sees the majority failed and says so; its votes
        # do not count (its reporters are Disappeared)
        for a in minor:
            self.wait_serf(a.name, {x.name: "failed" for x in major}, timeout=30)

        def minority_votes_in():
            for x in major:
                votes = {v["reporter"]: v for v in self.cm.node(x.node)["votes"]}
                for a in minor:
                    v = votes.get(a.name)
                    if v is None or v["vote"] != "gone":
                        return False
                    self.assertFalse(v["counted"], (x.node, v))
            return True
        self.wait(minority_votes_in, 30, "the minority's gone votes on the majority")
        self.assertEqual(self.cm.state_of(major[0].node), "Discovered")
        # stays so while the partition lasts: no flapping, no disruption
        end = time.monotonic() + 4
        while time.monotonic() < end:
            s = self.states()
            self.assertEqual(s, dict([(a.node, "Discovered") for a in major]
                                     + [(a.node, "Disappeared") for a in minor]))
            time.sleep(0.2)
        self.assertFalse(self.healthz()["disruption"])

        log("healing the partition")
        t1 = time.monotonic()
        self.heal()
        self.wait_states({a.node: "Discovered" for a in every}, 90,
                         "all Discovered after healing")
        log("healed: all 5 Discovered %.1fs after the partition ended" % (time.monotonic() - t1))
        for a in every:
            self.wait_serf(a.name, {x.name: "alive" for x in every}, timeout=60)
        for a in every:
            self.assertEqual(self.states(), self.expected(a.name))
            self.wait(lambda: a.spool_status()["depth"] == "0", 10, "%s spool empty" % a.name)
        for a in major:
            self.assertEqual([e["new"] for e in self.state_events(a.node)], ["Discovered"])
        for a in minor:
            self.assertEqual([e["new"] for e in self.state_events(a.node)],
                             ["Discovered", "Disappeared", "Discovered"])

    def test_most_nodes_cut_off_enters_disruption_mode(self):
        # B (3 of 5) loses the network entirely: it reaches neither A nor
        # clusterm. Only A's 2 agents can report it gone, so quorum 2 makes
        # two gone votes enough (by the majority rule B's own alive votes
        # from before the cut would tie them, and B would stay Discovered).
        groups = self.topology({"A": ["q1", "q2"], "B": ["q3", "q4", "q5"]}, grace_s=2,
                               monitor={"quorum": 2})
        side_a, side_b = groups["A"], groups["B"]
        every = side_a + side_b
        self.assertFalse(self.healthz()["disruption"])
        log("cutting B (q3-q5) off: its link to the hub goes down")
        t0 = time.monotonic()
        ip("-n", self.hub, "link", "set", "hB", "down")
        self.wait_states({a.node: "Disappeared" for a in side_b}, 60, "B Disappeared")
        self.wait(lambda: self.healthz()["disruption"], 10, "disruption mode in /healthz")
        log("B Disappeared and disruption mode on %.1fs after the cut" % (time.monotonic() - t0))
        h = self.healthz()
        self.assertEqual(h["status"], "disruption")
        self.assertTrue(h.get("disruption_since"))
        self.assertEqual(self.metrics()["clusterm_disruption"], 1)
        for a in side_a:
            self.assertEqual(self.cm.state_of(a.node), "Discovered")
        p = self.clusterctl("nodes", "get")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("disruption", p.stderr)
        for a in every:
            self.assertIn(a.node, p.stdout)
        log("clusterctl nodes get said: %s" % p.stderr.strip())
        st, body, _ = self.cm.get("/api/v1/nodes")
        self.assertTrue(body["disruption"])

        log("B's link comes back")
        t1 = time.monotonic()
        ip("-n", self.hub, "link", "set", "hB", "up")
        self.wait_states({a.node: "Discovered" for a in every}, 90, "all Discovered again")
        self.wait(lambda: not self.healthz()["disruption"], 30, "disruption mode over")
        log("all Discovered and disruption mode over %.1fs after the link came back"
            % (time.monotonic() - t1))
        self.assertEqual(self.healthz()["status"], "ok")
        p = self.clusterctl("nodes", "get")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("disruption", p.stderr)
        # B's spools (its gone votes on A from the cut, then its joins) arrived
        for a in every:
            self.wait_serf(a.name, {x.name: "alive" for x in every}, timeout=60)
        for a in side_b:
            self.wait(lambda: a.spool_status()["depth"] == "0", 30, "%s spool empty" % a.name)
        for a in every:
            self.assertEqual(self.states(), self.expected(a.name))
        for a in side_a:
            self.assertEqual([e["new"] for e in self.state_events(a.node)], ["Discovered"])


if __name__ == "__main__":
    main()
