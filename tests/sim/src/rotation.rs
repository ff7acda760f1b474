//! Secret rotation (from `Generator::V4`): an operator rotates the connection's shared
//! secret from one node while messages signed with the old one are in flight. The
//! request and its answer go through the nodes' own rotation code and are signed and
//! verified as over HTTP; only the HTTP hop itself is a call. The answer may be lost on
//! its way back (the other node has rotated, this one not): the operator sees the
//! rotation fail and runs it again a few steps later, or when the world settles.

use crate::run::Sim;
use crate::world::{CONNECTION, signed_headers};
use rand::Rng;
use twinsync_core::Clock;
use twinsync_node::Node;
use twinsync_node::link::{
    ROTATE_PATH, Rotation, RotationAnswer, finish_rotation, peer_refusal, receive_rotation,
};

/// What became of one rotation.
enum Rotated {
    Both,
    /// The other node rotated; its answer never came back here.
    AnswerLost,
    /// A node crashed in its part: the other node may have rotated or not.
    Crashed,
    /// Refused or not delivered: nothing changed anywhere.
    Failed(String),
}

impl Sim {
    /// Rotates the secret from `side`, losing the answer now and then; or, while a
    /// rotation is unfinished, its operator runs it again.
    pub(crate) async fn rotate_secret(&mut self, side: usize) -> Result<(), String> {
        if !self.rotations_unfinished.is_empty() {
            return self.rotate_again().await.map(|_| ());
        }
        let lose_answer = self.rng.random_bool(0.3);
        self.report.faults.rotations += 1;
        self.rotate(side, lose_answer).await
    }

    /// Runs again the rotations whose answer was lost, as their operator would; returns
    /// how many it ran.
    pub(crate) async fn rotate_again(&mut self) -> Result<usize, String> {
        let pending = std::mem::take(&mut self.rotations_unfinished);
        for &side in &pending {
            self.rotate(side, false).await?;
        }
        Ok(pending.len())
    }

    async fn rotate(&mut self, side: usize, lose_answer: bool) -> Result<(), String> {
        let from = self.world.sides[side].node.clone();
        let name = self.world.sides[side].name;
        let now = self.world.clock.now_ms();
        let to = match self.world.sides[1 - side].inbound.reachable(now) {
            Ok((node, _)) => node,
            Err(e) => {
                self.log(format!("{name} rotation not delivered: {e}"));
                self.rotations_unfinished.push(side);
                return Ok(());
            }
        };
        self.counter_rotations += 1;
        let id = format!("rotation-{}-{}", self.report.seed, self.counter_rotations);
        // Either node may crash in its part; the operator then runs the rotation again.
        let (mine, theirs) = (
            self.world.sides[side].effects.clone(),
            self.world.sides[1 - side].effects.clone(),
        );
        let rotated = tokio::select! {
            biased;
            out = rotate(&from, &to, &id, lose_answer) => out?,
            _ = mine.wait_crash() => Rotated::Crashed,
            _ = theirs.wait_crash() => Rotated::Crashed,
        };
        self.restart_crashed().await?;
        match rotated {
            Rotated::Both => self.log(format!("{name} rotates the shared secret")),
            Rotated::Crashed => {
                self.log(format!("{name} rotation stopped by a crash"));
                self.rotations_unfinished.push(side);
            }
            Rotated::AnswerLost => {
                self.log(format!(
                    "{name} rotates the shared secret; the answer is lost"
                ));
                self.rotations_unfinished.push(side);
            }
            Rotated::Failed(why) => self.log(format!("{name} rotation refused: {why}")),
        }
        Ok(())
    }
}

/// One rotation from `from` to `to`, through both nodes' rotation code.
async fn rotate(from: &Node, to: &Node, id: &str, lose_answer: bool) -> Result<Rotated, String> {
    let (key, public) = twinsync_security::rotation_key().map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(&Rotation {
        id: id.to_string(),
        public,
    })
    .map_err(|e| e.to_string())?;
    let (headers, secret) = signed_headers(from, ROTATE_PATH, &body)
        .await
        .map_err(|e| e.to_string())?;
    let answer = match receive_rotation(to, &headers, &body).await {
        Ok(answer) => answer,
        Err(e) => {
            let refusal = peer_refusal(&to.id, e.status(), &e.to_string());
            return Ok(Rotated::Failed(refusal.to_string()));
        }
    };
    if lose_answer {
        return Ok(Rotated::AnswerLost);
    }
    let answer: RotationAnswer = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
    let connection = from
        .connection(CONNECTION)
        .await
        .map_err(|e| e.to_string())?;
    finish_rotation(from, connection, &secret, key, &answer.public, id)
        .await
        .map_err(|e| format!("rotation not finished: {e}"))?;
    Ok(Rotated::Both)
}
