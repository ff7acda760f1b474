//! `twinsync check --json`: the checked config written as the JSON the Lambda functions
//! read, and nothing written for a config that fails its checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use twinsync_node::config::ProcessConfig;

const BIN: &str = env!("CARGO_BIN_EXE_twinsync");

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[test]
fn check_writes_the_config_as_json_only_when_it_passes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("node.json");
    let good = fixture("tests/fixtures/aws/node-jira-github.toml");
    let run = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&good)
        .arg("--json")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    let json = std::fs::read_to_string(&out).unwrap();
    let toml = std::fs::read_to_string(&good).unwrap();
    assert_eq!(
        format!(
            "{:?}",
            ProcessConfig::parse_json(&json, "node.json").unwrap()
        ),
        format!("{:?}", ProcessConfig::parse(&toml, "node.toml").unwrap()),
    );

    let bad = dir.path().join("bad.json");
    let run = Command::new(BIN)
        .args(["check", "--config"])
        .arg(fixture("tests/fixtures/bad-input/config/bad-cron.toml"))
        .arg("--json")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stderr).contains("plan[0].cron"));
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["node.json"], "a failed check writes nothing");
}
