//! The TOML config loader: any text loads or is refused with an error that names the
//! file (never a panic), and a config that loads has only trigger queries that parse.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinsync_core::Filter;
use twinsync_node::config::ProcessConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ProcessConfig::parse(text, "fuzz.toml") {
        Ok(config) => {
            for node in &config.node {
                for connection in &node.connection {
                    for trigger in &connection.trigger {
                        assert!(Filter::parse(&trigger.query).is_ok(), "{}", trigger.query);
                    }
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz.toml"), "{e}"),
    }
});
