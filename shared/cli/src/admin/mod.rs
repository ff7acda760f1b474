//! Operations against a running node's admin API (`twinsync up` serves it), with the
//! node's admin token ([`client::Target`]).

pub mod client;
pub mod jobs;
pub mod versions;
pub mod workspaces;

use clap::Subcommand;
pub use client::{AdminClient, Target};
use comfy_table::Table;
use reqwest::Method;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Connections: list, show, invite, accept, activate, deactivate, delete, and their
    /// configuration versions.
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// A connection's configuration versions: list, export (one, or all to a folder),
    /// import a folder, save, activate, diff, rollback, discard, test-run. The same as
    /// `connection version`.
    #[command(subcommand)]
    Version(versions::VersionCommand),
    /// Bulk jobs: start (exalate, sync, connect from a CSV), list, show, cancel; with
    /// --follow a progress bar until the job ends.
    #[command(subcommand)]
    Job(jobs::JobCommand),
    /// Workspaces and integrations: list (items under sync against each capacity),
    /// create, add-integration, assign a connection, subscribe (plan and capacity).
    #[command(subcommand)]
    Workspace(workspaces::WorkspaceCommand),
    /// List twins (sync pairs) of a node.
    Twins {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        connection: Option<String>,
        /// syncing, synced, error or unlinked.
        #[arg(long)]
        status: Option<String>,
    },
    /// Print the Item Sync Monitor's link for a browser; it carries the admin token in
    /// its fragment, which the browser does not send, so treat it like the token.
    Monitor {
        #[command(flatten)]
        node: Target,
    },
    /// Run an operation: sync, bulk-exalate, bulk-sync, relink, unlink, unexalate,
    /// force-unlink, undo (--to-version N), clean-up, redrive (send the connection's
    /// dead-lettered messages back), activate, deactivate.
    Op {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        connection: String,
        operation: String,
        /// The local item key, for item operations.
        #[arg(long)]
        item: Option<String>,
        /// The remote item key, for relink.
        #[arg(long)]
        remote: Option<String>,
        /// Undo: the replica version (of this node's history) to go back to.
        #[arg(long = "to-version")]
        version: Option<u64>,
    },
}

#[derive(Subcommand)]
pub enum ConnectionCommand {
    /// List the node's connections.
    List {
        #[command(flatten)]
        node: Target,
    },
    /// One connection with its recent events.
    Show {
        #[command(flatten)]
        node: Target,
        id: String,
    },
    /// Create a Pending connection and print its invitation code (treat it like a password).
    Invite {
        #[command(flatten)]
        node: Target,
        /// The tracker instance this side syncs.
        #[arg(long)]
        instance: String,
        /// The project twins are created in on this side.
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: Option<String>,
        /// public, private or local.
        #[arg(long = "type", default_value = "public")]
        kind: String,
        /// A trigger query for this side.
        #[arg(long)]
        trigger: Option<String>,
    },
    /// A local connection: two projects of one tracker instance of this node, synced
    /// with no network hop; both sides are active at once.
    Local {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        instance: String,
        /// The first side's project.
        #[arg(long)]
        project: String,
        /// The second side's project.
        #[arg(long)]
        other_project: String,
        /// A trigger query both sides share (each side also takes only its own project).
        #[arg(long)]
        trigger: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    /// Accept an invitation code from another node.
    Accept {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        instance: String,
        #[arg(long)]
        project: String,
        #[arg(long)]
        trigger: Option<String>,
        code: String,
    },
    /// Resume a paused connection; held changes are applied in order.
    Activate {
        #[command(flatten)]
        node: Target,
        id: String,
    },
    /// Pause a connection; changes are kept.
    Deactivate {
        #[command(flatten)]
        node: Target,
        id: String,
    },
    /// Rotate the shared secret; in-flight messages still verify during a grace period.
    Rotate {
        #[command(flatten)]
        node: Target,
        id: String,
    },
    /// Configuration versions: list, export, save (from a TOML or JSON file), activate,
    /// test-run.
    #[command(subcommand)]
    Version(versions::VersionCommand),
    /// Delete a connection with its twins' sync info; needs --confirm ID.
    Delete {
        #[command(flatten)]
        node: Target,
        id: String,
        #[arg(long)]
        confirm: Option<String>,
    },
}

fn cell(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    }
}

pub async fn run(cmd: AdminCommand) -> Result<ExitCode, String> {
    match cmd {
        AdminCommand::Connection(cmd) => connection(cmd).await?,
        AdminCommand::Version(cmd) => versions::run(cmd).await?,
        AdminCommand::Job(cmd) => jobs::run(cmd).await?,
        AdminCommand::Workspace(cmd) => workspaces::run(cmd).await?,
        AdminCommand::Twins {
            node,
            connection,
            status,
        } => {
            let mut path = "/api/twins?limit=1000".to_string();
            if let Some(c) = connection {
                path.push_str(&format!("&connection={c}"));
            }
            if let Some(s) = status {
                path.push_str(&format!("&status={s}"));
            }
            let list = node.resolve()?.get(&path).await?;
            println!("{}", twins_table(&list));
        }
        AdminCommand::Monitor { node } => println!("{}", node.resolve()?.monitor_link()),
        AdminCommand::Op {
            node,
            connection,
            operation,
            item,
            remote,
            version,
        } => {
            let (path, body) = match operation.as_str() {
                "activate" | "deactivate" => (
                    format!("/api/connections/{connection}/{operation}"),
                    json!({}),
                ),
                _ => (
                    format!("/api/connections/{connection}/operations/{operation}"),
                    json!({ "item": item, "remote": remote, "version": version }),
                ),
            };
            let client = node.resolve()?;
            let result = client.send(Method::POST, &path, body).await?;
            println!("{}", outcome_text(&result));
            if let (Some(item), Some(remote)) = (&item, &remote)
                && operation == "relink"
            {
                println!(
                    "{}",
                    wait_for_link(&client, &connection, item, remote).await?
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An operation's answer as a sentence: item operations say what this node did and
/// whether the other node was told; the others name their counts.
fn outcome_text(result: &Value) -> String {
    if let (Some(op), Some(done)) = (result["operation"].as_str(), result["done"].as_str()) {
        let item = result["item"].as_str().unwrap_or("");
        let told = if result["peer_told"] == Value::Bool(true) {
            "; the other node was told and follows (its answer is in `connection show`)"
        } else {
            ""
        };
        return format!("{op} {item}: {done}{told}");
    }
    match result.as_object() {
        Some(o) => o
            .keys()
            .map(|k| format!("{k}: {}", cell(result, k)))
            .collect::<Vec<_>>()
            .join("\n"),
        None => result.to_string(),
    }
}

/// Waits up to 30 s for the other node's answer to a relink: the pair shows here once
/// it agreed.
async fn wait_for_link(
    client: &AdminClient,
    connection: &str,
    item: &str,
    remote: &str,
) -> Result<String, String> {
    for _ in 0..60 {
        let path = format!("/api/twins?connection={connection}&key={item}&limit=10");
        let list = client.get(&path).await?;
        if let Some(t) = list.as_array().into_iter().flatten().find(|t| {
            t["local_key"].as_str() == Some(item) && t["remote_key"].as_str() == Some(remote)
        }) {
            let status = t["status"]["status"].as_str().unwrap_or("syncing");
            return Ok(format!("linked {item} <-> {remote} ({status})"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    Ok(format!(
        "no answer yet about {item} <-> {remote}: see `twinsync connection show {connection}`"
    ))
}

fn twins_table(list: &Value) -> Table {
    let mut table = Table::new();
    table.set_header(["local", "remote", "status", "sent", "acked", "applied"]);
    for t in list.as_array().into_iter().flatten() {
        let status = match t.get("status") {
            Some(Value::Object(o)) => match (o.get("status"), o.get("message")) {
                (Some(s), Some(m)) => {
                    format!("{}: {}", s.as_str().unwrap_or(""), m.as_str().unwrap_or(""))
                }
                (Some(s), None) => s.as_str().unwrap_or("").to_string(),
                _ => "-".into(),
            },
            _ => "-".into(),
        };
        table.add_row([
            cell(t, "local_key"),
            cell(t, "remote_key"),
            status,
            cell(t, "out_version"),
            cell(t, "acked_version"),
            cell(t, "in_version"),
        ]);
    }
    table
}

async fn connection(cmd: ConnectionCommand) -> Result<(), String> {
    match cmd {
        ConnectionCommand::List { node } => {
            let list = node.resolve()?.get("/api/connections").await?;
            let mut table = Table::new();
            table.set_header(["id", "name", "status", "reason", "remote node", "instance"]);
            for c in list.as_array().into_iter().flatten() {
                table.add_row([
                    cell(c, "id"),
                    cell(c, "name"),
                    cell(c, "status"),
                    cell(c, "status_reason"),
                    cell(c, "remote_node"),
                    cell(c, "local_instance"),
                ]);
            }
            println!("{table}");
        }
        ConnectionCommand::Show { node, id } => {
            let admin = node.resolve()?;
            let c = admin.get(&format!("/api/connections/{id}")).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&c).map_err(|e| e.to_string())?
            );
            let events = admin
                .get(&format!("/api/events?connection={id}&limit=20"))
                .await?;
            let mut table = Table::new();
            table.set_header(["at (ms)", "kind", "detail"]);
            for e in events.as_array().into_iter().flatten() {
                table.add_row([cell(e, "at_ms"), cell(e, "kind"), cell(e, "detail")]);
            }
            println!("{table}");
        }
        ConnectionCommand::Invite {
            node,
            instance,
            project,
            name,
            kind,
            trigger,
        } => {
            let r = node
                .resolve()?
                .send(
                    Method::POST,
                    "/api/connections/invite",
                    json!({ "instance": instance, "target_project": project, "name": name, "kind": kind, "trigger": trigger }),
                )
                .await?;
            eprintln!(
                "connection {} is Pending; give this code to the other side (it works once, for 7 days):",
                cell(&r, "connection")
            );
            println!("{}", cell(&r, "code"));
        }
        ConnectionCommand::Local {
            node,
            instance,
            project,
            other_project,
            trigger,
            name,
        } => {
            let r = node
                .resolve()?
                .send(
                    Method::POST,
                    "/api/connections/local",
                    json!({ "instance": instance, "project": project, "other_project": other_project, "trigger": trigger, "name": name }),
                )
                .await?;
            println!(
                "local connection {} ({project}) <-> {} ({other_project}) is Active",
                r["connections"][0].as_str().unwrap_or(""),
                r["connections"][1].as_str().unwrap_or("")
            );
        }
        ConnectionCommand::Accept {
            node,
            instance,
            project,
            trigger,
            code,
        } => {
            let r = node
                .resolve()?
                .send(
                    Method::POST,
                    "/api/connections/accept",
                    json!({ "code": code, "instance": instance, "target_project": project, "trigger": trigger }),
                )
                .await?;
            println!(
                "connection {} is Active with node {}",
                cell(&r, "connection"),
                cell(&r, "remote_node")
            );
        }
        ConnectionCommand::Activate { node, id } => {
            let r = post_empty(&node, &format!("/api/connections/{id}/activate")).await?;
            println!(
                "connection {id} is Active; {} held changes resumed",
                cell(&r, "resumed")
            );
        }
        ConnectionCommand::Deactivate { node, id } => {
            post_empty(&node, &format!("/api/connections/{id}/deactivate")).await?;
            println!("connection {id} is Deactivated; changes are kept until it is activated");
        }
        ConnectionCommand::Rotate { node, id } => {
            post_empty(&node, &format!("/api/connections/{id}/rotate-secret")).await?;
            println!("connection {id}: shared secret rotated on both nodes");
        }
        ConnectionCommand::Version(cmd) => versions::run(cmd).await?,
        ConnectionCommand::Delete { node, id, confirm } => {
            if confirm.as_deref() != Some(id.as_str()) {
                return Err(format!(
                    "deleting {id} removes its twins' sync info; repeat with --confirm {id}"
                ));
            }
            let r = node
                .resolve()?
                .send(
                    Method::DELETE,
                    &format!("/api/connections/{id}"),
                    json!({ "confirm": id }),
                )
                .await?;
            println!(
                "connection {id} deleted with {} twins",
                cell(&r, "twins_removed")
            );
        }
    }
    Ok(())
}

/// A POST that takes no arguments: its body is `{}`.
async fn post_empty(node: &Target, path: &str) -> Result<Value, String> {
    node.resolve()?.send(Method::POST, path, json!({})).await
}
