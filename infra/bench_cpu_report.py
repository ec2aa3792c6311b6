#!/usr/bin/env python3
"""The report of infra/bench-cpu.sh: CPU microseconds per event of every process, baseline against
candidate (medians of the interleaved rounds, and their ratio), then the batch-size sweep.

Usage: bench_cpu_report.py RESULTS_DIR  (reads runs.jsonl and machine.json, prints markdown)
"""

import json
import statistics
import sys
from pathlib import Path

COMPONENTS = ["ingestion", "worker", "redis", "clickhouse", "loadgen"]
OUTSIDE_CLICKHOUSE = ["ingestion", "worker", "redis"]


def events_of(run):
    """Events the run's CPU was spent on: every accepted event (warm-up included) was stored."""
    return run.get("accepted_including_warmup", run["accepted"])


def micros_per_event(run, component):
    return run["cpu_s"][component] * 1e6 / max(events_of(run), 1)


def rate_of(run):
    if run["scenario"] == "single":
        return run["requests_per_second"]
    return run["end_to_end_events_per_second"]


def median(values):
    return statistics.median(values) if values else float("nan")


def fmt(value, digits=2):
    if value != value:  # NaN
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(candidate, baseline):
    if not baseline or baseline != baseline or candidate != candidate:
        return "-"
    return f"{candidate / baseline:.2f}x"


def comparison(runs, scenario, machine):
    both = {
        variant: [
            run
            for run in runs
            # round 0: the sweep's runs, not interleaved
            if run["scenario"] == scenario and run["variant"] == variant and run["round"] > 0
        ]
        for variant in ("baseline", "candidate")
    }
    if not both["baseline"] or not both["candidate"]:
        return []
    if scenario == "batch":
        title = (
            f"### Batch: {both['baseline'][0]['events']:,} events, {both['baseline'][0]['batch']:,} a request, "
            f"{machine['batch_connections']} connections, until ClickHouse counts them"
        )
        rate_name = "events/s end to end"
    else:
        title = (
            f"### Single events: `POST /ingest` at {machine['connections']} connections, "
            f"{machine['single_seconds']} s after 2 s of warm-up, until ClickHouse counts them"
        )
        rate_name = "requests/s"
    lines = [
        title,
        "",
        f"Runs per build: {len(both['baseline'])} baseline, {len(both['candidate'])} candidate "
        "(medians; ratio = candidate / baseline, below 1 is less CPU).",
        "",
        "| figure | baseline | candidate | ratio | candidate runs |",
        "|---|---|---|---|---|",
    ]
    for component in COMPONENTS:
        base = median([micros_per_event(run, component) for run in both["baseline"]])
        cand_values = [micros_per_event(run, component) for run in both["candidate"]]
        cand = median(cand_values)
        lines.append(
            f"| {component} CPU µs/event | {fmt(base)} | {fmt(cand)} | {ratio(cand, base)} | "
            + ", ".join(fmt(value) for value in cand_values)
            + " |"
        )
    base = median(
        [sum(micros_per_event(run, c) for c in OUTSIDE_CLICKHOUSE) for run in both["baseline"]]
    )
    cand = median(
        [sum(micros_per_event(run, c) for c in OUTSIDE_CLICKHOUSE) for run in both["candidate"]]
    )
    lines.append(
        f"| **ingestion + worker + Redis µs/event** | **{fmt(base)}** | **{fmt(cand)}** | "
        f"**{ratio(cand, base)}** | |"
    )
    base_rates = [rate_of(run) for run in both["baseline"]]
    cand_rates = [rate_of(run) for run in both["candidate"]]
    lines.append(
        f"| {rate_name} | {fmt(median(base_rates))} | {fmt(median(cand_rates))} | "
        f"{ratio(median(cand_rates), median(base_rates))} | "
        + ", ".join(fmt(value) for value in cand_rates)
        + " |"
    )
    latency = "latency" if scenario == "single" else "request_latency"
    base_p99 = median([run[latency]["p99_ms"] for run in both["baseline"]])
    cand_p99 = median([run[latency]["p99_ms"] for run in both["candidate"]])
    lines.append(
        f"| request p99 ms | {fmt(base_p99)} | {fmt(cand_p99)} | {ratio(cand_p99, base_p99)} | |"
    )
    for process in ("ingestion", "worker"):
        base_rss = max(run["rss_mb"][process] for run in both["baseline"])
        cand_rss = max(run["rss_mb"][process] for run in both["candidate"])
        lines.append(
            f"| {process} peak RSS MB (max) | {fmt(base_rss, 1)} | {fmt(cand_rss, 1)} | "
            f"{ratio(cand_rss, base_rss)} | |"
        )
    lines.append(
        "| load average (1 min) at the start of the runs | "
        f"{fmt(median([run['load1'] for run in both['baseline']]))} | "
        f"{fmt(median([run['load1'] for run in both['candidate']]))} | | |"
    )
    return lines + [""]


def sweep(runs, machine):
    by_size = [
        run
        for run in runs
        if run["round"] == 0 and worker_batch(run) is None
    ]
    by_worker = [run for run in runs if run["round"] == 0 and worker_batch(run) is not None]
    lines = []
    header = (
        "| {} | events | events/s end to end | ingestion | worker | Redis | ClickHouse | loadgen "
        "| ingestion + worker + Redis |"
    )
    if by_size:
        lines += [
            "### How CPU per event moves with the request's batch size (candidate)",
            "",
            f"`loadgen batch` over {machine['batch_connections']} connections; CPU in µs per event.",
            "",
            header.format("events a request"),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for run in sorted(by_size, key=lambda run: run["batch"]):
            lines.append(row(run, f"{run['batch']:,}"))
        lines.append("")
    if by_worker:
        lines += [
            "### How CPU per event moves with the worker's batch size (candidate)",
            "",
            f"{machine['batch']:,} events a request; `WORKER_BATCH_SIZE` as shown; CPU in µs per event.",
            "",
            header.format("WORKER_BATCH_SIZE"),
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for run in sorted(by_worker, key=worker_batch):
            lines.append(row(run, f"{worker_batch(run):,}"))
        lines.append("")
    return lines


def worker_batch(run):
    """The WORKER_BATCH_SIZE a sweep run set, if any."""
    for setting in run["settings"].split():
        if setting.startswith("WORKER_BATCH_SIZE="):
            return int(setting.split("=", 1)[1])
    return None


def row(run, label):
    cells = [fmt(micros_per_event(run, component)) for component in COMPONENTS]
    outside = sum(micros_per_event(run, component) for component in OUTSIDE_CLICKHOUSE)
    return (
        f"| {label} | {events_of(run):,} | {fmt(rate_of(run))} | "
        + " | ".join(cells)
        + f" | {fmt(outside)} |"
    )


def main():
    results = Path(sys.argv[1])
    machine = json.loads((results / "machine.json").read_text())
    runs = [json.loads(line) for line in (results / "runs.jsonl").read_text().splitlines() if line]
    lines = [
        f"Run of {machine['date']}, {machine['seconds']} s in all, on {machine['nproc']} cores "
        f"({machine['cpu']}); ClickHouse {machine['clickhouse']}, Redis {machine['redis']}, "
        f"rustc {machine['rustc']}, services at `RUST_LOG={machine['rust_log']}`. Load average "
        f"before the runs {machine['load_before']}, after {machine['load_after']}.",
        "",
        f"- baseline: `{machine['baseline'].strip()}`",
        f"- candidate: `{machine['candidate'].strip()}`"
        + (f", with `{machine['candidate_settings']}`" if machine.get("candidate_settings") else ""),
        "",
    ]
    for scenario in ("batch", "single"):
        lines += comparison(runs, scenario, machine)
    lines += sweep(runs, machine)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
