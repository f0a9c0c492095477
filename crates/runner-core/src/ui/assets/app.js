// runner ui: renders the page for the path it was loaded at from the JSON API.
// Text from the store is only ever set as text (textContent, attributes), never parsed
// as HTML: a run's name or parameter cannot inject markup.
"use strict";

const PAGE_SIZE = 100;
const POLL_MS = 2000;
const COLORS = ["#2f6fdd", "#e67e22", "#27ae60", "#8e44ad", "#c0392b", "#16a085", "#d35400", "#2c3e50", "#f1c40f", "#7f8c8d"];
const BASE_COLUMNS = ["run", "pipeline", "sweep", "status", "epochs", "best_epoch", "started"];
// The metrics of the best epoch: the weights the `best` checkpoint keeps.
const DEFAULT_COLUMNS = ["run", "pipeline", "sweep", "status", "epochs", "best_epoch", "at_best:val_accuracy", "at_best:val_loss", "started"];

// ---- small DOM helpers -------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function main() { return document.getElementById("main"); }

function show(...nodes) { main().replaceChildren(...nodes); }

function fail(error) {
  show(el("p", { class: "error", text: String(error.message || error) }));
}

async function getJson(url) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${url}: HTTP ${response.status}`);
  return { body, response };
}

function fmt(value, digits = 4) {
  if (value === undefined || value === null) return "–";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

// A parameter's value as written in the pipeline file: 0.2, not 0.2000.
function plain(value) {
  if (value === undefined || value === null) return "–";
  if (typeof value === "number") return String(value);
  return typeof value === "string" ? value : JSON.stringify(value);
}

function statusBadge(status) { return el("span", { class: `status ${status}`, text: status }); }
function runLink(id) { return el("a", { href: `/runs/${encodeURIComponent(id)}`, text: id }); }
function sweepLink(name) { return name ? el("a", { href: `/sweeps/${encodeURIComponent(name)}`, text: name }) : "–"; }

// What the user chose on a page, kept when a live page draws itself again: the runs
// ticked for comparing, the curves hidden by a legend click.
const kept = { selected: new Set(), hidden: new Set(), histories: new Map() };

let pollTimer = null;
function poll(active, refresh) {
  clearTimeout(pollTimer);
  document.getElementById("live").hidden = !active;
  if (!active) return;
  const again = () => {
    // Not while the user types in a field or has the column chooser open.
    const busy = document.activeElement && ["INPUT", "SELECT"].includes(document.activeElement.tagName) ||
      document.querySelector("details[open]");
    if (busy) pollTimer = setTimeout(again, POLL_MS);
    else refresh();
  };
  pollTimer = setTimeout(again, POLL_MS);
}

// ---- charts --------------------------------------------------------------------------

// Ticks as people write them: 0.1, 1.25, 3e-4.
function tickLabel(t) { return String(+t.toPrecision(6)); }

function niceTicks(min, max, count) {
  if (!(max > min)) { max = min + 1; min -= 1; }
  const raw = (max - min) / count;
  const step = Math.pow(10, Math.floor(Math.log10(raw)));
  const nice = [1, 2, 2.5, 5, 10].map((m) => m * step).find((s) => (max - min) / s <= count) || step * 10;
  const ticks = [];
  for (let t = Math.ceil(min / nice) * nice; t <= max + nice * 1e-9; t += nice) ticks.push(+t.toFixed(10));
  return ticks;
}

// The scales of a chart's plotting area inside margins `m`, and its axis group with the
// value axis drawn: ticks, labels and grid lines.
function plotArea(m, width, height, [x0, x1], [y0, y1]) {
  const sx = (x) => m.left + ((x - x0) / (x1 - x0)) * (width - m.left - m.right);
  const sy = (y) => height - m.bottom - ((y - y0) / (y1 - y0)) * (height - m.top - m.bottom);
  const axis = svg("g", { class: "axis" });
  for (const t of niceTicks(y0, y1, 5)) {
    axis.append(svg("line", { class: "gridline", x1: m.left, x2: width - m.right, y1: sy(t), y2: sy(t) }));
    axis.append(svg("text", { x: m.left - 6, y: sy(t) + 4, "text-anchor": "end", text: tickLabel(t) }));
  }
  return { sx, sy, axis };
}

// A line chart of series {name, points: [[x, y]], band: [[x, low, high]], color}; each
// point is a circle carrying data-x and data-y, with a tooltip; clicking a legend entry
// hides or shows its series.
function lineChart(title, series, { xLabel = "epoch", width = 560, height = 300 } = {}) {
  const m = { left: 58, right: 16, top: 30, bottom: 58 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]).concat((s.band || []).flatMap((b) => [b[1], b[2]])))
    .filter(Number.isFinite);
  const chart = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, "data-title": title });
  chart.append(svg("text", { class: "title", x: m.left, y: 18, text: title }));
  if (!ys.length) {
    chart.append(svg("text", { x: m.left, y: height / 2, text: "no values yet" }));
    return chart;
  }
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const pad = (y1 - y0) * 0.08 || Math.abs(y0) * 0.05 || 0.05;
  y0 -= pad; y1 += pad;
  const { sx, sy, axis } = plotArea(m, width, height, [x0, x1], [y0, y1]);
  // Epochs are whole numbers.
  const xTicks = niceTicks(x0, x1, 8).filter((t) => Number.isInteger(t));
  for (const t of xTicks) {
    axis.append(svg("text", { x: sx(t), y: height - m.bottom + 16, "text-anchor": "middle", text: tickLabel(t) }));
  }
  axis.append(svg("line", { x1: m.left, x2: width - m.right, y1: height - m.bottom, y2: height - m.bottom }));
  axis.append(svg("text", { x: (width + m.left) / 2, y: height - m.bottom + 32, "text-anchor": "middle", text: xLabel }));
  chart.append(axis);
  const legend = svg("g", { class: "legend" });
  let legendX = m.left;
  series.forEach((s, index) => {
    const color = s.color || COLORS[index % COLORS.length];
    const group = svg("g", { class: "series", "data-series": s.name });
    const hiddenKey = `${title}\u0000${s.name}`;
    if (s.band && s.band.length) {
      const upper = s.band.map((b) => `${sx(b[0])},${sy(b[2])}`);
      const lower = s.band.slice().reverse().map((b) => `${sx(b[0])},${sy(b[1])}`);
      group.append(svg("polygon", { points: upper.concat(lower).join(" "), fill: color, "fill-opacity": 0.15, stroke: "none" }));
    }
    const finite = s.points.filter((p) => Number.isFinite(p[1]));
    group.append(svg("polyline", {
      points: finite.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" "),
      fill: "none", stroke: color, "stroke-width": 2, "stroke-dasharray": s.dashed ? "5 4" : null,
    }));
    for (const [x, y] of finite) {
      group.append(svg("circle", { class: "point", cx: sx(x), cy: sy(y), r: 3.5, fill: color, "data-x": x, "data-y": y },
        svg("title", { text: `${s.name}\n${xLabel} ${fmt(x, 4)}: ${fmt(y, 4)}` })));
    }
    chart.append(group);
    const item = svg("g", {
      class: "legend-item", transform: `translate(${legendX},${height - 14})`,
      onclick: () => {
        if (kept.hidden.has(hiddenKey)) kept.hidden.delete(hiddenKey); else kept.hidden.add(hiddenKey);
        show();
      },
    }, svg("rect", { width: 10, height: 10, y: -9, fill: color }), svg("text", { x: 14, text: s.name }));
    const show = () => {
      const off = kept.hidden.has(hiddenKey);
      item.classList.toggle("off", off);
      group.style.display = off ? "none" : "";
    };
    show();
    legend.append(item);
    legendX += 24 + 6.5 * s.name.length;
  });
  chart.append(legend);
  return chart;
}

// ---- the runs table --------------------------------------------------------------------

// A column is `KIND:NAME` (best:val_accuracy, at_best:val_loss, last:lr, param:head.2.rate)
// or a field of the run (run, status, epochs, ...).
function splitColumn(column) {
  const at = column.indexOf(":");
  return at < 0 ? ["", column] : [column.slice(0, at), column.slice(at + 1)];
}

function columnLabel(column) {
  const [kind, name] = splitColumn(column);
  if (kind === "best") return `best ${name}`;
  if (kind === "at_best") return `${name} at best epoch`;
  if (kind === "last") return `last ${name}`;
  if (kind === "param") return name;
  return column.replace("_", " ");
}

function cellOf(run, column) {
  if (column === "run") return el("td", {}, runLink(run.run));
  if (column === "sweep") return el("td", {}, sweepLink(run.sweep));
  if (column === "status") return el("td", {}, statusBadge(run.status));
  const [kind, name] = splitColumn(column);
  if (kind === "best" || kind === "last" || kind === "at_best") {
    const values = kind === "at_best" ? run.at_best_epoch : run[kind];
    return el("td", { class: "num", "data-column": column, text: fmt((values || {})[name]) });
  }
  if (kind === "param") return el("td", { "data-column": column, text: plain((run.params || {})[name]) });
  const value = column === "started" ? run.started_at : run[column];
  return el("td", { class: typeof value === "number" ? "num" : null, "data-column": column, text: fmt(value) });
}

function sortKey(column) {
  if (column === "started" || column === "run") return column;
  const [kind, name] = splitColumn(column);
  if (kind === "at_best") return `at_best_epoch.${name}`;
  return kind === "best" || kind === "param" ? name : kind === "last" || column === "best_epoch" ? null : column;
}

async function runsPage() {
  const params = new URLSearchParams(location.search);
  const columns = (params.get("cols") || DEFAULT_COLUMNS.join(",")).split(",").filter(Boolean);
  const sort = params.get("sort") || "started";
  const order = params.get("order") || "desc";
  const page = Math.max(0, parseInt(params.get("page") || "0", 10) || 0);

  const api = new URLSearchParams();
  for (const key of ["pipeline", "sweep", "status", "since"]) if (params.get(key)) api.set(key, params.get(key));
  for (const condition of params.getAll("where")) if (condition.trim()) api.append("where", condition);
  api.set("sort", sort);
  api.set("order", order);
  api.set("offset", page * PAGE_SIZE);
  api.set("limit", PAGE_SIZE);
  const paramColumns = columns.filter((c) => c.startsWith("param:")).map((c) => c.slice(6));
  if (paramColumns.length) api.set("params", paramColumns.join(","));
  const [{ body: facets }, { body: runs, response }] = await Promise.all([getJson("/api/facets"), getJson(`/api/runs?${api}`)]);

  const go = (changes) => {
    const next = new URLSearchParams(location.search);
    for (const [key, value] of Object.entries(changes)) {
      next.delete(key);
      for (const v of [].concat(value)) if (v !== "" && v !== null && v !== undefined) next.append(key, v);
    }
    if (!("page" in changes)) next.delete("page");
    location.search = next.toString();
  };

  const select = (name, values) => el("label", {}, name,
    el("select", { name, onchange: (e) => go({ [name]: e.target.value }) },
      el("option", { value: "", text: "all" }),
      values.map((v) => el("option", { value: v, text: v, selected: params.get(name) === v }))));
  const whereInput = el("input", {
    class: "where", name: "where", placeholder: "head.2.rate >= 0.2; val_accuracy > 0.9",
    value: params.getAll("where").join("; "),
  });
  const filters = el("form", {
    class: "toolbar",
    onsubmit: (e) => { e.preventDefault(); go({ where: whereInput.value.split(";").map((s) => s.trim()).filter(Boolean) }); },
  },
  select("pipeline", facets.pipelines), select("sweep", facets.sweeps), select("status", facets.statuses),
  el("label", {}, "where (KEY OP VALUE; …)", whereInput),
  el("button", { type: "submit", text: "Filter" }),
  el("button", { type: "button", class: "plain", text: "Clear", onclick: () => { location.href = "/"; } }));

  const chooser = el("details", { class: "columns" }, el("summary", { text: "Columns" }));
  const choices = el("div", { class: "choices" });
  const addChoice = (column) => choices.append(el("label", {},
    el("input", {
      type: "checkbox", value: column, checked: columns.includes(column),
      onchange: (e) => go({ cols: (e.target.checked ? columns.concat(column) : columns.filter((c) => c !== column)).join(",") }),
    }), " ", columnLabel(column)));
  BASE_COLUMNS.forEach(addChoice);
  for (const metric of facets.metrics) { addChoice(`at_best:${metric}`); addChoice(`best:${metric}`); addChoice(`last:${metric}`); }
  chooser.append(choices);
  chooser.addEventListener("toggle", async () => {
    if (!chooser.open || chooser.dataset.loaded) return;
    chooser.dataset.loaded = "1";
    const keys = (await getJson("/api/params")).body;
    keys.forEach((key) => addChoice(`param:${key}`));
  });

  const total = Number(response.headers.get("x-total-count") || runs.length);
  const selected = kept.selected;
  const compareButton = el("button", {
    type: "button", disabled: selected.size < 1, text: "Compare selected",
    onclick: () => { location.href = `/compare?runs=${[...selected].join(",")}`; },
  });
  const head = el("tr", {}, el("th", {}), columns.map((column) => {
    const key = sortKey(column);
    const classes = [key ? "sortable" : "", key === sort ? "sorted" : "", key === sort && order === "asc" ? "asc" : ""].join(" ").trim();
    return el("th", {
      class: classes || null, "data-column": column, text: columnLabel(column),
      onclick: key ? () => go({ sort: key, order: key === sort && order === "desc" ? "asc" : "desc" }) : null,
    });
  }));
  const rows = runs.map((run) => el("tr", { "data-run": run.run },
    el("td", {}, el("input", {
      type: "checkbox", "aria-label": `select ${run.run}`, checked: selected.has(run.run),
      onchange: (e) => {
        if (e.target.checked) selected.add(run.run); else selected.delete(run.run);
        compareButton.disabled = selected.size < 1;
      },
    })),
    columns.map((column) => cellOf(run, column))));
  const table = el("table", { id: "runs" }, el("thead", {}, head), el("tbody", {}, rows));
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", class: "plain", text: "‹ Newer", disabled: page === 0, onclick: () => go({ page: page - 1 }) }),
    el("span", { id: "count", class: "muted", text: `${total} run${total === 1 ? "" : "s"} · page ${page + 1} of ${pages}` }),
    el("button", { type: "button", class: "plain", text: "Older ›", disabled: page + 1 >= pages, onclick: () => go({ page: page + 1 }) }),
    compareButton);
  show(el("h1", { text: "Runs" }), filters, chooser,
    total ? table : el("p", { class: "muted", text: facets.runs ? "No run matches." : "No runs recorded yet: runner run PIPELINE.toml" }),
    pager);
  poll(runs.some((run) => run.status === "running"), () => runsPage().catch(fail));
}

// ---- one run ---------------------------------------------------------------------------

function historySeries(history, names) {
  return names
    .filter((name) => history.some((e) => valueOf(e, name) !== undefined))
    .map((name) => ({ name, points: history.map((e) => [e.epoch, valueOf(e, name)]) }));
}

function valueOf(epoch, name) {
  if (name in epoch && typeof epoch[name] === "number") return epoch[name];
  return (epoch.extra || {})[name];
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== "")
    .flatMap(([k, v]) => [el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : fmt(v))]));
}

function confusionTable(classes, matrix) {
  const max = Math.max(1, ...matrix.flat());
  return el("table", { class: "confusion" },
    el("thead", {}, el("tr", {}, el("th", { text: "true \\ predicted" }), classes.map((c) => el("th", { text: c })))),
    el("tbody", {}, matrix.map((row, i) => el("tr", {}, el("th", { text: classes[i] }), row.map((count) => {
      const cell = el("td", { class: "cell", text: count });
      cell.style.background = `rgba(47,111,221,${(0.85 * count) / max})`;
      if (count / max > 0.55) cell.style.color = "#fff";
      return cell;
    })))));
}

async function runPage(id) {
  const run = (await getJson(`/api/runs/${encodeURIComponent(id)}`)).body;
  document.title = `runner · ${run.run}`;
  const history = run.history || [];
  // Overall metrics only: per-class ones (`precision_cats`, `val_auc_dogs`) would crowd it.
  const perClass = (name) => (run.classes || []).some((cls) => name.endsWith(`_${cls}`));
  const extraNames = [...new Set(history.flatMap((e) => Object.keys(e.extra || {})))].filter((n) => !perClass(n));
  const charts = el("div", { class: "grid" },
    lineChart("accuracy", historySeries(history, ["accuracy", "val_accuracy"])),
    lineChart("loss", historySeries(history, ["loss", "val_loss"])),
    lineChart("learning rate", historySeries(history, ["lr"])),
    extraNames.length ? lineChart("other metrics", historySeries(history, extraNames)) : null);
  const seeds = run.seeds || {};
  const summary = el("div", { class: "grid" },
    el("div", { class: "card" }, facts([
      ["status", statusBadge(run.status)], ["reason", run.reason], ["pipeline", run.pipeline],
      ["pipeline file", run.pipeline_file], ["sweep", run.sweep ? sweepLink(run.sweep) : null],
      ["trial", run.trial], ["epochs", run.epochs], ["best epoch", run.best_epoch],
      ["started", run.started_at], ["ended", run.ended_at], ["device", run.device], ["host", run.host],
      ["classes", (run.classes || []).join(", ")],
      ["images", `${run.train_images} training, ${run.validation_images} validation${run.test_images ? `, ${run.test_images} test` : ""}`],
      ["runner", run.runner_version], ["LibTorch", run.libtorch_version],
    ])),
    el("div", { class: "card" }, el("h2", { text: "Best" }), facts(Object.entries(run.best || {}).map(([k, v]) => [k, v]))),
    el("div", { class: "card" }, el("h2", { text: "Seeds" }), facts([["seed", run.seed], ...Object.entries(seeds)])));
  const parts = [el("h1", {}, `Run ${run.run} `, statusBadge(run.status)), summary, el("h2", { text: "Curves" }), charts];
  if (Object.keys(run.test || {}).length) {
    parts.push(el("h2", { text: "Test" }), facts(Object.entries(run.test).concat([["epoch's weights", run.test_epoch]])));
  }
  if ((run.confusion_matrix || []).length) {
    parts.push(el("h2", { text: "Confusion matrix (validation, best checkpoint)" }), confusionTable(run.classes, run.confusion_matrix));
  }
  parts.push(el("h2", { text: "Highest-loss validation images" }));
  if ((run.top_losses || []).length) {
    parts.push(el("div", { class: "losses" }, run.top_losses.map((loss, index) => el("figure", { "data-image": loss.image },
      el("img", { src: `/api/runs/${encodeURIComponent(run.run)}/top_losses/${index}`, alt: loss.image, loading: "lazy" }),
      el("figcaption", {}, el("strong", { text: `${loss.true} → ${loss.predicted}` }), ` p=${fmt(loss.probability, 3)} loss ${fmt(loss.loss, 3)}`,
        el("br"), el("span", { class: "muted", text: loss.image.split("/").slice(-2).join("/") }))))));
  } else {
    parts.push(el("p", { class: "muted", text: `None recorded: runner inspect ${run.run} finds them at the best checkpoint.` }));
  }
  const artifacts = Object.entries(run.artifacts || {});
  if (artifacts.length) {
    parts.push(el("h2", { text: "Artifacts" }), el("table", { id: "artifacts" },
      el("thead", {}, el("tr", {}, ["name", "path", "bytes", "phase"].map((h) => el("th", { text: h })))),
      el("tbody", {}, artifacts.map(([name, a]) => el("tr", {}, el("td", { text: name }), el("td", { text: a.path }),
        el("td", { class: "num", text: a.bytes }), el("td", { text: fmt(a.phase) }))))));
  }
  parts.push(el("h2", { text: "Epochs" }), el("table", { id: "epochs" },
    el("thead", {}, el("tr", {}, ["epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"].map((h) => el("th", { text: h })))),
    el("tbody", {}, history.map((e) => el("tr", {}, [e.epoch, e.phase, e.loss, e.accuracy, e.val_loss, e.val_accuracy, e.lr, e.seconds]
      .map((v, i) => el("td", { class: "num", text: i === 6 ? Number(v).toExponential(2) : fmt(v) })))))));
  parts.push(el("h2", { text: "Parameters" }), el("table", { id: "params" }, el("tbody", {},
    Object.entries(run.params || {}).map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: plain(v) }))))));
  parts.push(el("h2", { text: "Pipeline file as recorded" }), el("pre", { id: "spec", text: run.spec || "(not recorded)" }));
  show(...parts);
  poll(run.status === "running", () => runPage(id).catch(fail));
}

// ---- comparing runs --------------------------------------------------------------------

function rowLabel(row, params) {
  const label = params.map((p) => `${p}=${plain(row.params[p])}`).join(" ");
  return label || row.run;
}

// Per epoch, the mean and sample standard deviation of a metric over the runs of a row.
function meanCurve(histories, name) {
  const byEpoch = new Map();
  for (const history of histories) {
    for (const epoch of history) {
      const value = valueOf(epoch, name);
      if (value === undefined) continue;
      if (!byEpoch.has(epoch.epoch)) byEpoch.set(epoch.epoch, []);
      byEpoch.get(epoch.epoch).push(value);
    }
  }
  const epochs = [...byEpoch.keys()].sort((a, b) => a - b);
  const points = [];
  const band = [];
  for (const epoch of epochs) {
    const values = byEpoch.get(epoch);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    points.push([epoch, mean]);
    if (values.length > 1) {
      const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1));
      band.push([epoch, mean - std, mean + std]);
    }
  }
  return { points, band };
}

async function comparePage() {
  const rows = (await getJson(`/api/compare${location.search}`)).body;
  // A parameter some rows lack (an optimizer's own setting) is still one that differs.
  const params = [...new Set(rows.flatMap((r) => Object.keys(r.params)))].sort();
  const metricKind = rows.length && rows[0].last ? "last" : "best";
  const metrics = [...new Set(rows.flatMap((r) => Object.keys(r[metricKind] || {})))];
  const table = el("table", { id: "compare" },
    el("thead", {}, el("tr", {}, ["run", "status", "seeds", "epochs", ...params, ...metrics.map((m) => `${metricKind} ${m}`)].map((h) => el("th", { text: h })))),
    el("tbody", {}, rows.map((row) => el("tr", { "data-run": row.run },
      el("td", {}, runLink(row.run)), el("td", {}, statusBadge(row.status)), el("td", { class: "num", text: row.seeds }),
      el("td", { class: "num", text: row.epochs }),
      params.map((p) => el("td", { text: plain(row.params[p]) })),
      metrics.map((m) => el("td", { class: "num", text: row.std[m] !== undefined ? `${fmt(row[metricKind][m])} ± ${fmt(row.std[m])}` : fmt(row[metricKind][m]) }))))));
  // Finished runs' histories are fetched once, running ones at every refresh, all in one
  // request.
  const wanted = rows.flatMap((row) => row.runs.filter((id) => row.status.includes("running") || !kept.histories.has(id)));
  for (let start = 0; start < wanted.length; start += 200) {
    const ids = wanted.slice(start, start + 200).map(encodeURIComponent).join(",");
    const fetched = (await getJson(`/api/histories?runs=${ids}`)).body;
    for (const [id, history] of Object.entries(fetched)) kept.histories.set(id, history);
  }
  const histories = rows.map((row) => row.runs.map((id) => kept.histories.get(id) || []));
  const overlay = (name) => lineChart(name, rows.map((row, i) => ({ name: rowLabel(row, params), ...meanCurve(histories[i], name) })), { width: 680, height: 340 });
  show(el("h1", { text: `Compare ${rows.reduce((n, r) => n + r.seeds, 0)} runs` }),
    el("p", { class: "muted", text: params.length ? "Parameters that differ, then each metric (mean ± std over seeds)." : "The runs have the same parameters." }),
    table, el("h2", { text: "Curves (mean ± std over seeds)" }),
    el("div", { class: "grid" }, overlay("val_accuracy"), overlay("val_loss"), overlay("accuracy"), overlay("loss")));
  poll(rows.some((r) => r.status.includes("running")), () => comparePage().catch(fail));
}

// ---- sweeps ----------------------------------------------------------------------------

async function sweepsPage() {
  const sweeps = (await getJson("/api/sweeps")).body;
  show(el("h1", { text: "Sweeps" }), sweeps.length ? el("table", { id: "sweeps" },
    el("thead", {}, el("tr", {}, ["sweep", "pipelines", "trials", "statuses"].map((h) => el("th", { text: h })))),
    el("tbody", {}, sweeps.map((s) => el("tr", {}, el("td", {}, sweepLink(s.sweep)), el("td", { text: s.pipelines.join(", ") }),
      el("td", { class: "num", text: s.trials }),
      el("td", {}, Object.entries(s.statuses).map(([status, n]) => [statusBadge(`${status}`), ` ${n} `])))))) :
    el("p", { class: "muted", text: "No sweeps recorded yet." }));
}

// One scatter per swept parameter against the chosen metric: numbers on a linear axis
// (logarithmic when they span a decade or more, as learning rates do), other values as
// evenly spaced categories; pruned trials are hollow.
function scatter(param, trials, metric) {
  const width = 420, height = 280, m = { left: 58, right: 16, top: 30, bottom: 48 };
  const values = trials.map((t) => t.params[param]);
  const numeric = values.every((v) => typeof v === "number");
  const categories = numeric ? [] : [...new Set(values.map(plain))].sort();
  const log = numeric && Math.min(...values) > 0 && Math.max(...values) / Math.min(...values) >= 10;
  const xOf = (v) => (log ? Math.log10(v) : numeric ? v : categories.indexOf(plain(v)));
  const points = trials.map((t) => ({ trial: t, x: xOf(t.params[param]), y: (t.best || {})[metric] })).filter((p) => Number.isFinite(p.y));
  const chart = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, "data-param": param });
  chart.append(svg("text", { class: "title", x: m.left, y: 18, text: `${metric} by ${param}` }));
  if (!points.length) return chart;
  let [x0, x1] = numeric ? [Math.min(...points.map((p) => p.x)), Math.max(...points.map((p) => p.x))] : [-0.5, categories.length - 0.5];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const spread = x1 - x0;
  if (numeric) { x0 -= spread * 0.06; x1 += spread * 0.06; }
  let [y0, y1] = [Math.min(...points.map((p) => p.y)), Math.max(...points.map((p) => p.y))];
  const pad = (y1 - y0) * 0.1 || 0.01;
  y0 -= pad; y1 += pad;
  const { sx, sy, axis } = plotArea(m, width, height, [x0, x1], [y0, y1]);
  const xTicks = log ? niceTicks(x0, x1, 5).filter(Number.isInteger) : numeric ? niceTicks(x0, x1, 5) : categories.map((_, i) => i);
  const xText = (t) => (log ? tickLabel(10 ** t) : numeric ? tickLabel(t) : categories[t]);
  for (const t of xTicks) {
    axis.append(svg("text", { x: sx(t), y: height - m.bottom + 16, "text-anchor": "middle", text: xText(t) }));
  }
  axis.append(svg("text", { x: (width + m.left) / 2, y: height - 10, "text-anchor": "middle", text: log ? `${param} (log scale)` : param }));
  chart.append(axis);
  points.forEach((p, i) => {
    const pruned = p.trial.status === "pruned";
    const jitter = numeric ? 0 : ((i % 5) - 2) * 3;
    const dot = svg("circle", {
      class: `point${pruned ? " pruned" : ""}`, cx: sx(p.x) + jitter, cy: sy(p.y), r: 5,
      fill: pruned ? "#fff" : "#2f6fdd", stroke: pruned ? "#e67e22" : "#fff",
      "data-run": p.trial.run, "data-status": p.trial.status, "data-y": p.y,
      onclick: () => { location.href = `/runs/${encodeURIComponent(p.trial.run)}`; },
    }, svg("title", { text: `${p.trial.run} (${p.trial.status})\n${param}=${plain(p.trial.params[param])}\n${metric} ${fmt(p.y)}` }));
    chart.append(dot);
  });
  return chart;
}

async function sweepPage(name) {
  const sweep = (await getJson(`/api/sweeps/${encodeURIComponent(name)}`)).body;
  document.title = `runner · sweep ${sweep.sweep}`;
  const params = new URLSearchParams(location.search);
  const metric = params.get("metric") || (sweep.metrics.includes("val_accuracy") ? "val_accuracy" : sweep.metrics[0]);
  if (!metric) {
    show(el("h1", { text: `Sweep ${sweep.sweep}` }), el("p", { class: "muted", text: "No trial has finished an epoch yet." }));
    poll(sweep.trials.some((t) => t.status === "running"), () => sweepPage(name).catch(fail));
    return;
  }
  const chooser = el("label", {}, "metric ", el("select", {
    name: "metric", onchange: (e) => { params.set("metric", e.target.value); location.search = params.toString(); },
  }, sweep.metrics.map((m) => el("option", { value: m, text: m, selected: m === metric }))));
  const pruned = sweep.trials.filter((t) => t.status === "pruned").length;
  const table = el("table", { id: "trials" },
    el("thead", {}, el("tr", {}, ["run", "status", "epochs", ...sweep.params, `best ${metric}`].map((h) => el("th", { text: h })))),
    el("tbody", {}, sweep.trials.map((t) => el("tr", { "data-run": t.run, "data-status": t.status },
      el("td", {}, runLink(t.run)), el("td", {}, statusBadge(t.status)), el("td", { class: "num", text: t.epochs }),
      sweep.params.map((p) => el("td", { text: plain(t.params[p]) })),
      el("td", { class: "num", text: fmt((t.best || {})[metric]) })))));
  show(el("h1", { text: `Sweep ${sweep.sweep}` }),
    el("div", { class: "toolbar" }, chooser,
      el("a", { href: `/compare?sweep=${encodeURIComponent(sweep.sweep)}`, text: "compare its configurations (mean ± std over seeds)" })),
    el("p", { class: "muted", text: `${sweep.trials.length} trials${pruned ? `, ${pruned} pruned (hollow)` : ""}; swept: ${sweep.params.join(", ") || "nothing differs"}` }),
    sweep.summary ? el("p", { id: "sweep-summary", text: sweep.summary }) : null,
    el("div", { class: "grid", id: "scatters" }, sweep.params.map((p) => scatter(p, sweep.trials, metric))),
    el("h2", { text: "Trials" }), table);
  poll(sweep.trials.some((t) => t.status === "running"), () => sweepPage(name).catch(fail));
}

// ---- routing ---------------------------------------------------------------------------

function route() {
  const path = location.pathname;
  const tail = (prefix) => decodeURIComponent(path.slice(prefix.length));
  if (path === "/") return runsPage();
  if (path.startsWith("/runs/")) return runPage(tail("/runs/"));
  if (path === "/compare") return comparePage();
  if (path === "/sweeps") return sweepsPage();
  if (path.startsWith("/sweeps/")) return sweepPage(tail("/sweeps/"));
  return Promise.reject(new Error(`no page at ${path}`));
}

document.addEventListener("DOMContentLoaded", () => {
  // The mark says when the first render ended (benches/ui_scale.rs reads it).
  Promise.resolve().then(route).catch(fail).finally(() => performance.mark("rendered"));
});
