/*
 * The dashboard's shared helpers (window.CM): DOM building (text only,
 * never HTML), tables, badges and times shown relative ("2 min ago") with
 * the absolute time in a tooltip. Loaded before the other scripts.
 */
"use strict";

(function () {
  const CM = window.CM = window.CM || {};
  const REL_MS = 5000;         /* relative times are rewritten this often */

  const $ = CM.$ = (id) => document.getElementById(id);

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function link(href, text) {
    const a = el("a", text);
    a.href = href;
    return a;
  }

  function clear(e) {
    while (e.firstChild) e.removeChild(e.firstChild);
  }

  function cell(tr, c) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c);
    else td.textContent = c === null || c === undefined ? "" : String(c);
    tr.appendChild(td);
    return td;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) cell(tr, c);
    return tr;
  }

  /* A state or status as a badge: the text says it, the colour only repeats it. */
  function badge(text) {
    const b = el("span", text, "badge");
    b.dataset.value = String(text || "").toLowerCase();
    return b;
  }

  /* Several nodes in one cell: a badge, then its flags (partitioned, unreachable). */
  function group(parts) {
    const s = el("span", null, "group");
    for (const p of parts) if (p) s.appendChild(p);
    return s;
  }

  function fields(dl, pairs) {
    clear(dl);
    for (const [k, v] of pairs) {
      const d = document.createElement("div");
      d.appendChild(el("dt", k));
      const dd = el("dd");
      if (v instanceof Node) dd.appendChild(v);
      else dd.textContent = v === null || v === undefined || v === "" ? "-" : String(v);
      d.appendChild(dd);
      dl.appendChild(d);
    }
  }

  function fillRows(table, rows, empty) {
    const tbody = table.tBodies[0];
    clear(tbody);
    if (!rows.length) {
      const tr = row([empty]);
      tr.cells[0].colSpan = table.tHead.rows[0].cells.length;
      tr.className = "empty";
      tbody.appendChild(tr);
      return;
    }
    /* A column headed as numeric is aligned as its heading. */
    const num = [...table.tHead.rows[0].cells].map((th) => th.classList.contains("num"));
    const frag = document.createDocumentFragment();
    for (const r of rows) {
      const tr = r instanceof Node ? r : row(r);
      num.forEach((n, i) => { if (n && tr.cells[i]) tr.cells[i].classList.add("num"); });
      frag.appendChild(tr);
    }
    tbody.appendChild(frag);
  }

  /* ---- times ---- */

  /* "just now", "45 s ago", "2 min ago", "3 h ago", "4 days ago", or "in 30 s". */
  function relative(iso, now) {
    const t = Date.parse(iso);
    if (isNaN(t)) return String(iso);
    let s = Math.round(((now || Date.now()) - t) / 1000);
    const future = s < 0;
    if (future) s = -s;
    let txt;
    if (s < 5) return "just now";
    if (s < 60) txt = s + " s";
    else if (s < 3600) txt = Math.floor(s / 60) + " min";
    else if (s < 86400) txt = Math.floor(s / 3600) + " h";
    else {
      const d = Math.floor(s / 86400);
      txt = d + (d === 1 ? " day" : " days");
    }
    return future ? "in " + txt : txt + " ago";
  }

  /* A <time> saying how long ago, the absolute time in its title; "" for null. */
  function time(iso) {
    if (!iso) return "";
    const t = el("time", relative(iso), "rel");
    t.dateTime = iso;
    t.title = iso;
    return t;
  }

  /* A duration in seconds as "45 s", "3 min 20 s", "2 h 5 min". */
  function duration(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  /* The later of two RFC 3339 times (both UTC "Z", so text order is time order). */
  function later(a, b) {
    if (!a) return b || null;
    if (!b) return a;
    return a > b ? a : b;
  }

  /* How long since iso, "12 s so far", kept current like the relative times. */
  function running(iso) {
    const s = el("span", null, "running");
    s.dataset.start = iso;
    s.textContent = duration((Date.now() - Date.parse(iso)) / 1000) + " so far";
    return s;
  }

  function refreshTimes() {
    const now = Date.now();
    for (const t of document.querySelectorAll("time.rel"))
      t.textContent = relative(t.dateTime, now);
    for (const s of document.querySelectorAll("span.running"))
      s.textContent = duration((now - Date.parse(s.dataset.start)) / 1000) + " so far";
  }
  setInterval(refreshTimes, REL_MS);

  /* "job 12 (commission)", "job 12 started": the job an audit text names, or 0. */
  function jobOf(...texts) {
    for (const s of texts) {
      const m = /\bjob (\d+)\b/.exec(s || "");
      if (m) return Number(m[1]);
    }
    return 0;
  }

  function nodeHref(name) { return "#/node/" + encodeURIComponent(name); }
  function jobHref(id) { return "#/job/" + encodeURIComponent(id); }

  Object.assign(CM, { el, link, clear, cell, row, badge, group, fields, fillRows, relative,
    time, duration, running, later, refreshTimes, jobOf, nodeHref, jobHref });
})();
