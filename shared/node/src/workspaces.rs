//! The node's workspaces, integrations and subscriptions (`twinsync_core::workspace`),
//! kept as one document in the connection store's meta records and changed with a
//! conditional write; and the item capacity, checked whenever a new item would come
//! under sync here (a trigger match, Sync, Bulk Exalate, a replica that creates a twin,
//! Relink).

use crate::router::scope::Scope;
use crate::{Node, NodeError, NodeResult};
use serde::Serialize;
use twinsync_core::workspace::admit;
use twinsync_core::{Admission, CoreError, Workspaces};
use utoipa::ToSchema;

/// The meta record that holds the document.
const META_KEY: &str = "workspaces";

async fn read(node: &Node) -> NodeResult<(Option<String>, Workspaces)> {
    let raw = node.connections.get_meta(META_KEY).await?;
    let doc = match &raw {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| NodeError::config(format!("the stored workspaces do not read: {e}")))?,
        None => Workspaces::default(),
    };
    Ok((raw, doc))
}

pub async fn load(node: &Node) -> NodeResult<Workspaces> {
    Ok(read(node).await?.1)
}

/// Changes the document with `change` and stores it only over what was read; a lost race
/// reads it again.
pub async fn change<T>(
    node: &Node,
    change: impl Fn(&mut Workspaces) -> Result<T, CoreError>,
) -> NodeResult<T> {
    for _ in 0..8 {
        let (raw, mut doc) = read(node).await?;
        let out = change(&mut doc).map_err(|e| NodeError::Operation(e.to_string()))?;
        let text = serde_json::to_string(&doc).map_err(|e| NodeError::config(e.to_string()))?;
        if node
            .connections
            .replace_meta(META_KEY, raw.as_deref(), &text)
            .await?
        {
            return Ok(out);
        }
    }
    Err(NodeError::Busy {
        what: "the workspaces are changing too often".into(),
        retry_after_ms: 100,
    })
}

/// Items under sync across an integration's connections.
async fn used(node: &Node, connections: &[String]) -> NodeResult<u64> {
    let mut used = 0;
    for c in connections {
        used += node.twins.count_under_sync(c).await?;
    }
    Ok(used)
}

/// Whether one more item of `connection_id` may come under sync: refused with the
/// integration's name and count when its subscription's capacity is reached.
pub async fn admit_item(node: &Node, connection_id: &str) -> NodeResult<()> {
    let doc = load(node).await?;
    let Some((_, integration)) = doc.integration_of(connection_id) else {
        return Ok(());
    };
    let used = used(node, &integration.connections).await?;
    match admit(used, integration.subscription.item_capacity) {
        Admission::Admitted => Ok(()),
        Admission::Full { used, capacity } => Err(NodeError::CapacityReached(format!(
            "integration {} has reached its item capacity ({used} of {capacity} items under sync, plan {})",
            integration.name, integration.subscription.plan
        ))),
    }
}

/// A workspace as the API, the CLI and the monitor show it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    pub id: String,
    pub name: String,
    pub integrations: Vec<IntegrationView>,
    /// Its admin API tokens, by name and role (never the token).
    pub tokens: Vec<TokenView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub name: String,
    /// read or operator.
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    pub id: String,
    pub name: String,
    pub connections: Vec<String>,
    pub plan: String,
    pub item_capacity: u64,
    /// Items under sync now, across its connections.
    pub used: u64,
    /// No item can come under sync until `used` is below `item_capacity`.
    pub full: bool,
}

/// The workspaces `scope` sees: all for the node's admin token, its own for a
/// workspace token.
pub async fn view(node: &Node, scope: &Scope) -> NodeResult<Vec<WorkspaceView>> {
    let doc = load(node).await?;
    let mut out = Vec::new();
    let seen = |id: &str| scope.workspace().is_none_or(|own| own == id);
    for w in doc.workspaces.into_iter().filter(|w| seen(&w.id)) {
        let mut integrations = Vec::new();
        for i in w.integrations {
            let used = used(node, &i.connections).await?;
            integrations.push(IntegrationView {
                full: admit(used, i.subscription.item_capacity) != Admission::Admitted,
                id: i.id,
                name: i.name,
                connections: i.connections,
                plan: i.subscription.plan,
                item_capacity: i.subscription.item_capacity,
                used,
            });
        }
        let tokens = w
            .tokens
            .iter()
            .map(|t| TokenView {
                name: t.name.clone(),
                role: format!("{:?}", t.role).to_lowercase(),
            })
            .collect();
        out.push(WorkspaceView {
            id: w.id,
            name: w.name,
            integrations,
            tokens,
        });
    }
    Ok(out)
}
