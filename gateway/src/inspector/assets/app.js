// The event inspector page: follows GET api/stream (server-sent events read with fetch, so a
// bearer token can be sent), shows a live table, counts and a chart of events/s by outcome, and
// opens one event (GET api/events/{seq}) as readable JSON next to its attributes.
// Same-origin requests only; every value is inserted as text, never as HTML.
"use strict";

const OUTCOMES = ["published", "rejected", "dropped_oversized", "publish_failed"];
const COLORS = { published: "#1a7f37", rejected: "#cf222e", dropped_oversized: "#9a6700", publish_failed: "#8250df" };
const MAX_ROWS = 500; // rows kept in the table (the API keeps more)
const BACKLOG = 200; // past events shown when (re)connecting

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem("inspector-token") || "",
  controller: null,
  paused: false,
  queued: [],
  selected: null,
  lastSeq: 0,
  live: false, // past the stream's backlog (its `ready` event): new rows are highlighted
  filterKey: "",
  retryMs: 1000,
};

// A token in the fragment (#token=…) is taken and removed from the address bar.
if (location.hash.startsWith("#token=")) {
  state.token = decodeURIComponent(location.hash.slice(7));
  sessionStorage.setItem("inspector-token", state.token);
  history.replaceState(null, "", location.pathname + location.search);
}

function headers() {
  return state.token ? { Authorization: "Bearer " + state.token } : {};
}

function filterParams() {
  const params = new URLSearchParams();
  for (const el of $("filters").elements) {
    if (el.name && el.value.trim() !== "") params.set(el.name, el.value.trim());
  }
  return params;
}

function setStatus(text, kind) {
  const s = $("status");
  s.textContent = text;
  s.className = "status" + (kind ? " " + kind : "");
}

function notice(text) {
  const n = $("notice");
  n.textContent = text || "";
  n.hidden = !text;
}

async function errorText(response) {
  try {
    const body = await response.json();
    return body.error || response.statusText;
  } catch {
    return response.statusText;
  }
}

function clearTable() {
  $("events").tBodies[0].replaceChildren();
  $("empty").hidden = false;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function formatTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function addRow(row, fresh) {
  const tbody = $("events").tBodies[0];
  const tr = document.createElement("tr");
  tr.dataset.seq = row.seq;
  tr.dataset.outcome = row.outcome;
  const time = cell(formatTime(row.receivedAt));
  time.title = row.receivedAt;
  const outcome = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = "badge " + row.outcome;
  badge.textContent = row.outcome.replace("_", " ");
  outcome.append(badge);
  const reason = cell(row.reason || (row.outcome === "publish_failed" ? "publish failed" : ""), "why");
  if (row.error) reason.title = row.error;
  tr.append(time, outcome, cell(row.feature), cell(row.action), cell(row.eventId, "id"), reason, cell(row.publisherSource, "who"), cell(row.instance, "who"));
  if (fresh) tr.classList.add("fresh");
  if (state.selected === row.seq) tr.classList.add("selected");
  tr.addEventListener("click", () => openEvent(row.seq));
  tbody.prepend(tr);
  while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
  $("empty").hidden = true;
}

function onEntry(row, fresh) {
  state.lastSeq = Math.max(state.lastSeq, row.seq);
  if (state.paused) {
    state.queued.push(row);
    if (state.queued.length > MAX_ROWS) state.queued.shift();
    return;
  }
  addRow(row, fresh);
}

function onStats(stats) {
  for (const o of OUTCOMES) $("count-" + o).textContent = String(stats.counts[o]);
  $("count-not-kept").textContent = String(stats.notKept);
  $("not-kept").hidden = stats.notKept === 0;
  const rate = stats.rates.eventsPerSecond.total;
  $("rate").textContent = `· ${rate} events/s`;
  drawChart(stats.rates.series);
}

function drawChart(series) {
  const canvas = $("chart");
  const ctx = canvas.getContext("2d");
  const w = canvas.width;
  const h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  let max = 1;
  let total = 0;
  for (const s of series) {
    let sum = 0;
    for (const o of OUTCOMES) sum += s[o];
    max = Math.max(max, sum);
    total += sum;
  }
  const bar = w / series.length;
  series.forEach((s, i) => {
    let y = h;
    for (const o of OUTCOMES) {
      if (!s[o]) continue;
      const bh = (s[o] / max) * (h - 12);
      ctx.fillStyle = COLORS[o];
      ctx.fillRect(i * bar + 0.5, y - bh, Math.max(1, bar - 1), bh);
      y -= bh;
    }
  });
  ctx.fillStyle = "#656d76";
  ctx.font = "10px sans-serif";
  ctx.fillText(`max ${max}/s`, 4, 10);
  canvas.dataset.events = String(total);
  canvas.dataset.max = String(max);
}

function dispatch(name, data) {
  let value;
  try {
    value = JSON.parse(data);
  } catch {
    return;
  }
  if (name === "entry") onEntry(value, state.live);
  else if (name === "ready") state.live = true;
  else if (name === "stats") onStats(value);
  else if (name === "lagged") notice(`${value.missed} events were skipped: this page fell behind the stream. They remain available through the API while kept.`);
  else if (name === "reset") {
    clearTable();
    notice("The inspector was reset.");
  }
}

async function follow() {
  if (state.controller) state.controller.abort();
  const controller = new AbortController();
  state.controller = controller;
  const params = filterParams();
  const key = params.toString();
  if (key !== state.filterKey) {
    state.filterKey = key;
    state.lastSeq = 0;
    clearTable();
  }
  state.live = false;
  if (state.lastSeq > 0) params.set("after", String(state.lastSeq));
  else params.set("backlog", String(BACKLOG));
  setStatus("connecting…");
  let response;
  try {
    response = await fetch("api/stream?" + params, { headers: headers(), signal: controller.signal, cache: "no-store" });
  } catch (e) {
    if (controller.signal.aborted) return;
    return retry("cannot reach the gateway: " + e.message);
  }
  if (response.status === 401) {
    $("auth").hidden = false;
    setStatus("needs a token", "error");
    return;
  }
  if (!response.ok) {
    const text = await errorText(response);
    if (response.status === 400) {
      setStatus("filter error", "error");
      notice(text);
      return;
    }
    return retry(text);
  }
  $("auth").hidden = true;
  notice("");
  setStatus("live", "live");
  state.retryMs = 1000;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of frame.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) dispatch(name, data.join("\n"));
      }
    }
  } catch (e) {
    if (controller.signal.aborted) return;
  }
  if (!controller.signal.aborted) retry("the stream ended");
}

function retry(why) {
  setStatus(`disconnected (${why}); retrying…`, "error");
  const wait = state.retryMs;
  state.retryMs = Math.min(state.retryMs * 2, 10000);
  setTimeout(follow, wait);
}

function pretty(value) {
  return value === null || value === undefined ? "—" : JSON.stringify(value, null, 2);
}

async function openEvent(seq) {
  state.selected = seq;
  for (const tr of $("events").tBodies[0].rows) tr.classList.toggle("selected", Number(tr.dataset.seq) === seq);
  const response = await fetch(`api/events/${seq}`, { headers: headers(), cache: "no-store" });
  const detail = $("detail");
  detail.hidden = false;
  if (!response.ok) {
    $("detail-title").textContent = `Event #${seq}`;
    $("detail-reason").hidden = true;
    $("detail-note").hidden = false;
    $("detail-note").textContent = await errorText(response);
    $("detail-event").textContent = "—";
    $("detail-metadata").textContent = "—";
    $("detail-attributes").tBodies[0].replaceChildren();
    return;
  }
  const e = await response.json();
  detail.dataset.seq = String(e.seq);
  detail.dataset.outcome = e.outcome;
  $("detail-title").textContent = `${e.outcome.replace("_", " ")} · ${e.feature || "?"} / ${e.action || "?"}`;
  $("detail-meta").textContent = `seq ${e.seq} · event id ${e.eventId || "(empty)"} · ${e.receivedAt} · ${e.rpc} · source ${e.publisherSource}` + (e.instance ? ` · instance ${e.instance}` : "") + (e.requestId ? ` · request ${e.requestId}` : "") + (e.bodyBytes != null ? ` · ${e.bodyBytes} bytes` : "");
  const reason = $("detail-reason");
  if (e.error) {
    reason.hidden = false;
    reason.textContent = (e.reason ? e.reason + ": " : "") + e.error;
  } else {
    reason.hidden = true;
    reason.textContent = "";
  }
  const note = $("detail-note");
  note.hidden = !e.note;
  note.textContent = e.note || "";
  $("detail-event").textContent = e.event != null ? pretty(e.event) : e.bodyPrefix ? e.bodyPrefix + " …" : "—";
  $("detail-metadata").textContent = pretty(e.metadata);
  const tbody = $("detail-attributes").tBodies[0];
  tbody.replaceChildren();
  for (const [k, v] of Object.entries(e.attributes || {})) {
    const tr = document.createElement("tr");
    tr.append(cell(k), cell(v));
    tbody.append(tr);
  }
  if (!e.attributes) {
    const tr = document.createElement("tr");
    tr.append(cell("—"), cell(e.outcome === "published" ? "" : "none: the event was not published"));
    tbody.append(tr);
  }
}

let debounce = null;
$("filters").addEventListener("submit", (ev) => {
  ev.preventDefault();
  follow();
});
$("filters").addEventListener("input", () => {
  clearTimeout(debounce);
  debounce = setTimeout(follow, 400);
});
$("filters").addEventListener("change", (ev) => {
  if (ev.target.tagName === "SELECT") {
    clearTimeout(debounce);
    follow();
  }
});
$("clear").addEventListener("click", () => {
  // (HTMLFormElement.prototype.reset: a control named "reset" would shadow the method)
  HTMLFormElement.prototype.reset.call($("filters"));
  follow();
});
$("pause").addEventListener("click", () => {
  state.paused = !state.paused;
  $("pause").setAttribute("aria-pressed", String(state.paused));
  $("pause").textContent = state.paused ? "Resume" : "Pause";
  if (!state.paused) {
    for (const row of state.queued.splice(0)) addRow(row, false);
  }
});
$("forget").addEventListener("click", async () => {
  if (!confirm("Forget every kept event and counter?")) return;
  const response = await fetch("api/events", { method: "DELETE", headers: headers() });
  if (!response.ok) notice(await errorText(response));
});
$("auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("auth").elements.token.value;
  sessionStorage.setItem("inspector-token", state.token);
  follow();
});

follow();
