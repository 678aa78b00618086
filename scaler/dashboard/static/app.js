"use strict";
// The dashboard's pages: every value comes from the JSON API (/docs), so the UI
// does nothing a script could not.

const $ = (sel) => document.querySelector(sel);
const body = document.body.dataset;
const base = body.namespace ? `/api/objects/${encodeURIComponent(body.namespace)}/${encodeURIComponent(body.name)}` : "";

function cookie(name) {
  const m = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return m ? m.slice(name.length + 1) : "";
}
function token() { return sessionStorage.getItem("scaler-token") || ""; }
function toast(msg, ms = 4000) {
  const t = $("#toast"); t.textContent = msg; t.style.display = "block";
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { t.style.display = "none"; }, ms);
}
function detail(data, status) {
  if (data && Array.isArray(data.detail)) {
    return data.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("\n");
  }
  if (data && data.detail) return String(data.detail);
  return `HTTP ${status}`;
}
async function api(method, url, payload, opts = {}) {
  const headers = { "X-CSRF-Token": cookie("scaler_csrf") };
  let bodyData;
  if (payload instanceof FormData) bodyData = payload;
  else if (payload !== undefined) { headers["Content-Type"] = "application/json"; bodyData = JSON.stringify(payload); }
  if (opts.auth && token()) headers["Authorization"] = "Bearer " + token();
  const r = await fetch(url, { method, headers, body: bodyData, credentials: "same-origin" });
  const type = r.headers.get("content-type") || "";
  const data = type.includes("json") ? await r.json() : await r.text();
  if (!r.ok) { const e = new Error(detail(data, r.status)); e.status = r.status; throw e; }
  return data;
}
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
function num(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return esc(v);
  return Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(digits)).toString();
}
const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(2) + " %");
const when = (s) => (s ? new Date(s * 1000).toISOString().replace("T", " ").slice(0, 19) : "–");
const kv = (o) => Object.entries(o || {}).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(", ") || "<span class=muted>none</span>";

function plot(id, traces, layout) {
  const el = document.getElementById(id);
  if (!el) return;
  if (!window.Plotly) { el.textContent = "plots need /static/plotly.min.js"; return; }
  const text = (o, k) => { if (o && typeof o[k] === "string") o[k] = { text: o[k] }; };
  text(layout, "title");
  ["xaxis", "yaxis", "yaxis2"].forEach((a) => text(layout[a], "title"));
  window.Plotly.react(el, traces, Object.assign({ margin: { l: 50, r: 50, t: 28, b: 30 }, legend: { orientation: "h" }, font: { size: 11 } }, layout), { displaylogo: false, responsive: true });
}

function setupToken() {
  const input = $("#token");
  if (!input) return;
  input.value = token();
  input.addEventListener("change", () => { sessionStorage.setItem("scaler-token", input.value.trim()); toast("token kept for this tab"); });
}

// ---------- overview ----------
async function overview() {
  const info = await api("GET", "/api/info");
  const tick = async () => {
    try {
      const rows = await api("GET", "/api/objects");
      const tb = $("#objects tbody");
      tb.innerHTML = rows.length ? rows.map((o) => `<tr data-key="${esc(o.key)}">
        <td><a href="/objects/${encodeURIComponent(o.namespace)}/${encodeURIComponent(o.name)}">${esc(o.key)}</a>${o.overridden ? ' <span class="badge">override</span>' : ""}</td>
        <td>${esc(o.policy)}</td><td class="ready">${num(o.ready_replicas)}</td><td class="desired">${num(o.desired_replicas)}</td>
        <td>${esc(o.signal_name || "")} ${num(o.signal)} / ${num(o.target)}</td>
        <td>${num(o.request_rate_rps)}</td><td>${num(o.queue_time_per_request_ms)}</td><td>${o.gpu_utilization == null ? "–" : pct(o.gpu_utilization)}</td>
        <td class="health-${esc(o.health)}">${esc(o.health)}</td><td class="small">${esc(o.reason)}</td></tr>`).join("")
        : '<tr><td colspan="10" class="muted">No ScaledObject has asked this scaler yet.</td></tr>';
    } catch (e) { toast("refresh failed: " + e.message); }
  };
  await tick();
  setInterval(tick, Math.max(1000, 1000 * info.refresh_interval_s));
}

// ---------- object page ----------
function auditRows(entries, withObject) {
  return entries.map((e) => `<tr data-id="${esc(e.id)}"><td>${esc(e.time)}</td>${withObject ? `<td><a href="/objects/${esc(e.object)}">${esc(e.object)}</a></td>` : ""}
    <td>${esc(e.who)}</td><td>${esc(e.action)}${e.reverts ? " of " + esc(e.reverts) : ""}</td><td>${kv(e.old)}</td><td>${kv(e.new)}</td>
    <td>${e.simulation ? `GPU-h ${num(e.simulation.current.gpu_hours)} → ${num(e.simulation.candidate.gpu_hours)}, SLO ${pct(e.simulation.current.slo_attainment)} → ${pct(e.simulation.candidate.slo_attainment)} on ${esc(e.simulation.trace.name)}` : '<span class="muted">none</span>'}</td>
    <td><button class="revert" data-id="${esc(e.id)}" ${body.readOnly === "true" ? "disabled" : ""}>Revert</button></td></tr>`).join("");
}
function bindReverts(table, after) {
  table.querySelectorAll("button.revert").forEach((b) => b.addEventListener("click", async () => {
    try { await api("POST", `/api/audit/${b.dataset.id}/revert`, undefined, { auth: true }); toast("reverted"); after(); }
    catch (e) { toast("revert refused: " + e.message, 6000); }
  }));
}

async function objectPage() {
  const draw = async () => {
    const d = await api("GET", base);
    const s = d.summary;
    $("#summary").innerHTML = [
      ["Policy", s.policy], ["Ready", num(s.ready_replicas)], ["Desired", num(s.desired_replicas)],
      [s.signal_name || "Signal", `${num(s.signal)} / ${num(s.target)}`], ["Health", `<span class="health-${esc(s.health)}">${esc(s.health)}</span>`],
      ["Decided", when(s.decided_at_s)],
    ].concat(s.indicators ? [["Leading indicators", esc(s.indicators)]] : []).map(([k, v]) => `<div class="card">${esc(k)}<b>${v}</b></div>`).join("") + `<div class="card" style="flex:1">Reason<span class="reason">${esc(s.reason)}</span></div>`;
    $("#override").innerHTML = `<p>In force: <span id="override-value">${kv(d.override)}</span> ` +
      (Object.keys(d.override).length ? `<button id="clear" ${body.readOnly === "true" ? "disabled" : ""}>Clear override</button>` : "") + "</p>";
    const clear = $("#clear");
    if (clear) clear.addEventListener("click", async () => {
      try { await api("DELETE", base + "/override", undefined, { auth: true }); toast("override cleared"); draw(); }
      catch (e) { toast("refused: " + e.message, 6000); }
    });
    const sr = await api("GET", base + "/series");
    const t = sr.time_s.map((x) => new Date(x * 1000));
    const marks = sr.marker.map((m, i) => (m ? i : -1)).filter((i) => i >= 0);
    plot("plot-load", [{ x: t, y: sr.request_rate_rps, name: "load (req/s)", mode: "lines" }], { title: "Load (req/s)" });
    plot("plot-queue", [{ x: t, y: sr.queue_time_per_request_ms, name: "queue time / request (ms)", mode: "lines" },
      { x: t, y: sr.target, name: "target", mode: "lines", line: { dash: "dot" } }], { title: "Queue latency vs target (ms)" });
    plot("plot-gpu", [{ x: t, y: sr.gpu_utilization, name: "GPU utilisation", mode: "lines" }], { title: "GPU utilisation (0–1)" });
    plot("plot-replicas", [{ x: t, y: sr.desired_replicas, name: "desired", mode: "lines", line: { shape: "hv" } },
      { x: t, y: sr.ready_replicas, name: "ready", mode: "lines", line: { shape: "hv" } },
      { x: marks.map((i) => t[i]), y: marks.map((i) => sr.desired_replicas[i]), text: marks.map((i) => sr.reason[i]), name: "decisions", mode: "markers", marker: { size: 8, symbol: "diamond" } }],
      { title: "Desired vs ready replicas" });
    if (sr.indicator_names) {
      $("#plot-indicators").hidden = false;
      const lines = sr.indicator_names.map((n, i) => ({ x: t, y: sr["indicator" + (i + 1)], name: n, mode: "lines", line: { shape: "hv" } }));
      lines.push({ x: t, y: sr.indicator_replicas, name: "replicas added", mode: "lines", yaxis: "y2", line: { shape: "hv", dash: "dot" } });
      plot("plot-indicators", lines, { title: "Leading indicators and their contribution", yaxis2: { overlaying: "y", side: "right", title: "replicas" } });
    }
    const audit = await api("GET", "/api/audit?object=" + encodeURIComponent(`${body.namespace}/${body.name}`));
    $("#audit tbody").innerHTML = auditRows(audit, false) || '<tr><td colspan="7" class="muted">no changes</td></tr>';
    bindReverts($("#audit"), draw);
  };
  const logDraw = async () => {
    const q = $("#search").value;
    const rows = await api("GET", `${base}/decisions?limit=200&q=${encodeURIComponent(q)}`);
    $("#csv").href = `${base}/decisions.csv?q=${encodeURIComponent(q)}`;
    $("#log tbody").innerHTML = rows.map((r) => `<tr><td>${when(r.time_s)}</td><td>${esc(r.status)}</td><td>${num(r.replicas)}</td><td>${num(r.value)}</td>
      <td>${num(r.signal)}</td><td>${num(r.target)}</td><td class="small">${kv(Object.fromEntries(Object.entries(r.inputs).filter(([k, v]) => v !== null && k !== "time_s")))}</td><td>${esc(r.reason)}</td></tr>`).join("");
  };
  let timer;
  $("#search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(logDraw, 250); });
  await draw(); await logDraw();
  setInterval(() => { draw().catch(() => {}); logDraw().catch(() => {}); }, 5000);
}

// ---------- tuning page ----------
function fieldHtml(key, prop, value) {
  const help = [prop.description || ""];
  const lo = prop.minimum ?? prop.exclusiveMinimum, hi = prop.maximum ?? prop.exclusiveMaximum;
  if (lo !== undefined || hi !== undefined) help.push(`range ${prop.exclusiveMinimum !== undefined ? "(" : "["}${lo ?? "−∞"}, ${hi ?? "∞"}${prop.exclusiveMaximum !== undefined ? ")" : "]"}`);
  if (prop.default !== undefined) help.push(`default ${prop.default}`);
  const v = value ?? prop.default ?? "";
  let input;
  if (prop.enum) input = `<select name="${esc(key)}">${prop.enum.map((o) => `<option ${String(o) === String(v) ? "selected" : ""}>${esc(o)}</option>`).join("")}</select>`;
  else if (prop.type === "boolean") input = `<input type="checkbox" name="${esc(key)}" ${String(v) === "true" ? "checked" : ""}>`;
  else if (prop.type === "number" || prop.type === "integer") input = `<input type="number" name="${esc(key)}" value="${esc(v)}" step="${prop.type === "integer" ? 1 : "any"}" ${lo !== undefined ? `min="${lo}"` : ""} ${hi !== undefined ? `max="${hi}"` : ""}>`;
  else input = `<input type="text" name="${esc(key)}" value="${esc(v)}">`;
  return `<label data-key="${esc(key)}">${esc(prop.title || key)} <code>${esc(key)}</code> ${input}<span class="help">${esc(help.filter(Boolean).join("; "))}</span><span class="field-error"></span></label>`;
}

async function tunePage() {
  const [obj, catalogue, traces, guards] = await Promise.all([api("GET", base), api("GET", "/api/policies"), api("GET", "/api/traces"), api("GET", "/api/guardrails")]);
  const policies = catalogue.policies, policyKey = catalogue.key;
  const schemas = Object.fromEntries(policies.map((p) => [p.name, p.schema]));
  const sel = $("#policy");
  sel.innerHTML = policies.map((p) => `<option ${p.name === obj.policy ? "selected" : ""}>${esc(p.name)}</option>`).join("");
  const drawFields = (values) => {
    const schema = schemas[sel.value];
    const vals = values || (sel.value === obj.policy ? obj.params : {});
    $("#fields").innerHTML = Object.entries(schema.properties || {}).map(([k, p]) => fieldHtml(k, resolve(schema, p), vals[k])).join("");
  };
  const resolve = (schema, p) => {
    if (p.$ref) return Object.assign({}, schema.$defs[p.$ref.split("/").pop()], p);
    if (p.anyOf) { const inner = p.anyOf.find((x) => x.type !== "null") || {}; return Object.assign({}, inner, p); }
    return p;
  };
  $("#guard-fields").innerHTML = Object.entries(guards.properties || {}).map(([k, p]) => fieldHtml(k, resolve(guards, p), obj.metadata[k] ?? "")).join("");
  drawFields();
  $("#bundled").innerHTML = traces.bundled.map((n) => `<option>${esc(n)}</option>`).join("");
  let uploadId = null, lastJob = null, polling = null, candidate = null;

  const override = () => {
    const out = { [policyKey]: sel.value };
    $("#fields").querySelectorAll("[name]").forEach((el) => { const v = el.type === "checkbox" ? String(el.checked) : el.value.trim(); if (v !== "") out[el.name] = v; });
    $("#guard-fields").querySelectorAll("[name]").forEach((el) => { if (el.value.trim() !== "" && el.value.trim() !== (obj.metadata[el.name] ?? "")) out[el.name] = el.value.trim(); });
    return out;
  };
  const showErrors = (msg) => {
    document.querySelectorAll(".field-error").forEach((e) => { e.textContent = ""; });
    document.querySelectorAll("#params-form input").forEach((e) => e.classList.remove("invalid"));
    $("#form-error").textContent = msg || "";
    if (!msg) return;
    for (const m of msg.matchAll(/key '([A-Za-z]+)' = [^:]*: ([^;(]*)/g)) {
      const label = document.querySelector(`label[data-key="${m[1]}"]`);
      if (label) { label.querySelector(".field-error").textContent = m[2]; const i = label.querySelector("input"); if (i) i.classList.add("invalid"); }
    }
  };
  const validate = async () => {
    try { const r = await api("POST", base + "/preview", { override: override() }); showErrors(""); return r; }
    catch (e) { showErrors(e.message); return null; }
  };
  sel.addEventListener("change", () => { drawFields({}); validate(); });
  let vt;
  $("#params-form").addEventListener("input", () => { clearTimeout(vt); vt = setTimeout(validate, 300); });

  $("#upload").addEventListener("change", async (ev) => {
    const f = ev.target.files[0]; if (!f) return;
    const fd = new FormData(); fd.append("file", f);
    $("#upload-status").textContent = "uploading…";
    try { const r = await api("POST", "/api/traces", fd, { auth: true }); uploadId = r.id; $("#upload-status").textContent = `${r.trace.name}: ${num(r.trace.duration_s / 3600)} h, mean ${num(r.trace.mean_rps)} req/s`; document.querySelector('input[value="upload"]').checked = true; }
    catch (e) { uploadId = null; $("#upload-status").textContent = "rejected: " + e.message; }
  });
  const traceRef = () => {
    const kind = document.querySelector('input[name="trace-kind"]:checked').value;
    if (kind === "bundled") return { kind, name: $("#bundled").value };
    if (kind === "upload") return { kind, id: uploadId || "" };
    return { kind, hours: Number($("#hours").value) };
  };
  const request = () => {
    const r = { override: override(), trace: traceRef() };
    if ($("#slo").value) r.slo_ms = Number($("#slo").value);
    if ($("#startup").value) r.startup_s = Number($("#startup").value);
    return r;
  };
  const run = async (kind) => {
    if (!(await validate())) { toast("fix the parameters first"); return; }
    let job;
    try { job = await api("POST", `${base}/${kind}`, request(), { auth: true }); }
    catch (e) { toast(e.message, 6000); $("#job-status").textContent = e.message; return; }
    lastJob = null; $("#cancel-job").disabled = false; $("#cancel-job").dataset.id = job.id;
    clearInterval(polling);
    polling = setInterval(async () => {
      const j = await api("GET", "/api/jobs/" + job.id);
      $("#progress").value = j.progress; $("#job-status").textContent = `${j.kind}: ${j.message} (${Math.round(100 * j.progress)} %)`;
      if (["done", "failed", "cancelled"].includes(j.status)) {
        clearInterval(polling); $("#cancel-job").disabled = true;
        if (j.status === "done") { lastJob = j; showResult(j); }
      }
    }, 400);
  };
  $("#run-whatif").addEventListener("click", () => run("whatif"));
  $("#run-tune").addEventListener("click", () => run("tune"));
  $("#cancel-job").addEventListener("click", async (ev) => { await api("POST", `/api/jobs/${ev.target.dataset.id}/cancel`, undefined, { auth: true }); });

  const showResult = (job) => {
    const res = job.result, c = res.comparison;
    candidate = res.override;
    $("#comparison").hidden = false;
    if (job.kind === "tune") {
      sel.value = candidate[policyKey] || sel.value; drawFields(candidate);
      $("#trials").innerHTML = `<h3>Tried ${res.runs} configurations (target SLO attainment ${pct(res.slo_target)})</h3><table class="grid small"><tr><th>Trial</th><th>Parameters</th><th>GPU-hours</th><th>SLO</th><th>p99 (ms)</th></tr>` +
        res.trials.map((t) => `<tr><td>${esc(t.label)}</td><td>${kv(Object.fromEntries(Object.entries(t.metadata).filter(([k]) => k in (schemas[sel.value].properties || {}))))}</td><td>${num(t.gpu_hours)}</td><td>${pct(t.slo_attainment)}</td><td>${num(t.per_trace.length ? t.per_trace[0].latency_ms.p99 : null)}</td></tr>`).join("") + "</table>";
    } else $("#trials").innerHTML = "";
    const rows = [["GPU-hours", (r) => r.gpu_hours, num, -1], ["SLO attainment", (r) => r.slo_attainment, pct, 1], ["Latency p50 (ms)", (r) => r.latency_ms.p50, num, -1],
      ["Latency p95 (ms)", (r) => r.latency_ms.p95, num, -1], ["Latency p99 (ms)", (r) => r.latency_ms.p99, num, -1], ["Failed requests", (r) => r.failed_requests, num, -1],
      ["Scale events", (r) => r.scale_events, num, 0], ["Mean GPU utilisation", (r) => r.mean_gpu_utilization, pct, 1]];
    $("#compare").innerHTML = `<tr><th>${esc(c.trace.name)} (${num(c.trace.duration_s / 3600)} h, SLO ${num(c.slo_ms)} ms)</th><th>Current</th><th>Candidate</th><th>Oracle bound</th></tr>` +
      rows.map(([label, get, f, better], i) => {
        const a = get(c.current), b = get(c.candidate);
        const cls = better === 0 || a === b || a == null || b == null ? "" : (better * (b - a) > 0 ? "better" : "worse");
        const oracle = i === 0 ? `${num(c.oracle.gpu_hours)} (instant start ${num(c.oracle.instant_gpu_hours)})` : (i === 1 ? "100 %" : "");
        return `<tr data-row="${i}"><td>${label}</td><td class="current">${f(a)}</td><td class="candidate ${cls}">${f(b)}</td><td>${oracle}</td></tr>`;
      }).join("") +
      `<tr data-row="scaled-object"><td>ScaledObject run</td>${["current", "candidate"].map((k) => `<td class="${k}">${esc(c[k].scaled_object.name)}: ${kv(c[k].scaled_object.metadata)}</td>`).join("")}<td></td></tr>`;
    const tm = c.candidate.timers;
    $("#timers").textContent = `Simulated with the scenario's timers, not your cluster's: KEDA polls every ${num(tm.keda_polling_interval_s)} s (cooldown ${num(tm.keda_cooldown_period_s)} s), ` +
      `the HPA syncs every ${num(tm.hpa_sync_period_s)} s (tolerance ${pct(tm.hpa_tolerance)}), the scaler decides every ${num(tm.scaler_refresh_interval_s)} s.`;
    const s = c.series, t = s.time_s.map((x) => x / 3600);
    plot("plot-sim-replicas", [{ x: t, y: s.current_held, name: "current: GPUs held", mode: "lines" }, { x: t, y: s.candidate_held, name: "candidate: GPUs held", mode: "lines" },
      { x: t, y: s.oracle_need, name: "oracle need", mode: "lines", line: { dash: "dot" } }, { x: t, y: s.rps, name: "load (req/s)", yaxis: "y2", mode: "lines", opacity: 0.4 }],
      { title: "Replicas (GPUs held) and load", xaxis: { title: "hours" }, yaxis2: { overlaying: "y", side: "right", title: "req/s" } });
    plot("plot-sim-latency", [{ x: t, y: s.current_p99_ms, name: "current p99", mode: "lines" }, { x: t, y: s.candidate_p99_ms, name: "candidate p99", mode: "lines" },
      { x: [t[0], t[t.length - 1]], y: [c.slo_ms, c.slo_ms], name: "SLO", mode: "lines", line: { dash: "dash" } }],
      { title: "Latency p99 (ms)", xaxis: { title: "hours" }, yaxis: { type: "log" } });
  };
  $("#apply").addEventListener("click", async () => {
    const ov = override();
    try {
      const e = await api("PUT", base + "/override", { override: ov, job_id: lastJob ? lastJob.id : null }, { auth: true });
      toast(`applied (audit ${e.id}); the scaler uses it on its next decision`);
    } catch (e) { toast("apply refused: " + e.message, 6000); }
  });
  $("#export").addEventListener("click", async () => {
    const r = await validate();
    if (r) { $("#yaml").textContent = r.yaml; $("#yaml").hidden = false; }
  });
  validate();
}

async function auditPage() {
  const draw = async () => {
    const rows = await api("GET", "/api/audit");
    $("#audit tbody").innerHTML = auditRows(rows, true) || '<tr><td colspan="8" class="muted">no changes yet</td></tr>';
    bindReverts($("#audit"), draw);
  };
  await draw();
}

setupToken();
({ overview, object: objectPage, tune: tunePage, audit: auditPage }[body.page] || (() => {}))().catch((e) => toast(e.message, 8000));
