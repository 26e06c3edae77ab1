"""System: observers (monitor.observers K = 2) in a 6-agent serf cluster on
loopback, with the tick loops running: every node Discovered and judged by
its observers only, each forwarder reporting only on itself and its
subjects; a killed agent (exactly that node Disappeared), a graceful
leave, and a rejoin."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sysutil import SystemCase, log, main  # noqa: E402

N = 6
K = 2


class Observers(SystemCase):
    def cluster(self):
        self.start_clusterm(grace_s=2, monitor={"observers": K})
        agents = []
        for i in range(1, N + 1):
            agents.append(self.add_agent("o%d" % i, "127.0.0.%d" % (150 + i),
                                         join=[a.addr for a in agents],
                                         label="onode%d" % i, serial="S%d" % i))
        self.wait_states({a.node: "Discovered" for a in agents}, 60)
        self.wait_judged(agents)
        return agents

    def wait_judged(self, agents):
        """Until every node's counted votes are its observers' (the ticks
        carry each node's assignment, the forwarders report their subjects)."""
        def judged():
            for a in agents:
                n = self.cm.node(a.node)
                counted = {v["reporter"] for v in n["votes"] if v["counted"] and not v["self"]}
                want = {self.agent_of(o).name for o in n["observers"]}
                if not n["observers"] or counted != want:
                    return False
            return True
        self.wait(judged, 60, "every node judged by its observers")

    def agent_of(self, node):
        return next(a for a in self.agents.values() if a.node == node)

    def assert_only_subjects(self, agents):
        """Each forwarder holds the node's current subjects (K at most): a
        changed assignment reaches it within a tick or two."""
        def held():
            for a in agents:
                with open(os.path.join(a.spool, "observe")) as f:
                    ob = json.load(f)
                self.assertLessEqual(len(ob["subjects"]), K, ob)
                n = self.cm.node(a.node)
                if sorted(ob["subjects"]) != sorted(self.agent_of(s).name
                                                    for s in n["subjects"]):
                    return False
            return True
        self.wait(held, 20, "every forwarder holding its node's subjects")

    def test_kill_leave_rejoin(self):
        agents = self.cluster()
        self.assert_only_subjects(agents)
        log("observers: %s" % {a.node: self.cm.node(a.node)["observers"] for a in agents})

        victim, others = agents[2], [a for a in agents if a is not agents[2]]
        victim.kill()
        took = self.wait_states(dict({a.node: "Discovered" for a in others},
                                     **{victim.node: "Disappeared"}), 60,
                                "the killed %s Disappeared" % victim.node)
        log("kill %s: Disappeared after %.1fs" % (victim.name, took))
        s = self.states()
        self.assertEqual([n for n, st in s.items() if st == "Disappeared"], [victim.node])
        self.wait_judged(others)

        leaver = others[0]
        leaver.leave()
        rest = others[1:]
        self.wait_states(dict({a.node: "Discovered" for a in rest},
                              **{leaver.node: "Disappeared", victim.node: "Disappeared"}), 60,
                         "the leaving %s Disappeared" % leaver.node)
        self.wait_judged(rest)

        victim.start()
        self.wait_states(dict({a.node: "Discovered" for a in rest + [victim]},
                              **{leaver.node: "Disappeared"}), 90,
                         "the restarted %s Discovered again" % victim.node)
        self.wait_judged(rest + [victim])
        self.assert_only_subjects(rest + [victim])


if __name__ == "__main__":
    main()
