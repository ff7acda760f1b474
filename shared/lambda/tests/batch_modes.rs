//! The order a batch received again runs its FIFO groups in, one message at a time
//! (`BatchMode::OneByOne`, after a panic may have ended its last batch).

use twinsync_lambda::groups_in_turn;
use twinsync_ports::QueueMessage;

fn message(id: &str, group: &str, receive_count: u32) -> QueueMessage {
    QueueMessage {
        id: id.into(),
        receipt: format!("r-{id}"),
        group_id: group.into(),
        dedup_id: format!("d-{id}"),
        body: "{}".into(),
        receive_count,
        sent_ms: 0,
        first_receive_ms: 0,
        redriven: false,
    }
}

#[test]
fn each_group_runs_once_and_in_its_own_order() {
    // (the batch as (id, group), the groups as they must be made up, in any order)
    type Row<'a> = (&'a [(&'a str, &'a str)], &'a [&'a [usize]]);
    let table: [Row; 4] = [
        (&[], &[]),
        (&[("m1", "g1")], &[&[0]]),
        (&[("m1", "g1"), ("m2", "g1"), ("m3", "g1")], &[&[0, 1, 2]]),
        (
            &[
                ("m1", "g1"),
                ("m2", "g2"),
                ("m3", "g1"),
                ("m4", "g3"),
                ("m5", "g2"),
            ],
            &[&[0, 2], &[1, 4], &[3]],
        ),
    ];
    for (batch, want) in table {
        for receive_count in 1..5 {
            let messages: Vec<QueueMessage> = batch
                .iter()
                .map(|(id, g)| message(id, g, receive_count))
                .collect();
            let mut got = groups_in_turn(&messages);
            got.sort();
            let want: Vec<Vec<usize>> = want.iter().map(|g| g.to_vec()).collect();
            assert_eq!(got, want, "{batch:?} at receive {receive_count}");
        }
    }
}

#[test]
fn each_group_comes_first_within_a_few_receives() {
    // A panicking message's batch-mates of other groups must get their turn before it.
    for groups in 2..=5 {
        let mut first_seen = std::collections::BTreeSet::new();
        for receive_count in 2..2 + 6 * groups as u32 {
            let messages: Vec<QueueMessage> = (0..groups)
                .map(|g| {
                    message(
                        &format!("m{g}"),
                        &format!("connection-1:KEY-{g}"),
                        receive_count,
                    )
                })
                .collect();
            first_seen.insert(groups_in_turn(&messages)[0][0]);
        }
        assert_eq!(
            first_seen.len(),
            groups,
            "{groups} groups: first were {first_seen:?}"
        );
    }
}
