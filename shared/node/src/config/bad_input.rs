//! Bad config files, one table: each is refused with a message that names the file and
//! what is wrong in it (the key, and its line where there is one). The rules files a
//! connection names are read and compiled as a node's start does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::ProcessConfig;
use crate::assemble::{check_rules, version_from};
use std::path::PathBuf;
use twinsync_core::ConnectorKind;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bad-input/config")
}

/// Loads `file` and, when it loads, the rules of its first connection: the first error.
fn load(file: &str) -> Result<(), String> {
    let path = fixtures().join(file);
    let config = ProcessConfig::load(&path).map_err(|e| e.to_string())?;
    let node = config.node.first().ok_or("no [[node]] in the file")?;
    for section in &node.connection {
        let version = version_from(section, &fixtures(), ConnectorKind::Sandbox)
            .map_err(|e| e.to_string())?;
        check_rules(section, &version).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[test]
fn bad_config_files_are_refused_saying_where() {
    // The file, then what the message must contain besides the file's name.
    let cases: [(&str, &[&str]); 18] = [
        (
            "unknown-key.toml",
            &["unknown field `poll_intervall_ms`", "line 8"],
        ),
        (
            "wrong-type.toml",
            &["poll_interval_ms", "invalid type", "line 8"],
        ),
        (
            "missing-required.toml",
            &["missing field `connector`", "line 9"],
        ),
        (
            "bad-cron.toml",
            &["node[0].connection[0].plan[0].cron", "line 26"],
        ),
        (
            "bad-trigger.toml",
            &["node[0].connection[0].trigger[0].query", "line 23"],
        ),
        (
            "unknown-instance.toml",
            &["node[0].connection[0].instance", "sandbox-z"],
        ),
        ("non-utf8.toml", &["cannot read", "utf-8"]),
        ("not-toml.toml", &["line 1"]),
        ("empty.toml", &["missing field `node`"]),
        ("no-such-file.toml", &["cannot read", "no such file"]),
        (
            "missing-rules-file.toml",
            &["connection demo", "no-such-rules.rhai"],
        ),
        (
            "non-utf8-rules.toml",
            &["connection demo", "non-utf8.rhai", "utf-8"],
        ),
        (
            "syntax-error-rules.toml",
            &["connection demo", "incoming", "line 2", "syntax-error.rhai"],
        ),
        (
            "poll-interval-zero.toml",
            &["node[0].poll_interval_ms", "more than 0", "line 8"],
        ),
        (
            "webhook-poll-shorter.toml",
            &["node[0].webhook_poll_interval_ms", "shorter than", "line 9"],
        ),
        (
            "webhook-by-hand-registered.toml",
            &[
                "node[0].instance[0].webhook_by_hand",
                "register_webhook = false",
            ],
        ),
        (
            "webhook-by-hand-unsigned.toml",
            &["node[0].instance[0].webhook_by_hand", "webhook_secret"],
        ),
        ("good.toml", &[]),
    ];
    let mut wrong = Vec::new();
    for (file, wants) in cases {
        match (load(file), wants.is_empty()) {
            (Ok(()), true) => {}
            (Ok(()), false) => wrong.push(format!("{file}: loaded")),
            (Err(e), _) => {
                let lower = e.to_lowercase();
                let named = e.contains(file)
                    || !file.ends_with(".toml")
                    || wants.iter().any(|w| w.contains("connection"));
                let missing: Vec<_> = wants
                    .iter()
                    .filter(|w| !lower.contains(&w.to_lowercase()))
                    .collect();
                if wants.is_empty() || !named || !missing.is_empty() {
                    wrong.push(format!(
                        "{file}: {e:?} lacks {missing:?} (or the file name)"
                    ));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The same file as JSON, as the Lambda functions read it: the TOML's tables and values
/// unchecked, so the JSON reader must refuse what the TOML reader refuses.
fn as_json(file: &str) -> String {
    let text = std::fs::read_to_string(fixtures().join(file)).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    serde_json::to_string(&value).unwrap()
}

#[test]
fn bad_configs_as_json_are_refused_for_the_same_reason() {
    // The file, then what the JSON reader's message must contain besides its path.
    let cases: [(&str, &[&str]); 11] = [
        ("unknown-key.toml", &["unknown field `poll_intervall_ms`"]),
        ("wrong-type.toml", &["invalid type"]),
        ("missing-required.toml", &["missing field `connector`"]),
        ("bad-cron.toml", &["node[0].connection[0].plan[0].cron"]),
        (
            "bad-trigger.toml",
            &["node[0].connection[0].trigger[0].query"],
        ),
        (
            "unknown-instance.toml",
            &["node[0].connection[0].instance", "sandbox-z"],
        ),
        ("empty.toml", &["missing field `node`"]),
        ("poll-interval-zero.toml", &["node[0].poll_interval_ms"]),
        (
            "webhook-poll-shorter.toml",
            &["node[0].webhook_poll_interval_ms"],
        ),
        (
            "webhook-by-hand-registered.toml",
            &["node[0].instance[0].webhook_by_hand"],
        ),
        (
            "webhook-by-hand-unsigned.toml",
            &["node[0].instance[0].webhook_by_hand"],
        ),
    ];
    let mut wrong = Vec::new();
    for (file, wants) in cases {
        match ProcessConfig::parse_json(&as_json(file), "node.json") {
            Ok(_) => wrong.push(format!("{file}: read")),
            Err(e) => {
                let e = e.to_string();
                let missing: Vec<_> = wants.iter().filter(|w| !e.contains(*w)).collect();
                if !e.contains("node.json") || !missing.is_empty() {
                    wrong.push(format!("{file}: {e:?} lacks {missing:?} (or the path)"));
                }
            }
        }
    }
    for text in ["", "[[node]]\nid = \"a\"\n", "{\"node\": [", "null"] {
        match ProcessConfig::parse_json(text, "node.json") {
            Ok(_) => wrong.push(format!("{text:?}: read")),
            Err(e) if !e.to_string().contains("node.json") => {
                wrong.push(format!("{text:?}: {e} does not name the path"))
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every config the project ships reads the same from its JSON as from its TOML.
#[test]
fn shipped_configs_read_the_same_as_json() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let files = [
        "examples/local.toml",
        "examples/node-a.toml",
        "examples/node-b.toml",
        "examples/https/node-a.toml",
        "examples/https/node-b.toml",
        "tests/fixtures/aws/node-jira-github.toml",
        "tests/fixtures/bad-input/config/good.toml",
    ];
    for file in files {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let from_toml = ProcessConfig::parse(&text, file).unwrap();
        let (_, json) = ProcessConfig::parse_to_json(&text, file).unwrap();
        let from_json = ProcessConfig::parse_json(&json, file).unwrap();
        assert_eq!(format!("{from_toml:?}"), format!("{from_json:?}"), "{file}");
    }
}
