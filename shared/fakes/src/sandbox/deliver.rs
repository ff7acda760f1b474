//! Outgoing webhooks: one background task delivers events in order, with retries.

use super::state::{AppState, Event};
use backon::{ExponentialBuilder, Retryable};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use twinsync_core::Clock;
use twinsync_sandbox::webhook::{self, WebhookPayload};

/// Parallel delivery lanes; an item always uses the same lane, so its webhooks arrive
/// in order while different items do not wait for each other.
const LANES: usize = 4;

/// Starts the lanes and the task that hands each event to its item's lane.
pub fn start(state: Arc<AppState>, mut rx: mpsc::UnboundedReceiver<Event>) {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    // The tasks hold the state weakly so the server can be dropped; they end with it.
    let weak = Arc::downgrade(&state);
    drop(state);
    let mut lanes = Vec::with_capacity(LANES);
    for _ in 0..LANES {
        let (tx, mut lane_rx) = mpsc::unbounded_channel::<Event>();
        lanes.push(tx);
        let weak = weak.clone();
        let client = client.clone();
        tokio::spawn(async move {
            while let Some(event) = lane_rx.recv().await {
                let Some(state) = weak.upgrade() else { break };
                let Some(subscriptions) = subscriptions(&state) else {
                    state.webhooks.finished();
                    continue;
                };
                let webhooks = state.webhooks.clone();
                drop(state);
                for (url, secret) in subscriptions {
                    deliver(&client, &url, &secret, &event).await;
                }
                webhooks.finished();
            }
        });
    }
    tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            let lane = event
                .item
                .key
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
                % LANES;
            if lanes[lane].send(event).is_err() {
                break;
            }
        }
    });
}

/// Every webhook subscription's URL and secret; `None`, logged, when they cannot be read.
fn subscriptions(state: &AppState) -> Option<Vec<(String, String)>> {
    let conn = state.db();
    let rows = conn
        .prepare_cached("SELECT url, secret FROM webhooks ORDER BY id")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect());
    match rows {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!(error = %e, "cannot read webhook subscriptions");
            None
        }
    }
}

async fn deliver(client: &reqwest::Client, url: &str, secret: &str, event: &Event) {
    let now_ms = twinsync_core::SystemClock.now_ms();
    let timestamp = now_ms / 1000;
    let payload = WebhookPayload {
        event: event.event.clone(),
        delivery_id: uuid::Uuid::new_v4().to_string(),
        timestamp,
        item: event.item.clone(),
    };
    let Ok(body) = serde_json::to_vec(&payload) else {
        return;
    };
    let signature = webhook::sign(secret, timestamp, &body);
    let send = || async {
        let resp = client
            .post(url)
            .header("content-type", "application/json")
            .header(webhook::SIGNATURE, &signature)
            .header(webhook::TIMESTAMP, timestamp.to_string())
            .header(webhook::DELIVERY, &payload.delivery_id)
            .body(body.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if resp.status().is_server_error() {
            return Err(format!("{} answered {}", url, resp.status()));
        }
        if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            // The receiver's flood limit: it polls for what it refused, and says so.
            tracing::debug!(%url, "webhook refused over the receiver's limit");
        } else if !resp.status().is_success() {
            // A 4xx will not improve with retries; log it once.
            tracing::warn!(%url, status = %resp.status(), "webhook refused");
        }
        Ok(())
    };
    let result = send
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(Duration::from_millis(100))
                .with_max_times(3),
        )
        .await;
    if let Err(e) = result {
        // Polling is the fallback for a lost webhook.
        tracing::warn!(%url, error = %e, "webhook delivery failed");
    }
}
