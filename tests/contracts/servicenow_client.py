"""pysnc, ServiceNow's own Python client, against the fake ServiceNow.

Driven by the Rust e2e test `servicenow::pysnc_talks_to_the_fake`, which starts the fake
and reads the JSON this prints. Modes:

  main URL USER PASSWORD CA    create, read, query, update, comment, transition (with the
                               close code and notes a resolve needs), search in batches,
                               a 404
  limited URL USER PASSWORD CA the next request is a 429 (the test injects it): without
                               retries pysnc raises it; with its own retries it waits and
                               gets through (mode `retried`)

pysnc speaks only HTTPS: the fake serves it with a test CA whose certificate is in CA.
"""

import json
import sys

from pysnc import ServiceNowClient
from pysnc.exceptions import RequestException


def main(url, user, password, ca):
    client = ServiceNowClient(url, (user, password), verify=ca, auto_retry=False)
    seen = {}

    gr = client.GlideRecord("incident")
    gr.initialize()
    gr.short_description = "Created by pysnc"
    gr.category = "software"
    gr.impact = "1"
    gr.urgency = "1"
    sys_id = str(gr.insert())

    read = client.GlideRecord("incident")
    assert read.get(sys_id), "the record is read back"
    seen["number"] = read.get_value("number")
    # The instance computes the priority from impact and urgency.
    seen["priority"] = read.get_display_value("priority")

    read.short_description = "Updated by pysnc"
    read.update()
    read.comments = "A comment from pysnc"
    read.update()
    read.state = "2"
    read.update()
    read.state = "6"
    try:
        read.update()
        seen["resolve_without_close"] = "accepted"
    except Exception as e:  # The data policy refuses it with a 403, as ServiceNow does.
        seen["resolve_without_close"] = type(e).__name__
    read.state = "6"
    read.close_code = "Solved (Permanently)"
    read.close_notes = "Fixed by pysnc"
    read.update()

    again = client.GlideRecord("incident")
    again.add_query("number", seen["number"])
    again.query()
    assert again.next()
    seen["state"] = again.get_display_value("state")
    seen["summary"] = again.get_value("short_description")

    journal = client.GlideRecord("sys_journal_field")
    journal.add_query("element_id", sys_id)
    journal.add_query("element", "comments")
    journal.query()
    seen["comments"] = [j.get_value("value") for j in journal]

    for i in range(5):
        more = client.GlideRecord("incident")
        more.initialize()
        more.short_description = f"Batch {i}"
        more.category = "hardware"
        more.insert()
    batched = client.GlideRecord("incident", batch_size=2)
    batched.add_query("category", "hardware")
    batched.order_by("number")
    batched.query()
    seen["listed"] = [b.get_value("short_description") for b in batched]
    seen["row_count"] = batched.get_row_count()

    missing = client.GlideRecord("incident")
    seen["found_missing"] = missing.get("0123456789abcdef0123456789abcdef")
    return seen


def limited(url, user, password, ca):
    seen = {}
    plain = ServiceNowClient(url, (user, password), verify=ca, auto_retry=False)
    gr = plain.GlideRecord("incident")
    try:
        gr.get("number", "INC0010001")
        seen["without_retry"] = "ok"
    except RequestException as e:
        seen["without_retry"] = "429" if "Rate limit exceeded" in str(e) else str(e)
    return seen


def retried(url, user, password, ca):
    client = ServiceNowClient(url, (user, password), verify=ca)
    gr = client.GlideRecord("incident")
    return {"with_retry": bool(gr.get("number", "INC0010001"))}


if __name__ == "__main__":
    mode, url, user, password, ca = sys.argv[1:6]
    run = {"main": main, "limited": limited, "retried": retried}[mode]
    print(json.dumps(run(url, user, password, ca)))
