//! The scheduler function: one tick per EventBridge schedule (polling triggers,
//! SynchronizationPlans, resume of reactivated connections, retries, clean-up).
//! Run by name where each handler needs its own binary (`cargo lambda watch`); a
//! deployment runs the one artifact, `functions/src/main.rs`, with Handler `scheduler`.

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run(twinsync_lambda::Handler::Scheduler).await
}
