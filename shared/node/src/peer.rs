//! Peers: how a node reaches the other node of a connection.

use crate::Node;
use crate::handlers::receive;
use async_trait::async_trait;
use std::future::Future;
use std::sync::{Arc, Weak};
use tokio::runtime::Handle;
use twinsync_core::TransportMessage;
use twinsync_ports::{Delivered, Peer, PortError, PortResult};

/// A node in the same process: delivery is an enqueue on its side, no network hop.
/// It holds a weak reference so two nodes pointing at each other can still be dropped.
/// When the target runs on a runtime of its own (`twinsync_local`'s one runtime per node),
/// the enqueue runs there, so a node's database is only ever worked on by its own threads.
pub struct LocalPeer {
    target: Weak<Node>,
    runtime: Option<Handle>,
}

impl LocalPeer {
    /// A peer whose work runs on `runtime`, the target node's own, or on the caller's
    /// when `None`.
    pub fn new(target: &Arc<Node>, runtime: Option<Handle>) -> Self {
        Self {
            target: Arc::downgrade(target),
            runtime,
        }
    }

    fn node(&self) -> PortResult<Arc<Node>> {
        self.target
            .upgrade()
            .ok_or_else(|| PortError::Unavailable("the local node has stopped".into()))
    }

    /// Runs `work` with the target node, on its runtime when it has one of its own.
    async fn there<T, F, Fut>(&self, work: F) -> PortResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Node>) -> Fut,
        Fut: Future<Output = PortResult<T>> + Send + 'static,
    {
        let job = work(self.node()?);
        match &self.runtime {
            None => job.await,
            Some(runtime) => runtime.spawn(job).await.map_err(|e| {
                PortError::Unavailable(format!("the local node's runtime has stopped: {e}"))
            })?,
        }
    }
}

#[async_trait]
impl Peer for LocalPeer {
    async fn deliver(&self, message: &TransportMessage) -> PortResult<()> {
        let message = message.clone();
        self.there(|node| async move { receive::accept(&node, &message).await })
            .await
    }

    /// A batch's messages are queued there together, as a list over HTTP would be.
    fn batch_max(&self) -> usize {
        twinsync_core::TRANSPORT_BATCH_MAX as usize
    }

    async fn deliver_all(&self, messages: &[TransportMessage]) -> PortResult<Vec<Delivered>> {
        let messages = messages.to_vec();
        self.there(|node| async move { accept_list(&node, messages).await })
            .await
    }

    async fn dry_run(&self, request: &serde_json::Value) -> PortResult<serde_json::Value> {
        let request = serde_json::from_value(request.clone())
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        self.there(|node| async move {
            let results = crate::preview::apply_here(&node, &request)
                .await
                .map_err(|e| PortError::Rejected(e.to_string()))?;
            serde_json::to_value(results).map_err(|e| PortError::Rejected(e.to_string()))
        })
        .await
    }
}

/// Queues one connection's messages of a delivered list together; any other is refused
/// on its own.
async fn accept_list(node: &Node, messages: Vec<TransportMessage>) -> PortResult<Vec<Delivered>> {
    let Some(first) = messages.first() else {
        return Ok(Vec::new());
    };
    let connection = receive::connection_of(node, first.connection_id()).await?;
    let (mut ours, mut answers) = (Vec::new(), Vec::new());
    for message in messages {
        if message.connection_id() == connection.id {
            ours.push(message);
            answers.push(Delivered::Accepted);
        } else {
            let reason = "message is for another connection".to_string();
            answers.push(Delivered::Refused(reason));
        }
    }
    receive::accept_all(node, &connection, &ours).await?;
    Ok(answers)
}

/// A node of this process and the runtime it runs on, when it has one of its own.
pub type LocalNode<'a> = (&'a Arc<Node>, Option<Handle>);

/// Connects two in-process nodes both ways; what a peer does on its target runs on the
/// target's runtime when it has one.
pub fn link_local(a: LocalNode<'_>, b: LocalNode<'_>) {
    a.0.add_peer(&b.0.id, Arc::new(LocalPeer::new(b.0, b.1)));
    b.0.add_peer(&a.0.id, Arc::new(LocalPeer::new(a.0, a.1)));
}
