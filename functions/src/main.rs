//! The one artifact of the six Lambda functions: each function runs the handler its
//! `Handler` property names (ingest, outgoing, transport, incoming, ack, scheduler).

// Without unwinding tables a panic could not unwind to the batch handler that catches it.
#[cfg(all(twinsync_no_unwind_tables, panic = "unwind"))]
compile_error!(
    "TWINSYNC_NO_UNWIND_TABLES=1 needs panic = \"abort\" (CARGO_PROFILE_RELEASE_PANIC=abort)"
);

#[tokio::main]
async fn main() -> Result<(), twinsync_lambda::Error> {
    twinsync_lambda::run_from_env().await
}
