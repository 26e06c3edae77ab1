"""Several clusterm instances on one etcd cluster (CONTRACT section 9), black
box: 3 etcd members and 3 clusterm instances on loopback, the real
ansible-playbook (local connection) running playbooks written here.
Votes posted to different instances add up; a job asked of a follower runs
once, on the leader; the leader's death or loss of etcd hands over within
lease_ttl_s + 2 s and its job ends Errored; without an etcd quorum POSTs
get 503 and serf-forwarder spools; a restarted instance catches up; a
paused leader's late success is fenced out.
Measured figures are printed on stdout ("ha: ..." lines)."""

import json
import os
import shutil
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import FORWARDER, report, reporter_headers, wait_until  # noqa: E402
from fwd_util import member_line, run_fwd, status  # noqa: E402
from relay_util import Relay  # noqa: E402
from etcd_util import (EtcdCluster, Manager, group_members, have_etcd,  # noqa: E402
                       proc_alive, same_everywhere)

TTL_S = 3
FAILOVER_BOUND_S = TTL_S + 2
JOB_WAIT_S = 120
SYNC_S = 1.0
# Without quorum a POST is answered 503 within this (the forwarder's default -t is 5 s).
POST_BOUND_S = 5.0

# The configure playbook appends one line per run: the node, the playbook's
# process group (the ansible-playbook that clusterm started) and that
# process's parent (the clusterm that ran it).
SITE = """- hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: append a line per run
      shell: >
        pg=$(cut -d' ' -f5 /proc/$$/stat);
        echo "{{ node_name }} $pg $(cut -d' ' -f4 /proc/$pg/stat)" >> {{ marker_dir }}/runs
"""
# The slow one writes its pid (the sleep's: exec) and its group, then sleeps.
SLOW = """- hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: write the pid, then sleep
      shell: >
        pg=$(cut -d' ' -f5 /proc/$$/stat);
        echo "$$ $pg $(cut -d' ' -f4 /proc/$pg/stat)" > {{ marker_dir }}/{{ node_name }}.pid.tmp;
        mv {{ marker_dir }}/{{ node_name }}.pid.tmp {{ marker_dir }}/{{ node_name }}.pid;
        exec sleep {{ sleep_s | default(60) }}
"""
CLEANUP = """- hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: append a line per cleanup
      shell: echo "{{ node_name }}" >> {{ marker_dir }}/cleanups
"""


def have_ansible():
    return shutil.which("ansible-playbook") is not None


def figure(text):
    print("ha: " + text, flush=True)


def read_pid_line(path):
    """The fields of a pid file the slow playbook wrote, once complete."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    return [int(x) for x in text.split()] if text.endswith("\n") else None


def node_view(c):
    """What must be equal on every instance: the node list."""
    return c.nodes()


@unittest.skipUnless(have_etcd(), "etcd is not installed")
@unittest.skipUnless(have_ansible(), "ansible-playbook is not installed")
class HA(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-ha-test-")
        os.chmod(self.tmp, 0o700)
        self.markers = os.path.join(self.tmp, "markers")
        self.books = os.path.join(self.tmp, "playbooks")
        os.makedirs(self.markers)
        os.makedirs(self.books)
        for name, text in (("site.yml", SITE), ("slow.yml", SLOW), ("cleanup.yml", CLEANUP)):
            with open(os.path.join(self.books, name), "w") as f:
                f.write(text)
        self.etcd = None
        self.cm = None
        self.relays = []
        self.groups = []     # process groups of playbooks to end in tearDown
        self.etcd = EtcdCluster(3, tmp=os.path.join(self.tmp, "etcd"))
        os.makedirs(self.etcd.tmp, mode=0o700)
        self.etcd.start()

    def tearDown(self):
        res = getattr(self._outcome, "result", None)
        failed = res is not None and any(t is self for t, _ in res.errors + res.failures)
        if self.cm is not None:
            if failed:
                sys.stderr.write(self.cm.logs() + "\n")
            self.cm.cleanup()
        for r in self.relays:
            r.close()
        for pg in self.groups:
            for pid in group_members(pg):
                try:
                    os.kill(pid, 9)
                except OSError:
                    pass
        if self.etcd is not None:
            self.etcd.cleanup()
        if os.environ.get("HA_KEEP"):     # the logs and data dirs, to look at
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def up(self, configure="site.yml", endpoints=None, first=None, max_jobs=4,
           snapshot_records=None):
        """Starts cm1..cm3; with first, that one alone first, until it leads."""
        self.cm = Manager(self.etcd.client_urls(), 3, tmp=os.path.join(self.tmp, "cm"),
                          lease_ttl_s=TTL_S, endpoints=endpoints,
                          manager={"max_jobs": max_jobs},
                          ansible={"playbook_location": self.books,
                                   "configure_playbook": configure,
                                   "cleanup_playbook": "cleanup.yml",
                                   "extra_variables": json.dumps({"marker_dir": self.markers}),
                                   "timeout_s": 300})
        if snapshot_records is not None:
            for c in self.cm.instances:
                c.conf["store"]["etcd"]["snapshot_records"] = snapshot_records
        if first is not None:
            self.cm[first].start()
            self.assertIs(self.cm.wait_leader(), self.cm[first])
            for c in self.cm.instances:
                if c is not self.cm[first]:
                    c.start()
        else:
            self.cm.start()
        return self.cm.wait_leader()

    # -- helpers

    def post_ok(self, c, path, body, headers=None):
        st, reply, _ = c.post(path, body, headers=headers)
        self.assertEqual(st, 200, "%s %s: %r" % (c.id, path, reply))
        return reply

    def discover(self, c, name, addr):
        self.post_ok(c, "/monitor/event/discovered", [report(name, addr)])

    def follower(self, leader):
        return next(c for c in self.cm.running() if c is not leader)

    def wait_job(self, c, job_id, timeout=JOB_WAIT_S):
        def ended():
            j = c.job(job_id)
            return j if j and j["status"] in ("Complete", "Errored") else None
        return wait_until(ended, timeout=timeout, interval=0.1, what="job %d on %s" % (job_id, c.id))

    def runs(self):
        try:
            with open(os.path.join(self.markers, "runs")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def cleanups(self):
        try:
            with open(os.path.join(self.markers, "cleanups")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def wait_pidfile(self, name):
        got = wait_until(lambda: read_pid_line(os.path.join(self.markers, name + ".pid")),
                         timeout=JOB_WAIT_S, interval=0.1, what="slow playbook start")
        self.groups.append(got[1])
        return got

    def same_nodes(self, instances=None, timeout=SYNC_S):
        return same_everywhere(instances or self.cm.running(), node_view, timeout=timeout)

    # -- a

    def test_a_votes_add_up_across_instances(self):
        self.up()
        names = ["r1", "r2", "r3", "x"]
        members = [report(n, "127.0.5.%d" % (i + 1), Node_Name=n) for i, n in enumerate(names)]
        for i, rep in enumerate(("r1", "r2", "r3")):
            self.post_ok(self.cm[i], "/monitor/event/discovered", members,
                         headers=reporter_headers(rep, 1))
        t0 = time.monotonic()
        nodes, took = self.same_nodes()
        figure("a: 3 instances equal %.3f s after the last 200" % (time.monotonic() - t0))
        self.assertEqual(sorted(nodes), sorted(names))
        for c in self.cm.instances:
            votes = {v["reporter"]: v for v in c.node("x")["votes"]}
            self.assertEqual(sorted(votes), ["r1", "r2", "r3"], c.id)
            self.assertTrue(all(v["vote"] == "alive" for v in votes.values()), votes)
            self.assertEqual(c.node("x")["state"], "Discovered")
        # A replay through another instance is a duplicate there too.
        st, body, _ = self.cm[2].post("/monitor/event/discovered", members,
                                      headers=reporter_headers("r1", 1))
        self.assertEqual((st, body["duplicates"]), (200, len(members)))
        # Two gone-votes of three, through two instances: Disappeared after
        # grace_s (the leader's timer), the same everywhere.
        gone = [report("x", "127.0.5.4", Node_Name="x")]
        self.post_ok(self.cm[1], "/monitor/event/disappeared", gone, headers=reporter_headers("r1", 2))
        self.post_ok(self.cm[2], "/monitor/event/disappeared", gone, headers=reporter_headers("r2", 2))
        t0 = time.monotonic()
        for c in self.cm.instances:
            wait_until(lambda: c.node("x")["state"] == "Disappeared", timeout=1 + 2 * SYNC_S,
                       what="x Disappeared on " + c.id)
        figure("a: grace 1 s expired everywhere after %.3f s" % (time.monotonic() - t0))
        self.same_nodes()
        for c in self.cm.instances:
            votes = {v["reporter"]: v["vote"] for v in c.node("x")["votes"]}
            self.assertEqual(votes, {"r1": "gone", "r2": "gone", "r3": "alive"}, c.id)

    # -- b

    def test_b_job_asked_of_a_follower_runs_once_on_the_leader(self):
        leader = self.up()
        f = self.follower(leader)
        self.discover(f, "m1", "127.0.6.1")
        wait_until(lambda: all(c.node("m1") for c in self.cm.instances), timeout=SYNC_S,
                   what="m1 everywhere")
        r = self.post_ok(f, "/commission/nodes", {"nodes": ["m1"], "host_group": "service-master"})
        job = r["job_id"]
        j = self.wait_job(f, job)
        self.assertEqual(j["status"], "Complete", j)
        runs = self.runs()
        self.assertEqual(len(runs), 1, runs)
        name, pgid, ppid = runs[0].split()
        self.assertEqual(name, "m1")
        self.assertEqual(int(ppid), leader.proc.pid, "the playbook's parent is not the leader")
        for c in self.cm.instances:
            jobs = [x for x in c.jobs() if x["id"] == job]
            self.assertEqual(len(jobs), 1, (c.id, c.jobs()))
            self.assertEqual(len(c.jobs()), 1, (c.id, c.jobs()))
            wait_until(lambda: c.node("m1")["status"] == "Allocated", timeout=SYNC_S,
                       what="m1 Allocated on " + c.id)
            st, log, _ = c.get("/api/v1/jobs/%d/log" % job)
            self.assertEqual(st, 200, (c.id, log))
            self.assertIn("PLAY RECAP", log, c.id)
        # The playbook ran once: nothing ran it again meanwhile.
        self.assertEqual(len(self.runs()), 1)

    # -- c

    def test_c_leader_killed_during_a_job(self):
        leader = self.up(configure="slow.yml")
        f = self.follower(leader)
        self.discover(f, "m1", "127.0.6.1")
        r = self.post_ok(f, "/commission/nodes", {"nodes": ["m1"], "host_group": "service-master"})
        job = r["job_id"]
        sleep_pid, pgid, ppid = self.wait_pidfile("m1")
        self.assertEqual(ppid, leader.proc.pid)
        wait_until(lambda: f.job(job)["status"] == "Running", timeout=SYNC_S, what="Running")
        t0 = time.monotonic()
        leader.kill9()
        new = self.cm.wait_leader(timeout=FAILOVER_BOUND_S + 5, exclude=(leader.id,))
        took = time.monotonic() - t0
        figure("c: kill -9 of the leader -> %s leads after %.3f s (bound %d s)" % (
            new.id, took, FAILOVER_BOUND_S))
        self.assertLessEqual(took, FAILOVER_BOUND_S)
        j = self.wait_job(new, job, timeout=FAILOVER_BOUND_S)
        figure("c: the job Errored %.3f s after the kill: %r" % (time.monotonic() - t0, j.get("error")))
        self.assertEqual(j["status"], "Errored", j)
        for c in self.cm.running():
            wait_until(lambda: c.node("m1")["status"] == "Unallocated", timeout=SYNC_S,
                       what="m1 Unallocated on " + c.id)
            self.assertEqual(c.job(job)["status"], "Errored")
        # The old leader's playbook dies with it (its parent-death signal).
        wait_until(lambda: not group_members(pgid), timeout=10, what="old playbook group gone")
        # The killed instance comes back as a follower and agrees.
        leader.start()
        wait_until(lambda: leader.role() == "follower", timeout=FAILOVER_BOUND_S,
                   what="restarted instance a follower")
        self.same_nodes(timeout=FAILOVER_BOUND_S)
        self.assertEqual(leader.job(job)["status"], "Errored")

    # -- d

    def test_d_etcd_quorum_loss_and_the_forwarder_spool(self):
        leader = self.up()
        acked = []
        seq = [0]

        def post_round(n, tag):
            got = []
            for i in range(n):
                c = self.cm[i % 3]
                seq[0] += 1
                name = "%s-%d" % (tag, i)
                st, body, _ = c.post("/monitor/event/discovered",
                                     [report(name, "127.0.7.1", Node_Name=name)],
                                     headers=reporter_headers("loadgen", seq[0]), timeout=30)
                got.append((c.id, st, body))
                if st == 200:
                    acked.append(name)
            return got

        for cid, st, body in post_round(9, "before"):
            self.assertEqual(st, 200, (cid, body))
        # One member down (not the raft leader): still a quorum.
        el = self.etcd.etcd_leader()
        one = next(i for i in range(3) if i != el)
        self.etcd.kill9(one)
        for cid, st, body in post_round(9, "one-down"):
            self.assertEqual(st, 200, (cid, body))
        self.same_nodes()
        # A second one: no quorum.
        self.etcd.kill9(el)
        t0 = time.monotonic()
        st, body, _ = self.cm[1].post("/monitor/event/discovered",
                                      [report("nq-0", "127.0.7.1", Node_Name="nq-0")],
                                      headers=reporter_headers("loadgen", seq[0] + 1), timeout=60)
        took = time.monotonic() - t0
        figure("d: without quorum a monitor POST got %s after %.3f s: %r" % (st, took, body))
        self.assertEqual(st, 503, body)
        self.assertIn("etcd", body.get("error", ""))
        self.assertLess(took, POST_BOUND_S)
        for c in self.cm.instances:
            t0 = time.monotonic()
            st, body, _ = c.post("/commission/nodes", {"nodes": ["before-0"],
                                                       "host_group": "service-master"},
                                 timeout=60)
            self.assertEqual(st, 503, (c.id, body))
            figure("d: without quorum a lifecycle POST to %s got 503 after %.3f s" % (
                c.id, time.monotonic() - t0))
            st, nodes, _ = c.get("/api/v1/nodes", timeout=5)
            self.assertEqual(st, 200, c.id)
            have = {n["name"] for n in nodes["nodes"]}
            self.assertEqual([n for n in acked if n not in have], [], c.id)
        for c in self.cm.instances:
            st, hz = wait_until(lambda: c.healthz() if c.healthz()[0] == 503 else None,
                                timeout=TTL_S + 5, what="/healthz 503 on " + c.id)
            self.assertTrue(hz.get("reason"), hz)
            figure("d: %s /healthz 503: %s" % (c.id, hz.get("reason")))
        # serf-forwarder with the three URLs spools.
        spool = os.path.join(self.tmp, "spool")
        args = ["-s", spool, "-t", "30"]
        for u in self.cm.urls():
            args += ["-u", u]
        fwd_members = [member_line("fw%d" % i, "127.0.8.%d" % (i + 1)) for i in range(3)]
        t0 = time.monotonic()
        p = run_fwd(args, event="member-join", stdin="".join(fwd_members), self_name="fw0",
                    timeout=60)
        figure("d: serf-forwarder spooled after %.3f s" % (time.monotonic() - t0))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("spooled", p.stderr)
        self.assertEqual(status(spool)["depth"], "1")
        # Quorum back.
        t0 = time.monotonic()
        self.etcd.restart(el, wait=False)
        self.etcd.restart(one, wait=False)
        self.etcd.wait_healthy([0, 1, 2])
        for c in self.cm.instances:
            wait_until(lambda: c.healthz()[0] == 200, timeout=TTL_S + 10,
                       what="/healthz 200 on " + c.id)
        new = self.cm.wait_leader(timeout=FAILOVER_BOUND_S)
        figure("d: etcd restarted -> all instances healthy, %s leads, after %.3f s" % (
            new.id, time.monotonic() - t0))
        p = run_fwd(args + ["flush"], timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(status(spool)["depth"], "0")
        nodes, _ = self.same_nodes()
        self.assertEqual([n for n in acked if n not in nodes], [])
        for i in range(3):
            self.assertEqual(nodes["fw%d" % i]["state"], "Discovered")
        self.assertEqual(self.cm[0].node("fw1")["votes"][0]["reporter"], "fw0")
        self.assertEqual(len(acked), 18)
        # POSTs work again.
        for cid, st, body in post_round(3, "after"):
            self.assertEqual(st, 200, (cid, body))

    # -- e

    def test_e_leader_cut_off_from_etcd_stops_acting(self):
        self.relays = [Relay(m.client_port) for m in self.etcd.members]
        cut = "cm1"
        leader = self.up(configure="slow.yml", first=0,
                         endpoints={cut: [r.url() for r in self.relays]})
        self.assertEqual(leader.id, cut)
        f = self.cm[1]
        self.discover(f, "m1", "127.0.6.1")
        r = self.post_ok(f, "/commission/nodes", {"nodes": ["m1"], "host_group": "service-master"})
        job = r["job_id"]
        sleep_pid, pgid, ppid = self.wait_pidfile("m1")
        self.assertEqual(ppid, leader.proc.pid)
        wait_until(lambda: f.job(job)["status"] == "Running", timeout=SYNC_S, what="Running")
        gone_at = []

        def watch_group():
            while time.monotonic() - t0 < 3 * FAILOVER_BOUND_S:
                if not group_members(pgid):
                    gone_at.append(time.monotonic() - t0)
                    return
                time.sleep(0.02)
        t0 = time.monotonic()
        for r in self.relays:
            r.close()
        watcher = threading.Thread(target=watch_group, daemon=True)
        watcher.start()
        # The cut-off instance says so: 503 at once, follower once its lease
        # may have expired (it cannot tell before).
        st, hz = wait_until(lambda: leader.healthz() if leader.healthz()[0] == 503 else None,
                            timeout=FAILOVER_BOUND_S, what="/healthz 503 on the cut-off leader")
        figure("e: the cut-off leader said 503 (role %s) after %.3f s: %s" % (
            hz.get("role"), time.monotonic() - t0, hz.get("reason")))

        def deposed():
            st, hz = leader.healthz()
            return hz if st == 503 and hz.get("role") == "follower" else None
        hz = wait_until(deposed, timeout=FAILOVER_BOUND_S, what="the cut-off leader a follower")
        self.assertTrue(hz.get("reason"), hz)
        figure("e: the cut-off leader said follower/503 after %.3f s" % (time.monotonic() - t0))
        others = [c for c in self.cm.instances if c is not leader]
        new = self.cm.wait_leader(timeout=FAILOVER_BOUND_S + 5, among=others)
        took = time.monotonic() - t0
        figure("e: %s leads %.3f s after the cut (bound %d s)" % (new.id, took, FAILOVER_BOUND_S))
        self.assertLessEqual(took, FAILOVER_BOUND_S)
        # Its playbook is stopped (it knows its lease is gone).
        watcher.join(3 * FAILOVER_BOUND_S)
        self.assertTrue(gone_at, "the cut-off leader's playbook group still runs")
        figure("e: its playbook was gone %.3f s after the cut" % gone_at[0])
        self.assertLessEqual(gone_at[0], FAILOVER_BOUND_S)
        self.assertFalse(proc_alive(sleep_pid))
        j = self.wait_job(new, job, timeout=FAILOVER_BOUND_S)
        self.assertEqual(j["status"], "Errored", j)
        for c in others:
            wait_until(lambda: c.node("m1")["status"] == "Unallocated", timeout=SYNC_S,
                       what="m1 Unallocated on " + c.id)
        before = same_everywhere(others, lambda c: (c.job(job), c.node("m1")["status"]))[0]
        self.assertEqual(self.cleanups(), [])
        # Reconnected, it follows and writes nothing of its old term: the
        # job and the node stay as the new leader left them.
        for r in self.relays:
            r.reopen()
        wait_until(lambda: leader.healthz()[0] == 200 and leader.role() == "follower",
                   timeout=TTL_S + 10, what="the old leader back as a follower")
        self.assertEqual(self.cm.wait_leader(), new)
        deadline = time.monotonic() + 2 * TTL_S
        while time.monotonic() < deadline:   # a window for a stale write to show
            self.assertEqual(same_everywhere(self.cm.instances,
                                             lambda c: (c.job(job), c.node("m1")["status"]),
                                             timeout=SYNC_S)[0], before)
            time.sleep(0.25)

    # -- g

    # A leader stopped (SIGSTOP) while its playbook goes on and succeeds
    # before another instance takes over: on SIGCONT it finds itself
    # deposed, and the success it would record (Complete, Allocated) is
    # fenced out; it starts no further playbook.
    def test_g_paused_leader_resumes_fenced(self):
        leader = self.up(configure="slow.yml")
        f = self.follower(leader)
        self.discover(f, "m1", "127.0.6.1")
        r = self.post_ok(f, "/commission/nodes", {"nodes": ["m1"], "host_group": "service-master",
                                                  "extra_vars": json.dumps({"sleep_s": 1})})
        job = r["job_id"]
        sleep_pid, pgid, ppid = self.wait_pidfile("m1")
        leader.sigstop()
        t0 = time.monotonic()
        try:
            self.assertEqual(ppid, leader.proc.pid)
            self.assertEqual(f.job(job)["status"], "Running")
            # The playbook ends by itself, successfully, its clusterm stopped.
            wait_until(lambda: not group_members(pgid), timeout=FAILOVER_BOUND_S,
                       what="the paused leader's playbook to end")
            figure("g: the paused leader's playbook ended %.3f s after SIGSTOP" % (
                time.monotonic() - t0))
            new = self.cm.wait_leader(timeout=FAILOVER_BOUND_S + 5, exclude=(leader.id,))
            took = time.monotonic() - t0
            figure("g: SIGSTOP of the leader -> %s leads after %.3f s" % (new.id, took))
            self.assertLessEqual(took, FAILOVER_BOUND_S)
            j = self.wait_job(new, job, timeout=FAILOVER_BOUND_S)
            self.assertEqual(j["status"], "Errored", j)
            others = [c for c in self.cm.instances if c is not leader]
            before = same_everywhere(others, lambda c: (c.job(job), c.node("m1")["status"]))[0]
            self.assertEqual(before[1], "Unallocated")
        finally:
            leader.sigcont()
            t_cont = time.monotonic()
        wait_until(lambda: leader.healthz()[0] == 200 and leader.role() == "follower",
                   timeout=TTL_S + 10, what="the resumed leader a follower")
        figure("g: the resumed leader was a follower %.3f s after SIGCONT" % (
            time.monotonic() - t_cont))
        deadline = time.monotonic() + 2 * TTL_S
        while time.monotonic() < deadline:   # a window for a stale write to show
            self.assertEqual(same_everywhere(self.cm.instances,
                                             lambda c: (c.job(job), c.node("m1")["status"]),
                                             timeout=SYNC_S)[0], before)
            time.sleep(0.25)
        self.assertEqual(self.cleanups(), [])

    # -- f

    def test_f_restarted_instance_catches_up(self):
        leader = self.up()
        for i in range(20):
            self.post_ok(self.cm[i % 3], "/monitor/event/discovered",
                         [report("f-%d" % i, "127.0.9.1")])
        self.same_nodes()
        victim = self.follower(leader)
        victim.kill9()
        for i in range(20, 40):
            self.post_ok(leader, "/monitor/event/discovered", [report("f-%d" % i, "127.0.9.1")])
        # Restart with the same state dir once the others no longer list it.
        self.wait_gone(victim)
        t0 = time.monotonic()
        victim.start()
        nodes, _ = self.same_nodes(timeout=5)
        figure("f: restarted follower (same state dir) caught up %.3f s after its start" % (
            time.monotonic() - t0))
        self.assertEqual(len(nodes), 40)
        # The leader, with its state dir wiped.
        leader.kill9()
        new = self.cm.wait_leader(timeout=FAILOVER_BOUND_S + 5, exclude=(leader.id,))
        for i in range(40, 60):
            self.post_ok(new, "/monitor/event/discovered", [report("f-%d" % i, "127.0.9.1")])
        shutil.rmtree(leader.state_dir)
        self.wait_gone(leader)
        t0 = time.monotonic()
        leader.start()
        nodes, _ = self.same_nodes(timeout=5)
        figure("f: restarted old leader (wiped state dir) caught up %.3f s after its start" % (
            time.monotonic() - t0))
        self.assertEqual(len(nodes), 60)
        self.assertEqual(leader.role(), "follower")

    # -- h

    def test_h_follower_behind_a_compaction_reloads(self):
        """A follower cut off from etcd while the leader snapshots and
        compacts the log past it: when it can reach etcd again, its watch
        finds the log compacted; it reloads from the snapshot, showing the
        old state meanwhile, and ends with the same nodes as the others."""
        self.relays = [Relay(m.client_port) for m in self.etcd.members]
        cut = "cm3"
        leader = self.up(first=0, endpoints={cut: [r.url() for r in self.relays]},
                         snapshot_records=100)
        f = next(c for c in self.cm.instances if c.id == cut)
        for i in range(10):
            self.discover(leader, "h-%d" % i, "127.0.7.1")
        self.same_nodes()
        for r in self.relays:
            r.close()
        # 150 operations: past snapshot_records, so the leader snapshots,
        # deletes the log keys behind it and compacts.
        for i in range(10, 160):
            self.discover(leader, "h-%d" % i, "127.0.7.1")

        def compacted():
            with open(leader.log_path, errors="replace") as fh:
                return "snapshot written" in fh.read()
        wait_until(compacted, timeout=30, interval=0.2, what="a snapshot by the leader")
        # Cut off, it still answers reads from the last state it knew.
        self.assertEqual(len(f.nodes()), 10)
        t0 = time.monotonic()
        for r in self.relays:
            r.reopen()
        nodes, _ = self.same_nodes(timeout=20)
        figure("h: the cut-off follower reloaded and agreed %.3f s after etcd came back" % (
            time.monotonic() - t0))
        self.assertEqual(len(nodes), 160)
        with open(f.log_path, errors="replace") as fh:
            log = fh.read()
        self.assertIn("reloading the state from the snapshot", log)
        self.assertIn("the state is reloaded", log)
        # It goes on following: a later report shows there too.
        self.discover(leader, "h-last", "127.0.7.1")
        nodes, _ = self.same_nodes()
        self.assertEqual(len(nodes), 161)

    def wait_gone(self, c):
        """Until the running instances no longer list c (its lease expired)."""
        def gone():
            for o in self.cm.running():
                st, body, _ = o.get("/api/v1/cluster")
                if st != 200 or any(i["id"] == c.id for i in body["instances"]):
                    return False
            return True
        wait_until(gone, timeout=TTL_S + 5, interval=0.1, what="%s's lease gone" % c.id)


if __name__ == "__main__":
    if not os.path.exists(FORWARDER):
        sys.exit("missing " + FORWARDER)
    unittest.main(verbosity=2)
