"""System: level-triggered healing and the node's own evidence of life
(CONTRACT 11) with real serf agents, each with its `serf-forwarder tick`
loop (sysutil.Agent), and a real clusterm:

1. quiet-cluster outage: clusterm down, an agent leaves, clusterm back, no
   other serf event: the ticks deliver the spools, the node Disappeared;
2. clusterm restarted from an empty state dir: the ticks' periodic sync
   brings every node back to its right state, no serf event;
3. a partition with both sides reaching clusterm (network namespaces): no
   node Disappeared, the cut-off side partitioned, flags off once healed;
   a node killed: Disappeared, never flagged partitioned;
4. clusterm cut off from the nodes longer than heartbeat_timeout_s: every
   node unreachable, none Disappeared, no disruption mode.
"""

import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sysutil import (HB_INTERVAL_S, HB_TIMEOUT_S, TICK_S, Netns, SystemCase, ip,  # noqa: E402
                     log, main, netns_unavailable)

SYNC_S = 4          # a short sync interval for test 2 (the ticks jitter it by 20 %)
NET = "10.232"
CM_ADDR = NET + ".0.1"
_why_not = []


def why_not():
    if not _why_not:
        _why_not.append(netns_unavailable())
    return _why_not[0]


def flag_events(case, node, kind):
    st, body, _ = case.cm.get("/api/v1/events?limit=1000&node=" + node)
    case.assertEqual(st, 200, body)
    return [e["new"] for e in body["events"] if e["kind"] == kind]


class Healing(SystemCase):
    """Tests 1 and 2: on loopback."""

    def agents_up(self, prefix, base, n, sync_s=None):
        agents = []
        for i in range(1, n + 1):
            join = [agents[0].addr] if agents else ()
            a = self.add_agent("%s%d" % (prefix, i), "127.0.0.%d" % (base + i), join=join,
                               label="%snode%d" % (prefix, i), serial="H%d" % i, start=False)
            if sync_s is not None:
                with open(a.fwd_conf) as f:
                    conf = json.load(f)
                conf["sync_interval_s"] = sync_s
                with open(a.fwd_conf, "w") as f:
                    json.dump(conf, f)
            a.start()
            agents.append(a)
        self.wait_states({a.node: "Discovered" for a in agents}, 30)
        return agents

    def test_1_quiet_cluster_outage(self):
        grace_s = 2
        cm = self.start_clusterm(grace_s=grace_s)
        agents = self.agents_up("q", 60, 3)
        leaver, rest = agents[2], agents[:2]
        self.assertEqual(cm.stop(), 0)
        log("clusterm stopped; %s leaves" % leaver.name)
        leaver.leave()
        for a in rest:
            self.wait_serf(a.name, {leaver.name: "left"}, timeout=30)
            self.wait(lambda: int(a.spool_status()["depth"]) > 0, 20,
                      "%s spooled the leave" % a.name)
        events_before = {a.name: a.log().count("script output") for a in rest}
        t0 = time.monotonic()
        cm.start()
        took = self.wait_states({leaver.node: "Disappeared"}, TICK_S + grace_s + 30,
                                "%s Disappeared by the ticks alone" % leaver.node)
        log("clusterm back: %s Disappeared after %.1fs (tick %ds, grace %ds)"
            % (leaver.node, time.monotonic() - t0, TICK_S, grace_s))
        self.assertLess(took, TICK_S + grace_s + 30)
        for a in rest:
            self.wait(lambda: a.spool_status()["depth"] == "0", 20, "%s spool empty" % a.name)
            self.assertEqual(self.cm.state_of(a.node), "Discovered")
        # no serf event ran meanwhile: the ticks delivered
        self.assertEqual({a.name: a.log().count("script output") for a in rest}, events_before)
        self.assertEqual(self.metrics()["clusterm_reporter_spool_depth"], 0)

    def test_2_empty_state_dir(self):
        cm = self.start_clusterm(grace_s=1)
        agents = self.agents_up("w", 70, 4, sync_s=SYNC_S)
        dead = agents[3]
        dead.kill()
        self.wait_states({dead.node: "Disappeared"}, 60)
        # the live nodes come back; the dead one, which clusterm no longer
        # knows, is audited from the syncs but not made again (CONTRACT 3.3)
        want = {a.node: "Discovered" for a in agents[:3]}
        self.assertEqual(cm.stop(), 0)
        shutil.rmtree(cm.state_dir)
        os.makedirs(cm.state_dir)
        os.chmod(cm.state_dir, 0o700)
        t0 = time.monotonic()
        cm.start()
        self.assertEqual(self.states(), {})
        bound = TICK_S + SYNC_S * 1.2 + 20
        took = self.wait_states(want, bound, "states back from the ticks' syncs")
        log("empty state dir: all %d live nodes right after %.1fs (tick %ds, sync %ds)"
            % (len(want), time.monotonic() - t0, TICK_S, SYNC_S))
        self.assertLess(took, bound)
        self.assertNotIn(dead.node, self.states())

        def reporters():
            return {r["name"]: r for r in self.cm.get("/api/v1/reporters")[1]["reporters"]}
        # every live agent's tick syncs within a sync interval (and its jitter)
        self.wait(lambda: all(reporters().get(a.name, {}).get("last_sync")
                              for a in agents[:3]), bound, "every agent synced")
        v = reporters()
        for a in agents[:3]:
            self.assertFalse(v[a.name]["stale"])
        # heartbeats go on: nobody is flagged, the dead node stays gone
        time.sleep(HB_TIMEOUT_S + 1)
        self.assertEqual(self.states(), want)
        for a in agents[:3]:
            n = self.cm.node(a.node)
            self.assertEqual((n["partitioned"], n["unreachable"]), (False, False))


class NsCase(SystemCase):
    def setUp(self):
        super().setUp()
        reason = why_not()
        if reason:
            self.skipTest(reason)

    def topology(self, groups, grace_s, monitor=None):
        """As test_partition.py: clusterm on hub, each group in its own
        namespace behind a veth to hub, which routes between them."""
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
        self.start_clusterm(grace_s=grace_s, monitor=monitor, ns=hub, host=CM_ADDR,
                            args=["--insecure"])
        out, first = {}, None
        for idx, g in enumerate(groups, 1):
            out[g] = []
            for j, name in enumerate(groups[g]):
                a = self.add_agent(name, "%s.%d.%d" % (NET, idx, 11 + j),
                                   join=[first.addr] if first else (),
                                   ns=self.group_ns[g], label="node-" + name, serial="Z%d" % j)
                first = first or a
                out[g].append(a)
        every = [a for g in out.values() for a in g]
        self.wait_states({a.node: "Discovered" for a in every}, 30)
        self.wait(lambda: all(len(self.cm.node(a.node)["votes"]) == len(every)
                              for a in every), 30, "every agent's vote on every node")
        return out

    def flags(self):
        return {n: (v["state"], v["partitioned"], v["unreachable"])
                for n, v in self.nodes().items()}


class Partitioned(NsCase):
    def test_3_partition_both_sides_reach_clusterm(self):
        grace_s = 2
        groups = self.topology({"A": ["p1", "p2", "p3"], "B": ["p4", "p5"]}, grace_s=grace_s)
        major, minor = groups["A"], groups["B"]
        every = major + minor
        log("partition: A (p1-p3) | B (p4, p5); both still reach clusterm")
        t0 = time.monotonic()
        self.netns.sysctl(self.hub, "net.ipv4.ip_forward", 0)
        self.wait(lambda: all(self.flags()[a.node] == ("Discovered", True, False)
                              for a in minor), 60, "the minority partitioned")
        log("minority partitioned after %.1fs" % (time.monotonic() - t0))
        for a in minor:
            self.wait_serf(a.name, {x.name: "failed" for x in major}, timeout=30)
        # held: well past detection + grace + heartbeat interval, nobody gone
        end = time.monotonic() + grace_s + HB_INTERVAL_S + HB_TIMEOUT_S + 2
        while time.monotonic() < end:
            f = self.flags()
            for a in major:
                self.assertEqual(f[a.node], ("Discovered", False, False), a.node)
            for a in minor:
                self.assertEqual(f[a.node], ("Discovered", True, False), a.node)
            time.sleep(0.3)
        self.assertFalse(self.cm.get("/healthz")[1]["disruption"])
        self.assertEqual(self.metrics()['clusterm_nodes_flagged{flag="partitioned"}'], 2)

        log("healing the partition")
        t1 = time.monotonic()
        self.netns.sysctl(self.hub, "net.ipv4.ip_forward", 1)
        self.wait(lambda: all(v == ("Discovered", False, False)
                              for v in self.flags().values()), 90, "flags off after healing")
        log("healed: flags off %.1fs after the partition ended" % (time.monotonic() - t1))
        for a in every:
            self.assertEqual([e["new"] for e in self.state_events(a.node)], ["Discovered"])
        for a in minor:
            self.assertEqual(flag_events(self, a.node, "partitioned"), ["on", "off"])

        victim = major[1]
        log("SIGKILL %s" % victim.name)
        t2 = time.monotonic()
        victim.kill()
        self.wait_states({victim.node: "Disappeared"}, 60, "%s Disappeared" % victim.node)
        log("%s Disappeared %.1fs after SIGKILL (grace %ds, heartbeat interval %ds, plus "
            "serf's detection)" % (victim.node, time.monotonic() - t2, grace_s, HB_INTERVAL_S))
        self.assertEqual(flag_events(self, victim.node, "partitioned"), [])
        self.assertEqual(self.flags()[victim.node], ("Disappeared", False, False))


class CutOff(NsCase):
    def test_4_clusterm_cut_off_from_the_nodes(self):
        groups = self.topology({"A": ["c1", "c2", "c3"]}, grace_s=1)
        every = groups["A"]
        log("cutting clusterm off from the nodes (hA down) for > %ds" % HB_TIMEOUT_S)
        t0 = time.monotonic()
        ip("-n", self.hub, "link", "set", "hA", "down")
        self.wait(lambda: all(self.flags()[a.node] == ("Discovered", False, True)
                              for a in every), HB_TIMEOUT_S + 30, "every node unreachable")
        log("all unreachable after %.1fs (heartbeat_timeout_s %d)"
            % (time.monotonic() - t0, HB_TIMEOUT_S))
        end = time.monotonic() + 3
        while time.monotonic() < end:
            self.assertEqual(set(self.states().values()), {"Discovered"})
            time.sleep(0.3)
        h = self.cm.get("/healthz")[1]
        self.assertEqual((h["status"], h["disruption"]), ("ok", False))
        m = self.metrics()
        self.assertEqual(m['clusterm_nodes_flagged{flag="unreachable"}'], 3)
        self.assertEqual(m['clusterm_nodes{state="Disappeared"}'], 0)
        ip("-n", self.hub, "link", "set", "hA", "up")
        self.wait(lambda: all(v == ("Discovered", False, False)
                              for v in self.flags().values()), 30, "flags off once reachable")
        for a in every:
            self.assertEqual(flag_events(self, a.node, "unreachable"), ["on", "off"])
            self.assertEqual([e["new"] for e in self.state_events(a.node)], ["Discovered"])


if __name__ == "__main__":
    main()
