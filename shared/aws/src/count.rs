//! Counts the AWS operations a node makes, by service and operation, and the DynamoDB
//! request units they cost (by the items read and written): the measured input of the
//! cost model (docs/aws-cost.md) and of the functions' metrics.

use crate::capacity::{Consistency, item_size, read_units, write_units};
use crate::dynamo::Attr;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// The tally key of DynamoDB's read request units.
pub const READ_UNITS: &str = "DynamoDB.ReadRequestUnits";
/// The tally key of DynamoDB's write request units.
pub const WRITE_UNITS: &str = "DynamoDB.WriteRequestUnits";

/// Counts what the JSON clients ([`crate::json::JsonClient`]) send; clones share one
/// tally.
#[derive(Debug, Clone, Default)]
pub struct OperationCounter {
    tally: Arc<Mutex<BTreeMap<String, u64>>>,
    units: Arc<Mutex<BTreeMap<&'static str, f64>>>,
    records: Arc<Mutex<BTreeMap<String, u64>>>,
    record_reads: Arc<Mutex<BTreeMap<String, f64>>>,
}

impl OperationCounter {
    /// `"{service}.{operation}"` → operations so far (an operation tried again
    /// counts once).
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.tally.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// [`READ_UNITS`] and [`WRITE_UNITS`] so far.
    pub fn units(&self) -> BTreeMap<&'static str, f64> {
        self.units.lock().map(|u| u.clone()).unwrap_or_default()
    }

    /// `"{operation} {record}"` → DynamoDB requests so far, where the record is the kind
    /// of item asked for: its partition key up to the first `#` (`twin`, `nonce`,
    /// `connection`, `events`, …). Where the reads and writes of a change go.
    pub fn records(&self) -> BTreeMap<String, u64> {
        self.records.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// `"{operation} {record}"` → the read units those requests cost so far: which
    /// reads make the read bill (a large record read often costs more than its count).
    pub fn record_reads(&self) -> BTreeMap<String, f64> {
        self.record_reads
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    fn add_units(&self, kind: &'static str, n: f64) {
        if let Ok(mut units) = self.units.lock() {
            *units.entry(kind).or_default() += n;
        }
    }
}

impl OperationCounter {
    /// Counts one operation of `service` (`"SQS"`, `"DynamoDB"`) as it is sent, once
    /// however often it is tried, with the write units its items cost.
    pub fn count_request(&self, service: &str, operation: &str, input: &Value) {
        if let Ok(mut tally) = self.tally.lock() {
            *tally.entry(format!("{service}.{operation}")).or_default() += 1;
        }
        if service != "DynamoDB" {
            return;
        }
        if let Some(record) = record_of(operation, input)
            && let Ok(mut records) = self.records.lock()
        {
            *records.entry(format!("{operation} {record}")).or_default() += 1;
        }
        let writes = write_units_of(operation, input);
        if writes > 0.0 {
            self.add_units(WRITE_UNITS, writes);
        }
    }

    /// Counts the read units of a DynamoDB answer, from the items it read.
    pub fn count_answer(&self, operation: &str, input: &Value, output: &Value) {
        let consistency = Consistency::of(input.get("ConsistentRead").and_then(Value::as_bool));
        let reads = match operation {
            "GetItem" => read_units(output.get("Item").map_or(0, size_of), consistency),
            "Query" | "Scan" => read_units(
                output
                    .get("Items")
                    .and_then(Value::as_array)
                    .map_or(0, |items| items.iter().map(size_of).sum()),
                consistency,
            ),
            _ => 0.0,
        };
        if reads > 0.0 {
            self.add_units(READ_UNITS, reads);
            if let Some(record) = record_of(operation, input)
                && let Ok(mut by_record) = self.record_reads.lock()
            {
                *by_record
                    .entry(format!("{operation} {record}"))
                    .or_default() += reads;
            }
        }
    }
}

/// An item's size, as DynamoDB bills it (0 for what is not an item).
fn size_of(item: &Value) -> usize {
    serde_json::from_value::<HashMap<String, Attr>>(item.clone()).map_or(0, |i| item_size(&i))
}

/// The units of one item written: one per KB, at least one.
fn item_units(item: Option<&Value>) -> f64 {
    item.map_or(1.0, |i| write_units(size_of(i)))
}

/// The write units of a DynamoDB request, from its items (0 for a read).
fn write_units_of(operation: &str, input: &Value) -> f64 {
    match operation {
        "PutItem" => item_units(input.get("Item")),
        "DeleteItem" | "UpdateItem" => 1.0,
        // A transaction costs two units per unit of each item it writes or checks.
        "TransactWriteItems" => {
            input
                .get("TransactItems")
                .and_then(Value::as_array)
                .map_or(0.0, |items| {
                    items
                        .iter()
                        .map(|w| 2.0 * item_units(w.get("Put").and_then(|p| p.get("Item"))))
                        .sum()
                })
        }
        "BatchWriteItem" => {
            input
                .get("RequestItems")
                .and_then(Value::as_object)
                .map_or(0.0, |tables| {
                    tables
                        .values()
                        .filter_map(Value::as_array)
                        .flatten()
                        .map(|r| item_units(r.get("PutRequest").and_then(|p| p.get("Item"))))
                        .sum()
                })
        }
        _ => 0.0,
    }
}

/// The kind of a key text: up to its first `#`.
fn kind(v: Option<&Value>) -> Option<String> {
    let text = v?.get("S")?.as_str()?;
    Some(text.split('#').next().unwrap_or_default().to_string())
}

/// The kind of item a DynamoDB request is about: its partition key up to the first `#`.
fn record_of(operation: &str, input: &Value) -> Option<String> {
    match operation {
        "GetItem" => kind(input.get("Key")?.get("pk")),
        // A put names its sort key's kind too: a twin's partition holds the twin, its
        // events and its replica history, which cost a write each.
        "PutItem" => {
            let item = input.get("Item")?;
            Some(match (kind(item.get("pk")), kind(item.get("sk"))) {
                (Some(pk), Some(sk)) if sk != pk => format!("{pk} {sk}"),
                (pk, _) => pk?,
            })
        }
        "Query" => kind(input.get("ExpressionAttributeValues")?.get(":pk")),
        "TransactWriteItems" => {
            let kinds: Vec<String> = input
                .get("TransactItems")?
                .as_array()?
                .iter()
                .filter_map(|w| kind(w.get("Put")?.get("Item")?.get("pk")))
                .collect();
            Some(kinds.join("+"))
        }
        _ => None,
    }
}
