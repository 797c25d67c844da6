// zeronas navigator page: draws the five views from the server's JSON view and sends the
// steering actions. Live mode: the view comes from server-sent events (api/events).
// Static report: the view is inlined as window.ZERONAS_VIEW and the cells as ZERONAS_CELLS.
(function () {
  "use strict";
  const STATIC_VIEW = window.ZERONAS_VIEW || null;
  const STATIC_CELLS = window.ZERONAS_CELLS || {};
  const LIVE = STATIC_VIEW === null;
  const CONFIG = { responsive: true, displaylogo: false };
  let view = null;
  let selected = null;     // arch string shown in the cell view
  let userSelected = false;
  let clickBound = false;
  let lastOps = "";
  let lastActions = -1;
  let queued = null;  // the last action the server queued, until it shows as applied

  function $(id) { return document.getElementById(id); }
  function fmt(v, digits) {
    if (v === null || v === undefined) return "n/a";
    if (typeof v !== "number") return String(v);
    return Math.abs(v) >= 1e5 || (Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(3) : v.toFixed(digits === undefined ? 4 : digits);
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
      '"': "&quot;" }[c]));
  }
  function say(text, isError) {
    const m = $("message");
    m.textContent = text || "";
    m.style.color = isError ? "#ff8a80" : "#c8e6c9";
  }
  function hover(p) {
    let t = "<b>" + esc(p.arch) + "</b><br>objective " + fmt(p.score);
    for (const [k, v] of Object.entries(p.scores)) t += "<br>" + esc(k) + " " + fmt(v);
    t += "<br>FLOPs " + fmt(p.flops, 2) + " M, params " + fmt(p.params, 3) + " M";
    if (p.truth !== null) t += "<br>true accuracy " + fmt(p.truth, 2) + "%";
    t += "<br>evaluation " + p.evaluation + (p.injected ? " (added by hand)" : "");
    return t;
  }

  // (1) search-space view: PCA of the one-hot encoding, colour = objective, size = FLOPs
  function renderSpace(v) {
    const pts = v.points;
    const fl = pts.map((p) => p.flops).filter((f) => f !== null);
    const lo = fl.length ? Math.min(...fl) : 0, hi = fl.length ? Math.max(...fl) : 1;
    const size = (f) => (f === null || hi === lo) ? 9 : 6 + 16 * Math.sqrt((f - lo) / (hi - lo));
    const log = v.score_scale === "log";
    const colour = pts.map((p) => p.score === null ? null : (log ? Math.log10(p.score) : p.score));
    const trace = {
      type: "scatter", mode: "markers", x: pts.map((p) => p.x), y: pts.map((p) => p.y),
      text: pts.map(hover), hoverinfo: "text", customdata: pts.map((p) => p.arch),
      marker: { color: colour, colorscale: "Viridis", showscale: true,
        colorbar: { title: { text: log ? "log10 objective" : "objective" } }, size: pts.map((p) => size(p.flops)),
        line: { width: pts.map((p) => p.arch === selected ? 2.5 : 0.5),
          color: pts.map((p) => p.arch === selected ? "#d50000" : "#333") }, opacity: 0.85 },
    };
    const r = v.pca_variance || [0, 0];
    Plotly.react("space-plot", [trace], {
      margin: { l: 50, r: 10, t: 10, b: 40 }, hovermode: "closest",
      xaxis: { title: { text: "PC1 (" + (100 * r[0]).toFixed(0) + "% of variance)" }, zeroline: false },
      yaxis: { title: { text: "PC2 (" + (100 * r[1]).toFixed(0) + "%)" }, zeroline: false },
    }, CONFIG);
    $("space-note").textContent = pts.length + " candidates, PCA of the one-hot op encoding, "
      + "size = FLOPs; click one to draw it";
  }

  // (2) progress: best-so-far objective and true accuracy against evaluations
  function renderProgress(v) {
    const pr = v.progress;
    const x = pr.map((h) => h.evaluation);
    const meanRank = v.meta.aggregation === "mean_rank";
    const best = pr.map((h) => h.best === null ? null : (meanRank ? h.best / h.evaluation : h.best));
    const traces = [{ type: "scatter", mode: "lines", x: x, y: best, name: meanRank
      ? "best mean rank / pool size" : "best-so-far objective", line: { color: "#1565c0" } }];
    const hasTruth = pr.some((h) => h.truth !== null);
    if (hasTruth) {
      traces.push({ type: "scatter", mode: "markers", x: x, y: pr.map((h) => h.truth),
        name: "true accuracy (each)", yaxis: "y2", marker: { size: 4, color: "#bbb" } });
      traces.push({ type: "scatter", mode: "lines", x: x, y: pr.map((h) => h.best_truth),
        name: "true accuracy of the best", yaxis: "y2", line: { color: "#c62828" } });
    }
    const steer = v.actions.filter((a) => a.kind !== "pause" && a.kind !== "resume");
    const layout = {
      margin: { l: 55, r: hasTruth ? 55 : 10, t: 10, b: 40 }, legend: { orientation: "h", y: -0.2 },
      xaxis: { title: { text: "evaluations" } },
      yaxis: { title: { text: meanRank ? "mean rank / pool" : "objective" },
        type: v.score_scale === "log" && !meanRank ? "log" : "linear" },
      shapes: steer.map((a) => ({ type: "line", xref: "x", yref: "paper", x0: a.evaluation,
        x1: a.evaluation, y0: 0, y1: 1, line: { color: "#f9a825", dash: "dot", width: 1 } })),
      annotations: steer.map((a) => ({ x: a.evaluation, y: 1, xref: "x", yref: "paper",
        text: a.kind, showarrow: false, font: { size: 9, color: "#a67c00" }, textangle: -90,
        xanchor: "right", yanchor: "top" })),
    };
    if (hasTruth) {
      layout.yaxis2 = { title: { text: "true accuracy (%) " + (v.meta.truth_dataset || "") },
        overlaying: "y", side: "right" };
    }
    Plotly.react("progress-plot", traces, layout, CONFIG);
  }

  // (3) operator view: per slot, each option's mean objective; steering buttons
  function colourFor(value, lo, hi) {
    if (value === null || hi === lo) return "#ffffff";
    const t = (value - lo) / (hi - lo);
    const a = [247, 251, 255], b = [8, 81, 156];
    const c = a.map((x, i) => Math.round(x + t * (b[i] - x)));
    return "rgb(" + c.join(",") + ")";
  }
  function renderOperators(v) {
    const key = JSON.stringify([v.operators, v.restriction, v.meta.status]);
    if (key === lastOps) return;   // unchanged: keep the DOM (and its buttons) as is
    lastOps = key;
    const log = v.score_scale === "log";
    const tr = (m) => m === null ? null : (log ? Math.log10(m) : m);
    const means = v.operators.flat().map((c) => tr(c.mean)).filter((m) => m !== null);
    const lo = Math.min(...means), hi = Math.max(...means);
    const canSteer = LIVE && !["finished", "stopped", "failed"].includes(v.meta.status)
      && !v.meta.replaying;
    let h = "<table class='ops'><tr><th>" + esc(v.slot_kind) + "</th>";
    const allOps = [];
    v.slots.forEach((s) => s.options.forEach((o) => { if (!allOps.includes(o)) allOps.push(o); }));
    allOps.forEach((o) => { h += "<th>" + esc(o) + "</th>"; });
    h += "</tr>";
    v.slots.forEach((s, e) => {
      h += "<tr><th>" + esc(s.label) + "</th>";
      const allowed = v.restriction[e];
      allOps.forEach((op) => {
        const c = v.operators[e].find((x) => x.op === op);
        if (!c) { h += "<td></td>"; return; }
        const excluded = !allowed.includes(op);
        const pinned = allowed.length === 1 && allowed[0] === op && s.options.length > 1;
        const dark = c.mean !== null && hi > lo && (tr(c.mean) - lo) / (hi - lo) > 0.6;
        h += "<td class='op-cell" + (excluded ? " excluded" : "") + (pinned ? " pinned" : "")
          + "' data-edge='" + e + "' data-op='" + esc(op) + "' style='background:"
          + colourFor(tr(c.mean), lo, hi) + (dark && !excluded ? ";color:#fff" : "") + "'>"
          + "<div class='mean'>" + fmt(c.mean, 3) + "</div><div class='count'>n=" + c.count
          + (excluded ? " excluded" : "") + (pinned ? " pinned" : "") + "</div>";
        if (canSteer) {
          const btn = (action, label, title) => "<button class='steer' data-action='" + action
            + "' data-edge='" + e + "' data-op='" + esc(op) + "' title='" + title + "'>" + label
            + "</button>";
          if (excluded) h += btn("include", "include", "allow this op again");
          else if (pinned) h += btn("unpin", "unpin", "allow every op on this edge again");
          else h += btn("exclude", "&#x2715; exclude", "never propose this op here")
            + btn("pin", "&#x1F4CC; pin", "use only this op here");
        }
        h += "</td>";
      });
      h += "</tr>";
    });
    $("operators").innerHTML = h + "</table>";
    $("ops-mean").textContent = log ? "geometric mean" : "mean";
  }

  // (4) Pareto view: objective against FLOPs or params, front highlighted
  function renderPareto(v) {
    const axis = $("pareto-axis").value;
    const pts = v.points;
    const front = v.pareto[axis].map((i) => pts[i]);
    Plotly.react("pareto-plot", [
      { type: "scatter", mode: "markers", name: "evaluated", x: pts.map((p) => p[axis]),
        y: pts.map((p) => p.score), text: pts.map(hover), hoverinfo: "text",
        customdata: pts.map((p) => p.arch), marker: { color: "#9e9e9e", size: 6 } },
      { type: "scatter", mode: "lines+markers", name: "Pareto front", x: front.map((p) => p[axis]),
        y: front.map((p) => p.score), text: front.map(hover), hoverinfo: "text",
        customdata: front.map((p) => p.arch), line: { shape: "hv", color: "#c62828" },
        marker: { color: "#c62828", size: 9 } },
    ], { margin: { l: 55, r: 10, t: 10, b: 40 }, hovermode: "closest",
      legend: { orientation: "h", y: -0.2 },
      xaxis: { title: { text: axis === "flops" ? "FLOPs (M)" : "params (M)" } },
      yaxis: { title: { text: "objective" }, type: v.score_scale === "log" ? "log" : "linear" } },
    CONFIG);
  }

  // (5) cell view: the selected candidate's DAG
  function renderCell(v) {
    if (!userSelected && v.points.length) {  // follow the best until the user picks one
      selected = v.meta.best && v.meta.best.arch ? v.meta.best.arch
        : v.progress.length ? v.progress[v.progress.length - 1].best_arch : v.points[0].arch;
    }
    if (selected === null) return;
    const p = v.points.find((q) => q.arch === selected);
    $("cell-title").textContent = selected;
    $("cell-info").innerHTML = p ? hover(p) : "";
    const target = $("cell-view");
    if (target.dataset.arch === selected) return;
    target.dataset.arch = selected;
    if (!LIVE) { target.innerHTML = STATIC_CELLS[selected] || ""; return; }
    fetch("api/cell?arch=" + encodeURIComponent(selected)).then((r) => r.text())
      .then((svg) => { if (target.dataset.arch === selected) target.innerHTML = svg; });
  }
  function select(arch) {
    selected = arch;
    userSelected = true;
    if (LIVE) $("add-arch").value = arch;
    render(view);
  }

  function renderHeader(v) {
    const m = v.meta;
    const st = $("status");
    st.textContent = m.status + (m.replaying ? " (replay)" : "")
      + (m.stopped && m.stopped !== "budget" ? ": " + m.stopped : "");
    st.className = "badge " + m.status;
    let s = m.space + " / " + m.searcher + " / " + m.objective + " / seed " + m.seed + " — "
      + m.evaluated + " of " + m.budget + " evaluated";
    if (m.rejected) s += ", " + m.rejected + " over budget";
    if (m.restricted_size !== undefined && m.restricted_size !== m.space_size) {
      s += " — space restricted to " + m.restricted_size + " architectures";
    }
    if (m.run_id) s += " — run " + m.run_id;
    $("summary").textContent = s;
    if (m.error) say("the search failed: " + m.error, true);
    const ended = ["finished", "stopped", "failed"].includes(m.status);
    $("pause-button").disabled = ended || m.status === "paused";
    $("resume-button").disabled = ended || m.status !== "paused";
    $("stop-button").disabled = ended;
    $("add-button").disabled = ended;
  }
  function renderActions(v) {
    if (v.actions.length === lastActions) return;
    lastActions = v.actions.length;
    if (queued) {  // the queued action has been applied: say when, instead of "queued"
      const done = v.actions.find((a) => a.seq > queued.after && a.kind === queued.kind
        && JSON.stringify(a.payload) === JSON.stringify(queued.payload));
      if (done) {
        say(done.kind + " applied at evaluation " + done.evaluation + (done.payload.op
          ? ": " + done.payload.op + " on edge " + done.payload.edge : ""), false);
        queued = null;
      }
    }
    $("actions").innerHTML = v.actions.map((a) => "<li>evaluation " + a.evaluation + " (step "
      + a.step + "): " + esc(a.kind) + " " + esc(JSON.stringify(a.payload)) + "</li>").join("");
  }

  function render(v) {
    if (!v) return;
    view = v;
    renderHeader(v);
    renderSpace(v);
    renderProgress(v);
    renderOperators(v);
    renderPareto(v);
    renderCell(v);
    renderActions(v);
    if (!clickBound) {
      clickBound = true;
      for (const id of ["space-plot", "pareto-plot"]) {
        $(id).on("plotly_click", (ev) => { if (ev.points.length) select(ev.points[0].customdata); });
      }
    }
    window.ZERONAS_RENDERED = (window.ZERONAS_RENDERED || 0) + 1;
  }

  function send(kind, payload) {
    return fetch("api/action", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({ kind: kind }, payload || {})) })
      .then((r) => r.json().then((body) => {
        if (!r.ok) { say(body.error || ("HTTP " + r.status), true); return null; }
        say(kind + " " + (body.state || "done") + (body.payload && body.payload.op
          ? ": " + body.payload.op + " on edge " + body.payload.edge : ""), false);
        if (body.state === "queued") {
          const seqs = view ? view.actions.map((a) => a.seq) : [];
          queued = { kind: body.kind, payload: body.payload,
            after: seqs.length ? Math.max(...seqs) : 0 };
        }
        return body;
      })).catch((err) => say("request failed: " + err, true));
  }

  function init() {
    if (!LIVE) {
      document.body.classList.add("static");
      render(STATIC_VIEW);
    } else {
      const source = new EventSource("api/events");
      source.onmessage = (e) => render(JSON.parse(e.data));
      source.onerror = () => say("connection to the navigator lost; retrying", true);
      source.onopen = () => say("", false);
      for (const id of ["pause-button", "resume-button", "stop-button"]) {
        $(id).addEventListener("click", (e) => send(e.target.dataset.kind));
      }
      $("add-button").addEventListener("click", () => send("add", { arch: $("add-arch").value }));
      $("operators").addEventListener("click", (e) => {
        const b = e.target.closest("button.steer");
        if (!b) return;
        send(b.dataset.action, { edge: Number(b.dataset.edge), op: b.dataset.op });
      });
    }
    $("pareto-axis").addEventListener("change", () => render(view));
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
