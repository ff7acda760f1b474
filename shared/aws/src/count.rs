//! Counts the AWS operations a node makes, by service and operation, and the DynamoDB
//! request units they cost (by the items read and written): the measured input of the
//! cost model (docs/aws-cost.md) and of the functions' metrics.

use crate::capacity::{Consistency, item_size, read_units, write_units};
use aws_sdk_dynamodb::operation::{
    batch_write_item::BatchWriteItemInput, get_item::GetItemInput, get_item::GetItemOutput,
    put_item::PutItemInput, query::QueryInput, query::QueryOutput, scan::ScanInput,
    scan::ScanOutput, transact_write_items::TransactWriteItemsInput,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::context::{Input, Output};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The tally key of DynamoDB's read request units.
pub const READ_UNITS: &str = "DynamoDB.ReadRequestUnits";
/// The tally key of DynamoDB's write request units.
pub const WRITE_UNITS: &str = "DynamoDB.WriteRequestUnits";

/// An SDK interceptor; clones share one tally.
#[derive(Debug, Clone, Default)]
pub struct OperationCounter {
    tally: Arc<Mutex<BTreeMap<String, u64>>>,
    units: Arc<Mutex<BTreeMap<&'static str, f64>>>,
    records: Arc<Mutex<BTreeMap<String, u64>>>,
}

/// How a read asked to be made, kept from its input until its output is counted.
#[derive(Debug, Clone)]
struct ReadConsistency(Consistency);

impl Storable for ReadConsistency {
    type Storer = StoreReplace<Self>;
}

impl OperationCounter {
    /// `"{service}.{operation}"` → operations so far (an operation the SDK retried
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

    fn add_units(&self, kind: &'static str, n: f64) {
        if let Ok(mut units) = self.units.lock() {
            *units.entry(kind).or_default() += n;
        }
    }
}

/// The write units of a DynamoDB request, from its items (0 for any other request).
fn write_units_of(input: &Input) -> f64 {
    if let Some(put) = input.downcast_ref::<PutItemInput>() {
        return put.item().map_or(1.0, |i| write_units(item_size(i)));
    }
    if let Some(t) = input.downcast_ref::<TransactWriteItemsInput>() {
        // A transaction costs two units per unit of each item it writes or checks.
        return t
            .transact_items()
            .iter()
            .map(|w| 2.0 * w.put().map_or(1.0, |p| write_units(item_size(p.item()))))
            .sum();
    }
    if let Some(b) = input.downcast_ref::<BatchWriteItemInput>() {
        return b
            .request_items()
            .map(|tables| {
                tables
                    .values()
                    .flatten()
                    .map(|r| {
                        r.put_request()
                            .map_or(1.0, |p| write_units(item_size(p.item())))
                    })
                    .sum()
            })
            .unwrap_or(0.0);
    }
    0.0
}

/// The kind of item a DynamoDB request is about: its partition key up to the first `#`.
fn record_of(input: &Input) -> Option<String> {
    let pk = if let Some(g) = input.downcast_ref::<GetItemInput>() {
        g.key().and_then(|k| k.get("pk")).cloned()
    } else if let Some(p) = input.downcast_ref::<PutItemInput>() {
        // A put names its sort key's kind too: a twin's partition holds the twin, its
        // events and its replica history, which cost a write each.
        let item = p.item()?;
        let part = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .map(|s| s.split('#').next().unwrap_or_default().to_string())
        };
        return Some(match (part("pk"), part("sk")) {
            (Some(pk), Some(sk)) if sk != pk => format!("{pk} {sk}"),
            (pk, _) => pk?,
        });
    } else if let Some(q) = input.downcast_ref::<QueryInput>() {
        q.expression_attribute_values()
            .and_then(|v| v.get(":pk"))
            .cloned()
    } else if let Some(t) = input.downcast_ref::<TransactWriteItemsInput>() {
        let kinds: Vec<String> = t
            .transact_items()
            .iter()
            .filter_map(|w| w.put().and_then(|p| p.item().get("pk")))
            .filter_map(|v| v.as_s().ok())
            .map(|s| s.split('#').next().unwrap_or_default().to_string())
            .collect();
        return Some(kinds.join("+"));
    } else {
        None
    };
    let pk = pk?;
    let text = pk.as_s().ok()?;
    Some(text.split('#').next().unwrap_or_default().to_string())
}

/// How a DynamoDB read asks to be made (`ConsistentRead` of a GetItem, Query or Scan).
fn consistency_of(input: &Input) -> Consistency {
    let consistent = if let Some(g) = input.downcast_ref::<GetItemInput>() {
        g.consistent_read()
    } else if let Some(q) = input.downcast_ref::<QueryInput>() {
        q.consistent_read()
    } else {
        input
            .downcast_ref::<ScanInput>()
            .and_then(ScanInput::consistent_read)
    };
    Consistency::of(consistent)
}

/// The read units of a DynamoDB answer, from the items it read.
fn read_units_of(output: &Output, c: Consistency) -> f64 {
    let sum = |items: &[std::collections::HashMap<String, _>]| -> usize {
        items.iter().map(item_size).sum()
    };
    if let Some(get) = output.downcast_ref::<GetItemOutput>() {
        return read_units(get.item().map_or(0, item_size), c);
    }
    if let Some(q) = output.downcast_ref::<QueryOutput>() {
        return read_units(sum(q.items()), c);
    }
    if let Some(s) = output.downcast_ref::<ScanOutput>() {
        return read_units(sum(s.items()), c);
    }
    0.0
}

impl Intercept for OperationCounter {
    fn name(&self) -> &'static str {
        "OperationCounter"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(m) = cfg.load::<Metadata>().cloned() else {
            return Ok(());
        };
        if let Ok(mut tally) = self.tally.lock() {
            *tally
                .entry(format!("{}.{}", m.service(), m.name()))
                .or_default() += 1;
        }
        let input = context.input();
        if let Some(record) = record_of(input)
            && let Ok(mut records) = self.records.lock()
        {
            *records.entry(format!("{} {record}", m.name())).or_default() += 1;
        }
        let writes = write_units_of(input);
        if writes > 0.0 {
            self.add_units(WRITE_UNITS, writes);
        } else if m.name() == "DeleteItem" || m.name() == "UpdateItem" {
            self.add_units(WRITE_UNITS, 1.0);
        }
        cfg.interceptor_state()
            .store_put(ReadConsistency(consistency_of(input)));
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let consistency = cfg
            .load::<ReadConsistency>()
            .map_or(Consistency::Strong, |c| c.0);
        if let Ok(output) = context.output_or_error() {
            let reads = read_units_of(output, consistency);
            if reads > 0.0 {
                self.add_units(READ_UNITS, reads);
            }
        }
        Ok(())
    }
}
