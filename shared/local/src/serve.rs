//! A local node's two HTTP listeners: the public one (webhooks, `/v1/*`, `/health`) on
//! `listen`, and the admin one (`/api/*`, the monitor) on `admin_listen`, loopback unless
//! the config allows more, behind the admin token.

use crate::process::RouterDecorator;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use twinsync_node::admin::{self, AdminToken, RemoteAdmin};
use twinsync_node::config::{HttpPublicUrl, NodeSection, check_public_url};
use twinsync_node::router::{AdminGuard, admin_router, public_router};
use twinsync_node::{Node, NodeError, NodeResult};
use twinsync_tls::{ServerTls, Transport};

/// Where a node's admin API listens and the token it takes.
#[derive(Debug, Clone)]
pub struct AdminEndpoint {
    pub url: String,
    pub token: AdminToken,
    /// The file the token is kept in; `None` when it was given (`TWINSYNC_ADMIN_TOKEN`).
    pub token_file: Option<PathBuf>,
}

/// A node being served.
pub struct Served {
    /// Where other nodes and trackers reach it.
    pub public_url: String,
    pub admin: AdminEndpoint,
    pub servers: Vec<JoinHandle<()>>,
}

/// Binds both listeners of `node` (the admin one first: a refused address stops the
/// start before anything listens), then serves them, the public router wrapped by
/// `decorate` when given. The token is `token` when given, else the one in the node's
/// data dir, made at the first start.
pub async fn serve_node(
    node: &Arc<Node>,
    section: &NodeSection,
    dirs: (&Path, &Path),
    token: Option<AdminToken>,
    decorate: Option<&RouterDecorator>,
) -> NodeResult<Served> {
    let (base_dir, data_dir) = dirs;
    let in_node = |e: NodeError| NodeError::config(format!("node {}: {e}", node.id));
    let transport = match &section.tls {
        Some(tls) => Transport::Tls(
            ServerTls::from_pem_files(
                &base_dir.join(&tls.cert_file),
                &base_dir.join(&tls.key_file),
            )
            .map_err(|e| NodeError::config(format!("node {}: tls: {e}", node.id)))?,
        ),
        None => Transport::Plain,
    };
    let admin_listener = admin::bind(
        &section.admin_listen,
        RemoteAdmin::from_setting(section.admin_allow_remote),
    )
    .await
    .map_err(in_node)?;
    let public_listener = TcpListener::bind(&section.listen).await.map_err(|e| {
        NodeError::config(format!(
            "node {}: cannot listen on {}: {e}",
            node.id, section.listen
        ))
    })?;
    let (admin_addr, public_addr) = (local_addr(&admin_listener)?, local_addr(&public_listener)?);
    let (token, token_file) = match token {
        Some(t) => (t, None),
        None => (
            AdminToken::load_or_create(data_dir).map_err(in_node)?,
            Some(data_dir.join(admin::TOKEN_FILE)),
        ),
    };
    let public_url = match &section.public_url {
        Some(url) => {
            check_public_url(
                url,
                HttpPublicUrl::from_setting(section.allow_http_public_url),
            )
            .map_err(|e| NodeError::config(format!("node {}: public_url {e}", node.id)))?;
            url.trim_end_matches('/').to_string()
        }
        None => format!("{}://{public_addr}", transport.scheme()),
    };
    // Written before anything answers, so a client that sees the node up reads this run's.
    let admin_url = admin::local_url(admin_addr);
    admin::write_url(data_dir, &admin_url).map_err(in_node)?;
    let guard = AdminGuard::new(token.clone(), admin_addr, &section.admin_hosts);
    let public = public_router(node.clone());
    let public = match decorate {
        Some(decorate) => decorate(&node.id, public),
        None => public,
    };
    let servers = vec![
        spawn(public_listener, public, transport, "public"),
        spawn(
            admin_listener,
            admin_router(node.clone(), guard),
            Transport::Plain,
            "admin",
        ),
    ];
    Ok(Served {
        public_url,
        admin: AdminEndpoint {
            url: admin_url,
            token,
            token_file,
        },
        servers,
    })
}

fn local_addr(listener: &TcpListener) -> NodeResult<SocketAddr> {
    listener.local_addr().map_err(NodeError::config)
}

/// The admin listener stays plain HTTP: it is on loopback, where TLS protects nothing.
fn spawn(
    listener: TcpListener,
    app: axum::Router,
    transport: Transport,
    which: &'static str,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = twinsync_tls::serve(listener, app, transport).await {
            tracing::error!(error = %e, listener = which, "node server stopped");
        }
    })
}
