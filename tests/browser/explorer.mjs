// The log explorer in a real browser: Debian's chromium driven by playwright-core, every check
// made against the query API itself. Run by tests/tests/explorer.rs with the stack's URLs:
//
//   EXPLORER_MODE=open|keys EXPLORER_CHROMIUM=/usr/bin/chromium QUERY_URL=... INGESTION_URL=...
//   SEED_TRACE=... SEED_PAYLOAD=... [QUERY_KEY=... INGEST_KEY=...] node explorer.mjs
//
// EXPLORER_SCREENSHOTS=DIR also saves screenshots of the main views there (docs/ holds them).
// Prints one line per check and "all checks passed" at the end; exits 1 on the first failure.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const MODE = env("EXPLORER_MODE");
const QUERY = env("QUERY_URL");
const INGESTION = env("INGESTION_URL");
const SHOTS = process.env.EXPLORER_SCREENSHOTS || "";
const TAIL_WITHIN_MS = 2000;

function check(what) {
  console.log(`ok: ${what}`);
}

/** GET on the query API from here (not the browser), with the query key in keys mode. */
async function api(path, params) {
  const headers = process.env.QUERY_KEY ? { Authorization: `Bearer ${process.env.QUERY_KEY}` } : {};
  const response = await fetch(`${QUERY}${path}?${params}`, { headers });
  assert.equal(response.status, 200, `${path}?${params}: ${response.status} ${await response.clone().text()}`);
  return path === "/logs/export" ? response.text() : response.json();
}

/** Every id GET /logs gives for `params`, page by page through next_cursor. */
async function allIds(params) {
  const ids = [];
  let cursor = null;
  for (;;) {
    const page = new URLSearchParams(params);
    page.set("limit", "100");
    if (cursor) page.set("cursor", cursor);
    const answer = await api("/logs", page);
    ids.push(...answer.logs.map((log) => log.id));
    cursor = answer.next_cursor;
    if (!cursor) return ids;
  }
}

async function ingest(event) {
  const response = await fetch(`${INGESTION}/ingest`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(event),
  });
  assert.equal(response.status, 202, await response.text());
}

const profile = mkdtempSync(join(tmpdir(), "explorer-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("EXPLORER_CHROMIUM"),
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1400, height: 900 },
  acceptDownloads: true,
  timezoneId: "Europe/Berlin",
});

// Everything that went wrong in the browser; statuses the checks expect are allowed per mode.
const problems = [];
const allowedStatuses = new Set();
const requests = [];
function watch(page) {
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    // Chromium reports every 4xx fetch as "Failed to load resource"; those the checks expect
    // (401/403 in keys mode) are allowed, their responses are checked below.
    const status = /status of (\d+)/.exec(text);
    if (status && allowedStatuses.has(Number(status[1]))) return;
    problems.push(`console error: ${text}`);
  });
  page.on("pageerror", (error) => problems.push(`uncaught exception: ${error.message}`));
  page.on("dialog", (dialog) => {
    problems.push(`a JavaScript dialog opened: ${dialog.message()}`);
    dialog.dismiss();
  });
  page.on("request", (request) => requests.push(request.url()));
  page.on("requestfailed", (request) => {
    // The page aborts the requests of a view it leaves (and the tail when it stops).
    if (request.failure()?.errorText === "net::ERR_ABORTED") return;
    problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on("response", (response) => {
    const status = response.status();
    if (status >= 400 && !allowedStatuses.has(status)) problems.push(`HTTP ${status}: ${response.url()}`);
    if (!response.url().startsWith(QUERY)) problems.push(`a request left the query service: ${response.url()}`);
  });
}

function assertNoProblems(when) {
  assert.deepEqual(problems, [], `problems ${when}`);
}

/** Runs `action` and waits for the page's next `GET /logs` answer and its rendering. */
async function logsAfter(page, action) {
  const answered = page.waitForResponse((response) => new URL(response.url()).pathname === "/logs");
  await action();
  const response = await answered;
  await page.waitForFunction(() => !document.getElementById("table-status").textContent.startsWith("Loading"));
  return new URL(response.url()).searchParams;
}

/** Runs `action` and waits for the page's next histogram answer and its drawing. */
async function histogramAfter(page, action) {
  const answered = page.waitForResponse((response) => new URL(response.url()).pathname === "/logs/histogram");
  await action();
  const response = await answered;
  await page.waitForFunction(() => document.getElementById("histogram-total").dataset.count !== undefined);
  return new URL(response.url()).searchParams;
}

const rowIds = (page) => page.$$eval("#rows tr.log", (rows) => rows.map((row) => row.dataset.id));

/** The API parameters of `filters` over the time range the page used in `used`. */
function sameRange(used, filters) {
  const params = new URLSearchParams(filters);
  params.set("from", used.get("from"));
  params.set("to", used.get("to"));
  return params;
}

async function shot(page, name) {
  if (!SHOTS) return;
  await page.screenshot({ path: join(SHOTS, name) });
  check(`screenshot ${name}`);
}

async function openMode() {
  const page = await context.newPage();
  watch(page);

  // 1. The page loads and shows the newest logs, as GET /logs does for its range.
  let used = await logsAfter(page, () => page.goto(`${QUERY}/`));
  let expected = await api("/logs", sameRange(used, { limit: "100" }));
  assert.equal(expected.logs.length, 100);
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id), "the first page");
  const headers = (await page.request.get(`${QUERY}/`)).headers();
  assert.match(headers["content-security-policy"], /script-src 'self'/);
  assert.equal(headers["x-content-type-options"], "nosniff");
  check("the page shows the newest logs, equal to GET /logs for its range");

  // 2. The HTML payload is text, and nothing of it ran.
  const payload = env("SEED_PAYLOAD");
  const shown = await page.$$eval("#rows td.c-message", (cells) => cells.map((cell) => cell.textContent));
  assert.ok(shown.includes(payload), "the payload row shows its characters");
  const payloadRow = page.locator("#rows tr.log", { hasText: "window.__xss = 1" });
  await payloadRow.click();
  await page.locator("tr.detail", { hasText: "metadata.html" }).waitFor();
  assert.equal(await page.evaluate(() => window.__xss), undefined, "no script of the payload ran");
  assert.equal(await page.locator("#rows img, #rows script, #rows b").count(), 0, "no element made from log text");
  assert.ok(!requests.some((url) => new URL(url).pathname === "/x"), "the payload's <img src=x> was never requested");
  await payloadRow.click();
  check("an HTML/script payload renders as text and runs nothing");

  // 3. Histogram: stacked by level, its total equals /logs/stats for the same range.
  await page.waitForFunction(() => document.getElementById("histogram-total").dataset.count !== undefined);
  const histogramRequest = requests.filter((url) => url.includes("/logs/histogram")).pop();
  const histogramParams = new URL(histogramRequest).searchParams;
  assert.equal(histogramParams.get("by"), "level");
  assert.equal(histogramParams.get("from"), used.get("from"));
  const stats = await api("/logs/stats", sameRange(used, { group_by: "level" }));
  const statsTotal = stats.groups.reduce((sum, group) => sum + group.count, 0);
  const drawn = Number(await page.$eval("#histogram-total", (node) => node.dataset.count));
  assert.equal(drawn, statsTotal, "histogram total = /logs/stats total");
  assert.ok(await page.locator("#histogram canvas").count() > 0, "the chart is drawn");
  check(`the histogram's bars sum to ${drawn}, the count /logs/stats gives for the range`);
  await shot(page, "explorer-light.png");

  // 4. Drag across the chart zooms the range.
  const over = await page.locator("#histogram .u-over").boundingBox();
  const zoomed = await histogramAfter(page, async () => {
    await page.mouse.move(over.x + over.width * 0.85, over.y + over.height / 2);
    await page.mouse.down();
    await page.mouse.move(over.x + over.width * 0.95, over.y + over.height / 2, { steps: 5 });
    await page.mouse.up();
  });
  const pageUrl = new URL(page.url());
  assert.equal(pageUrl.searchParams.get("range"), null, "a zoomed view has an absolute range");
  const span = Date.parse(zoomed.get("to")) - Date.parse(zoomed.get("from"));
  assert.ok(span < Date.parse(used.get("to")) - Date.parse(used.get("from")), "the range is narrower");
  assert.ok(span > 0.05 * 24 * 3600e3 && span < 0.15 * 24 * 3600e3, `the dragged tenth of a day, not ${span} ms`);
  const zoomStats = await api("/logs/stats", sameRange(zoomed, { group_by: "level" }));
  const zoomTotal = zoomStats.groups.reduce((sum, group) => sum + group.count, 0);
  await page.waitForFunction((total) => document.getElementById("histogram-total").dataset.count === String(total), zoomTotal);
  assert.ok(zoomTotal > 0 && zoomTotal < statsTotal, `the zoomed range holds some logs (${zoomTotal})`);
  check(`dragging across the chart zoomed to ${Math.round(span / 60e3)} min holding ${zoomTotal} logs, as /logs/stats says`);

  // 5. Search text, a service chip and a level chip: exactly GET /logs for the same filters.
  used = await logsAfter(page, () => page.goto(`${QUERY}/?range=24h`));
  used = await logsAfter(page, async () => {
    await page.fill("#q", "timeout");
    await page.press("#q", "Enter");
  });
  used = await logsAfter(page, () => page.selectOption("#service-picker", "checkout"));
  used = await logsAfter(page, () => page.selectOption("#level-picker", "INFO"));
  expected = await api("/logs", sameRange(used, { q: "timeout", service: "checkout", level: "INFO", limit: "100" }));
  assert.ok(expected.logs.length > 0, "the filters match some seeded logs");
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id), "rows for q + service + level");
  const chips = await page.$$eval("#chips .chip span", (spans) => spans.map((span) => span.textContent));
  assert.deepEqual(chips.sort(), ["level: INFO", "service: checkout", "text: timeout"]);
  check(`q=timeout + service chip + level chip show exactly the ${expected.logs.length} rows GET /logs returns`);

  // 6. The state is in the URL: a new tab with the link shows the same view.
  const link = page.url();
  const twin = await context.newPage();
  watch(twin);
  const twinUsed = await logsAfter(twin, () => twin.goto(link));
  const twinExpected = await api("/logs", sameRange(twinUsed, { q: "timeout", service: "checkout", level: "INFO", limit: "100" }));
  assert.deepEqual(await rowIds(twin), twinExpected.logs.map((log) => log.id));
  await twin.close();
  check("the URL holds the whole view: a link opens the same rows and chips");

  // 7. Chips are removable; a minimum level and a metadata chip filter as the API does.
  used = await logsAfter(page, () => page.click('#chips button[aria-label="Remove filter level: INFO"]'));
  used = await logsAfter(page, () => page.click('#chips button[aria-label="Remove filter text: timeout"]'));
  used = await logsAfter(page, () => page.selectOption("#min-level", "WARN"));
  used = await logsAfter(page, async () => {
    await page.fill("#metadata-key", "region");
    await page.fill("#metadata-value", "eu");
    await page.press("#metadata-value", "Enter");
  });
  expected = await api("/logs", sameRange(used, { service: "checkout", min_level: "WARN", "metadata.region": "eu", limit: "100" }));
  assert.ok(expected.logs.length > 0);
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id), "rows for min level + metadata");
  check(`min level WARN + region = eu show exactly the ${expected.logs.length} rows GET /logs returns`);

  // 8. A row opens to its metadata; "filter" and "exclude" on a field; exclude a level.
  const first = page.locator("#rows tr.log").first();
  await first.click();
  const detail = page.locator("#rows tr.detail").first();
  const firstLog = expected.logs[0];
  for (const [key, value] of Object.entries(firstLog.metadata)) {
    const line = detail.locator("tr", { has: page.locator("th", { hasText: new RegExp(`^metadata\\.${key}$`) }) });
    assert.equal(await line.locator("td.field-value").textContent(), value, `metadata.${key}`);
  }
  const excludeOn = (field) => detail.locator("tr", { has: page.locator("th", { hasText: new RegExp(`^${field.replace(".", "\\.")}$`) }) }).getByRole("button", { name: "exclude" });
  used = await logsAfter(page, () => excludeOn("level").click());
  const current = { service: "checkout", min_level: "WARN", "metadata.region": "eu", limit: "100" };
  expected = await api("/logs", sameRange(used, { ...current, "exclude.level": firstLog.level }));
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id), "rows after excluding a level");
  assert.ok(!(await page.$$eval("#rows .level", (cells) => cells.map((cell) => cell.textContent))).includes(firstLog.level));
  check(`a row shows its metadata; "exclude" on level ${firstLog.level} gives what GET /logs?exclude.level= gives`);

  // 8b. "exclude" on a service and on a metadata value: chips, the API's exclusions, removable.
  used = await logsAfter(page, () => page.goto(`${QUERY}/?range=24h`));
  const everything = await api("/logs", sameRange(used, { limit: "100" }));
  await page.locator("#rows tr.log").first().click();
  const opened = page.locator("#rows tr.detail").first();
  const newest = everything.logs[0];
  const excludeIn = (field) => opened.locator("tr", { has: page.locator("th", { hasText: new RegExp(`^${field.replace(".", "\\.")}$`) }) }).getByRole("button", { name: "exclude" });
  used = await logsAfter(page, () => excludeIn("service").click());
  await page.locator("#rows tr.log").first().click();
  const reopened = page.locator("#rows tr.detail").first();
  const next = (await api("/logs", sameRange(used, { "exclude.service": newest.service, limit: "100" }))).logs[0];
  const [nextKey, nextValue] = Object.entries(next.metadata)[0];
  used = await logsAfter(page, () => reopened.locator("tr", { has: page.locator("th", { hasText: new RegExp(`^metadata\\.${nextKey}$`) }) }).getByRole("button", { name: "exclude" }).click());
  expected = await api("/logs", sameRange(used, { "exclude.service": newest.service, [`exclude.metadata.${nextKey}`]: nextValue, limit: "100" }));
  assert.ok(expected.logs.length > 0, "the exclusions leave some logs");
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id), "rows after excluding a service and a metadata value");
  for (const log of expected.logs) {
    assert.notEqual(log.service, newest.service);
    assert.notEqual(log.metadata[nextKey], nextValue);
  }
  const exclusionChips = await page.$$eval("#chips .chip span", (spans) => spans.map((span) => span.textContent));
  assert.deepEqual(exclusionChips.sort(), [`metadata.${nextKey} ≠ ${nextValue}`, `service ≠ ${newest.service}`].sort());
  assert.match(page.url(), new RegExp(`exclude\\.service=${encodeURIComponent(newest.service)}`));
  used = await logsAfter(page, () => page.click(`#chips button[aria-label="Remove filter service ≠ ${newest.service}"]`));
  expected = await api("/logs", sameRange(used, { [`exclude.metadata.${nextKey}`]: nextValue, limit: "100" }));
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id), "rows after removing the service exclusion");
  check(`"exclude" on service ${newest.service} and on metadata.${nextKey} = ${nextValue} give what GET /logs?exclude.… gives; the chips remove them`);

  // 9. "All logs of this trace".
  await logsAfter(page, () => page.goto(`${QUERY}/?range=24h&service=gateway`));
  await page.locator("#rows tr.log").first().click();
  used = await logsAfter(page, () => page.getByRole("button", { name: "all logs of this trace" }).click());
  expected = await api("/logs", sameRange(used, { trace_id: env("SEED_TRACE"), limit: "100" }));
  assert.equal(expected.logs.length, 3);
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id));
  check("\"all logs of this trace\" lists the trace's 3 logs across 3 services");
  await page.locator("#rows tr.log").first().click();
  await shot(page, "explorer-trace-light.png");

  // 10. Scrolling loads the next cursor pages: no duplicate, no gap, no page asked twice.
  used = await logsAfter(page, () => page.goto(`${QUERY}/?range=24h&service=paging`));
  const before = requests.length;
  for (let round = 0; round < 20; round += 1) {
    const status = await page.textContent("#table-status");
    if (status.includes("all loaded")) break;
    await page.$eval("#results", (results) => results.scrollTo(0, results.scrollHeight));
    await page.waitForTimeout(300);
  }
  assert.match(await page.textContent("#table-status"), /250 logs: all loaded/);
  const all = await allIds(sameRange(used, { service: "paging" }));
  assert.equal(all.length, 250);
  const ids = await rowIds(page);
  assert.equal(new Set(ids).size, ids.length, "no duplicate row");
  assert.deepEqual(ids, all, "the rows are the API's cursor pages in order");
  const pageRequests = requests.slice(before).filter((url) => new URL(url).pathname === "/logs");
  const cursors = pageRequests.map((url) => new URL(url).searchParams.get("cursor")).filter(Boolean);
  assert.equal(cursors.length, 2, "two more pages after the first");
  assert.equal(new Set(cursors).size, cursors.length, "no cursor asked twice");
  check("scrolling loaded 250 rows by cursor (3 pages): same ids and order as the API, none twice");

  // 11. Export and curl give the current query.
  const download = await Promise.all([page.waitForEvent("download"), page.click("#export")]).then(([d]) => d);
  const exported = readFileSync(await download.path(), "utf8").trim().split("\n").map((line) => JSON.parse(line).id);
  assert.deepEqual(exported, all, "the NDJSON export holds the query's logs");
  await page.click("#curl");
  const curl = await page.textContent("#curl-text");
  assert.match(curl, /^curl -G '/);
  const curlAnswer = JSON.parse(execFileSync("sh", ["-c", curl], { encoding: "utf8" }));
  assert.deepEqual(curlAnswer.logs.map((log) => log.id), all.slice(0, 100), "the curl command's answer");
  await page.click("#curl");
  check("export downloads the query's 250 logs as NDJSON; the copyable curl answers its first page");

  // 12. Live tail: a posted event appears within 2 s; paused, it is counted, then shown.
  await logsAfter(page, () => page.goto(`${QUERY}/?range=1h&service=live`));
  const tailOpen = page.waitForResponse((response) => new URL(response.url()).pathname === "/logs/tail");
  await page.click("#live");
  assert.equal((await tailOpen).status(), 200);
  // The tail starts at "now" once the service has answered; give its first poll a moment.
  await page.waitForTimeout(700);
  const message = `live event ${Date.now()}`;
  await ingest({ service: "live", level: "ERROR", message });
  const started = Date.now();
  await page.locator("#rows tr.log", { hasText: message }).waitFor({ timeout: TAIL_WITHIN_MS });
  const took = Date.now() - started;
  assert.equal(await page.locator("#rows tr.log").first().locator("td.c-message").textContent(), message, "on top");
  check(`live tail showed a posted event after ${took} ms (limit ${TAIL_WITHIN_MS} ms)`);
  await page.click("#pause");
  const held = `held event ${Date.now()}`;
  await ingest({ service: "live", level: "INFO", message: held });
  await page.waitForFunction(() => document.getElementById("paused-count").textContent.startsWith("1 new"), null, { timeout: 10000 });
  assert.equal(await page.locator("#rows tr.log", { hasText: held }).count(), 0, "not shown while paused");
  await page.click("#pause");
  await page.locator("#rows tr.log", { hasText: held }).waitFor({ timeout: 1000 });
  await page.click("#live");
  check("paused, the tail counts new logs (\"1 new while paused\") and shows them on resume");

  // 13. Keyboard only: "/" focuses the search, Enter searches, arrows move, Enter opens a row.
  await logsAfter(page, () => page.goto(`${QUERY}/?range=24h&service=auth`));
  await page.locator("body").click({ position: { x: 5, y: 5 } });
  used = await logsAfter(page, async () => {
    await page.keyboard.press("/");
    await page.keyboard.type("login");
    await page.keyboard.press("Enter");
  });
  expected = await api("/logs", sameRange(used, { service: "auth", q: "login", limit: "100" }));
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id));
  await page.locator("#rows tr.log").first().focus();
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press("Enter");
  assert.equal(await page.locator("#rows tr.log").nth(1).getAttribute("aria-expanded"), "true");
  check("usable from the keyboard: / focuses the search, Enter searches, arrows and Enter open a row");

  // 14. Dark theme, remembered.
  await page.goto(`${QUERY}/?range=24h`);
  await page.waitForFunction(() => document.getElementById("histogram-total").dataset.count !== undefined);
  await page.click("#theme");
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, "rgb(20, 23, 27)");
  await page.waitForFunction(() => !document.getElementById("table-status").textContent.startsWith("Loading"));
  await shot(page, "explorer-dark.png");
  await page.locator("#rows tr.log").nth(2).click();
  await shot(page, "explorer-row-dark.png");
  await page.reload();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  check("the dark theme applies and is remembered");

  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assertNoProblems("in the open mode");
  check("no console error, no failed request, no request to another origin");
}

async function keysMode() {
  allowedStatuses.add(401);
  allowedStatuses.add(403);
  const page = await context.newPage();
  watch(page);
  const dialog = page.locator("#key-dialog");

  // Asked for a key at once; a wrong key is refused with its error, then the right one works.
  await page.goto(`${QUERY}/`);
  await dialog.waitFor({ state: "visible" });
  assert.equal(await page.textContent("#key-problem"), "", "the first ask names no error");
  check("without a key the page asks for one");
  await page.fill("#key-input", "not-the-right-key-at-all");
  const refused = page.waitForResponse((response) => response.status() === 401 && response.request().headers().authorization === "Bearer not-the-right-key-at-all");
  await page.press("#key-input", "Enter");
  await refused;
  await page.waitForFunction(() => document.getElementById("key-problem").textContent.includes("invalid_api_key"));
  assert.ok(await dialog.isVisible());
  check(`a wrong key shows the error: "${await page.textContent("#key-problem")}"`);
  await shot(page, "explorer-key.png");
  const used = await logsAfter(page, async () => {
    await page.fill("#key-input", env("QUERY_KEY"));
    await page.press("#key-input", "Enter");
  });
  await dialog.waitFor({ state: "hidden" });
  const expected = await api("/logs", sameRange(used, { limit: "100" }));
  assert.equal(expected.logs.length, 12);
  assert.deepEqual(await rowIds(page), expected.logs.map((log) => log.id));
  assert.ok(!page.url().includes(env("QUERY_KEY")), "the key is not in the URL");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("log-explorer.api-key")), env("QUERY_KEY"));
  check("with the right key the page shows the 12 logs GET /logs returns; the key is in session storage, not the URL");

  // Asked once: a reload and the histogram, pickers and tail need no second ask.
  problems.length = 0;
  await logsAfter(page, () => page.reload());
  await page.waitForFunction(() => document.getElementById("histogram-total").dataset.count === "12");
  assert.ok(!(await dialog.isVisible()), "no second ask");
  const tailOpen = page.waitForResponse((response) => new URL(response.url()).pathname === "/logs/tail");
  await page.click("#live");
  assert.equal((await tailOpen).status(), 200, "the tail (a streamed fetch) carries the key");
  await page.click("#live");
  const curl = await page.textContent("#curl-text");
  assert.ok(curl.includes("$QUERY_API_KEY") && !curl.includes(env("QUERY_KEY")), "curl names the key, never shows it");
  assertNoProblems("with a good key");
  check("the key is asked once: reload, histogram and live tail work with it; curl does not show it");

  // An ingest key is a valid key of the wrong scope: 403, shown as a message, not an empty table.
  await page.evaluate((key) => sessionStorage.setItem("log-explorer.api-key", key), env("INGEST_KEY"));
  await page.reload();
  await page.waitForFunction(() => document.getElementById("error").textContent.includes("insufficient_scope"));
  assert.match(await page.textContent("#table-status"), /may not read logs/);
  check(`a key of the wrong scope shows: "${await page.textContent("#error")}"`);
  await page.evaluate(() => sessionStorage.clear());
  assert.deepEqual(problems.filter((problem) => !problem.startsWith("HTTP 40")), []);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
}

try {
  if (MODE === "open") await openMode();
  else if (MODE === "keys") await keysMode();
  else throw new Error(`unknown EXPLORER_MODE ${MODE}`);
  console.log("all checks passed");
} catch (error) {
  console.log(`FAILED: ${error.stack || error}`);
  if (problems.length) console.log(`browser problems:\n${problems.join("\n")}`);
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
