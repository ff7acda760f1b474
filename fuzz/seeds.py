#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/<target>/) from the repository's fixtures and a
few hand-made inputs. Run it again after the fixtures change; the fuzzer's own finds
stay out of the repository (scripts/fuzz runs on a copy)."""

import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
FIX = os.path.join(ROOT, "tests", "fixtures")
NOW_MS = 1_795_428_841_000  # common.rs NOW_MS


def read(path):
    with open(os.path.join(ROOT, path), "rb") as f:
        return f.read()


def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def write(target, seeds):
    out = os.path.join(CORPUS, target)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    for seed in seeds:
        if isinstance(seed, str):
            seed = seed.encode()
        # Named by content, as libFuzzer names what it finds.
        name = hashlib.sha1(seed).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(seed)
    print(f"{target}: {len(seeds)} seeds")


def fixture_json(pattern):
    return [json.loads(read(p)) for p in sorted(glob.glob(os.path.join(FIX, pattern)))]


adf = fixture_json("jira/adf/*.json") + fixture_json("jira/adf-deep/*.json")
markdown = [f["markdown"] for f in adf if "markdown" in f] + [
    "## Steps\n\n1. Add item 1 to the cart\n2. Pay with **card**\n\n`HTTP 502` from `/pay`.",
    "- tight\n- list",
    "> quote\n\ntext",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "[@Ana](mention:5b10a2844c20165700ede21g) ~~gone~~ *it* \\*",
    "```rust\nfn main() {}\n```",
]

# Rich text the trackers hold: Azure DevOps' HTML fields and Zendesk's html_body.
html = []
for p in ["ado/get-work-item.json", "ado/comments-page.json", "zendesk/comments.json"]:
    text = read(f"tests/fixtures/{p}").decode()
    html += [h for h in re.findall(r'"(?:System\.Description|text|html_body)"\s*:\s*"((?:[^"\\]|\\.)*<(?:[^"\\]|\\.)*)"', text)]
html = [json.loads(f'"{h}"') for h in html][:12]

# Webhook payloads.
octokit = os.path.join(ROOT, "tests/contracts/node_modules/@octokit/webhooks-examples/api.github.com/index.json")
github = []
if os.path.exists(octokit):
    for event in json.load(open(octokit)):
        take = {"issues": 6, "issue_comment": 3, "ping": 1}.get(event["name"], 0)
        github += [compact(e) for e in event["examples"][:take]]
else:
    print("the GitHub examples are missing: npm ci --prefix tests/contracts", file=sys.stderr)
    sys.exit(1)
github.append(compact({"action": "opened", "issue": {"number": 7, "title": "t", "updated_at": "2026-11-23T10:00:00Z",
                                                    "repository_url": "https://api.github.com/repos/o/r"},
                       "repository": {"full_name": "o/r"}}))

sandbox = [compact({"event": e, "deliveryId": d, "timestamp": NOW_MS // 1000,
                    "item": {"key": "DEMO-7", "project": "DEMO", "version": 3, "updatedMs": NOW_MS, **o}})
           for e, d, o in [("item.updated", "d-1", {}), ("item.created", "", {"origin": "twinsync:n:a"}),
                           ("comment.created", "d-3", {})]]
sandbox.append(b'{"event":"x","deliveryId":"d","timestamp":0,"item":{"key":"","project":"","version":0,"updatedMs":0}}')

servicenow = [compact({"table": t, "sys_id": "46d44a23a9fe19810012d100cca80666", "number": n, "operation": op,
                       "sys_updated_on": "2026-11-23 10:14:01", "sys_mod_count": c, "sent_at": s})
              for t, n, op, c, s in [("incident", "INC0010001", "update", "3", NOW_MS),
                                     ("incident", "INC0010002", "insert", "0", NOW_MS - 1000),
                                     ("problem", "PRB0000001", "update", "1", NOW_MS),
                                     ("incident", "INC0010003", "update", "x", NOW_MS - 600_000)]]

zendesk = [read("tests/fixtures/zendesk/webhook_ticket_event.json"),
           compact({"ticket_id": "35436", "updated_at": "2026-11-23T10:14:01Z", "group": "Support"}),
           compact({"ticket_id": 35437}),
           compact({"type": "zen:event-type:ticket.comment_added", "detail": {"id": "35438"}})]

ado = [read(p) for p in sorted(glob.glob(os.path.join(FIX, "ado/hook-*.json")))]
ado.append(compact({"id": "e-1", "eventType": "workitem.updated",
                    "resource": {"workItemId": 42, "rev": 5, "revision": {"rev": 5, "fields": {"System.TeamProject": "Demo"}}}}))
ado.append(compact({"eventType": "workitem.deleted", "resource": {"id": 43, "rev": 9, "fields": {}}}))

jira = [read(p) for p in sorted(glob.glob(os.path.join(FIX, "jira/contract/webhook-*.json")))]
jira.append(compact({"webhookEvent": "jira:issue_deleted", "timestamp": NOW_MS, "issue": {"key": "DEMO-9"}}))

salesforce = [read("tests/fixtures/salesforce/outbound-message.xml")]
redmine = [
    compact({"issue": {"id": 7, "project": {"id": 1, "name": "Demo"}, "subject": "Crash", "description": "line\r\nnext",
                       "status": {"id": 1, "name": "New"}, "priority": {"id": 2, "name": "Normal"},
                       "custom_fields": [{"id": 1, "name": "origin", "value": "twinsync:n:b"}, {"id": 5, "name": "Team", "value": "Red"}],
                       "updated_on": "2026-11-23T04:59:10Z",
                       "journals": [{"id": 1, "notes": "", "created_on": "2026-11-23T04:59:09Z"},
                                    {"id": 2, "user": {"id": 3, "name": "Ana"}, "notes": "hi\r\n\r\n<!-- twinsync-origin: twinsync:c:9 -->",
                                     "created_on": "2026-11-23T04:59:10Z"}],
                       "attachments": [{"id": 4, "filename": "a.txt", "filesize": 3, "content_type": "text/plain",
                                        "content_url": "https://redmine.example/attachments/download/4/a.txt"}]}}),
    compact({"issue": {"id": 8, "journals": [{"id": 1, "notes": "plain\n"}]}}),
]

queries = ["project = DEMO AND labels = sync", "status IN (Open, \"In Progress\")", "status NOT IN (Open)",
           "summary ~ crash", "summary !~ crash", "NOT priority = Low",
           "priority = Low OR (labels = ui AND status = Open)", "assignee = ana@example.com",
           "reporter = EMPTY", "cf.team = red", "key = DEMO-7", "project =", "(project = DEMO",
           "project = \"DEMO", "status ! Open"]

configs = [read(p) for p in sorted(glob.glob(os.path.join(ROOT, "examples/**/*.toml"), recursive=True))]

message = [
    compact({"type": "replica", "connection_id": "demo", "from_node": "node-a", "source_key": "DEMO-7",
             "source_url": "sandbox:a/DEMO-7", "target_key": None, "version": 3,
             "source_twin": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
             "hub_issue": {"summary": "Crash", "comments": [{"id": "1", "body": "hi"}], "n": 1.5},
             "source_updated_ms": NOW_MS, "sent_ms": NOW_MS, "trace_id": "t-1"}),
    compact({"type": "ack", "connection_id": "demo", "from_node": "node-b", "source_key": "DEMO-7",
             "target_key": "B-1", "target_url": None, "applied_version": 3, "source_twin": "x",
             "comment_links": [{"local_id": "9", "remote_id": "1"}], "remote_view": None,
             "remote_out_version": 2, "error": None, "trace_id": "t-1"}),
    compact({"type": "control", "connection_id": "demo", "from_node": "node-a", "id": "op-1", "op": "relink",
             "source_key": "DEMO-7", "target_key": None, "answer": {"outcome": "done", "detail": "ok"},
             "trace_id": "t-2"}),
]

body = [b"\x00" + message[0], b"\x41" + gzip.compress(message[1], mtime=0), b"\x80" + message[2],
        b"\xc1" + gzip.compress(b"x" * 5000, mtime=0)]

transport = [("x-twinsync-connection: c\nx-twinsync-node: a\nx-twinsync-timestamp: %d\n"
              "x-twinsync-nonce: 0f1e2d3c\nx-twinsync-signature: %s\n\n" % (NOW_MS, "ab" * 32)) + m.decode()
             for m in message]

invitation = [compact({"secret": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
                        "connection_id": "demo", "connection_type": t, "connection_name": "Demo",
                        "initiator_node": "node-a", "product_version": "0.1.0", "tracker_type": "sandbox",
                        "tracker_url": "sandbox:a", "node_url": "https://a.example", "instance_id": "sandbox-a",
                        "expires_ms": NOW_MS, **extra})
              for t, extra in [("public", {}), ("private", {"max_body": 1048576}), ("local", {})]]
invitation.append(b"tsinv1.e30.44136fa355b3")

write("invitation_decode", invitation)
write("webhook_sandbox", sandbox)
write("webhook_github", github)
write("webhook_jira", jira)
write("webhook_ado", ado)
write("webhook_servicenow", servicenow)
write("webhook_zendesk", zendesk)
write("salesforce_outbound", salesforce)
write("redmine_journals", redmine)
write("adf_from_markdown", markdown)
write("adf_to_markdown", [compact(f) for f in adf])
write("html_markdown", html + markdown)
write("trigger_filter", queries)
write("config_toml", configs)
write("transport_message", message)
write("body_decode", body)
write("transport_verify", transport)
