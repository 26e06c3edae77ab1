"""Extra-vars secrets never reach a command line: a commission through the
real clusterm (clusterctl -e) runs ansible.command, here a small script
that records its own /proc/PID/cmdline and the vars file it is handed. The
secret is in a 0600 file, not in argv, and the file is gone after the job,
whether it completed, failed or was cancelled."""

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import CLUSTERCTL, Clusterm, report, wait_until  # noqa: E402

JOB_WAIT_S = 60
SECRET = "s3cret"

# Records argv (from /proc, NUL separated) and the @file's mode, content and
# path under $OUT/<playbook>.<pid>.*, then behaves as FAKE_MODE in the
# marker file says: exit 0, exit 1, or sleep (to be cancelled).
FAKE = r"""#!/bin/sh
out=%(out)s
pb=
for a in "$@"; do pb=$(basename "$a"); done
tag="$out/$pb.$$"
cat /proc/$$/cmdline > "$tag.cmdline"
for a in "$@"; do
    case "$a" in
    @*) f="${a#@}"
        stat -c %%a "$f" > "$tag.mode"
        cat "$f" > "$tag.content"
        printf '%%s' "$f" > "$tag.path";;
    esac
done
mode=$(cat "$out/mode" 2>/dev/null)
case "$pb:$mode" in
site.yml:fail) exit 1;;
site.yml:sleep) touch "$out/sleeping"; exec sleep 300;;
esac
exit 0
"""


class Secrets(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-secrets-")
        self.out = os.path.join(self.tmp, "out")
        os.mkdir(self.out)
        self.fake = os.path.join(self.tmp, "fake-ansible")
        with open(self.fake, "w") as f:
            f.write(FAKE % {"out": self.out})
        os.chmod(self.fake, 0o700)
        self.c = Clusterm(config={
            "monitor": {"grace_s": 0},
            "ansible": {"command": self.fake, "playbook_location": self.tmp,
                        "extra_variables": '{"from_config": 1}', "timeout_s": 60},
        }).start()
        for i, name in enumerate(("s1", "s2", "s3")):
            st, body, _ = self.c.post("/monitor/event/discovered",
                                      [report(name, "127.0.3.%d" % (i + 1))])
            self.assertEqual(st, 200, body)

    def tearDown(self):
        self.c.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def set_mode(self, mode):
        with open(os.path.join(self.out, "mode"), "w") as f:
            f.write(mode)

    def ctl(self, *args):
        e = {k: v for k, v in os.environ.items() if k not in ("CLUSTERM_URL", "CLUSTERM_TOKEN")}
        e["CLUSTERM_URL"] = self.c.url()
        p = subprocess.run([CLUSTERCTL] + list(args), env=e, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def commission(self, node):
        out = self.ctl("node", "commission", node, "-g", "service-master", "-e",
                       json.dumps({"db_password": SECRET}), "-j")
        return json.loads(out)["job_id"]

    def wait_job(self, job_id):
        def ended():
            _, j, _ = self.c.get("/api/v1/jobs/%d" % job_id)
            return j if j["status"] in ("Complete", "Errored") else None
        return wait_until(ended, timeout=JOB_WAIT_S, interval=0.1, what="job %d" % job_id)

    def runs(self, playbook):
        """What each run of the fake command for playbook recorded."""
        runs = []
        for name in sorted(os.listdir(self.out)):
            if name.startswith(playbook + ".") and name.endswith(".cmdline"):
                base = os.path.join(self.out, name[:-len(".cmdline")])
                r = {}
                for k in ("cmdline", "mode", "content", "path"):
                    with open(base + "." + k, "rb") as f:
                        r[k] = f.read()
                runs.append(r)
        return runs

    def check_run(self, r):
        argv = r["cmdline"].split(b"\0")
        self.assertNotIn(SECRET.encode(), r["cmdline"], argv)
        self.assertIn(b"--extra-vars", argv)
        at = argv[argv.index(b"--extra-vars") + 1]
        self.assertTrue(at.startswith(b"@"), argv)
        self.assertEqual(at[1:], r["path"])
        self.assertEqual(r["mode"].strip(), b"600")
        vars_ = json.loads(r["content"])
        self.assertEqual(vars_["db_password"], SECRET)
        self.assertEqual(vars_["from_config"], 1)
        path = r["path"].decode()
        self.assertTrue(path.startswith(os.path.join(self.c.state_dir, "jobs") + "/"), path)
        self.assertFalse(os.path.lexists(path), "%s is still there" % path)

    def no_vars_files_left(self):
        jobs = os.path.join(self.c.state_dir, "jobs")
        left = [f for f in os.listdir(jobs) if f.endswith(".vars.json")]
        self.assertEqual(left, [])
        st = os.stat(jobs)
        self.assertEqual(stat.S_IMODE(st.st_mode) & 0o077, 0)

    def test_complete(self):
        self.set_mode("ok")
        j = self.wait_job(self.commission("s1"))
        self.assertEqual(j["status"], "Complete", j)
        runs = self.runs("site.yml")
        self.assertEqual(len(runs), 1)
        self.check_run(runs[0])
        self.no_vars_files_left()
        _, log, _ = self.c.get("/api/v1/jobs/%d/log" % j["id"])
        self.assertNotIn(SECRET, log if isinstance(log, str) else json.dumps(log))

    def test_failed_then_cleanup(self):
        self.set_mode("fail")
        j = self.wait_job(self.commission("s2"))
        self.assertEqual(j["status"], "Errored", j)
        self.assertEqual(len(self.runs("site.yml")), 1)
        self.assertEqual(len(self.runs("cleanup.yml")), 1)   # the failure step
        for r in self.runs("site.yml") + self.runs("cleanup.yml"):
            self.check_run(r)
        self.no_vars_files_left()

    def test_cancelled(self):
        self.set_mode("sleep")
        job = self.commission("s3")
        wait_until(lambda: os.path.exists(os.path.join(self.out, "sleeping")),
                   timeout=JOB_WAIT_S, what="the step to start")
        st, body, _ = self.c.post("/api/v1/jobs/%d/cancel" % job, None)
        self.assertIn(st, (200, 202), body)
        j = self.wait_job(job)
        self.assertEqual(j["status"], "Errored", j)
        self.assertIn("cancel", j["error"])
        for r in self.runs("site.yml") + self.runs("cleanup.yml"):
            self.check_run(r)
        self.no_vars_files_left()


if __name__ == "__main__":
    unittest.main(verbosity=2)
