#!/usr/bin/env python3
"""The monitor's search at scale: two nodes started by the binary, one pair synced, then
COUNT twins written into node A's database beside it (every 997th in error), and each
kind of search timed through the admin API (median of repeated calls, in ms): the first
page, a page 200 pages deep from its cursor, common and rare text, no match, a key, the
pairs in error, the overview. A benchmark: it prints figures and asserts none.

Usage: search_bench.py TWINSYNC_BINARY [COUNT]
"""

import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from nodes import connected_pair, stop_all, until

WORDS = ["printer", "login", "checkout", "search", "invoice", "mobile", "crash", "timeout"]


def fill(db_path, count):
    db = sqlite3.connect(db_path)
    _, connection, body = db.execute("SELECT id, connection_id, body FROM twins").fetchone()
    body = json.loads(body)
    rows = []
    for i in range(count):
        summary = f"{WORDS[i % len(WORDS)]} issue number {i}"
        error = "remote: refused by the other side's rules" if i % 997 == 0 else None
        body.update(id=f"bench-{i:07d}", local_key=f"DEMO-{i + 10}", remote_key=f"SUPPORT-{i + 10}",
                    created_ms=1_700_000_000_000 + i,
                    status={"status": "error", "message": error} if error else {"status": "synced"})
        body["baseline"]["summary"] = summary
        rows.append((body["id"], connection, body["local_key"], body["remote_key"],
                     "error" if error else "synced", 0, body["created_ms"], json.dumps(body),
                     f"{summary}\n{error or ''}".lower()))
    db.executemany("INSERT INTO twins (id, connection_id, local_key, remote_key, status, revision,"
                   " created_ms, body, search_text) VALUES (?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()


def main(binary, count):
    root = tempfile.mkdtemp(prefix="twinsync-search-bench-")
    a = b = None
    try:
        a, b = connected_pair(binary, root)
        a.tracker("POST", "/api/items", {"project": "DEMO", "summary": "First", "labels": ["sync"]})
        until(lambda: len(a.api("GET", "/api/search?status=synced")["twins"]) == 1, "one pair synced")
        a.stop()
        db = next(os.path.join(d, f) for d, _, fs in os.walk(a.data_dir) for f in fs if f.endswith(".db"))
        started = time.perf_counter()
        fill(db, count)
        print(f"{count} twins written in {time.perf_counter() - started:.1f} s", flush=True)
        a.log = open(os.path.join(a.dir, "node-again.log"), "w")
        a.process = subprocess.Popen([binary, "up", "--config", os.path.join(a.dir, "node.toml")],
                                     stdout=a.log, stderr=subprocess.STDOUT)
        until(a.ready, "node A answers again")

        def median_ms(path, n=20):
            times = []
            for _ in range(n):
                t = time.perf_counter()
                answer = a.api("GET", path)
                times.append((time.perf_counter() - t) * 1000)
            return round(statistics.median(times), 1), answer

        figures = {}
        figures["first page"], first = median_ms("/api/search?limit=50")
        cursor = first["next"]
        # 200 pages deep, or as deep as a smaller COUNT goes.
        deep = min(200, count // 50 - 1)
        for _ in range(deep):
            cursor = a.api("GET", "/api/search?limit=50&cursor=" + cursor)["next"]
        figures[f"page {deep + 1}, from its cursor"], _ = median_ms("/api/search?limit=50&cursor=" + cursor)
        figures["common text (1 in 8)"], _ = median_ms("/api/search?q=printer&limit=50")
        figures["rare text (error, 1 in 997)"], _ = median_ms("/api/search?q=refused&limit=50")
        figures["text found nowhere"], _ = median_ms("/api/search?q=nothing-matches&limit=50")
        figures["a key"], _ = median_ms(f"/api/search?q=DEMO-{count // 2}&limit=50")
        figures["status error"], _ = median_ms("/api/search?status=error&limit=50")
        figures["overview"], _ = median_ms("/api/monitor", 5)
        print(json.dumps({"twins": count, "median_ms": figures}, indent=1))
    finally:
        stop_all(root, a, b)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 100_000)
