// Slipway dashboard: the live parts only. Every page works without this script; it adds
// log lines as they are written and status changes as they happen (Server-Sent Events).
"use strict";

const STATUS_CLASS = {
  succeeded: "s-ok", failed: "s-bad", running: "s-run", queued: "s-off", cancelled: "s-warn",
  superseded: "s-off", interrupted: "s-warn", blocked: "s-warn", Synced: "s-ok", OutOfSync: "s-warn", Unknown: "s-off",
  Healthy: "s-ok", Progressing: "s-run", Degraded: "s-bad", Missing: "s-bad", Suspended: "s-off",
};

function setBadge(element, word) {
  if (!element) return;
  element.textContent = word;
  element.className = "badge " + (STATUS_CLASS[word] || "s-off");
}

// ANSI SGR colours and styles, as the server renders them (other escape sequences dropped).
const ANSI = /\x1b\[([0-9;]*)([A-Za-z])|\x1b[()][A-Za-z0-9]|\x1b[=>]/g;
function ansiNodes(text, target) {
  let state = {};
  let last = 0;
  const emit = (piece) => {
    if (!piece) return;
    const classes = [];
    if (state.b) classes.push("a-b");
    if (state.d) classes.push("a-d");
    if (state.i) classes.push("a-i");
    if (state.u) classes.push("a-u");
    if (state.fg) classes.push("a-" + state.fg);
    if (classes.length === 0) { target.appendChild(document.createTextNode(piece)); return; }
    const span = document.createElement("span");
    span.className = classes.join(" ");
    span.textContent = piece;
    target.appendChild(span);
  };
  for (const match of text.matchAll(ANSI)) {
    emit(text.slice(last, match.index));
    last = match.index + match[0].length;
    if (match[2] !== "m") continue;
    const codes = match[1] === "" ? [0] : match[1].split(";").map(Number);
    for (const code of codes) {
      if (code === 0) state = {};
      else if (code === 1) state.b = true;
      else if (code === 2) state.d = true;
      else if (code === 3) state.i = true;
      else if (code === 4) state.u = true;
      else if (code === 22) { state.b = false; state.d = false; }
      else if (code === 23) state.i = false;
      else if (code === 24) state.u = false;
      else if ((code >= 30 && code <= 37) || (code >= 90 && code <= 97)) state.fg = code;
      else if (code === 39) state.fg = undefined;
    }
  }
  emit(text.slice(last));
}

const STAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (.*)$/s;
function appendLine(log, number, text) {
  const line = document.createElement("span");
  line.className = "line";
  line.id = "L" + number;
  const link = document.createElement("a");
  link.href = "#L" + number;
  link.className = "ln";
  link.setAttribute("aria-label", "line " + number);
  link.textContent = String(number);
  line.appendChild(link);
  const stamped = STAMP.exec(text);
  if (stamped) {
    const time = document.createElement("time");
    time.textContent = stamped[1];
    line.appendChild(time);
    line.appendChild(document.createTextNode(" "));
    text = stamped[2];
  }
  const body = document.createElement("span");
  body.className = "text";
  ansiNodes(text, body);
  line.appendChild(body);
  line.appendChild(document.createTextNode("\n"));
  log.appendChild(line);
}

function followLog(log) {
  const job = log.dataset.job;
  let lines = Number(log.dataset.lines || "0");
  const follow = document.getElementById("follow");
  const state = document.getElementById("live-state");
  const scrollDown = () => { if (follow && follow.checked) log.scrollTop = log.scrollHeight; };
  log.addEventListener("wheel", (event) => { if (event.deltaY < 0 && follow) follow.checked = false; });
  if (follow) follow.addEventListener("change", scrollDown);
  scrollDown();
  const source = new EventSource("/api/v1/jobs/" + encodeURIComponent(job) + "/log?after=" + encodeURIComponent(log.dataset.seq || "0"));
  source.addEventListener("log", (event) => {
    for (const text of event.data.split("\n")) appendLine(log, ++lines, text);
    log.dataset.lines = String(lines);
    log.dataset.seq = event.lastEventId;
    scrollDown();
  });
  source.addEventListener("end", (event) => {
    source.close();
    const status = JSON.parse(event.data).status;
    setBadge(document.getElementById("job-status"), status);
    if (state) state.textContent = "ended: " + status;
    // The steps' final state and the actions that still apply come with the page.
    setTimeout(() => window.location.reload(), 1500);
  });
  source.addEventListener("error", () => { if (state && source.readyState !== EventSource.CLOSED) state.textContent = "reconnecting…"; });
  source.addEventListener("open", () => { if (state) state.textContent = "live"; });
}

function shortTime(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "";
}

function duration(job) {
  if (!job.started_at) return "–";
  const end = job.finished_at ? Date.parse(job.finished_at) : Date.now();
  const seconds = Math.max(0, Math.round((end - Date.parse(job.started_at)) / 1000));
  return seconds < 60 ? seconds + "s" : Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
}

function jobRow(job) {
  const row = document.createElement("tr");
  row.dataset.job = String(job.id);
  const cell = (build) => { const td = document.createElement("td"); build(td); row.appendChild(td); return td; };
  const link = (href, text) => { const a = document.createElement("a"); a.href = href; a.textContent = text; return a; };
  cell((td) => td.appendChild(link("/jobs/" + job.id, "#" + job.id)));
  cell((td) => td.appendChild(link("/apps/" + encodeURIComponent(job.app), job.app)));
  cell((td) => {
    const code = document.createElement("code");
    code.textContent = job.commit.slice(0, 12);
    td.appendChild(code);
    td.appendChild(document.createTextNode(" " + (job.message || "").split("\n")[0]));
  });
  cell((td) => { td.textContent = job.trigger; });
  cell((td) => { const time = document.createElement("time"); time.dateTime = job.created_at; time.textContent = shortTime(job.created_at); td.appendChild(time); });
  cell((td) => { td.dataset.field = "duration"; td.textContent = duration(job); });
  cell((td) => { const badge = document.createElement("span"); badge.dataset.field = "status"; setBadge(badge, job.status); td.appendChild(badge); });
  return row;
}

function watchStatus() {
  const jobsTable = document.querySelector("table[data-live=jobs]");
  const source = new EventSource("/api/v1/events");
  source.addEventListener("job", (event) => {
    const job = JSON.parse(event.data);
    for (const row of document.querySelectorAll('tr[data-job="' + job.id + '"]')) {
      setBadge(row.querySelector("[data-field=status]"), job.status);
      const cell = row.querySelector("[data-field=duration]");
      if (cell) cell.textContent = duration(job);
    }
    if (jobsTable && jobsTable.dataset.firstPage === "true" && !jobsTable.querySelector('tr[data-job="' + job.id + '"]')
        && (!jobsTable.dataset.filterApp || jobsTable.dataset.filterApp === job.app)
        && (!jobsTable.dataset.filterStatus || jobsTable.dataset.filterStatus === job.status)) {
      const body = jobsTable.tBodies[0];
      const newest = body.querySelector("tr[data-job]");
      if (!newest || Number(newest.dataset.job) < job.id) {
        const empty = body.querySelector("tr:not([data-job])");
        if (empty) empty.remove();
        body.insertBefore(jobRow(job), body.firstChild);
      }
    }
  });
  source.addEventListener("app", (event) => {
    const app = JSON.parse(event.data);
    for (const holder of document.querySelectorAll('[data-app="' + CSS.escape(app.app) + '"]')) {
      setBadge(holder.querySelector("[data-field=sync]"), app.sync);
      setBadge(holder.querySelector("[data-field=health]"), app.health || "Unknown");
      const drifted = holder.querySelector("[data-field=drifted]");
      if (drifted) drifted.textContent = String((app.drifted || []).length);
      const reconciled = holder.querySelector("[data-field=reconciled]");
      if (reconciled && app.reconciled_at) {
        reconciled.textContent = "";
        const time = document.createElement("time");
        time.dateTime = app.reconciled_at;
        time.textContent = shortTime(app.reconciled_at);
        reconciled.appendChild(time);
      }
      const lastJob = holder.querySelector("[data-field=last-job]");
      if (lastJob && app.last_job) {
        lastJob.textContent = "";
        const a = document.createElement("a");
        a.href = "/jobs/" + app.last_job;
        a.textContent = "#" + app.last_job;
        lastJob.appendChild(a);
        lastJob.appendChild(document.createTextNode(" "));
        const badge = document.createElement("span");
        setBadge(badge, app.last_job_status || "queued");
        lastJob.appendChild(badge);
      }
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button.danger")) {
    button.addEventListener("click", (event) => { if (!window.confirm(button.textContent + "?")) event.preventDefault(); });
  }
  const log = document.querySelector("pre[data-live=log]");
  if (log) followLog(log);
  if (document.querySelector("[data-live=apps], [data-live=jobs], dl[data-app]")) watchStatus();
});
