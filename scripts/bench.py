#!/usr/bin/env python3
"""Runs the benchmarks in one go and writes bench-results.json plus a table.

Usage: scripts/bench [ITEMS] [CHANGES]   (the bash wrapper builds the release binary)

Figures, each with its goal (issue "Serverless at the physical limit"):
- latency: webhook received -> twin written, creates, edits, comments and attachments
  one at a time, p50/p99 with 0 ms trackers (the pipeline's overhead), and p50 at 50 ms
  per tracker call set against the floor (the two calls a change cannot do without, one after the other);
- tracker API calls per change, by operation, set against the vendor's minimum (2);
- resume: a paused connection holding 100 x 100 changes, seconds to drain, in order;
- bulk under a budget: 40 items into a sandbox allowing 100 requests a minute, the share
  of that budget used and the 429s that became failures (`twinsync rate-bench`);
- bulk throughput: `twinsync bulk-bench --items ITEMS` (ITEMS items made in sandbox A
  outside live sync, then one Bulk Exalate, timed until every item has its twin in B),
  items/s and the process's peak RSS; and `twinsync demo --items ITEMS` beside it, where
  the items are made while the nodes sync live (most of their webhooks over the nodes'
  limit, brought in by polls);
- rule evaluation: criterion, the default outgoing and incoming scripts, µs per run;
- the monitor's search among 100,000 twins (tests/monitor/search_bench.py), median ms;
- read from the last runs that measure them elsewhere (with the date of that run):
  the AWS cost per million changes (the moto test `functions_on_moto`, written to
  target/bench/aws-cost.json), the deployed arm64 artifacts' size (scripts/sam-build,
  target/bench/sam-build.json), and a function's size and cold init on this machine
  (scripts/cold-start, target/bench/cold-start.json).
Figures not measured yet are listed as such. Timings depend on the machine: this is a
benchmark, never a test.
"""

import datetime
import json
import os
import platform
import subprocess
import sys

# The kinds of change `twinsync latency` times, and the tracker latency of the WAN run.
KINDS = ("create", "edit", "comment", "attachment")
WAN_MS = 50
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
BENCH_DIR = os.path.join(TARGET, "bench")


def run_json(cmd, **kw):
    """Runs cmd and returns the JSON its stdout ends with, and the child's peak RSS (MB)."""
    child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, **kw)
    out = child.stdout.read()
    # wait4 gives this child's own peak (kB on Linux). RUSAGE_CHILDREN would give the
    # largest child this process ever waited for, and the bash wrapper's cargo build
    # (rustc at link time, ~900 MB) counts as one after its exec.
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise subprocess.CalledProcessError(child.returncode, cmd)
    start = out.find("{")
    return json.loads(out[start:]), usage.ru_maxrss / 1024


def criterion_us(name):
    path = os.path.join(TARGET, "criterion", name, "new", "estimates.json")
    with open(path) as f:
        return json.load(f)["median"]["point_estimate"] / 1000


def last_run(name):
    path = os.path.join(BENCH_DIR, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        data = json.load(f)
    data["_measured"] = datetime.datetime.fromtimestamp(os.path.getmtime(path)).isoformat(timespec="minutes")
    return data


def main():
    items = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    changes = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    twinsync = os.path.join(TARGET, "release", "twinsync")
    rows = []

    def row(figure, value, unit, goal=None, met=None, note=""):
        rows.append({"figure": figure, "value": value, "unit": unit, "goal": goal, "met": met, "note": note})

    bulk, rss = run_json([twinsync, "bulk-bench", "--items", str(items), "--json"])
    row(f"Bulk Exalate sandbox -> sandbox, {items} items", round(bulk["items_per_second"], 1), "items/s",
        ">= 1000", bulk["items_per_second"] >= 1000,
        f"converged={bulk['converged']}, {bulk['seconds']:.1f} s from the operation to quiet")
    row("Bulk Exalate peak RSS", round(rss, 1), "MB", "<= 150", rss <= 150)
    demo, rss = run_json([twinsync, "demo", "--items", str(items), "--json"])
    row(f"demo --items {items} (created live, webhooks over the limit polled)", round(demo["items_per_second"], 1),
        "items/s", None, None, f"converged={demo['converged']}, duplicates={demo['duplicates']}, peak RSS {rss:.0f} MB")

    latency, _ = run_json([twinsync, "latency", "--changes", str(changes), "--json"])
    for kind in KINDS:
        f = latency[kind]
        row(f"pipeline overhead, {kind}, p50 (0 ms trackers)", round(f["p50_ms"], 2), "ms", "<= 5", f["p50_ms"] <= 5)
        row(f"pipeline overhead, {kind}, p99", round(f["p99_ms"], 2), "ms", "<= 25", f["p99_ms"] <= 25)
    wan, _ = run_json([twinsync, "latency", "--changes", str(changes), "--tracker-latency-ms", str(WAN_MS), "--json"])
    for kind in KINDS:
        f = wan[kind]
        row(f"end to end at {WAN_MS} ms trackers / floor, {kind}", round(f["p50_over_floor"], 2), "x",
            "<= 1.10", f["p50_over_floor"] <= 1.10, f"p50 {f['p50_ms']:.0f} ms, floor {f['floor_ms']:.0f} ms")
    for kind in KINDS:
        f = wan[kind]
        calls = f"minimum {f['minimum_calls']} calls; " + ", ".join(f"{op} {n:.2f}" for op, n in f["calls"].items())
        row(f"tracker API calls per change / vendor minimum, {kind}", round(f["calls_over_minimum"], 2), "x",
            "1.00", f["calls_over_minimum"] <= 1.0, calls)

    resume, _ = run_json([twinsync, "resume-bench", "--items", "100", "--rounds", "100", "--json"])
    row(f"resume of a paused connection holding {resume['held_changes']} changes", round(resume["drain_seconds"], 1),
        "s to drain", "all in order", resume["in_order"], f"{resume['changes_per_second']:.0f} changes/s")

    rate, _ = run_json([twinsync, "rate-bench", "--items", "40", "--requests-per-minute", "100", "--json"])
    row("bulk under 100 requests/minute: achieved / budget", round(rate["achieved_over_budget"], 3), "x",
        ">= 0.95", rate["achieved_over_budget"] >= 0.95 and rate["failures"] == 0,
        f"{rate['items']} items in {rate['seconds']:.0f} s, {rate['served']} requests of {rate['allowed']:.0f} allowed, "
        f"{rate['refused']} answered 429, {rate['failures']} failures; per item: "
        + ", ".join(f"{op} {n / rate['items']:.2f}" for op, n in sorted(rate["calls"].items())))

    subprocess.run(["cargo", "bench", "--locked", "-p", "twinsync-rules", "--bench", "rules", "--",
                    "--warm-up-time", "1", "--measurement-time", "3"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    for name in ("outgoing default rules", "incoming default rules", "compiled rules from the cache"):
        row(f"rule evaluation: {name}", round(criterion_us(name), 3), "µs per run", note="criterion median; compiled once")

    search, _ = run_json([sys.executable, os.path.join(ROOT, "tests", "monitor", "search_bench.py"), twinsync, "100000"])
    worst = max(search["median_ms"].items(), key=lambda kv: kv[1])
    row("monitor search, 100,000 twins, slowest kind", worst[1], "ms", note=worst[0])

    cost = last_run("aws-cost.json")
    if cost:
        for m in cost["runs"]:
            total = m["bill"]["total"]
            what = m.get("round") or f"{m['changes_at_once']} change(s) at once"
            row(f"AWS cost, {what}", round(total, 2), "$ per million changes",
                "<= 3", total <= 3, f"moto run of {cost['_measured']}")
    else:
        row("AWS cost", None, "$ per million changes", "<= 3", None, "run the moto test functions_on_moto")
    sam = last_run("sam-build.json")
    if sam:
        largest = max(sam["functions"].values())
        row("Lambda artifact, arm64, stripped (the largest of the functions)", round(largest / 1e6, 2), "MB",
            "<= 8", largest <= 8e6,
            f"scripts/sam-build of {sam['date']}, connectors: {sam['connectors']}, {sam['seconds']} s")
    else:
        row("Lambda artifact, arm64", None, "MB", "<= 8", None, "run scripts/sam-build")
    cold = last_run("cold-start.json")
    if cold:
        # The binary the cold init is timed on (this machine's architecture, every
        # connector): the size goal is the deployed arm64 artifact's, the row above.
        row(f"Lambda binary ({cold['binary']}, x86_64 proxy, every connector)", round(cold["size_bytes"] / 1e6, 2),
            "MB", None, None, f"{cold['path']}, {cold['_measured']}")
        row("Lambda cold init, median", cold["median_ms"], "ms", "<= 15", cold["median_ms"] <= 15,
            f"{cold['path']}, {cold['_measured']}")
    else:
        row("Lambda size and cold init", None, "", "<= 8 MB, <= 15 ms", None, "run scripts/cold-start")

    results = {
        "date": datetime.datetime.now().isoformat(timespec="minutes"),
        "machine": {"cpus": os.cpu_count(), "arch": platform.machine(), "system": platform.platform()},
        "figures": rows,
        "raw": {"bulk": bulk, "latency": latency, "latency_wan": wan, "resume": resume, "rate": rate,
                "search": search},
    }
    with open(os.path.join(ROOT, "bench-results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(f"\n| figure | value | unit | goal | met | note |\n|---|---|---|---|---|---|")
    for r in rows:
        met = {True: "yes", False: "no", None: ""}[r["met"]]
        value = "" if r["value"] is None else r["value"]
        print(f"| {r['figure']} | {value} | {r['unit']} | {r['goal'] or ''} | {met} | {r['note']} |")
    print("\nbench: bench-results.json written")


if __name__ == "__main__":
    main()
