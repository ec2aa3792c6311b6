// Live tail: follows `/logs/tail` for the current filters and puts new logs on top of the table;
// paused, it holds them and counts them, and shows them on resume.

import { ApiError, followTail } from "./api.js";

export class LiveTail {
  /**
   * `controls`: the Live and Pause buttons and the counter; `filters()` the current filters (no
   * time range); `onError(error)` shows a problem.
   */
  constructor(controls, table, filters, onError) {
    this.controls = controls;
    this.filters = filters;
    this.table = table;
    this.onError = onError;
    this.current = null;
    controls.live.addEventListener("click", () => (this.current ? this.stop() : this.start()));
    controls.pause.addEventListener("click", () => this.togglePause());
  }

  get running() {
    return this.current !== null;
  }

  /** Follows the current filters, instead of what it followed before. */
  start() {
    const params = this.filters();
    if (this.current) this.current.controller.abort();
    const current = { controller: new AbortController(), paused: false, held: [] };
    this.current = current;
    this.controls.live.setAttribute("aria-pressed", "true");
    this.controls.live.textContent = "Live: on";
    this.controls.pause.hidden = false;
    this.render();
    followTail(params, {
      signal: current.controller.signal,
      onLog: (log) => {
        if (current.paused) {
          current.held.push(log);
          this.render();
        } else {
          this.table.prepend([log]);
        }
      },
      onSkipped: (count) => this.onError(new ApiError(0, { reason: `The live tail fell behind and skipped ${count} logs.` })),
    }).catch((error) => {
      if (current.controller.signal.aborted) return;
      this.onError(error);
      this.stop();
    });
  }

  stop() {
    if (this.current) this.current.controller.abort();
    this.current = null;
    this.controls.live.setAttribute("aria-pressed", "false");
    this.controls.live.textContent = "Live";
    this.controls.pause.hidden = true;
    this.controls.counter.hidden = true;
  }

  togglePause() {
    const current = this.current;
    if (!current) return;
    current.paused = !current.paused;
    if (!current.paused) {
      this.table.prepend(current.held);
      current.held = [];
    }
    this.render();
  }

  render() {
    const { paused, held } = this.current;
    this.controls.pause.textContent = paused ? "Resume" : "Pause";
    this.controls.pause.setAttribute("aria-pressed", String(paused));
    this.controls.counter.hidden = !paused;
    this.controls.counter.textContent = `${held.length} new while paused`;
  }
}
