"""serf-forwarder with a spool it cannot use, against the real clusterm: a
file where the spool directory should be, a read-only and a full file
system (tmpfs mounts, skipped when mounting is not permitted), and
unusable files in incoming/. The event must reach clusterm when it is up;
exit 2 only when it could neither deliver nor spool (CONTRACT section 6)."""

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import Clusterm, free_port  # noqa: E402
from fwd_util import member_line, run_fwd  # noqa: E402

MOUNT_TIMEOUT_S = 10


def try_mount(target, opts):
    """Mounts a tmpfs with opts on target; None, or why it could not."""
    try:
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", target],
                           capture_output=True, text=True, timeout=MOUNT_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    return None if p.returncode == 0 else (p.stderr.strip() or "mount failed")


def remount_ro(target):
    p = subprocess.run(["mount", "-o", "remount,ro", target], capture_output=True,
                       text=True, timeout=MOUNT_TIMEOUT_S)
    return None if p.returncode == 0 else (p.stderr.strip() or "remount failed")


def umount(target):
    subprocess.run(["umount", target], capture_output=True, timeout=MOUNT_TIMEOUT_S)


class SpoolTroubleTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="fwd-spool-test-")
        self.cm = Clusterm(config={"monitor": {"grace_s": 0}})
        self.down_url = "http://127.0.0.1:%d" % free_port()

    def tearDown(self):
        self.cm.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fwd(self, spool, name, url=None, event="member-join", t="3"):
        line = member_line(name, "127.0.0.1", rack="r1")
        return run_fwd(["-s", spool, "-t", t, "-u", url or self.cm.url()], event=event,
                       stdin=line, self_name="rep1")

    def assertRun(self, p, rc):
        self.assertEqual(p.returncode, rc, "stdout=%r stderr=%r" % (p.stdout, p.stderr))

    def mount(self, opts):
        """A tmpfs in the temp dir, unmounted at the end whatever happens."""
        target = os.path.join(self.tmp, "mnt")
        os.makedirs(target, exist_ok=True)
        why = try_mount(target, opts)
        if why is not None:
            self.skipTest("cannot mount a tmpfs here: %s" % why)
        self.addCleanup(umount, target)
        return target

    def check_direct_and_fail(self, spool, errtext, name):
        """Up: delivered without the spool, exit 0. Down: exit 2, saying so."""
        p = self.fwd(spool, name + "-up")
        self.assertRun(p, 0)
        self.assertIn(spool, p.stderr)
        self.assertIn(errtext, p.stderr)
        self.assertIn("delivered", p.stderr)
        self.assertNotIn("LOST", p.stderr)
        self.assertEqual(self.cm.state_of(name + "-up"), "Discovered")

        p = self.fwd(spool, name + "-down", url=self.down_url)
        self.assertRun(p, 2)
        self.assertIn("could neither deliver nor spool", p.stderr)
        self.assertIn(spool, p.stderr)
        self.assertIn(errtext, p.stderr)
        self.assertIsNone(self.cm.node(name + "-down"))

    def test_file_at_spool_path(self):
        self.cm.start()
        spool = os.path.join(self.tmp, "spool")
        with open(spool, "w") as f:
            f.write("not a directory\n")
        self.check_direct_and_fail(spool, "Not a directory", "fa")
        # below a file, too
        self.check_direct_and_fail(os.path.join(spool, "sub"), "Not a directory", "fb")

    def test_read_only_spool(self):
        self.cm.start()
        mnt = self.mount("size=1m,mode=0700")
        spool = os.path.join(mnt, "spool")
        p = self.fwd(spool, "ro-init")             # a spool in use before
        self.assertRun(p, 0)
        why = remount_ro(mnt)
        if why is not None:
            self.skipTest("cannot remount read-only: %s" % why)
        self.check_direct_and_fail(spool, "Read-only file system", "ro")
        # a spool that was never created, on a read-only file system
        self.check_direct_and_fail(os.path.join(mnt, "fresh"), "Read-only file system",
                                   "rf")

    def test_full_spool(self):
        self.cm.start()
        mnt = self.mount("size=64k,mode=0700")
        spool = os.path.join(mnt, "spool")
        p = self.fwd(spool, "full-init")
        self.assertRun(p, 0)
        # fill the file system to the last block
        fd = os.open(os.path.join(mnt, "filler"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            for size in (4096, 512, 1):
                try:
                    while True:
                        os.write(fd, b"x" * size)
                except OSError:
                    pass
        finally:
            os.close(fd)
        p = self.fwd(spool, "full-up")
        self.assertRun(p, 0)
        self.assertIn("delivered", p.stderr)
        self.assertNotIn("LOST", p.stderr)
        self.assertEqual(self.cm.state_of("full-up"), "Discovered")
        p = self.fwd(spool, "full-down", url=self.down_url)
        self.assertRun(p, 2)
        self.assertIn("could neither deliver nor spool", p.stderr)
        self.assertIn("No space left on device", p.stderr)
        self.assertIn(spool, p.stderr)
        # room again: spooling works, then the spool is delivered
        os.unlink(os.path.join(mnt, "filler"))
        p = self.fwd(spool, "full-later", url=self.down_url)
        self.assertRun(p, 0)
        self.assertIn("spooled", p.stderr)
        p = run_fwd(["-s", spool, "-u", self.cm.url(), "flush"])
        self.assertRun(p, 0)
        self.assertEqual(self.cm.state_of("full-later"), "Discovered")

    def test_unusable_incoming_files(self):
        self.cm.start()
        spool = os.path.join(self.tmp, "spool")
        incoming = os.path.join(spool, "incoming")
        self.assertRun(self.fwd(spool, "in-init"), 0)
        # a run that finds the spool locked writes its batch to incoming/
        lock = open(os.path.join(spool, "lock"), "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            p = self.fwd(spool, "in-a", t="0.5")
            self.assertRun(p, 0)
            self.assertIn("incoming", p.stderr)
        finally:
            lock.close()
        good = [f for f in os.listdir(incoming) if not f.startswith(".")]
        self.assertEqual(len(good), 1, good)
        # entries named like batches, written "before" it: garbage, a
        # directory, a FIFO (opening it would block), a dangling symlink
        boot = good[0][39:]
        bad = ["%020d-0000000001-%06d-%s" % (i + 1, i, boot) for i in range(4)]
        with open(os.path.join(incoming, bad[0]), "wb") as f:
            f.write(b"\x10\x00\x00\x00garbage")
        os.mkdir(os.path.join(incoming, bad[1]))
        os.mkfifo(os.path.join(incoming, bad[2]))
        os.symlink("/nonexistent/batch", os.path.join(incoming, bad[3]))

        p = self.fwd(spool, "in-b")
        # delivered; 3 because spool files were set aside (serf-forwarder(1))
        self.assertRun(p, 3)
        self.assertIn("unusable files moved from incoming/", p.stderr)
        self.assertEqual(self.cm.state_of("in-a"), "Discovered")
        self.assertEqual(self.cm.state_of("in-b"), "Discovered")
        self.assertEqual([f for f in os.listdir(incoming) if not f.startswith(".")], [])
        self.assertEqual(sorted(os.listdir(os.path.join(spool, "corrupt"))), sorted(bad))
        # and the next run is clean again
        self.assertRun(self.fwd(spool, "in-c"), 0)
        self.assertEqual(self.cm.state_of("in-c"), "Discovered")


def main():
    """unittest.main with meson's exit codes: 77 (SKIP) when all were skipped."""
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun > 0 and len(r.skipped) == r.testsRun:
        sys.exit(77)
    sys.exit(0)


if __name__ == "__main__":
    main()
