// The volume chart: `/logs/histogram?by=level` as bars stacked by level (uPlot), with the total
// of the range beside it; dragging across it zooms the time range.

import uPlot from "./uPlot.esm.js";
import { LEVELS } from "./state.js";

// Bottom of the stack first: the severe levels stay visible at the base of each bar.
const STACK = [...LEVELS].reverse();

function color(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export class Histogram {
  /** `onZoom(fromMs, toMs)` when a range is dragged across the chart. */
  constructor(container, parts, onZoom) {
    this.container = container;
    this.parts = parts;
    this.onZoom = onZoom;
    this.plot = null;
    this.buckets = [];
    this.intervalMs = 60e3;
    this.range = null;
    new ResizeObserver(() => this.resize()).observe(container);
  }

  /** Draws `buckets` (the API's) of `intervalMs` over `range`. */
  draw(buckets, intervalMs, range) {
    this.buckets = buckets;
    this.intervalMs = intervalMs;
    this.range = range;
    const totals = Object.fromEntries(LEVELS.map((level) => [level, 0]));
    let total = 0;
    for (const bucket of buckets) {
      total += bucket.count;
      for (const [level, count] of Object.entries(bucket.levels || {})) {
        totals[level] = (totals[level] || 0) + count;
      }
    }
    this.parts.total.textContent = `${total.toLocaleString()} log${total === 1 ? "" : "s"}`;
    this.parts.total.dataset.count = String(total);
    const legend = document.createDocumentFragment();
    for (const level of LEVELS) {
      if (!totals[level]) continue;
      const item = document.createElement("span");
      item.className = `legend-item level-${level}`;
      item.textContent = `${level} ${totals[level].toLocaleString()}`;
      legend.append(item);
    }
    this.parts.legend.replaceChildren(legend);
    this.render();
  }

  /** The data as uPlot wants it: x (bucket middles, seconds) and one cumulative series per level. */
  data() {
    const xs = this.buckets.map((bucket) => (Date.parse(bucket.start) + this.intervalMs / 2) / 1000);
    const running = this.buckets.map(() => 0);
    const stacked = STACK.map((level) =>
      this.buckets.map((bucket, index) => {
        running[index] += (bucket.levels && bucket.levels[level]) || 0;
        return running[index];
      }),
    );
    // Tallest (all levels) drawn first, each lower sum over it.
    return [xs, ...stacked.reverse()];
  }

  render() {
    if (this.plot) this.plot.destroy();
    this.container.replaceChildren();
    if (!this.range) return;
    const axis = { stroke: color("--muted"), grid: { stroke: color("--grid"), width: 1 }, ticks: { stroke: color("--grid") } };
    const bars = uPlot.paths.bars({ size: [0.9, 40], align: 0 });
    const series = [{}];
    for (const level of [...STACK].reverse()) {
      const fill = color(`--level-${level}`);
      series.push({ label: level, fill, stroke: fill, width: 0, paths: bars, points: { show: false } });
    }
    const options = {
      width: Math.max(this.container.clientWidth, 200),
      height: 120,
      legend: { show: false },
      cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
      select: { show: true },
      scales: { x: { time: true, range: () => [this.range.from / 1000, this.range.to / 1000] }, y: { range: (u, min, max) => [0, Math.max(max, 1)] } },
      axes: [axis, { ...axis, size: 44, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6] }],
      series,
      hooks: {
        setSelect: [(plot) => this.selected(plot)],
        setCursor: [(plot) => this.hovered(plot)],
      },
    };
    this.plot = new uPlot(options, this.data(), this.container);
  }

  selected(plot) {
    const { left, width } = plot.select;
    if (width < 3) return;
    const from = plot.posToVal(left, "x") * 1000;
    const to = plot.posToVal(left + width, "x") * 1000;
    plot.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
    this.onZoom(Math.floor(from), Math.ceil(to));
  }

  hovered(plot) {
    const index = plot.cursor.idx;
    const bucket = index === null || index === undefined ? null : this.buckets[index];
    if (!bucket) {
      this.parts.hover.textContent = "";
      return;
    }
    const start = new Date(bucket.start);
    const parts = LEVELS.filter((level) => bucket.levels && bucket.levels[level]).map((level) => `${level} ${bucket.levels[level]}`);
    this.parts.hover.textContent = `${start.toLocaleString()}: ${bucket.count} (${parts.join(", ") || "none"})`;
    this.parts.hover.title = `${bucket.start} (UTC)`;
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(this.container.clientWidth, 200), height: 120 });
  }
}
