//! With `[cluster]`, the hub's part in keeping the replicas alike: the
//! leader tells what only it sees (its `/status`, `/me` and listings'
//! answers, how far its alerts have gone); a follower applies what the
//! leader told, and holds the alert commands of the events it takes until
//! the leader says it considered them, so a replica that becomes the leader
//! runs those the old leader never reached (a disconnect that came while
//! no replica led, the lease's few seconds after a leader died).
//!
//! The carrying (a KV bucket) is `cluster::share`'s; here only channels.

use std::collections::VecDeque;

use super::Core;
use crate::app::Command;
use crate::fleet::shared::{ClusterLink, Observation};

/// Most alert commands a follower holds; past it the oldest are dropped
/// (logged): the leader has been silent far longer than a hand-over.
const HELD_MAX: usize = 10_000;

/// A link and the alert commands held.
pub(super) struct Sharing {
    link: ClusterLink,
    /// `(seq, command)` of the events taken as a follower after `alerted`.
    held: VecDeque<(u64, Command)>,
    /// The leader considered the alerts of every event up to this `seq`.
    alerted: u64,
}

impl Sharing {
    pub(super) fn new(link: ClusterLink) -> Sharing {
        Sharing {
            link,
            held: VecDeque::new(),
            alerted: 0,
        }
    }

    pub(super) fn tell(&self, observation: Observation) {
        let _ = self.link.tell.send(observation);
    }

    /// A follower's alert command for the event `seq`, unless the leader
    /// already said it went past it.
    pub(super) fn hold(&mut self, seq: u64, cmd: Command) {
        if seq <= self.alerted {
            return;
        }
        if self.held.len() >= HELD_MAX {
            tracing::warn!(
                "cluster: the leader has not said how far its alerts went for {HELD_MAX} alerts; the oldest is dropped"
            );
            self.held.pop_front();
        }
        self.held.push_back((seq, cmd));
    }

    /// A leader said it considered the alerts of the event `seq` already.
    fn alerted_past(&self, seq: u64) -> bool {
        seq <= self.alerted
    }

    fn heard_alerted(&mut self, seq: u64) {
        self.alerted = self.alerted.max(seq);
        while self.held.front().is_some_and(|(s, _)| *s <= self.alerted) {
            self.held.pop_front();
        }
    }

    /// On becoming the leader: the commands the old leader never reached.
    pub(super) fn take_over(&mut self) -> Vec<Command> {
        let alerted = self.alerted;
        self.held
            .drain(..)
            .filter(|(seq, _)| *seq > alerted)
            .map(|(_, cmd)| cmd)
            .collect()
    }
}

/// The next word from the leader; never resolves without a link.
pub(super) async fn heard(sharing: &mut Option<Sharing>) -> Option<Observation> {
    match sharing {
        Some(s) => s.link.heard.recv().await,
        None => std::future::pending().await,
    }
}

impl Core {
    /// What the leader told: applied by a follower (the leader knows it
    /// already, and polls everything when it takes over).
    pub(super) fn on_heard(&mut self, observation: Observation) {
        if self.acts() {
            return;
        }
        let row = match observation {
            Observation::Status { id, at, result } => {
                self.fleet.apply_status(&id, result, at).map(|a| a.row)
            }
            Observation::Hooks { id, at, result } => self.fleet.apply_hooks(&id, result, at),
            Observation::Listed {
                account,
                at,
                listed,
            } => {
                self.on_listing(&account, Ok(listed), at);
                None
            }
            Observation::Alerted { seq, .. } => {
                if let Some(s) = &mut self.sharing {
                    s.heard_alerted(seq);
                }
                None
            }
        };
        self.row_changed(row);
    }

    /// Tells the followers what this leader saw.
    pub(super) fn tell(&self, observation: impl FnOnce() -> Observation) {
        if let Some(s) = &self.sharing
            && self.acts()
        {
            s.tell(observation());
        }
    }

    /// An event's alert command: run by the leader, held by a follower.
    /// Not run when an earlier leader already said it went past the event
    /// (a replica that took over while behind on the stream).
    pub(super) fn alert(&mut self, seq: u64, cmd: Command) -> bool {
        if self.acts() {
            if self.sharing.as_ref().is_some_and(|s| s.alerted_past(seq)) {
                return false;
            }
            self.runner.run(cmd);
            return true;
        }
        if let Some(s) = &mut self.sharing {
            s.hold(seq, cmd);
        }
        false
    }

    /// This replica became the leader: the alerts the old one never ran.
    pub(super) fn run_taken_over(&mut self) {
        let Some(s) = &mut self.sharing else {
            return;
        };
        let cmds = s.take_over();
        if !cmds.is_empty() {
            tracing::warn!(
                alerts = cmds.len(),
                "cluster: running the alerts of events that came while no replica led"
            );
        }
        for cmd in cmds {
            self.runner.run(cmd);
        }
    }

    /// Whether an event needs its alert command computed here.
    pub(super) fn may_alert(&self) -> bool {
        self.acts() || self.sharing.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::InstanceId;
    use tokio::sync::mpsc;

    fn cmd(id: &str) -> Command {
        Command::FetchStatus(InstanceId(id.into()))
    }

    #[test]
    fn a_new_leader_runs_only_the_alerts_the_old_one_never_reached() {
        let (tell, _told) = mpsc::unbounded_channel();
        let (_hear, heard) = mpsc::unbounded_channel();
        let mut s = Sharing::new(ClusterLink { tell, heard });
        s.hold(1, cmd("a"));
        s.hold(2, cmd("b"));
        s.heard_alerted(1);
        assert_eq!(s.held.len(), 1, "the leader went past seq 1");
        // an event taken after the leader said it went past it
        s.hold(1, cmd("late"));
        s.hold(3, cmd("c"));
        let ran: Vec<String> = s
            .take_over()
            .iter()
            .map(|c| match c {
                Command::FetchStatus(id) => id.0.clone(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(ran, ["b", "c"]);
        assert!(s.take_over().is_empty(), "run once");
        // a new leader behind on the stream: what the old one said it
        // went past is not alerted again
        s.heard_alerted(5);
        assert!(s.alerted_past(4) && s.alerted_past(5) && !s.alerted_past(6));
    }
}
