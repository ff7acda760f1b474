//! `twinsync connection version ...`: a connection's configuration versions from the
//! command line. A version file (TOML, or JSON when its name ends in `.json`) holds the
//! whole configuration: scripts (inline or as `outgoing_file` / `incoming_file`, read
//! relative to the file), `helper_maps`, `conflicts`, `triggers`, `plans` and a `note`;
//! what it leaves out keeps the active version's value.

use super::client::Target;
use clap::{Subcommand, ValueEnum};
use reqwest::Method;
use serde_json::{Value, json};

mod files;
mod tables;

pub use files::read_version_file;
use files::{export, export_dir, import_dir};
use tables::{shadow_table, test_run_table, versions_table};

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
            let c = connection(&node, &id).await?;
            println!("{}", versions_table(&c));
        }
        VersionCommand::Export {
            node,
            id,
            number,
            format,
            dir: None,
        } => {
            let c = connection(&node, &id).await?;
            print!("{}", export(&c, number, format)?);
        }
        VersionCommand::Export {
            node,
            id,
            format,
            dir: Some(dir),
            ..
        } => {
            let c = connection(&node, &id).await?;
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
            let number = save_draft(&node, &id, &file, note).await?;
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
            let r = test_run(&node, &id, number, &items, query).await?;
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

/// The connection with its versions, as the admin API shows it.
async fn connection(node: &Target, id: &str) -> Result<Value, String> {
    node.resolve()?.get(&format!("/api/connections/{id}")).await
}

/// Saves a version file as a draft and answers its number.
async fn save_draft(
    node: &Target,
    id: &str,
    file: &std::path::Path,
    note: Option<String>,
) -> Result<u64, String> {
    let mut body = read_version_file(file)?;
    if let Some(n) = note {
        body["note"] = json!(n);
    }
    let r = node
        .resolve()?
        .send(
            Method::POST,
            &format!("/api/connections/{id}/versions"),
            body,
        )
        .await?;
    Ok(r["version"].as_u64().unwrap_or_default())
}

/// Asks the node for a Test Run of version `number` on the named items or a query's.
async fn test_run(
    node: &Target,
    id: &str,
    number: u32,
    items: &[String],
    query: Option<String>,
) -> Result<Value, String> {
    let body = match (items, query) {
        ([], Some(q)) => json!({ "query": q }),
        ([_, ..], None) => json!({ "items": items }),
        _ => return Err("test-run takes --item KEY (repeatable) or --query".into()),
    };
    node.resolve()?
        .send(
            Method::POST,
            &format!("/api/connections/{id}/versions/{number}/test-run"),
            body,
        )
        .await
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
