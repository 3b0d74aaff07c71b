// navius builder page: plain JavaScript, no framework, nothing fetched from
// elsewhere. Every decision about a selection (requirements, refusals,
// sizes, commands) comes from the server's resolver, the one the CLI uses.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { catalog: null, sel: null, selected: [], source: null };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

function mib(n) {
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(2) + " MiB";
  if (n >= 1 << 10) return Math.round(n / (1 << 10)) + " KiB";
  return n + " B";
}

function headers() {
  const h = {};
  const tok = $("token").value.trim();
  if (tok) h.Authorization = "Bearer " + tok;
  return h;
}

async function getJSON(url, opts) {
  const res = await fetch(url, opts);
  const body = await res.json().catch(() => ({ error: res.status + " " + res.statusText }));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function platform() { return $("platform").value; }
function artifact() { const r = document.querySelector("input[name=artifact]:checked"); return r ? r.value : "binary"; }

function renderCatalog() {
  const c = state.catalog;
  $("version").textContent = "navius " + c.version;
  if (!c.builds) {
    $("nosource").hidden = false;
    $("nosource").textContent = c.no_builds;
    $("build").disabled = true;
  }
  $("token-row").hidden = !c.auth;
  $("token").value = sessionStorage.getItem("navius-builder-token") || "";
  const profiles = $("profiles");
  profiles.querySelectorAll("button").forEach((b) => b.remove());
  for (const p of c.profiles) {
    const with_ = p.with && p.with.length ? " (with " + p.with.join(", ") + ")" : "";
    const b = el("button", { type: "button", title: (p.description || "") + with_, "data-profile": p.name }, p.name);
    b.addEventListener("click", () => apply("none," + p.features.join(",")));
    profiles.append(b);
  }
  const box = $("catalog");
  box.replaceChildren();
  for (const cat of c.categories) {
    const fs = el("fieldset", { class: "category" }, el("legend", {}, cat));
    for (const f of c.features.filter((f) => f.category === cat)) fs.append(featureRow(f));
    box.append(fs);
  }
  if (!$("platform").options.length) {
    for (const p of c.platforms) $("platform").append(el("option", { value: p }, p));
    for (const a of c.artifacts) {
      const id = "artifact-" + a.name;
      const input = el("input", { type: "radio", name: "artifact", id, value: a.name, title: a.description });
      $("artifacts").append(el("label", { htmlFor: id, title: a.description }, input, " " + a.name));
      input.addEventListener("change", () => apply(state.sel ? state.sel.spec : "default"));
    }
    $("platform").addEventListener("change", () => apply(state.sel ? state.sel.spec : "default"));
  }
}

function featureRow(f) {
  const id = "f-" + f.name;
  const box = el("input", { type: "checkbox", id, value: f.name });
  box.addEventListener("change", () => toggle(f.name, box.checked));
  const name = el("label", { htmlFor: id, class: "name" }, f.name);
  if (f.default) name.append(el("span", { class: "badge" }, "default"));
  if (f.module) {
    name.append(el("span", { class: "badge nonstd", title: f.module.path + " " + f.module.version }, "non-standard"));
    const v = f.module.verification;
    name.append(el("span", { class: "badge " + v, id: "verify-" + f.name, title: f.module.problem || "" }, v));
  }
  name.append(el("span", { class: "req", id: "req-" + f.name }));
  const size = el("span", { class: "size", id: "size-" + f.name }, f.size_impact == null ? "unmeasured" : "+" + mib(f.size_impact));
  const mods = f.modules.map((m) => m.path + (m.version ? " " + m.version : "")).join(", ") || "none";
  const meta = el("div", { class: "meta" }, "provides " + (f.provides.join(", ") || "nothing") + " · modules: " + mods +
    (f.requires.length ? " · requires " + f.requires.join(", ") : ""));
  const desc = el("div", { class: "desc" }, f.module ? f.module.description + " — " + f.description : f.description);
  if (f.module && f.module.problem) desc.append(el("div", { class: "refusal" }, f.module.problem));
  return el("div", { class: "feature", id: "row-" + f.name }, box, name, size, desc, meta);
}

// toggle asks the resolver for the selection with name added or removed;
// a refused removal leaves the selection as it was and says why. Changes
// apply one after another, each to the selection the last one left.
function toggle(name, on) {
  enqueue(() => {
    const rest = state.selected.filter((n) => n !== name);
    const spec = on ? ["none", ...state.selected, name] : ["none", ...rest, "-" + name];
    return resolve(spec.join(","));
  });
}

let pending = Promise.resolve();
let inFlight = 0;
function enqueue(step) {
  inFlight++;
  document.body.dataset.resolving = String(inFlight);
  pending = pending.then(step).finally(() => {
    inFlight--;
    document.body.dataset.resolving = String(inFlight);
  });
  return pending;
}

function apply(spec) { return enqueue(() => resolve(spec)); }

async function resolve(spec) {
  const q = new URLSearchParams({ features: spec, platform: platform(), artifact: artifact() });
  try {
    const sel = await getJSON("/api/selection?" + q);
    $("message").hidden = true;
    state.sel = sel;
    state.selected = sel.features;
    renderSelection();
  } catch (err) {
    $("message").hidden = false;
    $("message").textContent = err.message;
    renderChecks(); // back to the last accepted selection
  }
}

function renderChecks() {
  for (const f of state.catalog.features) {
    $("f-" + f.name).checked = state.selected.includes(f.name);
    const by = state.sel && state.sel.required_by[f.name];
    $("req-" + f.name).textContent = by && by.length ? "added: required by " + by.join(", ") : "";
  }
}

function renderSelection() {
  const sel = state.sel;
  renderChecks();
  const est = $("estimate");
  est.textContent = "≈ " + mib(sel.size);
  est.dataset.bytes = String(sel.size);
  $("unmeasured").textContent = sel.unmeasured.length ? "(not measured: " + sel.unmeasured.join(", ") + ")" : "";
  $("chart").innerHTML = sel.chart; // drawn by the server from features.json's measured sizes
  const notes = $("notes");
  notes.replaceChildren();
  if (sel.warning) notes.append(el("li", { class: "warning" }, sel.warning));
  for (const n of sel.notes) notes.append(el("li", {}, n));
  $("make-cmd").textContent = sel.make;
  $("navius-cmd").textContent = sel.command;
  const q = new URLSearchParams({ features: sel.features.join(","), platform: platform(), artifact: artifact() });
  const url = location.pathname + "?" + q;
  $("share").href = url;
  history.replaceState(null, "", url);
}

async function startBuild() {
  await pending; // the selection the last change left
  const tok = $("token").value.trim();
  if (tok) sessionStorage.setItem("navius-builder-token", tok);
  $("build-error").hidden = true;
  $("result").hidden = true;
  $("progress").hidden = false;
  $("stages").replaceChildren();
  $("log").textContent = "";
  $("queue").textContent = "asking the builder…";
  $("build").disabled = true;
  const started = performance.now();
  try {
    const body = new URLSearchParams({ features: state.sel.spec, platform: platform(), artifact: artifact() });
    const st = await getJSON("/api/builds", { method: "POST", headers: headers(), body });
    if (state.source) state.source.close();
    const es = new EventSource(st.events);
    state.source = es;
    es.addEventListener("queued", (e) => {
      const d = JSON.parse(e.data);
      $("queue").textContent = "waiting in the queue: position " + d.position + " of " + d.waiting + " (" + d.running + " building)";
    });
    es.addEventListener("stage", (e) => {
      const d = JSON.parse(e.data);
      $("queue").textContent = d.stage;
      $("stages").append(el("li", { "data-stage": d.stage }, d.text));
    });
    es.addEventListener("log", (e) => { $("log").textContent += JSON.parse(e.data).line + "\n"; });
    es.addEventListener("done", (e) => {
      es.close();
      showResult(JSON.parse(e.data), performance.now() - started);
    });
    es.addEventListener("failed", (e) => {
      es.close();
      fail(JSON.parse(e.data).error);
    });
  } catch (err) {
    fail(err.message);
  }
}

async function fail(msg) {
  $("build-error").hidden = false;
  $("build-error").textContent = msg;
  $("queue").textContent = "failed";
  $("build").disabled = false;
  await refreshCatalog();
}

async function refreshCatalog() {
  // A module's verification may have changed: show its verdict.
  try {
    state.catalog = await getJSON("/api/catalog");
    renderCatalog();
    renderChecks();
  } catch (err) { /* the page keeps what it had */ }
}

function showResult(r, ms) {
  $("queue").textContent = "done";
  $("result").hidden = false;
  $("download").href = r.download;
  $("download").setAttribute("download", r.file);
  $("file").textContent = r.file + ", " + mib(r.size);
  $("built").textContent = "(answered in " + (ms / 1000).toFixed(1) + " s; built in " + r.built_in_seconds.toFixed(1) + " s)";
  $("sha256").textContent = r.sha256;
  $("sbom").href = r.sbom;
  $("features-text").textContent = r.features_text;
  $("build").disabled = false;
  refreshCatalog();
}

async function init() {
  $("build").addEventListener("click", startBuild);
  try {
    state.catalog = await getJSON("/api/catalog");
  } catch (err) {
    $("catalog").textContent = "The catalog did not load: " + err.message;
    return;
  }
  renderCatalog();
  const q = new URLSearchParams(location.search);
  if (q.get("platform")) $("platform").value = q.get("platform");
  if (!$("platform").value) $("platform").value = "linux/amd64";
  const a = document.getElementById("artifact-" + (q.get("artifact") || "binary"));
  (a || document.getElementById("artifact-binary")).checked = true;
  const features = q.get("features");
  await apply(features ? "none," + features : "default");
}

document.addEventListener("DOMContentLoaded", init);
