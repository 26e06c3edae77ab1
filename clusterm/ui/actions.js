/*
 * What an admin token may do from the page: commission, decommission and
 * update the ticked nodes (the contiv endpoints), cancel a job, forget a
 * Disappeared node. Each after a confirmation dialog naming the nodes; the
 * server's refusal is shown in the banner in its own words.
 */
"use strict";

(function () {
  const CM = window.CM;
  const { $, el, clear } = CM;

  const OPS = {                /* button -> what it does */
    commission: { path: "/commission/nodes", verb: "Commission" },
    decommission: { path: "/decommission/nodes", verb: "Decommission" },
    update: { path: "/update/nodes", verb: "Update" },
  };

  let busy = false;
  let shownJob = null, shownNode = null;

  function app() { return CM.app; }

  /* ---- the banner: the server's sentence ---- */

  function banner(msg, ok) {
    $("banner-text").textContent = msg;
    $("banner").dataset.value = ok ? "ok" : "bad";
    $("banner").hidden = false;
  }

  function hideBanner() { $("banner").hidden = true; }

  /* A new view: the banner goes, unless it was set for that view (flash). */
  let flash = null;
  function routed() {
    if (flash) banner(flash[0], flash[1]);
    else hideBanner();
    flash = null;
  }

  /* "commission refused (HTTP 409): <server's sentence>" */
  function refused(what, r) {
    const why = r.body && r.body.error ? r.body.error : "HTTP " + r.status;
    banner(what + " refused (HTTP " + r.status + "): " + why);
  }

  /* ---- the confirmation dialog ---- */

  let answer = null;           /* resolves the open dialog's promise */

  /* Resolves true when the user confirms. */
  function confirmDialog(title, text, nodes, okLabel) {
    const d = $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    const ul = $("confirm-nodes");
    clear(ul);
    for (const n of nodes) ul.appendChild(el("li", n));
    ul.hidden = !nodes.length;
    $("confirm-ok").textContent = okLabel;
    if (answer) answer(false);
    return new Promise((resolve) => {
      answer = resolve;
      d.showModal();
      $("confirm-cancel").focus();
    });
  }

  function closeDialog(ok) {
    const d = $("confirm");
    if (d.open) d.close();
    if (answer) {
      const a = answer;
      answer = null;
      a(ok);
    }
  }

  /* ---- node actions ---- */

  function picked() {
    return [...app().selected].sort();
  }

  function selectionChanged() {
    const names = picked();
    const nodes = names.map((n) => app().nodes.get(n)).filter(Boolean);
    $("act-count").textContent = names.length ? names.length + " selected" : "none selected";
    for (const op of Object.keys(OPS)) $("act-" + op).disabled = busy || !names.length;
    $("act-forget").disabled = busy || !nodes.length ||
      !nodes.every((n) => n.state === "Disappeared");
  }

  /* extra vars: JSON text (an object), or "" for none. Throws with the reason. */
  function extraVars() {
    const t = $("act-vars").value.trim();
    if (!t) return "";
    let v;
    try { v = JSON.parse(t); } catch (e) {
      throw new Error("Extra vars are not valid JSON: " + e.message);
    }
    if (v === null || typeof v !== "object" || Array.isArray(v))
      throw new Error("Extra vars must be a JSON object, such as {\"k\": \"v\"}.");
    return t;
  }

  async function runOp(op) {
    const names = picked();
    if (!names.length || busy) return;
    const group = $("act-group").value;
    let vars;
    try { vars = extraVars(); } catch (e) { banner(e.message); return; }
    const how = group ? " with host group " + group : op === "commission" ? "" :
      " keeping each node's host group";
    const title = OPS[op].verb + " " + names.length + (names.length === 1 ? " node?" : " nodes?");
    const text = OPS[op].verb + " these nodes" + how + (vars ? ", extra vars " + vars : "") + ":";
    const ok = await confirmDialog(title, text, names, OPS[op].verb);
    if (!ok) return;
    const body = { nodes: names };
    if (group) body.host_group = group;
    if (vars) body.extra_vars = vars;
    await act(async () => {
      const r = await CM.send("POST", OPS[op].path, body);
      if (r.status !== 200 && r.status !== 202) { refused(op, r); return; }
      hideBanner();
      app().selected.clear();
      jobStarted(r.body);
    });
  }

  /* A started job: known to the page at once, and opened with its live log. */
  function jobStarted(reply) {
    const id = reply.job_id || (reply.job && reply.job.id);
    if (!id) { CM.scheduleRefresh(); return; }
    if (reply.job && !app().jobs.some((j) => j.id === reply.job.id)) app().jobs.push(reply.job);
    location.hash = CM.jobHref(id);
    CM.scheduleRefresh();
  }

  async function forget(names) {
    if (!names.length || busy) return;
    const ok = await confirmDialog("Forget " + names.length +
      (names.length === 1 ? " node?" : " nodes?"),
    "Forget these Disappeared nodes: their records and votes are dropped " +
      "(a node that reports again comes back as new):", names, "Forget");
    if (!ok) return;
    await act(async () => {
      const done = [];
      for (const n of names) {
        const r = await CM.send("DELETE", "/api/v1/nodes/" + encodeURIComponent(n));
        if (r.status !== 200) {
          refused("forget " + n, r);
          break;
        }
        done.push(n);
        app().selected.delete(n);
        app().nodes.delete(n);
      }
      const msg = "Forgotten: " + done.join(", ") + ".";
      if (done.length && app().view === "node") {
        if (done.length === names.length) flash = [msg, true];
        location.hash = "#/nodes";
      } else if (done.length === names.length) {
        banner(msg, true);
      }
      CM.scheduleRefresh();
    });
  }

  /* ---- job actions ---- */

  async function cancelJob() {
    const j = shownJob;
    if (!j || busy) return;
    const ok = await confirmDialog("Cancel job " + j.id + "?", "Cancel job " + j.id + " (" +
      j.operation + ") on these nodes; they take the failure path's status:", j.nodes || [],
    "Cancel job");
    if (!ok) return;
    await act(async () => {
      const r = await CM.send("POST", "/api/v1/jobs/" + encodeURIComponent(j.id) + "/cancel");
      if (r.status !== 200 && r.status !== 202) { refused("cancel", r); return; }
      banner("Job " + j.id + ": cancel requested.", true);
      CM.scheduleRefresh();
    });
  }

  /* Runs one request at a time; a network failure goes to the banner. */
  async function act(fn) {
    busy = true;
    selectionChanged();
    try {
      await fn();
    } catch (e) {
      banner("The request failed: " + String(e.message || e));
    } finally {
      busy = false;
      selectionChanged();
    }
  }

  /* The job page: its Cancel button while it is queued or running. */
  function jobShown(j) {
    shownJob = j;
    $("job-cancel").hidden = !(j && app().canAct && (j.status === "Queued" ||
      j.status === "Running"));
  }

  /* The node page: Forget while it is Disappeared. */
  function nodeShown(n) {
    shownNode = n;
    $("node-forget").hidden = !(n && app().canAct && n.state === "Disappeared");
  }

  function init() {
    for (const op of Object.keys(OPS)) $("act-" + op).addEventListener("click", () => runOp(op));
    $("act-forget").addEventListener("click", () => forget(picked()));
    $("act-clear").addEventListener("click", () => {
      app().selected.clear();
      CM.nodes.render();
    });
    $("node-forget").addEventListener("click", () => { if (shownNode) forget([shownNode.name]); });
    $("node-select").addEventListener("click", () => {
      if (!shownNode) return;
      app().selected.clear();
      app().selected.add(shownNode.name);
      location.hash = "#/nodes";
    });
    $("job-cancel").addEventListener("click", cancelJob);
    $("banner-close").addEventListener("click", hideBanner);
    $("confirm-ok").addEventListener("click", () => closeDialog(true));
    $("confirm-cancel").addEventListener("click", () => closeDialog(false));
    $("confirm").addEventListener("cancel", () => closeDialog(false));   /* Escape */
    $("actions").addEventListener("submit", (ev) => ev.preventDefault());
  }

  CM.actions = { init, selectionChanged, jobShown, nodeShown, hideBanner, banner, routed };
})();
