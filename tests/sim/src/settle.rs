//! The end of a seed: the world settles with no more faults, and at rest every item's
//! webhook is delivered again to show that no replica is sent for an echo.

use crate::oracle::{replicas_sent, sent_since};
use crate::run::Sim;
use crate::world::POLL_INTERVAL_MS;
use twinsync_node::handlers::{ingest, scheduler};
use twinsync_ports::queues;

impl Sim {
    /// No more faults (an edit waiting for sync's write may still land): every webhook delivered once, the link up, the connection active,
    /// queues run and polls made until nothing is left to do.
    pub(crate) async fn settle(&mut self) -> Result<(), String> {
        for side in &self.world.sides {
            side.effects.disarm();
            side.tracker.clear_faults();
            side.inbound.cut_until(0);
        }
        if self.paused {
            self.pause_or_resume().await?;
        }
        self.rotate_again().await?;
        self.run_until_quiet().await?;
        // An operator whose Relink failed (the other node unreachable, a crash) tries
        // again once things are quiet.
        if self.relink_unlinked().await? > 0 {
            self.run_until_quiet().await?;
        }
        // A person's edit still waiting for a write is not a fault: it lands when sync
        // writes the item while the world settles, or never.
        for side in &self.world.sides {
            side.tracker.disarm();
        }
        self.record_sprung();
        Ok(())
    }

    /// Queues run and polls made until three rounds in a row find nothing to do.
    async fn run_until_quiet(&mut self) -> Result<(), String> {
        let mut quiet = 0;
        for _ in 0..2_000 {
            let mut done = 0;
            for side in 0..2 {
                done += self.deliver_all(side).await?;
                for queue in queues::HANDLED {
                    let node = self.world.sides[side].node.clone();
                    loop {
                        let n = twinsync_local::runner::run_once(&node, queue, 10).await;
                        done += n;
                        if n == 0 {
                            break;
                        }
                    }
                }
                let node = self.world.sides[side].node.clone();
                let polling = self.world.sides[side].polling.clone();
                let report = scheduler::tick(&node, &polling)
                    .await
                    .map_err(|e| e.to_string())?;
                done += report.polled_changes + report.resumed_messages;
            }
            let waiting = self.waiting().await;
            if done == 0 && waiting == 0 {
                quiet += 1;
                if quiet >= 3 {
                    self.log("settled".into());
                    return Ok(());
                }
            } else {
                quiet = 0;
            }
            self.world
                .clock
                .advance_ms(if done == 0 { POLL_INTERVAL_MS } else { 500 });
        }
        Err("the world never settled".into())
    }

    /// At rest, every item's webhook delivered again (as a tracker resends one, and once
    /// without a version, so that outgoing reads the item) must send no replica: what
    /// each side has is its twin's baseline, and an echo is never sent.
    pub(crate) async fn echoes(&mut self) -> Result<(), String> {
        let before = replicas_sent(&self.world).await;
        for side in 0..2 {
            let signals: Vec<_> = self.world.sides[side]
                .tracker
                .items()
                .iter()
                .flat_map(|i| {
                    let signal = twinsync_ports::ChangeSignal {
                        item_key: i.key.clone(),
                        project: i.project.clone(),
                        version: i.version,
                        delivery_id: format!("echo:{}:{}", i.key, i.version),
                        origin: i.origin.clone(),
                    };
                    let unversioned = twinsync_ports::ChangeSignal {
                        version: 0,
                        ..signal.clone()
                    };
                    [signal, unversioned]
                })
                .collect();
            self.signals[side].extend(signals);
        }
        self.settle().await?;
        let after = replicas_sent(&self.world).await;
        match sent_since(&before, &after).as_slice() {
            [] => Ok(()),
            sent => Err(format!(
                "{} replicas sent at rest (echoes): {}",
                sent.len(),
                sent.join("; ")
            )),
        }
    }

    async fn deliver_all(&mut self, side: usize) -> Result<usize, String> {
        let fresh = self.world.sides[side].tracker.take_signals();
        self.signals[side].extend(fresh);
        let signals = std::mem::take(&mut self.signals[side]);
        let node = self.world.sides[side].node.clone();
        let instance = self.world.sides[side].instance;
        ingest::signals_to_changes(&node, instance, &signals, false)
            .await
            .map_err(|e| e.to_string())
    }

    /// Messages still waiting in either node's queues (dead letters aside).
    async fn waiting(&self) -> u64 {
        let mut total = 0;
        for side in &self.world.sides {
            let names = side.node.queue.queue_names().await.unwrap_or_default();
            for name in names.iter().filter(|n| !n.ends_with("-dlq")) {
                total += side
                    .node
                    .queue
                    .depth(name)
                    .await
                    .map(|d| d.total())
                    .unwrap_or(0);
            }
        }
        total
    }
}
