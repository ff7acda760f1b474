//! What a connector last showed of each item's sync status inside the tracker, so a state
//! shown already is not written again (one write per change of state, not per change).

use std::collections::HashMap;
use std::sync::Mutex;

/// How many items it remembers; past that it starts again (the cost of forgetting is one
/// write that was not needed).
const CAP: usize = 10_000;

#[derive(Debug, Default)]
pub struct ShownMarks(Mutex<HashMap<String, String>>);

impl ShownMarks {
    /// Whether `key` shows `text` already, as far as this process wrote it.
    pub fn already(&self, key: &str, text: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .is_some_and(|t| t == text)
    }

    /// Records that `key` now shows `text`.
    pub fn record(&self, key: &str, text: String) {
        let mut shown = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if shown.len() >= CAP && !shown.contains_key(key) {
            shown.clear();
        }
        shown.insert(key.to_string(), text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_shown_once_per_item() {
        let shown = ShownMarks::default();
        assert!(!shown.already("DEMO-1", "synced"));
        shown.record("DEMO-1", "synced".into());
        assert!(shown.already("DEMO-1", "synced"));
        assert!(!shown.already("DEMO-1", "unlinked"));
        assert!(!shown.already("DEMO-2", "synced"));
    }
}
