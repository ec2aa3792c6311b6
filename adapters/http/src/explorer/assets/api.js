// The query API as the page uses it: requests with the API key when one is kept, errors turned
// into sentences, the live tail read from a streamed fetch (EventSource cannot send an
// Authorization header), and what a curl command for the same query looks like.

const KEY_ITEM = "log-explorer.api-key";
// The service's own deadline is 30 s by default; past this the page stops waiting.
const ANSWER_WITHIN_MS = 35000;

/** An answer that is not a success, with the API's `{code, field, reason}` when it sent one. */
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(describe(status, body, retryAfter));
    this.status = status;
    this.code = body && body.code;
    this.field = body && body.field;
  }
}

function describe(status, body, retryAfter) {
  const code = (body && body.code) || "";
  const reason = (body && body.reason) || "";
  const later = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again later.";
  switch (status) {
    case 0:
      return reason;
    case 400:
      return body && body.field ? `Invalid ${body.field}: ${reason}` : `Invalid request: ${reason}`;
    case 401:
      return code === "invalid_api_key"
        ? "The API key was refused (invalid_api_key): it is not a query key of this service."
        : "This query service requires an API key (missing_api_key).";
    case 403:
      return `This API key may not read logs (${code || "forbidden"}): use a query key.`;
    case 429:
      return `Too many requests (${code || "429"}).${later}`;
    case 503:
      if (code === "request_timeout") {
        return `The query service gave up on the request (request_timeout).${later}`;
      }
      return `The log store is unavailable (${code || "503"}): ${reason}${later}`;
    case 504:
      return "The query took too long (query_timeout): narrow the time range or add filters.";
    default:
      return `The query service answered ${status}${code ? ` (${code})` : ""}: ${reason}`;
  }
}

export function storedKey() {
  return sessionStorage.getItem(KEY_ITEM) || "";
}

export function storeKey(key) {
  if (key) sessionStorage.setItem(KEY_ITEM, key);
  else sessionStorage.removeItem(KEY_ITEM);
}

/**
 * Asks the person for a key after a 401; resolves to the key, or "" when they cancel. The page
 * sets it (a dialog); the error says why it is asked.
 */
let askForKey = async () => "";
let pendingAsk = null;
export function onKeyNeeded(ask) {
  askForKey = ask;
}

function headers(extra) {
  const result = new Headers(extra || {});
  const key = storedKey();
  if (key) result.set("Authorization", `Bearer ${key}`);
  return result;
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new ApiError(response.status, body, response.headers.get("Retry-After"));
}

/**
 * Sends `GET path?params` until it is not a 401 the person can fix: on a 401 it asks for a key
 * (saying why, so a wrong key shows its error), keeps it and tries again; a cancel ends with the
 * 401's error. `timeout` false for streams.
 */
async function send(path, params, { signal, accept, timeout = true } = {}) {
  const url = params && params.toString() ? `${path}?${params}` : path;
  for (;;) {
    const signals = [signal, timeout ? AbortSignal.timeout(ANSWER_WITHIN_MS) : null].filter(Boolean);
    const sentKey = storedKey();
    let response;
    try {
      response = await fetch(url, {
        headers: headers(accept ? { Accept: accept } : {}),
        signal: signals.length ? AbortSignal.any(signals) : undefined,
        cache: "no-store",
      });
    } catch (error) {
      if (signal && signal.aborted) throw error;
      if (error.name === "TimeoutError") {
        throw new ApiError(0, { reason: `No answer from the query service within ${ANSWER_WITHIN_MS / 1000} s.` });
      }
      throw new ApiError(0, { reason: `Cannot reach the query service (${error.message}).` });
    }
    if (response.status !== 401) {
      if (!response.ok) throw await errorOf(response);
      return response;
    }
    const problem = await errorOf(response);
    // Another request may have got a new key meanwhile: try that one before asking.
    if (storedKey() && storedKey() !== sentKey) continue;
    // Requests refused together share one question.
    if (!pendingAsk) pendingAsk = askForKey(problem).finally(() => (pendingAsk = null));
    const key = await pendingAsk;
    if (!key) throw problem;
    storeKey(key);
  }
}

export async function getJson(path, params, signal) {
  const response = await send(path, params, { signal, accept: "application/json" });
  return response.json();
}

/** The export of `params` as a file download named `name`. */
export async function downloadExport(params, name) {
  const response = await send("/logs/export", params, { accept: "application/x-ndjson", timeout: false });
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/**
 * Follows `/logs/tail?params` until `signal` aborts: calls `onLog(log)` for every `log` event and
 * `onSkipped(count)` when the service says the client fell behind. Resolves when the stream
 * ends; rejects with an ApiError when it cannot start or breaks.
 */
export async function followTail(params, { signal, onLog, onSkipped }) {
  const response = await send("/logs/tail", params, { signal, accept: "text/event-stream", timeout: false });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        dispatch(block, onLog, onSkipped);
      }
    }
  } catch (error) {
    if (signal.aborted) return;
    if (error instanceof ApiError) throw error;
    throw new ApiError(0, { reason: `The live tail broke off (${error.message}).` });
  }
}

/** One server-sent event: `event:` and `data:` lines (data lines joined by newlines). */
function dispatch(block, onLog, onSkipped) {
  let kind = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") kind = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  const payload = JSON.parse(data.join("\n"));
  if (kind === "log") onLog(payload);
  else if (kind === "skipped") onSkipped(payload.skipped);
  else if (kind === "error") throw new ApiError(503, payload, null);
}

/**
 * The metadata keys to offer in the picker. Until the service can list its fields, the keys of
 * the logs on the page; this is the one place to switch to a field listing endpoint.
 */
export function metadataKeys(loadedLogs, discovered = []) {
  // The keys `GET /logs/fields` found in the range, and those of the rows on the page (a key of
  // a rare value may be outside the field listing's sample).
  const keys = new Set(discovered);
  for (const log of loadedLogs) {
    for (const key of Object.keys(log.metadata || {})) keys.add(key);
  }
  return [...keys].sort();
}

function shellQuote(text) {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

/** A curl command for `GET path?params` on this origin; never the key itself. */
export function curlCommand(path, params) {
  const parts = ["curl", "-G", shellQuote(location.origin + path)];
  if (storedKey()) parts.push("-H", '"Authorization: Bearer $QUERY_API_KEY"');
  for (const [name, value] of params) parts.push("--data-urlencode", shellQuote(`${name}=${value}`));
  return parts.join(" ");
}
