"""Two twinsync nodes with their sandbox trackers, run by the twinsync binary as a user runs
them (`twinsync up` on a config of their own, free ports, a temporary folder), for the
monitor's browser test and the admin API's schemathesis run."""

import json
import shutil
import os
import socket
import subprocess
import time
import urllib.request

WAIT_S = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Side:
    """One node and its sandbox tracker, started with `twinsync up` on a config of its own."""

    def __init__(self, binary, root, name, project):
        self.name, self.project = name, project
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.sandbox_port, self.public_port, self.admin_port = free_port(), free_port(), free_port()
        config = os.path.join(self.dir, "node.toml")
        with open(config, "w") as f:
            f.write(f"""
[[sandbox]]
id = "{name}"
listen = "127.0.0.1:{self.sandbox_port}"
db = "sandbox.db"
projects = [{{ key = "{project}", name = "{project}" }}]

[[node]]
id = "node-{name}"
data_dir = "node"
listen = "127.0.0.1:{self.public_port}"
admin_listen = "127.0.0.1:{self.admin_port}"

[[node.instance]]
id = "sandbox-{name}"
connector = "sandbox"
base_url = "sandbox:{name}"
webhook_secret = "a-long-random-webhook-secret-for-{name}"
""")
        self.log = open(os.path.join(self.dir, "node.log"), "w")
        self.process = subprocess.Popen([binary, "up", "--config", config], stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self.data_dir = os.path.join(self.dir, "node")
        until(lambda: os.path.exists(os.path.join(self.data_dir, "admin-token")), f"node {name} starts")
        self.token = open(os.path.join(self.data_dir, "admin-token")).read().strip()
        self.admin = f"http://127.0.0.1:{self.admin_port}"
        until(lambda: self.ready(), f"node {name} answers")

    def ready(self):
        try:
            self.api("GET", "/api/health")
            return True
        except OSError:
            return False

    def api(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.admin + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def tracker(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.sandbox_port}{path}", data=data,
                                     method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def twin(self, key):
        page = self.api("GET", "/api/search?q=" + key)
        return next((t for t in page["twins"] if key in (t["local_key"], t["remote_key"])), None)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def until(check, what, timeout=WAIT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting until {what}")


def cli(binary, *args):
    return subprocess.run([binary, *args], check=True, capture_output=True, text=True).stdout.strip()




def connected_pair(binary, root):
    """Nodes A (project DEMO) and B (project SUPPORT), joined by the README's invitation:
    A invites with the trigger `labels = sync`, B accepts."""
    a = Side(binary, root, "a", "DEMO")
    try:
        b = Side(binary, root, "b", "SUPPORT")
    except Exception:
        a.stop()
        raise
    code = cli(binary, "connection", "invite", "--data-dir", a.data_dir, "--instance", "sandbox-a",
               "--project", "DEMO", "--trigger", "labels = sync", "--name", "A and B")
    cli(binary, "connection", "accept", "--data-dir", b.data_dir, "--instance", "sandbox-b",
        "--project", "SUPPORT", code)
    return a, b


def stop_all(root, *sides):
    """Stops the nodes that were started (None for one that never was) and removes
    their folder."""
    for side in sides:
        if side is not None:
            side.stop()
    shutil.rmtree(root, ignore_errors=True)
