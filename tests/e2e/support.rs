//! Waiting helpers the end-to-end modules share: a test waits on a condition, never on a
//! guessed stretch of time.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;
use twinsync_ports::TwinQuery;

/// Checks `check` every 100 ms for at most `secs` seconds; panics naming `what`.
pub async fn until(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..secs * 10 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// One node named "node-a" on an in-memory store, over `tracker` (instance "sb"), with
/// connection "c" to "node-b" active: its default rules, and a trigger on label "sync".
pub async fn node_on(tracker: Arc<dyn twinsync_ports::Tracker>) -> twinsync_node::Node {
    node_with(tracker, Arc::new(twinsync_core::SystemClock), vec![]).await
}

/// [`node_on`] on `clock`, with the SynchronizationPlans `plans`.
pub async fn node_with(
    tracker: Arc<dyn twinsync_ports::Tracker>,
    clock: Arc<dyn twinsync_core::Clock>,
    plans: Vec<twinsync_core::SyncPlan>,
) -> twinsync_node::Node {
    use twinsync_core::{ConfigVersion, Connection, ConnectionStatus, Trigger};
    let (q, t, c) = twinsync_store::open_in_memory(clock.clone()).unwrap();
    let node = twinsync_node::Node::new("node-a", Arc::new(q), Arc::new(t), Arc::new(c), clock)
        .with_tracker(tracker);
    let mut connection = Connection {
        id: "c".into(),
        name: "c".into(),
        local_node: "node-a".into(),
        remote_node: "node-b".into(),
        local_instance: "sb".into(),
        target_project: "DEMO".into(),
        status: ConnectionStatus::Active,
        status_reason: None,
        versions: vec![],
        link: None,
        revision: 0,
        updated_ms: 0,
    };
    let version = ConfigVersion {
        triggers: vec![Trigger {
            id: "t1".into(),
            query: "labels = sync".into(),
            active: true,
        }],
        plans,
        ..twinsync_rules::defaults::version()
    };
    let v = connection.add_draft(version, 0);
    connection.activate(v).unwrap();
    node.connections.insert(&connection).await.unwrap();
    node
}

/// How many twins of `connection` on `node` are synced.
pub async fn synced_twins(node: &twinsync_node::Node, connection: &str) -> usize {
    node.twins
        .list(&TwinQuery {
            connection_id: Some(connection.into()),
            status: Some("synced".into()),
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

/// A node's admin API as a test calls it: on the admin listener, with the node's token.
pub struct Admin {
    pub url: String,
    pub token: String,
}

impl Admin {
    pub fn of(p: &twinsync_local::process::Process, node: &str) -> Admin {
        let endpoint = &p.admin[node];
        Admin {
            url: endpoint.url.clone(),
            token: endpoint.token.expose().to_string(),
        }
    }

    /// Status and JSON body (null when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Status and text body, for answers that are not JSON (a diff).
    pub async fn text(&self, path: &str) -> (u16, String) {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Invites `other` with `invite` and has it accept with `accept` (the code added);
    /// the connection's id.
    pub async fn connect(
        &self,
        other: &Admin,
        invite: serde_json::Value,
        mut accept: serde_json::Value,
    ) -> String {
        let (status, invited) = self.post("/api/connections/invite", invite).await;
        assert_eq!(status, 201, "{invited}");
        accept["code"] = invited["code"].clone();
        let (status, accepted) = other.post("/api/connections/accept", accept).await;
        assert_eq!(status, 201, "{accepted}");
        invited["connection"].as_str().unwrap().to_string()
    }
}

/// Makes `removals` the removal policy of `connection` on `node`, in a new active version.
pub async fn set_removals(
    node: &twinsync_node::Node,
    connection: &str,
    removals: twinsync_core::RemovalSettings,
) {
    let mut version = node
        .connection(connection)
        .await
        .unwrap()
        .active_version()
        .unwrap()
        .clone();
    version.note = format!("removals: {}", removals.policy.as_str());
    version.removals = removals;
    let number = twinsync_node::versions::save_draft(node, connection, version)
        .await
        .unwrap();
    twinsync_node::versions::activate_version(node, connection, number)
        .await
        .unwrap();
}

/// [`set_removals`] with `delete` and the tracker's usual closed status.
pub async fn delete_removals(node: &twinsync_node::Node, connection: &str) {
    let delete = twinsync_core::RemovalSettings {
        policy: twinsync_core::RemovalPolicy::Delete,
        close_status: None,
    };
    set_removals(node, connection, delete).await;
}
