//! What each thing that happens does to the fleet: a webhook, a `/status`
//! answer, a registration, a `/me` answer, a restart or restore result, the
//! clock, a new list of configured instances. Shared by the screen (`app`)
//! and the service (`hub`), so both judge the fleet alike; what each then
//! does about it (a footer notice, an alert command, a metric, an SSE
//! `row` event) is theirs.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::health::{self, Rules};
use super::{
    ActionOutcome, CallResult, Fleet, HookCheck, Hooks, Instance, InstanceAction, Registration,
    STATS_WINDOW_DAYS, Source, StatusCheck, Tally,
};
use crate::model::{ConnState, Event, InstanceId, Status};

/// The whole state as the HTTP API serves it: every row, the number of
/// events, and the `seq` of the last event applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub seq: u64,
    pub events: u64,
    pub instances: Vec<Instance>,
}

/// What a webhook did to the fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The row the event went to (in [`Fleet::instances`]).
    pub row: usize,
    /// The row is new: its instance was unknown until this event.
    pub new_row: bool,
    /// The instance's state changed to this (the config's alert commands
    /// run on such changes).
    pub became: Option<ConnState>,
}

/// What a `/status` answer did to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusApplied {
    pub row: usize,
    /// The row went from one known state to the other (see [`seen_change_of`]).
    pub seen_change: Option<ConnState>,
}

/// A state seen by asking (`/status`, an account listing) rather than told
/// by a webhook, when it is news the alert commands run on: a number known
/// connected found disconnected, or the reverse. The first answer about a
/// row that was unknown is not news (at the start the screen tells it),
/// and the webhook that follows such a change changes nothing, so one
/// outage runs `on_disconnect` once, whoever saw it first.
pub fn seen_change_of(before: ConnState, after: ConnState) -> Option<ConnState> {
    (before != ConnState::Unknown && before != after).then_some(after)
}

impl Fleet {
    /// The configured instances (id, optional name), in config order, and
    /// nothing known of them yet, at `now`.
    pub fn with_configured(
        instances: &[(InstanceId, Option<String>)],
        now: DateTime<Utc>,
    ) -> Fleet {
        let mut fleet = Fleet::new(now);
        for (id, name) in instances {
            fleet.insert(Instance::new(id.clone(), name.clone(), true));
        }
        fleet
    }

    /// The state as the HTTP API serves it; `seq` is the last event applied.
    pub fn snapshot(&self, seq: u64) -> Snapshot {
        Snapshot {
            seq,
            events: self.events,
            instances: self.instances.clone(),
        }
    }

    /// The configured instances whose state `/status` polls tell, in order
    /// (see [`Fleet::polled`]).
    pub fn configured_ids(&self) -> Vec<InstanceId> {
        self.instances
            .iter()
            .filter(|i| self.polled(i))
            .map(|i| i.id.clone())
            .collect()
    }

    /// Whether `/status` (and `/me`) of this instance is asked: it is
    /// configured and its account's listing does not already tell its state
    /// and webhooks. An instance of an account with a partner token is
    /// polled only once a listing came without it (the config names an
    /// instance the listing does not return).
    pub fn polled(&self, inst: &Instance) -> bool {
        if !inst.configured {
            return false;
        }
        let discovering = inst
            .account
            .as_deref()
            .and_then(|name| self.accounts.iter().find(|a| a.name == name && a.discovers));
        match discovering {
            Some(account) => account.listed.is_some() && inst.listing.is_none(),
            None => true,
        }
    }

    /// A webhook event received (`now` is the time it is applied): the
    /// state, the statistics, the history of its instance (a new row if it
    /// was unknown).
    pub fn apply_event(&mut self, event: Event, now: DateTime<Utc>) -> Applied {
        self.events += 1;
        let (row, new_row) = match self.index.get(&event.instance_id) {
            Some(&i) => (i, false),
            None => (
                self.insert(Instance::new(event.instance_id.clone(), None, false)),
                true,
            ),
        };
        let inst = &mut self.instances[row];
        let before = inst.state;
        let mut became = None;
        inst.last_activity = Some(
            inst.last_activity
                .map_or(event.received, |t| t.max(event.received)),
        );
        if let Some(state) = event.kind.state() {
            // Statistics take the event at its `momment`, but never later
            // than it was received: a clock ahead of ours does not put
            // changes in the future. Before their window only the newest
            // matters (a replay of a month of log sets those aside).
            let at = event.moment.min(event.received);
            if at < now - chrono::Duration::days(STATS_WINDOW_DAYS) {
                inst.transitions.record_old(at, state);
                self.stats_unsettled = true;
            } else {
                inst.transitions.record(at, state);
            }
            // Webhooks of one instance are ordered by `momment`: a late, older
            // event goes into the history but does not overwrite the state.
            let newer = inst.last_webhook_moment.is_none_or(|m| event.moment >= m);
            if newer {
                inst.last_webhook_moment = Some(event.moment);
                inst.webhook_state = Some((state, event.received));
                // a disconnect dated after the acknowledgement is a new one
                if state == ConnState::Disconnected
                    && inst.acked.is_some_and(|at| event.moment > at)
                {
                    inst.acked = None;
                }
                let dated = inst.set_state(state, event.moment, Source::Webhook);
                self.tally.change(before, state);
                inst.take_details(&event.kind);
                // a disconnect `/status` told undated is counted once dated
                if dated && state == ConnState::Disconnected {
                    self.disconnects_per_minute.add(event.moment, now);
                }
                if before != state {
                    if state == ConnState::Disconnected {
                        self.disconnects_per_minute.add(event.moment, now);
                    }
                    became = Some(state);
                }
            }
        }
        self.instances[row].keep_in_history(event);
        Applied {
            row,
            new_row,
            became,
        }
    }

    /// A `/status` call that could not be made (no Client-Token, not
    /// configured) failed nowhere: the row stays as it was.
    /// The row.
    pub fn status_not_asked(&mut self, id: &InstanceId) -> Option<usize> {
        let &i = self.index.get(id)?;
        if self.instances[i].status == StatusCheck::Pending {
            self.instances[i].status = StatusCheck::Never;
        }
        Some(i)
    }

    /// A `/status` answer (or why the call failed) at `now`; the row.
    pub fn apply_status(
        &mut self,
        id: &InstanceId,
        result: Result<Status, String>,
        now: DateTime<Utc>,
    ) -> Option<StatusApplied> {
        let &row = self.index.get(id)?;
        let inst = &mut self.instances[row];
        let mut seen_change = None;
        match result {
            Ok(status) => {
                let before = inst.state;
                inst.apply_status(status, now);
                self.tally.change(before, inst.state);
                seen_change = seen_change_of(before, inst.state);
            }
            Err(error) => inst.status = StatusCheck::Failed { at: now, error },
        }
        Some(StatusApplied { row, seen_change })
    }

    /// How registering an instance's webhooks went, at `now`; the row.
    pub fn apply_registration(
        &mut self,
        id: &InstanceId,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> Option<usize> {
        let &i = self.index.get(id)?;
        self.instances[i].registration = match result {
            Ok(()) => Registration::Ok(now),
            Err(e) => Registration::Failed(e),
        };
        Some(i)
    }

    /// A `/me` answer (or why it failed), at `now`; the row.
    pub fn apply_hooks(
        &mut self,
        id: &InstanceId,
        result: Result<Hooks, String>,
        now: DateTime<Utc>,
    ) -> Option<usize> {
        let &i = self.index.get(id)?;
        self.instances[i].hooks = match result {
            Ok(hooks) => HookCheck::Ok {
                at: now,
                hooks: Box::new(hooks),
            },
            Err(error) => HookCheck::Failed { at: now, error },
        };
        Some(i)
    }

    /// How a restart or restore went, at `now`; the row.
    pub fn apply_action(
        &mut self,
        id: &InstanceId,
        action: InstanceAction,
        result: Result<(), String>,
        now: DateTime<Utc>,
    ) -> Option<usize> {
        let &i = self.index.get(id)?;
        let state = match result {
            Ok(()) => CallResult::Ok(now),
            Err(e) => CallResult::Failed(e),
        };
        self.instances[i].action = Some(Box::new(ActionOutcome { action, state }));
        Some(i)
    }

    /// The operator's acknowledgement that a down number is known to be
    /// down (`acked`), or its withdrawal, at `at`. Only a disconnected row
    /// can be acknowledged; the row, when it was changed.
    pub fn apply_ack(&mut self, id: &InstanceId, acked: bool, at: DateTime<Utc>) -> Option<usize> {
        let &i = self.index.get(id)?;
        let inst = &mut self.instances[i];
        if acked && inst.state != ConnState::Disconnected {
            return None;
        }
        inst.acked = acked.then_some(at);
        Some(i)
    }

    /// Marks `/me` of the row asked again; false when it already is.
    pub fn ask_hooks(&mut self, row: usize) -> bool {
        let Some(inst) = self.instances.get_mut(row) else {
            return false;
        };
        let ask = inst.hooks != HookCheck::Pending;
        if ask {
            inst.hooks = HookCheck::Pending;
        }
        ask
    }

    /// Marks the outages under way at `now` as announced; true when one of
    /// them had not been (a new outage: the bell).
    pub fn announce_outages(&mut self, rules: &Rules, now: DateTime<Utc>) -> bool {
        let mut new_outage = false;
        for inst in &mut self.instances {
            if !inst.outage_announced
                && inst.acked.is_none()
                && health::outage_since(inst, rules, now).is_some()
            {
                inst.outage_announced = true;
                new_outage = true;
            }
        }
        new_outage
    }

    /// A new list of configured instances: rows of instances still listed
    /// take their names; rows of instances no longer listed stay (as not
    /// configured) when something is known of them, else they go. Rows for
    /// the new ones are not added here. How many were removed from the
    /// config.
    pub fn reconcile(&mut self, instances: &[(InstanceId, Option<String>)]) -> usize {
        let names: HashMap<&InstanceId, &Option<String>> =
            instances.iter().map(|(id, name)| (id, name)).collect();
        let mut removed = 0;
        let mut rows = Vec::with_capacity(self.instances.len());
        for mut inst in std::mem::take(&mut self.instances) {
            match names.get(&inst.id) {
                Some(name) => {
                    inst.name.clone_from(name);
                    inst.configured = true;
                }
                None if inst.configured => {
                    removed += 1;
                    let known = inst.last_activity.is_some() || inst.state != ConnState::Unknown;
                    if !known {
                        continue;
                    }
                    inst.configured = false;
                }
                None => {}
            }
            rows.push(inst);
        }
        self.tally = Tally::of(&rows);
        self.index = rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.clone(), i))
            .collect();
        self.instances = rows;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventKind;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn event(id: &str, kind: EventKind, secs: i64) -> Event {
        Event {
            instance_id: InstanceId::new(id),
            kind,
            moment: t(secs),
            received: t(secs),
        }
    }

    fn down(id: &str, secs: i64) -> Event {
        event(id, EventKind::Disconnected { error: None }, secs)
    }

    #[test]
    fn an_event_says_its_row_and_whether_the_state_changed() {
        let mut fleet = Fleet::with_configured(&[(InstanceId::new("A"), None)], t(0));
        let first = fleet.apply_event(down("A", 1), t(1));
        assert_eq!(
            first,
            Applied {
                row: 0,
                new_row: false,
                became: Some(ConnState::Disconnected)
            }
        );
        // the same state again, and a late older event: no change
        assert_eq!(fleet.apply_event(down("A", 2), t(2)).became, None);
        let late = event("A", EventKind::Connected { phone: None }, 0);
        assert_eq!(fleet.apply_event(late, t(3)).became, None);
        // an unknown instance gets a row, not configured
        let new = fleet.apply_event(down("B", 4), t(4));
        assert!(new.new_row && new.row == 1 && !fleet.instances[1].configured);
        assert_eq!(fleet.events, 4);
        assert_eq!(fleet.counts(), (0, 2, 0));
        assert_eq!(fleet.snapshot(9).seq, 9);
    }

    #[test]
    fn results_go_to_their_row_and_unknown_ids_are_ignored() {
        let a = InstanceId::new("A");
        let mut fleet = Fleet::with_configured(&[(a.clone(), None)], t(0));
        let nobody = InstanceId::new("nobody");
        assert_eq!(fleet.apply_status(&nobody, Err("x".into()), t(1)), None);
        let up = Status {
            connected: true,
            error: None,
            smartphone_connected: None,
        };
        let down = Status {
            connected: false,
            ..up.clone()
        };
        // unknown -> connected is not news; connected -> disconnected is
        let first = fleet.apply_status(&a, Ok(up), t(1));
        assert_eq!(first.map(|s| s.seen_change), Some(None));
        let second = fleet.apply_status(&a, Ok(down.clone()), t(2));
        assert_eq!(
            second.map(|s| s.seen_change),
            Some(Some(ConnState::Disconnected))
        );
        let again = fleet.apply_status(&a, Ok(down), t(3));
        assert_eq!(again.map(|s| s.seen_change), Some(None));
        fleet.instances[0].status = StatusCheck::Pending;
        assert_eq!(fleet.status_not_asked(&a), Some(0));
        assert_eq!(fleet.instances[0].status, StatusCheck::Never);
        assert_eq!(
            fleet.apply_registration(&a, Err("no".into()), t(1)),
            Some(0)
        );
        assert_eq!(
            fleet.instances[0].registration,
            Registration::Failed("no".into())
        );
        assert!(fleet.ask_hooks(0));
        assert!(!fleet.ask_hooks(0), "asked already");
        fleet.apply_action(&a, InstanceAction::Restart, Ok(()), t(2));
        assert_eq!(
            fleet.instances[0].action.as_deref().map(|o| &o.state),
            Some(&CallResult::Ok(t(2)))
        );
    }

    #[test]
    fn reconcile_keeps_what_is_known_and_drops_the_rest() {
        let (a, b, c) = (
            InstanceId::new("A"),
            InstanceId::new("B"),
            InstanceId::new("C"),
        );
        let mut fleet = Fleet::with_configured(&[(a.clone(), None), (b.clone(), None)], t(0));
        fleet.apply_event(down("B", 1), t(1));
        let removed = fleet.reconcile(&[(c.clone(), Some("new".into()))]);
        assert_eq!(removed, 2);
        // A was never heard of: gone; B stays, not configured; C is not added here
        assert!(fleet.get(&a).is_none() && fleet.get(&c).is_none());
        assert!(fleet.get(&b).is_some_and(|i| !i.configured));
        assert_eq!(fleet.counts(), (0, 1, 0));
        assert!(fleet.configured_ids().is_empty());
    }
}
