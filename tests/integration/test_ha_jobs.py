"""Jobs under the faults etcd clusters really have (CONTRACT section 9, its
last bullets), black box: 3 etcd members, 2 or 3 clusterm instances, the
real ansible-playbook (local connection) behind a wrapper that records
every playbook start (monotonic time, pid, the clusterm that started it).

a: a leader stopped (SIGSTOP) while a failing step runs, resumed after the
   takeover: its runner starts nothing (no failure path, no queued job).
b: a leader whose etcd links are black-holed: its playbook is ended at its
   lease deadline, not when its blocked calls return.
c: a job end that etcd did not take (the leader's link cut around the end
   of its playbook, the lease long enough to stay leader): the job is
   terminal within reconcile_s + 5 s of etcd's return.
d: an ambiguous commission (etcd takes the record, its answer is held
   back: 503): the job ends terminal, never Queued for ever; a new
   commission then works.
e: a follower whose watch lags wins the lead: it catches up before its
   takeover, which then ends the job it had not seen.
f: a black-holed leader whose runner is stuck in an etcd write (the start
   of a failure path it began as the link went): the watchdog ends that
   playbook at the deadline, before another instance leads.
Measured figures are printed on stdout ("ha_jobs: ..." lines)."""

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import CLUSTERM, report, wait_until  # noqa: E402
from etcd_util import (EtcdCluster, Manager, group_members, have_etcd,  # noqa: E402
                       same_everywhere)
from relay_util import Relay  # noqa: E402

JOB_WAIT_S = 120
SYNC_S = 2.0
TERMINAL = ("Complete", "Errored")

# Every run writes its pid file, sleeps sleep_s and exits with rc.
STEP = """- hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: write the pid, sleep, exit
      shell: >
        pg=$(cut -d' ' -f5 /proc/$$/stat);
        echo "$$ $pg $(cut -d' ' -f4 /proc/$pg/stat)" > {{ marker_dir }}/{{ node_name }}.pid.tmp;
        mv {{ marker_dir }}/{{ node_name }}.pid.tmp {{ marker_dir }}/{{ node_name }}.pid;
        n=0; while [ "{{ wait_go | default(0) }}" = 1 ] && [ ! -e {{ marker_dir }}/go ] &&
        [ $n -lt 2400 ]; do sleep 0.05; n=$((n + 1)); done;
        sleep {{ sleep_s | default(60) }};
        exit {{ rc | default(0) }}
"""
CLEANUP = """- hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: append a line per cleanup (its group too), sleep
      shell: >
        echo "{{ node_name }} $(cut -d' ' -f5 /proc/$$/stat)" >> {{ marker_dir }}/cleanups;
        sleep {{ cleanup_sleep_s | default(0) }}
"""
# ansible.command: records the start (boot-time clock, pid, parent: the
# clusterm that started it, playbook), then runs the real ansible-playbook.
# SIGTERM waits until the line is written: a start killed at once counts.
WRAPPER = """#!/bin/sh
trap '' TERM
for a; do last=$a; done
read up idle < /proc/uptime
echo "$up $$ $PPID ${last##*/}" >> %(log)s
trap - TERM
exec %(ansible)s "$@"
"""


def now_boot():
    """The clock the wrapper's lines use (/proc/uptime: CLOCK_BOOTTIME)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def have_ansible():
    return shutil.which("ansible-playbook") is not None


def figure(text):
    print("ha_jobs: " + text, flush=True)


def read_pid_line(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    return [int(x) for x in text.split()] if text.endswith("\n") else None


@unittest.skipUnless(have_etcd(), "etcd is not installed")
@unittest.skipUnless(have_ansible(), "ansible-playbook is not installed")
class HAJobs(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-ha-jobs-")
        os.chmod(self.tmp, 0o700)
        self.markers = os.path.join(self.tmp, "markers")
        self.books = os.path.join(self.tmp, "playbooks")
        os.makedirs(self.markers)
        os.makedirs(self.books)
        for name, text in (("step.yml", STEP), ("cleanup.yml", CLEANUP)):
            with open(os.path.join(self.books, name), "w") as f:
                f.write(text)
        self.starts_path = os.path.join(self.markers, "starts")
        self.wrapper = os.path.join(self.tmp, "ansible-wrapper")
        with open(self.wrapper, "w") as f:
            f.write(WRAPPER % {"log": shlex.quote(self.starts_path),
                               "ansible": shlex.quote(shutil.which("ansible-playbook"))})
        os.chmod(self.wrapper, 0o755)
        self.cm = None
        self.relays = []
        self.groups = []
        self.etcd = EtcdCluster(3, tmp=os.path.join(self.tmp, "etcd"))
        os.makedirs(self.etcd.tmp, mode=0o700)
        self.etcd.start()

    def tearDown(self):
        res = getattr(self._outcome, "result", None)
        failed = res is not None and any(t is self for t, _ in res.errors + res.failures)
        if self.cm is not None:
            for c in self.cm.instances:
                if c.running():
                    try:
                        c.sigcont()
                    except OSError:
                        pass
            if failed:
                sys.stderr.write(self.cm.logs() + "\n")
            self.cm.cleanup()
        for r in self.relays:
            r.close()
        for pg in self.groups:
            for pid in group_members(pg):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.etcd.cleanup()
        if os.environ.get("HA_KEEP"):
            sys.stderr.write("kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def up(self, k=3, ttl=3, first=None, endpoints=None, manager=None):
        self.cm = Manager(self.etcd.client_urls(), k, tmp=os.path.join(self.tmp, "cm"),
                          lease_ttl_s=ttl, endpoints=endpoints,
                          manager=dict({"max_jobs": 1, "reconcile_s": 2}, **(manager or {})),
                          ansible={"command": self.wrapper,
                                   "playbook_location": self.books,
                                   "configure_playbook": "step.yml",
                                   "cleanup_playbook": "cleanup.yml",
                                   "extra_variables": json.dumps({"marker_dir": self.markers}),
                                   "timeout_s": 300})
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

    def post_ok(self, c, path, body):
        st, reply, _ = c.post(path, body)
        self.assertEqual(st, 200, "%s %s: %r" % (c.id, path, reply))
        return reply

    def discover(self, c, *names):
        for i, name in enumerate(names):
            self.post_ok(c, "/monitor/event/discovered", [report(name, "127.0.6.%d" % (i + 1))])
        for x in self.cm.running():
            for name in names:
                wait_until(lambda: x.node(name), timeout=SYNC_S, what=name + " on " + x.id)

    def commission(self, c, node, **xv):
        body = {"nodes": [node], "host_group": "service-master"}
        if xv:
            body["extra_vars"] = json.dumps(xv)
        return self.post_ok(c, "/commission/nodes", body)["job_id"]

    def wait_job(self, c, job_id, timeout=JOB_WAIT_S):
        def ended():
            j = c.job(job_id)
            return j if j and j["status"] in TERMINAL else None
        return wait_until(ended, timeout=timeout, interval=0.1,
                          what="job %d terminal on %s" % (job_id, c.id))

    def wait_pidfile(self, name):
        got = wait_until(lambda: read_pid_line(os.path.join(self.markers, name + ".pid")),
                         timeout=JOB_WAIT_S, interval=0.05, what="%s playbook start" % name)
        self.groups.append(got[1])
        return got

    def marker(self, name):
        """The text of a marker file, "" when there is none yet."""
        try:
            with open(os.path.join(self.markers, name)) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def starts(self):
        """[(boot-time clock, pid, parent pid, playbook)] of every playbook start."""
        try:
            with open(self.starts_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for ln in lines:
            t, pid, ppid, book = ln.split()
            out.append((float(t), int(pid), int(ppid), book))
        return out

    # -- a

    def test_a_paused_leader_starts_nothing_after_the_takeover(self):
        leader = self.up(manager={"queue_jobs": True})
        f = next(c for c in self.cm.running() if c is not leader)
        self.discover(f, "m1", "m2")
        # m1's step fails 2 s after it starts; m2's job waits in the queue.
        job1 = self.commission(f, "m1", sleep_s=2, rc=3)
        self.wait_pidfile("m1")
        job2 = self.commission(f, "m2", sleep_s=1)
        self.assertEqual(f.job(job2)["status"], "Queued")
        old_pid = leader.proc.pid
        self.assertTrue([s for s in self.starts() if s[2] == old_pid], self.starts())
        leader.sigstop()
        t_stop = time.monotonic()
        b_stop = now_boot()
        try:
            new = self.cm.wait_leader(timeout=3 + 2 + 5, exclude=(leader.id,))
            figure("a: SIGSTOP of the leader -> %s leads after %.3f s" % (
                new.id, time.monotonic() - t_stop))
            for job in (job1, job2):
                j = self.wait_job(new, job, timeout=3 + 2 + 10)
                self.assertEqual(j["status"], "Errored", j)
            # The failing step has failed meanwhile: its failure path is due.
            wait_until(lambda: not group_members(read_pid_line(
                os.path.join(self.markers, "m1.pid"))[1]), timeout=10,
                what="the failing step to end")
        finally:
            leader.sigcont()
        t_cont = time.monotonic()
        wait_until(lambda: leader.healthz()[0] == 200 and leader.role() == "follower",
                   timeout=3 + 10, what="the resumed leader a follower")
        # A window for a late start to show (the runner acts within ms of SIGCONT).
        time.sleep(3)
        late = [s for s in self.starts() if s[2] == old_pid and s[0] > b_stop]
        figure("a: playbook starts by the resumed leader after its SIGSTOP: %d "
               "(%.1f s watched after SIGCONT)" % (len(late), time.monotonic() - t_cont))
        self.assertEqual(late, [], "the deposed leader started playbooks: %r" % late)
        self.assertFalse(os.path.exists(os.path.join(self.markers, "m2.pid")))
        self.assertFalse(os.path.exists(os.path.join(self.markers, "cleanups")))
        for name in ("m1", "m2"):
            st = same_everywhere(self.cm.instances, lambda c: c.node(name)["status"],
                                 timeout=SYNC_S)[0]
            self.assertEqual(st, "Unallocated", name)

    # -- b

    def test_b_blackholed_leader_signals_its_playbook_at_the_deadline(self):
        ttl = 12
        self.relays = [Relay(m.client_port) for m in self.etcd.members]
        leader = self.up(ttl=ttl, first=0,
                         endpoints={"cm1": [r.url() for r in self.relays]})
        f = self.cm[1]
        self.discover(f, "m1")
        job = self.commission(f, "m1", sleep_s=600)
        _, pgid, _ = self.wait_pidfile("m1")
        wait_until(lambda: f.job(job)["status"] == "Running", timeout=SYNC_S, what="Running")
        gone_at = []

        def watch_group():
            while time.monotonic() - t0 < 2 * ttl + 10:
                if not group_members(pgid):
                    gone_at.append(time.monotonic() - t0)
                    return
                time.sleep(0.02)
        t0 = time.monotonic()
        for r in self.relays:
            r.blackhole(True)
        watcher = threading.Thread(target=watch_group, daemon=True)
        watcher.start()
        try:
            new = self.cm.wait_leader(timeout=ttl + 2 + 5, exclude=(leader.id,))
            figure("b: black-holed leader -> %s leads after %.3f s (lease %d s)" % (
                new.id, time.monotonic() - t0, ttl))
            watcher.join(2 * ttl + 10)
            self.assertTrue(gone_at, "the black-holed leader's playbook still runs")
            # The deadline: the last answered renewal's send time + ttl - 0.5 s,
            # renewals every ttl/3; the watchdog looks every 50 ms; SIGTERM ends
            # ansible-playbook, whose group the runner then sweeps.
            figure("b: its playbook was gone %.3f s after the black hole (deadline "
                   "between %.1f and %.1f s)" % (gone_at[0], ttl - 0.5 - ttl / 3.0, ttl - 0.5))
            self.assertGreaterEqual(gone_at[0], ttl - 0.5 - ttl / 3.0 - 0.5)
            self.assertLessEqual(gone_at[0], ttl - 0.5 + 1.5)
            j = self.wait_job(new, job, timeout=10)
            self.assertEqual(j["status"], "Errored", j)
        finally:
            for r in self.relays:
                r.blackhole(False)

    # -- c

    def test_c_refused_job_end_is_retried_until_it_commits(self):
        ttl = 12
        self.relays = [Relay(m.client_port) for m in self.etcd.members]
        leader = self.up(ttl=ttl, first=0,
                         endpoints={"cm1": [r.url() for r in self.relays]})
        self.discover(leader, "m1")
        job = self.commission(leader, "m1", sleep_s=2)
        _, pgid, _ = self.wait_pidfile("m1")
        t0 = time.monotonic()
        for r in self.relays:
            r.close()
        wait_until(lambda: not group_members(pgid), timeout=10, what="the playbook to end")
        # The end is refused (etcd cannot be reached); keep it out of reach a while.
        wait_until(lambda: "refused its outcome" in leader.log(), timeout=10,
                   what="the refused outcome in the log")
        while time.monotonic() - t0 < 5:
            time.sleep(0.1)
        for r in self.relays:
            r.reopen()
        t_back = time.monotonic()
        self.assertEqual(self.cm.wait_leader(timeout=ttl), leader)
        j = self.wait_job(leader, job, timeout=2 + 5)
        took = time.monotonic() - t_back
        figure("c: the refused end committed %.3f s after etcd came back (reconcile 2 s)"
               % took)
        self.assertEqual(j["status"], "Complete", j)
        st = same_everywhere(self.cm.instances,
                             lambda c: (c.job(job)["status"], c.node("m1")["status"]),
                             timeout=SYNC_S)[0]
        self.assertEqual(st, ("Complete", "Allocated"))

    # -- d

    def test_d_ambiguous_commission_is_not_queued_for_ever(self):
        ttl = 12
        self.relays = [Relay(m.client_port) for m in self.etcd.members]
        leader = self.up(ttl=ttl, first=0,
                         endpoints={"cm1": [r.url() for r in self.relays]})
        self.discover(leader, "m1", "m2")
        # etcd takes the record; the leader hears nothing back: 503.
        for r in self.relays:
            r.stall(True)
        t0 = time.monotonic()
        try:
            st, body, _ = leader.post("/commission/nodes",
                                      {"nodes": ["m1"], "host_group": "service-master",
                                       "extra_vars": json.dumps({"sleep_s": 0})},
                                      timeout=30)
        finally:
            for r in self.relays:
                r.stall(False)
        figure("d: the commission answered %d after %.3f s" % (st, time.monotonic() - t0))
        self.assertEqual(st, 503, body)

        def settled():
            jobs = [j for j in leader.jobs() if "m1" in j.get("nodes", [])]
            if not jobs:
                return None
            return jobs if all(j["status"] in TERMINAL for j in jobs) else None
        # The record came back through the watch: started or ended by the reconcile.
        jobs = wait_until(settled, timeout=2 * 2 + 30, interval=0.2,
                          what="the ambiguous commission's job terminal")
        figure("d: its job %s %.3f s after the 503" % (
            [(j["id"], j["status"]) for j in jobs], time.monotonic() - t0))
        job = self.commission(leader, "m2", sleep_s=0)
        j = self.wait_job(leader, job, timeout=60)
        self.assertEqual(j["status"], "Complete", j)

    # -- e

    def test_e_lagging_follower_catches_up_before_its_takeover(self):
        ttl = 3
        self.relays = [Relay(m.client_port) for m in self.etcd.members]
        leader = self.up(k=2, ttl=ttl, first=0,
                         endpoints={"cm2": [r.url() for r in self.relays]},
                         manager={"reconcile_s": 600})
        lag = self.cm[1]
        self.discover(leader, "m1")
        for r in self.relays:
            r.stall(True, watch_only=True)
        stalled = True
        try:
            job = self.commission(leader, "m1", sleep_s=600)
            self.wait_pidfile("m1")
            time.sleep(0.5)
            self.assertIsNone(lag.job(job), "the lagging follower's watch is not stalled")
            leader.kill9()
            t0 = time.monotonic()
            wait_until(lambda: lag.role() == "leader", timeout=ttl + 2 + 5,
                       what="the lagging follower leads")
            figure("e: the lagging follower leads %.3f s after the kill" % (
                time.monotonic() - t0))
            # Leading, but behind: it must not take over yet.
            time.sleep(2)
            self.assertIsNone(lag.job(job))
            for r in self.relays:
                r.stall(False)
            stalled = False
            t1 = time.monotonic()
            j = self.wait_job(lag, job, timeout=15)
            figure("e: the job it had not seen ended %s %.3f s after its watch resumed" % (
                j["status"], time.monotonic() - t1))
        finally:
            if stalled:
                for r in self.relays:
                    r.stall(False)
        self.assertEqual(j["status"], "Errored", j)
        self.assertIn("stopped leading", j.get("error", ""), j)
        self.assertEqual(lag.node("m1")["status"], "Unallocated")


    # -- f

    def test_f_watchdog_ends_a_playbook_while_the_runner_waits_on_etcd(self):
        ttl = 3
        self.relays = [Relay(m.client_port) for m in self.etcd.members]
        leader = self.up(ttl=ttl, first=0,
                         endpoints={"cm1": [r.url() for r in self.relays]})
        f = self.cm[1]
        self.discover(f, "m1")
        # The step fails once told to; its failure path sleeps.
        job = self.commission(f, "m1", wait_go=1, sleep_s=0, rc=2, cleanup_sleep_s=600)
        self.wait_pidfile("m1")
        wait_until(lambda: f.job(job)["status"] == "Running", timeout=SYNC_S, what="Running")
        t0 = time.monotonic()
        for r in self.relays:
            r.blackhole(True)
        try:
            with open(os.path.join(self.markers, "go"), "w"):
                pass
            # The failure path starts; its start record waits on the black hole.
            line = wait_until(lambda: self.marker("cleanups"), timeout=10, interval=0.02,
                              what="the failure path to start")
            pgid = int(line.split()[1])
            self.groups.append(pgid)
            gone_at = wait_until(lambda: None if group_members(pgid) else
                                 time.monotonic() - t0, timeout=3 * ttl + 10, interval=0.02,
                                 what="the failure path's group to go")
            new = self.cm.wait_leader(timeout=ttl + 2 + 5, exclude=(leader.id,))
            led_at = time.monotonic() - t0
            figure("f: the failure path started at the black hole was gone after %.3f s, "
                   "%s led after %.3f s (lease %d s)" % (gone_at, new.id, led_at, ttl))
            # At the deadline (at most ttl - 0.5 s after the black hole), and
            # before another instance leads.
            self.assertLessEqual(gone_at, ttl - 0.5 + 0.6)
            self.assertLess(gone_at, led_at)
        finally:
            for r in self.relays:
                r.blackhole(False)

class ReconcileConfig(unittest.TestCase):
    """manager.reconcile_s: 1 to 3600 (default 5), checked at start with the key named."""

    def check(self, conf, want_rc, want_text=None):
        with tempfile.NamedTemporaryFile("w", suffix=".conf", delete=False) as f:
            json.dump(conf, f)
        try:
            p = subprocess.run([CLUSTERM, "-n", "-c", f.name], capture_output=True, text=True,
                               timeout=10)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, want_rc, p.stderr)
        if want_text:
            self.assertIn(want_text, p.stderr + p.stdout)

    def test_range(self):
        for bad in (0, 3601, -1, "5", 2.5):
            self.check({"manager": {"reconcile_s": bad}}, 1, "manager.reconcile_s")
        for good in (1, 5, 3600):
            self.check({"manager": {"reconcile_s": good}}, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
