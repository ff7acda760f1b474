//! The SQL of a twin listing (the monitor's search, the API's pages): only the filters a
//! query has are written, so SQLite can walk an index (`twins_created`, `twins_status`)
//! from the cursor in the listing's order, and text goes through the trigram index
//! `twins_text` when it is rare enough for that to pay.

use rusqlite::types::Value;
use twinsync_ports::{TwinOrder, TwinQuery};

/// Text found by the trigram index in at least this many twins is common: the listing
/// then walks the order's index and stops at a page, which is faster than gathering every
/// match and sorting them.
const COMMON_TEXT: i64 = 1_000;

/// How the text filter finds its twins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextMatch {
    None,
    /// Rare text of three characters or more: the trigram index, as one phrase.
    Indexed(String),
    /// Short or common text: part of the keys or the search text, row by row.
    Scanned(String),
}

impl TextMatch {
    /// The way to find `text` in this database.
    pub(crate) fn choose(
        conn: &rusqlite::Connection,
        text: Option<&str>,
    ) -> rusqlite::Result<TextMatch> {
        let Some(text) = text else {
            return Ok(TextMatch::None);
        };
        if text.chars().count() < 3 {
            return Ok(TextMatch::Scanned(text.to_string()));
        }
        let phrase = format!("\"{}\"", text.replace('"', "\"\""));
        let found: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM twins_text WHERE twins_text MATCH ?1 LIMIT ?2)",
            )?
            .query_row(rusqlite::params![phrase, COMMON_TEXT], |r| r.get(0))?;
        Ok(if found >= COMMON_TEXT {
            TextMatch::Scanned(text.to_string())
        } else {
            TextMatch::Indexed(phrase)
        })
    }
}

/// A listing's statement and its values, in order.
pub(crate) struct ListSql {
    pub sql: String,
    pub params: Vec<Value>,
}

impl ListSql {
    pub(crate) fn of(query: &TwinQuery, text: TextMatch) -> ListSql {
        let mut filters = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        // Each `$` becomes the next numbered parameter.
        let mut add = |filter: &str, values: Vec<Value>| {
            let mut filter = filter.to_string();
            for v in values {
                params.push(v);
                filter = filter.replacen("$", &format!("?{}", params.len()), 1);
            }
            filters.push(filter);
        };
        if let Some(c) = &query.connection_id {
            add("connection_id = $", vec![c.clone().into()]);
        }
        if let Some(within) = &query.within {
            let marks = vec!["$"; within.len()].join(", ");
            let values = within.iter().map(|c| Value::from(c.clone())).collect();
            add(&format!("connection_id IN ({marks})"), values);
        }
        if let Some(st) = &query.status {
            add("status = $", vec![st.clone().into()]);
        }
        if let Some(p) = &query.key_prefix {
            let pattern = format!("{}%", like_escaped(p));
            add(
                "(local_key LIKE $ ESCAPE '\\' OR remote_key LIKE $ ESCAPE '\\')",
                vec![pattern.clone().into(), pattern.into()],
            );
        }
        match text {
            TextMatch::None => {}
            TextMatch::Indexed(phrase) => add(
                "rowid IN (SELECT rowid FROM twins_text WHERE twins_text MATCH $)",
                vec![phrase.into()],
            ),
            TextMatch::Scanned(t) => add(
                "(coalesce(local_key, '') || ' ' || coalesce(remote_key, '') || ' ' || search_text) \
                 LIKE $ ESCAPE '\\'",
                vec![format!("%{}%", like_escaped(&t.to_lowercase())).into()],
            ),
        }
        let (compare, direction) = match query.order {
            TwinOrder::Oldest => (">", "ASC"),
            TwinOrder::Newest => ("<", "DESC"),
        };
        if let Some(after) = &query.after {
            add(
                &format!("(created_ms, id) {compare} ($, $)"),
                vec![after.created_ms.into(), after.id.clone().into()],
            );
        }
        let limit = if query.limit == 0 { 100 } else { query.limit } as i64;
        params.push(limit.into());
        params.push((query.offset as i64).into());
        let n = params.len();
        let filters = if filters.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", filters.join(" AND "))
        };
        ListSql {
            sql: format!(
                "SELECT body FROM twins {filters} ORDER BY created_ms {direction}, id {direction} \
                 LIMIT ?{} OFFSET ?{n}",
                n - 1
            ),
            params,
        }
    }
}

/// `s` with LIKE's wildcards taken literally (escaped with a backslash).
fn like_escaped(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_given_filters_are_written() {
        let q = TwinQuery {
            status: Some("error".into()),
            order: TwinOrder::Newest,
            limit: 50,
            ..TwinQuery::default()
        };
        let list = ListSql::of(&q, TextMatch::None);
        assert_eq!(
            list.sql,
            "SELECT body FROM twins WHERE status = ?1 ORDER BY created_ms DESC, id DESC LIMIT ?2 OFFSET ?3"
        );
        assert_eq!(list.params.len(), 3);
        let all = ListSql::of(&TwinQuery::default(), TextMatch::None);
        assert!(
            all.sql
                .starts_with("SELECT body FROM twins ORDER BY created_ms ASC")
        );
    }
}
