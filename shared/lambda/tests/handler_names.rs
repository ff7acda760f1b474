//! Which handler the one artifact runs: the names of the template's Handler property.

use twinsync_lambda::Handler;

#[test]
fn handler_names_table() {
    let table = [
        ("ingest", Some(Handler::Ingest)),
        ("outgoing", Some(Handler::Outgoing)),
        ("transport", Some(Handler::Transport)),
        ("incoming", Some(Handler::Incoming)),
        ("ack", Some(Handler::Ack)),
        ("scheduler", Some(Handler::Scheduler)),
        // The Globals default of a provided runtime, and near misses.
        ("bootstrap", None),
        ("Outgoing", None),
        ("", None),
    ];
    for (name, want) in table {
        let got = name.parse::<Handler>().ok();
        assert_eq!(got, want, "{name:?}");
    }
    let refused = "bootstrap".parse::<Handler>().err().map(|e| e.to_string());
    assert_eq!(
        refused.as_deref(),
        Some(
            "configuration: unknown handler \"bootstrap\": the function's Handler is one of \
             ingest, outgoing, transport, incoming, ack, scheduler"
        )
    );
}
