//! One seed: a schedule of people's edits, webhook deliveries, queue batches, scheduler
//! ticks and faults, every choice drawn from a ChaCha generator seeded with it; then the
//! world settles without faults and [`crate::oracle::check`] judges it.

use crate::oracle::{Field, Record, check};
use crate::world::{Deliveries, World};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::future::Future;
use twinsync_core::{Attachment, Item, Named, User};
use twinsync_node::handlers::{ingest, scheduler};
use twinsync_ports::{Tracker, queues};

/// How big a seed's schedule is, and which generator draws it.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub steps: usize,
    pub generator: Generator,
}

impl Default for Size {
    fn default() -> Self {
        Self {
            steps: 300,
            generator: Generator::LATEST,
        }
    }
}

/// The schedule generator. A new fault kind changes every draw after it, so each
/// version stays as it was: a regression seed replays the schedule that found its bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Generator {
    /// People's changes, webhooks, queue batches, ticks, crashes, tracker 429/500/lost
    /// answers, a cut link, pause and resume, Bulk Sync, concurrent edits, time passing.
    V1,
    /// V1, plus slow tracker answers, lost batches (messages of one group come back
    /// after others overtook them) and config versions activated mid-stream.
    V2,
    /// V2, plus an operator's Unlink of a pair and Relink of the same items.
    V3,
    /// V3, plus rotations of the shared secret, whose answer may be lost.
    V4,
    /// V4, plus a person's edit that lands between a handler's read of an item and
    /// its write (CI saw an Azure DevOps state change lost that way, once).
    V5,
    /// V5, plus a person's edit of a custom field (a number, or cleared), the merge's
    /// field kind the others did not reach.
    V6,
    /// V6 with deliveries that carry lists, as nodes agree in the handshake: a batch's
    /// messages go to the other node in one signed request, taken (or lost to a crash
    /// or a cut link) together. The draws are V6's; what they do differs.
    V7,
}

impl Generator {
    pub const LATEST: Generator = Generator::V7;

    /// The range a step's roll is drawn from: the kinds V2 adds sit above V1's 100.
    fn rolls(self) -> u32 {
        match self {
            Generator::V1 => 100,
            Generator::V2 => 112,
            Generator::V3 => 115,
            Generator::V4 => 118,
            Generator::V5 | Generator::V6 | Generator::V7 => 121,
        }
    }

    /// How the nodes deliver: lists from V7 on.
    pub(crate) fn deliveries(self) -> Deliveries {
        match self {
            Generator::V7 => Deliveries::Lists,
            _ => Deliveries::OneByOne,
        }
    }

    /// The fields a person's edit is drawn from: V6 adds a custom field (a new field
    /// only changes the draws of the generator that adds it).
    pub(crate) fn edited_fields(self) -> &'static [crate::oracle::Field] {
        match self {
            Generator::V6 | Generator::V7 => &crate::oracle::FIELDS,
            _ => &crate::oracle::FIELDS[..crate::oracle::FIELDS_BEFORE_V6],
        }
    }
}

/// What one seed did and found.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    /// One line per step, the same for the same seed.
    pub trace: Vec<String>,
    /// Broken invariants; empty when the seed passes.
    pub broken: Vec<String>,
    pub faults: Faults,
}

/// Faults injected, by kind.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Faults {
    pub crashes: u64,
    pub duplicate_webhooks: u64,
    pub lost_webhooks: u64,
    pub tracker_faults: u64,
    pub link_cuts: u64,
    pub pauses: u64,
    pub bulk_syncs: u64,
    pub concurrent_edits: u64,
    pub slow_trackers: u64,
    pub lost_batches: u64,
    pub version_activations: u64,
    pub relinks: u64,
    pub rotations: u64,
    pub mid_write_edits: u64,
}

impl Faults {
    pub fn add(&mut self, o: &Faults) {
        self.crashes += o.crashes;
        self.duplicate_webhooks += o.duplicate_webhooks;
        self.lost_webhooks += o.lost_webhooks;
        self.tracker_faults += o.tracker_faults;
        self.link_cuts += o.link_cuts;
        self.pauses += o.pauses;
        self.bulk_syncs += o.bulk_syncs;
        self.concurrent_edits += o.concurrent_edits;
        self.slow_trackers += o.slow_trackers;
        self.lost_batches += o.lost_batches;
        self.version_activations += o.version_activations;
        self.relinks += o.relinks;
        self.rotations += o.rotations;
        self.mid_write_edits += o.mid_write_edits;
    }
}

/// Runs one seed on a fresh single-threaded runtime: every await completes in the order
/// the simulation calls it, and no timer fires (the simulated tracker never asks for a
/// wait), so no thread, timer or socket decides anything. (Tokio's paused clock would
/// need its `test-util` feature, which would change tokio's build for the whole
/// workspace.)
pub fn run_seed(seed: u64, size: Size) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build();
    match runtime {
        Ok(rt) => rt.block_on(Sim::run(seed, size)),
        Err(e) => Report {
            seed,
            broken: vec![format!("no runtime: {e}")],
            ..Report::default()
        },
    }
}

pub(crate) struct Sim {
    pub(crate) rng: ChaCha8Rng,
    pub(crate) generator: Generator,
    pub(crate) world: World,
    pub(crate) record: Record,
    pub(crate) report: Report,
    /// Webhooks sent but not yet delivered, per side.
    pub(crate) signals: [Vec<twinsync_ports::ChangeSignal>; 2],
    counter: u64,
    pub(crate) paused: bool,
    /// Pairs an operator unlinked: (side, local key, remote key), relinked at the end if
    /// the Relink right after the Unlink failed.
    pub(crate) unlinked: Vec<(usize, String, String)>,
    /// Sides whose rotation of the secret did not finish, run again by their operator.
    pub(crate) rotations_unfinished: Vec<usize>,
    pub(crate) counter_rotations: u64,
    /// Per side, the field of a person's edit waiting for sync's next write, by item.
    pub(crate) armed_edits: [std::collections::BTreeMap<String, Field>; 2],
}

/// A point in time well after the epoch, the same for every seed.
const START_MS: i64 = 1_790_000_000_000;

impl Sim {
    async fn run(seed: u64, size: Size) -> Report {
        let world = match World::new(START_MS, size.generator.deliveries()).await {
            Ok(w) => w,
            Err(e) => {
                return Report {
                    seed,
                    broken: vec![format!("world not built: {e}")],
                    ..Report::default()
                };
            }
        };
        let mut sim = Sim {
            rng: ChaCha8Rng::seed_from_u64(seed),
            generator: size.generator,
            world,
            record: Record::default(),
            report: Report {
                seed,
                ..Report::default()
            },
            signals: [Vec::new(), Vec::new()],
            counter: 0,
            paused: false,
            unlinked: Vec::new(),
            rotations_unfinished: Vec::new(),
            counter_rotations: 0,
            armed_edits: Default::default(),
        };
        for _ in 0..size.steps {
            if let Err(e) = sim.step().await {
                sim.report.broken.push(e);
                return sim.report;
            }
        }
        match sim.settle().await {
            Ok(()) => {
                let broken = check(&sim.world, &sim.record).await;
                sim.report.broken.extend(broken);
                if let Err(e) = sim.echoes().await {
                    sim.report.broken.push(e);
                }
            }
            Err(e) => sim.report.broken.push(e),
        }
        sim.report
    }

    pub(crate) fn log(&mut self, line: String) {
        if std::env::var_os("TWINSYNC_SIM_ECHO").is_some() {
            eprintln!("{line}");
        }
        self.report.trace.push(line);
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    async fn step(&mut self) -> Result<(), String> {
        // Most steps follow within a few hundred milliseconds; some in the same one.
        let dt = self.rng.random_range(0..300);
        self.world.clock.advance_ms(dt);
        let side = self.rng.random_range(0..2usize);
        let roll = self.rng.random_range(0..self.generator.rolls());
        match roll {
            0..8 => self.create(side),
            8..22 => self.edit(side),
            22..28 => self.comment(side),
            28..31 => self.attach(side),
            31..43 => self.webhooks(side).await?,
            43..75 => self.run_queue(side).await?,
            75..80 => self.tick(side).await?,
            80..83 => self.arm_crash(side),
            83..87 => self.tracker_fault(side),
            87..88 => self.cut_link(side),
            88..90 => self.pause_or_resume().await?,
            90..91 => self.bulk_sync(side).await?,
            91..95 => self.concurrent_edit(),
            95..100 => self.wait(),
            100..104 => self.slow_tracker(side),
            104..109 => self.lose_batch(side).await?,
            109..112 => self.activate_version(side).await?,
            112..115 => self.unlink_relink(side).await?,
            115..118 => self.rotate_secret(side).await?,
            _ => self.edit_mid_write(side),
        }
        self.record_sprung();
        Ok(())
    }

    pub(crate) fn user(&mut self) -> Option<User> {
        let who = ["ana@example.com", "bo@example.com", "cy@example.com"];
        self.rng.random_bool(0.7).then(|| {
            let email = who
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("ana@example.com");
            User {
                email: email.into(),
                display_name: email.split('@').next().unwrap_or_default().into(),
            }
        })
    }

    fn create(&mut self, side: usize) {
        let n = self.next();
        let s = &self.world.sides[side];
        let item = Item {
            summary: format!("item {n} from {}", s.name),
            description: format!("made on {} as step {n}", s.name),
            labels: vec![s.label.to_string()],
            priority: Some(Named::new("Medium")),
            ..Item::default()
        };
        let project = s.project.key.clone();
        match s.tracker.create(&project, &item, "") {
            Ok(made) => {
                self.log(format!("{} person creates {}", s.name, made.key));
                self.record.created.insert((side, made.key.clone()), made);
            }
            Err(e) => self.log(format!("{} create refused: {e}", s.name)),
        }
    }

    /// An item people can see on `side`: any, made by people or by sync.
    pub(crate) fn pick_item(&mut self, side: usize) -> Option<Item> {
        let items = self.world.sides[side].tracker.items();
        items.choose(&mut self.rng).cloned()
    }

    fn comment(&mut self, side: usize) {
        let Some(item) = self.pick_item(side) else {
            return;
        };
        let n = self.next();
        let author = self.user();
        let s = &self.world.sides[side];
        let body = format!("comment {n} on {}", s.name);
        match s.tracker.comment(&item.key, &body, author.as_ref(), None) {
            Ok(_) => {
                self.log(format!(
                    "{} person comments on {}: {body:?}",
                    s.name, item.key
                ));
                self.record
                    .children
                    .entry((side, item.key))
                    .or_default()
                    .push(body);
            }
            Err(e) => self.log(format!("{} comment refused: {e}", s.name)),
        }
    }

    fn attach(&mut self, side: usize) {
        let Some(item) = self.pick_item(side) else {
            return;
        };
        let n = self.next();
        let s = &self.world.sides[side];
        let file = Attachment {
            filename: format!("file-{n}-{}.txt", s.name),
            mime_type: "text/plain".into(),
            size: n,
            url: format!("{}/files/{n}", s.tracker.url()),
            ..Attachment::default()
        };
        match s.tracker.attach_file(&item.key, &file) {
            Ok(_) => {
                self.log(format!(
                    "{} person attaches {:?} to {}",
                    s.name, file.filename, item.key
                ));
                self.record
                    .children
                    .entry((side, item.key))
                    .or_default()
                    .push(file.filename);
            }
            Err(e) => self.log(format!("{} attachment refused: {e}", s.name)),
        }
    }

    /// Both sides edit the same pair of twins within the same few milliseconds.
    fn concurrent_edit(&mut self) {
        self.report.faults.concurrent_edits += 1;
        self.edit(0);
        self.edit(1);
    }

    /// Hands the tracker's webhooks to ingest: some lost, some delivered up to three
    /// times, in any order.
    async fn webhooks(&mut self, side: usize) -> Result<(), String> {
        let fresh = self.world.sides[side].tracker.take_signals();
        self.signals[side].extend(fresh);
        if self.signals[side].is_empty() {
            return Ok(());
        }
        let take = self.rng.random_range(1..=self.signals[side].len());
        let mut batch: Vec<_> = self.signals[side].drain(..take).collect();
        // Reordered: the newest may come first.
        if self.rng.random_bool(0.3) {
            batch.reverse();
        }
        for signal in batch {
            let copies = match self.rng.random_range(0..10u32) {
                0 => 0,
                1..3 => self.rng.random_range(2..=3),
                _ => 1,
            };
            match copies {
                0 => self.report.faults.lost_webhooks += 1,
                1 => {}
                _ => self.report.faults.duplicate_webhooks += 1,
            }
            for _ in 0..copies {
                let s = &self.world.sides[side];
                let (node, instance, name) = (s.node.clone(), s.instance, s.name);
                let work = ingest::signals_to_changes(
                    &node,
                    instance,
                    std::slice::from_ref(&signal),
                    false,
                );
                match self.guarded(side, work).await? {
                    Some(Ok(n)) => self.log(format!(
                        "{name} webhook {} v{} -> {n}",
                        signal.item_key, signal.version
                    )),
                    Some(Err(e)) => self.log(format!("{name} webhook refused: {e}")),
                    None => break,
                }
            }
        }
        Ok(())
    }

    async fn run_queue(&mut self, side: usize) -> Result<(), String> {
        let queue = *queues::HANDLED
            .choose(&mut self.rng)
            .unwrap_or(&queues::INCOMING);
        let batch = self.rng.random_range(1..=3);
        let node = self.world.sides[side].node.clone();
        let work = twinsync_local::runner::run_once(&node, queue, batch);
        if let Some(n) = self.guarded(side, work).await?
            && n > 0
        {
            let name = self.world.sides[side].name;
            self.log(format!("{name} {queue} handled {n}"));
        }
        Ok(())
    }

    async fn tick(&mut self, side: usize) -> Result<(), String> {
        let node = self.world.sides[side].node.clone();
        let polling = self.world.sides[side].polling.clone();
        let work = scheduler::tick(&node, &polling);
        if let Some(r) = self.guarded(side, work).await? {
            let name = self.world.sides[side].name;
            match r {
                Ok(r) => self.log(format!(
                    "{name} tick: polled {}, resumed {}",
                    r.polled_changes, r.resumed_messages
                )),
                Err(e) => self.log(format!("{name} tick failed: {e}")),
            }
        }
        Ok(())
    }

    /// Runs a handler's work; `None` when the node crashed in it (then it is started
    /// again on its database).
    pub(crate) async fn guarded<F: Future>(
        &mut self,
        side: usize,
        work: F,
    ) -> Result<Option<F::Output>, String> {
        let effects = self.world.sides[side].effects.clone();
        let out = tokio::select! {
            biased;
            out = work => Some(out),
            _ = effects.wait_crash() => None,
        };
        self.restart_crashed().await?;
        Ok(out)
    }

    /// Starts every node that crashed again; the other node's crash can happen inside
    /// this node's step (its transport delivering there).
    pub(crate) async fn restart_crashed(&mut self) -> Result<(), String> {
        for side in 0..2 {
            if let Some(at) = self.world.sides[side].effects.crashed_at() {
                let name = self.world.sides[side].name;
                self.log(format!("{name} crashes at {at}; restarted"));
                self.report.faults.crashes += 1;
                self.world.restart(side).await?;
            }
        }
        Ok(())
    }
}
