"""Node lifecycle, black box, with the real ansible-playbook (local
connection) running the playbooks of tests/playbooks: commission,
decommission, update, discover, their rules, failure paths, cancel,
timeout, restart recovery, globals and config."""

import os
import shutil
import signal
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import SOURCE_DIR, Clusterm, report, wait_until  # noqa: E402

PLAYBOOKS = os.path.join(SOURCE_DIR, "tests", "playbooks")
JOB_WAIT_S = 120


def have_ansible():
    return shutil.which("ansible-playbook") is not None


@unittest.skipUnless(have_ansible(), "ansible-playbook is not installed")
class Lifecycle(unittest.TestCase):
    def setUp(self):
        self.markers = tempfile.mkdtemp(prefix="clusterm-markers-")
        self.c = Clusterm(config={
            "monitor": {"grace_s": 0},
            "manager": {"max_jobs": 4},
            "ansible": {"playbook_location": PLAYBOOKS,
                        "extra_variables": '{"marker_dir": "%s"}' % self.markers,
                        "timeout_s": 120},
        }).start()
        self.discover("m1", "127.0.2.1")
        self.discover("w1", "127.0.2.2")
        self.discover("w2", "127.0.2.3")

    def tearDown(self):
        self.c.cleanup()
        shutil.rmtree(self.markers, ignore_errors=True)

    def discover(self, name, addr):
        st, body, _ = self.c.post("/monitor/event/discovered", [report(name, addr)])
        self.assertEqual(st, 200, body)

    def post(self, path, body, want=200):
        st, reply, _ = self.c.post(path, body)
        self.assertEqual(st, want, reply)
        return reply

    def wait_job(self, job_id):
        def ended():
            st, j, _ = self.c.get("/api/v1/jobs/%d" % job_id)
            return j if j["status"] in ("Complete", "Errored") else None
        return wait_until(ended, timeout=JOB_WAIT_S, interval=0.2, what="job %d" % job_id)

    def status(self, name):
        return self.c.node(name)["status"]

    def commission(self, nodes, group, want=200):
        return self.post("/commission/nodes", {"nodes": nodes, "host_group": group}, want)

    def commissioned(self, nodes, group):
        job = self.commission(nodes, group)["job_id"]
        j = self.wait_job(job)
        self.assertEqual(j["status"], "Complete", j)
        for n in nodes:
            self.assertEqual(self.status(n), "Allocated")
        return j

    def set_config(self, **ansible):
        self.post("/config", {"ansible": ansible})

    def test_commission_runs_the_configure_playbook(self):
        r = self.commission(["m1"], "service-master")
        # The runner starts it on its own thread: either is right at this moment.
        self.assertIn(r["job"]["status"], ("Queued", "Running"))
        self.assertEqual(self.status("m1"), "Provisioning")
        j = self.wait_job(r["job_id"])
        self.assertEqual(j["status"], "Complete", j)
        self.assertEqual(j["exit_code"], 0)
        self.assertEqual(self.status("m1"), "Allocated")
        with open(os.path.join(self.markers, "m1.configure")) as f:
            self.assertEqual(f.read(), "m1 127.0.2.1 service-master\n")
        st, log, _ = self.c.get("/api/v1/jobs/%d/log" % r["job_id"])
        self.assertEqual(st, 200)
        self.assertIn("PLAY RECAP", log)
        # contiv's group names are kept without ansible's warning about them.
        self.assertNotIn("Invalid characters were found in group names", log)
        st, info, _ = self.c.get("/info/node/m1")
        self.assertEqual(info["configuration_state"]["host_group"], "service-master")
        self.assertEqual(info["inventory_state"]["prev_status"], "Provisioning")
        st, last, _ = self.c.get("/info/job/last")
        self.assertEqual(last["id"], r["job_id"])
        self.assertEqual(self.c.get("/info/job/active")[0], 404)
        self.assertEqual(self.c.get("/info/job/bogus")[0], 400)
        st, text, _ = self.c.get("/info/logs/last")
        self.assertIn("PLAY RECAP", text)

    def test_multi_node_commission_and_worker_rules(self):
        # No master yet: a worker is refused, nothing changes.
        r = self.commission(["w1"], "service-worker", 409)
        self.assertIn("service-master", r["error"])
        self.assertEqual(self.status("w1"), "Unallocated")
        self.commissioned(["m1"], "service-master")
        self.commissioned(["w1", "w2"], "service-worker")
        for n in ("w1", "w2"):
            self.assertTrue(os.path.exists(os.path.join(self.markers, n + ".configure")))
        # Already Allocated.
        self.assertIn("Allocated", self.commission(["w1"], "service-worker", 409)["error"])

    def test_bad_requests_change_nothing(self):
        self.assertIn("doesn't exists", self.commission(["nope"], "service-master", 404)["error"])
        self.assertIn("invalid or empty host-group specified",
                      self.commission(["m1"], "", 400)["error"])
        self.assertIn("host-group", self.commission(["m1"], "service-x", 400)["error"])
        self.post("/commission/nodes", {"nodes": "m1", "host_group": "service-master"}, 400)
        self.post("/commission/nodes", {"nodes": ["m1"], "host_group": "service-master",
                                        "extra_vars": "[1]"}, 400)
        self.post("/commission/nodes", {"nodes": ["m1"], "bogus": 1}, 400)
        self.post("/commission/nodes", {"nodes": [], "host_group": "service-master"}, 400)
        self.discover("gone", "127.0.2.9")
        self.c.post("/monitor/event/disappeared", [report("gone", "127.0.2.9")])
        self.assertIn("Disappeared", self.commission(["gone"], "service-master", 409)["error"])
        self.assertEqual(self.c.get("/api/v1/jobs")[1]["jobs"], [])
        for n in ("m1", "w1", "gone"):
            self.assertEqual(self.status(n), "Unallocated")

    def test_provisioning_failure_runs_cleanup(self):
        self.set_config(configure_playbook="site-fail.yml")
        r = self.commission(["m1"], "service-master")
        j = self.wait_job(r["job_id"])
        self.assertEqual(j["status"], "Errored")
        self.assertNotEqual(j["exit_code"], 0)
        self.assertEqual(self.status("m1"), "Unallocated")
        self.assertTrue(os.path.exists(os.path.join(self.markers, "m1.cleanup")))

    def test_decommission_rules(self):
        self.commissioned(["m1"], "service-master")
        self.commissioned(["w1"], "service-worker")
        r = self.post("/decommission/nodes", {"nodes": ["m1"]}, 409)
        self.assertIn("service-worker", r["error"])
        self.assertIn("Unallocated", self.post("/decommission/nodes", {"nodes": ["w2"]}, 409)["error"])
        job = self.post("/decommission/nodes", {"nodes": ["w1", "m1"]})["job_id"]
        self.assertEqual(self.status("m1"), "Cancelled")
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertEqual(self.status("m1"), "Decommissioned")
        self.assertEqual(self.status("w1"), "Decommissioned")
        self.assertTrue(os.path.exists(os.path.join(self.markers, "w1.cleanup")))
        self.post("/decommission/nodes", {"nodes": ["w1"]}, 409)
        # A Decommissioned node can be commissioned again.
        self.commissioned(["m1"], "service-master")

    def test_decommission_always_ends_decommissioned(self):
        self.commissioned(["m1"], "service-master")
        self.set_config(cleanup_playbook="cleanup-fail.yml")
        job = self.post("/decommission/nodes", {"nodes": ["m1"]})["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Errored")
        self.assertEqual(self.status("m1"), "Decommissioned")

    def test_update(self):
        self.commissioned(["m1", "w1"], "service-master")
        self.assertIn("Unallocated", self.post("/update/nodes", {"nodes": ["w2"]}, 409)["error"])
        job = self.post("/update/nodes", {"nodes": ["w1"]})["job_id"]
        self.assertEqual(self.status("w1"), "Maintenance")
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertEqual(self.status("w1"), "Allocated")
        job = self.post("/update/nodes", {"nodes": ["w1"], "host_group": "service-worker"})["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertEqual(self.c.node("w1")["host_group"], "service-worker")
        with open(os.path.join(self.markers, "w1.configure")) as f:
            self.assertIn("service-worker", f.read())
        # Turning the last master into a worker would orphan w1.
        self.assertIn("service-master", self.post(
            "/update/nodes", {"nodes": ["m1"], "host_group": "service-worker"}, 409)["error"])
        self.set_config(configure_playbook="site-fail.yml")
        job = self.post("/update/nodes", {"nodes": ["w1"]})["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Errored")
        self.assertEqual(self.status("w1"), "Unallocated")

    def test_worker_whose_master_disappeared(self):
        self.commissioned(["m1"], "service-master")
        self.c.post("/monitor/event/disappeared", [report("m1", "127.0.2.1")])
        self.assertIn("service-master", self.commission(["w1"], "service-worker", 409)["error"])

    def test_discover(self):
        r = self.post("/discover/nodes", {"addrs": ["127.0.2.1"]}, 409)
        self.assertIn("m1", r["error"])
        self.post("/discover/nodes", {"addrs": ["bad addr"]}, 400)
        job = self.post("/discover/nodes", {"addrs": ["127.0.3.1", "127.0.3.2"]})["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        with open(os.path.join(self.markers, "discover-2.configure")) as f:
            self.assertEqual(f.read(), "discover-2 127.0.3.2 cluster-node\n")

    def test_busy_cancel_and_follow(self):
        self.set_config(configure_playbook="slow.yml")
        job = self.commission(["m1"], "service-master")["job_id"]
        wait_until(lambda: os.path.exists(os.path.join(self.markers, "m1.started")),
                   timeout=JOB_WAIT_S, what="slow playbook start")
        self.assertIn("busy", self.commission(["m1"], "service-master", 409)["error"])
        st, active, _ = self.c.get("/info/job/active")
        self.assertEqual(active["id"], job)
        st, body, _ = self.c.post("/api/v1/jobs/%d/cancel" % job, None)
        self.assertEqual(st, 202, body)
        j = self.wait_job(job)
        self.assertEqual(j["status"], "Errored")
        self.assertIn("cancel", j["error"])
        self.assertEqual(self.status("m1"), "Unallocated")
        self.assertEqual(self.c.post("/api/v1/jobs/%d/cancel" % job, None)[0], 409)
        self.assertEqual(self.c.post("/api/v1/jobs/999/cancel", None)[0], 404)
        st, text, _ = self.c.get("/api/v1/jobs/%d/log?follow=1" % job, timeout=30)
        self.assertEqual(st, 200)
        self.assertIn("m1", text)

    def test_second_job_waits_queued(self):
        self.c.cleanup()
        self.c = Clusterm(config={
            "monitor": {"grace_s": 0}, "manager": {"max_jobs": 1, "queue_jobs": True},
            "ansible": {"playbook_location": PLAYBOOKS, "configure_playbook": "slow.yml",
                        "extra_variables": '{"marker_dir": "%s", "sleep_s": 2}' % self.markers},
        }).start()
        self.discover("m1", "127.0.2.1")
        first = self.commission(["m1"], "service-master")["job_id"]
        r = self.post("/discover/nodes", {"addrs": ["127.0.3.7"]})
        self.assertEqual(r["job"]["status"], "Queued")
        self.assertIsNone(r["job"]["started"])
        self.assertEqual(self.wait_job(first)["status"], "Complete")
        j = self.wait_job(r["job_id"])
        self.assertEqual(j["status"], "Complete")
        self.assertIsNotNone(j["started"])

    def test_timeout(self):
        self.set_config(configure_playbook="slow.yml", timeout_s=3)
        job = self.commission(["m1"], "service-master")["job_id"]
        j = self.wait_job(job)
        self.assertEqual(j["status"], "Errored")
        self.assertIn("time", j["error"])
        self.assertEqual(self.status("m1"), "Unallocated")

    def test_restart_during_a_job_recovers(self):
        self.set_config(configure_playbook="slow.yml")
        job = self.commission(["m1"], "service-master")["job_id"]
        wait_until(lambda: os.path.exists(os.path.join(self.markers, "m1.started")),
                   timeout=JOB_WAIT_S, what="slow playbook start")
        self.c.kill9()
        self.c.start()
        st, j, _ = self.c.get("/api/v1/jobs/%d" % job)
        self.assertEqual(j["status"], "Errored")
        self.assertEqual(j["error"], "clusterm restarted")
        self.assertEqual(self.status("m1"), "Unallocated")
        # The persisted config survived too.
        self.assertEqual(self.c.get("/config")[1]["ansible"]["configure_playbook"], "slow.yml")

    def test_globals_and_config_round_trip(self):
        r = self.post("/globals", {"extra_vars": '{"env": "prod", "marker_dir": "/nonexistent"}'})
        self.assertEqual(r["extra_vars"]["env"], "prod")
        self.post("/globals", {"extra_vars": "not json"}, 400)
        # Request vars win over globals: the marker lands in the real dir.
        job = self.post("/commission/nodes", {
            "nodes": ["m1"], "host_group": "service-master",
            "extra_vars": '{"marker_dir": "%s"}' % self.markers})["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertTrue(os.path.exists(os.path.join(self.markers, "m1.configure")))
        self.post("/config", {"ansible": {"timeout_s": "x"}}, 400)
        self.post("/config", {"monitor": {"grace_s": 1}}, 400)
        self.set_config(user="deploy")
        self.c.stop()
        self.c.start()
        self.assertEqual(self.c.get("/info/globals")[1]["extra_vars"]["env"], "prod")
        self.assertEqual(self.c.get("/config")[1]["ansible"]["user"], "deploy")
        # SIGHUP makes the file the truth again.
        self.c.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.c.get("/config")[1]["ansible"]["user"] == "", what="reload")

    def test_audit_events(self):
        self.commissioned(["m1"], "service-master")
        st, ev, _ = self.c.get("/api/v1/events?node=m1")
        self.assertEqual(st, 200)
        kinds = [(e["kind"], e["old"], e["new"]) for e in ev["events"]]
        self.assertIn(("state", "Unknown", "Discovered"), kinds)
        self.assertIn(("status", "Unallocated", "Provisioning"), kinds)
        self.assertIn(("status", "Provisioning", "Allocated"), kinds)
        self.assertTrue(all(e["actor"] for e in ev["events"]))
        hist = [(h["kind"], h["new"]) for h in self.c.node("m1")["history"]]
        self.assertEqual(hist[-1], ("status", "Allocated"))
        self.assertIn(("state", "Discovered"), hist)
        st, page, _ = self.c.get("/api/v1/events?limit=2")
        self.assertEqual(len(page["events"]), 2)
        st, rest, _ = self.c.get("/api/v1/events?since=%d" % page["next"])
        self.assertTrue(all(e["id"] > page["next"] for e in rest["events"]))
        self.assertEqual(self.c.get("/api/v1/events?limit=0")[0], 400)
        self.assertEqual(self.c.get("/api/v1/events?since=yesterday")[0], 400)


if __name__ == "__main__":
    unittest.main(verbosity=2)
