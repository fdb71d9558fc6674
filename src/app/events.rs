//! What comes from outside: webhook events, the clock tick, and the
//! answers of Z-API calls (`/status`, registration, `/me`, restart/restore).

use super::outcomes::Outcomes;
use super::zapi_link::short_reason;
use super::*;
use crate::model::EventKind;
use crate::words::count;

impl App {
    pub(super) fn on_event(&mut self, event: Event) -> (Vec<Command>, usize) {
        self.view.dirty = true;
        self.add_to_detail(&event);
        // the alert command carries the event; copied only when there is one
        let alerts = self.settings.alerts;
        let copy = (alerts != (false, false)).then(|| event.clone());
        let applied = self.fleet.apply_event(event, self.now);
        if applied.new_row {
            // shown at once; sorted and filtered at the next view refresh
            self.view.order.push(applied.row);
        }
        let label = self.fleet.instances[applied.row].label();
        let cmds = match (applied.became, copy) {
            (Some(state), Some(event)) => alert_for(alerts, state, &event, label)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        (cmds, applied.row)
    }

    /// An event of the instance whose detail is open joins its history
    /// as read from the log.
    fn add_to_detail(&mut self, event: &Event) {
        if let Some(d) = self
            .overlays
            .detail
            .as_mut()
            .filter(|d| d.id == event.instance_id)
            && let DetailHistory::Loaded(events) = &mut d.history
        {
            // newest first, like the log's history; an event stored just
            // before the history was read is in it already
            let pos = events.partition_point(|e| e.moment > event.moment);
            let known = events[pos..]
                .iter()
                .take_while(|e| e.moment == event.moment)
                .any(|e| e == event);
            if !known {
                events.insert(pos, event.clone());
                events.truncate(DETAIL_HISTORY);
            }
        }
    }

    /// The clock: polls that are due, the bell for new outages, and the
    /// pruning of statistics older than their window (once a minute).
    pub(super) fn on_tick(&mut self) -> Vec<Command> {
        let now = self.now;
        let mut cmds = Vec::new();
        if let Some(poll) = &mut self.ops.poll {
            for id in poll.due(now) {
                if let Some(&i) = self.fleet.index.get(&id)
                    && self.fleet.polled(&self.fleet.instances[i])
                {
                    let inst = &mut self.fleet.instances[i];
                    if inst.status != StatusCheck::Pending {
                        inst.status = StatusCheck::Pending;
                        cmds.push(Command::FetchStatus(id));
                    }
                }
            }
        }
        let new_outage = self.fleet.announce_outages(&self.settings.rules, now);
        if new_outage && self.switches.bell {
            cmds.push(Command::Bell);
        }
        let minute = now.timestamp().div_euclid(60);
        if minute != self.fleet.pruned_minute {
            self.fleet.pruned_minute = minute;
            let before = now - chrono::Duration::days(STATS_WINDOW_DAYS);
            for inst in &mut self.fleet.instances {
                inst.transitions.settle();
                inst.transitions.prune(before);
            }
        }
        cmds
    }

    /// A Z-API call's result: the link state counts it (with how long it
    /// took, when measured), then the row, the batch or the poller's round.
    pub(super) fn on_call(&mut self, msg: Msg, took: Option<std::time::Duration>) -> Vec<Command> {
        let now = self.now;
        let link = &mut self.ops.zapi;
        match msg {
            Msg::StatusResult { id, result } => {
                let before = self.shown_of(&id);
                self.ops.zapi.record(result.as_ref().map(|_| ()), took, now);
                if matches!(&result, Ok(s) if s.connected) {
                    self.connect_saw_connected(&id, None);
                }
                let alert = self.on_status(id.clone(), result);
                self.view.dirty = true;
                // a poll's answer that repeats what is shown draws nothing
                self.ops.quiet = before.is_some() && before == self.shown_of(&id);
                alert.into_iter().collect()
            }
            Msg::RegisterResult { id, result } => {
                link.record(result.as_ref().map(|_| ()), took, now);
                self.on_register_result(id, result)
            }
            Msg::HooksResult { id, result } => {
                link.record(result.as_ref().map(|_| ()), took, now);
                self.on_hooks(id, result);
                self.view.dirty = true;
                Vec::new()
            }
            Msg::ActionResult { id, action, result } => {
                link.record(result.as_ref().map(|_| ()), took, now);
                self.on_action_result(id, action, result);
                Vec::new()
            }
            other => self.update(other, now),
        }
    }

    /// The row's name for a message, or its id when it is gone.
    pub(super) fn label_of(&self, id: &InstanceId) -> String {
        self.get(id)
            .map_or_else(|| id.to_string(), |i| i.label().to_string())
    }

    /// What the screen shows that a `/status` answer of `id` can change:
    /// its row, the notices, the Z-API link; `None` while its detail, a
    /// batch or the Connect popup is open (they show more).
    fn shown_of(&self, id: &InstanceId) -> Option<impl PartialEq + use<>> {
        let busy = self.overlays.detail.is_some()
            || self.overlays.connect.is_some()
            || self.ops.status_batch.is_some();
        let inst = self.get(id).filter(|_| !busy)?;
        let seq = |n: &Option<Notice>| n.as_ref().map(|n| n.seq);
        Some((
            (inst.state, inst.source, inst.last_change),
            inst.last_error.clone(),
            matches!(inst.status, StatusCheck::Failed { .. }),
            (seq(&self.ops.notice), seq(&self.ops.background)),
            self.ops.zapi.shown(),
        ))
    }

    /// A `/status` answer; the alert command when it saw a change.
    pub(super) fn on_status(
        &mut self,
        id: InstanceId,
        result: Result<Status, ApiError>,
    ) -> Option<Command> {
        let now = self.now;
        if !self.fleet.index.contains_key(&id) {
            return None;
        }
        let label = self.label_of(&id);
        // A call that could not be made (no Client-Token, not configured)
        // failed nowhere: the row stays as it was; the header says why.
        if let Err(ApiError::Config(_)) = &result {
            self.fleet.status_not_asked(&id);
            if let Some(batch) = &mut self.ops.status_batch {
                batch.total = batch.total.saturating_sub(1);
                if batch.finished() {
                    self.finish_status_batch();
                }
            }
            return None;
        }
        let reason = result.as_ref().err().map(short_reason);
        let applied = self
            .fleet
            .apply_status(&id, result.map_err(|e| e.to_string()), now);
        let alert = applied.and_then(|a| {
            let state = a.seen_change?;
            seen_alert(
                self.settings.alerts,
                &self.fleet.instances[a.row],
                state,
                now,
            )
        });
        if self.ops.status_batch.is_some() {
            self.status_batch_step(&label, reason);
        } else {
            self.poll_round_step(&label, reason);
        }
        alert
    }

    /// One more answer of an `s` run (or the start's); its summary when it
    /// was the last.
    fn status_batch_step(&mut self, label: &str, reason: Option<String>) {
        let Some(batch) = &mut self.ops.status_batch else {
            return;
        };
        batch.done += 1;
        batch.failed += usize::from(reason.is_some());
        let finished = batch.finished();
        self.ops.status_outcomes.0.record(label, reason);
        if finished {
            self.finish_status_batch();
        }
    }

    /// The status run's summary: in the operator's slot for `s`, in the
    /// background one for the start's; it also ends the poller's round.
    fn finish_status_batch(&mut self) {
        self.ops.status_batch = None;
        let (outcomes, own) = std::mem::take(&mut self.ops.status_outcomes);
        self.ops.poll_round = (Outcomes::default(), None);
        if outcomes.total() == 0 {
            return;
        }
        let text = outcomes.status_summary();
        let level = if outcomes.failed.is_empty() {
            Level::Ok
        } else {
            self.ops.poll_round.1 = Some(text.clone());
            Level::Error
        };
        if own {
            self.notify(level, text);
        } else {
            self.notify_background(level, text);
        }
    }

    /// One answer of the poller: counted with the others of its round; the
    /// footer hears of a round once it is complete, and only when it
    /// differs from the last (never one line per row).
    fn poll_round_step(&mut self, label: &str, reason: Option<String>) {
        let expected = self.setup.instances.len().max(1);
        let round = &mut self.ops.poll_round;
        round.0.record(label, reason);
        if round.0.total() < expected {
            return;
        }
        let outcomes = std::mem::take(&mut round.0);
        let text = outcomes.status_summary();
        if outcomes.failed.is_empty() {
            if round.1.take().is_some() {
                self.notify_background(Level::Ok, format!("{text} again"));
            }
        } else if round.1.as_deref() != Some(text.as_str()) {
            round.1 = Some(text.clone());
            self.notify_background(Level::Error, text);
        }
    }

    pub(super) fn on_registered(&mut self, id: InstanceId, result: Result<(), ApiError>) {
        let now = self.now;
        if !self.fleet.index.contains_key(&id) && self.ops.register_batch.is_none() {
            return;
        }
        let label = self.label_of(&id);
        let single = match &result {
            Ok(()) => (Level::Ok, format!("webhooks of {label} registered")),
            Err(e) => (Level::Error, format!("registering {label} failed: {e}")),
        };
        let reason = result.as_ref().err().map(short_reason);
        self.fleet
            .apply_registration(&id, result.map_err(|e| e.to_string()), now);
        let Some(batch) = &mut self.ops.register_batch else {
            self.notify(single.0, single.1);
            return;
        };
        batch.done += 1;
        batch.failed += usize::from(reason.is_some());
        let finished = batch.finished();
        self.ops.register_notes.outcomes.record(&label, reason);
        if finished {
            self.ops.register_batch = None;
            let (level, text) = register_summary(&self.ops.register_notes);
            self.notify(level, text);
        }
    }

    pub(super) fn on_hooks(&mut self, id: InstanceId, result: Result<Hooks, ApiError>) {
        self.fleet
            .apply_hooks(&id, result.map_err(|e| e.to_string()), self.now);
    }

    pub(super) fn on_action_result(
        &mut self,
        id: InstanceId,
        action: InstanceAction,
        result: Result<(), ApiError>,
    ) {
        let now = self.now;
        let label = self.label_of(&id);
        let reason = result.as_ref().err().map(short_reason);
        let single = match &result {
            Ok(()) => (
                Level::Ok,
                format!(
                    "{} of {label} accepted by Z-API: its webhooks will tell how it went",
                    action.word()
                ),
            ),
            Err(e) => (
                Level::Error,
                format!("{} of {label} failed: {e}", action.word()),
            ),
        };
        self.fleet
            .apply_action(&id, action, result.map_err(|e| e.to_string()), now);
        match &mut self.ops.action_batch {
            Some((a, batch, outcomes)) if *a == action => {
                batch.done += 1;
                batch.failed += usize::from(reason.is_some());
                outcomes.record(&label, reason);
                if batch.finished() {
                    let text = format!("{}: {}", action.word(), outcomes.named("accepted"));
                    let level = if outcomes.failed.is_empty() {
                        Level::Ok
                    } else {
                        Level::Error
                    };
                    self.ops.action_batch = None;
                    self.notify(level, text);
                }
            }
            _ => self.notify(single.0, single.1),
        }
    }
}

/// The summary of a registration batch: every row it was asked about,
/// registered, failed (named), left pointing at another system, or
/// already pointing here.
pub(super) fn register_summary(notes: &RegisterNotes) -> (Level, String) {
    let mut text = format!("register: {}", notes.outcomes.named("registered"));
    if notes.left_foreign > 0 {
        text.push_str(&format!(
            "; {} left pointing at another system",
            count(notes.left_foreign, "instance")
        ));
    }
    if notes.already_here > 0 {
        text.push_str(&format!(
            "; {} already pointed here{}",
            count(
                notes.already_here,
                if notes.marked {
                    "marked instance"
                } else {
                    "instance"
                }
            ),
            if notes.marked {
                " (r registers them anyway)"
            } else {
                ""
            }
        ));
    }
    let level = if notes.outcomes.failed.is_empty() {
        Level::Ok
    } else {
        Level::Error
    };
    (level, text)
}

/// The alert command the config (`alerts`: on_disconnect, on_connect)
/// asks for when an instance goes to `state`.
pub(crate) fn alert_for(
    (on_disconnect, on_connect): (bool, bool),
    state: ConnState,
    event: &Event,
    name: &str,
) -> Option<Command> {
    let wanted = match state {
        ConnState::Disconnected => on_disconnect,
        ConnState::Connected => on_connect,
        ConnState::Unknown => false,
    };
    wanted.then(|| Command::Alert {
        event: event.clone(),
        name: name.to_string(),
    })
}

/// The alert command for a change seen by asking (a `/status` answer, an
/// account listing: [`crate::fleet::seen_change_of`]), with the event made
/// of what the row says: the reason it was given, seen at `now`.
pub(crate) fn seen_alert(
    alerts: (bool, bool),
    inst: &Instance,
    state: ConnState,
    now: DateTime<Utc>,
) -> Option<Command> {
    let kind = match state {
        ConnState::Disconnected => EventKind::Disconnected {
            error: inst.last_error.clone(),
        },
        ConnState::Connected => EventKind::Connected { phone: None },
        ConnState::Unknown => return None,
    };
    let event = Event {
        instance_id: inst.id.clone(),
        kind,
        moment: now,
        received: now,
    };
    alert_for(alerts, state, &event, inst.label())
}
