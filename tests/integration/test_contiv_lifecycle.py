"""Drop-in compatibility with contiv's clients, lifecycle part, black box,
with the real ansible-playbook running tests/playbooks: the refusals and
rules of CONTRACT 3.3 that contiv's clusterm has, asked with the exact
bodies contiv's Go client sends (see test_contiv.py for their shape), on
the multi-node paths and on the single-node ones contiv's clusterctl
`node commission|decommission|update NAME` uses."""

import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from util import SOURCE_DIR, Clusterm, wait_until  # noqa: E402
from test_contiv import NO_EVENT, contiv_config, go_body, go_str  # noqa: E402

PLAYBOOKS = os.path.join(SOURCE_DIR, "tests", "playbooks")
JOB_WAIT_S = 120
NODES = {"m1": "127.0.4.1", "w1": "127.0.4.2", "w2": "127.0.4.3"}


def monitor_body(name, label, addr):
    """contiv's monitor: one node per POST, the enum's String() as name."""
    return go_body('"monitor_event":{"name":%s,"nodes":[{"label":%s,"serial":"","addr":%s}]}'
                   % (go_str(name), go_str(label), go_str(addr)))


def nodes_body(nodes, host_group="", extra_vars=""):
    """PostNodesCommission / PostNodesDecommission / PostNodesUpdate."""
    members = ['"nodes":' + json.dumps(nodes, separators=(",", ":"))]
    if host_group:
        members.append('"host_group":' + go_str(host_group))
    if extra_vars:
        members.append('"extra_vars":' + go_str(extra_vars))
    return go_body(*(members + [NO_EVENT]))


def node_body(host_group="", extra_vars=""):
    """PostNodeCommission / PostNodeDecommission / PostNodeUpdate: no "nodes",
    the path names the node."""
    members = []
    if host_group:
        members.append('"host_group":' + go_str(host_group))
    if extra_vars:
        members.append('"extra_vars":' + go_str(extra_vars))
    return go_body(*(members + [NO_EVENT]))


def discover_body(addrs):
    """PostNodesDiscover."""
    return go_body('"addrs":' + json.dumps(addrs, separators=(",", ":")), NO_EVENT)


@unittest.skipUnless(shutil.which("ansible-playbook"), "ansible-playbook is not installed")
class ContivLifecycle(unittest.TestCase):
    def setUp(self):
        self.markers = tempfile.mkdtemp(prefix="clusterm-markers-")
        self.c = None
        self.start()

    def start(self, **manager):
        if self.c is not None:
            self.c.cleanup()
        self.c = Clusterm(config={
            "monitor": {"grace_s": 0},
            "manager": manager,
            "ansible": {"playbook_location": PLAYBOOKS,
                        "extra_variables": '{"marker_dir": "%s", "sleep_s": 2}' % self.markers,
                        "timeout_s": 120},
        }).start()
        for name in NODES:
            self.monitor("Discovered", name)

    def tearDown(self):
        try:
            # A clean stop: a sanitizer build exits non-zero on a leak.
            self.assertEqual(self.c.stop(), 0, self.c.log()[-3000:])
        finally:
            self.c.cleanup()
            shutil.rmtree(self.markers, ignore_errors=True)

    def monitor(self, event, name):
        st, body, _ = self.c.post("/monitor/event", monitor_body(event, name, NODES[name]))
        self.assertEqual(st, 200, body)

    def post(self, path, body, want=200):
        st, reply, _ = self.c.post(path, body)
        self.assertEqual(st, want, reply)
        return reply

    def refused(self, path, body, want, *texts):
        err = self.post(path, body, want)["error"]
        for t in texts:
            self.assertIn(t, err)
        return err

    def jobs(self):
        return self.c.get("/api/v1/jobs")[1]["jobs"]

    def wait_job(self, job_id):
        def ended():
            st, j, _ = self.c.get("/api/v1/jobs/%d" % job_id)
            return j if j["status"] in ("Complete", "Errored") else None
        return wait_until(ended, timeout=JOB_WAIT_S, interval=0.2, what="job %d" % job_id)

    def status(self, name):
        return self.c.node(name)["status"]

    def group(self, name):
        return self.c.get("/info/node/" + name)[1]["configuration_state"]["host_group"]

    def commissioned(self, nodes, group):
        job = self.post("/commission/nodes", nodes_body(nodes, group))["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        for n in nodes:
            self.assertEqual(self.status(n), "Allocated")

    def slow(self):
        self.post("/config", contiv_config({"configure_playbook": "slow.yml"}))

    # CONTRACT 3.3: update and decommission need every node Discovered.
    def test_disappeared_node_cannot_be_updated_or_decommissioned(self):
        self.commissioned(["m1"], "service-master")
        self.commissioned(["w1"], "service-worker")
        self.monitor("Disappeared", "w1")
        self.assertEqual(self.c.state_of("w1"), "Disappeared")
        before = self.jobs()
        for path, body in [("/update/nodes", nodes_body(["w1"])),
                           ("/update/nodes", nodes_body(["m1", "w1"])),
                           ("/decommission/nodes", nodes_body(["w1"])),
                           ("/decommission/nodes", nodes_body(["w1", "m1"])),
                           ("/update/node/w1", node_body()),
                           ("/decommission/node/w1", node_body())]:
            with self.subTest(path=path, body=body):
                self.refused(path, body, 409, "one or more nodes are not in discovered state",
                             "w1")
                self.assertEqual(self.jobs(), before)
                self.assertEqual(self.status("w1"), "Allocated")
                self.assertEqual(self.status("m1"), "Allocated")

    # Without manager.queue_jobs, a request while max_jobs (1) jobs run is refused.
    def test_active_job_refused_without_queue_jobs(self):
        # Slow enough for both refusals below; cancelled at the end.
        self.post("/config", contiv_config({
            "configure_playbook": "slow.yml",
            "extra_variables": '{"marker_dir": "%s", "sleep_s": 60}' % self.markers}))
        job = self.post("/commission/nodes", nodes_body(["m1"], "service-master"))["job_id"]
        wait_until(lambda: os.path.exists(os.path.join(self.markers, "m1.started")),
                   timeout=JOB_WAIT_S, what="slow playbook start")
        before = self.jobs()
        # Disjoint nodes, still refused: the one slot is taken.
        self.refused("/commission/nodes", nodes_body(["w2"], "service-master"), 409,
                     "there is already an active job")
        self.refused("/discover/nodes", discover_body(["127.0.5.1"]), 409,
                     "there is already an active job")
        self.assertEqual(self.jobs(), before)
        self.assertEqual(self.status("w2"), "Unallocated")
        st, body, _ = self.c.post("/api/v1/jobs/%d/cancel" % job, None)
        self.assertEqual(st, 202, body)
        self.assertEqual(self.wait_job(job)["status"], "Errored")
        self.assertEqual(self.status("m1"), "Unallocated")

    def test_queue_jobs_true_waits_queued(self):
        self.start(queue_jobs=True)
        self.slow()
        first = self.post("/commission/nodes", nodes_body(["m1"], "service-master"))["job_id"]
        r = self.post("/discover/nodes", discover_body(["127.0.5.2"]))
        self.assertEqual(r["job"]["status"], "Queued")
        self.assertEqual(self.wait_job(first)["status"], "Complete")
        self.assertEqual(self.wait_job(r["job_id"])["status"], "Complete")

    # A multi-node job keeps each node's own group unless the request names one.
    def test_multi_node_update_keeps_each_group(self):
        self.commissioned(["m1"], "service-master")
        self.commissioned(["w1"], "service-worker")
        job = self.post("/update/nodes", nodes_body(["m1", "w1"]))["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertEqual((self.group("m1"), self.group("w1")), ("service-master", "service-worker"))
        with open(os.path.join(self.markers, "m1.configure")) as f:
            self.assertEqual(f.read(), "m1 127.0.4.1 service-master\n")
        with open(os.path.join(self.markers, "w1.configure")) as f:
            self.assertEqual(f.read(), "w1 127.0.4.2 service-worker\n")
        # Naming a group moves them all.
        self.commissioned(["w2"], "service-master")
        job = self.post("/update/nodes", nodes_body(["w1", "w2"], "service-worker"))["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertEqual((self.group("w1"), self.group("w2")), ("service-worker", "service-worker"))

    # contiv's wording inside ours, with our status codes.
    def test_lifecycle_refusal_messages(self):
        before = self.jobs()
        self.refused("/commission/nodes", nodes_body(["nope"], "service-master"), 404,
                     "doesn't exists", "nope")
        self.refused("/commission/nodes", nodes_body(["m1"]), 400,
                     "invalid or empty host-group specified")
        self.refused("/commission/nodes", nodes_body(["m1"], "service-x"), 400,
                     "invalid or empty host-group specified", "service-x")
        self.refused("/update/nodes", nodes_body(["m1"]), 409,
                     "transition from", "Unallocated", "is not allowed")
        self.refused("/decommission/nodes", nodes_body(["m1"]), 409,
                     "transition from", "Unallocated", "is not allowed")
        self.assertEqual(self.jobs(), before)
        self.assertEqual(self.status("m1"), "Unallocated")
        self.commissioned(["m1"], "service-master")
        self.refused("/update/nodes", nodes_body(["m1"], "service-x"), 400,
                     "host-group specified", "service-x")
        self.refused("/commission/nodes", nodes_body(["m1"], "service-master"), 409,
                     "transition from", "Allocated", "is not allowed")
        self.assertEqual(self.status("m1"), "Allocated")

    # The other refusals contiv has words for.
    def test_more_contiv_refusal_messages(self):
        self.refused("/commission/nodes", go_body('"host_group":"service-master"', NO_EVENT),
                     400, "atleast one node should be specified")
        self.refused("/commission/nodes", nodes_body([], "service-master"), 400,
                     "atleast one node should be specified")
        self.refused("/commission/nodes", nodes_body(["m1"], "service-master", "{not json"),
                     400, '"extra_vars" should be a valid json. Error:')
        self.refused("/discover/nodes", discover_body(["127.0.5.9", "127.0.4.2", "127.0.4.1"]),
                     409, "one or more nodes already exist with the specified management "
                     "addresses. Existing nodes: [", "w1:127.0.4.2", "m1:127.0.4.1")
        self.refused("/commission/nodes", nodes_body(["w1"], "service-worker"), 409,
                     "Cannot commission a worker node without existence of a master node "
                     "in the cluster, make sure atleast one master node is commissioned.")
        self.assertEqual(self.jobs(), [])
        self.commissioned(["m1"], "service-master")
        self.commissioned(["w1"], "service-worker")
        self.refused("/update/nodes", nodes_body(["m1"], "service-worker"), 409,
                     "Updating these nodes as worker will result in no master node in the "
                     "cluster, make sure atleast one node is commissioned as master.")
        self.refused("/decommission/nodes", nodes_body(["m1"]), 409,
                     "decommissioning the specified node(s) will leave only worker nodes in "
                     "the cluster, make sure all worker nodes are decommissioned before last "
                     "master node.")
        self.assertEqual((self.status("m1"), self.group("m1")), ("Allocated", "service-master"))
        self.assertEqual(len(self.jobs()), 2)

    # clusterctl node commission|update|decommission NAME: the single-node paths.
    def test_single_node_paths(self):
        r = self.post("/commission/node/m1", node_body("service-master"))
        self.assertEqual((r["job"]["operation"], r["job"]["nodes"]), ("commission", ["m1"]))
        self.assertEqual(self.wait_job(r["job_id"])["status"], "Complete")
        self.assertEqual((self.status("m1"), self.group("m1")), ("Allocated", "service-master"))
        with open(os.path.join(self.markers, "m1.configure")) as f:
            self.assertEqual(f.read(), "m1 127.0.4.1 service-master\n")
        # Request extra vars reach the playbook as on the multi-node path.
        other = tempfile.mkdtemp(prefix="clusterm-markers-", dir=self.markers)
        job = self.post("/commission/node/w1", node_body(
            "service-worker", '{"marker_dir": "%s"}' % other))["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        with open(os.path.join(other, "w1.configure")) as f:
            self.assertEqual(f.read(), "w1 127.0.4.2 service-worker\n")
        # Update without a group keeps the node's own.
        job = self.post("/update/node/w1", node_body())["job_id"]
        self.assertEqual(self.status("w1"), "Maintenance")
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertEqual((self.status("w1"), self.group("w1")), ("Allocated", "service-worker"))
        self.assertEqual(self.c.get("/api/v1/jobs/%d" % job)[1]["nodes"], ["w1"])
        before = self.jobs()
        # The same rules and words as the multi-node paths; nothing changes.
        self.refused("/update/node/w1", node_body("service-x"), 400,
                     "invalid host-group specified", "service-x")
        self.refused("/decommission/node/m1", node_body(), 409,
                     "will leave only worker nodes in the cluster")
        self.refused("/decommission/node/w2", node_body(), 409,
                     "transition from", "Unallocated", "is not allowed")
        self.refused("/commission/node/m1", node_body("service-master"), 409,
                     "transition from", "Allocated", "is not allowed")
        self.refused("/commission/node/nope", node_body("service-master"), 404,
                     "doesn't exists", "nope")
        self.refused("/commission/node/w2", node_body(), 400,
                     "invalid or empty host-group specified")
        # The path names the node: a body naming nodes too is refused.
        self.refused("/commission/node/w2", nodes_body(["w2"], "service-master"), 400,
                     "nodes", "w2")
        self.refused("/update/node/w1", nodes_body(["m1"]), 400, "nodes")
        self.assertEqual(self.c.get("/commission/node/w2")[0], 405)
        self.assertEqual(self.c.post("/commission/node/", node_body("service-master"))[0], 404)
        self.assertEqual(self.c.post("/commission/node/w2/x", node_body("service-master"))[0],
                         404)
        self.assertEqual(self.jobs(), before)
        self.assertEqual(self.status("w2"), "Unallocated")
        self.assertEqual(self.status("m1"), "Allocated")
        # Decommission, worker first, then the last master.
        job = self.post("/decommission/node/w1", node_body())["job_id"]
        self.assertEqual(self.status("w1"), "Cancelled")
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertEqual(self.status("w1"), "Decommissioned")
        self.assertTrue(os.path.exists(os.path.join(self.markers, "w1.cleanup")))
        job = self.post("/decommission/node/m1", node_body())["job_id"]
        self.assertEqual(self.wait_job(job)["status"], "Complete")
        self.assertEqual(self.status("m1"), "Decommissioned")


if __name__ == "__main__":
    unittest.main(verbosity=2)
