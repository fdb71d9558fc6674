//! One instance of the fleet and what is known of it: the checks of its
//! webhooks (`/me`), its registration, its last `/status` answer and the
//! last restart or restore asked for it.

use std::collections::VecDeque;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stats::Transitions;
use crate::model::{ConnState, Event, EventKind, InstanceId, Status};

/// What `x` and `e` ask Z-API to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceAction {
    Restart,
    Restore,
}

impl InstanceAction {
    /// The verb, for the row and the footer.
    pub fn word(self) -> &'static str {
        match self {
            InstanceAction::Restart => "restart",
            InstanceAction::Restore => "restore session",
        }
    }
}

/// Where Z-API sends an instance's webhooks, as `GET …/me` says (path
/// tokens masked, so the URLs can be shown).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Hooks {
    pub disconnected: Option<String>,
    pub connected: Option<String>,
    pub received: Option<String>,
    /// Both the disconnected and the connected webhook point at this dashboard.
    pub here: bool,
    /// The disconnected / connected URLs that are neither this dashboard's
    /// nor empty (another system's, masked): registering replaces them,
    /// so it is confirmed first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign: Vec<String>,
}

/// Outcome of the last `/me` check of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum HookCheck {
    #[default]
    Never,
    Pending,
    Ok {
        at: DateTime<Utc>,
        hooks: Box<Hooks>,
    },
    Failed {
        at: DateTime<Utc>,
        error: String,
    },
}

impl HookCheck {
    /// `/me` answered and neither the disconnected nor the connected
    /// webhook is set: never registered, rather than pointing elsewhere.
    pub fn none_set(&self) -> bool {
        matches!(self, HookCheck::Ok { hooks, .. }
            if hooks.disconnected.is_none() && hooks.connected.is_none())
    }
}

/// The last restart or restore of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOutcome {
    pub action: InstanceAction,
    pub state: CallResult,
}

/// How a call went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum CallResult {
    Pending,
    Ok(DateTime<Utc>),
    Failed(String),
}

/// Outcome of the last webhook registration of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum Registration {
    #[default]
    Never,
    Pending,
    Ok(DateTime<Utc>),
    Failed(String),
}

/// Outcome of the last `/status` call of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", content = "detail", rename_all = "snake_case")]
pub enum StatusCheck {
    #[default]
    Never,
    Pending,
    Ok {
        at: DateTime<Utc>,
        status: Status,
    },
    Failed {
        at: DateTime<Utc>,
        error: String,
    },
}

/// Where the current state came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Webhook,
    Status,
}

/// One row of the dashboard.
/// One row of the dashboard. Its JSON form (without the history) is what
/// the HTTP API serves and `watch` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Instance {
    pub id: InstanceId,
    pub name: Option<String>,
    /// In the config (has a token): can be re-registered and queried.
    pub configured: bool,
    pub state: ConnState,
    pub source: Option<Source>,
    pub last_error: Option<String>,
    /// When the state last changed (webhook `momment`, or when a status answer arrived).
    pub last_change: Option<DateTime<Utc>>,
    /// `momment` of the newest state webhook applied: older ones do not overwrite.
    pub last_webhook_moment: Option<DateTime<Utc>>,
    /// `last_change` is a webhook's `momment` (Z-API dated it), not the
    /// time a `/status` answer arrived or nothing.
    #[serde(default)]
    pub change_dated: bool,
    /// Receipt time of the last webhook of any type.
    pub last_activity: Option<DateTime<Utc>>,
    pub phone: Option<String>,
    pub registration: Registration,
    pub status: StatusCheck,
    /// What `GET …/me` last said of the webhook URLs.
    #[serde(default)]
    pub hooks: HookCheck,
    /// The last restart or session restore asked from here.
    #[serde(default)]
    pub action: Option<Box<ActionOutcome>>,
    /// The state the newest state webhook implied, and when it was
    /// received: compared with `/status` to tell a zombie.
    #[serde(default)]
    pub webhook_state: Option<(ConnState, DateTime<Utc>)>,
    /// Newest last, at most [`super::HISTORY_LEN`].
    #[serde(skip)]
    pub history: VecDeque<Event>,
    /// State changes of the last [`super::STATS_WINDOW_DAYS`] days, for uptime,
    /// disconnects, time to reconnect and the timeline (8 bytes each, bounded).
    #[serde(skip)]
    pub transitions: Transitions,
    /// The bell has rung for the current outage.
    #[serde(skip)]
    pub outage_announced: bool,
    /// The operator acknowledged at this time that the number is down
    /// (`a`): no bell, not a problem, until it connects or disconnects again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<DateTime<Utc>>,
    /// The `[[accounts]]` it belongs to (`None`: the implicit account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// What its account's partner listing last said of it (`None`: not
    /// discovered, or not listed yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<Box<super::discovery::Listing>>,
}

impl Instance {
    /// A row nothing is known of yet.
    pub fn new(id: InstanceId, name: Option<String>, configured: bool) -> Self {
        Self {
            id,
            name,
            configured,
            state: ConnState::Unknown,
            source: None,
            last_error: None,
            last_change: None,
            last_webhook_moment: None,
            change_dated: false,
            last_activity: None,
            phone: None,
            registration: Registration::Never,
            status: StatusCheck::Never,
            hooks: HookCheck::Never,
            action: None,
            webhook_state: None,
            history: VecDeque::new(),
            transitions: Transitions::default(),
            outage_announced: false,
            acked: None,
            account: None,
            listing: None,
        }
    }

    /// The name if configured, else the id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(self.id.as_str())
    }

    /// Keeps what a state webhook says beyond the state: the disconnect's
    /// error, the phone that connected.
    pub(crate) fn take_details(&mut self, kind: &EventKind) {
        match kind {
            EventKind::Disconnected { error } => {
                let text = error.as_deref().unwrap_or("disconnected");
                // reuses the row's allocation (a replay sets it a million times)
                match &mut self.last_error {
                    Some(last) => text.clone_into(last),
                    None => self.last_error = Some(text.to_owned()),
                }
            }
            EventKind::Connected { phone } => {
                if phone.is_some() {
                    self.phone.clone_from(phone);
                }
            }
            EventKind::Activity { .. } => {}
        }
    }

    /// Puts `event` in the in-memory history.
    pub(crate) fn keep_in_history(&mut self, event: Event) {
        // history stays ordered by moment, newest last, at most super::HISTORY_LEN
        // (allocated once, exactly: it never grows past that)
        let pos = self.history.partition_point(|e| e.moment <= event.moment);
        if self.history.len() < super::HISTORY_LEN {
            if self.history.capacity() == 0 {
                self.history.reserve_exact(super::HISTORY_LEN);
            }
            self.history.insert(pos, event);
        } else if pos > 0 {
            self.history.pop_front();
            self.history.insert(pos - 1, event);
        }
        // else: older than every event kept; the log has it
    }

    /// A `/status` answer received at `now`: the state, the reason of a
    /// disconnect, the check itself.
    pub(crate) fn apply_status(&mut self, status: Status, now: DateTime<Utc>) {
        let state = if status.connected {
            ConnState::Connected
        } else {
            ConnState::Disconnected
        };
        // every answer, not only changes: a confirmation settles a
        // late webhook's place in the statistics
        self.transitions.record(now, state);
        let _ = self.set_state(state, now, Source::Status);
        // Z-API answers a healthy instance with `"error": "You are
        // already connected."`: with `connected: true` it is no error,
        // and must not replace the last disconnect's reason.
        if let Some(err) = status
            .error
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty() && !status.connected)
        {
            self.last_error = Some(err.to_string());
        }
        self.status = StatusCheck::Ok { at: now, status };
    }

    /// Sets the state; true when a webhook dated a state that a `/status`
    /// answer had told undated (or dated only by when it was asked).
    pub(crate) fn set_state(
        &mut self,
        state: ConnState,
        at: DateTime<Utc>,
        source: Source,
    ) -> bool {
        let mut dated = false;
        if self.state != state {
            // A status answer says how things are, not since when: the first
            // one leaves the change time unknown rather than invent one.
            let first_status = source == Source::Status && self.state == ConnState::Unknown;
            self.last_change = if first_status { None } else { Some(at) };
            self.change_dated = source == Source::Webhook;
            self.state = state;
            // an acknowledgement is of the state it was given in
            self.acked = None;
            if state != ConnState::Disconnected {
                self.outage_announced = false;
            }
        } else if source == Source::Webhook && !self.change_dated {
            // the one time Z-API gives for this state: it becomes the
            // state's time; once dated, later webhooks do not move it
            self.last_change = Some(at);
            self.change_dated = true;
            dated = true;
        }
        self.source = Some(source);
        dated
    }
}

/// Instances per state: (connected, disconnected, unknown), and the
/// per-account census derived from the rows ([`Census`]), which any change
/// of a state or a row forgets: every such change goes through here.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tally {
    counts: [usize; 3],
    pub(crate) census: OnceLock<Census>,
}

/// The account names to tell accounts apart by, and (rows, down) of each:
/// computed from the rows when a frame first asks, kept until a row or a
/// state changes (a frame of 10,000 discovered rows scanned them twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Census {
    pub names: Vec<String>,
    pub per: Vec<(usize, usize)>,
}

/// Two tallies are equal when their counts are (the census is derived).
impl PartialEq for Tally {
    fn eq(&self, other: &Self) -> bool {
        self.counts == other.counts
    }
}

impl Tally {
    /// (connected, disconnected, unknown).
    pub(crate) fn counts(&self) -> [usize; 3] {
        self.counts
    }
    /// A row's account changed, or the accounts did: the census is stale.
    pub(crate) fn forget_census(&mut self) {
        self.census.take();
    }
    pub(crate) fn slot(state: ConnState) -> usize {
        match state {
            ConnState::Connected => 0,
            ConnState::Disconnected => 1,
            ConnState::Unknown => 2,
        }
    }
    pub(crate) fn add(&mut self, state: ConnState) {
        self.counts[Self::slot(state)] += 1;
        self.forget_census();
    }
    pub(crate) fn change(&mut self, from: ConnState, to: ConnState) {
        if from != to {
            self.counts[Self::slot(from)] = self.counts[Self::slot(from)].saturating_sub(1);
            self.counts[Self::slot(to)] += 1;
            self.forget_census();
        }
    }
    pub(crate) fn of<'a>(instances: impl IntoIterator<Item = &'a Instance>) -> Tally {
        let mut t = Tally::default();
        for i in instances {
            t.add(i.state);
        }
        t
    }
}
