//! Connections, polling cursors, transport nonces and scheduler state on the connections
//! table.

use super::{
    Read, Record, all_items, doc, get_record, get_s, key, n, now_seconds, put_doc, s, transact,
};
use crate::json::JsonClient;
use async_trait::async_trait;
use serde_json::{Value, json};
use twinsync_core::{Connection, ConnectionRoute};
use twinsync_ports::{ConnectionStore, PollCursor, PortError, PortResult};

mod routes;

#[derive(Debug, Clone)]
pub struct DynamoConnectionStore {
    client: JsonClient,
    table: String,
}

impl DynamoConnectionStore {
    pub fn new(client: JsonClient, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get_doc(&self, pk: &str, sk: &str) -> PortResult<Option<Record>> {
        get_record(&self.client, &self.table, (pk, sk), Read::Consistent).await
    }

    async fn put(&self, item: Record, condition: Option<(&str, Record)>) -> PortResult<()> {
        let mut input = json!({ "TableName": self.table, "Item": item });
        if let Some((c, values)) = condition {
            input["ConditionExpression"] = json!(c);
            if !values.is_empty() {
                input["ExpressionAttributeValues"] = json!(values);
            }
        }
        let _: Value = self.client.call("PutItem", "put", input).await?;
        Ok(())
    }

    fn connection_record(connection: &Connection) -> PortResult<Record> {
        let mut item = key("connection", &connection.id);
        put_doc(&mut item, connection)?;
        item.insert("revision".into(), n(connection.revision));
        Ok(item)
    }
}

#[async_trait]
impl ConnectionStore for DynamoConnectionStore {
    async fn get(&self, id: &str) -> PortResult<Option<Connection>> {
        match self.get_doc("connection", id).await? {
            Some(r) => Ok(Some(doc(&r)?)),
            None => Ok(None),
        }
    }

    async fn list(&self) -> PortResult<Vec<Connection>> {
        let input = json!({
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": { ":pk": s("connection") },
            "ConsistentRead": true,
        });
        let records = all_items(&self.client, "Query", "list connections", input).await?;
        records.iter().map(doc).collect()
    }

    async fn routes(&self) -> PortResult<Vec<ConnectionRoute>> {
        routes::list(self).await
    }

    async fn check_routes(&self, connections: &[Connection]) -> PortResult<usize> {
        routes::check(self, connections).await
    }

    /// The connection and its route, in one transaction.
    async fn insert(&self, connection: &Connection) -> PortResult<()> {
        let items = vec![
            json!({ "Put": {
                "TableName": self.table,
                "Item": Self::connection_record(connection)?,
                "ConditionExpression": "attribute_not_exists(pk)",
            }}),
            routes::put(&self.table, connection)?,
        ];
        let what = format!("insert connection {}", connection.id);
        transact(&self.client, &what, items)
            .await
            .map_err(|e| match e {
                PortError::Conflict(_) => {
                    PortError::Conflict(format!("connection {} exists", connection.id))
                }
                e => e,
            })
    }

    async fn update(&self, connection: &Connection) -> PortResult<Connection> {
        let mut stored = connection.clone();
        stored.revision = connection.revision + 1;
        let items = vec![
            json!({ "Put": {
                "TableName": self.table,
                "Item": Self::connection_record(&stored)?,
                "ConditionExpression": "revision = :rev",
                "ExpressionAttributeValues": { ":rev": n(connection.revision) },
            }}),
            routes::put(&self.table, &stored)?,
        ];
        let what = format!("update connection {}", connection.id);
        transact(&self.client, &what, items)
            .await
            .map_err(|e| match e {
                PortError::Conflict(_) => PortError::Conflict(format!(
                    "connection {} changed since revision {}",
                    connection.id, connection.revision
                )),
                e => e,
            })?;
        Ok(stored)
    }

    async fn delete(&self, id: &str) -> PortResult<()> {
        let items = vec![
            json!({ "Delete": { "TableName": self.table, "Key": key("connection", id) } }),
            routes::delete(&self.table, id),
        ];
        transact(&self.client, &format!("delete connection {id}"), items).await
    }

    async fn cursor(
        &self,
        connection_id: &str,
        trigger_id: &str,
    ) -> PortResult<Option<PollCursor>> {
        match self
            .get_doc(&format!("cursor#{connection_id}"), trigger_id)
            .await?
        {
            Some(r) => Ok(Some(doc(&r)?)),
            None => Ok(None),
        }
    }

    async fn set_cursor(
        &self,
        connection_id: &str,
        trigger_id: &str,
        cursor: &PollCursor,
    ) -> PortResult<()> {
        let mut item = key(format!("cursor#{connection_id}"), trigger_id);
        put_doc(&mut item, cursor)?;
        self.put(item, None).await
    }

    /// A nonce is new if no record has it, or the record has expired (DynamoDB's TTL
    /// deletes expired records within a day or two, not at once).
    async fn remember_nonce(&self, nonce: &str, expires_ms: i64) -> PortResult<bool> {
        let mut item = key(format!("nonce#{nonce}"), "nonce");
        item.insert("expires_ms".into(), n(expires_ms));
        item.insert("expires_at".into(), n(expires_ms / 1_000 + 1));
        let now_ms = now_seconds() * 1_000;
        match self
            .put(
                item,
                Some((
                    "attribute_not_exists(pk) OR expires_ms < :now",
                    Record::from([(":now".to_string(), n(now_ms))]),
                )),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(PortError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Expired nonces and events are deleted by the tables' TTL (`expires_at`), which
    /// costs no write capacity; a scan here would read the whole table every minute.
    async fn purge_expired(&self, _now_ms: i64) -> PortResult<u64> {
        Ok(0)
    }

    async fn get_meta(&self, k: &str) -> PortResult<Option<String>> {
        Ok(self
            .get_doc("meta", k)
            .await?
            .and_then(|r| get_s(&r, "value").map(str::to_string)))
    }

    /// A conditional put: the record must be absent, or hold `expected` (`value` is one of
    /// DynamoDB's reserved words, hence the name placeholder).
    async fn replace_meta(&self, k: &str, expected: Option<&str>, value: &str) -> PortResult<bool> {
        let mut item = key("meta", k);
        item.insert("value".into(), s(value));
        let mut input = json!({ "TableName": self.table, "Item": item });
        match expected {
            None => input["ConditionExpression"] = json!("attribute_not_exists(pk)"),
            Some(old) => {
                input["ConditionExpression"] = json!("#v = :old");
                input["ExpressionAttributeNames"] = json!({ "#v": "value" });
                input["ExpressionAttributeValues"] = json!({ ":old": s(old) });
            }
        }
        let what = format!("replace meta {k}");
        match self.client.call::<Value>("PutItem", &what, input).await {
            Ok(_) => Ok(true),
            Err(e) => match PortError::from(e) {
                PortError::Conflict(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    async fn set_meta(&self, k: &str, value: &str) -> PortResult<()> {
        let mut item = key("meta", k);
        item.insert("value".into(), s(value));
        self.put(item, None).await
    }
}
