"""System: real serf agents on loopback discover each other and clusterm
learns every node through the agents' serf-forwarders: 5 agents with their
tags mapped, and 30 agents joining at once."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sysutil import SystemCase, log, main  # noqa: E402


class Discovery(SystemCase):
    def test_five_agents_discovered_tags_mapped_nothing_applied_twice(self):
        self.start_clusterm(grace_s=2)
        agents = []
        for i in range(1, 6):
            agents.append(self.add_agent(
                "d%d" % i, "127.0.0.%d" % (150 + i),
                join=[agents[0].addr] if agents else (),
                label="host%d" % i, serial="SN%04d" % i, mgmt="host%d.mgmt.example" % i,
                tags={"rack": "r%d" % (i % 2), "note": "a=b,c"}))
        names = [a.node for a in agents]
        took = self.wait_states({n: "Discovered" for n in names}, 30, "5 nodes Discovered")
        log("5 agents Discovered %.1fs after the last agent started" % took)
        # every agent reports every member: 5 reporters' votes on each node
        self.wait(lambda: all(len(self.cm.node(n)["votes"]) == 5 for n in names), 30,
                  "5 reporters' votes on every node")

        for i, a in enumerate(agents, 1):
            n = self.cm.node(a.node)
            self.assertEqual(n["name"], "host%d-SN%04d" % (i, i))
            self.assertEqual(n["label"], "host%d" % i)
            self.assertEqual(n["serial"], "SN%04d" % i)
            self.assertEqual(n["address"], "host%d.mgmt.example" % i)
            self.assertEqual(n["member"], a.name)
            self.assertEqual(n["status"], "Unallocated")
            # the mapped tags are report keys, the others stay tags (commas kept)
            self.assertEqual(n["tags"], {"rack": "r%d" % (i % 2), "note": "a=b,c"})
            self.assertEqual(sorted(v["reporter"] for v in n["votes"]),
                             sorted(x.name for x in agents))
            for v in n["votes"]:
                self.assertEqual(v["vote"], "alive", v)
                # its own vote stops counting once others have voted
                self.assertEqual(v["counted"], not v["self"], v)

        # nothing applied twice: no duplicate batches, one state change per node,
        # every spool empty, and clusterm agrees with serf
        m = self.metrics()
        self.assertEqual(m["clusterm_reports_duplicate_total"], 0)
        self.assertGreaterEqual(m["clusterm_reports_received_total"], 25)
        for n in names:
            self.assertEqual([(e["old"], e["new"]) for e in self.state_events(n)],
                             [("Unknown", "Discovered")], n)
        for a in agents:
            self.assertEqual(a.spool_status()["depth"], "0", a.name)
        self.assertEqual(self.states(), self.expected("d1"))
        log("reports received %d, duplicates %d" % (m["clusterm_reports_received_total"],
                                                   m["clusterm_reports_duplicate_total"]))

    def test_thirty_agents_joining_at_once_converge(self):
        n_agents = 30
        self.start_clusterm(grace_s=2)
        seed = self.add_agent("c01", "127.0.0.161", label="big01")
        others = [self.add_agent("c%02d" % i, "127.0.0.%d" % (160 + i), join=[seed.addr],
                                 label="big%02d" % i, start=False)
                  for i in range(2, n_agents + 1)]
        t0 = time.monotonic()
        for a in others:            # all at once: no waiting between them
            a.start(wait=False)
        for a in others:
            a.wait_rpc(timeout=60)
        names = [a.node for a in self.agents.values()]
        self.assertEqual(len(names), n_agents)
        self.wait_serf("c01", {a.name: "alive" for a in self.agents.values()}, timeout=60)
        serf_s = time.monotonic() - t0

        def discovered():
            s = self.states()
            return all(s.get(n) == "Discovered" for n in names)
        self.wait(discovered, 90, "30 nodes Discovered", interval=0.1)
        discovered_s = time.monotonic() - t0

        # every agent's serf view complete, and every agent's vote on every
        # node in clusterm: the second can only follow the first, the lag
        # between them is the forwarders' and clusterm's share
        want = {a.name: "alive" for a in self.agents.values()}
        serf_all_s = full_s = None
        deadline = time.monotonic() + 120
        while serf_all_s is None or full_s is None:
            now = time.monotonic() - t0
            if serf_all_s is None and all(
                    {k: v[0] for k, v in a.members().items()} == want
                    for a in self.agents.values()):
                serf_all_s = now
            if full_s is None and all(len(self.cm.node(n)["votes"]) == n_agents
                                      for n in names):
                full_s = now
            if time.monotonic() > deadline:
                self.diagnose()
                self.fail("no full convergence after 120s: serf %s, votes %s"
                          % (serf_all_s, full_s))
            time.sleep(0.3)
        m = self.metrics()
        posts = sum(v for k, v in m.items() if k.startswith("clusterm_http_requests_total")
                    and '"200"' in k)
        log("30 agents, seconds after the 29 started: c01's serf view complete %.1f, all "
            "Discovered in clusterm %.1f, every agent's serf view complete %.1f, every "
            "agent's vote on every node %.1f; reports received %d (>= %d expected), "
            "duplicates %d, HTTP 200 replies %d"
            % (serf_s, discovered_s, serf_all_s, full_s,
                                     m["clusterm_reports_received_total"], n_agents * n_agents,
                                     m["clusterm_reports_duplicate_total"], posts))
        self.assertGreaterEqual(m["clusterm_reports_received_total"], n_agents * n_agents)
        self.assertEqual(m["clusterm_reports_duplicate_total"], 0)
        self.assertEqual(self.states(), self.expected("c01"))
        for n in names:
            self.assertEqual([e["new"] for e in self.state_events(n)], ["Discovered"], n)
        report_dir = os.environ.get("SYSTEM_REPORT_DIR")
        if not report_dir:
            return
        with open(os.path.join(report_dir, "convergence-30.txt"), "w") as f:
            f.write("agents %d\nseed_serf_view_s %.2f\nall_discovered_s %.2f\n"
                    "all_serf_views_s %.2f\nall_votes_s %.2f\nreports_received %d\n"
                    "duplicates %d\n"
                    % (n_agents, serf_s, discovered_s, serf_all_s, full_s,
                       m["clusterm_reports_received_total"],
                       m["clusterm_reports_duplicate_total"]))


if __name__ == "__main__":
    main()
