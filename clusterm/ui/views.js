/*
 * The instances (GET /api/v1/cluster) and the reporters
 * (GET /api/v1/reporters, "not available" where the server lacks it).
 */
"use strict";

(function () {
  const CM = window.CM;
  const { $, el, badge, row, fillRows, time } = CM;

  const REPORTERS_MS = 5000;   /* an open Instances or Reporters view reloads this often */
  let cluster = null;          /* the last /api/v1/cluster answer */
  let reportersAt = 0;         /* when the Reporters view last loaded */
  let clusterAt = 0;           /* when the Instances view last loaded */

  /* Which instance leads, for the summary and the Instances view. */
  async function loadCluster() {
    try {
      cluster = await CM.getJSON("/api/v1/cluster");
    } catch (e) {
      if (e instanceof CM.AuthError) throw e;
      cluster = null;
    }
    const n = cluster ? (cluster.instances || []).length : 0;
    $("leader").textContent = !cluster ? "?" :
      (cluster.leader || "none known") + (n > 1 ? " (" + n + " instances)" : "");
    $("leader").dataset.value = cluster && cluster.leader ? "ok" : "bad";
  }

  /* Reloads what is older than REPORTERS_MS, so that a quiet cluster's view stays current. */
  async function renderCluster(fresh) {
    if (fresh || Date.now() - clusterAt >= REPORTERS_MS) {
      clusterAt = Date.now();
      try { await loadCluster(); } catch (e) { CM.askToken(e.message); return; }
    }
    if (CM.app.view !== "cluster") return;
    if (!cluster) {
      $("cluster-self").textContent = "";
      fillRows($("cluster-table"), [], "not available");
      return;
    }
    $("cluster-self").textContent = "This page talks to " + cluster.self + "; " +
      (cluster.leader ? cluster.leader + " leads." : "no leader is known now.");
    fillRows($("cluster-table"), (cluster.instances || []).map((i) => {
      const tr = row([i.id + (i.id === cluster.self ? " (this one)" : ""), badge(i.role),
        i.url, time(i.last_seen)]);
      if (i.id === cluster.self) tr.className = "self";
      return tr;
    }), "no instances");
  }

  async function renderReporters(fresh) {
    if (!fresh && Date.now() - reportersAt < REPORTERS_MS) return;
    reportersAt = Date.now();
    if (CM.app.view !== "reporters") return;
    const note = $("reporters-note");
    let r;
    try {
      r = await CM.api("/api/v1/reporters");
    } catch (e) {
      if (e instanceof CM.AuthError) { CM.askToken(e.message); return; }
      note.textContent = String(e.message || e);
      return;
    }
    if (r.status === 404 || r.status === 405) {
      note.textContent = "Reporters: not available on this clusterm.";
      fillRows($("reporter-table"), [], "not available");
      return;
    }
    let body = null;
    try { body = await r.json(); } catch (e) { /* not JSON */ }
    if (!r.ok || !body || !Array.isArray(body.reporters)) {
      note.textContent = "Reporters: " + ((body && body.error) || "HTTP " + r.status);
      return;
    }
    const list = body.reporters;
    const stale = list.filter((x) => x.stale).length;
    note.textContent = list.length + " reporters" + (stale ? ", " + stale + " stale" : "");
    fillRows($("reporter-table"), list.map((x) => {
      const tr = row([x.name, x.stale ? badge("stale") : badge("fresh"), x.epoch, x.last_seq,
        time(x.last_heard), time(x.last_sync), x.batches, x.reports,
        x.spool_depth === null || x.spool_depth === undefined ? "-" : x.spool_depth]);
      if (x.stale) tr.classList.add("stale");
      return tr;
    }), "no reporters");
  }

  CM.views = { loadCluster, renderCluster, renderReporters };
})();
