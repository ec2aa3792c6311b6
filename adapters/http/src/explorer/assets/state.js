// The view's state and its two spellings: the page's URL (so a link opens the same view) and
// the query API's parameters. Both use the API's own parameter names: `q`, `service`, `level`,
// `min_level`, `trace_id`, `metadata.<key>`, `exclude.<field>`, `from`, `to`; the page adds
// `range` for a preset.

export const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

export const PRESETS = [
  { name: "5m", label: "5 min", ms: 5 * 60e3 },
  { name: "15m", label: "15 min", ms: 15 * 60e3 },
  { name: "1h", label: "1 hour", ms: 3600e3 },
  { name: "6h", label: "6 hours", ms: 6 * 3600e3 },
  { name: "24h", label: "24 hours", ms: 24 * 3600e3 },
  { name: "7d", label: "7 days", ms: 7 * 24 * 3600e3 },
];
export const DEFAULT_PRESET = "24h";

const METADATA = "metadata.";
const EXCLUDE = "exclude.";

const INTERVALS = [
  { name: "1m", ms: 60e3 },
  { name: "5m", ms: 5 * 60e3 },
  { name: "15m", ms: 15 * 60e3 },
  { name: "1h", ms: 3600e3 },
  { name: "1d", ms: 24 * 3600e3 },
];
const MOST_BARS = 200;

function splitList(text) {
  return (text || "").split(",").map((item) => item.trim()).filter((item) => item !== "");
}

export function emptyState() {
  return {
    q: "",
    services: [],
    levels: [],
    minLevel: "",
    traceId: "",
    metadata: [],
    // [field, value] pairs the logs must not have: `service`, `level` or `metadata.<key>`.
    excluded: [],
    range: DEFAULT_PRESET,
    from: "",
    to: "",
  };
}

/** The state a page URL's query string describes. */
export function stateFromSearch(search) {
  const params = new URLSearchParams(search);
  const state = emptyState();
  state.q = params.get("q") || "";
  state.services = splitList(params.get("service"));
  state.levels = splitList(params.get("level")).map((level) => level.toUpperCase());
  state.minLevel = (params.get("min_level") || "").toUpperCase();
  state.traceId = params.get("trace_id") || "";
  for (const [name, value] of params) {
    if (name.startsWith(METADATA) && name.length > METADATA.length) {
      state.metadata.push([name.slice(METADATA.length), value]);
    } else if (name.startsWith(EXCLUDE) && name.length > EXCLUDE.length) {
      state.excluded.push([name.slice(EXCLUDE.length), value]);
    }
  }
  const from = params.get("from");
  const to = params.get("to");
  if (from && to && !Number.isNaN(Date.parse(from)) && !Number.isNaN(Date.parse(to))) {
    state.range = "";
    state.from = new Date(from).toISOString();
    state.to = new Date(to).toISOString();
  } else {
    const preset = params.get("range");
    state.range = PRESETS.some((p) => p.name === preset) ? preset : DEFAULT_PRESET;
  }
  return state;
}

/** The filter parameters of the query API (no time range). */
export function filterParams(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.services.length) params.set("service", state.services.join(","));
  if (state.levels.length) params.set("level", state.levels.join(","));
  if (state.minLevel) params.set("min_level", state.minLevel);
  if (state.traceId) params.set("trace_id", state.traceId);
  for (const [key, value] of state.metadata) params.append(METADATA + key, value);
  for (const [field, value] of state.excluded) params.append(EXCLUDE + field, value);
  return params;
}

/** The page URL's query string for `state`. */
export function searchFromState(state) {
  const params = filterParams(state);
  if (state.range) {
    params.set("range", state.range);
  } else {
    params.set("from", state.from);
    params.set("to", state.to);
  }
  return "?" + params.toString();
}

/** The absolute range `state` covers at `now` (milliseconds). */
export function resolveRange(state, now = Date.now()) {
  if (state.range) {
    const preset = PRESETS.find((p) => p.name === state.range) || PRESETS[0];
    return { from: now - preset.ms, to: now };
  }
  return { from: Date.parse(state.from), to: Date.parse(state.to) };
}

/** The API parameters of `state` over `range`. */
export function apiParams(state, range) {
  const params = filterParams(state);
  params.set("from", new Date(range.from).toISOString());
  params.set("to", new Date(range.to).toISOString());
  return params;
}

/** The histogram interval that gives at most MOST_BARS bars over `range` (or the widest). */
export function intervalFor(range) {
  const span = Math.max(range.to - range.from, 1);
  return INTERVALS.find((i) => span / i.ms <= MOST_BARS) || INTERVALS[INTERVALS.length - 1];
}
