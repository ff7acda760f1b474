//! The mains: which handler a process runs, and the Lambda runtime loop of each.
//! One artifact serves the six functions; the template's `Handler` property names the
//! handler, and Lambda gives it to the process as `_HANDLER`.

use crate::abort::{self, Report};
use crate::function_url;
use crate::{
    Error, Function, LambdaError, MetricsLayer, PerInvocation, handle_sqs_batch, init_metrics,
    init_tracing, node_from_env, queues, var,
};
use aws_lambda_events::lambda_function_urls::LambdaFunctionUrlRequest;
use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use std::str::FromStr;
use std::sync::Arc;
use twinsync_node::config::DEFAULT_WEBHOOK_POLL_MS;
use twinsync_node::handlers::scheduler::{PollIntervals, Polling};

/// The six handlers of a node on AWS, by the names the SAM template gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// Tracker webhooks on a function URL, to the outgoing queue.
    Ingest,
    /// The outgoing queue: local changes to replicas.
    Outgoing,
    /// The transport queue (deliveries to the other node) and its function URL.
    Transport,
    /// The incoming queue: replicas applied to the local tracker.
    Incoming,
    /// The ack queue: acknowledgements recorded on the source twins.
    Ack,
    /// The EventBridge schedule's tick.
    Scheduler,
}

impl Handler {
    pub const ALL: [Handler; 6] = [
        Handler::Ingest,
        Handler::Outgoing,
        Handler::Transport,
        Handler::Incoming,
        Handler::Ack,
        Handler::Scheduler,
    ];

    /// The name in the template's `Handler` property.
    pub fn name(self) -> &'static str {
        match self {
            Handler::Ingest => "ingest",
            Handler::Outgoing => "outgoing",
            Handler::Transport => "transport",
            Handler::Incoming => "incoming",
            Handler::Ack => "ack",
            Handler::Scheduler => "scheduler",
        }
    }

    /// The handler Lambda names in `_HANDLER` (from the function's `Handler` property).
    pub fn from_env() -> Result<Handler, LambdaError> {
        let name = var("_HANDLER").ok_or_else(|| {
            LambdaError::Config("_HANDLER is not set: the function's Handler names one".into())
        })?;
        name.parse()
    }
}

impl FromStr for Handler {
    type Err = LambdaError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Handler::ALL
            .into_iter()
            .find(|h| h.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Handler::ALL.iter().map(|h| h.name()).collect();
                LambdaError::Config(format!(
                    "unknown handler {name:?}: the function's Handler is one of {}",
                    known.join(", ")
                ))
            })
    }
}

/// The main of the one artifact: runs the handler `_HANDLER` names.
pub async fn run_from_env() -> Result<(), Error> {
    init_tracing();
    let handler = Handler::from_env().inspect_err(|e| tracing::error!(error = %e, "no handler"))?;
    run(handler).await
}

/// Runs `handler`'s Lambda runtime loop.
pub async fn run(handler: Handler) -> Result<(), Error> {
    init_tracing();
    abort::install(Report::WhenAborting);
    match handler {
        Handler::Ingest => run_http(handler.name()).await,
        Handler::Outgoing => run_sqs(queues::OUTGOING).await,
        Handler::Transport => run_sqs_and_http(queues::TRANSPORT).await,
        Handler::Incoming => run_sqs(queues::INCOMING).await,
        Handler::Ack => run_sqs(queues::ACK).await,
        Handler::Scheduler => run_scheduler().await,
    }
}

/// The main of a queue consumer.
async fn run_sqs(queue: &'static str) -> Result<(), Error> {
    let f = Arc::new(node_from_env().await?);
    let metrics = init_metrics(queue, &f.node.id)?;
    let handler = service_fn(move |event: LambdaEvent<SqsEvent>| {
        let f = f.clone();
        async move {
            let _in_flight = abort::begin(&event.context.request_id, &event.payload);
            Ok::<_, Error>(handle_sqs_batch(&f, queue, event.payload).await)
        }
    });
    lambda_runtime::Runtime::new(handler)
        .layer(MetricsLayer::new(metrics))
        .run()
        .await
}

/// The main of a function URL: the node's public routes (webhooks, `/v1/*`).
async fn run_http(function: &'static str) -> Result<(), Error> {
    let f = node_from_env().await?;
    let metrics = init_metrics(function, &f.node.id)?;
    let router = per_invocation(&f);
    let handler = service_fn(move |event: LambdaEvent<LambdaFunctionUrlRequest>| {
        let router = router.clone();
        async move { Ok::<_, Error>(function_url::serve(router, event.payload).await?) }
    });
    lambda_runtime::Runtime::new(handler)
        .layer(MetricsLayer::new(metrics))
        .run()
        .await
}

/// The node's public routes, each request a new invocation for the connection cache.
fn per_invocation(f: &Function) -> axum::Router {
    each_request_an_invocation(
        twinsync_node::router::public_router(f.node.clone()),
        f.connections.clone(),
    )
}

/// `router` with each request beginning a new invocation of `connections`, as a function
/// URL's requests do (the emulator tests serve their nodes' public routes this way too).
pub fn each_request_an_invocation(
    router: axum::Router,
    connections: Arc<PerInvocation>,
) -> axum::Router {
    router.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            connections.begin();
            next.run(request)
        },
    ))
}

/// The main of the transport function, which has both an SQS event source (replicas and
/// acks to deliver) and a function URL (`/v1/transport` from the other node): an event
/// with `Records` is a batch, anything else a function URL request.
async fn run_sqs_and_http(queue: &'static str) -> Result<(), Error> {
    let f = Arc::new(node_from_env().await?);
    let metrics = init_metrics(queue, &f.node.id)?;
    let router = per_invocation(&f);
    let handler = service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (f, router) = (f.clone(), router.clone());
        async move {
            let payload = event.payload;
            if payload.get("Records").is_some() {
                let batch: SqsEvent = serde_json::from_value(payload)?;
                let _in_flight = abort::begin(&event.context.request_id, &batch);
                return Ok::<_, Error>(serde_json::to_value(
                    handle_sqs_batch(&f, queue, batch).await,
                )?);
            }
            let request: LambdaFunctionUrlRequest = serde_json::from_value(payload)?;
            let response = function_url::serve(router, request).await?;
            Ok(serde_json::to_value(response)?)
        }
    });
    lambda_runtime::Runtime::new(handler)
        .layer(MetricsLayer::new(metrics))
        .run()
        .await
}

/// The main of the scheduler: one tick per EventBridge invocation (every minute).
async fn run_scheduler() -> Result<(), Error> {
    let f = Arc::new(node_from_env().await?);
    let metrics = init_metrics("scheduler", &f.node.id)?;
    // Polling triggers are due every minute at most on AWS: the schedule's rate.
    let interval =
        |name: &str, default: i64| var(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let polling = Arc::new(Polling::new(PollIntervals {
        polls_ms: interval("TWINSYNC_POLL_INTERVAL_MS", 60_000),
        webhooks_ms: interval("TWINSYNC_WEBHOOK_POLL_INTERVAL_MS", DEFAULT_WEBHOOK_POLL_MS),
    }));
    let handler = service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let (f, polling) = (f.clone(), polling.clone());
        async move {
            let report = twinsync_node::handlers::scheduler::tick(&f.node, &polling)
                .await
                .map_err(|e| Box::new(e) as Error)?;
            // Bulk jobs go on for most of the minute until the next tick.
            let job_items = twinsync_node::jobs::run_pages(&f.node, 40_000)
                .await
                .map_err(|e| Box::new(e) as Error)?;
            tracing::info!(?report, job_items, "scheduler tick");
            Ok::<_, Error>(serde_json::to_value(&report)?)
        }
    });
    lambda_runtime::Runtime::new(handler)
        .layer(MetricsLayer::new(metrics))
        .run()
        .await
}
