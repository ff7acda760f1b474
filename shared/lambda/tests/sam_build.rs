//! `scripts/sam-build`'s choice of connectors, checked with `--dry-run` (which prints the
//! settings cargo-lambda would get and builds nothing): the real build takes minutes and
//! is measured in docs/aws-cost.md instead.

use std::path::PathBuf;
use std::process::Command;
use twinsync_core::ConnectorKind;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `scripts/sam-build --dry-run` with `args`; the exit status, stdout and stderr.
fn dry_run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("bash")
        .arg("scripts/sam-build")
        .args(args)
        .arg("--dry-run")
        .current_dir(workspace_root())
        .output()
        .expect("bash runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PACKAGE: &str = "CARGO_LAMBDA_BUILD.PACKAGES=[twinsync-functions]";
const NO_DEFAULTS: &str = "CARGO_LAMBDA_BUILD.NO_DEFAULT_FEATURES=true";

#[test]
fn sam_build_chooses_the_connectors_table() {
    let fixture = "tests/fixtures/aws/node-jira-github.toml";
    // (arguments, the settings cargo-lambda gets, the line naming the connectors)
    let table: [(&[&str], &[&str], &str); 5] = [
        (&[], &[PACKAGE], "== connectors: every connector"),
        (
            &["--node-config", fixture],
            &[
                PACKAGE,
                NO_DEFAULTS,
                "CARGO_LAMBDA_BUILD.FEATURES=[github, jira]",
            ],
            "== connectors: github, jira (and the sandbox's), from tests/fixtures/aws/node-jira-github.toml",
        ),
        (
            &["--connectors", "jira,sandbox"],
            &[PACKAGE, NO_DEFAULTS, "CARGO_LAMBDA_BUILD.FEATURES=[jira]"],
            "== connectors: jira (and the sandbox's)",
        ),
        // A node whose only tracker is the sandbox builds no connector feature at all.
        (
            &["--node-config", "examples/node-a.toml"],
            &[PACKAGE, NO_DEFAULTS],
            "== connectors: the sandbox's only, from examples/node-a.toml",
        ),
        // sam's own options pass through.
        (
            &["--connectors=zendesk", "--cached"],
            &[
                PACKAGE,
                NO_DEFAULTS,
                "CARGO_LAMBDA_BUILD.FEATURES=[zendesk]",
            ],
            "== connectors: zendesk (and the sandbox's)",
        ),
    ];
    for (args, settings, said) in table {
        let (ok, stdout, stderr) = dry_run(args);
        assert!(ok, "{args:?}: {stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        let sam = lines.last().copied().unwrap_or_default();
        assert_eq!(&lines[..lines.len() - 1], settings, "{args:?}");
        assert!(sam.starts_with("sam build"), "{args:?}: {stdout}");
        assert_eq!(sam.contains("--cached"), args.contains(&"--cached"));
        assert!(
            stderr.lines().any(|line| line == said),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn sam_build_refuses_what_it_cannot_build_table() {
    // (arguments, what the error says)
    let table: [(&[&str], &str); 7] = [
        (
            &["--connectors", "jira,zendesk2"],
            "--connectors names zendesk2, which the functions do not have; they have: redmine, github, jira",
        ),
        (
            &["--node-config", "tests/fixtures/aws/no-such-node.toml"],
            "cannot read the node config tests/fixtures/aws/no-such-node.toml",
        ),
        (
            &["--node-config", "tests/fixtures/aws/connection.json"],
            "is not valid TOML",
        ),
        (
            &["--node-config", "examples/local.toml"],
            "must have one [[node]] (a stack is one node); it has 2",
        ),
        (
            &[
                "--connectors",
                "jira",
                "--node-config",
                "examples/node-a.toml",
            ],
            "give --node-config or --connectors, not both",
        ),
        (&["--connectors"], "--connectors needs a value"),
        // A build container would not get the settings, so the choice would be lost.
        (
            &["--node-config", "examples/node-a.toml", "--use-container"],
            "--use-container would drop the connectors and the size settings",
        ),
    ];
    for (args, said) in table {
        let (ok, stdout, stderr) = dry_run(args);
        assert!(!ok, "{args:?} was accepted: {stdout}");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
        assert!(!stdout.contains("sam build"), "{args:?}: {stdout}");
    }
}

/// Every connector a config can name is a feature of the functions, so any deployment's
/// config can be built; and the fixture is a config the functions accept.
#[test]
fn every_connector_is_a_feature_of_the_functions() {
    let all: Vec<&str> = ConnectorKind::ALL
        .into_iter()
        .filter(|kind| *kind != ConnectorKind::Sandbox)
        .map(ConnectorKind::as_str)
        .collect();
    let (ok, stdout, stderr) = dry_run(&["--connectors", &all.join(",")]);
    assert!(ok, "{stderr}");
    let features = format!("CARGO_LAMBDA_BUILD.FEATURES=[{}]", all.join(", "));
    assert!(stdout.lines().any(|line| line == features), "{stdout}");

    let fixture = workspace_root().join("tests/fixtures/aws/node-jira-github.toml");
    let config = twinsync_node::config::ProcessConfig::load(&fixture);
    assert!(config.is_ok(), "{config:?}");
}
