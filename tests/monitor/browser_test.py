#!/usr/bin/env python3
"""The Item Sync Monitor in a real browser (Debian's chromium, driven by its chromedriver
through Selenium): two nodes with their sandbox trackers, run by the twinsync binary as a
user runs them, and a person at the monitor who searches an item, opens its pair, reads
the diff between two replicas, presses Retry on a pair in error and sees it turn synced,
and runs Unlink and sees both nodes change. Screenshots go to the artifacts folder.

Usage: browser_test.py TWINSYNC_BINARY ARTIFACTS_DIR
"""

import os
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from nodes import WAIT_S, cli, connected_pair, stop_all, until

REFUSE = 'if replica.summary.contains("refused") { throw "node B takes no summary with refused"; }\n'


def browser(root):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"):
        options.add_argument(arg)
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    # Chromium's own temporary folders (org.chromium.Chromium.*) go under the test's
    # folder, which is removed at the end: in /tmp they were left by every run.
    tmp = os.path.join(root, "chromium-tmp")
    os.makedirs(tmp, exist_ok=True)
    service = Service(executable_path=driver_path, env={**os.environ, "TMPDIR": tmp})
    return webdriver.Chrome(service=service, options=options)


def text_of(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def wait_text(driver, css, text, timeout=WAIT_S):
    """Waits until the element's text holds `text` (the page refreshes itself)."""
    try:
        # The page re-renders every two seconds: an element read mid-render is read again.
        WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css)))
    except TimeoutException:
        raise AssertionError(f"{css} never showed {text!r}; the page says:\n{text_of(driver, 'body')}")


def click(driver, css):
    WebDriverWait(driver, WAIT_S).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))
    driver.find_element(By.CSS_SELECTOR, css).click()


def main(binary, artifacts):
    os.makedirs(artifacts, exist_ok=True)
    root = tempfile.mkdtemp(prefix="twinsync-browser-")
    a = b = driver = None
    try:
        a, b = connected_pair(binary, root)
        connection_b = b.api("GET", "/api/connections")[0]
        incoming = connection_b["versions"][-1]["incoming"]
        # B refuses summaries with "refused" for a while: its twin on A shows the error.
        draft = b.api("POST", f"/api/connections/{connection_b['id']}/versions",
                      {"incoming": REFUSE + incoming, "note": "refuses 'refused'"})["version"]
        b.api("POST", f"/api/connections/{connection_b['id']}/versions/{draft}/activate", {})

        for summary in ("Printer on fire", "Login page refused", "Slow search"):
            a.tracker("POST", "/api/items", {"project": "DEMO", "summary": summary, "labels": ["sync"]})
        until(lambda: (a.twin("DEMO-1") or {}).get("status") == "synced", "DEMO-1 is synced")
        until(lambda: (a.twin("DEMO-2") or {}).get("status") == "error", "DEMO-2 is in error")
        a.tracker("PATCH", "/api/items/DEMO-1", {"summary": "Printer on fire, floor 3"})
        until(lambda: (a.twin("DEMO-1") or {}).get("acked_version", 0) >= 2, "the edit of DEMO-1 is acked")

        # A's workspace: one integration holding the connection, ten items in its plan.
        cli(binary, "workspace", "create", "--data-dir", a.data_dir, "acme", "--name", "Acme support")
        cli(binary, "workspace", "add-integration", "--data-dir", a.data_dir, "--workspace", "acme",
            "demo-support", "--name", "Demo and Support", "--plan", "team", "--capacity", "10")
        cli(binary, "workspace", "assign", "--data-dir", a.data_dir, "--integration", "demo-support",
            a.api("GET", "/api/connections")[0]["id"])

        driver = browser(root)
        driver.get(cli(binary, "monitor", "--data-dir", a.data_dir))
        wait_text(driver, "#view", "A and B")
        wait_text(driver, "#view", "3 / 10")
        wait_text(driver, "#view", "node B takes no summary with refused")
        driver.save_screenshot(os.path.join(artifacts, "1-overview.png"))

        # Search with the keyboard: "/" focuses the search box.
        driver.find_element(By.TAG_NAME, "body").send_keys("/")
        driver.switch_to.active_element.send_keys("printer", Keys.ENTER)
        wait_text(driver, "#view table", "Printer on fire, floor 3")
        rows = driver.find_elements(By.CSS_SELECTOR, "#view tr.row")
        assert len(rows) == 1, f"one pair matches 'printer', the page lists {len(rows)}"
        driver.save_screenshot(os.path.join(artifacts, "2-search.png"))

        # j selects the first row, Enter opens its pair.
        driver.find_element(By.TAG_NAME, "body").send_keys("j", Keys.ENTER)
        twin_key = a.twin("DEMO-1")["remote_key"]
        wait_text(driver, "#pair-title", "DEMO-1")
        wait_text(driver, "#pair-title", twin_key)
        wait_text(driver, "#view", "Printer on fire, floor 3")
        wait_text(driver, "#view", "The newest 50 sent and 50 received are kept.")
        click(driver, "#show-diff")
        wait_text(driver, "#view", "Diff:")
        diff = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tr.change")]
        assert any(r.startswith("summary changed Printer on fire Printer on fire, floor 3") for r in diff), diff
        driver.save_screenshot(os.path.join(artifacts, "3-pair-and-diff.png"))

        # The cause goes away (B activates its version 1 again); Retry sends DEMO-2 again.
        rollback = b.api("POST", f"/api/connections/{connection_b['id']}/versions/1/rollback", {})["version"]
        b.api("POST", f"/api/connections/{connection_b['id']}/versions/{rollback}/activate", {})
        driver.get(driver.current_url.split("#")[0] + "#/search?status=error")
        wait_text(driver, "#view table", "Login page refused")
        driver.find_element(By.LINK_TEXT, "DEMO-2").click()
        wait_text(driver, "#pair-title", "DEMO-2")
        wait_text(driver, "#view", "error: remote")
        click(driver, "#retry")
        wait_text(driver, "#view .status", "synced")
        wait_text(driver, "#pair-title", "SUPPORT-")
        assert any(i["summary"] == "Login page refused" for i in b.tracker("GET", "/api/items")["items"])
        driver.save_screenshot(os.path.join(artifacts, "4-retried-synced.png"))

        # Unlink DEMO-1 from its pair view: both nodes show the pair unlinked.
        driver.get(driver.current_url.split("#")[0] + "#/pair/" + a.twin("DEMO-1")["id"])
        wait_text(driver, "#pair-title", "DEMO-1")
        click(driver, "#unlink")
        wait_text(driver, "#notice", "Unlink DEMO-1:")
        wait_text(driver, "#view .status", "unlinked")
        driver.save_screenshot(os.path.join(artifacts, "5-unlinked-on-a.png"))
        until(lambda: (b.twin(twin_key) or {}).get("status") == "unlinked", f"B unlinks {twin_key}")
        driver.get(cli(binary, "monitor", "--data-dir", b.data_dir))
        wait_text(driver, "#view", "A and B")
        driver.find_element(By.TAG_NAME, "body").send_keys("/")
        driver.switch_to.active_element.send_keys(twin_key, Keys.ENTER)
        wait_text(driver, "#view table", "unlinked")
        driver.save_screenshot(os.path.join(artifacts, "6-unlinked-on-b.png"))
        print(f"browser test passed; screenshots in {artifacts}")
    except Exception:
        if driver is not None:
            driver.save_screenshot(os.path.join(artifacts, "failure.png"))
        for side in (a, b):
            if side is not None:
                side.log.flush()
                print(f"--- node {side.name} log (last 40 lines)", file=sys.stderr)
                with open(os.path.join(side.dir, "node.log")) as f:
                    print("".join(f.readlines()[-40:]), file=sys.stderr)
        raise
    finally:
        if driver is not None:
            driver.quit()
        stop_all(root, a, b)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
