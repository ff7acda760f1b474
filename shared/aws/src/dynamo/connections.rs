//! Connections, polling cursors, transport nonces and scheduler state on the connections
//! table.

use super::{Read, Record, doc, get_record, get_s, key, n, now_seconds, put_doc, s};
use crate::error::AwsError;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use twinsync_core::Connection;
use twinsync_ports::{ConnectionStore, PollCursor, PortError, PortResult};

#[derive(Debug, Clone)]
pub struct DynamoConnectionStore {
    client: Client,
    table: String,
}

impl DynamoConnectionStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get_doc(&self, pk: &str, sk: &str) -> PortResult<Option<Record>> {
        get_record(&self.client, &self.table, (pk, sk), Read::Consistent).await
    }

    async fn put(&self, item: Record, condition: Option<(&str, Record)>) -> PortResult<()> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        if let Some((c, values)) = condition {
            req = req.condition_expression(c);
            if !values.is_empty() {
                req = req.set_expression_attribute_values(Some(values));
            }
        }
        req.send()
            .await
            .map_err(|e| AwsError::from_sdk("put", &e))?;
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
        let records = all_pages!(
            self.client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s("connection"))
                .consistent_read(true),
            "list connections"
        );
        records.iter().map(doc).collect()
    }

    async fn insert(&self, connection: &Connection) -> PortResult<()> {
        self.put(
            Self::connection_record(connection)?,
            Some(("attribute_not_exists(pk)", Record::new())),
        )
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
        self.put(
            Self::connection_record(&stored)?,
            Some((
                "revision = :rev",
                HashMap::from([(":rev".to_string(), n(connection.revision))]),
            )),
        )
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
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key("connection", id)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete connection {id}"), &e))?;
        Ok(())
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
                    HashMap::from([(":now".to_string(), n(now_ms))]),
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
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        req = match expected {
            None => req.condition_expression("attribute_not_exists(pk)"),
            Some(old) => req
                .condition_expression("#v = :old")
                .expression_attribute_names("#v", "value")
                .expression_attribute_values(":old", s(old)),
        };
        match req
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("replace meta {k}"), &e))
        {
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
