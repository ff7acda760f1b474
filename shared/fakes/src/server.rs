//! How a vendor fake is served, written once for GitHub and Jira: binding its address
//! (the sandbox binds the same way), serving its router in the background, the state
//! its handlers share ([`Shared`]), and [`Running`], the handle a test holds.

use crate::deliveries::{Deliveries, Delivery};
use crate::plumbing::{self, Exchange, Traffic};
use axum::Router;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use twinsync_tls::Transport;

/// Binds `addr` and gives the base URL it is reachable at (`https://` when `transport`
/// is TLS); the error is the reason, for the caller's `Listen` error.
pub async fn bind(addr: &str, transport: &Transport) -> Result<(TcpListener, String), String> {
    let listener = TcpListener::bind(addr).await.map_err(|e| e.to_string())?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, format!("{}://{local}", transport.scheme())))
}

/// Serves `app` on `listener` in the background; `name` says in the log which server
/// stopped, should it stop.
pub fn spawn_server(
    listener: TcpListener,
    app: Router,
    transport: Transport,
    name: &'static str,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = twinsync_tls::serve(listener, app, transport).await {
            tracing::error!(error = %e, "{name} stopped");
        }
    })
}

/// What a vendor fake's handlers share: where it is reachable, what it knew at start
/// (`O`), its data (`D`) under one lock, and its traffic with the faults (`F`) a test
/// may inject.
pub struct Shared<O, D, F> {
    pub(crate) base: String,
    pub(crate) options: O,
    data: Mutex<D>,
    pub(crate) traffic: Traffic<F>,
}

impl<O, D, F> Shared<O, D, F> {
    pub(crate) fn new(base: String, options: O, data: D, traffic: Traffic<F>) -> Self {
        Shared {
            base,
            options,
            data: Mutex::new(data),
            traffic,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, D> {
        plumbing::lock(&self.data)
    }
}

/// A running vendor fake: where it listens, its state, and the task serving it. Dropping
/// it stops the server and its webhook sender.
pub struct Running<O, D, F> {
    pub url: String,
    /// The state, shared with the handlers; each vendor's own methods reach it here.
    pub(crate) fake: Arc<Shared<O, D, F>>,
    server: JoinHandle<()>,
}

impl<O, D, F> Running<O, D, F> {
    /// Binds `addr`, makes the fake's state for the base URL it got, and serves the
    /// router `app` makes over that state in the background, over plain HTTP or TLS
    /// (`name` names it in the log). The error is why `addr` could not be bound.
    pub(crate) async fn serve(
        addr: &str,
        transport: Transport,
        name: &'static str,
        state: impl FnOnce(String) -> Shared<O, D, F>,
        app: impl FnOnce(Arc<Shared<O, D, F>>) -> Router,
    ) -> Result<Self, String> {
        let (listener, url) = bind(addr, &transport).await?;
        let fake = Arc::new(state(url.clone()));
        let server = spawn_server(listener, app(fake.clone()), transport, name);
        Ok(Running { url, fake, server })
    }

    /// Makes the next requests fail, in order.
    pub fn inject(&self, faults: impl IntoIterator<Item = F>) {
        self.fake.traffic.inject(faults);
    }

    /// Every request so far and its answer.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.fake.traffic.exchanges()
    }

    /// The webhook deliveries made so far, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.fake.traffic.outbox.made()
    }

    /// The counts of webhook deliveries, for waiting until none is on its way.
    pub fn webhooks(&self) -> Arc<Deliveries> {
        self.fake.traffic.outbox.counts()
    }
}

impl<O, D, F> Drop for Running<O, D, F> {
    fn drop(&mut self) {
        self.server.abort();
        self.fake.traffic.stop();
    }
}
