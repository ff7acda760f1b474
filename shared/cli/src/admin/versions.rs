//! `twinsync connection version ...`: a connection's configuration versions from the
//! command line. A version file (TOML, or JSON when its name ends in `.json`) holds the
//! whole configuration: scripts (inline or as `outgoing_file` / `incoming_file`, read
//! relative to the file), `helper_maps`, `conflicts`, `triggers`, `plans` and a `note`;
//! what it leaves out keeps the active version's value.

use super::client::Target;
use clap::{Subcommand, ValueEnum};
use comfy_table::Table;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::Path;

/// The keys of a version file, as the admin API takes them.
const CONFIG_KEYS: [&str; 10] = [
    "outgoing",
    "incoming",
    "helper_maps",
    "conflicts",
    "triggers",
    "plans",
    "live",
    "rewrite_references",
    "removals",
    "note",
];

#[derive(Subcommand)]
pub enum VersionCommand {
    /// The connection's versions: number, status, triggers, note.
    List {
        #[command(flatten)]
        node: Target,
        id: String,
    },
    /// Print a version (the active one unless --number) as a file to edit and save; with
    /// --dir, write every version there as `version-NNN.toml` (a folder to keep in git).
    Export {
        #[command(flatten)]
        node: Target,
        id: String,
        #[arg(long)]
        number: Option<u32>,
        #[arg(long, value_enum, default_value = "toml")]
        format: Format,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Save each version file of a folder as a draft, in name order, skipping a file
    /// whose configuration a version already has.
    Import {
        #[command(flatten)]
        node: Target,
        id: String,
        dir: std::path::PathBuf,
    },
    /// A unified diff of two versions' whole configuration.
    Diff {
        #[command(flatten)]
        node: Target,
        id: String,
        from: u32,
        to: u32,
    },
    /// Restore an earlier version as a new draft (test-run it, then activate it).
    Rollback {
        #[command(flatten)]
        node: Target,
        id: String,
        number: u32,
    },
    /// Run a draft in shadow beside the active version on live changes: it writes and
    /// sends nothing, and `shadow-report` shows where its replicas would differ.
    Shadow {
        #[command(flatten)]
        node: Target,
        id: String,
        number: u32,
    },
    /// What the draft in shadow would have sent otherwise, per item.
    ShadowReport {
        #[command(flatten)]
        node: Target,
        id: String,
    },
    /// End shadow mode; prints the report one last time.
    ShadowStop {
        #[command(flatten)]
        node: Target,
        id: String,
    },
    /// Drop a draft.
    Discard {
        #[command(flatten)]
        node: Target,
        id: String,
        number: u32,
    },
    /// Save a version file as a new draft; with --activate, put it in force at once.
    Save {
        #[command(flatten)]
        node: Target,
        /// The connection.
        id: String,
        /// The version file: TOML, or JSON when its name ends in .json.
        file: std::path::PathBuf,
        /// The version's note, instead of the file's.
        #[arg(long)]
        note: Option<String>,
        /// Activate the draft once saved (the active version is archived).
        #[arg(long)]
        activate: bool,
    },
    /// Put a draft in force; the active version is archived with its configuration.
    Activate {
        #[command(flatten)]
        node: Target,
        id: String,
        number: u32,
    },
    /// Run a version's triggers and outgoing rules on live items, and the other node's
    /// incoming rules on what it would send, without writing anything on either side.
    TestRun {
        #[command(flatten)]
        node: Target,
        id: String,
        number: u32,
        /// An item to run it on (repeat for more, up to 500).
        #[arg(long = "item")]
        items: Vec<String>,
        /// Or the items a trigger query finds (up to 500).
        #[arg(long)]
        query: Option<String>,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Toml,
    Json,
}

pub async fn run(cmd: VersionCommand) -> Result<(), String> {
    match cmd {
        VersionCommand::List { node, id } => {
            let c = node
                .resolve()?
                .get(&format!("/api/connections/{id}"))
                .await?;
            println!("{}", versions_table(&c));
        }
        VersionCommand::Export {
            node,
            id,
            number,
            format,
            dir: None,
        } => {
            let c = node
                .resolve()?
                .get(&format!("/api/connections/{id}"))
                .await?;
            print!("{}", export(&c, number, format)?);
        }
        VersionCommand::Export {
            node,
            id,
            format,
            dir: Some(dir),
            ..
        } => {
            let c = node
                .resolve()?
                .get(&format!("/api/connections/{id}"))
                .await?;
            for path in export_dir(&c, &dir, format)? {
                println!("{}", path.display());
            }
        }
        VersionCommand::Import { node, id, dir } => {
            for line in import_dir(&node, &id, &dir).await? {
                println!("{line}");
            }
        }
        VersionCommand::Diff { node, id, from, to } => {
            let path = format!("/api/connections/{id}/versions/diff?from={from}&to={to}");
            let diff = node.resolve()?.get_text(&path).await?;
            if diff.is_empty() {
                println!("versions {from} and {to} configure the same sync");
            } else {
                print!("{diff}");
            }
        }
        VersionCommand::Rollback { node, id, number } => {
            let path = format!("/api/connections/{id}/versions/{number}/rollback");
            let r = node.resolve()?.send(Method::POST, &path, json!({})).await?;
            println!(
                "connection {id}: version {number} restored as draft {}; test-run it, then activate it",
                r["version"]
            );
        }
        VersionCommand::Shadow { node, id, number } => {
            let path = format!("/api/connections/{id}/versions/{number}/shadow");
            node.resolve()?.send(Method::POST, &path, json!({})).await?;
            println!(
                "connection {id}: version {number} runs in shadow; `version shadow-report {id}` shows what it would change"
            );
        }
        VersionCommand::ShadowReport { node, id } => {
            let path = format!("/api/connections/{id}/shadow");
            println!("{}", shadow_table(&node.resolve()?.get(&path).await?));
        }
        VersionCommand::ShadowStop { node, id } => {
            let path = format!("/api/connections/{id}/shadow");
            let r = node
                .resolve()?
                .send(Method::DELETE, &path, json!({}))
                .await?;
            println!("{}", shadow_table(&r));
        }
        VersionCommand::Discard { node, id, number } => {
            let path = format!("/api/connections/{id}/versions/{number}");
            node.resolve()?
                .send(Method::DELETE, &path, json!({}))
                .await?;
            println!("connection {id}: draft {number} discarded");
        }
        VersionCommand::Save {
            node,
            id,
            file,
            note,
            activate,
        } => {
            let mut body = read_version_file(&file)?;
            if let Some(n) = note {
                body["note"] = json!(n);
            }
            let admin = node.resolve()?;
            let r = admin
                .send(
                    Method::POST,
                    &format!("/api/connections/{id}/versions"),
                    body,
                )
                .await?;
            let number = r["version"].as_u64().unwrap_or_default();
            if activate {
                activate_version(&node, &id, number).await?;
                println!("connection {id}: version {number} saved and active");
            } else {
                println!("connection {id}: version {number} saved as a draft");
            }
        }
        VersionCommand::Activate { node, id, number } => {
            activate_version(&node, &id, u64::from(number)).await?;
            println!("connection {id}: version {number} active");
        }
        VersionCommand::TestRun {
            node,
            id,
            number,
            items,
            query,
            json,
        } => {
            let body = match (items.as_slice(), query) {
                ([], Some(q)) => json!({ "query": q }),
                ([_, ..], None) => json!({ "items": items }),
                _ => return Err("test-run takes --item KEY (repeatable) or --query".into()),
            };
            let r = node
                .resolve()?
                .send(
                    Method::POST,
                    &format!("/api/connections/{id}/versions/{number}/test-run"),
                    body,
                )
                .await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
                );
            } else {
                println!("{}", test_run_table(&r));
                if let Some(e) = r["other_side_error"].as_str() {
                    println!("{} not asked: {e}", r["other_node"].as_str().unwrap_or(""));
                }
            }
        }
    }
    Ok(())
}

async fn activate_version(node: &Target, id: &str, number: u64) -> Result<Value, String> {
    node.resolve()?
        .send(
            Method::POST,
            &format!("/api/connections/{id}/versions/{number}/activate"),
            json!({}),
        )
        .await
}

/// A Test Run as a table: per item, the trigger, whether it would be sent, and what the
/// other side would do (create, or which fields change).
fn test_run_table(report: &Value) -> Table {
    let mut table = Table::new();
    table.set_header(["item", "trigger", "sent", "other side"]);
    for row in report["items"].as_array().into_iter().flatten() {
        let other = &row["other_side"];
        let there = if let Some(e) = row["error"].as_str().or(other["error"].as_str()) {
            format!("error: {e}")
        } else if other["would_create"] == Value::Bool(true) {
            "creates a new item".to_string()
        } else if let Some(change) = other["would_change"].as_object() {
            let fields: Vec<&str> = change
                .iter()
                .filter(|(_, v)| !v.is_null() && *v != &json!([]) && *v != &json!({}))
                .map(|(k, _)| k.as_str())
                .collect();
            let target = other["target_key"].as_str().unwrap_or("?");
            if fields.is_empty() {
                format!("{target}: no change")
            } else {
                format!("{target}: {}", fields.join(", "))
            }
        } else {
            "-".to_string()
        };
        table.add_row([
            row["item"].as_str().unwrap_or("").to_string(),
            row["trigger"].as_str().unwrap_or("-").to_string(),
            if row["would_send"] == Value::Bool(true) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
            there,
        ]);
    }
    table
}

/// A shadow report: per item, where the draft's replica would differ.
fn shadow_table(report: &Value) -> Table {
    let mut table = Table::new();
    let version = report["version"]
        .as_u64()
        .map_or_else(|| "-".to_string(), |v| v.to_string());
    table.set_header([
        format!("item (version {version} in shadow)"),
        "differs".into(),
    ]);
    for (item, what) in report["items"].as_object().into_iter().flatten() {
        table.add_row([item.clone(), what.as_str().unwrap_or("").to_string()]);
    }
    table
}

fn versions_table(connection: &Value) -> Table {
    let mut table = Table::new();
    table.set_header(["version", "status", "triggers", "plans", "note"]);
    for v in connection["versions"].as_array().into_iter().flatten() {
        let list = |key: &str, field: &str| {
            v[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t[field].as_str())
                .collect::<Vec<_>>()
                .join("; ")
        };
        table.add_row([
            v["number"].to_string(),
            v["status"].as_str().unwrap_or("-").to_string(),
            list("triggers", "query"),
            list("plans", "cron"),
            v["note"].as_str().unwrap_or("").to_string(),
        ]);
    }
    table
}

/// A version of `connection` as a version file.
fn export(connection: &Value, number: Option<u32>, format: Format) -> Result<String, String> {
    let versions = connection["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let version = versions
        .iter()
        .find(|v| match number {
            Some(n) => v["number"] == json!(n),
            None => v["status"] == "Active",
        })
        .ok_or_else(|| match number {
            Some(n) => format!("no version {n}"),
            None => "no active version".to_string(),
        })?;
    let mut file = serde_json::Map::new();
    for key in CONFIG_KEYS {
        if let Some(v) = version.get(key) {
            file.insert(key.to_string(), v.clone());
        }
    }
    match format {
        Format::Json => serde_json::to_string_pretty(&file)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Toml => toml::to_string_pretty(&file).map_err(|e| e.to_string()),
    }
}

/// Writes every version of `connection` into `dir` as `version-NNN.toml` (or `.json`).
fn export_dir(
    connection: &Value,
    dir: &Path,
    format: Format,
) -> Result<Vec<std::path::PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let ext = match format {
        Format::Toml => "toml",
        Format::Json => "json",
    };
    let mut written = Vec::new();
    for v in connection["versions"].as_array().into_iter().flatten() {
        let Some(n) = v["number"].as_u64().and_then(|n| u32::try_from(n).ok()) else {
            continue;
        };
        let mut text = export(connection, Some(n), format)?;
        if let (Format::Toml, Some(note)) = (format, v["note"].as_str()) {
            // The note and status travel as a comment: a file saved again is a new draft.
            let status = v["status"].as_str().unwrap_or("");
            text = format!("# version {n} ({status}): {note}\n{text}");
        }
        let path = dir.join(format!("version-{n:03}.{ext}"));
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// Saves each version file of `dir` (name order) as a draft unless a version of the
/// connection already has its configuration.
async fn import_dir(node: &Target, id: &str, dir: &Path) -> Result<Vec<String>, String> {
    let admin = node.resolve()?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let body = read_version_file(&file)?;
        let connection = admin.get(&format!("/api/connections/{id}")).await?;
        let versions = connection["versions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(same) = versions.iter().find(|v| same_config(&body, v)) {
            out.push(format!(
                "{}: the same as version {}; skipped",
                file.display(),
                same["number"]
            ));
            continue;
        }
        let r = admin
            .send(
                Method::POST,
                &format!("/api/connections/{id}/versions"),
                body,
            )
            .await?;
        out.push(format!(
            "{}: saved as draft {}",
            file.display(),
            r["version"]
        ));
    }
    Ok(out)
}

/// Whether a version file says what a stored version has (the keys it names).
fn same_config(file: &Value, version: &Value) -> bool {
    CONFIG_KEYS
        .iter()
        .filter(|k| **k != "note")
        .filter_map(|k| file.get(*k).map(|v| (k, v)))
        .all(|(k, v)| version.get(*k) == Some(v))
}

/// Reads a version file into the admin API's request: TOML or JSON by the name, the
/// scripts named by `outgoing_file` / `incoming_file` read in.
pub fn read_version_file(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let json_file = path.extension().is_some_and(|e| e == "json");
    let mut value: Value = if json_file {
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
    };
    let obj = value
        .as_object_mut()
        .ok_or_else(|| format!("{}: a version file is a table of keys", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    for script in ["outgoing", "incoming"] {
        let key = format!("{script}_file");
        if let Some(file) = obj.remove(&key) {
            let name = file
                .as_str()
                .ok_or_else(|| format!("{}: {key} must be a path", path.display()))?;
            let full = dir.join(name);
            let body = std::fs::read_to_string(&full)
                .map_err(|e| format!("{}: {key}: {}: {e}", path.display(), full.display()))?;
            obj.insert(script.to_string(), json!(body));
        }
    }
    if let Some(unknown) = obj.keys().find(|k| !CONFIG_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "{}: unknown key {unknown:?}; a version file has {}, outgoing_file, incoming_file",
            path.display(),
            CONFIG_KEYS.join(", ")
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn version_files_read_as_toml_or_json_with_script_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("out.rhai"),
            "replica.summary = issue.summary;",
        )
        .unwrap();
        let toml_file = dir.path().join("v.toml");
        std::fs::write(
            &toml_file,
            r#"
note = "map To Do"
outgoing_file = "out.rhai"
[helper_maps.statuses]
"To Do" = "Open"
[conflicts]
default = { policy = "remote_wins" }
[[triggers]]
query = "labels = sync"
[[plans]]
cron = "0 */15 * * * *"
"#,
        )
        .unwrap();
        let v = read_version_file(&toml_file).unwrap();
        assert_eq!(v["outgoing"], "replica.summary = issue.summary;");
        assert_eq!(v["helper_maps"]["statuses"]["To Do"], "Open");
        assert_eq!(v["conflicts"]["default"]["policy"], "remote_wins");
        assert_eq!(v["triggers"][0]["query"], "labels = sync");
        assert_eq!(v["plans"][0]["cron"], "0 */15 * * * *");

        let json_file = dir.path().join("v.json");
        std::fs::write(&json_file, r#"{"triggers": [], "note": "none"}"#).unwrap();
        assert_eq!(
            read_version_file(&json_file).unwrap(),
            json!({"triggers": [], "note": "none"})
        );

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "trigger = \"labels = sync\"\n").unwrap();
        let e = read_version_file(&bad).err().unwrap();
        assert!(e.contains("unknown key \"trigger\""), "{e}");
        std::fs::write(&bad, "incoming_file = \"missing.rhai\"\n").unwrap();
        let e = read_version_file(&bad).err().unwrap();
        assert!(e.contains("missing.rhai"), "{e}");
    }

    #[test]
    fn an_exported_version_reads_back_as_the_same_request() {
        let connection = json!({"versions": [
            {"number": 1, "status": "Archived", "outgoing": "a", "note": "old"},
            {"number": 2, "status": "Active", "outgoing": "// two\nreplica.key = issue.key;\n",
             "incoming": "issue.summary = replica.summary;",
             "helper_maps": {"statuses": {"To Do": "Open"}, "priorities": {}, "users": {}},
             "conflicts": {"default": {"policy": "side_of_truth", "node": "node-a"}, "fields": {}},
             "triggers": [{"id": "t1", "query": "labels = sync", "active": true}],
             "plans": [], "created_ms": 5, "note": "mine"}
        ]});
        let dir = tempfile::tempdir().unwrap();
        for (format, name) in [(Format::Toml, "v.toml"), (Format::Json, "v.json")] {
            let text = export(&connection, None, format).unwrap();
            let file = dir.path().join(name);
            std::fs::write(&file, &text).unwrap();
            let back = read_version_file(&file).unwrap();
            let mut want = connection["versions"][1].clone();
            for gone in ["number", "status", "created_ms"] {
                want.as_object_mut().unwrap().remove(gone);
            }
            assert_eq!(back, want, "{text}");
        }
        assert!(
            export(&connection, Some(1), Format::Json)
                .unwrap()
                .contains("old")
        );
        assert!(export(&connection, Some(9), Format::Json).is_err());
    }
}
