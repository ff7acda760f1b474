//! How a function reads `RUST_LOG`: targets and levels, errors only when unset or unreadable.

use tracing::Level;
use twinsync_lambda::log_filter;

#[test]
fn rust_log_table() {
    // (RUST_LOG, target, level, logged, refused)
    let table: [(Option<&str>, &str, Level, bool, bool); 10] = [
        (None, "twinsync_node", Level::ERROR, true, false),
        (None, "twinsync_node", Level::WARN, false, false),
        (Some(""), "twinsync_node", Level::WARN, false, false),
        (Some("warn"), "twinsync_node", Level::WARN, true, false),
        (Some("warn"), "hyper", Level::INFO, false, false),
        (
            Some("twinsync_node=debug,info"),
            "twinsync_node::batch",
            Level::DEBUG,
            true,
            false,
        ),
        (
            Some("twinsync_node=debug,info"),
            "hyper",
            Level::DEBUG,
            false,
            false,
        ),
        (
            Some("twinsync_node=debug,info"),
            "hyper",
            Level::INFO,
            true,
            false,
        ),
        // Unreadable: errors only, and the function says why.
        (
            Some("twinsync_node=loud"),
            "twinsync_node",
            Level::WARN,
            false,
            true,
        ),
        (
            Some("twinsync_node=loud"),
            "twinsync_node",
            Level::ERROR,
            true,
            true,
        ),
    ];
    for (rust_log, target, level, logged, refused) in table {
        let (filter, why) = log_filter(rust_log);
        assert_eq!(
            filter.would_enable(target, &level),
            logged,
            "{rust_log:?} {target} {level}"
        );
        assert_eq!(why.is_some(), refused, "{rust_log:?}: {why:?}");
    }
}
