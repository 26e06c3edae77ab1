/*
 * The clusterm dashboard: reads the native API (/api/v1/...) with the
 * token the user gives (kept in sessionStorage, sent as a bearer token,
 * never in a URL) and follows /api/v1/stream for live updates. Every value
 * is inserted as text, never as HTML.
 */
"use strict";

(function () {
  const TOKEN_KEY = "clusterm.token";
  const PAGE = 100;            /* rows per page of the node and event lists */
  const EVENTS_KEEP = 5000;    /* newest audit events kept in the page */
  const EVENTS_BATCH = 1000;   /* /api/v1/events?limit= at load */
  const REFRESH_MS = 1000;     /* a full refresh this long after an event */
  const HEALTH_MS = 5000;      /* /healthz (and an open Instances, Reporters view) this often */
  const RETRY_MS = 2000;       /* stream reconnect */
  const STATES = ["Unknown", "Discovered", "Disappeared"];
  const STATUSES = ["Unallocated", "Provisioning", "Allocated", "Cancelled",
    "Decommissioned", "Maintenance", "Incomplete", "New", "Provisioned"];

  const CM = window.CM;
  const { $, el, link, clear, row, cell, badge, group, fields, fillRows, time, duration, later,
    jobOf, nodeHref, jobHref } = CM;
  const TAGCOLS_KEY = "clusterm.tagcols";

  const app = {
    token: sessionStorage.getItem(TOKEN_KEY) || "",
    authed: false,
    nodes: new Map(),        /* name -> node (list shape) */
    events: [],              /* oldest first, at most EVENTS_KEEP */
    lastEventId: 0,
    eventPage: 0,
    jobs: [],
    refreshTimer: 0,
    stream: null,            /* AbortController of the event stream */
    logStream: null,         /* AbortController of a followed job log */
    view: "",
    arg: "",
    nodeDirty: false,        /* the node page's node has changed */
    generation: 0,           /* bumped by each sign-in: stale loops end */
    canAct: false,           /* the token may commission, cancel, forget */
    statusTimes: new Map(),  /* node -> time of its last status change (audit) */
    tagCols: loadTagCols(),  /* tag keys shown as columns */
    selected: new Set(),     /* nodes ticked in the list */
  };
  CM.app = app;

  function loadTagCols() {
    try {
      const v = JSON.parse(localStorage.getItem(TAGCOLS_KEY) || "[]");
      return Array.isArray(v) ? v.filter((k) => typeof k === "string") : [];
    } catch (e) {
      return [];
    }
  }

  class AuthError extends Error {}

  /* GET path as JSON, with the token. Throws AuthError on 401/403. */
  async function api(path, opts) {
    const headers = {};
    if (app.token) headers.Authorization = "Bearer " + app.token;
    const r = await fetch(path, Object.assign({ headers: headers, cache: "no-store",
      credentials: "omit", referrerPolicy: "no-referrer" }, opts || {}));
    if (r.status === 401 || r.status === 403) {
      let msg = r.status === 401 ? "token required" : "this token may not read";
      try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new AuthError(msg);
    }
    return r;
  }

  /*
   * An action (POST or DELETE with a JSON body): never signs out, the
   * caller shows the server's sentence. Returns { status, body }.
   */
  async function send(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    if (app.token) headers.Authorization = "Bearer " + app.token;
    const r = await fetch(path, { method: method, headers: headers, cache: "no-store",
      credentials: "omit", referrerPolicy: "no-referrer",
      body: body === undefined ? undefined : JSON.stringify(body) });
    let out = null;
    try { out = await r.json(); } catch (e) { /* not JSON */ }
    return { status: r.status, body: out || {} };
  }

  /* Whether the token may act: its role, from /api/v1/whoami. */
  async function probeRole() {
    if (!app.token) return true;     /* tokens not in force: everyone acts */
    const r = await send("GET", "/api/v1/whoami");
    return r.status === 200 && r.body.role === "admin";
  }

  async function getJSON(path) {
    const r = await api(path);
    if (!r.ok) {
      let msg = "HTTP " + r.status;
      try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
      throw new Error(path + ": " + msg);
    }
    return r.json();
  }

  function setLive(text) { $("live").textContent = text; }

  function showError(msg) { $("view-error").textContent = msg || ""; }

  /* ---- sign-in ---- */

  function askToken(msg) {
    app.authed = false;
    stopStreams();
    for (const id of ["summary", "view", "nav", "forget"]) $(id).hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = msg || "";
    setLive("signed out");
    $("token").focus();
  }

  function signedIn() {
    app.authed = true;
    $("login").hidden = true;
    for (const id of ["summary", "view", "nav"]) $(id).hidden = false;
    $("forget").hidden = !app.token;
    document.body.classList.toggle("can-act", app.canAct);
    $("role-note").hidden = app.canAct;
  }

  function stopStreams() {
    app.generation++;
    if (app.stream) app.stream.abort();
    app.stream = null;
    stopLog();
  }

  /* ---- loading ---- */

  /* Every audit event the ring still holds (the newest EVENTS_KEEP), by pages. */
  async function loadEvents() {
    let since = 0;
    const all = [];
    for (;;) {
      const page = await getJSON("/api/v1/events?since=" + since + "&limit=" + EVENTS_BATCH);
      for (const e of page.events) all.push(e);
      if (all.length > EVENTS_KEEP) all.splice(0, all.length - EVENTS_KEEP);
      if (page.events.length < EVENTS_BATCH || page.next <= since) {
        since = page.next;
        break;
      }
      since = page.next;
    }
    app.events = all;
    app.lastEventId = Math.max(since, all.length ? all[all.length - 1].id : 0);
    app.statusTimes = new Map();
    for (const e of all) noteStatusTime(e);
  }

  /* "Last change" is the later of the node's state change and status change. */
  function noteStatusTime(e) {
    if (e.node && e.kind === "status")
      app.statusTimes.set(e.node, later(app.statusTimes.get(e.node), e.time));
  }

  function lastChange(n) {
    return later(n.state_changed, app.statusTimes.get(n.name));
  }
  CM.lastChange = lastChange;

  async function loadNodes() {
    const body = await getJSON("/api/v1/nodes");
    const m = new Map();
    for (const n of body.nodes) m.set(n.name, n);
    app.nodes = m;
  }

  async function loadJobs() {
    app.jobs = (await getJSON("/api/v1/jobs")).jobs;
  }

  async function loadHealth() {
    const r = await api("/healthz");
    const h = await r.json();
    $("health").textContent = h.status + (h.reason ? " (" + h.reason + ")" : "");
    $("health").dataset.value = h.status === "ok" ? "ok" : "bad";
    $("disruption").textContent = h.disruption ?
      "on since " + (h.disruption_since || "?") + " (automatic actions suspended)" : "off";
    $("disruption").dataset.value = h.disruption ? "bad" : "ok";
  }

  /* Loads everything, then follows the stream from the last event loaded. */
  async function start() {
    stopStreams();
    const gen = app.generation;
    showError("");
    setLive("loading");
    try {
      await loadEvents();
      if (gen !== app.generation) return;
      app.canAct = await probeRole();
      if (gen !== app.generation) return;
      signedIn();
      followEvents(gen);
      await Promise.all([loadNodes(), loadJobs(), loadHealth(), CM.views.loadCluster()]);
    } catch (e) {
      if (e instanceof AuthError) {
        if (app.token) {
          app.token = "";
          sessionStorage.removeItem(TOKEN_KEY);
          askToken("The token was refused: " + e.message);
        } else {
          askToken("");
        }
        return;
      }
      setLive("cannot reach clusterm");
      showError(String(e.message || e));
      setTimeout(() => { if (gen === app.generation) start(); }, RETRY_MS * 2);
      return;
    }
    if (gen !== app.generation) return;
    fillFilterOptions();
    renderSummary();
    route();
  }

  /* A full reload of nodes, jobs and health, soon after events arrive. */
  function scheduleRefresh() {
    if (app.refreshTimer) return;
    app.refreshTimer = setTimeout(async () => {
      app.refreshTimer = 0;
      const gen = app.generation;
      try {
        await Promise.all([loadNodes(), loadJobs(), loadHealth(), CM.views.loadCluster()]);
      } catch (e) {
        if (e instanceof AuthError) { askToken(e.message); return; }
        return;
      }
      if (gen !== app.generation) return;
      fillFilterOptions();
      renderSummary();
      renderView(false);
    }, REFRESH_MS);
  }

  /* ---- the event stream: fetch with a reader, as EventSource cannot send headers ---- */

  async function followEvents(gen) {
    while (gen === app.generation && app.authed) {
      const ctl = new AbortController();
      app.stream = ctl;
      const headers = { "Last-Event-ID": String(app.lastEventId) };
      let wait = RETRY_MS;
      try {
        const r = await api("/api/v1/stream", { headers: Object.assign(headers,
          app.token ? { Authorization: "Bearer " + app.token } : {}), signal: ctl.signal });
        if (r.status === 503) {
          setLive("live updates paused: " + ((await r.json()).error || "busy"));
          wait = RETRY_MS * 3;
        } else if (!r.ok || !r.body) {
          setLive("live updates failed: HTTP " + r.status);
        } else {
          setLive("live");
          await readEvents(r.body.getReader(), gen);
          if (gen === app.generation) setLive("reconnecting");
        }
      } catch (e) {
        if (e instanceof AuthError) { askToken(e.message); return; }
        if (gen !== app.generation) return;
        setLive("reconnecting");
      }
      if (gen !== app.generation) return;
      await new Promise((res) => setTimeout(res, wait));
      /* What changed while we were away is read again as a whole. */
      scheduleRefresh();
    }
  }

  /* Parses text/event-stream: fields up to a blank line make one event. */
  async function readEvents(reader, gen) {
    const dec = new TextDecoder();
    let buf = "", id = "", data = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done || gen !== app.generation) return;
      buf += dec.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith("\r")) line = line.slice(0, -1);
        if (line === "") {
          if (data.length) onEvent(id, data.join("\n"));
          id = "";
          data = [];
          continue;
        }
        if (line.startsWith(":")) continue;
        const c = line.indexOf(":");
        const field = c < 0 ? line : line.slice(0, c);
        let val = c < 0 ? "" : line.slice(c + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "id") id = val;
        else if (field === "data") data.push(val);
      }
    }
  }

  function onEvent(id, text) {
    let e;
    try { e = JSON.parse(text); } catch (err) { return; }
    if (typeof e.id !== "number" || e.id <= app.lastEventId) return;
    app.lastEventId = e.id;
    app.events.push(e);
    if (app.events.length > EVENTS_KEEP) app.events.splice(0, app.events.length - EVENTS_KEEP);
    /* A state or status is shown at once; the rest comes with the refresh. */
    if (e.node && (e.kind === "state" || e.kind === "status")) {
      let n = app.nodes.get(e.node);
      if (!n) {
        n = { name: e.node, state: "Unknown", status: "Unallocated", host_group: "",
          address: "", alive_votes: 0, gone_votes: 0, state_changed: null, tags: {} };
        app.nodes.set(e.node, n);
      }
      if (e.kind === "state") { n.state = e.new; n.state_changed = e.time; }
      else n.status = e.new;
    }
    noteStatusTime(e);
    if (app.view === "node" && e.node === app.arg) app.nodeDirty = true;
    eventsChanged();
    scheduleRefresh();
  }

  /* Re-renders what shows events, at most once a frame. */
  let pendingFrame = 0;
  function eventsChanged() {
    if (pendingFrame) return;
    pendingFrame = requestAnimationFrame(() => {
      pendingFrame = 0;
      renderSummary();
      renderView(false);
    });
  }

  /* ---- summary ---- */

  function renderSummary() {
    const byState = new Map(), byStatus = new Map();
    for (const n of app.nodes.values()) {
      byState.set(n.state, (byState.get(n.state) || 0) + 1);
      byStatus.set(n.status, (byStatus.get(n.status) || 0) + 1);
    }
    $("total").textContent = String(app.nodes.size);
    counts($("by-state"), byState, "f-state");
    counts($("by-status"), byStatus, "f-status");
  }

  /* Counts as links that filter the node list. */
  function counts(dd, m, filterId) {
    clear(dd);
    const keys = [...m.keys()].sort();
    if (!keys.length) dd.textContent = "-";
    for (const k of keys) {
      const b = el("button", k + ": " + m.get(k), "count-button");
      b.type = "button";
      b.dataset.value = k.toLowerCase();
      b.addEventListener("click", () => {
        $("f-state").value = "";
        $("f-status").value = "";
        $(filterId).value = k;
        if (location.hash !== "#/nodes") location.hash = "#/nodes";
        CM.nodes.apply();
      });
      dd.appendChild(b);
    }
  }

  function fillSelect(sel, values) {
    const cur = sel.value;
    const have = [...sel.options].slice(1).map((o) => o.value);
    if (have.length === values.length && have.every((v, i) => v === values[i])) return;
    while (sel.options.length > 1) sel.remove(1);
    for (const v of values) {
      const o = el("option", v === "" ? "(none)" : v);
      o.value = v === "" ? "\u0000none" : v;
      sel.appendChild(o);
    }
    sel.value = cur;
  }

  function fillFilterOptions() {
    const groups = new Set(), states = new Set(STATES), statuses = new Set(STATUSES);
    for (const n of app.nodes.values()) {
      groups.add(n.host_group || "");
      states.add(n.state);
      statuses.add(n.status);
    }
    fillSelect($("f-state"), [...states]);
    fillSelect($("f-status"), [...statuses]);
    fillSelect($("f-group"), [...groups].sort());
    const kinds = new Set(["state", "status", "request", "job", "config"]);
    for (const e of app.events) kinds.add(e.kind);
    fillSelect($("f-event-kind"), [...kinds].sort());
  }

  /* ---- a node ---- */

  async function renderNode(name, fresh) {
    if (!fresh) return;
    let n;
    try {
      n = await getJSON("/api/v1/nodes/" + encodeURIComponent(name));
    } catch (e) {
      if (e instanceof AuthError) { askToken(e.message); return; }
      $("node-title").textContent = "Node " + name;
      showError(String(e.message || e));
      return;
    }
    if (app.view !== "node") return;
    app.nodeShown = n;
    $("node-title").textContent = "Node " + n.name;
    /* The last state or status change: the history holds both. */
    let changed = n.state_changed;
    for (const h of n.history || [])
      if (h.kind === "state" || h.kind === "status") changed = later(changed, h.time);
    fields($("node-fields"), [
      ["State", group([badge(n.state)].concat(CM.nodes.flags(n)))],
      ["Previous state", n.prev_state],
      ["Status", badge(n.status)], ["Previous status", n.prev_status],
      ["Host group", n.host_group], ["Address", n.address], ["Label", n.label],
      ["Serial", n.serial], ["Serf member", n.member], ["Role", n.role],
      ["Last event", n.last_event], ["Last change", time(changed)],
      ["Counted votes", "alive " + n.alive_votes + ", gone " + n.gone_votes],
      ["Gone since", time(n.gone_since)], ["Grace ends", time(n.grace_ends)],
      ["Last job", n.last_job ? link(jobHref(n.last_job), String(n.last_job)) : "-"],
    ]);
    fields($("node-tags"), Object.keys(n.tags || {}).sort().map((k) => [k, n.tags[k]]));
    fillRows($("node-votes"), (n.votes || []).map((v) => [v.reporter + (v.self ? " (itself)" : ""),
      v.vote, v.seq, time(v.received), v.counted ? "yes" : "no"]), "no votes");
    fillRows($("node-history"), (n.history || []).slice().reverse().map((h) =>
      [time(h.time), h.kind, h.old, h.new, h.actor, jobText(h.comment)]), "no history");
    $("node-events-link").href = "#/events/" + encodeURIComponent(n.name);
    const jobs = app.jobs.filter((j) => (j.nodes || []).includes(n.name));
    fillRows($("node-jobs"), jobs.map((j) => [link(jobHref(j.id), String(j.id)), j.operation,
      badge(j.status), time(j.created), time(j.ended)]), "no jobs");
    CM.actions.nodeShown(n);
  }

  /* An audit text naming a job ("job 3 complete") as a link to that job. */
  function jobText(s) {
    const id = jobOf(s);
    return id ? link(jobHref(id), s) : s;
  }

  /* How long a job ran, or has been running. */
  function jobDuration(j) {
    if (!j.started) return "";
    if (!j.ended) return CM.running(j.started);
    return duration((Date.parse(j.ended) - Date.parse(j.started)) / 1000);
  }

  /* ---- jobs ---- */

  function renderJobs() {
    fillRows($("job-table"), app.jobs.slice().reverse().map((j) =>
      [link(jobHref(j.id), String(j.id)), j.operation, nodeLinks(j.nodes), j.host_group || "",
        badge(j.status), time(j.created), jobDuration(j), time(j.ended), j.actor]),
    "no jobs");
  }

  function stopLog() {
    if (app.logStream) app.logStream.abort();
    app.logStream = null;
  }

  /* Node names, each a link to its page. */
  function nodeLinks(names) {
    const s = el("span");
    (names || []).forEach((name, i) => {
      if (i) s.appendChild(document.createTextNode(", "));
      s.appendChild(link(nodeHref(name), name));
    });
    return s;
  }

  function renderJobFields(j) {
    $("job-title").textContent = "Job " + j.id + " (" + j.operation + ")";
    fields($("job-fields"), [
      ["Status", badge(j.status)], ["Nodes", nodeLinks(j.nodes)],
      ["Host group", j.host_group], ["Created", time(j.created)], ["Started", time(j.started)],
      ["Ended", time(j.ended)], ["Duration", jobDuration(j)], ["Exit code", j.exit_code],
      ["Error", j.error], ["Actor", j.actor],
    ]);
    CM.actions.jobShown(j);
  }

  async function renderJob(id, fresh) {
    const j = app.jobs.find((x) => String(x.id) === id);
    if (j) renderJobFields(j);
    else {
      $("job-title").textContent = "Job " + id;
      CM.actions.jobShown(null);
    }
    if (!fresh) return;
    stopLog();
    const pre = $("job-log");
    pre.textContent = "";
    $("job-log-state").textContent = "(following)";
    const ctl = new AbortController();
    app.logStream = ctl;
    try {
      const r = await api("/api/v1/jobs/" + encodeURIComponent(id) + "/log?follow=1",
        { signal: ctl.signal });
      if (!r.ok || !r.body) {
        let msg = "HTTP " + r.status;
        try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
        $("job-log-state").textContent = "(" + msg + ")";
        return;
      }
      const reader = r.body.getReader(), dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pre.appendChild(document.createTextNode(dec.decode(value, { stream: true })));
        pre.scrollTop = pre.scrollHeight;
      }
      if (app.logStream === ctl) {
        $("job-log-state").textContent = "(ended)";
        scheduleRefresh();
      }
    } catch (e) {
      if (e instanceof AuthError) { askToken(e.message); return; }
      if (app.logStream === ctl) $("job-log-state").textContent = "(interrupted)";
    }
  }

  /* ---- the audit log ---- */

  function renderEvents() {
    const node = $("f-event-node").value.trim().toLowerCase();
    const kind = $("f-event-kind").value;
    const list = [];
    for (let i = app.events.length - 1; i >= 0; i--) {
      const e = app.events[i];
      if (node && !e.node.toLowerCase().includes(node)) continue;
      if (kind && e.kind !== kind) continue;
      list.push(e);
    }
    const pages = Math.max(1, Math.ceil(list.length / PAGE));
    if (app.eventPage >= pages) app.eventPage = pages - 1;
    const from = app.eventPage * PAGE, to = Math.min(list.length, from + PAGE);
    fillRows($("event-table"), list.slice(from, to).map((e) => {
      const job = jobOf(e.new, e.comment);
      return [e.id, time(e.time), e.node ? link(nodeHref(e.node), e.node) : "",
        job ? link(jobHref(job), String(job)) : "", e.kind, e.old, e.new, e.actor, e.comment];
    }), "no events");
    $("event-count").textContent = list.length + " events (newest first; the newest " +
      EVENTS_KEEP + " are kept here)";
    $("event-page").textContent = "page " + (app.eventPage + 1) + " of " + pages;
    $("event-prev").disabled = app.eventPage === 0;
    $("event-next").disabled = app.eventPage >= pages - 1;
  }

  Object.assign(CM, { api, send, getJSON, AuthError, askToken, scheduleRefresh, showError,
    loadJobs });

  /*
   * ---- routing: #/nodes, #/node/NAME, #/jobs, #/job/ID, #/events[/NODE],
   * #/cluster, #/reporters ----
   */

  function parseHash() {
    const h = location.hash.replace(/^#\/?/, "");
    const i = h.indexOf("/");
    const view = i < 0 ? h : h.slice(0, i);
    let arg = i < 0 ? "" : h.slice(i + 1);
    try { arg = decodeURIComponent(arg); } catch (e) { arg = ""; }
    return { view: view || "nodes", arg: arg };
  }

  function route() {
    if (!app.authed) return;
    const { view, arg } = parseHash();
    const known = { nodes: 1, node: 1, jobs: 1, job: 1, events: 1, cluster: 1, reporters: 1 };
    app.view = known[view] ? view : "nodes";
    app.arg = arg;
    if (app.view !== "job") stopLog();
    if (app.view === "events" && arg) {
      $("f-event-node").value = arg;
      app.eventPage = 0;
    }
    for (const v of Object.keys(known)) $("view-" + v).hidden = v !== app.view;
    for (const a of $("nav").querySelectorAll("a")) {
      const cur = a.dataset.view === app.view ||
        (a.dataset.view === "nodes" && app.view === "node") ||
        (a.dataset.view === "jobs" && app.view === "job");
      if (cur) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
    showError("");
    CM.actions.routed();
    renderView(true);
  }

  /* fresh: the view was just opened (fetch what it alone needs). */
  function renderView(fresh) {
    if (!app.authed) return;
    switch (app.view) {
    case "nodes": CM.nodes.compute(); CM.nodes.render(); break;
    case "node": if (fresh) renderNode(app.arg, true); else nodeChanged(); break;
    case "jobs": renderJobs(); break;
    case "job": renderJob(app.arg, fresh); break;
    case "events": renderEvents(); break;
    case "cluster": CM.views.renderCluster(fresh); break;
    case "reporters": CM.views.renderReporters(fresh); break;
    }
  }

  /* On the node page, a new event about it (or a refresh) reloads the page's data. */
  function nodeChanged() {
    if (!app.nodeDirty) return;
    app.nodeDirty = false;
    renderNode(app.arg, true);
  }

  /* ---- wiring ---- */

  function init() {
    $("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const t = $("token").value.trim();
      if (!t) return;
      app.token = t;
      sessionStorage.setItem(TOKEN_KEY, t);
      $("token").value = "";
      $("login-error").textContent = "";
      start();
    });
    $("forget").addEventListener("click", () => {
      app.token = "";
      sessionStorage.removeItem(TOKEN_KEY);
      askToken("Token forgotten.");
    });
    CM.nodes.init();
    CM.actions.init();
    for (const f of ["node-filters", "event-filters"])
      $(f).addEventListener("submit", (ev) => ev.preventDefault());
    $("f-event-node").addEventListener("input", () => { app.eventPage = 0; renderEvents(); });
    $("f-event-kind").addEventListener("change", () => { app.eventPage = 0; renderEvents(); });
    $("event-prev").addEventListener("click", () => { app.eventPage--; renderEvents(); });
    $("event-next").addEventListener("click", () => { app.eventPage++; renderEvents(); });
    window.addEventListener("hashchange", route);
    setInterval(() => {
      if (!app.authed) return;
      loadHealth().catch(() => setLive("cannot reach clusterm"));
      if (app.view === "cluster" || app.view === "reporters") renderView(false);
    }, HEALTH_MS);
    start();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
