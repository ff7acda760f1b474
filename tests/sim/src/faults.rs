//! The fault steps of a schedule: crashes, tracker faults, a cut link, pause and resume,
//! Bulk Sync, time passing, and (from `Generator::V2`) slow trackers, lost batches and
//! version activations, (from `Generator::V3`) Unlink and Relink.

use crate::run::Sim;
use crate::tracker::TrackerFault;
use crate::world::CONNECTION;
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};
use twinsync_core::{ConnectionStatus, TwinStatus};
use twinsync_node::{bulk, operations, pairing, versions};
use twinsync_ports::queues;

impl Sim {
    pub(crate) fn arm_crash(&mut self, side: usize) {
        let n = self.rng.random_range(0..8);
        self.world.sides[side].effects.arm(n);
        let name = self.world.sides[side].name;
        self.log(format!("{name} will crash at its effect {n}"));
    }

    pub(crate) fn tracker_fault(&mut self, side: usize) {
        let fault = *[
            TrackerFault::RateLimited,
            TrackerFault::Unavailable,
            TrackerFault::AnswerLost,
        ]
        .choose(&mut self.rng)
        .unwrap_or(&TrackerFault::Unavailable);
        self.world.sides[side].tracker.inject(fault);
        self.report.faults.tracker_faults += 1;
        let name = self.world.sides[side].name;
        self.log(format!("{name} tracker: next call {fault:?}"));
    }

    pub(crate) fn cut_link(&mut self, side: usize) {
        let for_ms = self.rng.random_range(1_000..60_000);
        let until = twinsync_core::Clock::now_ms(&self.world.clock) + for_ms;
        self.world.sides[side].inbound.cut_until(until);
        self.report.faults.link_cuts += 1;
        let name = self.world.sides[side].name;
        self.log(format!("{name} unreachable for {for_ms} ms"));
    }

    pub(crate) async fn pause_or_resume(&mut self) -> Result<(), String> {
        let node = self.world.sides[0].node.clone();
        if self.paused {
            let work = operations::activate(&node, CONNECTION);
            match self.guarded(0, work).await? {
                Some(Ok(moved)) => {
                    self.log(format!("a resumes the connection: {moved} held changes"))
                }
                Some(Err(e)) => return Err(format!("resume failed: {e}")),
                // The status was written before the crash or not at all.
                None => {}
            }
        } else {
            let work = operations::deactivate(&node, CONNECTION);
            if let Some(r) = self.guarded(0, work).await? {
                r.map_err(|e| format!("pause failed: {e}"))?;
            }
            self.report.faults.pauses += 1;
            self.log("a pauses the connection".into());
        }
        let status = node_status(&self.world.sides[0].node).await?;
        self.paused = status == ConnectionStatus::Deactivated;
        Ok(())
    }

    pub(crate) async fn bulk_sync(&mut self, side: usize) -> Result<(), String> {
        let node = self.world.sides[side].node.clone();
        let work = bulk::bulk_sync(&node, CONNECTION);
        let Some(outcome) = self.guarded(side, work).await? else {
            return Ok(());
        };
        match outcome {
            Ok(n) => {
                self.report.faults.bulk_syncs += 1;
                let name = self.world.sides[side].name;
                self.log(format!("{name} bulk sync queues {n}"));
            }
            Err(e) => self.log(format!("bulk sync refused: {e}")),
        }
        Ok(())
    }

    /// Time passes: retries come due, visibility timeouts end.
    pub(crate) fn wait(&mut self) {
        let ms = self.rng.random_range(5_000..40_000);
        self.world.clock.advance_ms(ms);
        self.log(format!("{ms} ms pass"));
    }

    /// A slow answer from the tracker: its next call takes 5–60 s, so the caller's lease
    /// and its message's visibility can run out before the handler finishes.
    pub(crate) fn slow_tracker(&mut self, side: usize) {
        let ms = self.rng.random_range(5_000..60_000);
        self.world.sides[side]
            .tracker
            .inject(TrackerFault::Slow { ms });
        self.report.faults.slow_trackers += 1;
        let name = self.world.sides[side].name;
        self.log(format!("{name} tracker: next call takes {ms} ms"));
    }

    /// A consumer takes 1–3 messages and dies before it handles them: they come back
    /// when their visibility ends, and other groups' messages overtake them meanwhile.
    pub(crate) async fn lose_batch(&mut self, side: usize) -> Result<(), String> {
        let queue = *queues::HANDLED
            .choose(&mut self.rng)
            .unwrap_or(&queues::INCOMING);
        let max = self.rng.random_range(1..=3);
        let node = self.world.sides[side].node.clone();
        let visibility_ms = node.settings.visibility_ms;
        let taken = node
            .queue
            .receive(queue, max, visibility_ms)
            .await
            .map_err(|e| format!("receive for a lost batch failed: {e}"))?;
        if !taken.is_empty() {
            self.report.faults.lost_batches += 1;
            let name = self.world.sides[side].name;
            self.log(format!("{name} {queue}: {} taken and lost", taken.len()));
        }
        Ok(())
    }

    /// An operator saves the active rules as a new version and activates it while
    /// replicas built under the old one are in flight.
    pub(crate) async fn activate_version(&mut self, side: usize) -> Result<(), String> {
        let node = self.world.sides[side].node.clone();
        let connection = node
            .connection(CONNECTION)
            .await
            .map_err(|e| e.to_string())?;
        let Some(active) = connection.active_version().cloned() else {
            return Err("the connection has no active version".into());
        };
        let name = self.world.sides[side].name;
        let work = async {
            let number = versions::save_draft(&node, CONNECTION, active).await?;
            versions::activate_version(&node, CONNECTION, number).await?;
            Ok::<u32, twinsync_node::NodeError>(number)
        };
        match self.guarded(side, work).await? {
            Some(Ok(number)) => {
                self.report.faults.version_activations += 1;
                self.log(format!("{name} activates version {number}"));
            }
            Some(Err(e)) => self.log(format!("{name} version not activated: {e}")),
            None => {}
        }
        Ok(())
    }

    /// An operator unlinks a pair and relinks the same two items a moment later, while
    /// the pair's replicas may be in flight. A Relink that fails is tried again when
    /// the world settles, as an operator would.
    pub(crate) async fn unlink_relink(&mut self, side: usize) -> Result<(), String> {
        let node = self.world.sides[side].node.clone();
        let mut items = self.world.sides[side].tracker.items();
        items.shuffle(&mut self.rng);
        let mut pair = None;
        for item in items {
            let twin = pairing::find(&node, CONNECTION, Some(&item.key), None)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(remote) = twin
                .filter(|t| t.status != TwinStatus::Unlinked)
                .and_then(|t| t.remote_key)
            {
                pair = Some((item, remote));
                break;
            }
        }
        let Some((item, remote)) = pair else {
            return Ok(());
        };
        let name = self.world.sides[side].name;
        self.unlinked.push((side, item.key.clone(), remote.clone()));
        self.record.relinked.insert((side, item.key.clone()));
        let work = operations::unlink(&node, CONNECTION, &item.key);
        match self.guarded(side, work).await? {
            Some(Ok(_)) => self.log(format!("{name} unlinks {} and {remote}", item.key)),
            Some(Err(e)) => self.log(format!("{name} unlink of {} refused: {e}", item.key)),
            None => return Ok(()),
        }
        self.report.faults.relinks += 1;
        let node = self.world.sides[side].node.clone();
        let work = operations::relink(&node, CONNECTION, &item.key, &remote);
        match self.guarded(side, work).await? {
            Some(Ok(_)) => self.log(format!("{name} relinks {} and {remote}", item.key)),
            Some(Err(e)) => self.log(format!("{name} relink of {} refused: {e}", item.key)),
            None => {}
        }
        Ok(())
    }

    /// Relinks every pair an operator unlinked that is still unlinked here; returns
    /// how many it asked for.
    pub(crate) async fn relink_unlinked(&mut self) -> Result<usize, String> {
        let mut asked = 0;
        for (side, key, remote) in std::mem::take(&mut self.unlinked) {
            let node = self.world.sides[side].node.clone();
            let twin = pairing::find(&node, CONNECTION, Some(&key), None)
                .await
                .map_err(|e| e.to_string())?;
            if twin.is_some_and(|t| t.status == TwinStatus::Unlinked) {
                operations::relink(&node, CONNECTION, &key, &remote)
                    .await
                    .map_err(|e| format!("relink of {key} and {remote} failed: {e}"))?;
                let name = self.world.sides[side].name;
                self.log(format!("{name} relinks {key} and {remote} again"));
                asked += 1;
            }
        }
        Ok(asked)
    }
}

/// The status of the connection on `node`.
async fn node_status(node: &twinsync_node::Node) -> Result<ConnectionStatus, String> {
    node.connection(CONNECTION)
        .await
        .map(|c| c.status)
        .map_err(|e| e.to_string())
}
