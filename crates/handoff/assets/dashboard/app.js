// The SLA dashboard: signs in with a user name and password or a token,
// shows the scorecard tiles with 12-period sparklines, the charts (SVG drawn
// by the service) and the breach queue, acts through the /v1 API with the
// session's CSRF token, and refetches when the service says something
// changed (Server-Sent Events). No library: the page is small.
"use strict";

const FILTERS = ["period", "at", "team", "rep", "tier", "channel", "as_of"];
let session = null;
let latest = null;
// The service's clock minus the browser's, so countdowns follow the service.
let skew = 0;

const $ = (sel) => document.querySelector(sel);
// One formatter for every deadline: toLocaleString makes one per call.
const WHEN = new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "short" });

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

function filters() {
  const params = new URLSearchParams(location.search);
  const out = new URLSearchParams();
  for (const f of FILTERS) {
    const v = params.get(f);
    if (v) out.set(f, v);
  }
  return out;
}

function showFilters() {
  const params = filters();
  const form = $("#filters");
  for (const f of FILTERS) {
    const v = params.get(f) || (f === "period" ? "week" : "");
    const input = form.elements[f];
    if (input.tagName === "SELECT" && v && ![...input.options].some((o) => o.value === v)) {
      input.append(el("option", { value: v }, v));
    }
    input.value = v;
  }
}

function formatActual(c) {
  if (c.actual === null || c.actual === undefined) return "–";
  return c.is_rate ? (c.actual * 100).toFixed(1) + "%" : String(Math.round(c.actual * 100) / 100);
}

function sparkline(points) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 120 40");
  svg.setAttribute("preserveAspectRatio", "none");
  const values = points.filter((p) => p !== null);
  if (values.length === 0) return svg;
  const lo = Math.min(...values), hi = Math.max(...values);
  const span = hi - lo || 1;
  const step = points.length > 1 ? 116 / (points.length - 1) : 0;
  const coords = [];
  points.forEach((p, i) => {
    if (p === null) return;
    coords.push([2 + i * step, 36 - ((p - lo) / span) * 32]);
  });
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", coords.map((c) => c.join(",")).join(" "));
  svg.append(line);
  const last = coords[coords.length - 1];
  const dot = document.createElementNS(ns, "circle");
  dot.setAttribute("cx", last[0]); dot.setAttribute("cy", last[1]); dot.setAttribute("r", 2.5);
  svg.append(dot);
  return svg;
}

function renderTiles(data) {
  const tiles = $("#tiles");
  tiles.replaceChildren();
  for (const c of data.commitments) {
    const points = data.series.map((p) => {
      const m = p.commitments.find((x) => x.id === c.id);
      return m && m.actual !== null ? m.actual : null;
    });
    const spark = sparkline(points);
    spark.setAttribute("aria-label", "last " + points.length + " periods");
    tiles.append(el("div", { class: "tile " + c.status, "data-commitment": c.id,
        "data-actual": c.actual === null ? "" : String(c.actual), "data-n": String(c.n),
        "data-status": c.status, title: c.note || "" },
      el("h3", {}, c.id),
      el("div", { class: "side" }, c.owner + " · " + c.description),
      el("div", { class: "actual" }, formatActual(c)),
      el("div", { class: "meta" }, "target " + c.target + " · n " + c.n
        + (c.pending ? " · pending " + c.pending : "") + " · " + c.status.replace("_", " ")),
      spark));
  }
}

function renderCharts(data) {
  const box = $("#charts");
  box.replaceChildren();
  for (const c of data.charts) {
    const div = el("div", { class: "chart", "data-chart": c.id }, el("h3", {}, c.title));
    if (c.note) div.append(el("div", { class: "note" }, c.note));
    // The SVG is the service's own, with every text in it escaped.
    const holder = document.createElement("div");
    holder.innerHTML = c.svg;
    div.append(holder);
    box.append(div);
  }
}

function fillOptions(data) {
  const form = $("#filters");
  const params = filters();
  const lists = { team: data.options.teams, tier: data.options.tiers, channel: data.options.channels,
    rep: data.reps.map((r) => r.rep) };
  for (const [name, values] of Object.entries(lists)) {
    const select = form.elements[name];
    const chosen = params.get(name) || "";
    select.replaceChildren(el("option", { value: "" }, "all"));
    const all = new Set(values);
    if (chosen) all.add(chosen);
    for (const v of all) select.append(el("option", { value: v }, v));
    select.value = chosen;
  }
}

function duration(ms) {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  const hms = String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
  return (d ? d + "d " : "") + hms;
}

function tickCountdowns() {
  const now = Date.now() + skew;
  for (const cell of document.querySelectorAll("td.due[data-deadline]")) {
    const left = Date.parse(cell.dataset.deadline) - now;
    const row = cell.parentElement;
    if (row.dataset.state === "breached" || left < 0) {
      cell.textContent = "overdue " + duration(left);
      row.classList.add("breached");
      row.classList.remove("open");
    } else {
      cell.textContent = "in " + duration(left);
    }
  }
}

async function act(account, action, body) {
  const answer = await fetch("/v1/accounts/" + encodeURIComponent(account) + "/" + action, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": session.csrf },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await answer.text();
  const out = $("#action-result");
  if (answer.ok) {
    const event = JSON.parse(text);
    out.textContent = action + " " + account + ": recorded as event " + event.id;
    out.dataset.eventId = event.id;
    out.className = "";
  } else {
    let message = text;
    try { message = JSON.parse(text).error; } catch (_) { /* not JSON */ }
    out.textContent = action + " " + account + " refused (" + answer.status + "): " + message;
    out.className = "error";
  }
  await load();
}

function data_can_act() { return latest && latest.caller && latest.caller.can_act; }

function actionsCell(k, reps) {
  const cell = el("td", { class: "actions" });
  if (!data_can_act()) return cell;
  const reason = el("input", { placeholder: "reason", class: "reason" });
  // One shared list of reps (#reps) for every row's reassign field: a
  // select per row would copy hundreds of options into each of 200 rows.
  const repInput = el("input", { class: "reassign-rep", list: "reps", placeholder: "rep id", size: "8" });
  cell.append(
    el("button", { class: "accept", onclick: () => act(k.account, "accept", {}) }, "Accept"),
    " ",
    reason,
    el("button", { class: "reject", onclick: () => {
      if (!reason.value.trim()) { reason.focus(); return; }
      act(k.account, "reject", { reason: reason.value.trim() });
    } }, "Reject"),
    " ",
    el("button", { class: "activity", onclick: () => act(k.account, "activity", { kind: "call" }) }, "Log call"),
    " ",
    repInput,
    el("button", { class: "reassign", onclick: () => {
      if (!repInput.value.trim()) { repInput.focus(); return; }
      const body = { rep: repInput.value.trim() };
      if (reason.value.trim()) body.reason = reason.value.trim();
      act(k.account, "reassign", body);
    } }, "Reassign"));
  return cell;
}

function renderReps(data) {
  const list = $("#reps");
  list.replaceChildren();
  for (const r of data.reps) list.append(el("option", { value: r.rep }, r.name ? r.name + " (" + r.team + ")" : (r.team || "")));
}

function renderQueue(data) {
  renderReps(data);
  const body = $("#queue tbody");
  body.replaceChildren();
  $("#queue-count").textContent = "(" + data.queue.clocks.length + " of " + data.queue.total + ")";
  for (const k of data.queue.clocks) {
    const owner = k.state === "breached" ? (k.breach_owner || k.owner) : k.owner;
    body.append(el("tr", { class: k.state, "data-account": k.account, "data-state": k.state,
        "data-commitment": k.commitment },
      el("td", {}, k.account),
      el("td", {}, k.commitment),
      el("td", {}, k.tier || ""),
      el("td", { class: "owner" }, owner || ""),
      el("td", {}, k.manager || ""),
      el("td", {}, WHEN.format(new Date(k.deadline))),
      el("td", { class: "due", "data-deadline": k.deadline }, ""),
      actionsCell(k, data.reps)));
  }
  tickCountdowns();
}

async function load() {
  const answer = await fetch("/dashboard/data?" + filters().toString(), { credentials: "same-origin" });
  if (answer.status === 401) { showSignin(); return; }
  const data = await answer.json();
  if (!answer.ok) { $("#error").textContent = data.error; return; }
  $("#error").textContent = "";
  latest = data;
  skew = Date.parse(data.now) - Date.now();
  document.body.dataset.asOf = data.as_of;
  $("#period-label").textContent = data.period;
  $("#sees").textContent = "sees " + data.caller.sees;
  fillOptions(data);
  renderTiles(data);
  renderCharts(data);
  renderQueue(data);
  document.body.dataset.loads = String(Number(document.body.dataset.loads || 0) + 1);
}

function showSignin() {
  $("#board").hidden = true;
  $("#logout").hidden = true;
  $("#signin").hidden = false;
}

let stream = null;
function listen() {
  if (stream) stream.close();
  stream = new EventSource("/dashboard/stream");
  stream.addEventListener("open", () => $("#live").classList.add("on"));
  stream.addEventListener("error", () => $("#live").classList.remove("on"));
  let pending = null;
  stream.addEventListener("changed", () => {
    clearTimeout(pending);
    pending = setTimeout(load, 50);
  });
}

async function start() {
  const answer = await fetch("/dashboard/session", { credentials: "same-origin" });
  if (!answer.ok) { showSignin(); return; }
  session = await answer.json();
  $("#who").textContent = session.name + " (" + session.role + ")";
  $("#signin").hidden = true;
  $("#board").hidden = false;
  $("#logout").hidden = false;
  showFilters();
  await load();
  listen();
}

$("#signin-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const answer = await fetch("/dashboard/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify($("#token").value.trim()
      ? { token: $("#token").value.trim() }
      : { user: $("#user").value.trim(), password: $("#password").value }),
    credentials: "same-origin",
  });
  if (!answer.ok) {
    $("#signin-error").textContent = (await answer.json()).error;
    return;
  }
  $("#token").value = "";
  $("#password").value = "";
  await start();
});

$("#filters").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = new URLSearchParams();
  for (const f of FILTERS) {
    const v = e.target.elements[f].value.trim();
    if (v && !(f === "period" && v === "week")) out.set(f, v);
  }
  history.replaceState(null, "", "/" + (out.toString() ? "?" + out.toString() : ""));
  load();
});

// A chosen list entry applies at once; typed fields wait for Apply.
$("#filters").addEventListener("change", (e) => {
  if (e.target.tagName === "SELECT") $("#filters").requestSubmit();
});

$("#logout").addEventListener("click", async () => {
  await fetch("/dashboard/logout", { method: "POST", headers: { "X-CSRF-Token": session.csrf } });
  if (stream) stream.close();
  session = null;
  showSignin();
});

setInterval(tickCountdowns, 1000);
// Events stored by another process reach this service's log without a
// request here; a slow refresh catches them.
setInterval(() => { if (session) load(); }, 30000);
start();
