//! The Item Sync Monitor: a plain HTML page to search twins, inspect a pair, read its
//! events and see the queues. Server-rendered, so it works without JavaScript.

use crate::{Node, NodeResult};
use std::fmt::Write;
use twinsync_ports::TwinQuery;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn render(
    node: &Node,
    connection: &Option<String>,
    status: &Option<String>,
    key: &Option<String>,
) -> NodeResult<String> {
    let connections = node.connections.list().await?;
    let twins = node
        .twins
        .list(&TwinQuery {
            connection_id: connection.clone().filter(|c| !c.is_empty()),
            status: status.clone().filter(|s| !s.is_empty()),
            key_prefix: key.clone().filter(|k| !k.is_empty()),
            limit: 200,
            offset: 0,
        })
        .await?;
    let events = node
        .twins
        .events(connection.as_deref().filter(|c| !c.is_empty()), None, 50)
        .await?;
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html><head><meta charset=utf-8><title>twinsync · {node}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}.error{{color:#b00}}\
         .synced{{color:#070}}</style></head><body><h1>Item Sync Monitor — node {node}</h1>",
        node = esc(&node.id)
    );
    html.push_str("<h2>Connections</h2><table><tr><th>id</th><th>name</th><th>status</th><th>remote node</th><th>active version</th></tr>");
    for c in &connections {
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
    html.push_str("</table><h2>Sync pairs</h2><form method=get>");
    let _ = write!(
        html,
        "connection <input name=connection value=\"{}\"> status <input name=status value=\"{}\" placeholder=\"synced|error|syncing|unlinked\"> key <input name=key value=\"{}\"> <button>search</button></form>",
        esc(connection.as_deref().unwrap_or_default()),
        esc(status.as_deref().unwrap_or_default()),
        esc(key.as_deref().unwrap_or_default())
    );
    html.push_str("<table><tr><th>local</th><th>remote</th><th>status</th><th>sent / acked / applied</th><th>twin</th></tr>");
    for t in &twins {
        let (class, text) = match &t.status {
            twinsync_core::TwinStatus::Error(m) => ("error", format!("error: {}", esc(m))),
            s => (s.label(), s.label().to_string()),
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td class={class}>{text}</td><td>v{} / v{} / v{}</td><td><a href=\"/api/twins/{id}\">{id}</a></td></tr>",
            esc(t.local_key.as_deref().unwrap_or("(reserved)")),
            esc(t.remote_key.as_deref().unwrap_or("-")),
            t.out_version,
            t.acked_version,
            t.in_version,
            id = esc(&t.id),
        );
    }
    html.push_str("</table><h2>Recent sync events</h2><table><tr><th>at (ms)</th><th>connection</th><th>kind</th><th>detail</th></tr>");
    for e in &events {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{:?}</td><td>{}</td></tr>",
            e.at_ms,
            esc(&e.connection_id),
            e.kind,
            esc(&e.detail)
        );
    }
    html.push_str("</table><h2>Queues</h2><table><tr><th>queue</th><th>visible</th><th>in flight</th><th>delayed</th></tr>");
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
    html.push_str("</table></body></html>");
    Ok(html)
}
