//! The `twinsync` command's library part, so the end-to-end tests run the very same demo.

pub mod admin;
pub mod bulk_bench;
pub mod demo;
pub mod dev_ca;
pub mod latency;
pub mod rate;
pub mod resume;
pub mod rules_test;

/// Prints a bench's report: one JSON object for scripts (`--json`), else its lines.
pub(crate) fn print_report<R: serde::Serialize>(
    report: &R,
    json: bool,
    lines: impl FnOnce(&R) -> Vec<String>,
) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string(report).map_err(|e| e.to_string())?
        );
    } else {
        for line in lines(report) {
            println!("{line}");
        }
    }
    Ok(())
}
