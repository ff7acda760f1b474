#!/usr/bin/env python3
"""The admin API against its own OpenAPI description: two nodes joined by a connection,
a few items synced (so twins, replicas, events and jobs exist), then schemathesis runs
every check it has against node A's admin listener with the admin token. Any finding
fails the run.

Usage: schema_test.py TWINSYNC_BINARY REPORT_DIR [MAX_EXAMPLES]
"""

import json
import os
import subprocess
import sys
import tempfile

from nodes import connected_pair, stop_all, until

HERE = os.path.dirname(os.path.abspath(__file__))


def main(binary, reports, max_examples):
    os.makedirs(reports, exist_ok=True)
    root = tempfile.mkdtemp(prefix="twinsync-schema-")
    a = b = None
    try:
        a, b = connected_pair(binary, root)
        for n in range(3):
            a.tracker("POST", "/api/items", {"project": "DEMO", "summary": f"Item {n}", "labels": ["sync"]})
        until(lambda: len(a.api("GET", "/api/search?status=synced")["twins"]) == 3, "three pairs are synced")
        spec = os.path.join(reports, "openapi.json")
        with open(spec, "w") as f:
            json.dump(a.api("GET", "/api/openapi.json"), f, indent=1)
        command = [
            "schemathesis", "--config-file", os.path.join(HERE, "schemathesis.toml"), "run", spec,
            "--url", a.admin,
            "--header", f"Authorization: Bearer {a.token}",
            "--checks", "all",
            "--max-examples", str(max_examples),
            "--workers", "2",
            "--seed", "1",
            "--report", "junit",
            "--report-dir", reports,
        ]
        print("running:", " ".join(c if a.token not in c else "Authorization: Bearer ***" for c in command),
              flush=True)
        result = subprocess.run(command)
        sys.exit(result.returncode)
    finally:
        stop_all(root, a, b)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) == 4 else 30)
