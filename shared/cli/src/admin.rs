//! Operations against a running node's admin API (`twinsync up` serves it).

use clap::Subcommand;
use comfy_table::Table;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Connections: list, show, invite, accept, activate, deactivate, delete.
    #[command(subcommand)]
    Connection(ConnectionCommand),
    /// List twins (sync pairs) of a node.
    Twins {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
        #[arg(long)]
        connection: Option<String>,
        /// syncing, synced, error or unlinked.
        #[arg(long)]
        status: Option<String>,
    },
    /// Run an operation: sync, bulk-exalate, bulk-sync, relink, unlink, unexalate,
    /// force-unlink, clean-up, redrive (send the connection's dead-lettered messages
    /// back), activate, deactivate.
    Op {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
        #[arg(long)]
        connection: String,
        operation: String,
        /// The local item key, for item operations.
        #[arg(long)]
        item: Option<String>,
        /// The remote item key, for relink.
        #[arg(long)]
        remote: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ConnectionCommand {
    /// List the node's connections.
    List {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
    },
    /// One connection with its recent events.
    Show {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
        id: String,
    },
    /// Create a Pending connection and print its invitation code (treat it like a password).
    Invite {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
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
    /// Accept an invitation code from another node.
    Accept {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
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
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
        id: String,
    },
    /// Pause a connection; changes are kept.
    Deactivate {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
        id: String,
    },
    /// Rotate the shared secret; in-flight messages still verify during a grace period.
    Rotate {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
        id: String,
    },
    /// Delete a connection with its twins' sync info; needs --confirm ID.
    Delete {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
        id: String,
        #[arg(long)]
        confirm: Option<String>,
    },
}

async fn call(method: reqwest::Method, url: String, body: Option<Value>) -> Result<Value, String> {
    let client = reqwest::Client::new();
    let mut req = client.request(method, &url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let value: Value = resp.json().await.map_err(|e| format!("{url}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{url}: {status}: {}",
            value.get("error").and_then(|e| e.as_str()).unwrap_or("")
        ));
    }
    Ok(value)
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
        AdminCommand::Twins {
            node,
            connection,
            status,
        } => {
            let mut url = format!("{node}/api/twins?limit=1000");
            if let Some(c) = connection {
                url.push_str(&format!("&connection={c}"));
            }
            if let Some(s) = status {
                url.push_str(&format!("&status={s}"));
            }
            let list = call(reqwest::Method::GET, url, None).await?;
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
            println!("{table}");
        }
        AdminCommand::Op {
            node,
            connection,
            operation,
            item,
            remote,
        } => {
            let (url, body) = match operation.as_str() {
                "activate" | "deactivate" => (
                    format!("{node}/api/connections/{connection}/{operation}"),
                    None,
                ),
                _ => (
                    format!("{node}/api/connections/{connection}/operations/{operation}"),
                    Some(json!({ "item": item, "remote": remote })),
                ),
            };
            let result = call(reqwest::Method::POST, url, body).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn connection(cmd: ConnectionCommand) -> Result<(), String> {
    use reqwest::Method;
    match cmd {
        ConnectionCommand::List { node } => {
            let list = call(Method::GET, format!("{node}/api/connections"), None).await?;
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
            let c = call(Method::GET, format!("{node}/api/connections/{id}"), None).await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&c).map_err(|e| e.to_string())?
            );
            let events = call(
                Method::GET,
                format!("{node}/api/events?connection={id}&limit=20"),
                None,
            )
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
            let r = call(
                Method::POST,
                format!("{node}/api/connections/invite"),
                Some(json!({ "instance": instance, "target_project": project, "name": name, "kind": kind, "trigger": trigger })),
            )
            .await?;
            eprintln!(
                "connection {} is Pending; give this code to the other side (it works once, for 7 days):",
                cell(&r, "connection")
            );
            println!("{}", cell(&r, "code"));
        }
        ConnectionCommand::Accept {
            node,
            instance,
            project,
            trigger,
            code,
        } => {
            let r = call(
                Method::POST,
                format!("{node}/api/connections/accept"),
                Some(json!({ "code": code, "instance": instance, "target_project": project, "trigger": trigger })),
            )
            .await?;
            println!(
                "connection {} is Active with node {}",
                cell(&r, "connection"),
                cell(&r, "remote_node")
            );
        }
        ConnectionCommand::Activate { node, id } => {
            let r = call(
                Method::POST,
                format!("{node}/api/connections/{id}/activate"),
                None,
            )
            .await?;
            println!(
                "connection {id} is Active; {} held changes resumed",
                cell(&r, "resumed")
            );
        }
        ConnectionCommand::Deactivate { node, id } => {
            call(
                Method::POST,
                format!("{node}/api/connections/{id}/deactivate"),
                None,
            )
            .await?;
            println!("connection {id} is Deactivated; changes are kept until it is activated");
        }
        ConnectionCommand::Rotate { node, id } => {
            call(
                Method::POST,
                format!("{node}/api/connections/{id}/rotate-secret"),
                None,
            )
            .await?;
            println!("connection {id}: shared secret rotated on both nodes");
        }
        ConnectionCommand::Delete { node, id, confirm } => {
            if confirm.as_deref() != Some(id.as_str()) {
                return Err(format!(
                    "deleting {id} removes its twins' sync info; repeat with --confirm {id}"
                ));
            }
            let r = call(
                Method::DELETE,
                format!("{node}/api/connections/{id}?confirm={id}"),
                None,
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
