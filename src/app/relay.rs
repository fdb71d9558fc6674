//! The relay on the screen: the targets' numbers (fed each tick), the
//! target list (`F`) with a target's dead letters (`Enter`), `t` to send
//! them again and `d` then `y` to drop them; `u` then `y` in the detail
//! stops forwarding an instance's events to the targets adopted for it.

use crossterm::event::KeyCode;

use super::{App, Command, Level};
use crate::keys::Action;
use crate::relay::{DeadLetter, TargetStatus};
use crate::words::count;

/// Events of lag past which the header warns.
pub const LAG_WARN_EVENTS: u64 = 10_000;
/// Seconds of lag past which the header warns.
pub const LAG_WARN_SECS: u64 = 3600;

/// What the operator asks of the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayCall {
    /// Read a target's dead letters.
    DeadLetters(String),
    /// Send a target's dead letters again.
    Retry(String),
    /// Drop a target's dead letters.
    Drop(String),
    /// Stop forwarding an instance's events to the targets adopted for it.
    Unadopt(crate::model::InstanceId),
}

/// The relay's answer to a [`RelayCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayAnswer {
    Letters(Vec<DeadLetter>),
    /// How many were queued again or dropped.
    Count(usize),
    /// The adopted targets removed.
    Removed(Vec<String>),
}

/// The target list (`F`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RelayList {
    /// The selected target (index in the status list).
    pub selected: usize,
    /// The selected target's dead letters, once `Enter` read them.
    pub dead: Option<Result<Vec<DeadLetter>, String>>,
    /// `d` was pressed: `y` drops the selected target's dead letters.
    pub confirm_drop: bool,
}

impl App {
    /// The relay's numbers, each tick.
    pub(super) fn on_relay_status(&mut self, targets: Vec<TargetStatus>) {
        self.ops.relay = targets;
        if let Some(list) = &mut self.overlays.relay {
            list.selected = list.selected.min(self.ops.relay.len().saturating_sub(1));
        }
    }

    /// `F`: the target list, open or closed.
    pub(super) fn toggle_relay_list(&mut self) {
        if self.overlays.relay.take().is_some() {
            return;
        }
        if self.ops.relay.is_empty() {
            self.notify(
                Level::Info,
                "no forward targets: add a [[forward]] table to the config (see the README)",
            );
            return;
        }
        self.overlays.relay = Some(RelayList::default());
    }

    fn selected_target(&self) -> Option<String> {
        let list = self.overlays.relay.as_ref()?;
        self.ops.relay.get(list.selected).map(|t| t.name.clone())
    }

    /// A key while the target list is open.
    pub(super) fn on_relay_key(&mut self, code: KeyCode, action: Option<Action>) -> Vec<Command> {
        let Some(list) = self.overlays.relay.as_mut() else {
            return Vec::new();
        };
        if list.confirm_drop {
            list.confirm_drop = false;
            return match (code, self.selected_target()) {
                (KeyCode::Char('y') | KeyCode::Char('Y'), Some(name)) => {
                    vec![Command::Relay(RelayCall::Drop(name))]
                }
                _ => {
                    self.notify(Level::Info, "cancelled: the dead letters stay");
                    Vec::new()
                }
            };
        }
        let last = self.ops.relay.len().saturating_sub(1);
        match (code, action) {
            // the dead letters close first, then the list
            (KeyCode::Esc, _) | (_, Some(Action::Forward)) if list.dead.take().is_none() => {
                self.overlays.relay = None;
            }
            (KeyCode::Esc, _) | (_, Some(Action::Forward)) => {}
            (_, Some(Action::Up)) => {
                list.selected = list.selected.saturating_sub(1);
                list.dead = None;
            }
            (_, Some(Action::Down)) => {
                list.selected = (list.selected + 1).min(last);
                list.dead = None;
            }
            (KeyCode::Enter, _) => {
                return self.selected_target().map_or_else(Vec::new, |name| {
                    vec![Command::Relay(RelayCall::DeadLetters(name))]
                });
            }
            (KeyCode::Char('t'), _) => {
                return self.selected_target().map_or_else(Vec::new, |name| {
                    vec![Command::Relay(RelayCall::Retry(name))]
                });
            }
            (KeyCode::Char('d'), _) => list.confirm_drop = true,
            (_, Some(Action::Quit)) => return vec![Command::Quit],
            _ => {}
        }
        Vec::new()
    }

    /// `u` in the detail pane: asks before it stops forwarding the
    /// instance's events to the targets adopted for it (the configured
    /// ones stay): the operator's bot would stop getting them.
    pub(super) fn unadopt_detail(&mut self) -> Vec<Command> {
        let Some(id) = self.overlays.detail.as_ref().map(|d| d.id.clone()) else {
            return Vec::new();
        };
        let adopted: Vec<(String, String)> = self
            .forwarding_of(&id)
            .iter()
            .filter(|t| t.adopted)
            .map(|t| (t.name.clone(), t.url.clone()))
            .collect();
        if adopted.is_empty() {
            self.notify(Level::Info, "no adopted forward target for this instance");
        } else {
            self.overlays.unadopt = Some((id, adopted));
        }
        Vec::new()
    }

    /// A key while `u`'s question is open: nothing changes before `y`.
    pub(super) fn on_unadopt_key(&mut self, code: KeyCode) -> Vec<Command> {
        let Some((id, targets)) = self.overlays.unadopt.take() else {
            return Vec::new();
        };
        match code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                vec![Command::Relay(RelayCall::Unadopt(id))]
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                let names: Vec<&str> = targets.iter().map(|(_, url)| url.as_str()).collect();
                let text = format!("cancelled: still forwarded to {}", names.join(", "));
                self.notify(Level::Info, text);
                Vec::new()
            }
            _ => {
                self.overlays.unadopt = Some((id, targets));
                Vec::new()
            }
        }
    }

    /// The relay's answer to the operator's call.
    pub(super) fn on_relay_done(&mut self, call: RelayCall, result: Result<RelayAnswer, String>) {
        if let (RelayCall::Unadopt(id), Ok(RelayAnswer::Removed(names))) = (&call, &result) {
            self.ops.relay.retain(|t| !names.contains(&t.name));
            let text = format!("{id}: no longer forwarded to {}", names.join(", "));
            self.notify(Level::Ok, text);
            return;
        }
        let (name, verb) = match &call {
            RelayCall::Unadopt(id) => (id.to_string(), "removed"),
            RelayCall::DeadLetters(name) => (name.clone(), "read"),
            RelayCall::Retry(name) => (name.clone(), "sent again"),
            RelayCall::Drop(name) => (name.clone(), "dropped"),
        };
        match result {
            Ok(RelayAnswer::Letters(letters)) => {
                if let Some(list) = &mut self.overlays.relay {
                    list.dead = Some(Ok(letters));
                }
            }
            Ok(RelayAnswer::Removed(_)) => {}
            Ok(RelayAnswer::Count(n)) => {
                let what = count(n, "dead letter");
                self.notify(Level::Ok, format!("{name}: {what} {verb}"));
                if let Some(list) = &mut self.overlays.relay
                    && list.dead.is_some()
                {
                    list.dead = Some(Ok(Vec::new()));
                }
            }
            Err(e) => {
                if let (RelayCall::DeadLetters(_), Some(list)) = (&call, &mut self.overlays.relay) {
                    list.dead = Some(Err(e.clone()));
                }
                self.notify(
                    Level::Error,
                    format!("{name}: dead letters not {verb}: {e}"),
                );
            }
        }
    }

    /// Whether the relay needs the header's warning: a target's lag past
    /// [`LAG_WARN_EVENTS`] or [`LAG_WARN_SECS`], or dead letters.
    pub fn relay_warns(&self) -> bool {
        self.ops.relay.iter().any(|t| {
            t.lag_events > LAG_WARN_EVENTS
                || t.lag_age(self.now).as_secs() > LAG_WARN_SECS
                || t.dead_letters > 0
        })
    }

    /// Where the instance's events are forwarded, with the last result of
    /// each target for it: the detail pane's line.
    pub fn forwarding_of(&self, id: &crate::model::InstanceId) -> Vec<&TargetStatus> {
        self.ops
            .relay
            .iter()
            .filter(|t| {
                t.instance_filter.is_empty() || t.instance_filter.iter().any(|i| i == id.as_str())
            })
            .collect()
    }
}
