//! The sandbox's item list: by update time with a cursor, narrowed by project, origin,
//! time and a trigger-language filter, read from the database in batches.

use super::db;
use super::error::{ApiResult, bad};
use super::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;
use serde::Deserialize;
use std::sync::Arc;
use twinsync_core::{Filter, Item};
use twinsync_sandbox::mapping::{WireItem, WirePage};

/// Rows read at a time.
const BATCH: usize = 200;

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListParams {
    project: Option<String>,
    filter: Option<String>,
    updated_since: Option<i64>,
    origin: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(super) async fn list_items(
    State(s): State<Arc<AppState>>,
    Query(p): Query<ListParams>,
) -> ApiResult<impl IntoResponse> {
    let filter = match p.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => Some(Filter::parse(f).map_err(|e| bad(format!("bad filter: {e}")))?),
        None => None,
    };
    let limit = p.limit.unwrap_or(100).clamp(1, 500);
    let after = match &p.cursor {
        Some(c) => {
            let (ms, key) = c.split_once(':').ok_or_else(|| bad("bad cursor"))?;
            (
                ms.parse::<i64>().map_err(|_| bad("bad cursor"))?,
                key.to_string(),
            )
        }
        None => (i64::MIN, String::new()),
    };
    let scan = Scan::new(&p);
    let conn = s.db();
    let page = scan.page(&conn, &s.base_url, filter.as_ref(), limit, after)?;
    Ok(Json(page))
}

/// A scan of the items by `(updated_ms, key)`. Only the conditions given go into the
/// query, so SQLite can use the origin and project indexes instead of scanning by time.
struct Scan {
    since: i64,
    where_clause: String,
    /// The values of the project and origin conditions, from `?4` on.
    extra: Vec<String>,
}

impl Scan {
    fn new(p: &ListParams) -> Scan {
        let mut conditions = vec![
            "updated_ms >= ?1".to_string(),
            "(updated_ms, key) > (?2, ?3)".to_string(),
        ];
        let mut extra: Vec<String> = Vec::new();
        if let Some(project) = &p.project {
            extra.push(project.clone());
            conditions.push(format!("project = ?{}", 3 + extra.len()));
        }
        if let Some(origin) = &p.origin {
            extra.push(origin.clone());
            conditions.push(format!("origin = ?{}", 3 + extra.len()));
        }
        Scan {
            since: p.updated_since.unwrap_or(i64::MIN),
            where_clause: conditions.join(" AND "),
            extra,
        }
    }

    /// The query's values for rows after `(after_ms, after_key)`.
    fn args(&self, after_ms: i64, after_key: &str) -> Vec<SqlValue> {
        let mut args: Vec<SqlValue> = vec![
            self.since.into(),
            after_ms.into(),
            after_key.to_string().into(),
        ];
        args.extend(self.extra.iter().map(|e| SqlValue::from(e.clone())));
        args
    }

    /// Up to `limit` items after `after` that `filter` keeps, read in batches so a
    /// selective filter does not load every item at once; with the cursor of the next
    /// page when there may be more.
    fn page(
        &self,
        conn: &Connection,
        base_url: &str,
        filter: Option<&Filter>,
        limit: usize,
        after: (i64, String),
    ) -> ApiResult<WirePage> {
        let (mut after_ms, mut after_key) = after;
        let mut out: Vec<WireItem> = Vec::new();
        let mut exhausted = false;
        while out.len() < limit {
            let rows = self.batch(conn, base_url, after_ms, &after_key)?;
            if rows.len() < BATCH {
                exhausted = true;
            }
            for mut item in rows {
                after_ms = item.updated_ms;
                after_key = item.key.clone();
                db::load_children(conn, &mut item)?;
                if filter.is_none_or(|f| f.matches(&Item::from(item.clone()))) {
                    out.push(item);
                    if out.len() == limit {
                        break;
                    }
                }
            }
            if exhausted {
                break;
            }
        }
        // A full page may still be the last one; look one row ahead.
        let more =
            !exhausted || out.len() == limit && self.any_after(conn, after_ms, &after_key)?;
        let next = more.then(|| format!("{after_ms}:{after_key}"));
        Ok(WirePage { items: out, next })
    }

    /// The next batch of rows after `(after_ms, after_key)`, without their children.
    fn batch(
        &self,
        conn: &Connection,
        base_url: &str,
        after_ms: i64,
        after_key: &str,
    ) -> ApiResult<Vec<WireItem>> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {} FROM items WHERE {} ORDER BY updated_ms, key LIMIT {BATCH}",
            db::ITEM_COLUMNS,
            self.where_clause
        ))?;
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(self.args(after_ms, after_key)),
                |r| db::item_from_row(r, base_url),
            )?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Whether any row comes after `(after_ms, after_key)`.
    fn any_after(&self, conn: &Connection, after_ms: i64, after_key: &str) -> ApiResult<bool> {
        let exists = conn
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM items WHERE {})",
                self.where_clause
            ))?
            .query_row(
                rusqlite::params_from_iter(self.args(after_ms, after_key)),
                |r| r.get::<_, bool>(0),
            )?;
        Ok(exists)
    }
}
