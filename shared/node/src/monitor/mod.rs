//! The Item Sync Monitor: search twins, inspect a pair, read its events and see the
//! queues. A browser cannot put the admin token on a page it navigates to, so `/monitor`
//! is a static page whose script takes the token once (from a `#token=` fragment, which
//! never reaches the server, or a form), keeps it in sessionStorage and fetches the view
//! from `/api/monitor` with it as a bearer header. The view is rendered here, with every
//! value escaped; the page's Content-Security-Policy allows no inline script.

use crate::{Node, NodeResult};
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::Deserialize;
use std::fmt::Write;
use std::sync::Arc;
use twinsync_core::{SyncEvent, Twin};
use twinsync_ports::TwinQuery;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("app.css");

/// Only the page's own script and style, no framing, no referrer.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                      connect-src 'self'; img-src 'self'; form-action 'self'; \
                      frame-ancestors 'none'; base-uri 'none'";

/// The monitor's static files. They hold no data, so they need no token.
pub fn page_routes() -> Router<Arc<Node>> {
    Router::new()
        .route(
            "/monitor",
            get(|| async { asset(PAGE, "text/html; charset=utf-8") }),
        )
        .route(
            "/monitor/app.js",
            get(|| async { asset(SCRIPT, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/monitor/app.css",
            get(|| async { asset(STYLE, "text/css; charset=utf-8") }),
        )
}

fn asset(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

/// What the monitor shows: the search (connection, status, key prefix) or one twin.
#[derive(Debug, Default, Deserialize)]
pub struct View {
    pub connection: Option<String>,
    pub status: Option<String>,
    pub key: Option<String>,
    pub twin: Option<String>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn given(v: &Option<String>) -> Option<String> {
    v.clone().filter(|s| !s.is_empty())
}

/// The view as an HTML fragment for the page's `<main>`.
pub async fn render(node: &Node, view: &View) -> NodeResult<String> {
    let mut html = format!("<h1>Item Sync Monitor — node {}</h1>", esc(&node.id));
    match given(&view.twin) {
        Some(id) => twin_view(node, &id, &mut html).await?,
        None => search_view(node, view, &mut html).await?,
    }
    Ok(html)
}

async fn search_view(node: &Node, view: &View, html: &mut String) -> NodeResult<()> {
    let connection = given(&view.connection);
    let twins = node
        .twins
        .list(&TwinQuery {
            connection_id: connection.clone(),
            status: given(&view.status),
            key_prefix: given(&view.key),
            limit: 200,
            offset: 0,
        })
        .await?;
    connections_table(node, html).await?;
    html.push_str("<h2>Sync pairs</h2><form method=get action=\"/monitor\">");
    let _ = write!(
        html,
        "connection <input name=connection value=\"{}\"> status <input name=status value=\"{}\" placeholder=\"synced|error|syncing|unlinked\"> key <input name=key value=\"{}\"> <button>search</button></form>",
        esc(view.connection.as_deref().unwrap_or_default()),
        esc(view.status.as_deref().unwrap_or_default()),
        esc(view.key.as_deref().unwrap_or_default())
    );
    html.push_str("<table><tr><th>local</th><th>remote</th><th>status</th><th>sent / acked / applied</th><th>twin</th></tr>");
    for t in &twins {
        twin_row(t, html);
    }
    html.push_str("</table>");
    let events = node.twins.events(connection.as_deref(), None, 50).await?;
    events_table("Recent sync events", &events, html);
    jobs_table(node, connection.as_deref(), html).await?;
    queues_table(node, html).await
}

/// Bulk jobs with their progress: done of total, failures, rate and the newest error.
async fn jobs_table(node: &Node, connection: Option<&str>, html: &mut String) -> NodeResult<()> {
    let jobs = crate::jobs::list(node, connection).await?;
    html.push_str("<h2>Bulk jobs</h2><table><tr><th>job</th><th>connection</th><th>kind</th><th>status</th><th>done / total</th><th>failed</th><th>items/s</th><th>last error</th></tr>");
    for job in jobs.iter().take(20) {
        let total = job
            .total
            .map(|t| t.to_string())
            .unwrap_or_else(|| "?".into());
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:?}</td><td><progress max=\"{}\" value=\"{}\"></progress> {} / {}</td><td>{}</td><td>{:.1}</td><td>{}</td></tr>",
            esc(&job.id),
            esc(&job.connection_id),
            job.kind.as_str(),
            job.status,
            job.total.unwrap_or(job.done).max(1),
            job.done,
            job.done,
            total,
            job.failed,
            job.rate_per_s(node.now_ms()),
            esc(job.errors.last().map(String::as_str).unwrap_or(""))
        );
    }
    html.push_str("</table>");
    Ok(())
}

fn twin_row(t: &Twin, html: &mut String) {
    let (class, text) = match &t.status {
        twinsync_core::TwinStatus::Error(m) => ("error", format!("error: {}", esc(m))),
        s => (s.label(), s.label().to_string()),
    };
    let _ = write!(
        html,
        "<tr><td>{}</td><td>{}</td><td class={class}>{text}</td><td>v{} / v{} / v{}</td><td><a href=\"/monitor?twin={id}\">{id}</a></td></tr>",
        esc(t.local_key.as_deref().unwrap_or("(reserved)")),
        esc(t.remote_key.as_deref().unwrap_or("-")),
        t.out_version,
        t.acked_version,
        t.in_version,
        id = esc(&t.id),
    );
}

async fn connections_table(node: &Node, html: &mut String) -> NodeResult<()> {
    html.push_str("<h2>Connections</h2><table><tr><th>id</th><th>name</th><th>status</th><th>remote node</th><th>active version</th></tr>");
    for c in &node.connections.list().await? {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.id),
            esc(&c.name),
            c.status.as_str(),
            c.status_reason
                .as_deref()
                .map(|r| format!(" ({})", esc(r)))
                .unwrap_or_default(),
            esc(&c.remote_node),
            c.active_version()
                .map(|v| v.number.to_string())
                .unwrap_or_else(|| "-".into())
        );
    }
    html.push_str("</table>");
    Ok(())
}

fn events_table(title: &str, events: &[SyncEvent], html: &mut String) {
    let _ = write!(
        html,
        "<h2>{title}</h2><table><tr><th>at (ms)</th><th>connection</th><th>kind</th><th>detail</th></tr>"
    );
    for e in events {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td></tr>",
            e.at_ms,
            esc(&e.connection_id),
            e.kind,
            esc(&e.detail)
        );
    }
    html.push_str("</table>");
}

async fn queues_table(node: &Node, html: &mut String) -> NodeResult<()> {
    html.push_str("<h2>Queues</h2><table><tr><th>queue</th><th>visible</th><th>in flight</th><th>delayed</th></tr>");
    for name in node.queue.queue_names().await? {
        let d = node.queue.depth(&name).await?;
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&name),
            d.visible,
            d.in_flight,
            d.delayed
        );
    }
    html.push_str("</table>");
    Ok(())
}

/// One pair: its row, its events and the twin record itself.
async fn twin_view(node: &Node, id: &str, html: &mut String) -> NodeResult<()> {
    html.push_str("<p><a href=\"/monitor\">all sync pairs</a></p>");
    let Some(twin) = node.twins.get(id).await? else {
        let _ = write!(html, "<p class=error>No twin {}.</p>", esc(id));
        return Ok(());
    };
    html.push_str("<table><tr><th>local</th><th>remote</th><th>status</th><th>sent / acked / applied</th><th>twin</th></tr>");
    twin_row(&twin, html);
    html.push_str("</table>");
    let events = node.twins.events(None, Some(id), 200).await?;
    events_table("Events", &events, html);
    let replicas = node.twins.replicas(id).await?.len();
    let record = serde_json::to_string_pretty(&twin).unwrap_or_default();
    let _ = write!(
        html,
        "<h2>Twin record</h2><p>Replicas recorded: {replicas}.</p><pre>{}</pre>",
        esc(&record)
    );
    Ok(())
}
