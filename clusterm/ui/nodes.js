/*
 * The node list: filters (text, state, status, host group, tag=value),
 * sorting, paging, tag columns (chosen ones kept in localStorage) and the
 * tick boxes the actions work on (actions.js).
 */
"use strict";

(function () {
  const CM = window.CM;
  const { $, el, link, clear, cell, badge, group, time, nodeHref } = CM;
  const PAGE = 100;            /* rows per page */
  const TAGCOLS_KEY = "clusterm.tagcols";
  const FIXED = [              /* [key, heading, numeric] */
    ["name", "Name"], ["state", "State"], ["status", "Status"], ["host_group", "Host group"],
    ["address", "Address"], ["alive_votes", "Alive votes", true],
    ["gone_votes", "Gone votes", true], ["last_change", "Last change"],
  ];

  const list = {
    page: 0,
    sortKey: "name",
    sortDir: 1,
    rows: [],                  /* nodes after filter and sort */
    tagKeys: [],               /* every tag key the nodes carry, sorted */
  };

  function app() { return CM.app; }

  /* The node's flags from the heartbeat checks, as badges after its state. */
  function flags(n) {
    const out = [];
    if (n.partitioned) out.push(badge("partitioned"));
    if (n.unreachable) out.push(badge("unreachable"));
    return out;
  }

  function stateCell(n) {
    return group([badge(n.state)].concat(flags(n)));
  }

  function sortValue(n, key) {
    if (key.startsWith("tag:")) {
      const v = (n.tags || {})[key.slice(4)];
      return v === undefined ? "" : String(v).toLowerCase();
    }
    if (key === "last_change") return CM.lastChange(n) || "";
    const v = n[key];
    if (key === "alive_votes" || key === "gone_votes") return typeof v === "number" ? v : -1;
    return v === null || v === undefined ? "" : String(v).toLowerCase();
  }

  /* "key=value" (that value), "key" (has the tag); "" matches all. null: malformed. */
  function tagFilter() {
    const t = $("f-tag").value.trim();
    if (!t) return () => true;
    const i = t.indexOf("=");
    const k = (i < 0 ? t : t.slice(0, i)).trim(), v = i < 0 ? null : t.slice(i + 1).trim();
    if (!k) return null;
    return (n) => {
      const tags = n.tags || {};
      if (!Object.prototype.hasOwnProperty.call(tags, k)) return false;
      return v === null || String(tags[k]) === v;
    };
  }

  function compute() {
    const a = app();
    const text = $("f-text").value.trim().toLowerCase();
    const st = $("f-state").value, ss = $("f-status").value, g = $("f-group").value;
    const grp = g === "\u0000none" ? "" : g;
    const tagOk = tagFilter();
    $("f-tag").setAttribute("aria-invalid", tagOk ? "false" : "true");
    const out = [];
    for (const n of a.nodes.values()) {
      if (st && n.state !== st) continue;
      if (ss && n.status !== ss) continue;
      if (g && (n.host_group || "") !== grp) continue;
      if (tagOk && !tagOk(n)) continue;
      if (text && !(n.name.toLowerCase().includes(text) ||
          (n.address || "").toLowerCase().includes(text) ||
          (n.host_group || "").toLowerCase().includes(text))) continue;
      out.push(n);
    }
    const key = list.sortKey, dir = list.sortDir;
    out.sort((x, y) => {
      const p = sortValue(x, key), q = sortValue(y, key);
      if (p < q) return -dir;
      if (p > q) return dir;
      return x.name < y.name ? -1 : x.name > y.name ? 1 : 0;
    });
    list.rows = out;
    for (const name of [...a.selected]) if (!a.nodes.has(name)) a.selected.delete(name);
  }

  function apply() {
    list.page = 0;
    compute();
    render();
  }

  /* ---- tag columns ---- */

  function saveTagCols() {
    try { localStorage.setItem(TAGCOLS_KEY, JSON.stringify(app().tagCols)); } catch (e) {
      /* storage off: the choice lasts for this page only */
    }
  }

  /* The column chooser's boxes, one per tag key the nodes carry (or chosen before). */
  function fillColumnChooser() {
    const keys = new Set(app().tagCols);
    for (const n of app().nodes.values()) for (const k of Object.keys(n.tags || {})) keys.add(k);
    const sorted = [...keys].sort();
    if (sorted.join("\u0000") === list.tagKeys.join("\u0000")) return;
    list.tagKeys = sorted;
    const box = $("tag-columns");
    clear(box);
    if (!sorted.length) box.appendChild(el("p", "The nodes carry no tags.", "muted"));
    for (const k of sorted) {
      const lab = el("label");
      const cb = el("input");
      cb.type = "checkbox";
      cb.value = k;
      cb.checked = app().tagCols.includes(k);
      cb.addEventListener("change", () => {
        const cols = app().tagCols.filter((x) => x !== k);
        if (cb.checked) cols.push(k);
        app().tagCols = cols;
        saveTagCols();
        render();
      });
      lab.appendChild(cb);
      lab.appendChild(document.createTextNode(" " + k));
      box.appendChild(lab);
    }
  }

  /* The header: a tick-all box, the fixed columns, then the chosen tags. */
  function renderHead() {
    const tr = $("node-table").tHead.rows[0];
    const want = ["pick"].concat(FIXED.map((f) => f[0]), app().tagCols.map((k) => "tag:" + k));
    const have = [...tr.cells].map((th) => th.dataset.key);
    if (want.join("\u0000") !== have.join("\u0000")) {
      clear(tr);
      const pick = el("th", null, "pick");
      pick.dataset.key = "pick";
      const all = el("input");
      all.type = "checkbox";
      all.id = "pick-all";
      all.setAttribute("aria-label", "Select all nodes shown");
      all.addEventListener("change", () => {
        for (const n of list.rows) {
          if (all.checked) app().selected.add(n.name);
          else app().selected.delete(n.name);
        }
        render();
      });
      pick.appendChild(all);
      tr.appendChild(pick);
      const cols = FIXED.concat(app().tagCols.map((k) => ["tag:" + k, k]));
      for (const [key, title, num] of cols) {
        const th = el("th", null, (num ? "num" : "") + (key.startsWith("tag:") ? " tag" : ""));
        th.dataset.key = key;
        const b = el("button", title);
        b.type = "button";
        if (key.startsWith("tag:")) b.title = "tag " + title;
        b.addEventListener("click", () => {
          if (list.sortKey === key) list.sortDir = -list.sortDir;
          else { list.sortKey = key; list.sortDir = 1; }
          apply();
        });
        th.appendChild(b);
        tr.appendChild(th);
      }
    }
    for (const th of tr.cells) {
      if (th.dataset.key === list.sortKey)
        th.setAttribute("aria-sort", list.sortDir > 0 ? "ascending" : "descending");
      else
        th.removeAttribute("aria-sort");
    }
    const shown = list.rows.filter((n) => app().selected.has(n.name)).length;
    $("pick-all").checked = shown > 0 && shown === list.rows.length;
    $("pick-all").indeterminate = shown > 0 && shown < list.rows.length;
  }

  function pickBox(n) {
    const cb = el("input");
    cb.type = "checkbox";
    cb.className = "pick-node";
    cb.value = n.name;
    cb.checked = app().selected.has(n.name);
    cb.setAttribute("aria-label", "Select " + n.name);
    cb.addEventListener("change", () => {
      if (cb.checked) app().selected.add(n.name);
      else app().selected.delete(n.name);
      renderHead();
      CM.actions.selectionChanged();
    });
    return cb;
  }

  function render() {
    fillColumnChooser();
    renderHead();
    const a = app();
    const tbody = $("node-table").tBodies[0];
    const pages = Math.max(1, Math.ceil(list.rows.length / PAGE));
    if (list.page >= pages) list.page = pages - 1;
    const from = list.page * PAGE, to = Math.min(list.rows.length, from + PAGE);
    const frag = document.createDocumentFragment();
    for (let i = from; i < to; i++) {
      const n = list.rows[i];
      const tr = document.createElement("tr");
      if (a.selected.has(n.name)) tr.className = "picked";
      cell(tr, pickBox(n)).className = "pick";
      cell(tr, link(nodeHref(n.name), n.name));
      cell(tr, stateCell(n));
      cell(tr, badge(n.status));
      cell(tr, n.host_group || "");
      cell(tr, n.address || "");
      cell(tr, n.alive_votes).className = "num";
      cell(tr, n.gone_votes).className = "num";
      cell(tr, time(CM.lastChange(n)));
      for (const k of a.tagCols) {
        const v = (n.tags || {})[k];
        cell(tr, v === undefined ? "" : v).className = "tag";
      }
      frag.appendChild(tr);
    }
    clear(tbody);
    tbody.appendChild(frag);
    const of = a.nodes.size + (a.nodes.size === 1 ? " node" : " nodes");
    $("node-count").textContent = list.rows.length === a.nodes.size ? of :
      list.rows.length + " of " + of;
    $("node-page").textContent = list.rows.length ?
      "rows " + (from + 1) + "–" + to + " (page " + (list.page + 1) + " of " + pages + ")" : "";
    $("node-prev").disabled = list.page === 0;
    $("node-next").disabled = list.page >= pages - 1;
    CM.actions.selectionChanged();
  }

  function init() {
    $("f-text").addEventListener("input", apply);
    $("f-tag").addEventListener("input", apply);
    for (const id of ["f-state", "f-status", "f-group"]) $(id).addEventListener("change", apply);
    $("node-prev").addEventListener("click", () => { list.page--; render(); });
    $("node-next").addEventListener("click", () => { list.page++; render(); });
  }

  CM.nodes = { init, compute, apply, render, flags, stateCell };
})();
