//! What the six Lambda functions share. Each `functions/*/src/main.rs` is one call:
//! [`run_sqs`] for the queue consumers (outgoing, transport, incoming, ack), [`run_http`]
//! for the function URLs (ingest, transport) and [`run_scheduler`] for the EventBridge
//! schedule. The handlers are `twinsync-node`'s, on the AWS ports of `twinsync-aws`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use twinsync_aws::env::{self, Aws, Resources};
use twinsync_aws::{AwsError, SqsQueue};
use twinsync_connector_kit::outbound::{self, ClientOptions};
use twinsync_connector_kit::target::Reach;
use twinsync_node::assemble::{NodeOptions, NodePorts, build_node_on};
use twinsync_node::config::{HttpPublicUrl, NodeSection, ProcessConfig, check_public_url};
pub use twinsync_node::connection_cache::PerInvocation;
use twinsync_node::send_batching::{BatchedSends, SendBuffer};
use twinsync_node::{Node, NodeError, NodeSettings};
use twinsync_ports::PortError;

pub use twinsync_ports::queues;

pub mod abort;
pub mod function_url;
mod sqs_batch;
pub use sqs_batch::{BatchMode, groups_in_turn, handle_sqs_batch, handle_sqs_batch_as};
mod metrics;
mod run;
pub use metrics::{MetricsLayer, init_metrics};
pub use run::{Handler, each_request_an_invocation, run, run_from_env};

/// Why a function could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum LambdaError {
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Node(#[from] NodeError),
}

impl LambdaError {
    /// A cold start that failed on a lost race (two instances writing the connection) or
    /// an unreachable service may work on Lambda's next try; bad configuration will not.
    pub fn is_retryable(&self) -> bool {
        match self {
            LambdaError::Config(_) => false,
            LambdaError::Aws(e) => e.is_retryable(),
            LambdaError::Node(e) => e.is_retryable(),
        }
    }
}

pub type Error = lambda_runtime::Error;

/// A node on the stack's queues and tables, and the SQS adapter itself (records of an
/// event carry S3 payload keys it resolves).
pub struct Function {
    pub node: Arc<Node>,
    pub sqs: Arc<SqsQueue>,
    /// The node's connections, read once per invocation ([`PerInvocation::begin`] at
    /// the start of each).
    pub connections: Arc<PerInvocation>,
    /// The node's queue: the sends a batch makes leave together when it is done.
    pub sends: Arc<BatchedSends>,
}

/// JSON logs (Lambda's JSON log format), filtered by `RUST_LOG`. A line logged while a
/// message is handled carries the message's span: its queue and the change's trace id.
pub fn init_tracing() {
    let (filter, refused) = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .finish()
        .with(filter)
        .try_init();
    if let Some(why) = refused {
        tracing::error!(%why, "RUST_LOG is not a list of target=level; logging errors only");
    }
}

/// The log filter `RUST_LOG` asks for (`warn`, `twinsync_node=debug,info`): targets and
/// levels, which is all a function's logs are filtered by. `EnvFilter`'s span and field
/// filters would link a regular expression engine into every function (0.4 MB) for that.
/// Unset, errors only; unreadable, errors only and why.
pub fn log_filter(rust_log: Option<&str>) -> (Targets, Option<String>) {
    let errors_only = Targets::new().with_default(tracing::Level::ERROR);
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        None => (errors_only, None),
        Some(directives) => match directives.parse::<Targets>() {
            Ok(targets) => (targets, None),
            Err(e) => (errors_only, Some(format!("{directives:?}: {e}"))),
        },
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// What a function reads at cold start: the SDK's configuration, the stack's resource
/// names and this node's section of the config.
struct Environment {
    aws: Aws,
    resources: Resources,
    section: NodeSection,
}

/// Resource names from the environment, the node's config (as JSON) from the SSM parameter
/// `TWINSYNC_CONFIG_PARAMETER` (or a file, `TWINSYNC_CONFIG_FILE`, for the emulator), the
/// `[[node]]` whose id is `TWINSYNC_NODE_ID`; `aws` has the credentials.
async fn environment(aws: Aws) -> Result<Environment, LambdaError> {
    let resources = Resources::from_env()?;
    let node_id = var("TWINSYNC_NODE_ID")
        .ok_or_else(|| LambdaError::Config("TWINSYNC_NODE_ID is not set".into()))?;
    let text = match (
        var("TWINSYNC_CONFIG_FILE"),
        var("TWINSYNC_CONFIG_PARAMETER"),
    ) {
        (Some(file), _) => std::fs::read_to_string(&file)
            .map_err(|e| LambdaError::Config(format!("cannot read {file}: {e}")))?,
        (None, Some(parameter)) => env::node_config(&aws.signed, &parameter).await?,
        (None, None) => {
            return Err(LambdaError::Config(
                "set TWINSYNC_CONFIG_PARAMETER (or TWINSYNC_CONFIG_FILE)".into(),
            ));
        }
    };
    let section = node_section(&text, &node_id)?;
    Ok(Environment {
        aws,
        resources,
        section,
    })
}

/// The `[[node]]` whose id is `node_id` in the node config, after the same checks as
/// `twinsync check` and `twinsync up` (an unknown connector is an error here, not a
/// sandbox). The config is the JSON `twinsync check --json` writes: the functions link no
/// TOML parser.
pub fn node_section(text: &str, node_id: &str) -> Result<NodeSection, LambdaError> {
    if !text.trim_start().starts_with('{') {
        return Err(LambdaError::Config(
            "the node config is not JSON: store the JSON that `twinsync check --config \
             node.toml --json node.json` writes from the TOML file"
                .into(),
        ));
    }
    let config = ProcessConfig::parse_json(text, "the node config")
        .map_err(|e| LambdaError::Config(e.to_string()))?;
    config
        .node
        .into_iter()
        .find(|n| n.id == node_id)
        .ok_or_else(|| LambdaError::Config(format!("the node config has no [[node]] {node_id}")))
}

/// The AWS SDK's HTTP client: the connector kit's, so the platform's roots are loaded once
/// per process. AWS endpoints may be private (VPC endpoints), so any address is reached.
fn aws_http_client() -> Result<reqwest::Client, LambdaError> {
    let options =
        ClientOptions::with_timeout(std::time::Duration::from_secs(60)).reach(Reach::PrivateToo);
    outbound::client(&options).map_err(|e| LambdaError::Config(e.to_string()))
}

/// Builds the node at cold start (see [`environment`] for what it reads), and logs how
/// long each step took: the cold start is on the first change's path.
pub async fn node_from_env() -> Result<Function, LambdaError> {
    let started = std::time::Instant::now();
    let environment = environment(Aws::from_lambda_env(aws_http_client()?)?).await?;
    let configured = started.elapsed();
    let function = build(&environment).await?;
    tracing::info!(
        environment_ms = configured.as_secs_f64() * 1e3,
        node_ms = (started.elapsed() - configured).as_secs_f64() * 1e3,
        "cold start"
    );
    Ok(function)
}

async fn build(environment: &Environment) -> Result<Function, LambdaError> {
    let (queue, twins, connections) = env::ports(&environment.aws, &environment.resources);
    let sqs = Arc::new(queue);
    let options = NodeOptions {
        node: function_settings(max_receive_count()),
        ..NodeOptions::default()
    };
    // Rule files named in the config are read relative to it.
    let base_dir = var("TWINSYNC_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_default();
    let connections = Arc::new(PerInvocation::new(Arc::new(connections)));
    let sends = Arc::new(BatchedSends::new(sqs.clone(), SendBuffer::default()));
    let mut attempt = 0;
    let node = loop {
        let ports = NodePorts {
            queue: sends.clone(),
            twins: Arc::new(twins.clone()),
            connections: connections.clone(),
        };
        match build_node_on(
            &environment.section,
            &base_dir,
            &HashMap::new(),
            &[],
            &options,
            ports,
        )
        .await
        {
            Ok(node) => break node,
            // Another instance's cold start wrote the connection first: read it again.
            Err(e) if attempt < 5 && matches!(e, NodeError::Port(PortError::Conflict(_))) => {
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    };
    // The stack's TransportUrl, else the config's; held to the same rule as locally.
    if let Some(url) = var("TWINSYNC_PUBLIC_URL").or(environment.section.public_url.clone()) {
        let http = HttpPublicUrl::from_setting(environment.section.allow_http_public_url);
        check_public_url(&url, http)
            .map_err(|e| LambdaError::Config(format!("the public URL {e}")))?;
        node.set_public_url(&url);
    }
    connections.begin();
    Ok(Function {
        node: Arc::new(node),
        sqs,
        connections,
        sends,
    })
}

/// The redrive policy's `maxReceiveCount` (`TWINSYNC_MAX_RECEIVE_COUNT`, which the
/// template sets to the same number): the handler dead-letters a message at that receive
/// itself, with its reason and its twin marked, before SQS would move it silently.
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 1_000;

/// How long a webhook waits in the ingest function for the apply writing its item, so
/// that our own write's echo is dropped there: at 128 MB a second of waiting costs about
/// what the queue hop and the outgoing run it saves cost (docs/aws-cost.md, session 49).
pub const ECHO_WAIT_MS: u64 = 1_000;

/// The node settings of a deployed function: acks go on to the ack function's queue, a
/// message is dead-lettered by the handler at the queue's `max_receives`, and a webhook
/// waits for the apply of its item ([`ECHO_WAIT_MS`]).
pub fn function_settings(max_receives: u32) -> NodeSettings {
    NodeSettings {
        ack_queue: true,
        max_receives: Some(max_receives),
        echo_wait_ms: ECHO_WAIT_MS,
        ..NodeSettings::default()
    }
}

fn max_receive_count() -> u32 {
    var("TWINSYNC_MAX_RECEIVE_COUNT")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_RECEIVE_COUNT)
}

/// How to serve a deployed node's operator console.
#[cfg(feature = "console")]
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// The admin listener's address: loopback unless the node's config has
    /// `admin_allow_remote`.
    pub listen: String,
    /// Where the admin token (made at the first start) and the admin URL are kept, so
    /// `twinsync admin --data-dir` finds them; `TWINSYNC_ADMIN_TOKEN` overrides the token.
    pub data_dir: PathBuf,
}

/// The operator console of a node on AWS: the node's admin API (connections,
/// invitations, versions, operations, twins, the Item Sync Monitor) on `listen`, behind
/// the admin token and the Host and Origin checks, as a local node's; on the stack's
/// queues and tables. It runs on the operator's machine with their AWS credentials; the
/// function URLs never serve this API. With `TWINSYNC_INGEST_URL` set (the stack's
/// `IngestUrl`), it first subscribes the trackers' webhooks to the ingest function.
#[cfg(feature = "console")]
pub async fn run_console(options: &ConsoleOptions) -> Result<(), Error> {
    use twinsync_node::admin::{self, AdminToken, RemoteAdmin};
    init_tracing();
    let aws = Aws::from_credential_chain(aws_http_client()?).await?;
    let environment = environment(aws).await?;
    let section = &environment.section;
    let listener = admin::bind(
        &options.listen,
        RemoteAdmin::from_setting(section.admin_allow_remote),
    )
    .await?;
    let addr = listener.local_addr()?;
    let (token, token_from) = match var(admin::TOKEN_ENV) {
        Some(t) => (AdminToken::parse(&t)?, admin::TOKEN_ENV.to_string()),
        None => (
            AdminToken::load_or_create(&options.data_dir)?,
            options
                .data_dir
                .join(admin::TOKEN_FILE)
                .display()
                .to_string(),
        ),
    };
    let url = admin::local_url(addr);
    admin::write_url(&options.data_dir, &url)?;
    let f = build(&environment).await?;
    if f.node.public_url().is_none() {
        tracing::warn!(
            "TWINSYNC_PUBLIC_URL is not set (the stack's TransportUrl): invitations cannot be made or accepted"
        );
    }
    twinsync_node::assemble::check_trackers(&f.node, section).await?;
    if let Some(ingest) = var("TWINSYNC_INGEST_URL") {
        twinsync_node::assemble::register_webhooks(
            &f.node.http,
            &f.node,
            section,
            &ingest,
            &HashMap::new(),
        )
        .await?;
    }
    tracing::info!(node = %f.node.id, %addr, "operator console listening");
    println!(
        "twinsync console for node {} on {url} (admin token: {token_from}; \
         `twinsync connection list --data-dir {}`)",
        f.node.id,
        options.data_dir.display()
    );
    let guard = twinsync_node::router::AdminGuard::new(token, addr, &section.admin_hosts);
    axum::serve(listener, twinsync_node::router::admin_router(f.node, guard)).await?;
    Ok(())
}
