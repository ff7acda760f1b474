//! The transport both ways: [`HttpPeer`] delivers replicas and acks to the other node,
//! signed with this direction's key, several to a request where the other node takes
//! that; [`receive_transport`] takes them in.

use super::signed::{LinkError, Route, Signer, TRANSPORT_PATH, peer_refusal, verify};
use crate::Node;
use crate::handlers::receive;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU32, Ordering};
use twinsync_connector_kit::outbound;
use twinsync_core::{Connection, Link, TRANSPORT_BATCH_MAX, TransportMessage};
use twinsync_ports::{Delivered, Peer, PortError, PortResult};
use twinsync_security::derive_key;

/// Delivers transport messages to another node over HTTP, signed with this direction's key.
pub struct HttpPeer {
    http: reqwest::Client,
    url: String,
    connection_id: String,
    from: String,
    key: twinsync_security::DirectionKey,
    clock: std::sync::Arc<dyn twinsync_core::Clock>,
    /// The largest body the other node said it takes.
    peer_max_body: u64,
    /// The most messages the other node said one request may carry.
    peer_batch_max: usize,
    /// What the other node's answers to single deliveries said of it (0: nothing).
    said_batch_max: AtomicU32,
}

impl HttpPeer {
    pub fn new(node: &Node, connection: &Connection, peer_url: &str) -> Self {
        let link = connection.link.as_ref();
        let secret = link.map(|l| l.secret.0.clone()).unwrap_or_default();
        Self {
            http: node.http.clone(),
            url: format!("{}{TRANSPORT_PATH}", peer_url.trim_end_matches('/')),
            connection_id: connection.id.clone(),
            from: node.id.clone(),
            key: derive_key(&secret, &connection.id, &node.id, &connection.remote_node),
            clock: node.clock.clone(),
            peer_max_body: link.map_or(twinsync_core::DEFAULT_MAX_TRANSPORT_BODY, |l| {
                l.peer_max_body()
            }),
            peer_batch_max: link.map_or(1, Link::peer_batch_max),
            said_batch_max: AtomicU32::new(0),
        }
    }
}

/// Refuses, for good, a body over what the other node takes: it would refuse it unread,
/// so the twin says why now instead of retrying what cannot pass.
pub(crate) fn check_size(body_len: usize, peer_max_body: u64, peer: &str) -> PortResult<()> {
    if body_len as u64 > peer_max_body {
        return Err(PortError::Rejected(format!(
            "the replica is {body_len} bytes, over the {peer_max_body} bytes the other node ({peer}) takes \
             (raise max_replica_bytes in that node's [node] section, then make the connection again)"
        )));
    }
    Ok(())
}

#[async_trait]
impl Peer for HttpPeer {
    async fn deliver(&self, message: &TransportMessage) -> PortResult<()> {
        let body = serde_json::to_vec(message).map_err(|e| PortError::Rejected(e.to_string()))?;
        check_size(body.len(), self.peer_max_body, &self.url)?;
        let answer = self.post(body).await?;
        if let Some(max) = batch_max_in(&answer) {
            self.said_batch_max.store(max, Ordering::Relaxed);
        }
        Ok(())
    }

    fn batch_max(&self) -> usize {
        self.peer_batch_max
    }

    fn batch_max_said(&self) -> Option<u32> {
        Some(self.said_batch_max.load(Ordering::Relaxed)).filter(|m| *m > 0)
    }

    /// One signed request for as many messages as the other node takes in one (its
    /// `batch_max`, and its body limit); a message over the limit on its own is refused
    /// here, as `deliver` refuses it.
    async fn deliver_all(&self, messages: &[TransportMessage]) -> PortResult<Vec<Delivered>> {
        let mut bodies = Vec::with_capacity(messages.len());
        for message in messages {
            bodies
                .push(serde_json::to_vec(message).map_err(|e| PortError::Rejected(e.to_string()))?);
        }
        let sizes: Vec<usize> = bodies.iter().map(Vec::len).collect();
        let mut answers = Vec::with_capacity(messages.len());
        for part in plan(&sizes, self.peer_max_body, self.peer_batch_max) {
            match part {
                Part::List(range) => answers.extend(self.post_list(&bodies[range]).await?),
                Part::TooLarge(index) => {
                    let refusal = check_size(sizes[index], self.peer_max_body, &self.url);
                    let reason = refusal.err().map(|e| e.to_string()).unwrap_or_default();
                    answers.push(Delivered::Refused(reason));
                }
            }
        }
        Ok(answers)
    }
}

/// How many messages a request may carry, as the other node's answer to a single
/// delivery says (`{"accepted": true, "batch_max": 10}`), capped at what this node
/// sends; none where it does not say (an older node's answer, or any other text).
fn batch_max_in(answer: &str) -> Option<u32> {
    #[derive(Deserialize)]
    struct SingleAnswer {
        batch_max: Option<u32>,
    }
    let said = serde_json::from_str::<SingleAnswer>(answer)
        .ok()?
        .batch_max?;
    (said > 1).then_some(said.min(TRANSPORT_BATCH_MAX))
}

/// A request's share of a delivery's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    /// These messages, as one list (one alone as it is).
    List(std::ops::Range<usize>),
    /// This message alone is over the other node's limit.
    TooLarge(usize),
}

/// How messages of `sizes` bytes go: in order, at most `batch_max` and `max_body` bytes
/// (as one JSON list) to a request.
fn plan(sizes: &[usize], max_body: u64, batch_max: usize) -> Vec<Part> {
    let mut parts = Vec::new();
    let (mut start, mut list_len) = (0, 1_u64);
    for (index, &size) in sizes.iter().enumerate() {
        let size = size as u64;
        let alone = size <= max_body;
        let full = index - start >= batch_max.max(1) || list_len + size + 1 > max_body;
        if index > start && (!alone || full) {
            parts.push(Part::List(start..index));
            (start, list_len) = (index, 1);
        }
        if alone {
            list_len += size + 1;
        } else {
            parts.push(Part::TooLarge(index));
            (start, list_len) = (index + 1, 1);
        }
    }
    if start < sizes.len() {
        parts.push(Part::List(start..sizes.len()));
    }
    parts
}

impl HttpPeer {
    /// POSTs a signed `body` to the other node's transport route; its answer's text.
    async fn post(&self, body: Vec<u8>) -> PortResult<String> {
        let signer = Signer {
            key: &self.key,
            connection_id: &self.connection_id,
            from: &self.from,
        };
        let (req, _) = signer.post(
            &self.http,
            &self.url,
            TRANSPORT_PATH,
            self.clock.now_ms(),
            body,
        );
        let resp = req.send().await.map_err(|e| {
            PortError::Unavailable(format!("{}: {}", self.url, outbound::describe(&e)))
        })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(text);
        }
        Err(peer_refusal(&self.url, status.as_u16(), &text))
    }

    /// Delivers the messages `bodies` hold as one JSON list (one alone as it is).
    async fn post_list(&self, bodies: &[Vec<u8>]) -> PortResult<Vec<Delivered>> {
        if let [body] = bodies {
            return match self.post(body.clone()).await {
                Ok(_) => Ok(vec![Delivered::Accepted]),
                Err(PortError::Rejected(reason)) => Ok(vec![Delivered::Refused(reason)]),
                Err(e) => Err(e),
            };
        }
        let mut list = b"[".to_vec();
        for (i, body) in bodies.iter().enumerate() {
            if i > 0 {
                list.push(b',');
            }
            list.extend_from_slice(body);
        }
        list.push(b']');
        let text = self.post(list).await?;
        // The messages are queued there whatever the answer says; an answer that cannot
        // be read is tried again, and the other node's deduplication drops the repeat.
        let answer: DeliveryAnswer = serde_json::from_str(&text).map_err(|e| {
            PortError::Unavailable(format!("{}: the answer to a list: {e}", self.url))
        })?;
        answer
            .per_message(bodies.len())
            .map_err(|e| PortError::Unavailable(format!("{}: {e}", self.url)))
    }
}

/// The other node's answer to a delivery of several messages: how many it queued, and
/// which it refused for good (by their place in the list) and why.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeliveryAnswer {
    pub accepted: usize,
    #[serde(default)]
    pub refused: Vec<Refusal>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub index: usize,
    pub reason: String,
}

impl DeliveryAnswer {
    /// What became of each of the `count` messages sent, in order; an answer that does
    /// not add up to them is an error.
    pub fn per_message(self, count: usize) -> Result<Vec<Delivered>, String> {
        let mut out = vec![Delivered::Accepted; count];
        for r in self.refused {
            match out.get_mut(r.index) {
                Some(slot @ Delivered::Accepted) => *slot = Delivered::Refused(r.reason),
                _ => return Err(format!("the answer refuses message {} of {count}", r.index)),
            }
        }
        let refused = out.iter().filter(|d| **d != Delivered::Accepted).count();
        if self.accepted + refused != count {
            return Err(format!(
                "the answer accounts for {} of {count} messages",
                self.accepted + refused
            ));
        }
        Ok(out)
    }
}

/// What `POST /v1/transport` took in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// One message, queued.
    One,
    /// A list of messages: the ones queued and the ones refused.
    List(DeliveryAnswer),
}

/// `POST /v1/transport`: a replica or ack from the other node, or a list of them.
pub async fn receive_transport(
    node: &Node,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Received, LinkError> {
    let verified = verify(node, TRANSPORT_PATH, headers, body, Route::Delivery).await?;
    let connection = verified.connection;
    let list = verified
        .body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[');
    if list {
        return receive_list(node, &connection, &verified.body).await;
    }
    let message: TransportMessage =
        serde_json::from_slice(&verified.body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    if let Some(reason) = refusal(&connection, &message) {
        return Err(LinkError::Malformed(reason));
    }
    receive::accept_all(node, &connection, std::slice::from_ref(&message))
        .await
        .map_err(refused)?;
    Ok(Received::One)
}

/// A list of messages: each that cannot be read, or is for another connection, is
/// refused on its own; the rest are queued together, in order.
async fn receive_list(
    node: &Node,
    connection: &Connection,
    body: &[u8],
) -> Result<Received, LinkError> {
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| LinkError::Malformed(e.to_string()))?;
    let max = TRANSPORT_BATCH_MAX as usize;
    if list.is_empty() || list.len() > max {
        return Err(LinkError::Malformed(format!(
            "a delivery carries 1 to {max} messages, this one {}",
            list.len()
        )));
    }
    let mut answer = DeliveryAnswer::default();
    let mut messages = Vec::with_capacity(list.len());
    for (index, value) in list.into_iter().enumerate() {
        let read = serde_json::from_value::<TransportMessage>(value).map_err(|e| e.to_string());
        match read.and_then(|m| refusal(connection, &m).map_or(Ok(m), Err)) {
            Ok(message) => messages.push(message),
            Err(reason) => {
                tracing::warn!(connection = %connection.id, index, %reason, "a message of a delivery refused");
                answer.refused.push(Refusal { index, reason });
            }
        }
    }
    receive::accept_all(node, connection, &messages)
        .await
        .map_err(refused)?;
    answer.accepted = messages.len();
    Ok(Received::List(answer))
}

/// Why `message` cannot be taken on `connection`, if it cannot.
fn refusal(connection: &Connection, message: &TransportMessage) -> Option<String> {
    if message.connection_id() != connection.id {
        return Some("message is for another connection".into());
    }
    message.malformed().map(str::to_string)
}

fn refused(e: PortError) -> LinkError {
    match e {
        PortError::Rejected(m) => LinkError::Refused(m),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_table() {
        use Part::{List, TooLarge};
        // (sizes, max body, batch max) -> requests
        let table: [(&[usize], u64, usize, Vec<Part>); 7] = [
            (&[], 100, 10, vec![]),
            (&[10; 3], 100, 10, vec![List(0..3)]),
            // Ten to a list at most.
            (&[1; 12], 1_000, 10, vec![List(0..10), List(10..12)]),
            // A peer that takes one a request.
            (&[1; 2], 1_000, 1, vec![List(0..1), List(1..2)]),
            // "[" + 40 + "," + 40 + "]" = 83 fits 90; a third does not.
            (&[40; 3], 90, 10, vec![List(0..2), List(2..3)]),
            // A message over the limit alone is refused in its place, the order kept.
            (
                &[10, 200, 10, 10],
                100,
                10,
                vec![List(0..1), TooLarge(1), List(2..4)],
            ),
            (&[200, 200], 100, 10, vec![TooLarge(0), TooLarge(1)]),
        ];
        for (sizes, max_body, batch_max, want) in table {
            assert_eq!(plan(sizes, max_body, batch_max), want, "{sizes:?}");
        }
    }

    #[test]
    fn single_answers_table() {
        // The other node's answer to one message -> how many a request may carry.
        let table = [
            (r#"{"accepted":true,"batch_max":10}"#, Some(10)),
            (
                r#"{"accepted":true,"batch_max":50}"#,
                Some(TRANSPORT_BATCH_MAX),
            ),
            (r#"{"accepted":true}"#, None),
            (r#"{"accepted":true,"batch_max":1}"#, None),
            (r#"{"accepted":true,"batch_max":0}"#, None),
            (r#"{"accepted":true,"batch_max":"ten"}"#, None),
            ("", None),
            ("accepted", None),
        ];
        for (answer, want) in table {
            assert_eq!(batch_max_in(answer), want, "{answer}");
        }
    }

    #[test]
    fn answers_table() {
        let refusal = |index, reason: &str| Refusal {
            index,
            reason: reason.into(),
        };
        let refused = |reason: &str| Delivered::Refused(reason.into());
        // (accepted, refused, messages sent) -> per message, or why the answer is wrong
        let table = [
            (3, vec![], 3, Ok(vec![Delivered::Accepted; 3])),
            (
                1,
                vec![refusal(0, "bad"), refusal(2, "worse")],
                3,
                Ok(vec![refused("bad"), Delivered::Accepted, refused("worse")]),
            ),
            (2, vec![], 3, Err("the answer accounts for 2 of 3 messages")),
            (
                2,
                vec![refusal(3, "x")],
                3,
                Err("the answer refuses message 3 of 3"),
            ),
            (
                1,
                vec![refusal(0, "x"), refusal(0, "y")],
                3,
                Err("the answer refuses message 0 of 3"),
            ),
        ];
        for (accepted, refused, count, want) in table {
            let answer = DeliveryAnswer { accepted, refused };
            let got = answer.clone().per_message(count);
            assert_eq!(got, want.map_err(str::to_string), "{answer:?}");
        }
    }
}
