"""The dashboard's actions and views, in a real headless Chromium (Debian's
python3-selenium), against a real clusterm with tokens and the real
ansible-playbook (local connection) on tests/playbooks: commission from the
page with the admin token (the confirmation names the node; extra vars from
the page reach the playbook), the job's log read live, the node Allocated
in the end, "Last change" counting the status change, the job linked from
the audit log, the jobs list with host group and duration; a running job
cancelled from the page; the server's refusal (409, and 403 to a reader token,
which sees no action buttons) shown in its own words; tag
columns (kept across a reload) and the tag filter; relative times; the
Instances view; the Reporters view with stale rows and spool depth, the
unreachable badge of a node, and forgetting a Disappeared node (each
skipped with its reason while the server lacks the endpoint).

Skipped (exit 77) where selenium, chromium, chromedriver or ansible-playbook
is missing or no browser can start."""

import datetime
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import test_dashboard as td  # noqa: E402
from util import SOURCE_DIR, Clusterm, report, reporter_headers, request, wait_until  # noqa: E402

from test_dashboard import By, Keys, TOKENS, bearer, write_tokens  # noqa: E402,F401

PLAYBOOKS = os.path.join(SOURCE_DIR, "tests", "playbooks")
JOB_WAIT_S = 120
UI_WAIT_S = td.UI_WAIT_S


class Actions(td.DashboardCase):
    def setUp(self):
        super().setUp()
        if shutil.which("ansible-playbook") is None:
            self.skipTest("ansible-playbook is not installed")
        self.markers = os.path.join(self.tmp, "markers")
        os.mkdir(self.markers)

    def start(self, playbook="site.yml", **conf):
        path = os.path.join(self.tmp, "tokens.json")
        write_tokens(path)
        cfg = {"monitor": {"grace_s": 0}, "manager": {"max_jobs": 2},
               "auth": {"tokens_file": path},
               "ansible": {"playbook_location": PLAYBOOKS, "configure_playbook": playbook,
                           "extra_variables": '{"marker_dir": "%s"}' % self.markers,
                           "timeout_s": JOB_WAIT_S}}
        cfg.update(conf)
        self.c = Clusterm(config=cfg).start()
        self.hdr = bearer("ops")
        return self.c

    def sign_in(self, who="ops", frag="#/nodes"):
        self.open(frag)
        self.wait(lambda: self.d.find_element(By.ID, "login").is_displayed(), "the sign-in form")
        box = self.d.find_element(By.ID, "token")
        box.send_keys(TOKENS[who][1])
        box.send_keys(Keys.ENTER)
        self.wait(lambda: self.d.find_element(By.ID, "view").is_displayed(), "signed in")

    def job(self, job_id):
        return self.c.get("/api/v1/jobs/%d" % job_id, headers=self.hdr)[1]

    def wait_job(self, job_id):
        return wait_until(lambda: (lambda j: j if j["status"] in ("Complete", "Errored")
                                   else None)(self.job(job_id)),
                          timeout=JOB_WAIT_S, interval=0.2, what="job %d" % job_id)

    def click(self, elem_id):
        self.d.find_element(By.ID, elem_id).click()

    def pick(self, name):
        self.d.find_element(By.CSS_SELECTOR, "input.pick-node[value='%s']" % name).click()

    def dialog(self):
        """The open confirmation: its title, text and the nodes it names."""
        self.wait(lambda: self.js("return document.getElementById('confirm').open"),
                  "the confirmation dialog")
        return self.js("""const d = document.getElementById('confirm');
            return [d.querySelector('h2').textContent, d.querySelector('p').textContent,
                    [...d.querySelectorAll('li')].map(li => li.textContent)];""")

    def severe_real(self):
        """Console errors, minus the answers the page expects: the refusal before the
        token was given, the role check's."""
        return [e for e in self.severe() if "/role-check/cancel" not in e and " 401 " not in e]

    # ---- tests ----

    def test_commission_from_the_page(self):
        c = self.start(playbook="slow.yml")
        self.post_nodes("discovered", [report("m1", "127.0.2.1", rack="r1")])
        self.sign_in()
        self.wait(lambda: len(self.rows()) == 1, "m1's row")
        self.assertTrue(self.d.find_element(By.ID, "actions").is_displayed())
        self.assertFalse(self.d.find_element(By.ID, "role-note").is_displayed())
        state_changed = c.get("/api/v1/nodes/m1", headers=self.hdr)[1]["state_changed"]
        self.pick("m1")
        self.d.find_element(By.CSS_SELECTOR, "#act-group option[value='service-master']").click()
        self.d.find_element(By.ID, "act-vars").send_keys('{"sleep_s": "3"}')
        self.click("act-commission")
        title, text, nodes = self.dialog()
        self.assertEqual(nodes, ["m1"])
        self.assertIn("Commission 1 node", title)
        self.assertIn("service-master", text)
        self.shot("confirm")
        self.assertFalse(os.path.exists(os.path.join(self.markers, "m1.started")))
        self.click("confirm-ok")

        # The page opens the job and reads its log while the playbook sleeps.
        self.wait(lambda: self.js("return location.hash").startswith("#/job/"), "the job page")
        job = int(self.js("return location.hash").split("/")[-1])
        self.wait(lambda: "TASK [sleep]" in self.text("#job-log"), "the sleep task in the log",
                  timeout=JOB_WAIT_S)
        self.assertEqual(self.text("#job-log-state"), "(following)")
        self.assertIn(self.job(job)["status"], ("Running",))
        self.assertTrue(os.path.exists(os.path.join(self.markers, "m1.started")))
        self.shot("job-live")
        self.wait(lambda: self.text("#job-log-state") == "(ended)", "the end of the log",
                  timeout=JOB_WAIT_S)
        j = self.wait_job(job)
        self.assertEqual(j["status"], "Complete")
        self.assertIn("Complete", self.text("#job-log"))
        # The page's extra vars reached the playbook: it slept 3 s, not its default 60.
        took = (datetime.datetime.fromisoformat(j["ended"].replace("Z", "+00:00")) -
                datetime.datetime.fromisoformat(j["started"].replace("Z", "+00:00")))
        self.assertLess(took.total_seconds(), 50)
        self.wait(lambda: "Complete" in self.text("#job-fields"), "the job Complete on its page")

        # The node is Allocated; its last change is the status change, not the state's.
        self.open("#/nodes")
        self.wait(lambda: self.rows() and self.rows()[0][2] == "Allocated", "m1 Allocated")
        events = c.get("/api/v1/events?node=m1", headers=self.hdr)[1]["events"]
        last_status = [e["time"] for e in events if e["kind"] == "status"][-1]
        self.assertEqual(self.rows()[0][7], max(last_status, state_changed))
        self.assertGreater(last_status, state_changed)     # slept 3 s after the discovery

        # The jobs list: host group and duration; the audit log links the job.
        self.open("#/jobs")
        self.wait(lambda: "Complete" in self.text("#job-table"), "the job in the list")
        cells = self.js("return [...document.querySelectorAll('#job-table tbody tr')[0].cells]"
                        ".map(c => c.textContent)")
        self.assertEqual(cells[3], "service-master")
        self.assertRegex(cells[6], r"^\d+ s$")
        self.open("#/events")
        self.wait(lambda: self.js("return document.querySelectorAll("
                                  "'#event-table a[href=\"#/job/%d\"]').length" % job) >= 2,
                  "links to the job from the audit log")
        self.assertEqual(self.severe_real(), [])

    def test_cancel_a_running_job(self):
        self.start(playbook="slow.yml")
        self.post_nodes("discovered", [report("m1", "127.0.2.1")])
        st, r, _ = self.c.post("/commission/nodes", {"nodes": ["m1"],
                                                     "host_group": "service-master"},
                               headers=self.hdr)
        self.assertEqual(st, 200, r)
        job = r["job_id"]
        self.sign_in(frag="#/job/%d" % job)
        self.wait(lambda: "TASK [sleep]" in self.text("#job-log"), "the sleep task",
                  timeout=JOB_WAIT_S)
        self.wait(lambda: self.d.find_element(By.ID, "job-cancel").is_displayed(),
                  "the Cancel button")
        self.click("job-cancel")
        title, _, nodes = self.dialog()
        self.assertEqual((title, nodes), ("Cancel job %d?" % job, ["m1"]))
        self.click("confirm-ok")
        j = self.wait_job(job)
        self.assertEqual(j["status"], "Errored")
        self.assertIn("cancel", j["error"])
        self.wait(lambda: "Errored" in self.text("#job-fields"), "Errored on the page")
        self.wait(lambda: not self.d.find_element(By.ID, "job-cancel").is_displayed(),
                  "no Cancel button on an ended job")
        self.assertEqual(self.c.get("/api/v1/nodes/m1", headers=self.hdr)[1]["status"],
                         "Unallocated")
        self.assertEqual(self.severe_real(), [])

    def test_refusals_in_the_servers_words(self):
        self.start()
        self.post_nodes("discovered", [report("w1", "127.0.2.5")])
        self.sign_in()
        self.wait(lambda: len(self.rows()) == 1, "w1's row")
        # A worker without an Allocated master: 409, the server's sentence in the banner.
        self.pick("w1")
        self.d.find_element(By.CSS_SELECTOR, "#act-group option[value='service-worker']").click()
        self.click("act-commission")
        self.assertEqual(self.dialog()[2], ["w1"])
        self.click("confirm-ok")
        self.wait(lambda: self.d.find_element(By.ID, "banner").is_displayed(), "the banner")
        st, body, _ = self.c.post("/commission/nodes", {"nodes": ["w1"],
                                                        "host_group": "service-worker"},
                                  headers=self.hdr)
        self.assertEqual(st, 409)
        self.assertIn("HTTP 409", self.text("#banner-text"))
        self.assertIn(body["error"], self.text("#banner-text"))
        self.shot("refused")
        # Bad extra vars never reach the server; Back changes nothing.
        self.d.find_element(By.ID, "act-vars").send_keys("{not json")
        self.click("act-update")
        self.wait(lambda: "not valid JSON" in self.text("#banner-text"), "the JSON complaint")
        self.d.find_element(By.ID, "act-vars").clear()
        self.click("act-decommission")
        self.dialog()
        self.click("confirm-cancel")
        self.assertFalse(self.js("return document.getElementById('confirm').open"))
        self.assertEqual(self.c.get("/api/v1/jobs", headers=self.hdr)[1]["jobs"], [])

    def test_reader_token(self):
        self.start()
        self.post_nodes("discovered", [report("m1", "127.0.2.1")])
        self.sign_in(who="mon")
        self.wait(lambda: len(self.rows()) == 1, "m1's row")
        self.assertFalse(self.d.find_element(By.ID, "actions").is_displayed())
        self.assertFalse(self.d.find_element(By.CSS_SELECTOR, "input.pick-node").is_displayed())
        self.assertTrue(self.d.find_element(By.ID, "role-note").is_displayed())
        # Were the buttons there (a token's role lowered after the page loaded), the
        # server's 403 sentence is what the page shows.
        self.js("document.body.classList.add('can-act')")
        self.pick("m1")
        self.d.find_element(By.CSS_SELECTOR, "#act-group option[value='service-master']").click()
        self.click("act-commission")
        self.dialog()
        self.click("confirm-ok")
        self.wait(lambda: self.d.find_element(By.ID, "banner").is_displayed(), "the banner")
        st, body, _ = self.c.post("/commission/nodes", {"nodes": ["m1"],
                                                        "host_group": "service-master"},
                                  headers=bearer("mon"))
        self.assertEqual(st, 403)
        self.assertIn("HTTP 403", self.text("#banner-text"))
        self.assertIn(body["error"], self.text("#banner-text"))
        self.assertEqual(self.c.get("/api/v1/jobs", headers=self.hdr)[1]["jobs"], [])
        self.assertTrue(self.d.find_element(By.ID, "view").is_displayed())   # still signed in

    def test_tags_and_relative_times(self):
        self.start()
        self.post_nodes("discovered", [report("a%d" % i, "10.7.0.%d" % i,
                                              rack="r%d" % (i % 2), zone="z")
                                       for i in range(1, 5)])
        self.sign_in(who="mon")
        self.wait(lambda: len(self.rows()) == 4, "four rows")
        self.assertFalse(self.d.find_element(By.ID, "actions").is_displayed())
        # Relative text, the absolute time in the tooltip.
        t = self.d.find_element(By.CSS_SELECTOR, "#node-table tbody time")
        self.assertRegex(t.text, r"^(just now|\d+ s ago)$")
        self.assertRegex(t.get_attribute("title"), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # A tag column, chosen once, kept across a reload.
        self.d.find_element(By.CSS_SELECTOR, "#tag-chooser summary").click()
        self.d.find_element(By.CSS_SELECTOR, "#tag-columns input[value='rack']").click()
        self.wait(lambda: len(self.rows()[0]) == 9, "the rack column")
        self.assertEqual(sorted(r[8] for r in self.rows()), ["r0", "r0", "r1", "r1"])
        self.d.refresh()
        self.wait(lambda: len(self.rows()) == 4 and len(self.rows()[0]) == 9,
                  "the rack column after a reload")
        self.assertIn("rack", self.text("#node-table thead"))
        # The tag filter: key=value, and key alone.
        box = self.d.find_element(By.ID, "f-tag")
        box.send_keys("rack=r1")
        self.wait(lambda: sorted(r[0] for r in self.rows()) == ["a1", "a3"], "rack=r1")
        self.assertEqual(self.text("#node-count"), "2 of 4 nodes")
        self.shot("tags")
        box.clear()
        box.send_keys("nosuchtag")
        self.wait(lambda: self.rows() == [], "no node with that tag")
        box.clear()
        box.send_keys("zone")
        self.wait(lambda: len(self.rows()) == 4, "every node has a zone")
        self.js("localStorage.removeItem('clusterm.tagcols')")
        self.assertEqual(self.severe_real(), [])

    def test_instances_view(self):
        c = self.start()
        _, cl, _ = c.get("/api/v1/cluster", headers=self.hdr)
        self.sign_in(who="mon", frag="#/cluster")
        self.wait(lambda: cl["self"] in self.text("#cluster-table"), "this instance listed")
        self.assertIn("leader", self.text("#cluster-table"))
        self.assertIn(cl["self"] + " (this one)", self.text("#cluster-table"))
        self.assertIn(cl["leader"], self.text("#leader"))
        self.assertRegex(self.text("#cluster-table tbody time"), r"(just now|ago)$")
        self.shot("instances")

    def test_reporters_and_node_flags(self):
        c = self.start()
        st, _, _ = request(c.port, "GET", "/api/v1/reporters", headers=self.hdr)
        if st == 404:
            self.sign_in(who="mon", frag="#/reporters")
            self.wait(lambda: "not available" in self.text("#reporters-note"), "not available")
            self.skipTest("GET /api/v1/reporters is not on this clusterm yet")
        # Heard once, then silent: both reporters turn stale, the node unreachable.
        c.cleanup()
        self.c = None
        c = self.start(monitor={"grace_s": 0, "heartbeat_timeout_s": 1, "reporter_stale_s": 1})
        st, body, _ = c.post("/monitor/event/discovered", [report("u1", "10.8.0.1", Node_Name="u1")],
                             headers=dict(self.hdr, **reporter_headers("peer", 1)))
        self.assertEqual(st, 200, body)
        st, body, _ = c.post("/monitor/heartbeat", None, headers=dict(
            self.hdr, **reporter_headers("u1", 1), **{"X-Spool-Depth": "3"}))
        self.assertEqual(st, 200, body)
        wait_until(lambda: c.get("/api/v1/nodes/u1", headers=self.hdr)[1].get("unreachable"),
                   timeout=UI_WAIT_S, interval=0.2, what="u1 unreachable")
        wait_until(lambda: all(r["stale"] for r in c.get("/api/v1/reporters",
                                                         headers=self.hdr)[1]["reporters"]),
                   timeout=UI_WAIT_S, interval=0.2, what="both reporters stale")
        self.sign_in(who="mon", frag="#/reporters")
        self.wait(lambda: "2 reporters, 2 stale" in self.text("#reporters-note"), "the count")
        rows = self.js("return [...document.querySelectorAll('#reporter-table tbody tr')]"
                       ".map(r => [r.className].concat([...r.cells].map(c => c.textContent)))")
        self.assertEqual(sorted((r[0], r[1], r[2], r[9]) for r in rows),
                         [("stale", "peer", "stale", "-"), ("stale", "u1", "stale", "3")])
        self.shot("reporters")
        self.open("#/nodes")
        self.wait(lambda: self.rows() and self.rows()[0][1] == "Discoveredunreachable",
                  "the unreachable badge in the list")
        self.open("#/node/u1")
        self.wait(lambda: "unreachable" in self.text("#node-fields"), "the badge on u1's page")
        self.assertNotIn("partitioned", self.text("#node-fields"))

    def test_forget_a_disappeared_node(self):
        c = self.start()
        self.post_nodes("discovered", [report("g%d" % i, "10.9.0.%d" % i) for i in (1, 2, 3)])
        self.post_nodes("disappeared", [report("g1", "10.9.0.1"), report("g3", "10.9.0.3")])
        st, _, _ = request(c.port, "DELETE", "/api/v1/nodes/g2", headers=self.hdr)
        if st in (404, 405) and c.get("/api/v1/nodes/g2", headers=self.hdr)[0] == 200:
            self.skipTest("DELETE /api/v1/nodes/{name} is not on this clusterm yet")
        self.assertEqual(st, 409)        # g2 is not Disappeared
        self.sign_in(frag="#/node/g2")
        self.wait(lambda: self.text("#node-title") == "Node g2", "g2's page")
        self.assertFalse(self.d.find_element(By.ID, "node-forget").is_displayed())
        # "Select for ..." takes the node to the list, ticked.
        self.click("node-select")
        self.wait(lambda: self.text("#act-count") == "1 selected", "g2 ticked in the list")
        self.assertTrue(self.d.find_element(By.CSS_SELECTOR,
                                            "input.pick-node[value='g2']").is_selected())
        self.click("act-clear")
        self.open("#/node/g1")
        self.wait(lambda: self.d.find_element(By.ID, "node-forget").is_displayed(),
                  "Forget on g1's page")
        self.click("node-forget")
        self.assertEqual(self.dialog()[2], ["g1"])
        self.click("confirm-ok")
        self.wait(lambda: c.get("/api/v1/nodes/g1", headers=self.hdr)[0] == 404, "g1 forgotten")
        self.wait(lambda: [r[0] for r in self.rows()] == ["g2", "g3"], "g1 gone from the list")
        self.assertIn("Forgotten: g1", self.text("#banner-text"))
        # From the list: Forget takes Disappeared nodes only.
        self.pick("g2")
        self.pick("g3")
        self.assertFalse(self.d.find_element(By.ID, "act-forget").is_enabled())
        self.pick("g2")
        self.wait(lambda: self.d.find_element(By.ID, "act-forget").is_enabled(), "Forget enabled")
        self.click("act-forget")
        self.assertEqual(self.dialog()[2], ["g3"])
        self.click("confirm-ok")
        self.wait(lambda: [r[0] for r in self.rows()] == ["g2"], "g3 gone from the list")
        self.assertEqual(c.get("/api/v1/nodes/g3", headers=self.hdr)[0], 404)
        self.assertIn("Forgotten: g3", self.text("#banner-text"))


def main():
    td.start_browser()
    try:
        prog = unittest.main(verbosity=2, exit=False)
    finally:
        if td.BROWSER is not None:
            td.stop_browser(td.BROWSER)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun > 0 and len(r.skipped) == r.testsRun:
        print("skipped: %s" % (td.SKIP_WHY or "see above"), file=sys.stderr)
        sys.exit(77)
    sys.exit(0)


if __name__ == "__main__":
    main()
