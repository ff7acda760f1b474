//! Operations against a running node's admin API (`twinsync up` serves it).

use clap::Subcommand;
use comfy_table::Table;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// List connections of a node.
    Connections {
        #[arg(long, env = "TWINSYNC_NODE")]
        node: String,
    },
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
    /// force-unlink, clean-up, activate, deactivate.
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
        AdminCommand::Connections { node } => {
            let list = call(
                reqwest::Method::GET,
                format!("{node}/api/connections"),
                None,
            )
            .await?;
            let mut table = Table::new();
            table.set_header(["id", "name", "status", "remote node", "instance"]);
            for c in list.as_array().into_iter().flatten() {
                table.add_row([
                    cell(c, "id"),
                    cell(c, "name"),
                    cell(c, "status"),
                    cell(c, "remote_node"),
                    cell(c, "local_instance"),
                ]);
            }
            println!("{table}");
        }
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
