// The log explorer page: keeps the view's state (in the URL), asks the query API for the
// histogram, the pickers' values and the pages of logs, follows the live tail, and wires the
// controls. Everything it shows comes from the public query API of this origin.

import { ApiError, curlCommand, downloadExport, getJson, metadataKeys, onKeyNeeded } from "./api.js";
import { Histogram } from "./histogram.js";
import { askForKey } from "./key-dialog.js";
import { LEVELS, PRESETS, apiParams, emptyState, filterParams, intervalFor, resolveRange, searchFromState, stateFromSearch } from "./state.js";
import { LogTable, localTime } from "./table.js";
import { LiveTail } from "./tail.js";

const PAGE_SIZE = 100;
const THEME_ITEM = "log-explorer.theme";

const $ = (id) => document.getElementById(id);

let state = stateFromSearch(location.search);
let range = resolveRange(state);
// One controller per loaded view: a new view aborts the requests of the old one.
let view = new AbortController();
let nextCursor = null;
// Every cursor asked for in this view: a page is never requested (or held) twice.
const requestedCursors = new Set();
let loadingPage = false;

const table = new LogTable($("rows"), {
  filter: (field, value) => update(withFilter(state, field, value)),
  exclude: (field, value) => update(withExclusion(state, field, value)),
  trace: (traceId) => update({ ...emptyState(), traceId, range: "7d" }),
}, canExclude);

const histogram = new Histogram(
  $("histogram"),
  { total: $("histogram-total"), legend: $("histogram-legend"), hover: $("histogram-hover") },
  (from, to) => update({ ...state, range: "", from: new Date(from).toISOString(), to: new Date(to).toISOString() }),
);

const tail = new LiveTail(
  { live: $("live"), pause: $("pause"), counter: $("paused-count") },
  table,
  () => filterParams(state),
  (error) => showError(error),
);

/** The state with `field = value` added as a condition. */
function withFilter(current, field, value) {
  const next = { ...current, metadata: [...current.metadata] };
  if (field === "service") next.services = unique([...current.services, value]);
  else if (field === "level") next.levels = unique([...current.levels, value]);
  else if (field === "trace_id") next.traceId = value;
  else if (field.startsWith("metadata.")) {
    const key = field.slice("metadata.".length);
    next.metadata = next.metadata.filter(([k]) => k !== key).concat([[key, value]]);
  }
  return next;
}

/** The fields the query API can exclude a value of (`exclude.<field>`). */
function canExclude(field) {
  return field === "service" || field === "level" || field.startsWith("metadata.");
}

/** The state with "not `field = value`" added as a condition. */
function withExclusion(current, field, value) {
  if (!canExclude(field)) return current;
  const excluded = current.excluded.filter(([f, v]) => f !== field || v !== value).concat([[field, value]]);
  return { ...current, excluded };
}

function unique(items) {
  return [...new Set(items)];
}

/** Moves to `next` state: a new URL entry and a fresh view. */
function update(next) {
  state = next;
  history.pushState(null, "", searchFromState(state));
  load();
}

window.addEventListener("popstate", () => {
  state = stateFromSearch(location.search);
  load();
});

function showError(error) {
  if (error.name === "AbortError") return;
  const box = $("error");
  box.textContent = error instanceof ApiError ? error.message : `Unexpected error: ${error.message}`;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

/** Loads the whole view for the current state: histogram, pickers, first page; restarts tail. */
function load() {
  view.abort();
  view = new AbortController();
  const signal = view.signal;
  range = resolveRange(state);
  clearError();
  renderControls();
  table.clear();
  nextCursor = null;
  requestedCursors.clear();
  loadingPage = false;
  setStatus("Loading…");
  const params = apiParams(state, range);
  const interval = intervalFor(range);
  const histogramParams = new URLSearchParams(params);
  histogramParams.set("interval", interval.name);
  histogramParams.set("by", "level");
  getJson("/logs/histogram", histogramParams, signal)
    .then((answer) => histogram.draw(answer.buckets, interval.ms, range))
    .catch((error) => {
      if (signal.aborted) return;
      histogram.draw([], interval.ms, range);
      $("histogram-total").textContent = "";
      showError(error);
    });
  loadPickers(signal);
  loadPage(signal);
  if (tail.running) tail.start();
}

async function loadPage(signal) {
  const cursor = nextCursor;
  if (loadingPage || (cursor && requestedCursors.has(cursor))) return;
  if (cursor) requestedCursors.add(cursor);
  loadingPage = true;
  const params = apiParams(state, range);
  params.set("limit", String(PAGE_SIZE));
  if (cursor) params.set("cursor", cursor);
  try {
    const page = await getJson("/logs", params, signal);
    if (signal.aborted) return;
    table.append(page.logs);
    nextCursor = page.next_cursor || null;
    setStatus(table.logs.length === 0 ? "No logs match these filters in this time range." : nextCursor ? `${table.logs.length} logs loaded; scroll for more` : `${table.logs.length} logs: all loaded`);
    refreshKeys();
  } catch (error) {
    if (signal.aborted) return;
    setStatus(error instanceof ApiError ? error.message : "Loading failed.", true);
    showError(error);
  } finally {
    // A newer view resets the flag itself.
    if (view.signal === signal) loadingPage = false;
  }
  // A first page shorter than the screen: ask for the next one at once.
  if (!signal.aborted && nextCursor && sentinelVisible()) loadPage(signal);
}

function setStatus(text, failed = false) {
  const status = $("table-status");
  status.textContent = text;
  status.classList.toggle("failed", failed);
}

function sentinelVisible() {
  const box = $("results").getBoundingClientRect();
  return $("sentinel").getBoundingClientRect().top <= box.bottom + 200;
}

$("results").addEventListener("scroll", () => {
  if (nextCursor && !loadingPage && sentinelVisible()) loadPage(view.signal);
}, { passive: true });

/** Metadata keys `GET /logs/fields` listed for the current range. */
let discoveredKeys = [];

async function loadPickers(signal) {
  const options = (select, first, items) => {
    const head = document.createElement("option");
    head.value = "";
    head.textContent = first;
    select.replaceChildren(head, ...items.map(([value, label]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      return option;
    }));
  };
  // The services with logs in the range under the other filters (not the service filter itself).
  const serviceParams = apiParams({ ...state, services: [] }, range);
  serviceParams.set("group_by", "service");
  const levelParams = apiParams({ ...state, levels: [], minLevel: "" }, range);
  levelParams.set("group_by", "level");
  // The metadata keys of the range (`GET /logs/fields` takes only the range here).
  const rangeParams = apiParams(state, range);
  const fieldParams = new URLSearchParams();
  for (const name of ["from", "to"]) {
    if (rangeParams.has(name)) fieldParams.set(name, rangeParams.get(name));
  }
  try {
    const [services, levels, fields] = await Promise.all([
      getJson("/logs/stats", serviceParams, signal),
      getJson("/logs/stats", levelParams, signal),
      getJson("/logs/fields", fieldParams, signal),
    ]);
    discoveredKeys = fields.metadata_keys.map((key) => key.name);
    refreshKeys();
    const counts = Object.fromEntries(levels.groups.map((group) => [group.key, group.count]));
    options($("service-picker"), "+ service", services.groups.map((group) => [group.key, `${group.key} (${group.count.toLocaleString()})`]));
    options($("level-picker"), "+ level", LEVELS.map((level) => [level, `${level} (${(counts[level] || 0).toLocaleString()})`]));
  } catch (error) {
    if (!signal.aborted) showError(error);
  }
}

function refreshKeys() {
  const list = $("metadata-keys");
  list.replaceChildren(...metadataKeys(table.logs, discoveredKeys).map((key) => {
    const option = document.createElement("option");
    option.value = key;
    return option;
  }));
}

/** Chips, search text, range controls and the curl text for the current state. */
function renderControls() {
  $("q").value = state.q;
  const chips = [];
  const chip = (label, remove) => chips.push([label, remove]);
  for (const service of state.services) chip(`service: ${service}`, () => ({ ...state, services: state.services.filter((s) => s !== service) }));
  for (const level of state.levels) chip(`level: ${level}`, () => ({ ...state, levels: state.levels.filter((l) => l !== level) }));
  if (state.minLevel) chip(`min level: ${state.minLevel}`, () => ({ ...state, minLevel: "" }));
  for (const [key, value] of state.metadata) chip(`${key} = ${value}`, () => ({ ...state, metadata: state.metadata.filter(([k, v]) => k !== key || v !== value) }));
  for (const [field, value] of state.excluded) chip(`${field} ≠ ${value}`, () => ({ ...state, excluded: state.excluded.filter(([f, v]) => f !== field || v !== value) }));
  if (state.traceId) chip(`trace: ${state.traceId}`, () => ({ ...state, traceId: "" }));
  if (state.q) chip(`text: ${state.q}`, () => ({ ...state, q: "" }));
  $("chips").replaceChildren(...chips.map(([label, remove]) => {
    const item = document.createElement("li");
    item.className = "chip";
    const text = document.createElement("span");
    text.textContent = label;
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "×";
    close.setAttribute("aria-label", `Remove filter ${label}`);
    close.addEventListener("click", () => update(remove()));
    item.append(text, close);
    return item;
  }));
  $("min-level").value = state.minLevel;
  for (const preset of $("presets").children) {
    preset.setAttribute("aria-pressed", String(preset.dataset.range === state.range));
  }
  $("from-input").value = inputValue(range.from);
  $("to-input").value = inputValue(range.to);
  const text = $("range-text");
  text.textContent = `${localTime(new Date(range.from).toISOString())} → ${localTime(new Date(range.to).toISOString())} (local time)`;
  text.title = `${new Date(range.from).toISOString()} → ${new Date(range.to).toISOString()} (UTC)`;
  $("from-input").title = `${new Date(range.from).toISOString()} (UTC)`;
  $("to-input").title = `${new Date(range.to).toISOString()} (UTC)`;
  $("curl-text").textContent = curlCommand("/logs", apiParams(state, range));
}

/** A datetime-local input's value (local time, seconds). */
function inputValue(ms) {
  const date = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

// ---- controls

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  update({ ...state, q: $("q").value.trim() });
});

$("service-picker").addEventListener("change", (event) => {
  const value = event.target.value;
  if (value) update(withFilter(state, "service", value));
});

$("level-picker").addEventListener("change", (event) => {
  const value = event.target.value;
  if (value) update(withFilter(state, "level", value));
});

$("min-level").append(...LEVELS.map((level) => {
  const option = document.createElement("option");
  option.value = level;
  option.textContent = `min level: ${level}`;
  return option;
}));
$("min-level").addEventListener("change", (event) => update({ ...state, minLevel: event.target.value }));

$("metadata-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const key = $("metadata-key").value.trim();
  if (!key) return;
  const value = $("metadata-value").value;
  $("metadata-key").value = "";
  $("metadata-value").value = "";
  update(withFilter(state, `metadata.${key}`, value));
});

$("trace-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const traceId = $("trace-input").value.trim();
  $("trace-input").value = "";
  if (traceId) update({ ...state, traceId });
});

for (const preset of PRESETS) {
  const choice = document.createElement("button");
  choice.type = "button";
  choice.textContent = preset.label;
  choice.dataset.range = preset.name;
  choice.addEventListener("click", () => update({ ...state, range: preset.name, from: "", to: "" }));
  $("presets").append(choice);
}

$("range-form").addEventListener("submit", (event) => {
  event.preventDefault();
  // datetime-local values are in the browser's time zone; Date parses them as local time.
  const from = new Date($("from-input").value);
  const to = new Date($("to-input").value);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime()) || from >= to) {
    showError(new ApiError(0, { reason: "The range needs a start before its end." }));
    return;
  }
  update({ ...state, range: "", from: from.toISOString(), to: to.toISOString() });
});

$("export").addEventListener("click", () => {
  downloadExport(apiParams(state, range), "logs.ndjson").catch(showError);
});

$("curl").addEventListener("click", () => {
  const panel = $("curl-panel");
  panel.hidden = !panel.hidden;
  $("curl").setAttribute("aria-expanded", String(!panel.hidden));
  $("curl-copied").textContent = "";
});

$("curl-copy").addEventListener("click", async () => {
  const text = $("curl-text").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("curl-copied").textContent = "copied";
  } catch {
    // Clipboard access needs a secure origin: select the text for a manual copy instead.
    const selection = getSelection();
    selection.selectAllChildren($("curl-text"));
    $("curl-copied").textContent = "selected: press Ctrl+C";
  }
});

// ---- theme

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $("theme").textContent = theme === "dark" ? "Light" : "Dark";
  $("theme").setAttribute("aria-label", `Switch to the ${theme === "dark" ? "light" : "dark"} theme`);
  histogram.render();
}

$("theme").addEventListener("click", () => {
  const theme = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  localStorage.setItem(THEME_ITEM, theme);
  applyTheme(theme);
});

// ---- keyboard

document.addEventListener("keydown", (event) => {
  const typing = event.target.closest?.("input, select, textarea, dialog");
  if (event.key === "/" && !typing) {
    event.preventDefault();
    $("q").focus();
  }
});

onKeyNeeded(askForKey);

// ---- start

applyTheme(localStorage.getItem(THEME_ITEM) || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
history.replaceState(null, "", searchFromState(state));
load();
