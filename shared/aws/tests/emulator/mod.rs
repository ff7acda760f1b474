//! The moto emulator for the adapters' tests: moto's server (`scripts/moto-server`) on a
//! free loopback port, with the stack's queues, tables and bucket created from
//! `infra/template.yaml` by `scripts/aws-emulator-setup`. `scripts/test` installs moto
//! (`scripts/aws-requirements.txt`); without it these tests fail and say so.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use twinsync_aws::env::Aws;
use twinsync_aws::env::Resources;
use twinsync_aws::signed::{Settings, SignedClient};

pub struct Moto {
    child: Child,
    pub url: String,
    _port: twinsync_fakes::ports::ReservedPort,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts moto and creates the stack `stack` in it.
pub async fn start(stack: &str) -> (Moto, Aws, Resources) {
    let (moto, config) = start_moto().await;
    let resources = create_stack(&moto.url, stack);
    (moto, config, resources)
}

/// Starts moto with nothing in it.
pub async fn start_moto() -> (Moto, Aws) {
    let reserved = twinsync_fakes::ports::reserve_port().expect("a loopback port for moto");
    let port = reserved.port();
    // moto's server with DynamoDB requests one at a time (see the script for why), run by
    // the interpreter that has moto: no console script on PATH needed.
    let child = Command::new("python3")
        .arg(repo_root().join("scripts/moto-server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "moto_server is not installed: pip install -r scripts/aws-requirements.txt \
             (scripts/test does)",
        );
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _port: reserved,
    };
    let mut up = false;
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        up,
        "moto did not start on port {port}: pip install -r scripts/aws-requirements.txt \
         (scripts/test does)"
    );
    let config = sdk_config(&moto.url).await;
    (moto, config)
}

/// Creates the queues, tables and bucket of `stack` in the emulator at `endpoint`, from
/// the SAM template, and returns their names.
pub fn create_stack(endpoint: &str, stack: &str) -> Resources {
    let out = Command::new("python3")
        .arg(repo_root().join("scripts/aws-emulator-setup"))
        .args([
            "--endpoint",
            endpoint,
            "--stack",
            stack,
            "--region",
            "us-east-1",
        ])
        .output()
        .expect("python3 runs scripts/aws-emulator-setup");
    assert!(
        out.status.success(),
        "aws-emulator-setup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exports = parse_exports(&String::from_utf8_lossy(&out.stdout));
    let get = |k: &str| {
        exports
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("aws-emulator-setup did not export {k}: {exports:?}"))
    };
    Resources {
        queue_prefix: get("TWINSYNC_QUEUE_PREFIX"),
        twins_table: get("TWINSYNC_TWINS_TABLE"),
        connections_table: get("TWINSYNC_CONNECTIONS_TABLE"),
        payload_bucket: Some(get("TWINSYNC_PAYLOAD_BUCKET")),
    }
}

/// The signed client for the emulator at `endpoint`.
pub async fn sdk_config(endpoint: &str) -> Aws {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let settings = Settings::with_keys("us-east-1", "test", "test", Some(endpoint));
    Aws {
        signed: SignedClient::new(settings, http),
    }
}

/// `export NAME=value` lines (values possibly quoted) into a map.
pub fn parse_exports(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches(|c| c == '\'' || c == '"').to_string(),
            )
        })
        .collect()
}
