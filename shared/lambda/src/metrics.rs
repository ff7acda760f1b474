//! CloudWatch metrics in the embedded metric format, written to stdout after each
//! invocation. The collector is metrics_cloudwatch_embedded's; the layer that flushes it
//! is ours, because the crate's own (its `lambda` feature) brings lambda_http with every
//! event type (ALB, REST and WebSocket APIs, VPC Lattice), whose request parsers every
//! function would then carry while a function URL sends only one kind.

use crate::{LambdaError, var};
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{Error, LambdaInvocation};
use metrics_cloudwatch_embedded::Collector;
use std::future::Future;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

/// What the handlers record (`ChangesProcessed`, `Failures`, `Postponed` by queue and
/// outcome; `ProcessingLatency` and `QueueAge` in milliseconds) is written as one EMF
/// document after each invocation, with the function and node as dimensions, plus a
/// `ColdStart` count. The namespace is `TWINSYNC_METRICS_NAMESPACE` (default `twinsync`).
pub fn init_metrics(function: &str, node_id: &str) -> Result<&'static Collector, LambdaError> {
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(
            var("TWINSYNC_METRICS_NAMESPACE").unwrap_or_else(|| "twinsync".into()),
        )
        .with_dimension("function", function.to_string())
        .with_dimension("node", node_id.to_string())
        .init()
        .map_err(|e| LambdaError::Config(format!("metrics: {e}")))
}

/// Flushes `collector` after each invocation, with the request and trace ids as
/// properties, and counts the first invocation of the process as `ColdStart`.
pub struct MetricsLayer {
    collector: &'static Collector,
}

impl MetricsLayer {
    pub fn new(collector: &'static Collector) -> Self {
        MetricsLayer { collector }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            collector: self.collector,
            inner,
        }
    }
}

pub struct MetricsService<S> {
    collector: &'static Collector,
    inner: S,
}

impl<S> Service<LambdaInvocation> for MetricsService<S>
where
    S: Service<LambdaInvocation, Response = (), Error = Error>,
{
    type Response = ();
    type Error = Error;
    type Future = Flushed<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let collector = self.collector;
        collector.set_property("RequestId", invocation.context.request_id.clone());
        collector.set_property("XRayTraceId", invocation.context.xray_trace_id.clone());
        static COLD_START: Once = Once::new();
        COLD_START.call_once(|| {
            let written = collector.write_single(
                "ColdStart",
                Some(metrics::Unit::Count),
                1,
                std::io::stdout(),
            );
            report_unwritten(written);
        });
        Flushed {
            collector,
            handled: self.inner.call(invocation),
        }
    }
}

pin_project_lite::pin_project! {
    /// An invocation's answer, which flushes the metrics when it is ready.
    pub struct Flushed<F> {
        collector: &'static Collector,
        #[pin]
        handled: F,
    }
}

impl<F: Future> Future for Flushed<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answer = std::task::ready!(this.handled.poll(cx));
        report_unwritten(this.collector.flush(std::io::stdout()));
        Poll::Ready(answer)
    }
}

/// Metrics that cannot be written are logged, not failed: the invocation's work is done.
fn report_unwritten(written: std::io::Result<()>) {
    if let Err(e) = written {
        tracing::warn!(error = %e, "metrics not written");
    }
}
