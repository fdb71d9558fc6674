//! What comes from outside: webhook events, the clock tick, and the
//! answers of Z-API calls (`/status`, registration, `/me`, restart/restore).

use super::*;

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
                if let Some(&i) = self.fleet.index.get(&id) {
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

    pub(super) fn on_status(&mut self, id: InstanceId, result: Result<Status, ApiError>) {
        let now = self.now;
        let Some(&i) = self.fleet.index.get(&id) else {
            return;
        };
        let label = self.fleet.instances[i].label().to_string();
        // A call that could not be made (no Client-Token, not configured)
        // failed nowhere: the row stays as it was; the header says why.
        if let Err(ApiError::Config(_)) = &result {
            self.fleet.status_not_asked(&id);
            if let Some(batch) = &mut self.ops.status_batch {
                batch.total = batch.total.saturating_sub(1);
                if batch.finished() {
                    self.ops.status_batch = None;
                }
            }
            return;
        }
        let failed = result.is_err();
        let result = result.map_err(|e| e.to_string());
        if let Err(text) = &result
            && self.ops.status_batch.is_none()
        {
            self.notify(Level::Error, format!("status of {label} failed: {text}"));
        }
        self.fleet.apply_status(&id, result, now);
        self.status_batch_step(failed);
    }

    /// One more answer of an `s` run; its summary when it was the last.
    fn status_batch_step(&mut self, failed: bool) {
        if let Some(batch) = &mut self.ops.status_batch {
            batch.done += 1;
            batch.failed += usize::from(failed);
            if batch.finished() {
                let b = *batch;
                self.ops.status_batch = None;
                self.ops.notice = Some(if b.failed == 0 {
                    Notice {
                        level: Level::Ok,
                        text: format!("status refreshed: {}/{}", b.done, b.total),
                    }
                } else {
                    Notice {
                        level: Level::Error,
                        text: format!(
                            "status refreshed: {}/{}, {} failed",
                            b.done - b.failed,
                            b.total,
                            b.failed
                        ),
                    }
                });
            }
        }
    }

    pub(super) fn on_registered(&mut self, id: InstanceId, result: Result<(), ApiError>) {
        let now = self.now;
        let Some(&i) = self.fleet.index.get(&id) else {
            return;
        };
        let label = self.fleet.instances[i].label().to_string();
        let notice = match &result {
            Ok(()) => Notice {
                level: Level::Ok,
                text: format!("webhooks of {label} registered"),
            },
            Err(e) => Notice {
                level: Level::Error,
                text: format!("registering {label} failed: {e}"),
            },
        };
        let failed = result.is_err();
        self.fleet
            .apply_registration(&id, result.map_err(|e| e.to_string()), now);
        match &mut self.ops.register_batch {
            Some(batch) => {
                batch.done += 1;
                batch.failed += usize::from(failed);
                if batch.finished() {
                    let b = *batch;
                    self.ops.register_batch = None;
                    let configured = self.fleet.instances.iter().filter(|i| i.configured).count();
                    self.ops.notice = Some(if b.failed == 0 {
                        Notice {
                            level: Level::Ok,
                            text: if b.total == configured {
                                format!("re-registered all {} instances", b.total)
                            } else {
                                format!(
                                    "re-registered {} instances (the other {} already pointed here)",
                                    b.total,
                                    configured.saturating_sub(b.total)
                                )
                            },
                        }
                    } else {
                        Notice {
                            level: Level::Error,
                            text: format!(
                                "re-registered {}/{}, {} failed (see the Webhooks column)",
                                b.done - b.failed,
                                b.total,
                                b.failed
                            ),
                        }
                    });
                }
            }
            None => self.ops.notice = Some(notice),
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
        let Some(&i) = self.fleet.index.get(&id) else {
            return;
        };
        let label = self.fleet.instances[i].label().to_string();
        let notice = match &result {
            Ok(()) => Notice {
                level: Level::Ok,
                text: format!(
                    "{} of {label} accepted by Z-API: its webhooks will tell how it went",
                    action.word()
                ),
            },
            Err(e) => Notice {
                level: Level::Error,
                text: format!("{} of {label} failed: {e}", action.word()),
            },
        };
        self.fleet
            .apply_action(&id, action, result.map_err(|e| e.to_string()), now);
        self.ops.notice = Some(notice);
    }
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
