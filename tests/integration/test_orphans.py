"""A playbook does not outlive a crashed clusterm: a commission's playbook
(a test script) is running when clusterm is killed with SIGKILL; after the
restart on the same state dir the old processes are gone, killed by a
signal, the job is Errored and the node Unallocated. The step's leader gets
SIGTERM as its parent dies (PR_SET_PDEATHSIG); what it leaves in its
process group, or a leader that ignores SIGTERM, is ended by the restart
(SIGTERM, SIGKILL after 5 s), found by the group and start time the log
recorded. This process is a subreaper, so the orphans become its children
and their exit status can be read."""

import ctypes
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import Clusterm, report, wait_until  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36
# LC_ORPHAN_WAIT_MS after SIGTERM, then SIGKILL: the bound on the old processes.
ORPHAN_BOUND_S = 5.0 + 5.0

# ansible.command: the configure playbook behaves as $OUT/mode says.
#   member: leaves a member in its group, then waits (dies on SIGTERM);
#   ignore: ignores SIGTERM (as its children do) and loops.
FAKE = r"""#!/bin/sh
out=%(out)s
pb=
for a in "$@"; do pb=$(basename "$a"); done
[ "$pb" = site.yml ] || exit 0
case $(cat "$out/mode") in
member)
    sleep 300 &
    echo $! > "$out/member.pid"
    echo $$ > "$out/leader.pid"
    wait;;
ignore)
    trap '' TERM
    echo $$ > "$out/leader.pid"
    while :; do sleep 1; done;;
esac
"""


def read_pid(path):
    try:
        with open(path) as f:
            text = f.read()
        return int(text) if text.endswith("\n") else None
    except (OSError, ValueError):
        return None


def reaped(pid):
    """The wait status of pid (a child of ours) once it has ended, else None."""
    try:
        got, st = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return -1
    return st if got == pid else None


class Orphans(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-orphans-")
        self.fake = os.path.join(self.tmp, "fake-ansible")
        with open(self.fake, "w") as f:
            f.write(FAKE % {"out": self.tmp})
        os.chmod(self.fake, 0o700)
        self.pids = []
        self.c = Clusterm(config={
            "monitor": {"grace_s": 0},
            "ansible": {"command": self.fake, "playbook_location": self.tmp,
                        "timeout_s": 600},
        })

    def tearDown(self):
        self.c.cleanup()
        for pid in self.pids:
            if reaped(pid) is None:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def commission_then_crash(self, mode, names):
        with open(os.path.join(self.tmp, "mode"), "w") as f:
            f.write(mode)
        self.c.start()
        st, body, _ = self.c.post("/monitor/event/discovered", [report("n1", "127.0.7.1")])
        self.assertEqual(st, 200, body)
        st, body, _ = self.c.post("/commission/nodes",
                                  {"nodes": ["n1"], "host_group": "service-master"})
        self.assertEqual(st, 200, body)
        self.job = body["job_id"]
        pids = {}
        for name in names:
            pids[name] = wait_until(lambda: read_pid(os.path.join(self.tmp, name + ".pid")),
                                    what=name + ".pid")
            self.pids.append(pids[name])
        # The start is in the log before the crash.
        wait_until(lambda: self.c.get("/api/v1/jobs/%d" % self.job)[1]["status"] == "Running")
        self.c.kill9()
        # The job's extra-vars files (secrets, often) are left behind by the crash.
        self.assertTrue(self.vars_files(), "no extra-vars file while the job ran")
        return pids

    def vars_files(self):
        jobs = os.path.join(self.c.state_dir, "jobs")
        return sorted(f for f in os.listdir(jobs) if f.endswith(".vars.json"))

    def restart_and_check(self):
        t0 = time.monotonic()
        # Recovery ends the old groups before clusterm listens: up to the bound.
        self.c.start(wait=False)
        self.c.wait_ready(timeout=ORPHAN_BOUND_S + 10)
        _, j, _ = self.c.get("/api/v1/jobs/%d" % self.job)
        self.assertEqual(j["status"], "Errored", j)
        self.assertIn("clusterm restarted", j.get("error", ""), j)
        self.assertEqual(self.c.node("n1")["status"], "Unallocated")
        # The restart removes what the crashed run left.
        self.assertEqual(self.vars_files(), [])
        return t0

    def wait_killed(self, pid, t0, sig):
        st = wait_until(lambda: reaped(pid), timeout=ORPHAN_BOUND_S + 2,
                        what="process %d to end" % pid)
        took = time.monotonic() - t0
        self.assertLess(took, ORPHAN_BOUND_S + 2)
        self.assertTrue(os.WIFSIGNALED(st) and os.WTERMSIG(st) == sig,
                        "process %d: wait status %r" % (pid, st))

    def test_member_left_in_the_group(self):
        pids = self.commission_then_crash("member", ("leader", "member"))
        # The leader dies with its parent; the member it left does not.
        self.wait_killed(pids["leader"], time.monotonic(), signal.SIGTERM)
        time.sleep(0.5)
        self.assertIsNone(reaped(pids["member"]), "the member ended before the restart")
        t0 = self.restart_and_check()
        self.wait_killed(pids["member"], t0, signal.SIGTERM)
        self.assertIn("killed process group %d" % pids["leader"], self.c.log())

    def test_leader_ignoring_sigterm(self):
        pids = self.commission_then_crash("ignore", ("leader",))
        time.sleep(0.5)
        self.assertIsNone(reaped(pids["leader"]), "the leader ended before the restart")
        t0 = self.restart_and_check()
        self.wait_killed(pids["leader"], t0, signal.SIGKILL)
        log = self.c.log()
        self.assertIn("SIGKILL", log)
        self.assertIn("killed process group %d" % pids["leader"], log)

    def test_nothing_left(self):
        """A job whose processes have all ended: nothing to kill, the job still ends."""
        pids = self.commission_then_crash("member", ("leader", "member"))
        self.wait_killed(pids["leader"], time.monotonic(), signal.SIGTERM)
        os.kill(pids["member"], signal.SIGKILL)
        wait_until(lambda: reaped(pids["member"]) is not None)
        self.restart_and_check()
        self.assertNotIn("killed process group", self.c.log())


if __name__ == "__main__":
    unittest.main()
