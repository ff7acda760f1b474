//! What one run of the default rules costs (`scripts/bench` reads criterion's estimates):
//! the outgoing script on an item, the incoming script on a replica, and a cache hit of
//! the compiled rule set, which every message makes. Compile-once is checked: after all
//! the runs the cache has compiled each version once.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use twinsync_core::{Comment, ConnectorKind, Item, Named};
use twinsync_rules::{IncomingContext, RulesCache, defaults};

fn item() -> Item {
    Item {
        key: "DEMO-42".into(),
        project: "DEMO".into(),
        summary: "Printer on fire, floor 3".into(),
        description: "The printer on floor 3 is on fire.\n\nSteps: print anything.".repeat(4),
        status: Some(Named {
            name: "Open".into(),
        }),
        priority: Some(Named {
            name: "High".into(),
        }),
        labels: vec!["sync".into(), "hardware".into()],
        comments: (0..5)
            .map(|i| Comment {
                id: format!("c{i}"),
                body: format!("Comment {i}: still burning."),
                ..Default::default()
            })
            .collect(),
        version: 7,
        ..Default::default()
    }
}

fn rules(c: &mut Criterion) {
    let version = defaults::for_pair(ConnectorKind::Sandbox, ConnectorKind::Sandbox);
    let cache = RulesCache::default();
    let item = item();
    let Ok(set) = cache.get_or_compile("bench", &version) else {
        panic!("the default rules compile");
    };
    let Ok(replica) = set.outgoing(&item) else {
        panic!("the default outgoing rules run");
    };
    c.bench_function("outgoing default rules", |b| {
        b.iter(|| set.outgoing(black_box(&item)))
    });
    let local = Item {
        key: "SUPPORT-9".into(),
        ..Default::default()
    };
    c.bench_function("incoming default rules", |b| {
        b.iter(|| {
            set.incoming(black_box(&IncomingContext {
                replica: &replica,
                previous: None,
                issue: &local,
                first_sync: false,
                comment_links: &[],
                origin_prefix: "twinsync:bench:",
            }))
        })
    });
    c.bench_function("compiled rules from the cache", |b| {
        b.iter(|| cache.get_or_compile(black_box("bench"), black_box(&version)))
    });
    assert_eq!(cache.compilations(), 1, "each version compiles once");
}

criterion_group!(benches, rules);
criterion_main!(benches);
