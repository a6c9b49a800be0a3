// dsim report page: draws the embedded run (or checked history) on
// canvases. No external assets; everything comes from #dsim-data.
"use strict";
(function () {
  const body = document.body;
  let errors = 0;
  window.addEventListener("error", function () {
    errors += 1;
    body.dataset.errors = String(errors);
  });

  const started = performance.now();
  const D = JSON.parse(document.getElementById("dsim-data").textContent);
  body.dataset.parseMs = String(Math.round(performance.now() - started));
  const app = document.getElementById("app");
  app.textContent = "";
  const tip = document.getElementById("tip");
  const isRun = D.page === "run";
  const END = Math.max(1, D.meta.end_us || 1);

  // ---------- small helpers ----------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) {
      if (k === "class") e.className = attrs[k];
      else if (k === "text") e.textContent = attrs[k];
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    }
    for (const c of kids) if (c != null) e.append(c);
    return e;
  }
  // Times are microseconds. Shown with the unit that fits and without
  // trailing zeros ("1.2 s", never "1.200 s", which reads as 1,200 in some
  // locales); no thousands separators.
  const BY_POSITION = !isRun && D.meta.time_unit === "position";
  function num(x, dec) {
    let s = x.toFixed(dec);
    if (s.indexOf(".") >= 0) s = s.replace(/0+$/, "").replace(/\.$/, "");
    return s === "-0" ? "0" : s;
  }
  function fmtT(us) {
    if (us == null) return "—";
    if (BY_POSITION) return "#" + Math.round(us);
    const a = Math.abs(us);
    if (a >= 1e6) return num(us / 1e6, a >= 1e7 ? 3 : 6) + " s";
    if (a >= 1000) return num(us / 1000, 3) + " ms";
    return num(us, 3) + " µs";
  }
  // The unit an axis with ticks `step` µs apart is labelled in, and the
  // decimals its labels need.
  function axisUnit(step) {
    if (BY_POSITION) return { name: "position", div: 1, dec: 0 };
    const u = step >= 1e5 ? { name: "s", div: 1e6 } : step >= 100 ? { name: "ms", div: 1000 } : { name: "µs", div: 1 };
    u.dec = Math.max(0, Math.ceil(-Math.log10(step / u.div) - 1e-9));
    return u;
  }
  function jv(v) { return v === null || v === undefined ? "" : JSON.stringify(v); }
  const PALETTE = ["#3568d4", "#2a9d8f", "#8e44ad", "#e76f51", "#6d8b15", "#c0398b",
    "#1b7fa3", "#b5651d", "#5a5cd0", "#0f8a5f", "#a63d40", "#7a6c00"];
  const kindColor = (k) => PALETTE[k % PALETTE.length];
  const GROUP_FILL = ["rgba(53,104,212,0.12)", "rgba(42,157,143,0.14)", "rgba(142,68,173,0.12)",
    "rgba(231,111,81,0.12)", "rgba(109,139,21,0.14)"];
  const TYPE_COLOR = { ok: "#2e9d4f", fail: "#d93636", info: "#e08a00", none: "#9aa0ab" };

  // ---------- shared view ----------
  const view = { t0: 0, t1: END * 1.02 };
  const LEFT = 96, RIGHT = 16;
  const redraws = [];
  function redraw() {
    const t = performance.now();
    for (const f of redraws) f();
    rangeLabel();
    body.dataset.drawMs = String(Math.round(performance.now() - t));
  }
  // Why the view is what it is, when it is not the user's own zoom.
  let viewWhy = null;
  function setView(t0, t1, why) {
    const span = Math.max(10, t1 - t0);
    view.t0 = t0; view.t1 = t0 + span;
    viewWhy = why || null;
    redraw();
  }
  function fit() { setView(0, END * 1.02); }

  // ---------- header ----------
  const M = D.meta;
  if (isRun) {
    app.append(el("h1", {}, "dsim run — " + M.scenario + " ",
      el("span", { class: "badge " + (M.as_expected ? "b-good" : "b-bad"),
        text: M.as_expected ? "as expected" : "NOT as expected" })));
    if (M.description) app.append(el("div", { class: "desc", text: M.description }));
    const s = M.stats;
    const dl = el("dl", { class: "meta" });
    const row = (k, v) => dl.append(el("dt", { text: k }), el("dd", {}, v));
    row("scenario", el("code", { text: M.path }));
    row("protocol", M.protocol + " (" + M.variant + ")" + (M.model ? ", model " + M.model : ""));
    row("seed", String(M.seed));
    row("fingerprint", el("code", { text: M.fingerprint }));
    row("replay", el("code", { text: M.replay }));
    row("run", s.events + " events, " + s.ops + " ops, " + s.sent + " messages sent (" + s.delivered +
      " delivered, " + s.lost + " lost, " + s.duplicated + " duplicated, " + s.dropped +
      " dropped by faults), " + s.link_errors + " connection errors, " + s.timers + " timers");
    row("stopped", M.stop + " at " + fmtT(M.end_us) +
      (M.final_heal_us != null ? ", final heal at " + fmtT(M.final_heal_us) : ""));
    app.append(dl);
  } else {
    app.append(el("h1", {}, "dsim check — " + M.history + " ",
      el("span", { class: "badge " + (M.verdict === "linearizable" ? "b-good" : M.verdict === "unknown" ? "b-grey" : "b-bad"),
        text: M.verdict })));
    const dl = el("dl", { class: "meta" });
    const row = (k, v) => dl.append(el("dt", { text: k }), el("dd", {}, v));
    row("model", M.model);
    row("operations", String(M.ops));
    row("search", M.steps + " steps of a budget of " + M.budget);
    app.append(dl);
  }

  // ---------- what the page leaves out ----------
  // Said at the top of the page and again where it happens, with how to
  // see what is missing.
  const om = D.omitted || {};
  const n3 = (n) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f"); // 1 234 567 (narrow spaces)
  const replay = isRun ? D.meta.replay : null;
  const leftOut = {
    arrows: om.arrows ? "Space-time diagram: arrows are drawn one by one for the first " + n3(om.arrows_window || 0) +
      " messages (sent up to " + fmtT(D.window_end_us) + "); after that only those that were dropped, lost, duplicated or held are drawn, and " +
      n3(om.arrows) + " messages that simply arrived are left out (the area is shaded grey; the messages / s plot counts every one). " +
      "Every message is in the trace: " + replay + " --trace trace.jsonl" : null,
    ops: om.ops ? "Client timeline: every operation that did not complete ok is drawn, and " +
      (om.ops_stride > 1 ? "one in every " + om.ops_stride + " of the others, evenly over the " + (isRun ? "run" : "history") : "the others up to the limit") +
      ": " + n3(om.ops) + " operations are left out (the plots count every one). " +
      (isRun ? "Every operation is in the history: " + replay + " --history history.jsonl" : "Every operation is in the history file.") : null,
    texts: om.texts ? "Message contents are shown on hover for the first " + n3(20000) + " messages only (" + n3(om.texts) + " more are in the --trace file)." : null,
    timers: om.timers ? n3(om.timers) + " timer ticks are not drawn (only the first " + n3(50000) + "; all are in the --trace file)." : null,
    markers: om.markers ? n3(om.markers) + " fault markers are not drawn (only the first " + n3(20000) + "; all are in the --trace file)." : null,
  };
  function leftOutBox(keys, lead) {
    const parts = keys.map((k) => leftOut[k]).filter((x) => x);
    if (!parts.length) return null;
    const box = el("div", { class: "omitted" }, lead ? el("b", { text: lead }) : null);
    for (const p of parts) box.append(el("div", { text: p }));
    return box;
  }
  const topNote = leftOutBox(["arrows", "ops", "texts", "timers", "markers"],
    "This page draws part of a big " + (isRun ? "run" : "history") + " (to stay small and quick to open):");
  if (topNote) { topNote.id = "left-out"; app.append(topNote); }

  // ---------- verdicts ----------
  const W = D.witness || null;
  const witnessSet = new Set(W ? W.ops : []);
  // The window the checks flag: the witness's operations, with a margin of
  // 40% of their span on each side (at least 50 µs).
  function witnessWindow() {
    if (!W || !W.ops.length) return null;
    let a = Infinity, b = -Infinity;
    for (const i of W.ops) {
      a = Math.min(a, D.ops.t0[i]);
      b = Math.max(b, D.ops.t1[i] == null ? D.ops.t0[i] : D.ops.t1[i]);
    }
    const pad = Math.max(50, (b - a) * 0.4);
    return [Math.max(0, a - pad), b + pad];
  }
  function showWitness(why) {
    const win = witnessWindow();
    if (!win) return false;
    if (keySel && W.key != null) keySel.value = "k:" + W.key;
    setView(win[0], win[1], why);
    return true;
  }
  function zoomToWitness() {
    if (showWitness("witness")) timelineBox.scrollIntoView({ behavior: "auto", block: "center" });
  }
  app.append(el("h2", { id: "verdicts", text: isRun ? "Verdicts" : "Verdict" }));
  const checksBox = el("div", { class: "checks" });
  app.append(checksBox);
  if (isRun) {
    for (const c of D.checks) {
      const card = el("div", { class: "check " + c.status });
      card.append(el("span", { class: "name", text: c.name }),
        el("span", { class: "badge b-" + c.status, text: c.status }), " ",
        el("span", { class: "mute", text: c.as_expected ? (c.expected === "violation" ? "(expected)" : "") :
          "(UNEXPECTED: scenario expects " + c.expected + ")" }),
        el("div", { text: c.summary }));
      if (c.evidence && c.evidence.length) card.append(el("pre", { text: c.evidence.join("\n") }));
      if (c.name === "linearizability" && W) {
        card.append(el("button", { onclick: zoomToWitness, text: "show the witness on the timeline" }));
      }
      checksBox.append(card);
    }
    if (!D.checks.length) checksBox.append(el("div", { text: "The scenario runs no checks." }));
  } else {
    const card = el("div", { class: "check " + (M.verdict === "linearizable" ? "pass" : M.verdict === "unknown" ? "unknown" : "violation") });
    card.append(el("div", { text: M.verdict + (W ? " (key " + jv(W.key) + "): " + W.explanation : "") }));
    if (W) card.append(el("button", { onclick: zoomToWitness, text: "show the witness on the timeline" }));
    checksBox.append(card);
    if (D.prefixes && D.prefixes.length) {
      const ul = el("ul", {});
      for (const p of D.prefixes) {
        ul.append(el("li", { text: "key " + jv(p.key) + ": linearizable up to " +
          (p.linearizable_until_us == null ? "no completion at all" : fmtT(p.linearizable_until_us)) +
          (p.broken_at_us == null ? " (the search could not tell past that)" :
            "; the completion at " + fmtT(p.broken_at_us) + " cannot be linearized with what came before") }));
      }
      checksBox.append(el("div", {}, el("b", { text: "Longest linearizable prefix per key" }),
        el("div", { class: "desc", text: "The history cut at an instant, with operations still running then left open: the shaded part of the timeline is linearizable; the red line is the first completion that is not." }), ul));
    }
  }
  if (W) {
    const t = el("table", { class: "witness-list mono" });
    for (const i of W.ops) {
      t.append(el("tr", {}, el("td", { text: "p" + D.ops.p[i] }), el("td", { text: opLabel(i) }),
        el("td", { text: "invoked " + fmtT(D.ops.t0[i]) + ", " + D.ops.types[D.ops.ty[i]] +
          (D.ops.t1[i] == null ? "" : " at " + fmtT(D.ops.t1[i])) })));
    }
    checksBox.append(el("div", {}, el("b", { text: "Witness: operations that cannot be linearized" +
      (W.key != null ? " (key " + jv(W.key) + ")" : "") }), t));
  }

  function opLabel(i) {
    const O = D.ops, f = O.fs[O.f[i]], ty = O.types[O.ty[i]];
    let s = f;
    if (O.key[i] != null) s += " " + O.key[i];
    if (O.vin[i] != null) s += (O.key[i] != null ? "=" : " ") + jv(O.vin[i]);
    if (ty === "ok" && O.vout[i] != null && jv(O.vout[i]) !== jv(O.vin[i])) s += " → " + jv(O.vout[i]);
    if (ty !== "ok") s += " (" + ty + ")";
    return s;
  }

  // ---------- toolbar ----------
  const toolbar = el("div", { class: "toolbar" });
  const rangeEl = el("span", { class: "range" });
  function rangeLabel() {
    rangeEl.textContent = fmtT(Math.round(view.t0)) + " – " + fmtT(Math.round(view.t1)) + " of " + fmtT(END);
    const whole = view.t0 <= 0 && view.t1 >= END;
    viewNote.hidden = whole;
    if (!whole) viewNote.firstChild.textContent = viewWhy === "opened" ?
      "Opened on what the checks flag: the witness's operations" + (keySel && keySel.value !== "all" ? " (its key only)" : "") + ". " :
      viewWhy === "witness" ? "The witness's operations. " : "";
    body.dataset.viewT0 = String(Math.round(view.t0));
    body.dataset.viewT1 = String(Math.round(view.t1));
  }
  const viewNote = el("span", { class: "viewnote" }, el("span", {}),
    el("button", { onclick: () => { if (keySel) keySel.value = "all"; fit(); }, text: "show the whole " + (isRun ? "run" : "history") }));
  const zoomBy = (f) => { const c = (view.t0 + view.t1) / 2, h = (view.t1 - view.t0) * f / 2; setView(Math.max(0, c - h), c + h); };
  toolbar.append(el("span", { class: "group" },
    el("button", { onclick: () => zoomBy(0.5), text: "zoom in" }),
    el("button", { onclick: () => zoomBy(2), text: "zoom out" }),
    el("button", { onclick: () => { if (keySel) keySel.value = "all"; fit(); }, text: isRun ? "whole run" : "whole history" }),
    W ? el("button", { onclick: zoomToWitness, text: "witness" }) : null,
    rangeEl, viewNote));
  const hiddenLanes = new Set(), hiddenKinds = new Set();
  const show = { delivered: true, timers: true };
  let keySel = null;
  const keys = [...new Set((D.ops.key || []).filter((k) => k != null))].sort((a, b) =>
    (isFinite(a) && isFinite(b)) ? a - b : String(a).localeCompare(String(b)));
  if (keys.length > 1) {
    keySel = el("select", { onchange: redraw });
    keySel.append(el("option", { value: "all", text: "all keys" }));
    for (const k of keys.slice(0, 2000)) keySel.append(el("option", { value: "k:" + k, text: "key " + k }));
    toolbar.append(el("span", { class: "group" }, "key ", keySel));
    // A checked history opens on the witness's key.
    if (!isRun && W && W.key != null) keySel.value = "k:" + W.key;
  }
  if (isRun) {
    const lanesBox = el("span", { class: "group" }, "processes:");
    D.lanes.forEach((name, i) => {
      const cb = el("input", { type: "checkbox" }); cb.checked = true;
      cb.addEventListener("change", () => { cb.checked ? hiddenLanes.delete(i) : hiddenLanes.add(i); layoutDiagram(); redraw(); });
      lanesBox.append(el("label", {}, cb, name));
    });
    const kindsBox = el("span", { class: "group" }, "messages:");
    D.kinds.forEach((name, i) => {
      const cb = el("input", { type: "checkbox" }); cb.checked = true;
      cb.addEventListener("change", () => { cb.checked ? hiddenKinds.delete(i) : hiddenKinds.add(i); redraw(); });
      kindsBox.append(el("label", {}, cb, el("span", { class: "sw", style: "background:" + kindColor(i) }), name));
    });
    const opt = (key, text) => {
      const cb = el("input", { type: "checkbox" }); cb.checked = true;
      cb.addEventListener("change", () => { show[key] = cb.checked; redraw(); });
      return el("label", {}, cb, text);
    };
    toolbar.append(lanesBox, kindsBox, el("span", { class: "group" }, opt("delivered", "delivered"), opt("timers", "timers")));
  }

  // ---------- canvas plumbing ----------
  function makeCanvas(height) {
    const c = el("canvas");
    c.style.height = height + "px";
    return c;
  }
  function prep(c, height) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(320, c.parentNode.clientWidth || 1000);
    c.style.height = height + "px";
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(height * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(height * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, height);
    return { g, w, h: height };
  }
  function X(t, w) { return LEFT + (t - view.t0) / (view.t1 - view.t0) * (w - LEFT - RIGHT); }
  function T(x, w) { return view.t0 + (x - LEFT) / (w - LEFT - RIGHT) * (view.t1 - view.t0); }
  function niceStep(span, px) {
    const target = span / Math.max(2, px / 110);
    const p = Math.pow(10, Math.floor(Math.log10(target)));
    for (const m of [1, 2, 5, 10]) if (m * p >= target) return m * p;
    return 10 * p;
  }
  // Grid lines and tick labels: plain numbers in the unit written at the
  // axis's left end ("time (ms)"), which changes with the zoom.
  function axis(g, w, y, h, labels) {
    const step = niceStep(view.t1 - view.t0, w - LEFT - RIGHT);
    const u = axisUnit(step);
    g.font = "11px system-ui, sans-serif"; g.fillStyle = "#5d6577"; g.strokeStyle = "#eceef2"; g.lineWidth = 1;
    for (let k = Math.ceil(view.t0 / step); k * step <= view.t1; k++) {
      const t = k * step, x = Math.round(X(t, w)) + 0.5;
      g.beginPath(); g.moveTo(x, y); g.lineTo(x, y + h); g.stroke();
      if (labels) g.fillText(num(t / u.div, u.dec), x + 2, y + 10);
    }
    if (labels) {
      g.fillStyle = "#1d2330"; g.font = "bold 11px system-ui, sans-serif";
      g.fillText(BY_POSITION ? "position" : "time (" + u.name + ")", 8, y + 10);
    }
    axisLabel = BY_POSITION ? "position" : u.name;
  }
  let axisLabel = "";
  function attachZoomPan(c, hover) {
    let drag = null;
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const w = c.clientWidth, t = T(e.offsetX, w);
      const f = Math.pow(1.0015, e.deltaY);
      setView(Math.max(0, t - (t - view.t0) * f), t + (view.t1 - t) * f);
    }, { passive: false });
    c.addEventListener("mousedown", (e) => { drag = { x: e.clientX, t0: view.t0, t1: view.t1 }; c.classList.add("drag"); });
    window.addEventListener("mouseup", () => { drag = null; c.classList.remove("drag"); });
    c.addEventListener("mousemove", (e) => {
      if (drag) {
        const dt = (e.clientX - drag.x) / (c.clientWidth - LEFT - RIGHT) * (drag.t1 - drag.t0);
        let t0 = drag.t0 - dt; if (t0 < 0) t0 = 0;
        setView(t0, t0 + (drag.t1 - drag.t0));
        tip.hidden = true;
        return;
      }
      const text = hover(e.offsetX, e.offsetY);
      if (text) {
        tip.textContent = text; tip.hidden = false;
        tip.style.left = Math.min(window.innerWidth - 540, e.clientX + 14) + "px";
        tip.style.top = (e.clientY + 14) + "px";
      } else tip.hidden = true;
    });
    c.addEventListener("mouseleave", () => { tip.hidden = true; });
    c.addEventListener("dblclick", fit);
  }

  // ---------- fault spans from the markers ----------
  const spans = [];     // {lane, a, b, kind, fill, label}
  const bands = [];     // whole-network spans: {a, b, label, fill}
  const points = [];    // {lane, t, label, color}
  if (isRun) {
    const names = D.lanes;
    const nm = (i) => names[i] != null ? names[i] : String(i);
    let open = [], oneway = [], partBand = null;
    const down = {}, paused = {}, halted = {};
    const rules = {}; let faultIdx = 0; let lossBand = null;
    const closePartition = (t) => {
      for (const s of open.concat(oneway)) { s.b = t; spans.push(s); }
      open = []; oneway = [];
      if (partBand) { partBand.b = t; bands.push(partBand); partBand = null; }
    };
    const closeSpan = (map, id, t) => { if (map[id]) { map[id].b = t; spans.push(map[id]); delete map[id]; } };
    for (const m of D.markers) {
      const x = m.x || {};
      if (m.ev === "fault") {
        const f = x.fault || {}, idx = faultIdx++;
        switch (f.kind) {
          case "partition": {
            closePartition(m.t);
            f.groups.forEach((g, gi) => g.forEach((n) => open.push({ lane: n, a: m.t, kind: "partition",
              fill: GROUP_FILL[gi % GROUP_FILL.length], label: "partition, side " + (gi + 1) + ": {" + g.map(nm).join(",") + "}" })));
            partBand = { a: m.t, label: "partition " + f.groups.map((g) => "{" + g.map(nm).join(",") + "}").join(" | "), fill: "rgba(53,104,212,0.55)" };
            break;
          }
          case "partition_one_way":
            f.from.forEach((n) => oneway.push({ lane: n, a: m.t, kind: "oneway", fill: "rgba(231,111,81,0.13)",
              label: "one-way cut {" + f.from.map(nm).join(",") + "} → {" + f.to.map(nm).join(",") + "}" }));
            if (!partBand) partBand = { a: m.t, label: "one-way cut {" + f.from.map(nm).join(",") + "} → {" + f.to.map(nm).join(",") + "}", fill: "rgba(231,111,81,0.6)" };
            break;
          case "heal": closePartition(m.t); points.push({ lane: -1, t: m.t, label: "heal", color: "#2e9d4f" }); break;
          case "crash":
            down[f.node] = down[f.node] || { lane: f.node, a: m.t, kind: "down", fill: "rgba(60,60,60,0.22)", label: nm(f.node) + " crashed" };
            points.push({ lane: f.node, t: m.t, label: nm(f.node) + " crashed", color: "#222" });
            break;
          case "restart":
            closeSpan(down, f.node, m.t); closeSpan(halted, f.node, m.t);
            points.push({ lane: f.node, t: m.t, label: nm(f.node) + " restarted", color: "#2e9d4f" });
            break;
          case "pause": paused[f.node] = paused[f.node] || { lane: f.node, a: m.t, kind: "paused", fill: "rgba(224,138,0,0.22)", label: nm(f.node) + " paused" }; break;
          case "resume": closeSpan(paused, f.node, m.t); break;
          case "clock_skew": case "clock_drift": case "clock_jump":
            points.push({ lane: f.node, t: m.t, label: f.kind.replace("_", " ") + " of " + nm(f.node) + ": " +
              (f.offset_us != null ? fmtT(f.offset_us) : f.delta_us != null ? fmtT(f.delta_us) : f.drift_ppm + " ppm"), color: "#8e44ad", shape: "clock" });
            break;
          case "link_error":
            points.push({ lane: f.from, t: m.t, label: "injected connection error " + nm(f.from) + " → " + nm(f.to), color: "#d93636" });
            break;
          case "loss":
            lossBand = { a: m.t, b: m.t + (f.for_us || 0), label: "loss burst", fill: "rgba(217,54,54,0.5)" };
            bands.push(lossBand);
            break;
          case "message":
            rules[idx] = { a: m.t, label: "message rule #" + idx + ": " + JSON.stringify(f).slice(0, 160), fill: "rgba(142,68,173,0.5)" };
            break;
          default:
            points.push({ lane: -1, t: m.t, label: JSON.stringify(f), color: "#555" });
        }
      } else if (m.ev === "rule_end") {
        const r = rules[x.rule]; if (r) { r.b = m.t; bands.push(r); delete rules[x.rule]; }
      } else if (m.ev === "loss_end") {
        if (lossBand) { lossBand.b = m.t; lossBand = null; }
      } else if (m.ev === "final_heal") {
        closePartition(m.t);
        for (const id in paused) closeSpan(paused, id, m.t);
        for (const k in rules) { rules[k].b = m.t; bands.push(rules[k]); delete rules[k]; }
        points.push({ lane: -1, t: m.t, label: "final heal", color: "#2e9d4f" });
      } else if (m.ev === "halt") {
        halted[x.node] = { lane: x.node, a: m.t, kind: "halted", fill: "rgba(217,54,54,0.16)", label: nm(x.node) + " halted: " + x.reason };
        points.push({ lane: x.node, t: m.t, label: nm(x.node) + " halted: " + x.reason, color: "#d93636" });
      } else if (m.ev === "link_error") {
        points.push({ lane: x.from, t: m.t, label: "connection error on link " + nm(x.from) + " → " + nm(x.to) +
          " (the sender learns its message was not delivered)", color: "#d93636", shape: "bolt", to: x.to });
      } else if (m.ev === "request_lost") {
        points.push({ lane: x.node, t: m.t, label: "request " + x.req + " lost: " + nm(x.node) + " was down", color: "#e08a00" });
      }
    }
    closePartition(END);
    for (const map of [down, paused, halted]) for (const id in map) closeSpan(map, id, END);
    for (const k in rules) { rules[k].b = END; bands.push(rules[k]); }
  }

  // ---------- space-time diagram ----------
  const A = D.arrows || null;
  const nA = A ? A.s.length : 0;
  let laneY = [], laneH = 34, diagH = 0;
  const BAND_H = 20, AXIS_H = 16;
  function layoutDiagram() {
    const vis = D.lanes.map((_, i) => i).filter((i) => !hiddenLanes.has(i));
    laneH = vis.length <= 12 ? 40 : Math.max(12, Math.floor(520 / vis.length));
    laneY = D.lanes.map(() => null);
    vis.forEach((id, j) => { laneY[id] = AXIS_H + BAND_H + 6 + j * laneH + laneH / 2; });
    diagH = AXIS_H + BAND_H + 26 + vis.length * laneH;
  }
  let medianLatency = 1000;
  if (nA) {
    const l = [];
    for (let i = 0; i < nA && l.length < 5000; i++) if (A.o[i] === 0 && A.f[i] !== A.r[i]) l.push(A.a[i] - A.s[i]);
    l.sort((a, b) => a - b);
    if (l.length) medianLatency = Math.max(1, l[l.length >> 1]);
  }
  const DRAW_LIMIT = 40000;
  let drawnSegs = [];
  let diagCanvas = null;
  function cross(g, x, y, r) {
    g.beginPath(); g.moveTo(x - r, y - r); g.lineTo(x + r, y + r); g.moveTo(x + r, y - r); g.lineTo(x - r, y + r); g.stroke();
  }
  function head(g, x1, y1, x2, y2) {
    const a = Math.atan2(y2 - y1, x2 - x1), s = 6;
    g.beginPath(); g.moveTo(x2, y2);
    g.lineTo(x2 - s * Math.cos(a - 0.4), y2 - s * Math.sin(a - 0.4));
    g.lineTo(x2 - s * Math.cos(a + 0.4), y2 - s * Math.sin(a + 0.4));
    g.closePath(); g.fill();
  }
  function drawDiagram() {
    const { g, w } = prep(diagCanvas, diagH);
    axis(g, w, 0, diagH, true);
    const xw = (t) => X(t, w);
    // Whole-network bands (partitions, rules, loss bursts) above the lanes.
    g.font = "11px system-ui, sans-serif";
    for (const b of bands) {
      const x1 = Math.max(LEFT, xw(b.a)), x2 = Math.min(w - RIGHT, xw(b.b));
      if (x2 < LEFT || x1 > w - RIGHT) continue;
      g.fillStyle = b.fill; g.fillRect(x1, AXIS_H + 2, Math.max(2, x2 - x1), BAND_H - 4);
      g.save(); g.beginPath(); g.rect(x1, AXIS_H, Math.max(0, x2 - x1), BAND_H); g.clip();
      g.fillStyle = "#fff"; g.fillText(b.label, x1 + 4, AXIS_H + 14); g.restore();
    }
    // Lanes, with the spans of faults on them.
    for (let i = 0; i < D.lanes.length; i++) {
      const y = laneY[i]; if (y == null) continue;
      g.fillStyle = i < D.replicas ? "#1d2330" : i < D.replicas + D.services ? "#8e44ad" : "#1b7fa3";
      g.font = "12px system-ui, sans-serif";
      g.fillText(D.lanes[i], 8, y + 4);
    }
    g.save(); g.beginPath(); g.rect(LEFT, 0, w - LEFT - RIGHT, diagH); g.clip();
    for (const s of spans) {
      const y = laneY[s.lane]; if (y == null) continue;
      g.fillStyle = s.fill; g.fillRect(xw(s.a), y - laneH / 2 + 2, xw(s.b) - xw(s.a), laneH - 4);
      if (s.kind === "down" || s.kind === "halted") {
        const x1 = Math.max(LEFT, xw(s.a)), x2 = Math.min(w - RIGHT, xw(s.b));
        g.save(); g.beginPath(); g.rect(x1, y - laneH / 2 + 2, Math.max(0, x2 - x1), laneH - 4); g.clip();
        g.strokeStyle = s.kind === "down" ? "rgba(0,0,0,0.25)" : "rgba(217,54,54,0.35)"; g.lineWidth = 1;
        for (let x = x1 - laneH; x < x2; x += 8) {
          g.beginPath(); g.moveTo(x, y + laneH / 2 - 2); g.lineTo(x + laneH - 4, y - laneH / 2 + 2); g.stroke();
        }
        g.restore();
      }
    }
    g.strokeStyle = "#aab0bc"; g.lineWidth = 1;
    for (let i = 0; i < D.lanes.length; i++) {
      const y = laneY[i]; if (y == null) continue;
      g.beginPath(); g.moveTo(LEFT, Math.round(y) + 0.5); g.lineTo(w - RIGHT, Math.round(y) + 0.5); g.stroke();
    }
    // Timer ticks.
    const TT = D.timers;
    if (show.timers && TT) {
      g.strokeStyle = "rgba(93,101,119,0.6)";
      g.beginPath();
      for (let i = 0; i < TT.t.length; i++) {
        const t = TT.t[i]; if (t < view.t0 || t > view.t1) continue;
        const y = laneY[TT.n[i]]; if (y == null) continue;
        const x = Math.round(xw(t)) + 0.5; g.moveTo(x, y + 3); g.lineTo(x, y + 9);
      }
      g.stroke();
    }
    // Arrows.
    drawnSegs = [];
    let count = 0, visible = 0;
    const inView = (i) => {
      const s = A.s[i], a = A.a[i], o = A.o[i];
      const end = a == null ? (o === 8 ? END : s + medianLatency) : a;
      if (end < view.t0 || s > view.t1) return false;
      if (hiddenKinds.has(A.k[i])) return false;
      if (laneY[A.f[i]] == null || laneY[A.r[i]] == null) return false;
      return !(o === 0 && !show.delivered && A.c[i] === 0 && A.h[i] == null);
    };
    for (let i = 0; i < nA; i++) if (inView(i)) visible++;
    // Too many to draw one by one: delivered messages become a density
    // strip per sender lane; the others are still drawn (up to the limit).
    const dense = visible > DRAW_LIMIT;
    const dens = new Map();
    let densMax = 1;
    for (let i = 0; i < nA; i++) {
      if (!inView(i)) continue;
      const s = A.s[i], a = A.a[i], o = A.o[i];
      const end = a == null ? (o === 8 ? END : s + medianLatency) : a;
      const y1 = laneY[A.f[i]], y2 = laneY[A.r[i]];
      if (dense && (o === 0 || count >= DRAW_LIMIT)) {
        const key = A.f[i] * 100000 + Math.floor(xw(s) / 2);
        const v = (dens.get(key) || 0) + 1;
        dens.set(key, v); if (v > densMax) densMax = v;
        continue;
      }
      count++;
      const x1 = xw(s);
      g.strokeStyle = g.fillStyle = kindColor(A.k[i]);
      g.lineWidth = 1.2;
      g.setLineDash(A.c[i] > 0 ? [4, 3] : []);
      if (A.f[i] === A.r[i]) {
        const x2 = xw(end);
        g.beginPath(); g.moveTo(x1, y1); g.bezierCurveTo(x1, y1 - 14, Math.max(x2, x1 + 6), y1 - 14, Math.max(x2, x1 + 6), y1); g.stroke();
        drawnSegs.push([i, x1, y1 - 8, Math.max(x2, x1 + 6), y1 - 8]);
        if (o !== 0) { g.strokeStyle = "#d93636"; g.lineWidth = 2; cross(g, Math.max(x2, x1 + 6), y1, 4); }
        continue;
      }
      let x2 = xw(end), ye = y2;
      if (a == null && o !== 8) { ye = y1 + (y2 - y1) * 0.5; }
      if (o === 6) { x2 = x1 + 4; ye = y1 + Math.sign(y2 - y1) * 8; }
      const h = A.h[i];
      if (h != null && a != null) {
        // Held by a partition (or parked by a pause): reaches the
        // receiver's lane when it would have arrived, waits there.
        const xh = xw(h);
        g.beginPath(); g.moveTo(x1, y1); g.lineTo(xh, y2); g.stroke();
        g.setLineDash([2, 2]); g.strokeStyle = "#e08a00"; g.lineWidth = 3;
        g.beginPath(); g.moveTo(xh, y2); g.lineTo(x2, y2); g.stroke();
        g.setLineDash([]); g.fillStyle = "#e08a00"; g.fillRect(xh - 3, y2 - 3, 6, 6);
        g.fillStyle = kindColor(A.k[i]); head(g, xh, y2 - 1, x2, y2);
        drawnSegs.push([i, x1, y1, xh, y2]); drawnSegs.push([i, xh, y2, x2, y2]);
        continue;
      }
      g.beginPath(); g.moveTo(x1, y1); g.lineTo(x2, ye); g.stroke();
      g.setLineDash([]);
      drawnSegs.push([i, x1, y1, x2, ye]);
      if (o === 0) head(g, x1, y1, x2, ye);
      else if (o === 8) { /* still in flight */ }
      else { g.strokeStyle = "#d93636"; g.lineWidth = 2.2; cross(g, x2, ye, 4.5); }
      if (A.c[i] > 0) { g.fillStyle = "#fff"; g.strokeStyle = kindColor(A.k[i]); g.lineWidth = 1.2;
        g.beginPath(); g.arc(x2, ye, 5, 0, 7); g.fill(); g.stroke();
        g.fillStyle = kindColor(A.k[i]); g.font = "bold 8px system-ui"; g.fillText(String(A.c[i] + 1), x2 - 2.5, ye + 3); }
    }
    g.setLineDash([]);
    // Too many to draw one by one: message density per sender lane.
    for (const [key, v] of dens) {
      const lane = Math.floor(key / 100000), px = key % 100000, y = laneY[lane];
      g.fillStyle = "rgba(53,104,212," + (0.05 + 0.6 * v / densMax).toFixed(3) + ")";
      g.fillRect(px * 2, y - 5, 2, 10);
    }
    if (dense) {
      g.fillStyle = "#5d6577"; g.font = "11px system-ui";
      g.fillText(visible + " messages in view: delivered ones drawn as density per sender (zoom in to see arrows)", LEFT + 4, diagH - 4);
    }
    // Point markers.
    const labelEnd = {};
    for (const p of points) {
      if (p.t < view.t0 || p.t > view.t1) continue;
      const x = xw(p.t);
      if (p.lane < 0) {
        g.strokeStyle = p.color; g.setLineDash([5, 4]); g.lineWidth = 1.2;
        g.beginPath(); g.moveTo(x, AXIS_H); g.lineTo(x, diagH); g.stroke(); g.setLineDash([]);
        g.fillStyle = p.color; g.font = "11px system-ui"; g.fillText(p.label, x + 3, AXIS_H + BAND_H + 4);
        continue;
      }
      const y = laneY[p.lane]; if (y == null) continue;
      g.fillStyle = p.color; g.strokeStyle = "#fff"; g.lineWidth = 1;
      g.beginPath();
      if (p.shape === "bolt") { g.moveTo(x, y - 9); g.lineTo(x + 5, y); g.lineTo(x, y + 9); g.lineTo(x - 5, y); }
      else if (p.shape === "clock") { g.arc(x, y, 6, 0, 7); }
      else { g.moveTo(x, y - 7); g.lineTo(x + 6, y + 5); g.lineTo(x - 6, y + 5); }
      g.closePath(); g.fill(); g.stroke();
      if (p.to != null && laneH >= 24) {
        // Name the link when there is room (labels on one lane do not overlap).
        const last = labelEnd[p.lane] == null ? -1e9 : labelEnd[p.lane];
        const text = "→" + D.lanes[p.to];
        if (x + 6 > last) {
          g.fillStyle = "#d93636"; g.font = "bold 10px system-ui";
          g.fillText(text, x + 6, y - 6);
          labelEnd[p.lane] = x + 8 + g.measureText(text).width;
        }
      }
    }
    g.restore();
    // The whole run, and what was not drawn one by one.
    if (D.window_end_us != null && D.window_end_us < view.t1) {
      const x = xw(D.window_end_us);
      g.fillStyle = "rgba(0,0,0,0.04)"; g.fillRect(Math.max(LEFT, x), AXIS_H, w - RIGHT - Math.max(LEFT, x), diagH - AXIS_H);
      g.fillStyle = "#5d6577"; g.fillText("after " + fmtT(D.window_end_us) + ": only messages that did not simply arrive are drawn", Math.max(LEFT, x) + 4, diagH - 16);
    }
    diagCanvas.dataset.arrows = String(count);
    diagCanvas.dataset.visible = String(visible);
  }
  function distSeg(px, py, s) {
    const [, x1, y1, x2, y2] = s, dx = x2 - x1, dy = y2 - y1, l2 = dx * dx + dy * dy;
    let u = l2 ? ((px - x1) * dx + (py - y1) * dy) / l2 : 0; u = Math.max(0, Math.min(1, u));
    const qx = x1 + u * dx - px, qy = y1 + u * dy - py; return qx * qx + qy * qy;
  }
  function hoverDiagram(px, py) {
    let best = null, bd = 36;
    for (const p of points) {
      const x = X(p.t, diagCanvas.clientWidth), y = p.lane < 0 ? AXIS_H + BAND_H : laneY[p.lane];
      if (y == null) continue;
      const d = (x - px) ** 2 + (p.lane < 0 ? 0 : (y - py) ** 2);
      if (d < bd) { bd = d; best = fmtT(p.t) + "  " + p.label; }
    }
    if (best) return best;
    for (const b of bands) {
      if (py >= AXIS_H && py <= AXIS_H + BAND_H && T(px, diagCanvas.clientWidth) >= b.a && T(px, diagCanvas.clientWidth) <= b.b)
        return fmtT(b.a) + " – " + fmtT(b.b) + "  " + b.label;
    }
    let bi = -1; bd = 25;
    for (const s of drawnSegs) { const d = distSeg(px, py, s); if (d < bd) { bd = d; bi = s[0]; } }
    if (bi >= 0) {
      const i = bi, text = D.texts && D.texts[A.m[i]];
      return D.kinds[A.k[i]] + "  #" + A.m[i] + (A.c[i] > 0 ? " (copy " + (A.c[i] + 1) + ", a duplicate)" : "") + "\n" +
        D.lanes[A.f[i]] + " → " + D.lanes[A.r[i]] + "\nsent " + fmtT(A.s[i]) +
        (A.h[i] != null ? "\nheld from " + fmtT(A.h[i]) : "") +
        "\n" + D.outcomes[A.o[i]] + (A.a[i] != null && A.o[i] !== 6 ? " at " + fmtT(A.a[i]) +
          " (after " + fmtT(A.a[i] - A.s[i]) + ")" : "") + (text ? "\n" + text : "");
    }
    for (const s of spans) {
      const y = laneY[s.lane], t = T(px, diagCanvas.clientWidth);
      if (y != null && Math.abs(py - y) < laneH / 2 && t >= s.a && t <= s.b) return fmtT(s.a) + " – " + fmtT(s.b) + "  " + s.label;
    }
    const lane = laneY.findIndex((y) => y != null && Math.abs(py - y) < laneH / 2);
    if (lane >= 0 && px < LEFT) {
      const f = (D.finals || [])[lane];
      return D.lanes[lane] + (f ? " (" + f.status + " at the end)" : "");
    }
    return null;
  }
  let timelineBox = null;
  if (isRun) {
    app.append(el("h2", { id: "diagram", text: "Space-time diagram" }));
    app.append(toolbar);
    app.append(el("div", { class: "legend" },
      el("span", { text: "one lane per process, time flowing right; drag to pan, wheel to zoom, double-click for the whole run" }),
      el("span", { text: "→ delivered" }), el("span", { text: "✕ dropped or lost (never arrived)" }),
      el("span", { text: "- - → duplicate copy" }), el("span", { text: "orange: held by a partition or a pause until released" }),
      el("span", { text: "◆ red: connection error (link)" }), el("span", { text: "shaded: partition sides, crashes (hatched), pauses, halts" }),
      el("span", { text: "ticks under a lane: timers" })));
    const diagNote = leftOutBox(["arrows", "texts", "timers", "markers"]);
    if (diagNote) app.append(diagNote);
    const box = el("div", {});
    diagCanvas = makeCanvas(200);
    box.append(diagCanvas);
    app.append(box);
    layoutDiagram();
    redraws.push(drawDiagram);
    attachZoomPan(diagCanvas, hoverDiagram);
    if (D.notes && D.notes.length) {
      app.append(el("h2", { text: "What the protocol reports about this run" }));
      const ul = el("ul", { class: "notes" });
      for (const n of D.notes) ul.append(el("li", { text: n }));
      app.append(ul);
    }
    if (D.halts && D.halts.length) {
      const ul = el("ul", { class: "notes" });
      for (const h of D.halts) ul.append(el("li", { text: h.node + " halted at " + fmtT(h.at_us) + ": " + h.reason }));
      app.append(el("b", { text: "Halts" }), ul);
    }
  } else {
    app.append(el("h2", { text: "Timeline" }));
    app.append(toolbar);
  }

  // ---------- client timeline ----------
  const O = D.ops, nO = O.p.length;
  const procs = [...new Set(O.p)].sort((a, b) => a - b);
  const procRow = new Map(procs.map((p, i) => [p, i]));
  let rowH = procs.length <= 40 ? 22 : Math.max(2, Math.floor(700 / procs.length));
  const TL_TOP = 18;
  const tlH = TL_TOP + procs.length * rowH + 8;
  let tlCanvas = null, drawnBars = [];
  const prefixes = D.prefixes || [];
  function drawTimeline() {
    const { g, w } = prep(tlCanvas, tlH);
    axis(g, w, 0, tlH, true);
    const xw = (t) => X(t, w);
    const key = keySel && keySel.value !== "all" ? keySel.value.slice(2) : null;
    g.save(); g.beginPath(); g.rect(LEFT, 0, w - LEFT - RIGHT, tlH); g.clip();
    for (const b of bands) { // partitions and other network faults, faintly
      g.fillStyle = b.fill.replace(/[\d.]+\)$/, "0.08)");
      g.fillRect(xw(b.a), TL_TOP, xw(b.b) - xw(b.a), tlH - TL_TOP);
    }
    for (const p of prefixes) {
      // One key's prefix at a time (or the only one there is).
      if (key != null ? String(p.key) !== key : prefixes.length > 1) continue;
      if (p.linearizable_until_us != null) {
        g.fillStyle = "rgba(46,157,79,0.08)"; g.fillRect(LEFT, TL_TOP, xw(p.linearizable_until_us) - LEFT, tlH - TL_TOP);
      }
      if (p.broken_at_us != null) {
        g.strokeStyle = "#d93636"; g.lineWidth = 1.5; g.setLineDash([6, 3]);
        const x = xw(p.broken_at_us); g.beginPath(); g.moveTo(x, TL_TOP); g.lineTo(x, tlH); g.stroke(); g.setLineDash([]);
      }
    }
    g.restore();
    if (rowH >= 10) {
      g.font = "12px system-ui"; g.fillStyle = "#1d2330";
      procs.forEach((p, i) => g.fillText("p" + p, 8, TL_TOP + i * rowH + rowH / 2 + 4));
    }
    g.save(); g.beginPath(); g.rect(LEFT, 0, w - LEFT - RIGHT, tlH); g.clip();
    drawnBars = [];
    let bars = 0;
    const wit = [];
    g.font = "11px system-ui";
    for (let i = 0; i < nO; i++) {
      const t0 = O.t0[i], t1 = O.t1[i], ty = O.types[O.ty[i]];
      const open = t1 == null || ty === "info";
      const e = t1 == null ? END : t1;
      if ((open ? END : e) < view.t0 || t0 > view.t1) continue;
      if (key != null && String(O.key[i]) !== key) continue;
      const y = TL_TOP + procRow.get(O.p[i]) * rowH;
      const x1 = xw(t0), x2 = Math.max(x1 + 2, xw(e));
      const hgt = Math.max(1, rowH - (rowH > 6 ? 4 : 0));
      g.fillStyle = TYPE_COLOR[ty];
      g.globalAlpha = witnessSet.size && !witnessSet.has(i) ? 0.55 : 0.9;
      g.fillRect(x1, y + 1, x2 - x1, hgt);
      if (open) { g.globalAlpha = 0.25; g.fillRect(x2, y + 1, xw(END) - x2, hgt); }
      g.globalAlpha = 1;
      // A witness whose label does not fit gets it beside the bar instead.
      const fits = !witnessSet.has(i) || g.measureText(opLabel(i)).width + 6 <= x2 - x1;
      if (rowH >= 14 && x2 - x1 > 30 && fits) {
        g.save(); g.beginPath(); g.rect(x1, y, x2 - x1, rowH); g.clip();
        g.fillStyle = "#fff"; g.fillText(opLabel(i), x1 + 3, y + rowH / 2 + 3); g.restore();
      }
      bars++;
      drawnBars.push([i, x1, y, x2, y + rowH]);
      if (witnessSet.has(i)) wit.push([i, x1, y, x2, hgt]);
    }
    for (const [i, x1, y, x2, hgt] of wit) {
      g.strokeStyle = "#c2185b"; g.lineWidth = 3; g.strokeRect(x1 - 1.5, y - 0.5, x2 - x1 + 3, hgt + 3);
      g.font = "11px system-ui";
      const inside = rowH >= 14 && x2 - x1 > 30 && g.measureText(opLabel(i)).width + 6 <= x2 - x1;
      g.fillStyle = "#c2185b"; g.font = "bold 11px system-ui";
      if (!inside) {
        const t = opLabel(i), tw = g.measureText(t).width;
        g.fillStyle = "rgba(255,255,255,0.85)"; g.fillRect(x2 + 3, y + 1, tw + 4, Math.min(rowH, 16));
        g.fillStyle = "#c2185b"; g.fillText(t, x2 + 5, y + rowH / 2 + 3);
      }
    }
    g.restore();
    tlCanvas.dataset.bars = String(bars);
  }
  function hoverTimeline(px, py) {
    for (let j = drawnBars.length - 1; j >= 0; j--) {
      const [i, x1, y1, x2, y2] = drawnBars[j];
      if (px >= x1 - 2 && px <= x2 + 2 && py >= y1 && py <= y2) {
        return "p" + O.p[i] + "  " + opLabel(i) + (witnessSet.has(i) ? "   [witness]" : "") +
          "\ninvoked " + fmtT(O.t0[i]) + (O.node && O.node[i] != null ? " at " + D.lanes[O.node[i]] : "") +
          "\n" + O.types[O.ty[i]] + (O.t1[i] != null ? " at " + fmtT(O.t1[i]) + " (after " + fmtT(O.t1[i] - O.t0[i]) + ")" : ", never completed") +
          (O.types[O.ty[i]] === "info" ? "\nunknown outcome: may take effect at any time after its invocation" : "") +
          "\ninput " + jv(O.vin[i]) + ", output " + jv(O.vout[i]);
      }
    }
    return null;
  }
  app.append(el("h2", { id: "timeline", text: "Client timeline" }));
  app.append(el("div", { class: "legend" },
    el("span", {}, "one row per client process; each operation a bar from invocation to completion: "),
    el("span", {}, el("span", { class: "sw", style: "background:" + TYPE_COLOR.ok }), "ok"),
    el("span", {}, el("span", { class: "sw", style: "background:" + TYPE_COLOR.fail }), "fail"),
    el("span", {}, el("span", { class: "sw", style: "background:" + TYPE_COLOR.info }), "info (unknown outcome, open to the end)"),
    el("span", {}, el("span", { class: "sw", style: "background:" + TYPE_COLOR.none }), "never completed"),
    W ? el("span", {}, el("span", { class: "sw", style: "background:#c2185b" }), "witness of the linearizability violation") : null,
    isRun ? el("span", { text: "faint shading: partitions and other network faults" }) : null));
  const tlNote = leftOutBox(["ops"]);
  if (tlNote) app.append(tlNote);
  timelineBox = el("div", {});
  tlCanvas = makeCanvas(tlH);
  timelineBox.append(tlCanvas);
  app.append(timelineBox);
  redraws.push(drawTimeline);
  attachZoomPan(tlCanvas, hoverTimeline);

  // ---------- latency and throughput ----------
  const S = D.series;
  const PH = 110;
  let plotCanvas = null;
  function panel(g, w, top, title, series, fmt, dots) {
    g.fillStyle = "#1d2330"; g.font = "12px system-ui"; g.fillText(title, 8, top + 12);
    const n = series[0].values.length, bw = S.width_us;
    let max = 1e-9;
    for (const s of series) for (let i = 0; i < n; i++) {
      const t = i * bw; if (t + bw < view.t0 || t > view.t1) continue; max = Math.max(max, s.values[i]);
    }
    if (dots) for (const d of dots) if (d[0] >= view.t0 && d[0] <= view.t1) max = Math.max(max, d[1]);
    max *= 1.05;
    const Y = (v) => top + PH - 2 - (v / max) * (PH - 20);
    g.fillStyle = "#5d6577"; g.font = "10px system-ui";
    g.fillText(fmt(max), 8, top + 28); g.fillText("0", 8, top + PH - 4);
    g.strokeStyle = "#d9dde5"; g.beginPath(); g.moveTo(LEFT, top + PH - 0.5); g.lineTo(w - RIGHT, top + PH - 0.5); g.stroke();
    g.save(); g.beginPath(); g.rect(LEFT, top, w - LEFT - RIGHT, PH); g.clip();
    if (dots) for (const d of dots) {
      if (d[0] < view.t0 || d[0] > view.t1) continue;
      g.fillStyle = d[2]; g.fillRect(X(d[0], w) - 1.5, Y(Math.min(d[1], max)) - 1.5, 3, 3);
    }
    for (const s of series) {
      g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
      let started = false;
      for (let i = 0; i < n; i++) {
        if (s.skipZero && s.values[i] === 0) { started = false; continue; }
        const x = X(i * bw + bw / 2, w), y = Y(s.values[i]);
        if (!started) { g.moveTo(x, y); started = true; } else g.lineTo(x, y);
      }
      g.stroke();
    }
    g.restore();
    let lx = LEFT + 6;
    for (const s of series) { g.fillStyle = s.color; g.font = "11px system-ui"; g.fillText(s.name, lx, top + 12); lx += g.measureText(s.name).width + 14; }
  }
  // Every completed operation as a dot: latency (ms) at its completion.
  const latDots = [];
  const stride = Math.max(1, Math.ceil(nO / 60000));
  for (let i = 0; i < nO; i += stride) {
    if (O.t1[i] == null) continue;
    latDots.push([O.t1[i], (O.t1[i] - O.t0[i]) / 1000, TYPE_COLOR[O.types[O.ty[i]]]]);
  }
  function drawPlots() {
    const panels = isRun ? 3 : 2;
    const { g, w } = prep(plotCanvas, panels * (PH + 14) + 6);
    axis(g, w, 0, panels * (PH + 14), true);
    const perS = (v) => v.map((c) => c * 1e6 / S.width_us);
    const ms = (v) => v.map((u) => u / 1000);
    const top = 16;
    panel(g, w, top, "latency (ms)", [{ name: "median", values: ms(S.p50), color: "#1d2330", skipZero: true },
      { name: "p99", values: ms(S.p99), color: "#c2185b", skipZero: true },
      { name: "(dots: each operation, coloured ok / fail / info)", values: S.p50.map(() => 0), color: "#5d6577", skipZero: true }],
      (v) => v.toFixed(1), latDots);
    panel(g, w, top + PH + 14, "operations / s", [{ name: "ok", values: perS(S.ok), color: "#2e9d4f" },
      { name: "fail", values: perS(S.fail), color: "#d93636" }, { name: "info", values: perS(S.info), color: "#e08a00" }], (v) => v.toFixed(0));
    if (isRun) panel(g, w, top + 2 * (PH + 14), "messages / s", [{ name: "sent", values: perS(S.sent), color: "#3568d4" },
      { name: "delivered", values: perS(S.delivered), color: "#2a9d8f" }, { name: "dropped or lost", values: perS(S.dropped), color: "#d93636" }], (v) => v.toFixed(0));
  }
  app.append(el("h2", { id: "plots", text: "Latency and throughput" }));
  app.append(el("div", { class: "legend", text: "per " + fmtT(S.width_us) + " bucket over the whole run; latency of ok operations by completion time" }));
  const plotBox = el("div", {});
  plotCanvas = makeCanvas(300);
  plotBox.append(plotCanvas);
  app.append(plotBox);
  redraws.push(drawPlots);
  attachZoomPan(plotCanvas, (px) => {
    const t = T(px, plotCanvas.clientWidth), i = Math.floor(t / S.width_us);
    if (i < 0 || i >= S.ok.length) return null;
    return fmtT(i * S.width_us) + " – " + fmtT((i + 1) * S.width_us) + "\nok " + S.ok[i] + ", fail " + S.fail[i] + ", info " + S.info[i] +
      "\nlatency p50 " + fmtT(S.p50[i]) + ", p99 " + fmtT(S.p99[i]) + ", max " + fmtT(S.max[i]) +
      (isRun ? "\nmessages sent " + S.sent[i] + ", delivered " + S.delivered[i] + ", dropped or lost " + S.dropped[i] : "");
  });

  // ---------- final state, scenario, what is left out ----------
  if (isRun && D.finals && D.finals.length) {
    app.append(el("h2", { text: "Final state of each process (its digest)" }));
    const keysF = [...new Set(D.finals.flatMap((f) => Object.keys(f.digest)))];
    const t = el("table", { class: "finals mono" });
    if (keysF.length <= 24) {
      t.append(el("tr", {}, el("th", { text: "process" }), el("th", { text: "status" }), ...keysF.map((k) => el("th", { text: k }))));
      // Live replicas are compared, as the convergence check does.
      const live = (f) => f.status === "up" || f.status === "paused";
      const reps = D.finals.slice(0, D.replicas).filter(live);
      for (const f of D.finals) {
        const tr = el("tr", {}, el("td", { text: f.name }), el("td", { text: f.status }));
        for (const k of keysF) {
          const differs = D.finals.indexOf(f) < D.replicas && live(f) && new Set(reps.map((r) => r.digest[k])).size > 1;
          tr.append(el("td", { class: differs ? "differs" : "", text: f.digest[k] == null ? "" : f.digest[k] }));
        }
        t.append(tr);
      }
    } else {
      t.append(el("tr", {}, el("th", { text: "process" }), el("th", { text: "status" }), el("th", { text: "digest (" + keysF.length + " entries)" })));
      for (const f of D.finals) t.append(el("tr", {}, el("td", { text: f.name }), el("td", { text: f.status }),
        el("td", {}, el("details", {}, el("summary", { text: Object.keys(f.digest).length + " entries" }),
          el("pre", { text: Object.entries(f.digest).map(([k, v]) => k + " = " + v).join("\n") })))));
    }
    app.append(t, el("div", { class: "legend", text: "red: live replicas disagree on this entry" }));
  }
  if (isRun) {
    app.append(el("h2", { text: "Scenario" }),
      el("details", {}, el("summary", { text: "the scenario with every default filled in (dsim run --print-scenario)" }),
        el("pre", { text: JSON.stringify(D.scenario_json, null, 2) })));
  }

  // ---------- go ----------
  window.addEventListener("resize", redraw);
  // A link can open a view: #witness, or #t=FROM-TO in µs.
  // A section to scroll to may follow: #t=FROM-TO@timeline.
  const hash = decodeURIComponent(location.hash || "");
  const m = /^#(?:t=(\d+)-(\d+)|(witness))(?:@([\w-]+))?$/.exec(hash);
  if (m && m[1]) setView(Number(m[1]), Number(m[2]));
  else if (m && m[3] && W) zoomToWitness();
  // A page opens on what the checks flag; the whole run is one click away.
  else if (!showWitness("opened")) redraw();
  const target = m && m[4] ? document.getElementById(m[4]) : null;
  if (target) target.scrollIntoView({ block: "start" });
  else if (m) window.scrollTo(0, 0);
  body.dataset.axisUnit = axisLabel;
  body.dataset.arrows = diagCanvas ? diagCanvas.dataset.arrows : "0";
  body.dataset.bars = tlCanvas.dataset.bars;
  body.dataset.totalMs = String(Math.round(performance.now() - started));
  body.dataset.ready = "1";
})();
