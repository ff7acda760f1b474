//! Peers: how a node reaches the other node of a connection.

use crate::Node;
use crate::handlers::receive;
use async_trait::async_trait;
use std::sync::{Arc, Weak};
use twinsync_core::TransportMessage;
use twinsync_ports::{Delivered, Peer, PortError, PortResult};

/// A node in the same process: delivery is an enqueue on its side, no network hop.
/// It holds a weak reference so two nodes pointing at each other can still be dropped.
pub struct LocalPeer {
    target: Weak<Node>,
}

impl LocalPeer {
    pub fn new(target: &Arc<Node>) -> Self {
        Self {
            target: Arc::downgrade(target),
        }
    }

    fn node(&self) -> PortResult<Arc<Node>> {
        self.target
            .upgrade()
            .ok_or_else(|| PortError::Unavailable("the local node has stopped".into()))
    }
}

#[async_trait]
impl Peer for LocalPeer {
    async fn deliver(&self, message: &TransportMessage) -> PortResult<()> {
        let node = self.node()?;
        receive::accept(&node, message).await
    }

    /// A batch's messages are queued there together, as a list over HTTP would be.
    fn batch_max(&self) -> usize {
        twinsync_core::TRANSPORT_BATCH_MAX as usize
    }

    async fn deliver_all(&self, messages: &[TransportMessage]) -> PortResult<Vec<Delivered>> {
        let node = self.node()?;
        let Some(first) = messages.first() else {
            return Ok(Vec::new());
        };
        let connection = receive::connection_of(&node, first.connection_id()).await?;
        // One connection's messages come together; any other is refused on its own.
        let (mut ours, mut answers) = (Vec::new(), Vec::new());
        for message in messages {
            if message.connection_id() == connection.id {
                ours.push(message.clone());
                answers.push(Delivered::Accepted);
            } else {
                let reason = "message is for another connection".to_string();
                answers.push(Delivered::Refused(reason));
            }
        }
        receive::accept_all(&node, &connection, &ours).await?;
        Ok(answers)
    }

    async fn dry_run(&self, request: &serde_json::Value) -> PortResult<serde_json::Value> {
        let node = self.node()?;
        let request = serde_json::from_value(request.clone())
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        let results = crate::preview::apply_here(&node, &request)
            .await
            .map_err(|e| PortError::Rejected(e.to_string()))?;
        serde_json::to_value(results).map_err(|e| PortError::Rejected(e.to_string()))
    }
}

/// Connects two in-process nodes both ways.
pub fn link_local(a: &Arc<Node>, b: &Arc<Node>) {
    a.add_peer(&b.id, Arc::new(LocalPeer::new(b)));
    b.add_peer(&a.id, Arc::new(LocalPeer::new(a)));
}
