"""The orderly stop and the bound on streams: with a follower attached to a
running job (GET /api/v1/jobs/1/log?follow=1), SIGTERM ends clusterm within
5 s with exit 0, the follower's chunked stream ends cleanly after a line
saying clusterm is stopping, and the job's playbook is gone. Followers
beyond manager.max_streams get 503 naming the key while intake still
answers."""

import http.client
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import Clusterm, report, wait_until  # noqa: E402

STOP_BOUND_S = 5.0
MAX_STREAMS = 2

# ansible.command: the configure playbook records its pid and sleeps.
FAKE = r"""#!/bin/sh
pb=
for a in "$@"; do pb=$(basename "$a"); done
if [ "$pb" = site.yml ]; then
    echo "configuring"
    echo $$ > %(out)s/playbook.pid
    exec sleep 300
fi
exit 0
"""


def alive(pid):
    """Whether pid is a live process (a zombie is not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Follower:
    """GET .../log?follow=1 in a thread: the status, then the whole body."""

    def __init__(self, port, job_id):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.conn.request("GET", "/api/v1/jobs/%d/log?follow=1" % job_id)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.body = b""
        self.error = None
        self.eof = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            # read() raises IncompleteRead unless the chunked stream ends cleanly.
            self.body = self.resp.read()
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        self.eof.set()

    def close(self):
        self.conn.close()
        self.thread.join(10)


class Shutdown(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clusterm-shutdown-")
        self.fake = os.path.join(self.tmp, "fake-ansible")
        with open(self.fake, "w") as f:
            f.write(FAKE % {"out": self.tmp})
        os.chmod(self.fake, 0o700)
        self.followers = []
        self.c = Clusterm(config={
            "manager": {"max_streams": MAX_STREAMS},
            "monitor": {"grace_s": 0},
            "ansible": {"command": self.fake, "playbook_location": self.tmp,
                        "timeout_s": 600},
        }).start()
        st, body, _ = self.c.post("/monitor/event/discovered", [report("n1", "127.0.5.1")])
        self.assertEqual(st, 200, body)
        st, body, _ = self.c.post("/commission/nodes",
                                  {"nodes": ["n1"], "host_group": "service-master"})
        self.assertEqual(st, 200, body)
        self.job = body["job_id"]
        self.pidfile = os.path.join(self.tmp, "playbook.pid")
        wait_until(lambda: self.playbook_pid(), what="the playbook to start")

    def playbook_pid(self):
        try:
            with open(self.pidfile) as f:
                text = f.read()
            return int(text) if text.endswith("\n") else None
        except (OSError, ValueError):
            return None

    def tearDown(self):
        for f in self.followers:
            f.close()
        self.c.cleanup()
        pid = self.playbook_pid()
        if pid is not None and alive(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def follow(self):
        f = Follower(self.c.port, self.job)
        self.followers.append(f)
        return f

    def test_sigterm_with_follower(self):
        f = self.follow()
        self.assertEqual(f.status, 200)
        pid = self.playbook_pid()
        # The 200 came after the handler took its stream slot; the log has started.
        wait_until(lambda: os.path.getsize(os.path.join(self.c.state_dir, "jobs",
                                                         "%d.log" % self.job)) > 0)
        t0 = time.monotonic()
        self.c.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.c.proc.wait(STOP_BOUND_S + 5)
        except Exception:  # noqa: BLE001
            rc = None
        took = time.monotonic() - t0
        self.assertIsNotNone(rc, "clusterm did not exit after SIGTERM:\n" + self.c.log())
        self.assertLess(took, STOP_BOUND_S, "SIGTERM took %.2f s" % took)
        self.assertEqual(rc, 0, self.c.log())
        self.assertTrue(f.eof.wait(STOP_BOUND_S), "the follower's stream did not end")
        self.assertIsNone(f.error, "the stream did not end cleanly: %r" % (f.error,))
        text = f.body.decode("utf-8", "replace")
        self.assertIn("configuring", text)
        self.assertTrue(text.rstrip("\n").endswith("clusterm is stopping: this stream ends here"),
                        text[-300:])
        # The playbook was stopped with clusterm, and recorded as stopped.
        wait_until(lambda: not alive(pid), timeout=STOP_BOUND_S, what="the playbook to end")
        self.c.proc = None
        self.c.logf.close()
        self.c.start()
        st, j, _ = self.c.get("/api/v1/jobs/%d" % self.job)
        self.assertEqual(st, 200)
        self.assertEqual(j["status"], "Errored", j)
        self.assertIn("clusterm stopped", json.dumps(j))

    def test_max_streams(self):
        for _ in range(MAX_STREAMS):
            self.assertEqual(self.follow().status, 200)
        st, body, _ = self.c.get("/api/v1/jobs/%d/log?follow=1" % self.job)
        self.assertEqual(st, 503, body)
        self.assertIn("manager.max_streams", json.dumps(body))
        # Intake is not starved by the followers.
        for i in range(5):
            st, body, _ = self.c.post("/monitor/event/discovered",
                                      [report("m%d" % i, "127.0.6.%d" % (i + 1))])
            self.assertEqual(st, 200, body)
        # The whole log is not a stream: still served.
        st, _, _ = self.c.get("/api/v1/jobs/%d/log" % self.job)
        self.assertEqual(st, 200)
        t0 = time.monotonic()
        self.assertEqual(self.c.stop(), 0, self.c.log())
        self.assertLess(time.monotonic() - t0, STOP_BOUND_S)
        for f in self.followers:
            self.assertTrue(f.eof.wait(STOP_BOUND_S))
            self.assertIsNone(f.error)


if __name__ == "__main__":
    unittest.main()
