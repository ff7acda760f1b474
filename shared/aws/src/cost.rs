//! The cost model of docs/aws-cost.md: what a million changes cost at list prices, from
//! the operations and request units counted per change (`OperationCounter`). Pure
//! arithmetic, so the figures in the docs come from one place.

use serde::Serialize;
use std::collections::BTreeMap;

/// List prices, us-east-1, arm64 (2026): dollars per unit.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Prices {
    pub lambda_request: f64,
    pub lambda_gb_second: f64,
    pub sqs_fifo_request: f64,
    pub dynamodb_read_unit: f64,
    pub dynamodb_write_unit: f64,
}

pub const LIST_PRICES: Prices = Prices {
    lambda_request: 0.20 / 1e6,
    lambda_gb_second: 0.000_013_333_4,
    sqs_fifo_request: 0.50 / 1e6,
    dynamodb_read_unit: 0.125 / 1e6,
    dynamodb_write_unit: 0.625 / 1e6,
};

/// What one change used, both nodes together, as counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PerChange {
    /// Lambda invocations by SQS event source mappings (one per batch).
    pub queue_invocations: f64,
    /// Lambda invocations through function URLs (webhooks, transport deliveries).
    pub url_invocations: f64,
    /// Messages the functions handled: each is received and deleted by the mapping,
    /// `ReceiveMessage` and `DeleteMessageBatch` once per batch.
    pub messages_handled: f64,
    /// SQS requests the functions made (`SendMessage`, `SendMessageBatch`, ...).
    pub sqs_requests: f64,
    pub read_units: f64,
    pub write_units: f64,
    /// Tracker API calls.
    pub tracker_calls: f64,
    /// Tracker calls waited for one after another (they dominate the functions'
    /// duration): calls that a batch's message groups make side by side are waited for
    /// once.
    pub tracker_waits: f64,
    /// Time a webhook waited in the ingest function for the apply writing its item
    /// (so that our write's echo is dropped there), in tracker calls: what it waits out
    /// is mostly the apply's call.
    pub apply_waits: f64,
}

/// What the duration part of the model assumes.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Duration {
    /// The functions' memory (`MemorySize` in infra/template.yaml).
    pub memory_mb: f64,
    /// Billed time per invocation besides tracker calls.
    pub own_ms: f64,
    /// A tracker API call's latency, waited for inside the invocation.
    pub tracker_ms: f64,
}

pub const DURATION: Duration = Duration {
    memory_mb: 128.0,
    own_ms: 5.0,
    tracker_ms: 150.0,
};

/// One line of the bill per million changes.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub service: &'static str,
    pub quantity_per_million: f64,
    pub dollars: f64,
}

/// The bill per million changes.
#[derive(Debug, Clone, Serialize)]
pub struct Bill {
    pub lines: Vec<Line>,
    pub total: f64,
}

/// Prices a million changes like `per_change`. A batch handled by one invocation is
/// received and deleted with one request each, so the mapping's requests follow the
/// invocations, not the messages.
pub fn per_million(per_change: &PerChange, prices: &Prices, duration: &Duration) -> Bill {
    let m = 1e6;
    let invocations = per_change.queue_invocations + per_change.url_invocations;
    let waits = per_change.tracker_waits + per_change.apply_waits;
    let seconds = (invocations * duration.own_ms + waits * duration.tracker_ms) / 1_000.0;
    let gb_seconds = seconds * duration.memory_mb / 1_024.0;
    let sqs = per_change.sqs_requests + 2.0 * per_change.queue_invocations;
    let lines = vec![
        line("Lambda requests", invocations * m, prices.lambda_request),
        line("Lambda GB-seconds", gb_seconds * m, prices.lambda_gb_second),
        line("SQS FIFO requests", sqs * m, prices.sqs_fifo_request),
        line(
            "DynamoDB read units",
            per_change.read_units * m,
            prices.dynamodb_read_unit,
        ),
        line(
            "DynamoDB write units",
            per_change.write_units * m,
            prices.dynamodb_write_unit,
        ),
    ];
    let total = lines.iter().map(|l| l.dollars).sum();
    Bill { lines, total }
}

fn line(service: &'static str, quantity: f64, price: f64) -> Line {
    Line {
        service,
        quantity_per_million: quantity,
        dollars: quantity * price,
    }
}

/// The SQS requests among counted operations (`"SQS.*"`).
pub fn sqs_requests(operations: &BTreeMap<String, f64>) -> f64 {
    operations
        .iter()
        .filter(|(k, _)| k.starts_with("SQS."))
        .map(|(_, v)| v)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bill_follows_the_counts() {
        let base = PerChange {
            queue_invocations: 1.0,
            url_invocations: 1.0,
            messages_handled: 1.0,
            sqs_requests: 1.0,
            read_units: 2.0,
            write_units: 4.0,
            tracker_calls: 0.0,
            tracker_waits: 0.0,
            apply_waits: 0.0,
        };
        let no_time = Duration {
            memory_mb: 128.0,
            own_ms: 0.0,
            tracker_ms: 0.0,
        };
        // (change, expected total in dollars per million)
        let cases: [(PerChange, f64); 3] = [
            // 2 requests $0.40, 1 send + receive + delete $1.50, 2 RRU $0.25, 4 WRU $2.50.
            (base.clone(), 4.65),
            (
                PerChange {
                    write_units: 0.0,
                    ..base.clone()
                },
                2.15,
            ),
            (
                PerChange {
                    queue_invocations: 0.1,
                    ..base.clone()
                },
                0.22 + 0.5 * 1.2 + 0.25 + 2.5,
            ),
        ];
        for (i, (change, want)) in cases.into_iter().enumerate() {
            let bill = per_million(&change, &LIST_PRICES, &no_time);
            assert!((bill.total - want).abs() < 1e-9, "case {i}: {bill:?}");
        }
    }

    #[test]
    fn duration_is_memory_times_time() {
        let change = PerChange {
            url_invocations: 1.0,
            tracker_calls: 4.0,
            tracker_waits: 2.0,
            apply_waits: 0.5,
            ..Default::default()
        };
        let bill = per_million(&change, &LIST_PRICES, &DURATION);
        let seconds = (5.0 + 300.0 + 75.0) / 1_000.0;
        let want = seconds * 0.125 * 1e6 * LIST_PRICES.lambda_gb_second;
        assert!((bill.lines[1].dollars - want).abs() < 1e-9, "{bill:?}");
    }
}
