// The mlsae viewer: one page, no dependencies. It talks to the JSON API
// under /api/py (doc/server.md) and keeps the selection (layer, latent,
// position, steering factor) in one state object.
"use strict";

const API = "/api/py";
const $ = (id) => document.getElementById(id);
const state = {
  prompt: null, tokens: [], acts: null, layer: 0, latent: 0, position: 0, factor: -1,
  nLayers: 0, nLatents: 0, params: null, tab: "heatmaps", examplesKey: null,
};

async function api(path, body) {
  const init = body === undefined ? { method: "GET" } : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const res = await fetch(API + path, init);
  const data = await res.json();
  if (!res.ok) {
    const d = data && data.detail;
    const msg = Array.isArray(d) ? d.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ") : d;
    throw new Error(msg || `HTTP ${res.status}`);
  }
  return data;
}

function setStatus(text, error) {
  const s = $("status");
  s.textContent = text || "";
  s.classList.toggle("error", !!error);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

// Token text as shown: newlines and tabs made visible.
function shown(token) {
  return token.replace(/\n/g, "\u21b5\n").replace(/\t/g, "\u21e5");
}

function actColor(v, max) {
  if (!(v > 0) || !(max > 0)) return "";
  const a = Math.min(1, v / max);
  return `rgba(234, 88, 12, ${(0.15 + 0.85 * a).toFixed(3)})`;
}

function clampSelection() {
  state.layer = Math.max(0, Math.min(state.nLayers - 1, state.layer | 0));
  state.latent = Math.max(0, Math.min(state.nLatents - 1, state.latent | 0));
  state.position = Math.max(0, Math.min(Math.max(0, state.tokens.length - 1), state.position | 0));
}

// Activation of latent j at (layer, pos) from the sparse form.
function actAt(layer, pos, latent) {
  const ix = state.acts.indices[layer][pos];
  const i = ix.indexOf(latent);
  return i < 0 ? 0 : state.acts.values[layer][pos][i];
}

/* ---- rendering ---------------------------------------------------------- */

function renderControls() {
  $("layer").max = state.nLayers - 1;
  $("latent").max = state.nLatents - 1;
  $("position").max = Math.max(0, state.tokens.length - 1);
  $("layer").value = state.layer;
  $("latent").value = state.latent;
  $("position").value = state.position;
  $("factor").value = state.factor;
}

function renderTokens() {
  const box = $("tokens");
  box.replaceChildren();
  let max = 0;
  for (let p = 0; p < state.tokens.length; p++) max = Math.max(max, actAt(state.layer, p, state.latent));
  state.tokens.forEach((t, p) => {
    const v = actAt(state.layer, p, state.latent);
    const span = el("span", {
      class: "tok" + (p === state.position ? " selected" : ""), tabindex: p === state.position ? "0" : "-1",
      role: "button", title: `#${p} id ${t.id}: ${v.toFixed(3)}`,
      "aria-label": `position ${p}, token ${JSON.stringify(t.token)}, activation ${v.toFixed(3)}`,
    }, shown(t.token));
    span.style.background = actColor(v, max);
    span.addEventListener("click", () => select({ position: p }));
    box.append(span);
  });
  $("tokens-caption").textContent =
    `coloured by latent ${state.latent} at layer ${state.layer} (max ${max.toFixed(3)}); click a token to select its position`;
  // the latents firing at the selected position and layer
  const chips = $("position-latents");
  chips.replaceChildren(el("span", { class: "muted" }, `Latents at position ${state.position}, layer ${state.layer}: `));
  const ix = state.acts.indices[state.layer][state.position] || [];
  const vs = state.acts.values[state.layer][state.position] || [];
  ix.forEach((j, q) => chips.append(el("button", {
    class: j === state.latent ? "selected" : "", onclick: () => select({ latent: j }),
    title: `activation ${vs[q].toFixed(3)}`,
  }, `${j} (${vs[q].toFixed(2)})`)));
}

// Per layer: rows = latents firing anywhere in the prompt (strongest first, at most 48).
function renderHeatmaps() {
  const box = $("heatmaps");
  box.replaceChildren();
  const P = state.tokens.length, cell = Math.max(6, Math.min(16, Math.floor(640 / Math.max(1, P))));
  for (let l = 0; l < state.nLayers; l++) {
    const best = new Map();
    for (let p = 0; p < P; p++) state.acts.indices[l][p].forEach((j, q) => {
      best.set(j, Math.max(best.get(j) || 0, state.acts.values[l][p][q]));
    });
    const rows = [...best.entries()].sort((a, b) => b[1] - a[1]).slice(0, 48).map((e) => e[0]);
    const max = rows.length ? best.get(rows[0]) : 0;
    const lw = cell >= 8 ? 6 + 7 * String(state.nLatents - 1).length : 0; // row labels
    const canvas = el("canvas", {
      width: String(lw + P * cell), height: String(Math.max(1, rows.length) * cell), tabindex: "0",
      role: "img", "aria-label": `layer ${l}: ${rows.length} latents over ${P} positions; Enter selects this layer`,
    });
    const g = canvas.getContext("2d");
    g.font = `${Math.min(11, cell - 1)}px ui-monospace, monospace`;
    g.textBaseline = "middle";
    rows.forEach((j, r) => {
      if (lw) { g.fillStyle = j === state.latent ? "#1d4ed8" : "#6b6b70"; g.fillText(String(j), 2, r * cell + cell / 2); }
      for (let p = 0; p < P; p++) {
        const v = actAt(l, p, j);
        if (v > 0) { g.fillStyle = actColor(v, max); g.fillRect(lw + p * cell, r * cell, cell, cell); }
      }
      if (j === state.latent) { g.strokeStyle = "#1d4ed8"; g.strokeRect(lw + 0.5, r * cell + 0.5, P * cell - 1, cell - 1); }
    });
    canvas.addEventListener("click", (ev) => {
      const rect = canvas.getBoundingClientRect();
      const p = Math.floor((ev.clientX - rect.left - lw) / cell), r = Math.floor((ev.clientY - rect.top) / cell);
      if (r < rows.length) select({ layer: l, latent: rows[r], position: Math.max(0, Math.min(P - 1, p)) });
    });
    canvas.addEventListener("keydown", (ev) => { if (ev.key === "Enter") select({ layer: l }); });
    canvas.title = rows.length ? `latents ${rows.slice(0, 12).join(", ")}${rows.length > 12 ? ", ..." : ""}` : "no latent fired";
    box.append(el("figure", { class: l === state.layer ? "selected" : "" }, canvas,
      el("figcaption", {}, `Layer ${l} (${best.size} latents fire)`)));
  }
}

async function renderHistograms() {
  const box = $("histograms");
  const h = await api("/prompt/layer-histograms", { prompt: state.prompt });
  box.replaceChildren();
  const W = 256, H = 80, bins = h.edges.length - 1;
  h.values.forEach((counts, l) => {
    const canvas = el("canvas", { width: String(W), height: String(H), role: "img",
      "aria-label": `layer ${l} histogram: ${counts.join(", ")}` });
    const g = canvas.getContext("2d");
    const top = Math.log10(1 + Math.max(...counts));
    counts.forEach((c, b) => {
      const hgt = top > 0 ? (Math.log10(1 + c) / top) * (H - 2) : 0;
      g.fillStyle = l === state.layer ? "#1d4ed8" : "#ea580c";
      g.fillRect((b * W) / bins, H - hgt, Math.max(1, W / bins - 1), hgt);
    });
    box.append(el("figure", { class: l === state.layer ? "selected" : "" }, canvas,
      el("figcaption", {}, `Layer ${l}: 0 to ${h.edges[h.edges.length - 1]}`)));
  });
}

function exampleLine(ex) {
  const max = Math.max(...ex.acts, ex.act);
  const line = el("div", { class: "example" }, el("span", { class: "act" }, ex.act.toFixed(3)));
  ex.tokens.forEach((t, i) => {
    const s = el("span", { class: "tok", title: (ex.acts[i] || 0).toFixed(3) }, shown(t));
    s.style.background = actColor(ex.acts[i] || 0, max);
    line.append(s);
  });
  return line;
}

async function renderExamples() {
  const key = `${state.layer}/${state.latent}`;
  if (state.examplesKey === key) return;
  state.examplesKey = key;
  const box = $("examples");
  const rows = await api("/examples", { layer: state.layer, latent: state.latent });
  box.replaceChildren(el("h3", {}, `Latent ${state.latent} at layer ${state.layer}: top examples `,
    el("a", { href: `/latent/${state.latent}` }, "(all layers)")));
  if (!rows.length) box.append(el("p", { class: "muted" }, "No examples (start the server with --examples DB)."));
  rows.slice(0, 32).forEach((ex) => box.append(exampleLine(ex)));
}

function logitTable(rows, title, withProb) {
  const t = el("table", {}, el("caption", { class: "muted" }, title),
    el("tr", {}, el("th", {}, "token"), el("th", {}, "logit"), withProb ? el("th", {}, "prob") : null));
  for (const r of rows) t.append(el("tr", {}, el("td", { class: "tokcell" }, JSON.stringify(r.token)),
    el("td", { class: "num" }, r.logit.toFixed(3)), withProb ? el("td", { class: "num" }, (r.prob * 100).toFixed(2) + "%") : null));
  return t;
}

function splicedTables(box, res) {
  const [maxLogits, changes] = res;
  const p = state.position;
  box.replaceChildren(el("div", { class: "logit-tables" },
    logitTable(maxLogits.max[p], "top logits", true),
    logitTable(changes.max[p], "largest increases", false),
    logitTable(changes.min[p], "largest decreases", false)));
}

async function renderLogits() {
  const [input, recon, steer] = await Promise.all([
    api("/prompt/logits-input", { prompt: state.prompt }),
    api("/prompt/logits-recon", { prompt: state.prompt, layer: state.layer }),
    api("/prompt/logits-steer", { prompt: state.prompt, latent: state.latent, layer: state.layer, factor: state.factor }),
  ]);
  $("logits-input").replaceChildren(logitTable(input.max[state.position], `position ${state.position}`, true));
  $("recon-caption").textContent = `Layer ${state.layer} replaced by the SAE's reconstruction, position ${state.position}.`;
  splicedTables($("logits-recon"), recon);
  $("steer-caption").textContent = `Layer ${state.layer} plus ${state.factor} \u00d7 latent ${state.latent}'s decoder direction, position ${state.position}.`;
  splicedTables($("logits-steer"), steer);
}

async function renderMetrics() {
  const m = await api("/prompt/metrics", { prompt: state.prompt });
  const t = el("table", {}, el("tr", {}, el("th", {}, "metric"), el("th", {}, "value")));
  for (const [k, v] of Object.entries(m)) t.append(el("tr", {}, el("td", {}, k), el("td", { class: "num" }, v.toPrecision(5))));
  $("metrics").replaceChildren(t);
}

async function renderTab() {
  try {
    if (state.tab === "heatmaps") renderHeatmaps();
    else if (state.tab === "histograms") await renderHistograms();
    else if (state.tab === "examples") await renderExamples();
    else if (state.tab === "logits") await renderLogits();
    else if (state.tab === "metrics") await renderMetrics();
  } catch (e) {
    setStatus(e.message, true);
  }
}

function renderAll() {
  clampSelection();
  renderControls();
  renderTokens();
  renderTab();
}

function select(change) {
  Object.assign(state, change);
  if ("latent" in change || "layer" in change) state.examplesKey = null;
  renderAll();
  if ("position" in change) {
    const t = document.querySelector(".tok.selected");
    if (t && document.activeElement && document.activeElement.classList.contains("tok")) t.focus();
  }
}

/* ---- prompt and latent pages -------------------------------------------- */

async function analyse(prompt, push) {
  if (!prompt) return;
  if (push) history.pushState(null, "", "/prompt/" + encodeURIComponent(prompt));
  $("prompt").value = prompt;
  document.title = `mlsae: ${prompt.slice(0, 40)}`;
  $("latent-page").hidden = true;
  setStatus("Running the model\u2026");
  try {
    const [tokens, acts] = await Promise.all([
      api("/prompt/tokens", { prompt }),
      api("/prompt/latent-activations-sparse", { prompt }),
    ]);
    Object.assign(state, { prompt, tokens, acts, nLayers: acts.indices.length, nLatents: acts.n_latents, examplesKey: null });
    for (const id of ["controls", "tokens-section", "tabs"]) $(id).hidden = false;
    showTab(state.tab);
    setStatus(`${tokens.length} tokens`);
    renderAll();
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function latentPage(latent) {
  for (const id of ["controls", "tokens-section", "tabs"]) $(id).hidden = true;
  for (const p of document.querySelectorAll("[role=tabpanel]")) p.hidden = true;
  $("latent-page").hidden = false;
  $("latent-title").textContent = `Latent ${latent}`;
  $("latent-goto").value = latent;
  document.title = `mlsae: latent ${latent}`;
  const box = $("latent-examples");
  box.replaceChildren();
  try {
    const info = await api("/latent", { latent });
    $("latent-promoted").replaceChildren(logitTable(info.promoted, "", false));
    $("latent-suppressed").replaceChildren(logitTable(info.suppressed, "", false));
    const dists = $("latent-dists");
    dists.replaceChildren();
    if (!info.dists) {
      $("dists-caption").textContent = "No distribution (start the server with --dists FILE from mlsae dists).";
    } else {
      $("dists-caption").textContent = "Share of the latent's total activation at each layer, and how often it fires there (TopK appearances per token).";
      const totals = info.dists.totals, sum = totals.reduce((x, y) => x + y, 0);
      const t = el("table", {}, el("tr", {}, el("th", {}, "layer"), el("th", {}, "share"), el("th", {}, ""), el("th", {}, "density")));
      info.layers.forEach((layer, l) => {
        const share = sum > 0 ? totals[l] / sum : 0;
        const bar = el("span", { class: "bar" });
        bar.style.width = `${(share * 12).toFixed(2)}rem`;
        const dens = info.dists.density[l];
        t.append(el("tr", {}, el("td", {}, String(layer)), el("td", { class: "num" }, (share * 100).toFixed(1) + "%"),
          el("td", {}, bar), el("td", { class: "num" }, dens === null ? "-" : dens.toExponential(2))));
      });
      dists.append(t);
    }
    for (let l = 0; l < info.layers.length; l++) {
      const rows = await api("/examples", { layer: l, latent });
      box.append(el("h3", {}, `Layer ${info.layers[l]}: ${rows.length} examples`));
      rows.slice(0, 8).forEach((ex) => box.append(exampleLine(ex)));
    }
    setStatus("");
  } catch (e) {
    setStatus(e.message, true);
  }
}

async function search(text) {
  const box = $("search-results");
  try {
    const res = await api("/search", { text });
    box.replaceChildren(el("span", { class: "muted" }, `Latents writing most into ${JSON.stringify(res.token.token)}: `));
    for (const r of res.latents)
      box.append(el("a", { href: `/latent/${r.latent}`, title: `score ${r.value.toFixed(3)}` }, String(r.latent)));
  } catch (e) {
    setStatus(e.message, true);
  }
}

function route() {
  const path = location.pathname;
  if (path.startsWith("/prompt/")) analyse(decodeURIComponent(path.slice(8)), false);
  else if (path.startsWith("/latent/")) latentPage(parseInt(path.slice(8), 10) || 0);
}

/* ---- tabs and keyboard --------------------------------------------------- */

const TABS = ["heatmaps", "histograms", "examples", "logits", "metrics"];

function showTab(name) {
  state.tab = name;
  for (const t of TABS) {
    const tab = $("tab-" + t), on = t === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $("panel-" + t).hidden = !on;
  }
}

function initTabs() {
  TABS.forEach((t, i) => {
    const tab = $("tab-" + t);
    tab.addEventListener("click", () => { showTab(t); renderTab(); });
    tab.addEventListener("keydown", (ev) => {
      const d = ev.key === "ArrowRight" ? 1 : ev.key === "ArrowLeft" ? -1 : 0;
      if (!d) return;
      const next = TABS[(i + d + TABS.length) % TABS.length];
      showTab(next);
      $("tab-" + next).focus();
      renderTab();
    });
  });
}

function initControls() {
  const numeric = { layer: "layer", latent: "latent", position: "position" };
  for (const [id, key] of Object.entries(numeric))
    $(id).addEventListener("change", () => select({ [key]: parseInt($(id).value, 10) || 0 }));
  $("factor").addEventListener("change", () => select({ factor: parseFloat($("factor").value) || 0 }));
  $("prompt-form").addEventListener("submit", (ev) => { ev.preventDefault(); analyse($("prompt").value, true); });
  $("prompt").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); analyse($("prompt").value, true); }
  });
  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (!state.acts || t.tagName === "INPUT" || t.tagName === "TEXTAREA") return;
    const keys = { "[": ["layer", -1], "]": ["layer", 1], "-": ["latent", -1], "=": ["latent", 1],
      ",": ["position", -1], ".": ["position", 1] };
    if (t.classList && t.classList.contains("tok")) { keys.ArrowLeft = ["position", -1]; keys.ArrowRight = ["position", 1]; }
    const k = keys[ev.key];
    if (!k) return;
    ev.preventDefault();
    select({ [k[0]]: state[k[0]] + k[1] });
  });
  window.addEventListener("popstate", route);
  $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); if ($("search").value) search($("search").value); });
  $("latent-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const n = parseInt($("latent-goto").value, 10);
    if (n >= 0) { history.pushState(null, "", `/latent/${n}`); latentPage(n); }
  });
}

async function init() {
  initTabs();
  initControls();
  try {
    state.params = await api("/params");
    const p = state.params;
    const layers = Array.isArray(p.layers) ? p.layers.length : null;
    $("model").textContent = [p.model_name, layers ? `${layers} layers` : null,
      p.expansion_factor ? `x${p.expansion_factor}` : null, p.k ? `k ${p.k}` : null].filter(Boolean).join(" \u00b7 ");
    if (layers) state.nLayers = layers;
  } catch (e) {
    setStatus(e.message, true);
  }
  route();
}

init();
