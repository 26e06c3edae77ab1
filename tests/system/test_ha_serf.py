"""System: 10 real serf agents reporting through serf-forwarder to 3 clusterm
instances on a 3-member etcd cluster (CONTRACT section 9). Every forwarder
lists the three instances' URLs, the leader's first. Three agents are
SIGKILLed and, right after, the clusterm leader: another instance leads
within lease_ttl_s + 2 s, the forwarders move to their next URL, the dead
agents' nodes end Disappeared (the grace timer runs on the new leader), the
seven others stay Discovered, both live instances agree and no forwarder
keeps anything in its spool. Figures go to stdout ("ha_serf: ..." lines).

Addresses: serf agents (gossip and RPC) on 127.0.0.160-169, etcd and
clusterm on 127.0.0.1; every TCP port from 36000-36999 (HA_PORTS)."""

import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# etcd_util reads HA_PORTS when imported: this file's range, whatever the caller set
os.environ["HA_PORTS"] = "36000-36999"
from sysutil import SystemCase, log, main, track, wait_until  # noqa: E402
import etcd_util  # noqa: E402
from etcd_util import EtcdCluster, Manager, have_etcd, pick_port, same_everywhere  # noqa: E402

etcd_util.PORT_RANGE = (36000, 36999)

N_AGENTS = 10
KILLED = (2, 5, 8)          # indexes of the agents SIGKILLed
AGENT_NET = "127.0.0.%d"
AGENT_BASE = 160            # agents on 127.0.0.160..169
TTL_S = 3
GRACE_S = 2
FAILOVER_BOUND_S = TTL_S + 2
SYNC_S = 3.0                # the contract's 1 s between instances, with room for a loaded machine
START_TRIES = 3
ADDR_IN_USE = "address already in use"


def listening_ports(host="0100007F"):
    """TCP ports in LISTEN on 127.0.0.1 (or on any address), from /proc/net/tcp."""
    out = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            addr, port = fields[1].split(":")
            if fields[3] == "0A" and addr in (host, "00000000"):
                out.add(int(port, 16))
    return out


def figure(text):
    print("ha_serf: " + text, flush=True)


@unittest.skipUnless(have_etcd(), "etcd is not installed")
class HASerf(SystemCase):
    def setUp(self):
        super().setUp()
        self.etcd = self.start_etcd()
        self.mgr = self.start_instances()

    # -- starting --------------------------------------------------------
    #
    # The ports of the range are also the kernel's ephemeral ports: a client
    # that connects to one before its server listens can be given that very
    # port as its source (a TCP self-connect), and the server then cannot
    # bind it. So nothing here connects before /proc/net/tcp shows the port
    # listening, and a server that lost its port anyway (to some other
    # process's connection) is started again on a new one.

    def start_etcd(self):
        for attempt in range(START_TRIES):
            tmp = os.path.join(self.tmp, "etcd%d" % attempt)
            os.makedirs(tmp, mode=0o700)
            etcd = EtcdCluster(3, tmp=tmp)
            self.addCleanup(etcd.cleanup)
            for m in etcd.members:
                track(m)
                m.start()
            try:
                self.wait_listening([(m, m.client_port) for m in etcd.members])
                etcd.wait_healthy()
                return etcd
            except AssertionError:
                lost = [m.name for m in etcd.members if ADDR_IN_USE in m.log().lower()]
                if not lost or attempt + 1 == START_TRIES:
                    raise
                log("etcd %s lost a port, again on new ports" % " ".join(lost))
                etcd.cleanup()
        raise AssertionError("unreachable")

    def start_instances(self):
        mgr = Manager(self.etcd.client_urls(), k=3, tmp=os.path.join(self.tmp, "cm"),
                      lease_ttl_s=TTL_S, monitor={"grace_s": GRACE_S})
        self.addCleanup(mgr.cleanup)
        for c in mgr.instances:
            track(c)
        for attempt in range(START_TRIES):
            for c in mgr.instances:
                if not c.running():
                    c.start(wait=False)
            try:
                self.wait_listening([(c, c.port) for c in mgr.instances])
                for c in mgr.instances:
                    c.wait_ready()
                return mgr
            except AssertionError:
                lost = [c for c in mgr.instances
                        if not c.running() and ADDR_IN_USE in c.log().lower()]
                if not lost or attempt + 1 == START_TRIES:
                    raise
                for c in lost:
                    log("clusterm %s lost port %d, again on a new one" % (c.id, c.port))
                    c.port = pick_port()
                    c.conf["manager"]["addr"] = "127.0.0.1:%d" % c.port
                    c.conf["manager"]["advertise_url"] = "http://127.0.0.1:%d" % c.port
        raise AssertionError("unreachable")

    def wait_listening(self, servers, timeout=20):
        """Until every (object with .proc, port) listens on 127.0.0.1:port,
        read from /proc/net/tcp (no connection made); fails at once when one
        of the processes exits."""
        def up():
            for obj, _ in servers:
                if obj.proc.poll() is not None:
                    raise AssertionError("%s exited with %d" % (getattr(obj, "name", None) or
                                                               obj.id, obj.proc.returncode))
            ports = listening_ports()
            return all(port in ports for _, port in servers)
        wait_until(up, timeout=timeout, interval=0.02, what="ports listening")

    # -- helpers ---------------------------------------------------------

    def live(self):
        return self.mgr.running()

    def add_ha_agent(self, i, urls, join):
        # gossip and RPC both on the agent's own address (never 127.0.0.1)
        ip = AGENT_NET % (AGENT_BASE + i)
        rpc = "%s:%d" % (ip, pick_port(ip))
        a = self.add_agent("h%d" % i, ip, join=join, urls=urls, start=False,
                           label="hnode%d" % i, serial="H%d" % i, port=pick_port(ip),
                           serf_extra={"rpc_addr": rpc})
        a.rpc = rpc
        a.start()
        return a

    def states_on(self, c):
        return {name: n["state"] for name, n in c.nodes().items()}

    def votes_on(self, c, node):
        """{reporter: (vote, counted)} of node on instance c."""
        n = c.node(node)
        if n is None:
            return {}
        return {v["reporter"]: (v["vote"], v["counted"]) for v in n.get("votes") or []}

    def wait(self, pred, timeout, what, interval=0.1):
        # no diagnostics here: the test prints them once when it fails
        return wait_until(pred, timeout=timeout, interval=interval, what=what)

    def diagnose(self):
        for m in self.etcd.members:
            try:
                health = m.running() and m.healthy()
            except OSError as e:
                health = e
            log("etcd %s running %s healthy %s" % (m.name, m.running(), health))
        for c in self.mgr.instances:
            if c.running():
                try:
                    st, body = c.healthz()
                    log("%s /healthz %s %s" % (c.id, st, json.dumps(body)))
                    for name, n in sorted(c.nodes().items()):
                        votes = ", ".join("%s:%s%s" % (r, v, "" if k else "(not counted)")
                                          for r, (v, k) in sorted(self.votes_on(c, name).items()))
                        log("%s: node %s %s votes [%s]" % (c.id, name, n["state"], votes))
                except Exception as e:  # noqa: BLE001 - diagnostics only
                    log("%s: cannot list nodes: %s" % (c.id, e))
            log("clusterm %s log (tail):\n%s" % (c.id, c.log()[-4000:]))
        for a in self.agents.values():
            if a.alive():
                try:
                    log("serf members on %s: %r" % (a.name, {k: v[0] for k, v in
                                                             a.members().items()}))
                    log("spool of %s: %r" % (a.name, a.spool_status()))
                except Exception as e:  # noqa: BLE001
                    log("serf members on %s: %s" % (a.name, e))
            lines = [ln for ln in a.log().splitlines()
                     if "serf-forwarder" in ln or "ERR" in ln or "WARN" in ln]
            log("agent %s log (forwarder/errors, tail):\n%s" % (a.name, "\n".join(lines[-15:])))

    # -- the test --------------------------------------------------------

    def test_agents_and_leader_killed(self):
        try:
            self.agents_and_leader_killed()
        except AssertionError:
            self.diagnose()
            raise

    def agents_and_leader_killed(self):
        leader = self.mgr.wait_leader()
        others = [c for c in self.mgr.instances if c is not leader]
        urls = [leader.url()] + [c.url() for c in others]
        log("leader %s; forwarders' URLs %s" % (leader.id, " ".join(urls)))

        agents = []
        for i in range(N_AGENTS):
            # each joins every agent before it (a TCP state exchange with each)
            agents.append(self.add_ha_agent(i, urls, [a.addr for a in agents]))
        t_up = time.monotonic()

        def all_in():
            for c in self.mgr.instances:
                s = self.states_on(c)
                if any(s.get(a.node) != "Discovered" for a in agents):
                    return False
                for a in agents:
                    v = self.votes_on(c, a.node)
                    if len(v) != N_AGENTS or any(x[0] != "alive" for x in v.values()):
                        return False
            return True
        self.wait(all_in, 60, "every node Discovered with %d alive votes on every instance"
                  % N_AGENTS, interval=0.2)
        figure("%d nodes Discovered with %d votes on 3 instances %.1f s after the last agent "
               "started" % (N_AGENTS, N_AGENTS, time.monotonic() - t_up))

        victims = [agents[i] for i in KILLED]
        alive = [a for a in agents if a not in victims]
        t_kill = time.monotonic()
        for a in victims:
            a.kill()
        leader.kill9()
        t_lkill = time.monotonic()
        log("SIGKILLed %s and the leader %s" % (" ".join(a.name for a in victims), leader.id))

        new = self.mgr.wait_leader(timeout=FAILOVER_BOUND_S + 5, exclude=(leader.id,))
        took = time.monotonic() - t_lkill
        figure("kill -9 of the leader %s -> %s leads after %.3f s (bound %d s)"
               % (leader.id, new.id, took, FAILOVER_BOUND_S))
        self.assertLessEqual(took, FAILOVER_BOUND_S)
        live = self.live()
        self.assertEqual(len(live), 2)

        # until both live instances show the victims Disappeared with the
        # gone vote of every live agent; meanwhile the seven stay Discovered
        first_gone = {}

        def settled():
            done = True
            for c in live:
                s = self.states_on(c)
                now = time.monotonic() - t_kill
                for a in alive:
                    if s.get(a.node) != "Discovered":
                        self.fail("%s is %s on %s %.1f s after the kills"
                                  % (a.node, s.get(a.node), c.id, now))
                for a in victims:
                    if s.get(a.node) != "Disappeared":
                        done = False
                        continue
                    first_gone.setdefault((c.id, a.node), now)
                    v = self.votes_on(c, a.node)
                    if any(v.get(o.name) != ("gone", True) for o in alive):
                        done = False
            return done
        self.wait(settled, 60, "%s Disappeared with %d gone votes on %s"
                  % (" ".join(a.node for a in victims), len(alive),
                     " and ".join(c.id for c in live)), interval=0.1)
        figure("victims Disappeared %.1f-%.1f s after the kills (grace %d s; serf detection "
               "included)" % (min(first_gone.values()), max(first_gone.values()), GRACE_S))

        # the same node list on both live instances
        nodes, sync = same_everywhere(live, lambda c: c.nodes(), timeout=SYNC_S)
        figure("both live instances show the same %d nodes (%.3f s)" % (len(nodes), sync))
        want = {a.node: "Discovered" for a in alive}
        want.update({a.node: "Disappeared" for a in victims})
        self.assertEqual({name: n["state"] for name, n in nodes.items()}, want)
        # clusterm agrees with serf on every live agent
        for a in alive:
            m = a.members()
            self.assertEqual({x.node: "Disappeared" if m[x.name][0] in ("failed", "left")
                              else "Discovered" for x in agents}, want, a.name)

        # the forwarders delivered everything: nothing spooled
        def spools_empty():
            return all(a.spool_status().get("depth") == "0" for a in alive)
        self.wait(spools_empty, 10, "every live agent's spool empty")

        # votes on a surviving node: one alive vote from every live agent,
        # the dead agents' votes left but not counted; of the live ones all
        # count but the node's own (CONTRACT 3.2 rule 2: a node's vote about
        # itself counts only while no other reporter has voted on it)
        for c in live:
            for a in alive:
                v = self.votes_on(c, a.node)
                live_votes = [r for r in v if r in {o.name for o in alive}]
                self.assertEqual(len(live_votes), len(alive), (c.id, a.node, v))
                for o in alive:
                    self.assertEqual(v.get(o.name), ("alive", o is not a), (c.id, a.node, v))
                for x in victims:
                    self.assertEqual(v.get(x.name), ("alive", False), (c.id, a.node, v))
                self.assertEqual(sum(1 for _, k in v.values() if k), len(alive) - 1,
                                 (c.id, a.node, v))

        # the forwarders' first URL was the leader's: every join went there,
        # every report of the deaths to the next URL once it was dead
        for a in alive:
            runs = self.forwarder_runs(a)
            joins = [u for ev, u in runs if ev == "member-join"]
            fails = [u for ev, u in runs if ev == "member-failed"]
            self.assertTrue(joins and fails, (a.name, runs))
            self.assertEqual(set(joins), {urls[0]}, (a.name, runs))
            self.assertEqual(set(fails), {urls[1]}, (a.name, runs))
        figure("every live forwarder delivered its joins to %s (the leader) and its deaths "
               "to %s (its next URL)" % (leader.id, others[0].id))
        figure("whole test %.1f s" % self.elapsed())

    def forwarder_runs(self, agent):
        """[(serf event, URL delivered to or the outcome)] of agent's
        forwarder runs, from the one line each run logs (serf keeps it)."""
        out = []
        for ln in agent.log().splitlines():
            m = re.search(r"serf-forwarder \w+: (member-\w+) from \S+: .* -> (.*)$", ln)
            if not m:
                continue
            d = re.match(r"delivered to (\S+?)/monitor/", m.group(2))
            out.append((m.group(1), d.group(1) if d else m.group(2)))
        return out


if __name__ == "__main__":
    main()
