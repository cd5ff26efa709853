// breakerwatch status page: one server-sent events stream, rows updated in
// place, one render per update batch. No dependencies.
"use strict";

const API = "../api/circuit-breaker/";
const $ = (id) => document.getElementById(id);

const rows = new Map();     // name -> {data, tr, cells, hist, ser, visible}
let order = [];             // names in server order
let routes = [];
let tokenRequired = false;
let token = "";             // the admin token: this page's memory only
let offset = 0;             // server clock minus ours, ms
let sampleLimit = 150;
let historyLimit = 32;
let source = null;
let sortKey = "name";       // the column the rows are sorted by
let sortDesc = false;

// Measurements, read by the browser tests (docs/status-page.md).
const perf = { firstRenderMs: null, renders: 0, updates: 0, updateMsTotal: 0, updateMsMax: 0, lastUpdateMs: 0, rows: 0, samples: 0, sorts: 0, sortMsMax: 0, lastSortMs: 0, sortMoves: 0, lastSortMoves: 0 };
window.breakerwatch = perf;

const fmtPct = (v) => (v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0) + "%";
const fmtMs = (v) => v >= 1000 ? (v / 1000).toFixed(2) + "s" : v >= 10 ? v.toFixed(0) + "ms" : v.toFixed(1) + "ms";
const fmtNum = (v) => v < 0 ? "–" : v >= 100 ? v.toFixed(0) : v.toFixed(1);

function fmtDur(ms) {
  let s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  s %= 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

function routesOf(name) {
  const parts = [];
  for (const r of routes) {
    const i = r.breakers.indexOf(name);
    if (i === 0) {
      parts.push(r.breakers.length > 1 ? `${r.prefix} → falls back to ${r.breakers.slice(1).join(", ")}` : r.prefix);
    } else if (i > 0) {
      parts.push(`fallback ${i} of ${r.prefix}`);
    }
  }
  return parts.join("; ");
}

// Where a mode or a promotion comes from, for people: "config", "runtime"
// (set on this process only), or a fleet override with who and when (the
// time of day here; the element's title has the full source).
function sourceText(src) {
  if (!src || src === "config") return "from config";
  if (src === "runtime") return "runtime override (this process only)";
  const m = /^override by (.+) at (\S+)$/.exec(src);
  const at = m && new Date(m[2]);
  if (at && !isNaN(at)) return `fleet override by ${m[1]} at ${at.toLocaleTimeString()}`;
  return "fleet " + src;
}

// setSource shows a source in el, with the full source as its title.
function setSource(el, text, src) {
  set(el, text);
  const title = src && src !== "config" ? src : "";
  if (el.title !== title) el.title = title;
}

// Which replicas of the fleet see the breaker open ("" without fleet mode).
function fleetText(f) {
  if (!f) return "";
  const n = f.replicas.length, o = f.open.length, of = `${n} replica${n === 1 ? "" : "s"}`;
  let s = o ? `open on ${o} of ${of}: ${f.open.join(", ")}` : `open on none of ${of}`;
  if (f.fleet_open) s = `open fleet-wide (decided by ${f.decided_by}); ${s}`;
  return s;
}

// ---- rendering ----

const template = $("row-t");
let observer = null;

function makeRow(d) {
  const tr = template.content.firstElementChild.cloneNode(true);
  const q = (s) => tr.querySelector(s);
  const r = {
    data: null, tr, hist: [], ser: { at: [], er: [], p95: [] }, visible: false,
    cells: {
      n: q(".n"), routes: q(".routes"), state: q(".state"), mode: q(".mode"), since: q(".since"),
      fleet: q(".fleet"), modeSrc: q(".mode-src"), promoted: q(".promoted"),
      err: q(".err"), lat: q(".lat"), cps: q(".cps"), rej: q(".rej"), health: q(".health"),
      spark: q(".spark"), er: q(".er"), p95: q(".p95"), timeline: q(".timeline"), ol: q(".timeline ol"),
    },
  };
  tr.dataset.name = d.name;
  r.cells.n.textContent = d.name;
  r.cells.routes.textContent = routesOf(d.name);
  q(".reset").setAttribute("aria-label", `Reset ${d.name}`);
  q(".set-mode").setAttribute("aria-label", `Change the mode of ${d.name}`);
  r.cells.spark.setAttribute("aria-label", `${d.name}: error rate and p95 latency, recent samples`);
  r.cells.timeline.addEventListener("toggle", () => { if (r.cells.timeline.open) drawTimeline(r); });
  return r;
}

// set writes a text only when it changed: every write invalidates layout.
function set(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function fill(r, d) {
  const c = r.cells, old = r.data;
  r.data = d;
  if (!old || old.state !== d.state) {
    c.state.textContent = d.state;
    c.state.className = "state " + d.state;
    r.tr.dataset.state = d.state;
  }
  if (!old || old.mode !== d.mode) {
    c.mode.textContent = d.mode;
    r.tr.dataset.mode = d.mode;
  }
  setSource(c.modeSrc, sourceText(d.mode_source), d.mode_source);
  const promoted = d.promoted ? `settings: candidate ${d.promoted}, ${sourceText(d.settings_source)}` : "";
  setSource(c.promoted, promoted, d.settings_source);
  if (c.promoted.hidden !== !promoted) c.promoted.hidden = !promoted;
  const fl = fleetText(d.fleet);
  set(c.fleet, fl);
  if (c.fleet.hidden !== !fl) c.fleet.hidden = !fl;
  const someOpen = !!(d.fleet && d.fleet.open.length);
  if (c.fleet.classList.contains("some-open") !== someOpen) c.fleet.classList.toggle("some-open", someOpen);
  set(c.err, d.window_calls ? `${fmtPct(d.error_rate)} of ${d.window_calls}` : "no calls");
  if (!old || old.window !== d.window) c.err.title = `over the last ${d.window}`;
  set(c.lat, d.window_calls ? `${fmtMs(d.p50_ms)} / ${fmtMs(d.p95_ms)} / ${fmtMs(d.p99_ms)}` : "–");
  set(c.cps, fmtNum(d.calls_per_sec));
  set(c.rej, `${d.rejected} / ${d.would_reject}`);
  const h = d.health;
  if (!old || old.health.status !== h.status) c.health.className = "health " + h.status;
  set(c.health, h.status === "none" ? "no check" : h.status);
  const title = h.error || (h.checked_at ? `checked ${h.checked_at}` : "");
  if (c.health.title !== title) c.health.title = title;
  set(c.since, fmtDur(Date.now() + offset - Date.parse(d.since)));
}

function render(list) {
  const t0 = performance.now();
  const body = $("rows");
  if (observer) observer.disconnect();
  observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const r = rows.get(e.target.dataset.name);
      if (!r) continue;
      r.visible = e.isIntersecting;
      if (r.visible) drawSpark(r);
    }
  });
  const keep = new Map(rows);
  rows.clear();
  order = [];
  const frag = document.createDocumentFragment();
  for (const d of list) {
    const r = keep.get(d.name) || makeRow(d);
    r.cells.routes.textContent = routesOf(d.name);
    rows.set(d.name, r);
    order.push(d.name);
    fill(r, d);
    frag.appendChild(r.tr);
    observer.observe(r.tr);
  }
  body.replaceChildren(frag);
  applySort();
  applyFilters();
  summarize();
  perf.renders++;
  perf.rows = rows.size;
  if (perf.firstRenderMs === null) {
    // Time from navigation start to the first full table.
    perf.firstRenderMs = performance.now();
    perf.firstRenderScriptMs = performance.now() - t0;
  }
}

// ---- sorting ----

// The value each sortable column sorts by; rows without a value (no calls
// in the window, no sample yet) sort below every row with one.
const sortValue = {
  state: (d) => ({ closed: 0, "half-open": 1, open: 2 })[d.state],
  err: (d) => (d.window_calls ? d.error_rate : -1),
  p95: (d) => (d.window_calls ? d.p95_ms : -1),
  cps: (d) => d.calls_per_sec,
};

const byName = (a, b) => (a.data.name < b.data.name ? -1 : a.data.name > b.data.name ? 1 : 0);

function compare(a, b) {
  if (sortKey === "name") return sortDesc ? byName(b, a) : byName(a, b);
  const va = sortValue[sortKey](a.data), vb = sortValue[sortKey](b.data);
  const na = !(va >= 0), nb = !(vb >= 0); // no value: last, whichever the direction
  if (na !== nb) return na ? 1 : -1;
  if (va !== vb && !na) return sortDesc ? vb - va : va - vb;
  return byName(a, b); // ties: by name, always ascending
}

// keepers returns, for the current positions of the rows in their new
// order, which rows form a longest run already in order (not necessarily
// contiguous): those stay where they are while the others move around them.
// A row not in the table (position -1) is never kept. O(n log n).
function keepers(pos) {
  const n = pos.length, keep = new Uint8Array(n), prev = new Int32Array(n), tails = [];
  for (let i = 0; i < n; i++) {
    if (pos[i] < 0) continue;
    let lo = 0, hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pos[tails[mid]] < pos[i]) lo = mid + 1; else hi = mid;
    }
    prev[i] = lo ? tails[lo - 1] : -1;
    tails[lo] = i;
  }
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = prev[i]) keep[i] = 1;
  return keep;
}

// applySort puts the rows in the chosen order by moving the page's own row
// elements, never rebuilding them (an open timeline stays open), and only
// those that must move: the longest run of rows already in order stays put,
// so an update that reorders one row moves one row, and reversing a sort of
// states moves the few rows of the other states. Where the browser has
// moveBefore, a row moves without leaving the document (its focus and
// state are kept); elsewhere insertBefore moves it.
function applySort() {
  const t0 = performance.now();
  const list = [...rows.values()].sort(compare);
  const body = $("rows");
  const at = new Map();
  let i = 0;
  for (let el = body.firstElementChild; el; el = el.nextElementSibling) at.set(el, i++);
  const pos = list.map((r) => at.get(r.tr) ?? -1);
  if (pos.every((p, j) => p === j) && i === list.length) return;
  const keep = keepers(pos);
  const move = body.moveBefore ? (tr, next) => body.moveBefore(tr, next) : (tr, next) => body.insertBefore(tr, next);
  // From the bottom up: each row that moves goes just above the row that
  // follows it in the new order, which is in place by then.
  let next = null, moved = 0;
  for (let j = list.length - 1; j >= 0; j--) {
    const tr = list[j].tr;
    if (!keep[j]) {
      move(tr, next);
      moved++;
    }
    next = tr;
  }
  const dt = performance.now() - t0;
  perf.sorts++;
  perf.sortMoves += moved;
  perf.lastSortMoves = moved;
  perf.lastSortMs = dt;
  if (dt > perf.sortMsMax) perf.sortMsMax = dt;
}

function onSortClick(ev) {
  const th = ev.target.closest("th[data-sort]");
  if (!th) return;
  const key = th.dataset.sort;
  if (key === sortKey) {
    sortDesc = !sortDesc;
  } else {
    // Names A to Z first; the numbers worst (highest) first.
    sortKey = key;
    sortDesc = key !== "name";
  }
  for (const h of document.querySelectorAll("th[data-sort]")) h.removeAttribute("aria-sort");
  th.setAttribute("aria-sort", sortDesc ? "descending" : "ascending");
  applySort();
}

function summarize() {
  const n = { closed: 0, "half-open": 0, open: 0 };
  for (const r of rows.values()) n[r.data.state]++;
  $("summary").textContent = `${rows.size} breakers: ${n.open} open, ${n["half-open"]} half-open, ${n.closed} closed`;
}

function applyFilters() {
  const st = $("f-state").value, md = $("f-mode").value, nm = $("f-name").value.trim().toLowerCase();
  let shown = 0;
  for (const r of rows.values()) {
    const d = r.data;
    const hide = (st && d.state !== st) || (md && d.mode !== md) || (nm && !d.name.toLowerCase().includes(nm));
    if (r.tr.hidden !== !!hide) r.tr.hidden = !!hide;
    if (!hide) shown++;
  }
  $("shown").textContent = shown === rows.size ? "" : `showing ${shown} of ${rows.size}`;
}

function drawSpark(r) {
  const s = r.ser, n = s.at.length;
  if (n < 2) return;
  let maxP = 0;
  for (const v of s.p95) if (v > maxP) maxP = v;
  // The right edge is now; the chart spans at least 10 samples (20 seconds
  // at the default 2s) so a young series does not stretch.
  const span = Math.min(sampleLimit, Math.max(n, 10));
  const x = (i) => ((i + span - n) * 100 / (span - 1)).toFixed(1);
  const line = (vals, scale) => {
    const pts = [];
    for (let i = 0; i < n; i++) if (vals[i] >= 0) pts.push(x(i) + "," + (23 - (scale ? vals[i] / scale : 0) * 22).toFixed(1));
    return pts.join(" ");
  };
  r.cells.er.setAttribute("points", line(s.er, 1));
  r.cells.p95.setAttribute("points", line(s.p95, maxP));
  const last = n - 1;
  r.cells.spark.querySelector("title")?.remove();
  const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
  title.textContent = `now: errors ${s.er[last] >= 0 ? fmtPct(s.er[last]) : "–"}, p95 ${s.p95[last] >= 0 ? fmtMs(s.p95[last]) : "–"} (peak ${fmtMs(maxP)})`;
  r.cells.spark.prepend(title);
}

function drawTimeline(r) {
  const items = [];
  for (let i = r.hist.length - 1; i >= 0; i--) {
    const e = r.hist[i];
    const li = document.createElement("li");
    const t = document.createElement("time");
    t.dateTime = e.at;
    t.textContent = new Date(e.at).toLocaleTimeString();
    const what = e.kind === "mode" ? `mode ${e.from} → ${e.to}` : `${e.from} → ${e.to}`;
    li.append(t, ` ${what}: ${e.reason || "no reason given"}`);
    li.className = "kind-" + e.kind;
    items.push(li);
  }
  if (!items.length) {
    const li = document.createElement("li");
    li.textContent = "no transitions yet";
    items.push(li);
  }
  r.cells.ol.replaceChildren(...items);
}

function addHistory(r, e) {
  const h = r.hist;
  if (h.length && h[h.length - 1].seq >= e.seq) {
    if (h.some((x) => x.seq === e.seq)) return false;
  }
  h.push(e);
  h.sort((a, b) => a.seq - b.seq);
  while (h.length > historyLimit) h.shift();
  return true;
}

function announce(msg) {
  const a = $("announce");
  const p = document.createElement("p");
  p.textContent = msg;
  a.append(p);
  while (a.childNodes.length > 5) a.firstChild.remove();
}

// ---- the stream ----

function onSnapshot(ev) {
  const s = JSON.parse(ev.data);
  offset = Date.parse(s.server_time) - Date.now();
  tokenRequired = s.token_required;
  routes = s.routes;
  sampleLimit = Math.max(2, Math.round(300000 / s.sample_interval_ms));
  historyLimit = s.history_limit;
  const rep = $("replica");
  rep.hidden = !s.fleet_instance;
  rep.textContent = s.fleet_instance ? `fleet mode: this is replica ${s.fleet_instance}` : "";
  render(s.breakers);
  setConn(true);
  loadHistory();
  loadSeries();
}

function onUpdate(ev) {
  const t0 = performance.now();
  const u = JSON.parse(ev.data);
  offset = Date.parse(u.server_time) - Date.now();
  let stateChanged = false;
  for (const d of u.breakers) {
    const r = rows.get(d.name);
    if (!r) continue;
    if (r.data.state !== d.state || r.data.mode !== d.mode) stateChanged = true;
    fill(r, d);
  }
  const changed = [];
  for (const e of u.transitions) {
    const r = rows.get(e.name);
    if (r && addHistory(r, e)) {
      if (r.cells.timeline.open) drawTimeline(r);
      changed.push(e);
    }
  }
  if (changed.length > 5) {
    announce(`${changed.length} transitions`);
  } else {
    for (const e of changed) announce(`${e.name}: ${e.kind === "mode" ? "mode " : ""}${e.from} to ${e.to}, ${e.reason}`);
  }
  if (sortKey !== "name" && u.breakers.length) applySort();
  if (stateChanged) {
    applyFilters();
    summarize();
  }
  const dt = performance.now() - t0;
  perf.updates++;
  perf.updateMsTotal += dt;
  perf.lastUpdateMs = dt;
  if (dt > perf.updateMsMax) perf.updateMsMax = dt;
}

function onSample(ev) {
  perf.samples++;
  const s = JSON.parse(ev.data);
  for (const [name, v] of Object.entries(s.samples)) {
    const r = rows.get(name);
    if (!r) continue;
    const ser = r.ser;
    if (ser.at.length && ser.at[ser.at.length - 1] >= s.at) continue;
    ser.at.push(s.at); ser.er.push(v[0]); ser.p95.push(v[1]);
    if (ser.at.length > sampleLimit) { ser.at.shift(); ser.er.shift(); ser.p95.shift(); }
    if (r.visible && !r.tr.hidden) drawSpark(r);
  }
}

async function getJSON(path) {
  const res = await fetch(API + path, { headers: { Accept: "application/json" } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function loadHistory() {
  try {
    const h = await getJSON("history");
    for (const b of h.breakers) {
      const r = rows.get(b.name);
      if (!r) continue;
      for (const e of b.transitions) addHistory(r, e);
      if (r.cells.timeline.open) drawTimeline(r);
    }
  } catch (e) {
    showAnswer(`Could not load the history: ${e.message}`, true);
  }
}

async function loadSeries() {
  try {
    const s = await getJSON("series");
    sampleLimit = s.limit;
    for (const b of s.breakers) {
      const r = rows.get(b.name);
      if (!r) continue;
      r.ser = { at: s.at.slice(), er: b.error_rate, p95: b.p95_ms };
      if (r.visible) drawSpark(r);
    }
  } catch (e) {
    showAnswer(`Could not load the series: ${e.message}`, true);
  }
}

function setConn(live) {
  const c = $("conn");
  c.textContent = live ? "live" : "disconnected, reconnecting…";
  c.className = "conn " + (live ? "live" : "down");
}

function connect() {
  source = new EventSource(API + "events");
  source.addEventListener("snapshot", onSnapshot);
  source.addEventListener("update", onUpdate);
  source.addEventListener("sample", onSample);
  source.addEventListener("error", () => setConn(false));
}

// ---- actions ----

function showAnswer(text, bad) {
  const a = $("answer");
  a.hidden = false;
  a.textContent = text;
  a.classList.toggle("bad", !!bad);
}

// confirm asks for confirmation (and the token when the server needs one);
// it resolves to true when confirmed.
// With mode set, the dialog also offers the modes, starting from that one;
// the promise then resolves to the mode chosen (or false).
function confirmAction(text, okLabel, mode) {
  const dlg = $("confirm");
  $("confirm-text").textContent = text;
  $("mode-row").hidden = !mode;
  if (mode) $("confirm-mode").value = mode;
  $("confirm-ok").textContent = okLabel;
  const needToken = tokenRequired;
  $("token-row").hidden = !needToken;
  $("token").value = token;
  $("token").required = needToken;
  return new Promise((resolve) => {
    const done = (ok) => {
      dlg.removeEventListener("close", onClose);
      $("confirm-cancel").onclick = null;
      if (dlg.open) dlg.close();
      resolve(ok);
    };
    const onClose = () => done(dlg.returnValue === "ok");
    dlg.returnValue = "";
    dlg.addEventListener("close", onClose);
    $("confirm-cancel").onclick = () => done(false);
    $("confirm-form").onsubmit = (e) => {
      e.preventDefault();
      if (needToken) token = $("token").value;
      dlg.returnValue = "ok";
      done(mode ? $("confirm-mode").value : true);
    };
    dlg.showModal();
    (needToken && !token ? $("token") : mode ? $("confirm-mode") : $("confirm-cancel")).focus();
  });
}

async function mutate(path, body) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  if (body) headers["Content-Type"] = "application/json";
  let res, text;
  try {
    res = await fetch(API + path, { method: "POST", headers, body: body ? JSON.stringify(body) : undefined });
    text = await res.text();
  } catch (e) {
    showAnswer(`POST ${path}: ${e.message}`, true);
    return;
  }
  let msg = text;
  try { msg = JSON.stringify(JSON.parse(text)); } catch { /* not JSON: show as is */ }
  if (res.status === 401) {
    tokenRequired = true;
    token = "";
  }
  showAnswer(`POST ${path} → ${res.status} ${res.statusText}\n${msg}`, !res.ok);
}

async function onRowClick(ev) {
  const btn = ev.target.closest("button");
  if (!btn) return;
  const tr = btn.closest("tr");
  const name = tr.dataset.name;
  const r = rows.get(name);
  if (btn.classList.contains("reset")) {
    if (await confirmAction(`Reset ${name}? It goes back to closed with a fresh window (now ${r.data.state}).`, "Reset"))
      await mutate("reset/" + encodeURIComponent(name));
  } else if (btn.classList.contains("set-mode")) {
    const mode = await confirmAction(`Change the mode of ${name} (now ${r.data.mode}): monitor counts what enforce would reject, disabled only measures.`, "Set mode", r.data.mode);
    if (mode) await mutate("mode/" + encodeURIComponent(name), { mode });
  }
}

async function onResetAll() {
  if (await confirmAction(`Reset all ${rows.size} breakers? Every one goes back to closed with a fresh window.`, "Reset all"))
    await mutate("reset-all");
}

// ---- start ----

$("rows").addEventListener("click", onRowClick);
document.querySelector("#breakers thead").addEventListener("click", onSortClick);
document.querySelector('th[data-sort="name"]').setAttribute("aria-sort", "ascending");
$("reset-all").addEventListener("click", onResetAll);
for (const id of ["f-state", "f-mode", "f-name"]) $(id).addEventListener("input", applyFilters);
$("filters").addEventListener("submit", (e) => e.preventDefault());
// Time in state ticks on the rows on screen only.
setInterval(() => {
  const now = Date.now() + offset;
  for (const r of rows.values()) {
    if (r.visible && !r.tr.hidden) set(r.cells.since, fmtDur(now - Date.parse(r.data.since)));
  }
}, 1000);
connect();
