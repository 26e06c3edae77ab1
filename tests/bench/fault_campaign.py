#!/usr/bin/env python3
"""A fault campaign against several clusterm instances on etcd (CONTRACT
section 9): 3 etcd members, 3 clusterm instances, each instance's link to
each member through a relay this script controls, the real
ansible-playbook (local connection) behind a wrapper that records every
playbook start. Round after round, with monitor reports and commissions
going on, one fault chosen at random:

  kill9-leader, kill9-follower, sigstop-leader (lease_ttl_s + 2 s),
  cut-leader (its links closed), blackhole-leader (its links swallow
  everything), member-loss (an etcd member killed, then back),
  quorum-loss (2 members stopped, then resumed), restart (SIGTERM, start)

then everything is healed and a leader awaited. At the end:
  - every acknowledged report (a 200) is present on every instance;
  - every acknowledged job is terminal everywhere (none left Queued or
    Running);
  - no job step ran twice (a playbook with the same inventory);
  - no playbook started after another instance had taken the lead.

  tests/bench/fault_campaign.py [--rounds N] [--seed S] [--build DIR] [--ttl S]

The seed (default: from the clock) is printed first; the same seed picks
the same faults. Exit 0 when every check holds, 1 otherwise. Every process
it starts is stopped by its PID at the end. stdlib only."""

import argparse
import calendar
import json
import os
import random
import re
import shlex
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEG = os.path.join(HERE, "..", "integration")
sys.path.insert(0, INTEG)

FAULTS = ("kill9-leader", "kill9-follower", "sigstop-leader", "cut-leader",
          "blackhole-leader", "member-loss", "quorum-loss", "restart")
RECONCILE_S = 2
TERMINAL = ("Complete", "Errored")
# A playbook start may show this long after its runner's check (the wrapper's
# own start); a start later than that after another instance took the lead is
# a violation.
START_SLACK_S = 0.3

STEP = """- hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: sleep, exit
      shell: sleep {{ sleep_s | default(1) }}; exit {{ rc | default(0) }}
"""
CLEANUP = """- hosts: all
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: cleanup
      shell: "true"
"""
# wall time, pid, parent (the clusterm), inventory, playbook; SIGTERM waits
# until the line is written.
WRAPPER = """#!/bin/sh
trap '' TERM
prev=; inv=; last=
for a; do [ "$prev" = "-i" ] && inv=$a; prev=$a; last=$a; done
echo "$(date +%%s.%%N) $$ $PPID ${inv##*/} ${last##*/}" >> %(log)s
trap - TERM
exec %(ansible)s "$@"
"""
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z clusterm \w+: (.*)$")


def say(text):
    print("campaign: " + text, flush=True)


def log_time(date, ms):
    return calendar.timegm(time.strptime(date, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000.0


class Campaign:
    def __init__(self, args):
        from etcd_util import EtcdCluster, Manager
        from relay_util import Relay
        self.args = args
        self.rng = random.Random(args.seed)
        self.ttl = args.ttl
        self.tmp = tempfile.mkdtemp(prefix="clusterm-campaign-")
        os.chmod(self.tmp, 0o700)
        self.books = os.path.join(self.tmp, "playbooks")
        os.makedirs(self.books)
        for name, text in (("step.yml", STEP), ("cleanup.yml", CLEANUP)):
            with open(os.path.join(self.books, name), "w") as f:
                f.write(text)
        self.starts_path = os.path.join(self.tmp, "starts")
        wrapper = os.path.join(self.tmp, "ansible-wrapper")
        with open(wrapper, "w") as f:
            f.write(WRAPPER % {"log": shlex.quote(self.starts_path),
                               "ansible": shlex.quote(shutil.which("ansible-playbook"))})
        os.chmod(wrapper, 0o755)
        self.etcd = EtcdCluster(3, tmp=os.path.join(self.tmp, "etcd"))
        os.makedirs(self.etcd.tmp, mode=0o700)
        self.etcd.start()
        self.relays = {}
        for i in range(3):
            self.relays["cm%d" % (i + 1)] = [Relay(m.client_port) for m in self.etcd.members]
        self.cm = Manager(self.etcd.client_urls(), 3, tmp=os.path.join(self.tmp, "cm"),
                          lease_ttl_s=self.ttl,
                          endpoints={k: [r.url() for r in v] for k, v in self.relays.items()},
                          manager={"max_jobs": 2, "queue_jobs": True,
                                   "reconcile_s": RECONCILE_S},
                          ansible={"command": wrapper, "playbook_location": self.books,
                                   "configure_playbook": "step.yml",
                                   "cleanup_playbook": "cleanup.yml",
                                   "timeout_s": 120})
        self.pids = {}          # every clusterm pid -> instance id
        self.acked = []         # node names whose report got a 200
        self.jobs = []          # job ids whose commission got a 200
        self.node_seq = 0
        self.stop_load = threading.Event()
        self.load_lock = threading.Lock()
        self.problems = []

    # -- processes

    def start(self, c):
        c.start()
        self.pids[c.proc.pid] = c.id

    def leader(self, timeout=None):
        return self.cm.wait_leader(timeout=timeout or 4 * self.ttl + 20)

    def heal(self):
        """Everything back: etcd members, links, instances; a leader."""
        for i, m in enumerate(self.etcd.members):
            if not m.running():
                m.start()
            else:
                self.etcd.sigcont(i)
        self.etcd.wait_healthy()
        for rs in self.relays.values():
            for r in rs:
                r.blackhole(False)
                if not r.open:
                    r.reopen()
        for c in self.cm.instances:
            if c.running():
                c.sigcont()
            else:
                self.start(c)
        return self.leader()

    # -- load

    def post_reports(self):
        """Monitor reports of new nodes to random instances until stopped."""
        while not self.stop_load.is_set():
            with self.load_lock:
                self.node_seq += 1
                name = "n%d" % self.node_seq
            c = self.rng_load.choice(self.cm.instances)
            try:
                st, _, _ = c.post("/monitor/event/discovered",
                                  [{"Node-Label": name, "Node-Mgmt-Address": "127.0.8.1"}],
                                  timeout=8)
            except OSError:
                st = None
            if st == 200:
                with self.load_lock:
                    self.acked.append(name)
            self.stop_load.wait(0.05)

    def commission(self, leader):
        """One commission of a fresh node (its report first), through any instance."""
        with self.load_lock:
            self.node_seq += 1
            name = "j%d" % self.node_seq
        st, _, _ = leader.post("/monitor/event/discovered",
                               [{"Node-Label": name, "Node-Mgmt-Address": "127.0.8.2"}])
        if st != 200:
            return
        with self.load_lock:
            self.acked.append(name)
        c = self.rng.choice(self.cm.running())
        xv = {"sleep_s": self.rng.choice((0, 1, 2, 3)), "rc": self.rng.choice((0, 0, 0, 2))}
        try:
            st, body, _ = c.post("/commission/nodes", {"nodes": [name],
                                                      "host_group": "service-master",
                                                      "extra_vars": json.dumps(xv)}, timeout=15)
        except OSError:
            return
        if st == 200:
            self.jobs.append(body["job_id"])

    # -- faults

    def fault(self, kind, leader):
        others = [c for c in self.cm.running() if c is not leader]
        hold = self.ttl + 2
        if kind == "kill9-leader":
            leader.kill9()
        elif kind == "kill9-follower":
            self.rng.choice(others).kill9()
        elif kind == "sigstop-leader":
            leader.sigstop()
            time.sleep(hold)
            leader.sigcont()
        elif kind == "cut-leader":
            for r in self.relays[leader.id]:
                r.close()
            time.sleep(hold)
            for r in self.relays[leader.id]:
                r.reopen()
        elif kind == "blackhole-leader":
            for r in self.relays[leader.id]:
                r.blackhole(True)
            time.sleep(hold)
            for r in self.relays[leader.id]:
                r.blackhole(False)
        elif kind == "member-loss":
            self.etcd.kill9(self.rng.randrange(3))
            time.sleep(2)
        elif kind == "quorum-loss":
            lost = self.rng.sample(range(3), 2)
            for i in lost:
                self.etcd.sigstop(i)
            time.sleep(4)
            for i in lost:
                self.etcd.sigcont(i)
        elif kind == "restart":
            c = self.rng.choice(self.cm.running())
            c.stop()
            self.start(c)

    # -- checks

    def starts(self):
        try:
            with open(self.starts_path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for ln in lines:
            p = ln.split()
            if len(p) == 5:
                out.append((float(p[0]), int(p[1]), int(p[2]), p[3], p[4]))
        return out

    def lead_events(self):
        """[(wall time, instance id)] of every 'leads now', from every log."""
        ev = []
        for c in self.cm.instances:
            for ln in c.log().splitlines():
                m = LOG_LINE.match(ln)
                if m and "leader: this instance" in m.group(3) and m.group(3).endswith(
                        "leads now"):
                    ev.append((log_time(m.group(1), m.group(2)), c.id))
        return sorted(ev)

    def check(self):
        from util import wait_until
        from etcd_util import same_everywhere
        # Every acknowledged report, on every instance.
        want = set(self.acked)

        def all_there():
            for c in self.cm.instances:
                missing = want - set(c.nodes())
                if missing:
                    return None
            return True
        try:
            wait_until(all_there, timeout=15, interval=0.2, what="every acknowledged report")
        except AssertionError:
            for c in self.cm.instances:
                missing = sorted(want - set(c.nodes()))
                if missing:
                    self.problems.append("%s lacks %d acknowledged node(s): %s" % (
                        c.id, len(missing), missing[:10]))
        # Every acknowledged job terminal, the same everywhere.
        for job in self.jobs:
            try:
                wait_until(lambda: all((c.job(job) or {}).get("status") in TERMINAL
                                       for c in self.cm.instances),
                           timeout=2 * RECONCILE_S + 60, interval=0.2,
                           what="job %d terminal everywhere" % job)
                same_everywhere(self.cm.instances, lambda c: c.job(job)["status"], timeout=5)
            except AssertionError as e:
                self.problems.append("job %d: %s" % (job, e))
        # No step twice.
        seen = {}
        for t, pid, ppid, inv, book in self.starts():
            key = (inv, book)
            if key in seen:
                self.problems.append("a job step ran twice: %s %s (pids %d, %d)" % (
                    inv, book, seen[key], pid))
            seen[key] = pid
        # No playbook after another instance took the lead.
        leads = self.lead_events()
        for t, pid, ppid, inv, book in self.starts():
            who = self.pids.get(ppid)
            if who is None:
                self.problems.append("a playbook started by an unknown parent %d" % ppid)
                continue
            others = [e for e in leads if e[1] != who and e[0] <= t - START_SLACK_S]
            own = [e for e in leads if e[1] == who and e[0] <= t]
            if others and (not own or own[-1][0] < others[-1][0]):
                self.problems.append("%s started %s (%s) at %.3f, %.3f s after %s took "
                                     "the lead" % (who, book, inv, t, t - others[-1][0],
                                                   others[-1][1]))
        return not self.problems

    # -- the run

    def run(self):
        self.rng_load = random.Random(self.args.seed + 1)
        for c in self.cm.instances:
            self.start(c)
        self.leader()
        load = threading.Thread(target=self.post_reports, daemon=True)
        load.start()
        try:
            for rnd in range(1, self.args.rounds + 1):
                leader = self.leader()
                self.commission(leader)
                kind = self.rng.choice(FAULTS)
                t0 = time.monotonic()
                self.fault(kind, leader)
                self.commission(self.heal())
                say("round %d: %s (leader %s), healed after %.1f s" % (
                    rnd, kind, leader.id, time.monotonic() - t0))
        finally:
            self.stop_load.set()
            load.join(15)
        ok = self.check()
        say("%d acknowledged reports, %d jobs, %d playbook starts" % (
            len(self.acked), len(self.jobs), len(self.starts())))
        for p in self.problems:
            say("PROBLEM: " + p)
        return ok

    def cleanup(self, keep):
        for c in self.cm.instances:
            try:
                c.stop()
            except OSError:
                pass
        for rs in self.relays.values():
            for r in rs:
                r.close()
        self.etcd.cleanup()
        if keep:
            say("kept " + self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--build", default=None, help="the build dir (default $BUILD_DIR or build)")
    ap.add_argument("--ttl", type=int, default=3, help="store.etcd.lease_ttl_s")
    ap.add_argument("--keep", action="store_true", help="keep the logs and data dirs")
    args = ap.parse_args(argv)
    if args.seed is None:
        args.seed = int(time.time() * 1000) % 1000000007
    if args.build is not None:
        os.environ["BUILD_DIR"] = os.path.abspath(args.build)
    say("seed %d (--seed %d repeats the faults), %d rounds, lease %d s" % (
        args.seed, args.seed, args.rounds, args.ttl))
    from etcd_util import have_etcd
    if not have_etcd() or shutil.which("ansible-playbook") is None:
        say("etcd or ansible-playbook is not installed: skipped")
        return 77
    c = Campaign(args)
    ok = False
    try:
        ok = c.run()
    finally:
        if not ok:
            sys.stderr.write(c.cm.logs()[-20000:] + "\n")
        c.cleanup(args.keep)
    say("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
