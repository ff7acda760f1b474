//! The scheduler function: one tick per EventBridge schedule (polling triggers,
//! SynchronizationPlans, resume of reactivated connections, retries, clean-up).

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run_scheduler().await
}
