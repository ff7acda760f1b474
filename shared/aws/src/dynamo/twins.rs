//! Twins, their keys, events and replica history on the twins table.

use super::twin_writes::{self, KeyHolder};
use super::{
    EVENT_TTL_SECONDS, Page, Read, Record, all_items, all_pages, doc, get_record, get_s, key, n,
    put_doc, s,
};
use crate::error::AwsError;
use crate::json::JsonClient;
use async_trait::async_trait;
use serde_json::{Value, json};
use twinsync_core::{SyncEvent, Twin};
use twinsync_ports::{PortError, PortResult, ReplicaRecord, TwinOrder, TwinQuery, TwinStore};

/// Which twins a count takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CountOf {
    All,
    UnderSync,
}

#[derive(Debug, Clone)]
pub struct DynamoTwinStore {
    client: JsonClient,
    table: String,
}

impl DynamoTwinStore {
    pub fn new(client: JsonClient, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get_record(&self, pk: &str, sk: &str) -> PortResult<Option<Record>> {
        get_record(&self.client, &self.table, (pk, sk), Read::Eventual).await
    }

    /// A counting scan: twins (of one connection), all or those under sync.
    async fn count_where(&self, connection_id: Option<&str>, of: CountOf) -> PortResult<u64> {
        let mut filter = "sk = :twin".to_string();
        let mut values = Record::from([(":twin".to_string(), s("twin"))]);
        if let Some(c) = connection_id {
            filter.push_str(" AND connection_id = :c");
            values.insert(":c".into(), s(c));
        }
        let mut input = json!({
            "TableName": self.table,
            "Select": "COUNT",
        });
        if of == CountOf::UnderSync {
            filter.push_str(" AND #status <> :unlinked");
            values.insert(":unlinked".into(), s("unlinked"));
            input["ExpressionAttributeNames"] = json!({ "#status": "status" });
        }
        input["FilterExpression"] = json!(filter);
        input["ExpressionAttributeValues"] = json!(values);
        let pages = all_pages(&self.client, "Scan", "count twins", input).await?;
        Ok(pages.iter().map(|p: &Page| p.count).sum())
    }

    fn twin_record(&self, twin: &Twin) -> PortResult<Record> {
        let mut r = key(format!("twin#{}", twin.id), "twin");
        put_doc(&mut r, twin)?;
        r.insert("revision".into(), n(twin.revision));
        r.insert("connection_id".into(), s(&twin.connection_id));
        r.insert("status".into(), s(twin.status.label()));
        r.insert("created_ms".into(), n(twin.created_ms));
        r.insert("search_text".into(), s(twin.search_text()));
        if let Some(k) = &twin.local_key {
            r.insert("local_key".into(), s(k));
        }
        if let Some(k) = &twin.remote_key {
            r.insert("remote_key".into(), s(k));
        }
        Ok(r)
    }

    async fn transact(&self, what: String, items: Vec<Value>) -> PortResult<()> {
        super::transact(&self.client, &what, items).await
    }

    async fn delete_item(&self, what: &str, pk: &str, sk: &str) -> PortResult<()> {
        let _: Value = self
            .client
            .call(
                "DeleteItem",
                what,
                json!({ "TableName": self.table, "Key": key(pk, sk) }),
            )
            .await?;
        Ok(())
    }

    async fn by_key(&self, side: &str, connection_id: &str, k: &str) -> PortResult<Option<Twin>> {
        let Some(r) = self
            .get_record(&format!("{side}#{connection_id}#{k}"), "key")
            .await?
        else {
            return Ok(None);
        };
        let Some(id) = get_s(&r, "twin_id") else {
            return Ok(None);
        };
        let twin = self.get(id).await?;
        // A key record left behind by a twin that since moved to another key (a relink)
        // does not name this item any more.
        Ok(twin.filter(|t| {
            t.connection_id == connection_id
                && match side {
                    "local" => t.local_key.as_deref() == Some(k),
                    _ => t.remote_key.as_deref() == Some(k),
                }
        }))
    }

    /// A deleted twin's replica history and events.
    async fn delete_history(&self, id: &str) -> PortResult<()> {
        let what = format!("history of twin {id}");
        let input = json!({
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": { ":pk": s(format!("twin#{id}")) },
        });
        for r in all_items(&self.client, "Query", &what, input).await? {
            if let (Some(pk), Some(sk)) = (get_s(&r, "pk"), get_s(&r, "sk")) {
                self.delete_item(&format!("delete {what}"), pk, sk).await?;
            }
        }
        Ok(())
    }

    async fn put_plain(&self, item: Record) -> PortResult<()> {
        let _: Value = self
            .client
            .call(
                "PutItem",
                "put",
                json!({ "TableName": self.table, "Item": item }),
            )
            .await?;
        Ok(())
    }
}

#[async_trait]
impl TwinStore for DynamoTwinStore {
    async fn get(&self, id: &str) -> PortResult<Option<Twin>> {
        match self.get_record(&format!("twin#{id}"), "twin").await? {
            Some(r) => Ok(Some(doc(&r)?)),
            None => Ok(None),
        }
    }

    async fn find_by_local(
        &self,
        connection_id: &str,
        local_key: &str,
    ) -> PortResult<Option<Twin>> {
        self.by_key("local", connection_id, local_key).await
    }

    async fn find_by_remote(
        &self,
        connection_id: &str,
        remote_key: &str,
    ) -> PortResult<Option<Twin>> {
        self.by_key("remote", connection_id, remote_key).await
    }

    async fn insert(&self, twin: &Twin) -> PortResult<()> {
        let mut items = vec![twin_writes::new_twin(&self.table, self.twin_record(twin)?)];
        // On insert a key must be free, not merely ours.
        items.extend(twin_writes::key_puts(&self.table, twin, KeyHolder::Free));
        self.transact(format!("insert twin {}", twin.id), items)
            .await
    }

    async fn update(&self, twin: &Twin) -> PortResult<Twin> {
        let mut stored = twin.clone();
        stored.revision = twin.revision + 1;
        // The common case writes one item: same keys as stored, revision unchanged.
        let mut condition = "revision = :rev".to_string();
        let mut values = Record::from([(":rev".to_string(), n(twin.revision))]);
        for (name, k) in [
            ("local_key", &twin.local_key),
            ("remote_key", &twin.remote_key),
        ] {
            match k {
                Some(k) => {
                    condition.push_str(&format!(" AND {name} = :{name}"));
                    values.insert(format!(":{name}"), s(k));
                }
                None => condition.push_str(&format!(" AND attribute_not_exists({name})")),
            }
        }
        let what = format!("update twin {}", twin.id);
        let fast = self
            .client
            .call::<Value>(
                "PutItem",
                &what,
                json!({
                    "TableName": self.table,
                    "Item": self.twin_record(&stored)?,
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }),
            )
            .await;
        match fast {
            Ok(_) => return Ok(stored),
            Err(AwsError::Conflict { .. }) => {}
            Err(other) => return Err(other.into()),
        }
        // The condition failed: a newer revision, or keys that are new (a create linked
        // the item, an ack told the remote key). New keys are claimed in one transaction.
        let mut items = vec![json!({ "Put": {
            "TableName": self.table,
            "Item": self.twin_record(&stored)?,
            "ConditionExpression": "revision = :rev",
            "ExpressionAttributeValues": { ":rev": n(twin.revision) },
        }})];
        items.extend(twin_writes::key_puts(
            &self.table,
            &stored,
            KeyHolder::Itself,
        ));
        match self
            .transact(format!("update twin {}", twin.id), items)
            .await
        {
            Ok(()) => Ok(stored),
            Err(PortError::Conflict(_)) => Err(PortError::Conflict(format!(
                "twin {} changed since revision {}",
                twin.id, twin.revision
            ))),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, id: &str) -> PortResult<()> {
        let Some(twin) = self.get(id).await? else {
            return Ok(());
        };
        let items = twin_writes::twin_deletes(&self.table, &twin, &[]);
        self.transact(format!("delete twin {id}"), items).await?;
        self.delete_history(id).await
    }

    async fn replace(&self, gone: &[String], twin: &Twin) -> PortResult<()> {
        let mut olds: Vec<Twin> = Vec::new();
        for id in gone {
            if olds.iter().all(|o| o.id != *id)
                && let Some(old) = self.get(id).await?
            {
                olds.push(old);
            }
        }
        let items = twin_writes::replacement(&self.table, &olds, twin, self.twin_record(twin)?);
        self.transact(format!("replace twins with {}", twin.id), items)
            .await?;
        for old in &olds {
            self.delete_history(&old.id).await?;
        }
        Ok(())
    }

    /// A scan: listings are for operators (monitor, bulk operations), not the sync path.
    async fn list(&self, query: &TwinQuery) -> PortResult<Vec<Twin>> {
        let mut filter = "sk = :twin".to_string();
        let mut values = Record::from([(":twin".to_string(), s("twin"))]);
        if let Some(c) = &query.connection_id {
            filter.push_str(" AND connection_id = :c");
            values.insert(":c".into(), s(c));
        }
        if let Some(within) = &query.within {
            let names: Vec<String> = (0..within.len()).map(|i| format!(":w{i}")).collect();
            // An empty set matches nothing; DynamoDB has no empty IN.
            filter.push_str(&match names.is_empty() {
                true => " AND attribute_not_exists(sk)".to_string(),
                false => format!(" AND connection_id IN ({})", names.join(", ")),
            });
            for (name, c) in names.into_iter().zip(within) {
                values.insert(name, s(c));
            }
        }
        if let Some(st) = &query.status {
            filter.push_str(" AND #status = :s");
            values.insert(":s".into(), s(st));
        }
        if let Some(p) = &query.key_prefix {
            filter.push_str(" AND (begins_with(local_key, :p) OR begins_with(remote_key, :p))");
            values.insert(":p".into(), s(p));
        }
        if let Some(t) = &query.text {
            filter.push_str(
                " AND (begins_with(local_key, :t) OR begins_with(remote_key, :t) OR contains(search_text, :tl))",
            );
            values.insert(":t".into(), s(t));
            values.insert(":tl".into(), s(t.to_lowercase()));
        }
        let mut input = json!({
            "TableName": self.table,
            "FilterExpression": filter,
            "ExpressionAttributeValues": values,
            "ConsistentRead": true,
        });
        if query.status.is_some() {
            input["ExpressionAttributeNames"] = json!({ "#status": "status" });
        }
        let records = all_items(&self.client, "Scan", "list twins", input).await?;
        let mut twins = records
            .iter()
            .map(doc::<Twin>)
            .collect::<PortResult<Vec<_>>>()?;
        twins.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        if query.order == TwinOrder::Newest {
            twins.reverse();
        }
        if let Some(after) = &query.after {
            twins.retain(|t| after.precedes(t, query.order));
        }
        let limit = if query.limit == 0 { 100 } else { query.limit };
        Ok(twins.into_iter().skip(query.offset).take(limit).collect())
    }

    async fn count(&self, connection_id: Option<&str>) -> PortResult<u64> {
        self.count_where(connection_id, CountOf::All).await
    }

    async fn count_under_sync(&self, connection_id: &str) -> PortResult<u64> {
        self.count_where(Some(connection_id), CountOf::UnderSync)
            .await
    }

    async fn add_event(&self, event: &SyncEvent) -> PortResult<()> {
        let at = format!("{:015}#{}", event.at_ms.max(0), uuid::Uuid::now_v7());
        let expires = n(event.at_ms / 1_000 + EVENT_TTL_SECONDS);
        if event.in_connection_feed() {
            let mut by_connection = key(format!("events#{}", event.connection_id), &at);
            put_doc(&mut by_connection, event)?;
            by_connection.insert("expires_at".into(), expires.clone());
            self.put_plain(by_connection).await?;
        }
        if let Some(twin) = &event.twin_id {
            let mut by_twin = key(format!("twin#{twin}"), format!("event#{at}"));
            put_doc(&mut by_twin, event)?;
            by_twin.insert("expires_at".into(), expires);
            self.put_plain(by_twin).await?;
        }
        Ok(())
    }

    async fn events(
        &self,
        connection_id: Option<&str>,
        twin_id: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<SyncEvent>> {
        let newest_first = |pk: String, sk_prefix: Option<&str>| {
            let mut input = json!({
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": { ":pk": s(pk) },
                "ScanIndexForward": false,
                "Limit": limit.clamp(1, 1_000),
            });
            if let Some(prefix) = sk_prefix {
                input["KeyConditionExpression"] = json!("pk = :pk AND begins_with(sk, :e)");
                input["ExpressionAttributeValues"][":e"] = json!(s(prefix));
            }
            input
        };
        let records = match (twin_id, connection_id) {
            (Some(t), _) => {
                let input = newest_first(format!("twin#{t}"), Some("event#"));
                let page: Page = self.client.call("Query", "events of a twin", input).await?;
                page.items
            }
            (None, Some(c)) => {
                let input = newest_first(format!("events#{c}"), None);
                let what = "events of a connection";
                let page: Page = self.client.call("Query", what, input).await?;
                page.items
            }
            (None, None) => {
                let input = json!({
                    "TableName": self.table,
                    "FilterExpression": "begins_with(pk, :e)",
                    "ExpressionAttributeValues": { ":e": s("events#") },
                });
                let mut all = all_items(&self.client, "Scan", "all events", input).await?;
                all.sort_by(|a, b| get_s(b, "sk").cmp(&get_s(a, "sk")));
                all.truncate(limit);
                all
            }
        };
        let mut events: Vec<SyncEvent> = records.iter().map(doc).collect::<PortResult<_>>()?;
        if let (Some(c), Some(_)) = (connection_id, twin_id) {
            events.retain(|e| e.connection_id == c);
        }
        Ok(events)
    }

    async fn add_replica(&self, record: &ReplicaRecord) -> PortResult<()> {
        // Keyed by its place in the direction's ring, so the put replaces the record
        // REPLICA_HISTORY versions older in the same write: the history stays bounded
        // without a delete, whose write unit would double the record's cost.
        let mut item = key(
            format!("twin#{}", record.twin_id),
            format!("replica#{}#{:03}", record.direction, record.slot()),
        );
        put_doc(&mut item, record)?;
        self.put_plain(item).await
    }

    async fn replicas(&self, twin_id: &str) -> PortResult<Vec<ReplicaRecord>> {
        let input = json!({
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
            "ExpressionAttributeValues": {
                ":pk": s(format!("twin#{twin_id}")),
                ":r": s("replica#"),
            },
            "ConsistentRead": true,
        });
        let what = format!("replicas of twin {twin_id}");
        let records = all_items(&self.client, "Query", &what, input).await?;
        // The keys are places in a ring, not times: records written before the ring
        // (`replica#{at}#…`) sort among them by time too.
        let mut history: Vec<ReplicaRecord> = records.iter().map(doc).collect::<PortResult<_>>()?;
        history.sort_by(ReplicaRecord::history_order);
        Ok(history)
    }
}
