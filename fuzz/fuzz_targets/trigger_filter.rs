//! The trigger filter language: any text parses or is refused with a column inside it
//! (never a panic or a stack overflow), and `NOT (f)` matches exactly what `f` does not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use twinsync_core::{CoreError, Filter, Item, Named, User};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let filter = match Filter::parse(query) {
        Ok(f) => f,
        Err(CoreError::Filter { column, .. }) => {
            assert!(
                (1..=query.chars().count() + 1).contains(&column),
                "column {column}"
            );
            return;
        }
        Err(e) => panic!("refused with another error: {e}"),
    };
    let item = Item {
        key: "DEMO-7".into(),
        project: "DEMO".into(),
        summary: "Login page crashes".into(),
        description: "Steps: open the page".into(),
        status: Some(Named::new("Open")),
        priority: Some(Named::new("High")),
        labels: vec!["sync".into(), "ui".into()],
        assignee: Some(User {
            email: "ana@example.com".into(),
            display_name: "Ana".into(),
            ..User::default()
        }),
        custom_fields: [("Team".to_string(), serde_json::json!("Red"))].into(),
        ..Item::default()
    };
    let hit = filter.matches(&item);
    assert_eq!(
        filter.matches(&Item::default()),
        filter.matches(&Item::default())
    );
    // One more level may pass the nesting limit; when it parses it is the negation.
    if let Ok(not) = Filter::parse(&format!("NOT ({query})")) {
        assert_eq!(not.matches(&item), !hit, "NOT ({query})");
    }
});
