// The results table: one dense row per log (time, level, service, message), newest first; a row
// opens to every field and metadata entry, each with "filter" and "exclude". Log text only ever
// reaches the page as textContent.

import { LEVELS } from "./state.js";

/** Local time with milliseconds, e.g. 2026-05-05 12:00:00.123. */
export function localTime(iso) {
  const date = new Date(iso);
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, title, action) {
  const node = element("button", "small", label);
  node.type = "button";
  node.title = title;
  node.addEventListener("click", (event) => {
    event.stopPropagation();
    action();
  });
  return node;
}

/**
 * The table in `body`. `actions` receives what a person picks in an opened row:
 * `filter(field, value)`, `exclude(field, value)` (only for fields the API can exclude, see
 * `canExclude`), `trace(traceId)`.
 */
export class LogTable {
  constructor(body, actions, canExclude) {
    this.body = body;
    this.actions = actions;
    this.canExclude = canExclude;
    this.ids = new Set();
    this.logs = [];
    body.addEventListener("keydown", (event) => this.keydown(event));
  }

  clear() {
    this.body.replaceChildren();
    this.ids.clear();
    this.logs = [];
  }

  /** Adds older logs at the bottom; returns how many were new. */
  append(logs) {
    const fragment = document.createDocumentFragment();
    let added = 0;
    for (const log of logs) {
      if (this.ids.has(log.id)) continue;
      this.ids.add(log.id);
      this.logs.push(log);
      fragment.append(this.row(log));
      added += 1;
    }
    this.body.append(fragment);
    return added;
  }

  /** Puts newer logs (oldest of them first) on top. */
  prepend(logs) {
    for (const log of logs) {
      if (this.ids.has(log.id)) continue;
      this.ids.add(log.id);
      this.logs.unshift(log);
      const row = this.row(log);
      row.classList.add("fresh");
      this.body.prepend(row);
    }
  }

  row(log) {
    const row = element("tr", "log");
    row.tabIndex = 0;
    row.dataset.id = log.id;
    row.setAttribute("aria-expanded", "false");
    const time = element("td", "c-time", localTime(log.timestamp));
    time.title = `${log.timestamp} (UTC)`;
    const level = element("td", "c-level");
    level.append(element("span", `level level-${LEVELS.includes(log.level) ? log.level : "OTHER"}`, log.level));
    row.append(time, level, element("td", "c-service", log.service), element("td", "c-message", log.message));
    row.addEventListener("click", () => this.toggle(row, log));
    return row;
  }

  toggle(row, log) {
    const open = row.getAttribute("aria-expanded") === "true";
    if (open) {
      row.nextElementSibling?.remove();
      row.setAttribute("aria-expanded", "false");
      return;
    }
    row.setAttribute("aria-expanded", "true");
    const detail = element("tr", "detail");
    const cell = element("td");
    cell.colSpan = 4;
    cell.append(this.fields(log));
    detail.append(cell);
    row.after(detail);
  }

  fields(log) {
    const list = element("table", "fields");
    const entries = [
      ["timestamp", log.timestamp],
      ["observed_timestamp", log.observed_timestamp],
      ["service", log.service],
      ["level", log.level],
      ["message", log.message],
      ["trace_id", log.trace_id],
      ["span_id", log.span_id],
      ["id", log.id],
    ];
    for (const key of Object.keys(log.metadata || {}).sort()) {
      entries.push([`metadata.${key}`, log.metadata[key]]);
    }
    for (const [field, value] of entries) {
      if (value === undefined || value === null) continue;
      const line = element("tr");
      const name = element("th", "field-name", field);
      name.scope = "row";
      const text = element("td", "field-value", value);
      if (field.endsWith("timestamp")) text.title = `${localTime(value)} (local time)`;
      const tools = element("td", "field-actions");
      if (filterable(field)) {
        tools.append(button("filter", `Show only logs with ${field} = this value`, () => this.actions.filter(field, value)));
        const exclude = button("exclude", `Hide logs with ${field} = this value`, () => this.actions.exclude(field, value));
        if (!this.canExclude(field)) {
          exclude.disabled = true;
          exclude.title = `The query API cannot exclude a ${field} value`;
        }
        tools.append(exclude);
      }
      if (field === "trace_id") {
        tools.append(button("all logs of this trace", "Show every log of this trace", () => this.actions.trace(value)));
      }
      line.append(name, text, tools);
      list.append(line);
    }
    return list;
  }

  /** Arrow keys move between rows; Enter or Space opens and closes one. */
  keydown(event) {
    const row = event.target.closest?.("tr.log");
    if (!row || event.target !== row) return;
    const log = this.logs.find((candidate) => candidate.id === row.dataset.id);
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      if (log) this.toggle(row, log);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const rows = [...this.body.querySelectorAll("tr.log")];
      const next = rows[rows.indexOf(row) + (event.key === "ArrowDown" ? 1 : -1)];
      next?.focus();
    }
  }
}

/** The fields the API filters by with an exact value. */
function filterable(field) {
  return field === "service" || field === "level" || field === "trace_id" || field.startsWith("metadata.");
}
