"""Durability where it breaks, black box: clusterm killed with SIGKILL in
the middle of a load of concurrent reporters (every acknowledged batch is
there after the restart, and a replay of it is a duplicate), and a state
dir on a full disk (the refused batch changes nothing, /healthz says why,
writes and lifecycle requests are refused with 503, no playbook runs, and
a restart on a copy of the state dir has every acknowledged batch and not
the refused one).

The full-disk test mounts a small tmpfs: it needs root (CAP_SYS_ADMIN) and
is skipped otherwise; the file exits 77 (meson: SKIP) when every test was
skipped. A restart during a job is tested in test_lifecycle.py."""

import http.client
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import Clusterm, report, reporter_headers, wait_until  # noqa: E402

class KillUnderLoad(unittest.TestCase):
    """16 reporters post concurrently; clusterm is killed at a random moment."""

    REPORTERS = ["r%d" % i for i in range(1, 17)]
    EPOCH = "kill-epoch"
    POOL = ["dn-%02d" % j for j in range(64)]	# nodes every reporter votes on
    BATCH = 20
    ROUNDS = 3
    MAX_BATCHES = 2000				# per reporter and round: a bound, not a target
    KILL_AFTER_S = (0.3, 3.0)			# the kill falls uniformly in here

    def setUp(self):
        self.seed = int(os.environ.get("DURABILITY_SEED", random.SystemRandom().randrange(1 << 30)))
        print("\nkill-under-load seed: %d (DURABILITY_SEED=%d to repeat)" % (self.seed, self.seed),
              file=sys.stderr, flush=True)
        self.rng = random.Random(self.seed)
        self.c = Clusterm(config={"monitor": {"grace_s": 0}})
        self.addCleanup(self.c.cleanup)
        # What each reporter sent over all rounds: seq -> (event, nodes), and
        # which of those seqs were answered 200.
        self.sent = {r: {} for r in self.REPORTERS}
        self.acked = {r: {} for r in self.REPORTERS}
        self.next_seq = {r: 1 for r in self.REPORTERS}
        self.lock = threading.Lock()

    def batch_of(self, ri, seq):
        """The deterministic content of reporter ri's batch seq."""
        start = (seq * 7 + ri * 5) % len(self.POOL)
        names = [self.POOL[(start + k) % len(self.POOL)] for k in range(self.BATCH)]
        event = "disappeared" if (seq + ri) % 3 == 0 else "discovered"
        return event, names

    def body_of(self, names):
        return [report(n, "10.20.0.%d" % (int(n[3:]) + 1)) for n in names]

    def worker(self, ri, stop, errors):
        r = self.REPORTERS[ri]
        # Until a request fails: after the kill the next one is refused at once.
        for _ in range(self.MAX_BATCHES):
            with self.lock:
                seq = self.next_seq[r]
                self.next_seq[r] = seq + 1
                event, names = self.batch_of(ri, seq)
                self.sent[r][seq] = (event, names)
            try:
                st, body, _ = self.c.post("/monitor/event/" + event, self.body_of(names),
                                          headers=reporter_headers(r, seq, self.EPOCH),
                                          timeout=15)
            except (OSError, http.client.HTTPException) as e:
                if not stop.is_set():
                    errors.append("%s seq %d: %r before the kill" % (r, seq, e))
                return		# killed: this one is sent, not acknowledged
            if st != 200:
                errors.append("%s seq %d: %d %r" % (r, seq, st, body))
                return
            # Every seq is fresh: nothing of it may count as a duplicate.
            if body != {"accepted": self.BATCH, "duplicates": 0}:
                errors.append("%s seq %d: fresh batch answered %r" % (r, seq, body))
            with self.lock:
                self.acked[r][seq] = (event, names)

    def load_and_kill(self, rnd):
        stop = threading.Event()
        errors = []
        threads = [threading.Thread(target=self.worker, args=(i, stop, errors), daemon=True)
                   for i in range(len(self.REPORTERS))]
        kill_at = self.rng.uniform(*self.KILL_AFTER_S)
        acked_before = sum(len(a) for a in self.acked.values())
        for t in threads:
            t.start()
        # Kill once the load runs (at least one new ack) and kill_at has passed.
        t0 = time.monotonic()
        wait_until(lambda: sum(len(a) for a in self.acked.values()) > acked_before or errors,
                   timeout=30, interval=0.005, what="the first acknowledged batch")
        delay = kill_at - (time.monotonic() - t0)
        if delay > 0:
            time.sleep(delay)	# the random moment itself: nothing to poll for
        stop.set()	# from here on a failed request is the kill's doing
        self.assertEqual(self.c.kill9(), -signal.SIGKILL)
        for t in threads:
            t.join(30)
        self.assertFalse([t for t in threads if t.is_alive()], "reporter threads still running")
        self.assertEqual(errors, [])
        acked = sum(len(a) for a in self.acked.values()) - acked_before
        sent = sum(len(s) for s in self.sent.values())
        print("round %d: killed %.2fs into the load, %d batches acknowledged this round, "
              "%d sent in all" % (rnd, kill_at, acked, sent), file=sys.stderr, flush=True)
        self.assertGreater(acked, 0)

    def check_recovered(self, rnd):
        nodes = {}
        for n in self.POOL:
            nodes[n] = self.c.node(n)
        problems = []
        for ri, r in enumerate(self.REPORTERS):
            # The last acknowledged seq of r that touched each node.
            last_acked = {}
            for seq, (event, names) in self.acked[r].items():
                for n in names:
                    if seq > last_acked.get(n, 0):
                        last_acked[n] = seq
            for n, want in last_acked.items():
                node = nodes[n]
                if node is None:
                    problems.append("%s: missing (acknowledged by %s seq %d)" % (n, r, want))
                    continue
                votes = [v for v in node["votes"] if v["reporter"] == r]
                if len(votes) != 1:
                    problems.append("%s: %d votes of %s, want 1 (acked seq %d)"
                                    % (n, len(votes), r, want))
                    continue
                v = votes[0]
                # At least the acknowledged one; a later one only if it was sent
                # (it may have become durable before the kill) and names n.
                if v["seq"] < want:
                    problems.append("%s: vote of %s is seq %d, acknowledged seq %d was lost"
                                    % (n, r, v["seq"], want))
                    continue
                event, names = self.sent[r].get(v["seq"], (None, ()))
                if n not in names:
                    problems.append("%s: vote of %s has seq %d, which never named it"
                                    % (n, r, v["seq"]))
                    continue
                if v["vote"] != ("alive" if event == "discovered" else "gone"):
                    problems.append("%s: vote of %s seq %d is %s, the batch was %s"
                                    % (n, r, v["seq"], v["vote"], event))
        self.assertFalse(problems, "round %d, seed %d: %d problems, the first:\n%s"
                         % (rnd, self.seed, len(problems), "\n".join(problems[:20])))
        # Replays of acknowledged batches are duplicates: the last one of each
        # reporter, and one picked at random from all rounds.
        for ri, r in enumerate(self.REPORTERS):
            if not self.acked[r]:
                continue
            seqs = sorted(self.acked[r])
            for seq in {seqs[-1], self.rng.choice(seqs)}:
                event, names = self.acked[r][seq]
                st, body, _ = self.c.post("/monitor/event/" + event, self.body_of(names),
                                          headers=reporter_headers(r, seq, self.EPOCH))
                self.assertEqual((st, body), (200, {"accepted": 0, "duplicates": self.BATCH}),
                                 "replay of %s seq %d, round %d, seed %d" % (r, seq, rnd, self.seed))
        # Nothing the replays did changed a vote.
        for n in self.POOL:
            if nodes[n] is not None:
                self.assertEqual(self.c.node(n)["votes"], nodes[n]["votes"], n)

    def test_kill9_under_load_keeps_every_acknowledged_batch(self):
        for rnd in range(1, self.ROUNDS + 1):
            self.c.start()
            self.load_and_kill(rnd)
            self.c.start()
            st, health, _ = self.c.get("/healthz")
            self.assertEqual((st, health["status"]), (200, "ok"), health)
            self.check_recovered(rnd)
            self.assertEqual(self.c.stop(), 0)


# Runs as the configure playbook would: leaves a marker that it ran.
FAKE_ANSIBLE = """#!/bin/sh
touch "%s/ran.$$"
exit 0
"""


def mount_tmpfs(path, size):
    """Mounts a tmpfs of size on path; the reason when that is not permitted."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    try:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size, "tmpfs", path],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "mount: %s" % e
    if p.returncode != 0:
        return "mount -t tmpfs is not permitted here: %s" % p.stderr.strip()
    return None


def umount(path):
    p = subprocess.run(["umount", path], capture_output=True, text=True, timeout=20)
    if p.returncode != 0:
        # Still busy: detach it so nothing stays mounted after the test.
        subprocess.run(["umount", "-l", path], capture_output=True, timeout=20)
        raise AssertionError("umount %s: %s" % (path, p.stderr.strip()))


class FullDisk(unittest.TestCase):
    """The state dir on a 2 MiB tmpfs, filled by one reporter."""

    BATCH = 50
    MAX_BATCHES = 2000		# 2000 x 50 nodes do not fit in 2 MiB

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-fulldisk-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.mnt = os.path.join(self.tmp, "mnt")
        os.mkdir(self.mnt)
        why = mount_tmpfs(self.mnt, "2m")
        if why is not None:
            self.skipTest(why)
        self.addCleanup(umount, self.mnt)	# runs after every clusterm below is stopped
        self.markers = os.path.join(self.tmp, "markers")
        os.mkdir(self.markers)
        self.playbooks = os.path.join(self.tmp, "playbooks")
        os.mkdir(self.playbooks)
        for pb in ("site.yml", "cleanup.yml"):
            with open(os.path.join(self.playbooks, pb), "w") as f:
                f.write("- hosts: all\n  tasks: []\n")
        self.fake = os.path.join(self.tmp, "fake-ansible")
        with open(self.fake, "w") as f:
            f.write(FAKE_ANSIBLE % self.markers)
        os.chmod(self.fake, 0o700)
        self.config = {"monitor": {"grace_s": 0},
                       "ansible": {"command": self.fake, "playbook_location": self.playbooks,
                                   "timeout_s": 60}}
        self.c = Clusterm(state_dir=os.path.join(self.mnt, "state"), config=self.config)
        self.addCleanup(self.c.cleanup)

    def ran(self):
        return sorted(f for f in os.listdir(self.markers) if f.startswith("ran."))

    def jobs(self, c):
        st, body, _ = c.get("/api/v1/jobs")
        self.assertEqual(st, 200, body)
        return body["jobs"]

    def wait_job(self, c, job_id):
        def ended():
            _, j, _ = c.get("/api/v1/jobs/%d" % job_id)
            return j if j["status"] in ("Complete", "Errored") else None
        return wait_until(ended, timeout=60, interval=0.05, what="job %d" % job_id)

    def fill_batch(self, seq):
        names = ["fd%d-%d" % (seq, i) for i in range(self.BATCH)]
        return names, [report(n, "10.30.%d.%d" % (seq % 250, i + 1)) for i, n in enumerate(names)]

    def node_names(self, c):
        st, body, _ = c.get("/api/v1/nodes", timeout=60)
        self.assertEqual(st, 200)
        return {n["name"] for n in body["nodes"]}

    def test_full_disk_refuses_and_recovers(self):
        c = self.c.start()
        # Before the disk fills: a control node proves the fake playbook runs
        # and leaves a marker, and pre-m1 waits, discovered, for the refusal.
        for name, addr in (("pre-ctl", "127.0.6.1"), ("pre-m1", "127.0.6.2")):
            st, body, _ = c.post("/monitor/event/discovered", [report(name, addr)])
            self.assertEqual(st, 200, body)
        st, r, _ = c.post("/commission/nodes", {"nodes": ["pre-ctl"], "host_group": "service-master"})
        self.assertEqual(st, 200, r)
        self.assertEqual(self.wait_job(c, r["job_id"])["status"], "Complete")
        self.assertEqual(len(self.ran()), 1, "the fake playbook did not run")
        jobs_before = self.jobs(c)

        # Fill the disk with 50-node batches until one is refused.
        acked = []
        refused = None
        for seq in range(1, self.MAX_BATCHES + 1):
            names, body = self.fill_batch(seq)
            st, reply, _ = c.post("/monitor/event/discovered", body,
                                  headers=reporter_headers("fill", seq), timeout=30)
            if st == 200:
                self.assertEqual(reply, {"accepted": self.BATCH, "duplicates": 0}, seq)
                acked.append(seq)
                continue
            self.assertEqual(st, 503, reply)
            self.assertIn("error", reply)
            refused = seq
            break
        self.assertIsNotNone(refused, "%d batches of %d nodes fit in 2 MiB" %
                             (self.MAX_BATCHES, self.BATCH))
        self.assertGreater(len(acked), 0, "the very first batch was refused")
        print("\nbatch %d refused with 503 after %d acknowledged" % (refused, len(acked)),
              file=sys.stderr, flush=True)
        ref_names, ref_body = self.fill_batch(refused)

        # The refused batch changed nothing.
        have = self.node_names(c)
        self.assertEqual([n for n in ref_names if n in have], [])
        for n in ref_names:
            st, body, _ = c.get("/info/node/" + n)
            self.assertEqual(st, 404, (n, body))
        last_names, _ = self.fill_batch(acked[-1])
        self.assertTrue(set(last_names) <= have)

        # /healthz says the store failed, why, and what to do.
        st, health, _ = c.get("/healthz")
        self.assertEqual(st, 503, health)
        self.assertEqual(health["status"], "store failed")
        self.assertTrue("No space left" in health["reason"] or "ENOSPC" in health["reason"],
                        health["reason"])
        self.assertTrue(health.get("action"), health)

        # The same batch again is refused, not taken for a duplicate; so are
        # a next batch and another reporter's.
        st, reply, _ = c.post("/monitor/event/discovered", ref_body,
                              headers=reporter_headers("fill", refused))
        self.assertEqual(st, 503, reply)
        _, next_body = self.fill_batch(refused + 1)
        st, reply, _ = c.post("/monitor/event/discovered", next_body,
                              headers=reporter_headers("fill", refused + 1))
        self.assertEqual(st, 503, reply)
        st, reply, _ = c.post("/monitor/event/disappeared", [report("pre-ctl", "127.0.6.1")],
                              headers=reporter_headers("other", 1))
        self.assertEqual(st, 503, reply)
        self.assertEqual(c.state_of("pre-ctl"), "Discovered")

        # A lifecycle request is refused and runs nothing.
        st, reply, _ = c.post("/commission/nodes", {"nodes": ["pre-m1"],
                                                    "host_group": "service-master"})
        self.assertEqual(st, 503, reply)
        self.assertIn("error", reply)
        self.assertEqual(c.node("pre-m1")["status"], "Unallocated")
        self.assertEqual(self.jobs(c), jobs_before)
        time.sleep(2)	# a playbook that should not start: nothing to wait for but time
        self.assertEqual(len(self.ran()), 1, "a playbook ran while the store had failed")
        self.assertEqual(c.node("pre-m1")["status"], "Unallocated")

        # Make room: the state dir copied to a normal dir, clusterm started on it.
        rc = c.stop()
        print("clusterm with the failed store stopped with %r" % rc, file=sys.stderr)
        self.assertIn(rc, (0, 1), c.log()[-2000:])
        copy = os.path.join(self.tmp, "state-copy")
        shutil.copytree(c.state_dir, copy, symlinks=True)
        c2 = Clusterm(state_dir=copy, config=self.config)
        self.addCleanup(c2.cleanup)
        c2.start()
        st, health, _ = c2.get("/healthz")
        self.assertEqual((st, health["status"]), (200, "ok"), health)
        have = self.node_names(c2)
        missing = [s for s in acked if not set(self.fill_batch(s)[0]) <= have]
        self.assertEqual(missing, [], "acknowledged batches lost")
        self.assertEqual([n for n in ref_names if n in have], [])
        votes = [v for v in c2.node(last_names[0])["votes"] if v["reporter"] == "fill"]
        self.assertEqual([v["seq"] for v in votes], [acked[-1]])
        self.assertEqual(c2.node("pre-m1")["status"], "Unallocated")
        self.assertEqual(c2.state_of("pre-ctl"), "Discovered")
        self.assertEqual(self.jobs(c2), jobs_before)
        # The last acknowledged batch is a duplicate; the refused one never
        # counted, so now it is applied.
        st, reply, _ = c2.post("/monitor/event/discovered", self.fill_batch(acked[-1])[1],
                               headers=reporter_headers("fill", acked[-1]))
        self.assertEqual((st, reply), (200, {"accepted": 0, "duplicates": self.BATCH}))
        st, reply, _ = c2.post("/monitor/event/discovered", ref_body,
                               headers=reporter_headers("fill", refused))
        self.assertEqual((st, reply), (200, {"accepted": self.BATCH, "duplicates": 0}))
        self.assertEqual(c2.get("/info/node/" + ref_names[0])[0], 200)
        # And the lifecycle works again.
        st, r, _ = c2.post("/commission/nodes", {"nodes": ["pre-m1"],
                                                 "host_group": "service-master"})
        self.assertEqual(st, 200, r)
        self.assertEqual(self.wait_job(c2, r["job_id"])["status"], "Complete")
        self.assertEqual(len(self.ran()), 2)
        self.assertEqual(c2.stop(), 0, c2.log()[-2000:])


def main():
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun > 0 and len(r.skipped) == r.testsRun:
        sys.exit(77)
    sys.exit(0)


if __name__ == "__main__":
    main()
