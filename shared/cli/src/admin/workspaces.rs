//! `twinsync workspace ...`: workspaces, their integrations, which connections each
//! integration groups, and each integration's subscription (plan and item capacity).

use super::client::Target;
use comfy_table::Table;
use reqwest::Method;
use serde_json::{Value, json};

#[derive(clap::Subcommand)]
pub enum WorkspaceCommand {
    /// Workspaces and integrations, with items under sync against each capacity.
    List {
        #[command(flatten)]
        node: Target,
    },
    /// A new workspace.
    Create {
        #[command(flatten)]
        node: Target,
        id: String,
        #[arg(long)]
        name: String,
    },
    /// A new integration in a workspace, with its subscription.
    AddIntegration {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        workspace: String,
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "standard")]
        plan: String,
        /// Items under sync the integration may hold.
        #[arg(long)]
        capacity: u64,
    },
    /// Put a connection in an integration (it leaves any other).
    Assign {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        integration: String,
        connection: String,
    },
    /// A new admin API token for a workspace, printed once: `read` sees the workspace's
    /// connections, pairs, events and jobs; `operator` also runs operations, jobs,
    /// Retry, pause and resume and versions. Neither administers the node.
    Token {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        workspace: String,
        name: String,
        #[arg(long, value_parser = ["read", "operator"])]
        role: String,
    },
    /// Revoke a workspace token at once.
    Revoke {
        #[command(flatten)]
        node: Target,
        #[arg(long)]
        workspace: String,
        name: String,
    },
    /// A new plan for an integration: items under sync stay; new ones come in only below
    /// the capacity.
    Subscribe {
        #[command(flatten)]
        node: Target,
        integration: String,
        #[arg(long, default_value = "standard")]
        plan: String,
        #[arg(long)]
        capacity: u64,
    },
}

pub async fn run(cmd: WorkspaceCommand) -> Result<(), String> {
    let (node, method, path, body) = match cmd {
        WorkspaceCommand::Token {
            node,
            workspace,
            name,
            role,
        } => {
            let path = format!("/api/workspaces/{workspace}/tokens");
            let body = json!({ "name": name, "role": role });
            let issued = node.resolve()?.send(Method::POST, &path, body).await?;
            // The token alone on stdout, for `token=$(twinsync workspace token ...)`.
            println!("{}", text(&issued["token"]));
            eprintln!(
                "token {name} ({role}) of workspace {workspace}: shown this once, keep it like a password"
            );
            return Ok(());
        }
        WorkspaceCommand::Revoke {
            node,
            workspace,
            name,
        } => (
            node,
            Method::DELETE,
            format!("/api/workspaces/{workspace}/tokens/{name}"),
            Some(json!({})),
        ),
        WorkspaceCommand::List { node } => (node, Method::GET, "/api/workspaces".to_string(), None),
        WorkspaceCommand::Create { node, id, name } => (
            node,
            Method::POST,
            "/api/workspaces".into(),
            Some(json!({ "id": id, "name": name })),
        ),
        WorkspaceCommand::AddIntegration {
            node,
            workspace,
            id,
            name,
            plan,
            capacity,
        } => (
            node,
            Method::POST,
            format!("/api/workspaces/{workspace}/integrations"),
            Some(json!({ "id": id, "name": name, "plan": plan, "item_capacity": capacity })),
        ),
        WorkspaceCommand::Assign {
            node,
            integration,
            connection,
        } => (
            node,
            Method::POST,
            format!("/api/integrations/{integration}/connections"),
            Some(json!({ "connection": connection })),
        ),
        WorkspaceCommand::Subscribe {
            node,
            integration,
            plan,
            capacity,
        } => (
            node,
            Method::POST,
            format!("/api/integrations/{integration}/subscription"),
            Some(json!({ "plan": plan, "item_capacity": capacity })),
        ),
    };
    let client = node.resolve()?;
    let answer = match body {
        Some(body) => client.send(method, &path, body).await?,
        None => client.get(&path).await?,
    };
    println!("{}", table(&answer));
    Ok(())
}

/// One row per integration: workspace, integration, plan, used / capacity, connections.
fn table(workspaces: &Value) -> Table {
    let mut t = Table::new();
    t.set_header([
        "workspace",
        "integration",
        "plan",
        "items under sync",
        "connections",
    ]);
    for w in workspaces.as_array().into_iter().flatten() {
        let integrations = w["integrations"].as_array().cloned().unwrap_or_default();
        if integrations.is_empty() {
            t.add_row([
                text(&w["id"]),
                "-".into(),
                "-".into(),
                "-".into(),
                "-".into(),
            ]);
        }
        for i in integrations {
            let used = format!(
                "{} / {}{}",
                i["used"],
                i["item_capacity"],
                if i["full"] == true { " (full)" } else { "" }
            );
            let connections: Vec<String> = i["connections"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect();
            t.add_row([
                text(&w["id"]),
                text(&i["id"]),
                text(&i["plan"]),
                used,
                connections.join(", "),
            ]);
        }
    }
    t
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}
