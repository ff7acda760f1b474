//! Starting a whole local process from a [`ProcessConfig`]: sandbox trackers, nodes with
//! their SQLite stores, connections, HTTP servers (public and admin, [`crate::serve`]),
//! webhook subscriptions and runners.
//! `twinsync up` and `twinsync demo` both go through here.

use crate::runner::{Runner, RunnerSettings};
use crate::runtimes::NodeRuntimes;
pub use crate::runtimes::Placement;
pub use crate::serve::AdminEndpoint;
use crate::serve::serve_node;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinHandle;
use twinsync_core::Clock;
use twinsync_node::admin::AdminToken;
use twinsync_node::assemble::{
    NodeOptions, NodePorts, build_node_on, check_trackers, register_webhooks,
};
pub use twinsync_node::assemble::{QueueDecorator, TrackerDecorator};
use twinsync_node::config::{NodeSection, ProcessConfig, SandboxSection};
use twinsync_node::peer::link_local;
use twinsync_node::{Node, NodeError, NodeResult, NodeSettings};

/// How to start a process.
#[derive(Clone)]
pub struct ProcessOptions {
    pub runner: RunnerSettings,
    pub node: NodeSettings,
    pub clock: Arc<dyn Clock>,
    pub queue_decorator: Option<QueueDecorator>,
    /// Wraps every tracker client, e.g. to slow it down in a test.
    pub tracker_decorator: Option<TrackerDecorator>,
    /// The ports of each node; SQLite files under the node's data dir when not set.
    pub ports: Option<PortsFactory>,
    /// The admin token of every node (`twinsync up` takes it from `TWINSYNC_ADMIN_TOKEN`);
    /// each node's `admin-token` file when not set.
    pub admin_token: Option<AdminToken>,
    /// Wraps each node's public router, e.g. to serve its requests the way Lambda's
    /// function URLs do in the emulator tests.
    pub public_decorator: Option<RouterDecorator>,
    /// Whether the nodes share the caller's runtime or each has its own.
    pub placement: Placement,
}

/// Wraps the public router of the node named by the first argument.
pub type RouterDecorator = Arc<dyn Fn(&str, axum::Router) -> axum::Router + Send + Sync>;

/// Makes the ports of a node from its section (the emulator tests put nodes on SQS and
/// DynamoDB this way).
pub type PortsFactory = Arc<dyn Fn(&NodeSection) -> NodePorts + Send + Sync>;

impl Default for ProcessOptions {
    fn default() -> Self {
        Self {
            runner: RunnerSettings::default(),
            node: NodeSettings::default(),
            clock: Arc::new(twinsync_core::SystemClock),
            queue_decorator: None,
            tracker_decorator: None,
            ports: None,
            admin_token: None,
            public_decorator: None,
            placement: Placement::default(),
        }
    }
}

impl ProcessOptions {
    /// What building each node needs of these options.
    pub fn node_options(&self) -> NodeOptions {
        NodeOptions {
            node: self.node.clone(),
            clock: self.clock.clone(),
            queue_decorator: self.queue_decorator.clone(),
            tracker_decorator: self.tracker_decorator.clone(),
        }
    }
}

/// A running local process.
pub struct Process {
    pub nodes: Vec<Arc<Node>>,
    /// Base URL of each node's public listener (webhooks, `/v1/*`), by node id.
    pub node_urls: HashMap<String, String>,
    /// Each node's admin API (`/api/*`, the monitor) and its token, by node id.
    pub admin: HashMap<String, AdminEndpoint>,
    /// Base URL of each sandbox tracker, by sandbox id.
    pub sandbox_urls: HashMap<String, String>,
    /// The API requests each sandbox tracker served and refused, by sandbox id.
    pub sandbox_requests: HashMap<String, Arc<twinsync_fakes::sandbox::Requests>>,
    sandboxes: Vec<twinsync_fakes::sandbox::RunningSandbox>,
    runners: Vec<Runner>,
    servers: Vec<JoinHandle<()>>,
    /// Dropped last: the tasks above run on them.
    runtimes: NodeRuntimes,
}

impl Process {
    pub fn node(&self, id: &str) -> Option<&Arc<Node>> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The webhook delivery counts of this process's sandbox trackers.
    pub fn webhooks(&self) -> Vec<Arc<twinsync_fakes::deliveries::Deliveries>> {
        self.sandboxes.iter().map(|s| s.webhooks.clone()).collect()
    }

    /// Waits until this process's nodes and sandboxes have nothing left to do
    /// ([`crate::quiet::wait_quiet`]).
    pub async fn wait_quiet(&self, timeout: std::time::Duration) -> bool {
        crate::quiet::wait_quiet(&self.nodes, &self.webhooks(), timeout).await
    }

    pub async fn start(
        config: &ProcessConfig,
        base_dir: &Path,
        options: ProcessOptions,
    ) -> NodeResult<Process> {
        let runner = options.runner.clone();
        let http = reqwest::Client::new();
        let runtimes = NodeRuntimes::build(config, options.placement)?;
        let mut sandboxes = Vec::new();
        let mut sandbox_urls = HashMap::new();
        let mut sandbox_requests = HashMap::new();
        for s in &config.sandbox {
            let home = NodeRuntimes::home_of_sandbox(config, &s.id);
            let running = start_sandbox(s, base_dir, &runtimes, home, &http).await?;
            sandbox_urls.insert(s.id.clone(), running.base_url.clone());
            sandbox_requests.insert(s.id.clone(), running.requests.clone());
            sandboxes.push(running);
        }

        // A config built in code (tests, demos) has not been through `parse`.
        let mut config = config.clone();
        config.find_remote_connectors();
        let config = &config;
        let local_ids: Vec<&str> = config.node.iter().map(|n| n.id.as_str()).collect();
        let mut nodes = Vec::new();
        for section in &config.node {
            nodes.push(Arc::new(
                build_node(section, base_dir, &sandbox_urls, &local_ids, &options).await?,
            ));
        }
        for (i, a) in nodes.iter().enumerate() {
            for (j, b) in nodes.iter().enumerate().skip(i + 1) {
                link_local((a, runtimes.handle(i)), (b, runtimes.handle(j)));
            }
        }

        let mut node_urls = HashMap::new();
        let mut admin = HashMap::new();
        let mut servers = Vec::new();
        for (i, (node, section)) in nodes.iter().zip(&config.node).enumerate() {
            let data_dir = base_dir.join(&section.data_dir);
            let (node_there, section_there, base_dir) =
                (node.clone(), section.clone(), base_dir.to_path_buf());
            let (token, decorate) = (
                options.admin_token.clone(),
                options.public_decorator.clone(),
            );
            let served = runtimes
                .run(Some(i), async move {
                    let dirs = (base_dir.as_path(), data_dir.as_path());
                    serve_node(&node_there, &section_there, dirs, token, decorate.as_ref()).await
                })
                .await?;
            servers.extend(served.servers);
            let url = served.public_url;
            node.set_public_url(&url);
            check_trackers(node, section).await?;
            register_webhooks(&http, node, section, &url, &sandbox_urls).await?;
            tracing::info!(node = %node.id, %url, admin = %served.admin.url, "node listening");
            node_urls.insert(node.id.clone(), url);
            admin.insert(node.id.clone(), served.admin);
        }

        let runners = nodes
            .iter()
            .zip(&config.node)
            .enumerate()
            .map(|(i, (n, s))| {
                // The runner's consumers are tasks of the node's own runtime.
                let _entered = runtimes.enter(i);
                Runner::start(
                    n.clone(),
                    RunnerSettings {
                        poll_intervals: s.poll_intervals(),
                        ..runner.clone()
                    },
                )
            })
            .collect();
        Ok(Process {
            nodes,
            node_urls,
            admin,
            sandbox_urls,
            sandbox_requests,
            sandboxes,
            runners,
            servers,
            runtimes,
        })
    }

    /// Stops runners (finishing batches in hand), servers and sandboxes.
    pub async fn stop(self) {
        for r in self.runners {
            r.stop().await;
        }
        for s in self.servers {
            s.abort();
        }
        for s in self.sandboxes {
            s.stop().await;
        }
        // What is left on the nodes' own runtimes (idle connections) goes with them.
        drop(self.runtimes);
    }

    /// Stops everything at once, as a crash would: messages in hand stay in flight.
    pub async fn kill(self) {
        for r in self.runners {
            r.abort();
        }
        for s in self.servers {
            s.abort();
        }
        for s in self.sandboxes {
            s.stop().await;
        }
        // What is left on the nodes' own runtimes (idle connections) goes with them.
        drop(self.runtimes);
    }
}

/// Starts the sandbox tracker `s` on the runtime of its node (`home`), with its projects.
async fn start_sandbox(
    s: &SandboxSection,
    base_dir: &Path,
    runtimes: &NodeRuntimes,
    home: Option<usize>,
    http: &reqwest::Client,
) -> NodeResult<twinsync_fakes::sandbox::RunningSandbox> {
    let db_path = s.db.as_ref().map(|p| base_dir.join(p));
    if let Some(parent) = db_path.as_ref().and_then(|p| p.parent()) {
        std::fs::create_dir_all(parent).map_err(NodeError::config)?;
    }
    let sandbox = twinsync_fakes::sandbox::SandboxServerConfig {
        db_path,
        token: s.token.clone(),
        rate_limit: s.budget.map(|b| twinsync_fakes::sandbox::RateLimit {
            per_minute: b.requests_per_minute,
            burst: b.burst,
        }),
        ..Default::default()
    };
    let listen = s.listen.clone();
    let running = runtimes
        .run(home, async move {
            twinsync_fakes::sandbox::spawn(&listen, sandbox)
                .await
                .map_err(NodeError::config)
        })
        .await?;
    let url = &running.base_url;
    for p in &s.projects {
        let mut body = serde_json::json!({ "key": p.key, "name": p.name });
        if let Some(st) = &p.statuses {
            body["statuses"] = serde_json::json!(st);
        }
        if let Some(pr) = &p.priorities {
            body["priorities"] = serde_json::json!(pr);
        }
        let mut req = http.post(format!("{url}/api/projects")).json(&body);
        if let Some(t) = &s.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(NodeError::config)?;
        // 409: the project exists from an earlier run.
        if !resp.status().is_success() && resp.status().as_u16() != 409 {
            return Err(NodeError::config(format!(
                "sandbox {}: creating project {} failed: {}",
                s.id,
                p.key,
                resp.text().await.unwrap_or_default()
            )));
        }
    }
    Ok(running)
}

async fn build_node(
    section: &NodeSection,
    base_dir: &Path,
    sandbox_urls: &HashMap<String, String>,
    local_ids: &[&str],
    options: &ProcessOptions,
) -> NodeResult<Node> {
    if let Some(make) = &options.ports {
        return build_node_on(
            section,
            base_dir,
            sandbox_urls,
            local_ids,
            &options.node_options(),
            make(section),
        )
        .await;
    }
    let clock = options.clock.clone();
    let data_dir = base_dir.join(&section.data_dir);
    std::fs::create_dir_all(&data_dir).map_err(NodeError::config)?;
    // The queue's own dead-letter move is the last resort behind the handlers, which
    // dead-letter a failing message at the retry budget and mark its twin: it waits twice
    // as long, for a message whose handling never ends.
    let budget = section
        .retry_budget_ms()
        .unwrap_or(options.node.retry_budget_ms);
    let queue_settings = twinsync_store::QueueSettings {
        dead_letter_after_ms: budget.saturating_mul(2),
        ..twinsync_store::QueueSettings::default()
    };
    let (queue, twins, connections) =
        twinsync_store::open_node_store(&data_dir.join("node.db"), clock.clone(), queue_settings)
            .map_err(NodeError::config)?;
    build_node_on(
        section,
        base_dir,
        sandbox_urls,
        local_ids,
        &options.node_options(),
        NodePorts {
            queue: Arc::new(queue),
            twins: Arc::new(twins),
            connections: Arc::new(connections),
        },
    )
    .await
}
