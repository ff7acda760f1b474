//! Two real `twinsync up` processes on loopback with their own data dirs and sandbox
//! trackers: invite, accept, sync both ways, kill one for a while, converge. The CLI finds
//! each node's admin API and token in its data dir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_twinsync");

/// A port reserved for a server of a `twinsync up` child, held until the test ends.
fn reserve() -> twinsync_fakes::ports::ReservedPort {
    twinsync_fakes::ports::reserve_port().unwrap()
}

/// Kills the process when the test ends, however it ends.
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_config(
    dir: &Path,
    x: &str,
    project: &str,
    sandbox_port: u16,
    node_port: u16,
) -> std::path::PathBuf {
    let path = dir.join(format!("node-{x}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"
[[sandbox]]
id = "{x}"
listen = "127.0.0.1:{sandbox_port}"
db = "data-{x}/sandbox.db"
projects = [{{ key = "{project}", name = "{project}" }}]

[[node]]
id = "node-{x}"
data_dir = "data-{x}/node"
listen = "127.0.0.1:{node_port}"
poll_interval_ms = 1000

[[node.instance]]
id = "sandbox-{x}"
connector = "sandbox"
base_url = "sandbox:{x}"
webhook_secret = "secret-of-{x}-0123456789"
"#
        ),
    )
    .unwrap();
    path
}

/// A node's admin URL and token, as `twinsync up` leaves them in its data dir.
fn admin_of(data_dir: &Path) -> (String, String) {
    let read = |f: &str| {
        std::fs::read_to_string(data_dir.join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    (read("admin-url"), read("admin-token"))
}

async fn up(config: &Path, node_url: &str) -> Up {
    // The guard owns the child from the start, so it is killed and waited for on every path.
    let guard = Up(Command::new(BIN)
        .args(["up", "--config"])
        .arg(config)
        .env_remove("TWINSYNC_ADMIN_TOKEN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    for _ in 0..100 {
        if reqwest::get(format!("{node_url}/health")).await.is_ok() {
            return guard;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{node_url} did not come up");
}

/// The CLI with nothing of the test's environment that names a node or a token.
fn run(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env_remove("TWINSYNC_NODE")
        .env_remove("TWINSYNC_DATA_DIR")
        .env_remove("TWINSYNC_ADMIN_TOKEN")
        .output()
        .unwrap()
}

fn cli(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Every item of a sandbox, across pages.
async fn items(sandbox: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{sandbox}/api/items?cursor={c}"),
            None => format!("{sandbox}/api/items"),
        };
        let page: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        all.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return all,
        }
    }
}

/// The messages of the queues whose names start with `prefix` of the node with this data
/// dir, by state ("visible", "in_flight" or "delayed"), from the admin API.
async fn queued(data_dir: &Path, prefix: &str, state: &str) -> u64 {
    let (url, token) = admin_of(data_dir);
    let depths: Value = reqwest::Client::new()
        .get(format!("{url}/api/queues"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    depths
        .as_object()
        .map(|queues| {
            queues
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .filter_map(|(_, depth)| depth[state].as_u64())
                .sum()
        })
        .unwrap_or(0)
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..1_200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_connect_sync_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ports = [reserve(), reserve(), reserve(), reserve()];
    let [sa, na, sb, nb] = [0, 1, 2, 3].map(|i| ports[i].port());
    let ca = write_config(dir.path(), "a", "DEMO", sa, na);
    let cb = write_config(dir.path(), "b", "SUPPORT", sb, nb);
    let (node_a, node_b) = (
        format!("http://127.0.0.1:{na}"),
        format!("http://127.0.0.1:{nb}"),
    );
    let (sandbox_a, sandbox_b) = (
        format!("http://127.0.0.1:{sa}"),
        format!("http://127.0.0.1:{sb}"),
    );
    let _a = up(&ca, &node_a).await;
    let b = up(&cb, &node_b).await;
    let (dir_a, dir_b) = (
        &dir.path().join("data-a/node"),
        &dir.path().join("data-b/node"),
    );
    let (data_a, data_b) = (dir_a.display().to_string(), dir_b.display().to_string());
    // The token file is the node's user's alone; without a token the CLI says where it is.
    for d in [dir_a, dir_b] {
        let mode = std::fs::metadata(d.join("admin-token"))
            .unwrap()
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }
    let (admin_url_a, token_a) = admin_of(dir_a);
    let refused = run(&["connection", "list", "--node", &admin_url_a]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--data-dir DIR"),
        "{refused:?}"
    );
    let link = cli(&["monitor", "--data-dir", &data_a]);
    assert_eq!(link, format!("{admin_url_a}/monitor#token={token_a}"));

    let code = cli(&[
        "connection",
        "invite",
        "--data-dir",
        &data_a,
        "--instance",
        "sandbox-a",
        "--project",
        "DEMO",
        "--trigger",
        "labels = sync",
    ]);
    assert!(code.starts_with("tsinv1."), "{code}");
    // Bad accepts fail with the reason on stderr, and leave no connection behind and
    // the invitation unused: the good accept below still takes it.
    let before = cli(&["connection", "list", "--data-dir", &data_b]);
    let half = &code[..code.len() / 2];
    let bad_accepts: [(&str, &str, &str, &str, &str); 5] = [
        (
            "garbage",
            "sandbox-b",
            "labels = sync",
            "garbage",
            "invalid invitation code",
        ),
        (
            "empty",
            "sandbox-b",
            "labels = sync",
            "",
            "invalid invitation code",
        ),
        (
            "cut short",
            "sandbox-b",
            "labels = sync",
            half,
            "invalid invitation code",
        ),
        (
            "unknown instance",
            "nope",
            "labels = sync",
            &code,
            "unknown tracker instance",
        ),
        (
            "trigger does not parse",
            "sandbox-b",
            "project = (",
            &code,
            "trigger",
        ),
    ];
    for (name, instance, trigger, code, reason) in bad_accepts {
        let out = run(&[
            "connection",
            "accept",
            "--data-dir",
            &data_b,
            "--instance",
            instance,
            "--project",
            "SUPPORT",
            "--trigger",
            trigger,
            code,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: accepted");
        assert!(stderr.contains(reason), "{name}: {stderr}");
        assert_eq!(
            cli(&["connection", "list", "--data-dir", &data_b]),
            before,
            "{name}: a connection was left"
        );
    }
    let accepted = cli(&[
        "connection",
        "accept",
        "--data-dir",
        &data_b,
        "--instance",
        "sandbox-b",
        "--project",
        "SUPPORT",
        &code,
    ]);
    assert!(
        accepted.contains("is Active with node node-a"),
        "{accepted}"
    );

    let http = reqwest::Client::new();
    let create = |summary: &str| {
        http.post(format!("{sandbox_a}/api/items"))
            .json(&json!({"project": "DEMO", "summary": summary, "labels": ["sync"]}))
            .send()
    };
    create("first across processes").await.unwrap();
    wait_for("the item on B", async || items(&sandbox_b).await.len() == 1).await;

    // An edit on B comes back to A.
    let b_key = items(&sandbox_b).await[0]["key"]
        .as_str()
        .unwrap()
        .to_string();
    http.patch(format!("{sandbox_b}/api/items/{b_key}"))
        .json(&json!({"status": "Done"}))
        .send()
        .await
        .unwrap();
    wait_for("the edit on A", async || {
        items(&sandbox_a).await[0]["status"] == "Done"
    })
    .await;

    // B goes away; A keeps the change; B comes back on its files and gets it.
    let token_b = admin_of(dir_b).1;
    drop(b);
    create("made while B was down").await.unwrap();
    wait_for("A to meet B down and back off", async || {
        queued(dir_a, "transport", "delayed").await > 0
    })
    .await;
    let _b = up(&cb, &node_b).await;
    assert_eq!(
        admin_of(dir_b).1,
        token_b,
        "the token is kept across restarts"
    );
    wait_for("the item made during the outage", async || {
        items(&sandbox_b).await.len() == 2
    })
    .await;
    let list = cli(&["connection", "list", "--data-dir", &data_a]);
    assert!(list.contains("Active"), "{list}");

    // Pause A, make changes, resume: all of them arrive, once.
    let conn = list
        .lines()
        .find_map(|l| {
            l.split('|')
                .nth(1)
                .map(str::trim)
                .filter(|c| c.starts_with("conn-"))
        })
        .unwrap()
        .to_string();
    cli(&["connection", "deactivate", "--data-dir", &data_a, &conn]);
    let n: usize = std::env::var("TWINSYNC_PAUSED_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    for i in 0..n {
        create(&format!("paused change {i}")).await.unwrap();
    }
    wait_for("every paused change held on A", async || {
        let held = ["visible", "in_flight", "delayed"];
        let mut total = 0;
        for state in held {
            total += queued(dir_a, "held-", state).await;
        }
        total >= n as u64
    })
    .await;
    assert_eq!(
        items(&sandbox_b).await.len(),
        2,
        "nothing crosses while paused"
    );
    let resumed = cli(&["connection", "activate", "--data-dir", &data_a, &conn]);
    assert!(resumed.contains("is Active"), "{resumed}");
    wait_for("every paused change on B", async || {
        items(&sandbox_b).await.len() == 2 + n
    })
    .await;
    let origins: Vec<String> = items(&sandbox_b)
        .await
        .iter()
        .map(|i| i["origin"].as_str().unwrap_or("").to_string())
        .collect();
    let unique = origins
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert_eq!(
        (unique, origins.len()),
        (2 + n, 2 + n),
        "no duplicates: {origins:?}"
    );
}
