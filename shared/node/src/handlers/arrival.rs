//! How an instance's changes reach the node: by the webhook it registered on the tracker,
//! or by polling alone. Recorded at start and by webhook deliveries, read by the
//! scheduler to choose how often it polls (`handlers::polling`).

use crate::{Node, NodeResult};

/// How changes of an instance's items reach the node, as recorded when it started
/// (`assemble::register_webhooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The node registered its webhook on the tracker at start, or the config says one
    /// was set up by hand (`webhook_by_hand`).
    Webhooks,
    /// Polling may be all that brings them: the tracker has no webhooks, the node does
    /// not register one (one set up by hand, undeclared, may or may not be there), or
    /// its registration failed at start.
    Polls,
}

/// The recorded values: the registered webhook's deliveries verify (or none came yet),
/// the last one was refused, or polling may be all there is.
const WEBHOOKS: &str = "webhooks";
const WEBHOOKS_REFUSED: &str = "webhooks-refused";
const POLLS: &str = "polls";

fn meta_key(instance: &str) -> String {
    format!("arrival:{instance}")
}

impl Arrival {
    /// What the node recorded for `instance`; polls when nothing is recorded (a node
    /// that never registered, or one from before the record existed), and while the last
    /// webhook delivery was refused.
    pub async fn of(node: &Node, instance: &str) -> NodeResult<Arrival> {
        let recorded = node.connections.get_meta(&meta_key(instance)).await?;
        Ok(match recorded.as_deref() {
            Some(WEBHOOKS) => Arrival::Webhooks,
            _ => Arrival::Polls,
        })
    }

    /// Records how `instance`'s changes arrive, as the node registers its webhooks.
    pub async fn record(self, node: &Node, instance: &str) -> NodeResult<()> {
        let value = match self {
            Arrival::Webhooks => WEBHOOKS,
            Arrival::Polls => POLLS,
        };
        node.connections
            .set_meta(&meta_key(instance), value)
            .await?;
        Ok(())
    }
}

/// Whether a webhook delivery passed the tracker's verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Verified,
    Refused,
}

/// Notes a delivery for an instance whose webhook the node registered. A refused one (a
/// secret that does not match, a stranger) means the webhook may bring nothing, so
/// polling goes back to the short interval until a delivery verifies again. Callers
/// note a delivery whose outcome differs from the last one they noted, and again once
/// their note is a minute old (`ingest::NOTE_AGAIN_AFTER_MS`).
pub async fn note_delivery(node: &Node, instance: &str, delivery: Delivery) -> NodeResult<()> {
    let key = meta_key(instance);
    let recorded = node.connections.get_meta(&key).await?;
    let next = match (recorded.as_deref(), delivery) {
        (Some(WEBHOOKS), Delivery::Refused) => WEBHOOKS_REFUSED,
        (Some(WEBHOOKS_REFUSED), Delivery::Verified) => WEBHOOKS,
        _ => return Ok(()),
    };
    node.connections.set_meta(&key, next).await?;
    Ok(())
}
