//! `twinsync rules test DIR`: runs sync rules on fixture files, so a rule change has
//! tests in CI. Each `*.json` file of DIR is one case:
//!
//! ```json
//! {"direction": "outgoing", "item": {...}, "expect": {...}}
//! {"direction": "incoming", "replica": {...}, "issue": {...}, "first_sync": true, "expect": {...}}
//! ```
//!
//! `expect` is matched as a subset: every key it names must have that value in the
//! replica (outgoing) or in the item the incoming rules leave (arrays element by
//! element). The rules are a version file's (`--version`), or the default rules of a
//! connector with the other side's (`--connector jira --remote github`).

use crate::admin::versions::read_version_file;
use clap::Args;
use serde::Deserialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use twinsync_core::{ConfigVersion, ConnectorKind, Item};
use twinsync_rules::{IncomingContext, Limits, RuleSet, defaults};

#[derive(Args)]
pub struct RulesTestArgs {
    /// The folder of cases (`*.json`).
    pub dir: PathBuf,
    /// A version file (as `twinsync version export` writes) whose rules and maps to run.
    #[arg(long, conflicts_with = "connector")]
    pub version: Option<PathBuf>,
    /// The default rules of this connector (jira, github, redmine, sandbox, ado,
    /// servicenow, zendesk, salesforce)...
    #[arg(long)]
    pub connector: Option<String>,
    /// ...with the maps for this other side.
    #[arg(long, requires = "connector")]
    pub remote: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, tag = "direction", rename_all = "snake_case")]
enum Case {
    Outgoing {
        item: Item,
        expect: Value,
    },
    Incoming {
        replica: Value,
        #[serde(default)]
        issue: Item,
        #[serde(default)]
        first_sync: bool,
        expect: Value,
    },
}

/// One case's outcome: its name and, when it failed, why.
pub struct Outcome {
    pub name: String,
    pub failure: Option<String>,
}

pub fn run(args: &RulesTestArgs) -> Result<ExitCode, String> {
    let version = version_of(args)?;
    let outcomes = run_dir(&version, &args.dir)?;
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    for o in &outcomes {
        match &o.failure {
            None => println!("ok    {}", o.name),
            Some(why) => println!("FAIL  {}\n      {}", o.name, why.replace('\n', "\n      ")),
        }
    }
    println!("{} cases, {failed} failed", outcomes.len());
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn version_of(args: &RulesTestArgs) -> Result<ConfigVersion, String> {
    let kind =
        |name: &str| ConnectorKind::parse(name).ok_or_else(|| format!("no connector {name:?}"));
    match (&args.version, &args.connector) {
        (Some(file), _) => {
            let value = read_version_file(file)?;
            let base = ConfigVersion::default();
            let mut merged = serde_json::to_value(&base).map_err(|e| e.to_string())?;
            if let (Some(m), Some(v)) = (merged.as_object_mut(), value.as_object()) {
                m.extend(v.clone());
            }
            serde_json::from_value(merged).map_err(|e| format!("{}: {e}", file.display()))
        }
        (None, Some(local)) => Ok(match &args.remote {
            Some(remote) => defaults::for_pair(kind(local)?, kind(remote)?),
            None => defaults::for_connector(kind(local)?),
        }),
        (None, None) => Err("rules test needs --version FILE or --connector NAME".into()),
    }
}

/// Runs every case of `dir` (name order) with `version`'s rules.
pub fn run_dir(version: &ConfigVersion, dir: &Path) -> Result<Vec<Outcome>, String> {
    let rules = RuleSet::compile(version, Limits::default()).map_err(|e| e.to_string())?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no *.json cases", dir.display()));
    }
    let mut out = Vec::new();
    for file in files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let failure = run_case(&rules, &file).err();
        out.push(Outcome { name, failure });
    }
    Ok(out)
}

fn run_case(rules: &RuleSet, file: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let case: Case = serde_json::from_str(&text).map_err(|e| format!("not a case: {e}"))?;
    let (actual, expect) = match case {
        Case::Outgoing { item, expect } => {
            (rules.outgoing(&item).map_err(|e| e.to_string())?, expect)
        }
        Case::Incoming {
            replica,
            issue,
            first_sync,
            expect,
        } => {
            let item = rules
                .incoming(&IncomingContext {
                    replica: &replica,
                    previous: None,
                    issue: &issue,
                    first_sync,
                    comment_links: &[],
                    origin_prefix: "twinsync:test:",
                })
                .map_err(|e| e.to_string())?;
            (
                serde_json::to_value(item).map_err(|e| e.to_string())?,
                expect,
            )
        }
    };
    let mut problems = Vec::new();
    subset(&expect, &actual, "", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// Where `actual` differs from what `expect` names.
fn subset(expect: &Value, actual: &Value, at: &str, problems: &mut Vec<String>) {
    match (expect, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                let path = format!("{at}.{k}");
                match a.get(k) {
                    Some(got) => subset(v, got, &path, problems),
                    None if v.is_null() => {}
                    None => problems.push(format!("{path}: expected {v}, missing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (v, got)) in e.iter().zip(a).enumerate() {
                subset(v, got, &format!("{at}[{i}]"), problems);
            }
        }
        (e, a) if e == a => {}
        (e, a) => problems.push(format!(
            "{}: expected {e}, got {a}",
            at.trim_start_matches('.')
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// The cases in tests/fixtures/rules/jira-github pass with the Jira ↔ GitHub default
    /// rules, and a case that expects something else fails with where and what.
    #[test]
    fn fixture_cases_pass_and_a_wrong_expectation_fails() {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/rules/jira-github");
        let version = defaults::for_pair(ConnectorKind::Jira, ConnectorKind::Github);
        let outcomes = run_dir(&version, &dir).unwrap();
        assert!(outcomes.len() >= 2);
        for o in &outcomes {
            assert!(o.failure.is_none(), "{}: {:?}", o.name, o.failure);
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("wrong.json"),
            json!({"direction": "outgoing", "item": {"key": "DEMO-1", "summary": "A"},
                   "expect": {"summary": "B", "labels": ["x"]}})
            .to_string(),
        )
        .unwrap();
        let wrong = run_dir(&version, tmp.path()).unwrap();
        let why = wrong[0].failure.clone().unwrap();
        assert!(why.contains("summary: expected \"B\", got \"A\""), "{why}");
        assert!(why.contains("labels"), "{why}");
    }

    #[test]
    fn subset_matching_names_the_path() {
        let mut p = Vec::new();
        subset(
            &json!({"status": {"name": "Done"}, "comments": [{"body": "x"}]}),
            &json!({"status": {"name": "Open"}, "comments": [{"body": "x", "id": "1"}], "extra": 1}),
            "",
            &mut p,
        );
        assert_eq!(p, ["status.name: expected \"Done\", got \"Open\""]);
    }
}
