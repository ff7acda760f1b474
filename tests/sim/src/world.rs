//! The simulated world: two nodes on SQLite files, each with its in-memory tracker, a
//! peer between them that can be cut, one manual clock. Nothing here runs by itself:
//! [`crate::run`] decides every step. The nodes share a secret, as after an invitation:
//! every message between them is signed with the sender's secret and verified by the
//! receiver's, as over HTTP, so a rotation of the secret is simulated too.

use crate::effects::{CrashingSends, CrashingTwins, Effects};
use crate::tracker::{Project, SimTracker};
use async_trait::async_trait;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use twinsync_core::{
    Clock, ConnectionKind, ConnectorKind, Link, ManualClock, NodeHelperMaps, Secret,
    TRANSPORT_BATCH_MAX, TransportMessage,
};
use twinsync_node::assemble::{NodeOptions, NodePorts, build_node_on};
use twinsync_node::config::{ConnectionSection, InstanceSection, NodeSection, TriggerSection};
use twinsync_node::handlers::scheduler::Polling;
use twinsync_node::link::{Received, TRANSPORT_PATH, peer_refusal, receive_transport};
use twinsync_node::{Node, NodeSettings};
use twinsync_ports::{Decorated, Delivered, Peer, PortError, PortResult, Tracker};

/// How one node's messages reach the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Deliveries {
    /// Each message in a request of its own, as to a node that never said it takes lists.
    #[default]
    OneByOne,
    /// A batch's messages as one list, as the nodes agree in the handshake.
    Lists,
}

/// The connection between the two nodes.
pub const CONNECTION: &str = "sim";
pub const POLL_INTERVAL_MS: i64 = 5_000;
/// The secret both nodes start with.
const FIRST_SECRET: &str = "5151515151515151515151515151515151515151515151515151515151515151";

/// One side: a node, its tracker and its trigger.
pub struct Side {
    pub name: &'static str,
    pub node_id: &'static str,
    pub instance: &'static str,
    pub project: Project,
    /// The label that brings a person's item under sync here.
    pub label: &'static str,
    pub tracker: Arc<SimTracker>,
    pub node: Arc<Node>,
    pub effects: Arc<Effects>,
    /// How the other node reaches this one.
    pub inbound: Arc<SimPeer>,
    /// The scheduler's polling state of the node's current process.
    pub polling: Arc<Polling>,
    section: NodeSection,
}

/// The other node as a peer: delivery is an enqueue there, unless the simulation has
/// cut the link. It follows the node across restarts. It holds the node weakly: two
/// nodes pointing at each other must still be dropped (and their databases closed) when
/// the seed ends.
#[derive(Default)]
pub struct SimPeer {
    deliveries: Deliveries,
    target: Mutex<Option<(Weak<Node>, Arc<Effects>)>>,
    /// The node that sends through this peer: it signs with its secret.
    sender: Mutex<Option<Weak<Node>>>,
    cut_until_ms: Mutex<i64>,
    clock: Mutex<Option<Arc<dyn Clock>>>,
}

impl SimPeer {
    fn set_target(&self, node: &Arc<Node>, effects: Arc<Effects>) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((Arc::downgrade(node), effects));
    }

    fn set_sender(&self, node: &Arc<Node>) {
        *self.sender.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::downgrade(node));
    }

    /// The node cannot be reached until `until_ms`.
    pub fn cut_until(&self, until_ms: i64) {
        *self.cut_until_ms.lock().unwrap_or_else(|p| p.into_inner()) = until_ms;
    }

    /// The node behind this peer, if it can be reached at `now_ms`.
    pub fn reachable(&self, now_ms: i64) -> PortResult<(Arc<Node>, Arc<Effects>)> {
        if now_ms < *self.cut_until_ms.lock().unwrap_or_else(|p| p.into_inner()) {
            return Err(PortError::Unavailable(
                "the other node is unreachable".into(),
            ));
        }
        let (target, effects) = self
            .target
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| PortError::Unavailable("the other node is not up".into()))?;
        let target = target
            .upgrade()
            .ok_or_else(|| PortError::Unavailable("the other node has stopped".into()))?;
        Ok((target, effects))
    }

    fn sender(&self) -> PortResult<Arc<Node>> {
        self.sender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(Weak::upgrade)
            .ok_or_else(|| PortError::Unavailable("the sending node has stopped".into()))
    }
}

/// `body` signed by `from` for `path` with its current secret of the connection, as the
/// header pairs an HTTP request would carry.
pub async fn signed_headers(
    from: &Node,
    path: &str,
    body: &[u8],
) -> PortResult<(Vec<(String, String)>, String)> {
    let connection = from
        .connections
        .get(CONNECTION)
        .await?
        .ok_or_else(|| PortError::Rejected("no connection".into()))?;
    let secret = connection.link.map(|l| l.secret.0).unwrap_or_default();
    let key = twinsync_security::derive_key(&secret, CONNECTION, &from.id, &connection.remote_node);
    let signed = twinsync_security::sign_request(
        &key,
        CONNECTION,
        &from.id,
        "POST",
        path,
        from.clock.now_ms(),
        body,
    );
    let headers = signed
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Ok((headers, secret))
}

impl SimPeer {
    /// `body` signed by the sending node and taken by the other node's transport route,
    /// as over HTTP.
    async fn post(&self, body: Vec<u8>) -> PortResult<Received> {
        let now = self
            .clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |c| c.now_ms());
        let (target, effects) = self.reachable(now)?;
        let sender = self.sender()?;
        let (headers, _) = signed_headers(&sender, TRANSPORT_PATH, &body).await?;
        // The other node crashing while it takes the message is a failed request here.
        tokio::select! {
            biased;
            taken = receive_transport(&target, &headers, &body) => taken.map_err(|e| {
                peer_refusal(&target.id, e.status(), &e.to_string())
            }),
            _ = effects.wait_crash() => Err(PortError::Unavailable("the other node went down".into())),
        }
    }
}

#[async_trait]
impl Peer for SimPeer {
    async fn deliver(&self, message: &TransportMessage) -> PortResult<()> {
        let body = serde_json::to_vec(message).map_err(|e| PortError::Rejected(e.to_string()))?;
        self.post(body).await.map(|_| ())
    }

    fn batch_max(&self) -> usize {
        match self.deliveries {
            Deliveries::OneByOne => 1,
            Deliveries::Lists => TRANSPORT_BATCH_MAX as usize,
        }
    }

    async fn deliver_all(&self, messages: &[TransportMessage]) -> PortResult<Vec<Delivered>> {
        let body = serde_json::to_vec(messages).map_err(|e| PortError::Rejected(e.to_string()))?;
        match self.post(body).await? {
            Received::List(answer) => answer
                .per_message(messages.len())
                .map_err(PortError::Unavailable),
            Received::One => Err(PortError::Unavailable(
                "a list answered as one message".into(),
            )),
        }
    }
}

/// The node settings of the simulation: backoffs scaled down so that retries happen
/// within simulated minutes. A webhook does not wait for an apply of its item (the
/// local default): the steps run one at a time on the simulation's clock, so none would
/// finish meanwhile.
pub fn settings() -> NodeSettings {
    NodeSettings {
        backoff_base_ms: 200,
        backoff_max_ms: 5_000,
        echo_wait_ms: 0,
        ..NodeSettings::default()
    }
}

fn project(key: &str, statuses: [&str; 3]) -> Project {
    Project {
        key: key.into(),
        statuses: statuses.map(String::from).to_vec(),
        priorities: ["Low", "Medium", "High", "Highest"]
            .map(String::from)
            .to_vec(),
    }
}

pub const STATUSES_A: [&str; 3] = ["Open", "In Progress", "Done"];
pub const STATUSES_B: [&str; 3] = ["To Do", "Doing", "Closed"];

/// A's status for B's and back, as the connection's maps say.
pub fn map_status(from: &[&str; 3], to: &[&str; 3], status: &str) -> String {
    let i = from.iter().position(|s| *s == status).unwrap_or(0);
    to[i].to_string()
}

fn section(side: usize) -> NodeSection {
    let (id, inst, project, label, remote) = match side {
        0 => ("node-a", "sandbox-a", "DEMO", "sync", "node-b"),
        _ => ("node-b", "sandbox-b", "SUPPORT", "escalate", "node-a"),
    };
    let (from, to) = if side == 0 {
        (STATUSES_B, STATUSES_A)
    } else {
        (STATUSES_A, STATUSES_B)
    };
    NodeSection {
        id: id.into(),
        data_dir: id.into(),
        poll_interval_ms: POLL_INTERVAL_MS,
        instance: vec![InstanceSection {
            id: inst.into(),
            connector: ConnectorKind::Sandbox,
            base_url: "https://sim.invalid".into(),
            webhook_secret: "sim-webhook-secret-0123456789".into(),
            ..Default::default()
        }],
        connection: vec![ConnectionSection {
            id: CONNECTION.into(),
            name: "simulated".into(),
            instance: inst.into(),
            remote_node: remote.into(),
            target_project: project.into(),
            helper_maps: Some(NodeHelperMaps {
                statuses: from
                    .iter()
                    .zip(to)
                    .map(|(f, t)| (f.to_string(), t.to_string()))
                    .collect(),
                ..Default::default()
            }),
            trigger: vec![TriggerSection {
                id: None,
                query: format!("project = {project} AND labels = {label}"),
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Builds (or, after a crash, builds again) a side's node on its database.
async fn build(
    section: &NodeSection,
    dir: &Path,
    clock: &ManualClock,
    tracker: &Arc<SimTracker>,
    effects: &Arc<Effects>,
) -> Result<Node, String> {
    let clock: Arc<dyn Clock> = Arc::new(clock.clone());
    let (queue, twins, connections) = twinsync_store::open_node_store(
        &dir.join(format!("{}.db", section.id)),
        clock.clone(),
        twinsync_store::QueueSettings::default(),
    )
    .map_err(|e| e.to_string())?;
    tracker.attach(effects.clone());
    let t = tracker.clone();
    let options = NodeOptions {
        node: settings(),
        clock,
        queue_decorator: None,
        tracker_decorator: Some(Arc::new(move |_| t.clone() as Arc<dyn Tracker>)),
    };
    let ports = NodePorts {
        queue: Arc::new(Decorated::new(
            Arc::new(queue),
            CrashingSends(effects.clone()),
        )),
        twins: Arc::new(CrashingTwins {
            inner: Arc::new(twins),
            effects: effects.clone(),
        }),
        connections: Arc::new(connections),
    };
    build_node_on(
        section,
        dir,
        &HashMap::new(),
        &["node-a", "node-b"],
        &options,
        ports,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Gives the node's connection the secret both nodes start with, as an accepted
/// invitation leaves it.
async fn share_secret(node: &Node) -> Result<(), String> {
    let mut connection = node
        .connection(CONNECTION)
        .await
        .map_err(|e| e.to_string())?;
    connection.link = Some(Link::established(
        ConnectionKind::Public,
        Secret(FIRST_SECRET.into()),
    ));
    node.connections
        .update(&connection)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Both sides, the clock and the directory of their databases.
pub struct World {
    pub clock: ManualClock,
    pub sides: [Side; 2],
    dir: PathBuf,
    _temp: tempfile::TempDir,
}

impl World {
    pub async fn new(start_ms: i64, deliveries: Deliveries) -> Result<World, String> {
        let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let dir = temp.path().to_path_buf();
        let clock = ManualClock::new(start_ms);
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let mut sides = Vec::new();
        for i in 0..2 {
            let section = section(i);
            let (name, project, label) = match i {
                0 => ("a", project("DEMO", STATUSES_A), "sync"),
                _ => ("b", project("SUPPORT", STATUSES_B), "escalate"),
            };
            let tracker = Arc::new(SimTracker::new(
                &section.instance[0].id,
                vec![project.clone()],
                clock.clone(),
            ));
            let effects = Effects::new();
            let node = Arc::new(build(&section, &dir, &clock, &tracker, &effects).await?);
            let inbound = Arc::new(SimPeer {
                deliveries,
                ..SimPeer::default()
            });
            *inbound.clock.lock().unwrap_or_else(|p| p.into_inner()) = Some(shared.clone());
            inbound.set_target(&node, effects.clone());
            sides.push(Side {
                name,
                node_id: if i == 0 { "node-a" } else { "node-b" },
                instance: if i == 0 { "sandbox-a" } else { "sandbox-b" },
                project,
                label,
                tracker,
                node,
                effects,
                inbound,
                polling: Arc::new(Polling::new(section.poll_intervals())),
                section,
            });
        }
        let [a, b]: [Side; 2] = sides
            .try_into()
            .map_err(|_| "two sides expected".to_string())?;
        a.node.add_peer(b.node_id, b.inbound.clone());
        b.node.add_peer(a.node_id, a.inbound.clone());
        b.inbound.set_sender(&a.node);
        a.inbound.set_sender(&b.node);
        for side in [&a, &b] {
            share_secret(&side.node).await?;
        }
        Ok(World {
            clock,
            sides: [a, b],
            dir,
            _temp: temp,
        })
    }

    /// Starts side `i`'s node again on its database, as after a killed process.
    pub async fn restart(&mut self, i: usize) -> Result<(), String> {
        let effects = Effects::new();
        let side = &self.sides[i];
        let node = Arc::new(
            build(
                &side.section,
                &self.dir,
                &self.clock,
                &side.tracker,
                &effects,
            )
            .await?,
        );
        let other = &self.sides[1 - i];
        node.add_peer(other.node_id, other.inbound.clone());
        other.inbound.set_sender(&node);
        side.inbound.set_target(&node, effects.clone());
        let side = &mut self.sides[i];
        side.node = node;
        side.effects = effects;
        side.polling = Arc::new(Polling::new(side.section.poll_intervals()));
        Ok(())
    }
}
