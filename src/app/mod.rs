//! The application state and its one update function.
//!
//! Everything that happens (a key, a webhook event, a Z-API answer, the clock
//! tick, a resize) is a [`Msg`]; [`App::update`] folds it into the state and
//! returns the [`Command`]s the event loop must carry out. No I/O and no clock
//! reads happen here: the time is passed in, so the whole behaviour is tested
//! without a terminal or a network.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset, Local, Utc};
use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use serde::{Deserialize, Serialize};

use crate::fleet::Tally;
use crate::fleet::health::{self, Rules};
use crate::fleet::poll::PollSchedule;
use crate::fleet::stats::PerMinute;
pub use crate::fleet::{
    ActionOutcome, HISTORY_LEN, HookCheck, Hooks, Instance, InstanceAction, Outcome, Registration,
    STATS_WINDOW_DAYS, Source, StatusCheck,
};
use crate::keys::{Action, Keymap};
use crate::model::{ConnState, Event, EventKind, InstanceId, Status};
use crate::zapi::ApiError;

pub mod layout;
mod register_guard;
pub use register_guard::{ReplaceConfirm, foreign_urls, mask_foreign_url};

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    /// A webhook the listener accepted.
    Webhook(Event),
    /// The 1 Hz clock, so that ages ("3m ago") move.
    Tick,
    /// The terminal was resized to (columns, rows).
    Resize(u16, u16),
    /// Answer of `GET …/status` for an instance.
    StatusResult {
        id: InstanceId,
        result: Result<Status, ApiError>,
    },
    /// Result of re-registering an instance's webhooks (both PUTs).
    RegisterResult {
        id: InstanceId,
        result: Result<(), ApiError>,
    },
    /// Answer of `GET …/me`: where Z-API sends the instance's webhooks now.
    HooksResult {
        id: InstanceId,
        result: Result<Hooks, ApiError>,
    },
    /// Result of a restart or a session restore.
    ActionResult {
        id: InstanceId,
        action: InstanceAction,
        result: Result<(), ApiError>,
    },
    /// The instance's history, newest first, read from the event log for
    /// the detail pane.
    History {
        id: InstanceId,
        result: Result<Vec<Event>, String>,
    },
    /// A mouse event on the terminal.
    Mouse(MouseEvent),
    /// An `on_disconnect` / `on_connect` command ended badly.
    AlertFailed {
        id: InstanceId,
        error: String,
    },
    /// Something went wrong outside the app (the event log cannot be
    /// written, the listener stopped): shown in the footer as an error.
    Problem(String),
    /// `watch`: the server's whole state, replacing ours.
    Snapshot(Snapshot),
    /// `watch`: one row as the server now has it (after a status or
    /// registration result there).
    Row(Box<Instance>),
    /// `watch`: the link to the server came up or was cut.
    Link(Link),
}

/// The whole state as the HTTP API serves it: every row, the number of
/// events, and the `seq` of the last event applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub seq: u64,
    pub events: u64,
    pub instances: Vec<Instance>,
}

/// The state of `watch`'s link to its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Up,
    /// Cut off since `since`; the next try is at `retry_at`.
    Down {
        since: DateTime<Utc>,
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

/// Something the event loop must do for the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `GET …/status` for this configured instance.
    FetchStatus(InstanceId),
    /// `GET …/me` for this configured instance: which URLs its webhooks go to.
    FetchHooks(InstanceId),
    /// Re-register this configured instance's connect/disconnect webhooks.
    Register(InstanceId),
    /// The same, confirmed to replace another system's webhook URL.
    RegisterReplacing(InstanceId),
    /// `GET …/restart` or `GET …/restore-session` (the operator confirmed it).
    Act(InstanceId, InstanceAction),
    /// Read the instance's history from the event log (the detail pane).
    LoadHistory(InstanceId),
    /// Run the `on_disconnect` / `on_connect` command for this state change.
    Alert { event: Event, name: String },
    /// Ring the terminal bell (a new outage).
    Bell,
    /// Turn mouse capture on or off.
    MouseCapture(bool),
    /// Leave: restore the terminal, exit 0.
    Quit,
}

/// How times are shown: the machine's local zone, or a fixed offset (tests).
#[derive(Debug, Clone, Copy)]
pub enum TimeZone {
    Local,
    Fixed(FixedOffset),
}

impl TimeZone {
    /// Formats `t` in this zone with a chrono format string.
    pub fn format(self, t: DateTime<Utc>, fmt: &str) -> String {
        match self {
            TimeZone::Local => t.with_timezone(&Local).format(fmt).to_string(),
            TimeZone::Fixed(off) => t.with_timezone(&off).format(fmt).to_string(),
        }
    }
}

/// How bad a footer message is. Shown by a word as well as a colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Warn,
    Error,
}

/// The last action's result, shown in the footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: Level,
    pub text: String,
}

/// Progress of an `R` (register all) or `s` (status all) run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Batch {
    pub total: usize,
    pub done: usize,
    pub failed: usize,
}

impl Batch {
    pub fn finished(&self) -> bool {
        self.done >= self.total
    }
}

/// What the app needs to know about its setup. No secrets in here.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Base URL of the listener as shown in the header (`http://127.0.0.1:8787`).
    pub listen: String,
    /// Webhooks are only taken under per-instance secret paths.
    pub secret_paths: bool,
    /// The config file in use, if any.
    pub config_file: Option<String>,
    /// Configured instances (id, optional name), in config order.
    pub instances: Vec<(InstanceId, Option<String>)>,
    /// `Some("public_url")` / `Some("client_token")` when `r`/`R` cannot work.
    pub missing_for_register: Option<&'static str>,
    /// A Client-Token is configured, so `/status` can be asked.
    pub can_query_status: bool,
    pub tz: TimeZone,
    /// A banner shown under the header (e.g. "demo mode").
    pub banner: Option<String>,
    /// Problems found at start (corrupt log records, a config readable by
    /// others), shown in the footer until the next action.
    pub warnings: Vec<String>,
}

/// The whole state of the dashboard.
#[derive(Debug, Clone)]
pub struct App {
    pub setup: Setup,
    /// The time of the last update: the view reads this, never the clock.
    pub now: DateTime<Utc>,
    pub instances: Vec<Instance>,
    index: HashMap<InstanceId, usize>,
    /// Display order: indexes into `instances`.
    pub order: Vec<usize>,
    /// Position in `order` of the selected row.
    pub selected: usize,
    /// First visible position in `order`.
    pub offset: usize,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    pub show_help: bool,
    /// First line of the help shown (a short terminal scrolls it).
    pub help_scroll: u16,
    pub notice: Option<Notice>,
    pub register_batch: Option<Batch>,
    pub status_batch: Option<Batch>,
    /// Events in the state: replayed from the log at start and received since.
    pub events: u64,
    /// The start warnings were acknowledged (a key was pressed).
    pub warnings_seen: bool,
    /// A warning the header keeps showing (not acknowledged by a key), e.g.
    /// a plain-http `public_url`.
    pub header_warning: Option<String>,
    /// `watch` only: the link to the server (`None` for a local dashboard).
    pub link: Option<Link>,
    /// Instances per state, kept as states change, so the header does not
    /// walk the whole fleet on every frame.
    tally: Tally,
    /// Thresholds, polling, bell, keys: what the config says beyond the setup.
    pub settings: Settings,
    /// How the table is sorted.
    pub sort: SortKey,
    /// Which states the table shows.
    pub state_filter: StateFilter,
    /// The `/` filter: rows whose name, id, error or note contain it.
    pub search: String,
    /// Typing into the `/` filter.
    pub searching: bool,
    /// Rows marked with Space, for `R`, `x` and `e`.
    pub marked: HashSet<InstanceId>,
    /// The detail pane, when open.
    pub detail: Option<Detail>,
    /// A restart or restore waiting for `y`.
    pub confirm: Option<Confirm>,
    /// Registrations that would replace another system's webhooks, waiting
    /// for `y` (all), `n` (the others) or `Esc` (none).
    pub replace: Option<ReplaceConfirm>,
    /// Ring the bell on a new outage (`b` toggles).
    pub bell: bool,
    /// Mouse capture on (`m` toggles; off lets the terminal select text).
    pub mouse: bool,
    /// Fleet disconnects per minute over the last hour (the header's sparkline).
    pub disconnects_per_minute: PerMinute,
    /// Problems (rank ≥ 2) in the fleet, as of the last view refresh.
    pub problems: usize,
    /// `order` needs to be rebuilt (a state, the sort or a filter changed).
    view_dirty: bool,
    poll: Option<PollSchedule>,
    last_click: Option<(DateTime<Utc>, usize)>,
    /// The minute the in-memory statistics were last pruned.
    pruned_minute: i64,
    /// Some instance's statistics hold an entry set aside by
    /// `Transitions::record_old`, to be settled before they are read.
    stats_unsettled: bool,
}

/// What the config says beyond the [`Setup`]: set with [`App::configure`].
#[derive(Debug, Clone)]
pub struct Settings {
    /// Ask `/status` of every configured instance this often, spread over
    /// the interval (zero: never).
    pub poll_interval: std::time::Duration,
    pub rules: Rules,
    /// The bell is on at start.
    pub bell: bool,
    /// `NO_COLOR` is set: no colour at all, state still in words and symbols.
    pub no_color: bool,
    /// `GET …/me` can be asked (a Z-API client here, not through `watch`).
    pub can_check_hooks: bool,
    /// Which alert commands the config has: (on_disconnect, on_connect).
    pub alerts: (bool, bool),
    pub keys: Keymap,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            poll_interval: std::time::Duration::ZERO,
            rules: Rules::default(),
            bell: true,
            no_color: false,
            can_check_hooks: false,
            alerts: (false, false),
            keys: Keymap::default(),
        }
    }
}

/// How the table is sorted (`o` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Worst first: outages, then down, drifted, failing; then config order.
    #[default]
    Problems,
    Name,
    /// Most disconnects in 24 h first.
    Disconnects,
    /// Most recent change first.
    LastChange,
}

impl SortKey {
    pub fn word(self) -> &'static str {
        match self {
            SortKey::Problems => "problems first",
            SortKey::Name => "name",
            SortKey::Disconnects => "disconnects (24 h)",
            SortKey::LastChange => "last change",
        }
    }
    fn next(self) -> SortKey {
        match self {
            SortKey::Problems => SortKey::Name,
            SortKey::Name => SortKey::Disconnects,
            SortKey::Disconnects => SortKey::LastChange,
            SortKey::LastChange => SortKey::Problems,
        }
    }
}

/// Which rows the table shows (`f` cycles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StateFilter {
    #[default]
    All,
    Down,
    Up,
    /// Webhooks pointing elsewhere, or `/status` disagreeing with them.
    Drifted,
}

impl StateFilter {
    pub fn word(self) -> &'static str {
        match self {
            StateFilter::All => "all",
            StateFilter::Down => "down",
            StateFilter::Up => "up",
            StateFilter::Drifted => "drifted",
        }
    }
    fn next(self) -> StateFilter {
        match self {
            StateFilter::All => StateFilter::Down,
            StateFilter::Down => StateFilter::Up,
            StateFilter::Up => StateFilter::Drifted,
            StateFilter::Drifted => StateFilter::All,
        }
    }
}

/// The detail pane of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Detail {
    pub id: InstanceId,
    /// First history line shown.
    pub scroll: usize,
    pub history: DetailHistory,
}

/// The detail pane's history, read from the event log.
#[derive(Debug, Clone, PartialEq)]
pub enum DetailHistory {
    Loading,
    /// Newest first.
    Loaded(Vec<Event>),
    /// The log could not be read (or there is none: `watch`); the newest
    /// events kept in memory are shown instead.
    Failed(String),
}

/// Events the detail pane reads from the log, at most.
pub const DETAIL_HISTORY: usize = 1000;

/// A restart or restore the operator must confirm with `y`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub action: InstanceAction,
    pub targets: Vec<InstanceId>,
}

/// Two clicks on one row within this are a double click.
const DOUBLE_CLICK_MS: i64 = 400;

impl App {
    pub fn new(setup: Setup, now: DateTime<Utc>) -> Self {
        let mut app = App {
            now,
            instances: Vec::new(),
            index: HashMap::new(),
            order: Vec::new(),
            selected: 0,
            offset: 0,
            size: (80, 24),
            show_help: false,
            help_scroll: 0,
            notice: None,
            register_batch: None,
            status_batch: None,
            events: 0,
            warnings_seen: true,
            header_warning: None,
            link: None,
            tally: Tally::default(),
            settings: Settings::default(),
            sort: SortKey::default(),
            state_filter: StateFilter::default(),
            search: String::new(),
            searching: false,
            marked: HashSet::new(),
            detail: None,
            confirm: None,
            replace: None,
            bell: true,
            mouse: true,
            disconnects_per_minute: PerMinute::default(),
            problems: 0,
            view_dirty: true,
            poll: None,
            last_click: None,
            pruned_minute: now.timestamp().div_euclid(60),
            stats_unsettled: false,
            setup,
        };
        for (id, name) in app.setup.instances.clone() {
            app.insert(Instance::new(id, name, true));
        }
        app.show_warnings();
        app
    }

    /// The state as the HTTP API serves it; `seq` is the last event applied.
    pub fn snapshot(&self, seq: u64) -> Snapshot {
        Snapshot {
            seq,
            events: self.events,
            instances: self.instances.clone(),
        }
    }

    /// Replaces every row with the server's, keeping the selection on the
    /// same instance and each row's history.
    fn apply_snapshot(&mut self, snapshot: Snapshot) {
        let selected = self.selected_instance().map(|i| i.id.clone());
        let mut old: HashMap<InstanceId, Instance> = self
            .instances
            .drain(..)
            .map(|i| (i.id.clone(), i))
            .collect();
        self.index.clear();
        self.order.clear();
        self.tally = Tally::default();
        for mut row in snapshot.instances {
            if let Some(prev) = old.remove(&row.id) {
                row.history = prev.history;
                row.transitions = prev.transitions;
                row.outage_announced = prev.outage_announced;
            }
            self.insert(row);
        }
        self.events = snapshot.events;
        let pos =
            selected.and_then(|id| self.order.iter().position(|&i| self.instances[i].id == id));
        self.select(pos.unwrap_or(0));
    }

    /// Shows the setup's warnings (if any) in the footer, until a key is pressed.
    pub fn show_warnings(&mut self) {
        self.warnings_seen = self.setup.warnings.is_empty();
    }

    /// The start warnings while they have not been acknowledged by a key.
    pub fn pending_warnings(&self) -> Option<String> {
        (!self.warnings_seen).then(|| self.setup.warnings.join(" · "))
    }

    /// Sets the footer's message.
    fn notify(&mut self, level: Level, text: impl Into<String>) {
        self.notice = Some(Notice {
            level,
            text: text.into(),
        });
    }

    /// Applies what the config says beyond the setup (thresholds, polling,
    /// bell, keys). Call before [`App::init`].
    pub fn configure(&mut self, settings: Settings) {
        self.bell = settings.bell;
        self.settings = settings;
        self.view_dirty = true;
    }

    /// Applies a reloaded config ([`crate::reload`]): instances added get a
    /// row (and a `/status` call), instances removed lose theirs unless
    /// something is known of them (then they stay, as not configured, like
    /// any instance that sends webhooks unasked); names, thresholds,
    /// polling, alerts and keys take the new values; the bell follows the
    /// config only when the config changed it. No event or state is lost.
    pub fn reconfigure(
        &mut self,
        change: crate::reload::Reconfig,
        now: DateTime<Utc>,
    ) -> Vec<Command> {
        self.now = now;
        if change.settings.bell != self.settings.bell {
            self.bell = change.settings.bell;
        }
        self.settings = change.settings;
        self.setup.missing_for_register = change.missing_for_register;
        self.setup.can_query_status = change.can_query_status;
        let (cmds, added, removed) = match change.instances {
            Some(instances) => self.reconcile_rows(instances),
            None => (Vec::new(), 0, 0),
        };
        self.restart_poll();
        let level = if change.needs_restart.is_empty() {
            Level::Ok
        } else {
            Level::Warn
        };
        self.notify(
            level,
            crate::reload::summary(added, removed, &change.needs_restart),
        );
        self.view_dirty = true;
        cmds
    }

    /// The rows for a new list of configured instances (see
    /// [`App::reconfigure`]): the calls for the new ones, how many were
    /// added and how many removed from the config.
    fn reconcile_rows(
        &mut self,
        instances: Vec<(InstanceId, Option<String>)>,
    ) -> (Vec<Command>, usize, usize) {
        let names: HashMap<InstanceId, Option<String>> = instances.iter().cloned().collect();
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
        self.order = (0..rows.len()).collect();
        self.instances = rows;
        self.marked.retain(|id| self.index.contains_key(id));
        if self
            .detail
            .as_ref()
            .is_some_and(|d| !self.index.contains_key(&d.id))
        {
            self.detail = None;
        }
        self.selected = self.selected.min(self.order.len().saturating_sub(1));
        let (mut cmds, mut added) = (Vec::new(), 0);
        for (id, name) in &instances {
            if self.index.contains_key(id) {
                continue;
            }
            added += 1;
            let mut inst = Instance::new(id.clone(), name.clone(), true);
            if self.setup.can_query_status {
                inst.status = StatusCheck::Pending;
                cmds.push(Command::FetchStatus(id.clone()));
                if self.settings.can_check_hooks {
                    inst.hooks = HookCheck::Pending;
                    cmds.push(Command::FetchHooks(id.clone()));
                }
            }
            self.insert(inst);
        }
        self.setup.instances = instances;
        (cmds, added, removed)
    }

    /// The `/status` poller over the configured instances, as the settings say.
    fn restart_poll(&mut self) {
        let ids: Vec<InstanceId> = self
            .instances
            .iter()
            .filter(|i| i.configured)
            .map(|i| i.id.clone())
            .collect();
        let on = self.setup.can_query_status
            && !self.settings.poll_interval.is_zero()
            && !ids.is_empty();
        self.poll = on.then(|| PollSchedule::new(ids, self.settings.poll_interval, self.now));
    }

    /// The commands to run at start: ask `/status` (and, where it can,
    /// `/me`) of every configured instance; start the poller.
    pub fn init(&mut self) -> Vec<Command> {
        // outages already under way at start are not new: no bell for them
        let rules = self.settings.rules;
        for inst in &mut self.instances {
            if health::outage_since(inst, &rules, self.now).is_some() {
                inst.outage_announced = true;
            }
        }
        self.refresh_view();
        if self.setup.instances.is_empty() {
            return Vec::new();
        }
        if !self.setup.can_query_status {
            // said once, in the header, for as long as it lasts
            return Vec::new();
        }
        if !self.settings.poll_interval.is_zero() {
            let ids = self
                .instances
                .iter()
                .filter(|i| i.configured)
                .map(|i| i.id.clone())
                .collect();
            self.poll = Some(PollSchedule::new(
                ids,
                self.settings.poll_interval,
                self.now,
            ));
        }
        self.fetch_all_status()
    }

    fn insert(&mut self, inst: Instance) -> usize {
        let i = self.instances.len();
        self.tally.add(inst.state);
        self.index.insert(inst.id.clone(), i);
        self.instances.push(inst);
        // shown at once; sorted and filtered at the next view refresh
        self.order.push(i);
        self.view_dirty = true;
        i
    }

    /// The instance with this id.
    pub fn get(&self, id: &InstanceId) -> Option<&Instance> {
        self.index.get(id).map(|&i| &self.instances[i])
    }

    /// The selected instance, if any.
    pub fn selected_instance(&self) -> Option<&Instance> {
        self.order.get(self.selected).map(|&i| &self.instances[i])
    }

    /// (connected, disconnected, unknown); O(1), kept as states change.
    pub fn counts(&self) -> (usize, usize, usize) {
        debug_assert_eq!(self.tally, Tally::of(&self.instances), "tally out of step");
        let [c, d, u] = self.tally.counts();
        (c, d, u)
    }

    /// Rows the table can show at the current size.
    pub fn page_rows(&self) -> usize {
        layout::table_rows(self.size.1)
    }

    /// Folds one message into the state. `now` is the current time.
    pub fn update(&mut self, msg: Msg, now: DateTime<Utc>) -> Vec<Command> {
        self.now = now;
        match msg {
            Msg::Key(key) => self.on_key(key),
            // The view is refreshed before the next frame (`prepare`), not
            // per event: a burst or a replay of a million costs one sort.
            Msg::Webhook(event) => self.on_event(event).0,
            Msg::Tick => {
                let cmds = self.on_tick();
                self.refresh_view();
                cmds
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.scroll_to_selected();
                Vec::new()
            }
            Msg::StatusResult { id, result } => {
                self.on_status(id, result);
                self.view_dirty = true;
                Vec::new()
            }
            Msg::RegisterResult { id, result } => {
                let verify = result.is_ok() && self.settings.can_check_hooks;
                self.on_registered(id.clone(), result);
                self.view_dirty = true;
                // ask `/me` again: the row then shows what Z-API really has
                match self.index.get(&id) {
                    Some(&i) if verify && self.instances[i].hooks != HookCheck::Pending => {
                        self.instances[i].hooks = HookCheck::Pending;
                        vec![Command::FetchHooks(id)]
                    }
                    _ => Vec::new(),
                }
            }
            Msg::HooksResult { id, result } => {
                self.on_hooks(id, result);
                self.view_dirty = true;
                Vec::new()
            }
            Msg::ActionResult { id, action, result } => {
                self.on_action_result(id, action, result);
                Vec::new()
            }
            Msg::History { id, result } => {
                if let Some(d) = self.detail.as_mut().filter(|d| d.id == id) {
                    d.history = match result {
                        Ok(events) => DetailHistory::Loaded(events),
                        Err(e) => DetailHistory::Failed(e),
                    };
                }
                Vec::new()
            }
            Msg::Mouse(ev) => self.on_mouse(ev),
            Msg::AlertFailed { id, error } => {
                let label = self
                    .get(&id)
                    .map_or_else(|| id.to_string(), |i| i.label().to_string());
                self.notify(Level::Error, format!("alert command for {label}: {error}"));
                Vec::new()
            }
            Msg::Problem(text) => {
                self.notify(Level::Error, text);
                Vec::new()
            }
            Msg::Snapshot(snapshot) => {
                self.apply_snapshot(snapshot);
                self.refresh_view();
                Vec::new()
            }
            Msg::Row(row) => {
                match self.index.get(&row.id) {
                    Some(&i) => {
                        let old = &mut self.instances[i];
                        let history = std::mem::take(&mut old.history);
                        let transitions = std::mem::take(&mut old.transitions);
                        let outage_announced = old.outage_announced;
                        self.tally.change(old.state, row.state);
                        self.instances[i] = Instance {
                            history,
                            transitions,
                            outage_announced,
                            ..*row
                        };
                    }
                    None => {
                        self.insert(*row);
                    }
                }
                self.view_dirty = true;
                Vec::new()
            }
            Msg::Link(link) => {
                self.link = Some(link);
                Vec::new()
            }
        }
    }

    /// [`App::update`] with [`Msg::Webhook`], which also tells the index
    /// in [`App::instances`] of the row the event went to (a new one if its
    /// instance was unknown): `serve`'s hub updates the metrics from that row
    /// without looking the id up again or keeping a copy of the event.
    pub fn apply_webhook(&mut self, event: Event, now: DateTime<Utc>) -> (Vec<Command>, usize) {
        self.now = now;
        self.on_event(event)
    }

    fn on_event(&mut self, event: Event) -> (Vec<Command>, usize) {
        self.events += 1;
        self.view_dirty = true;
        let now = self.now;
        let i = match self.index.get(&event.instance_id) {
            Some(&i) => i,
            None => self.insert(Instance::new(event.instance_id.clone(), None, false)),
        };
        let inst = &mut self.instances[i];
        let before = inst.state;
        let mut cmds = Vec::new();
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
                let dated = inst.set_state(state, event.moment, Source::Webhook);
                self.tally.change(before, state);
                match &event.kind {
                    EventKind::Disconnected { error } => {
                        let text = error.as_deref().unwrap_or("disconnected");
                        // reuses the row's allocation (a replay sets it a million times)
                        match &mut inst.last_error {
                            Some(last) => text.clone_into(last),
                            None => inst.last_error = Some(text.to_owned()),
                        }
                    }
                    EventKind::Connected { phone } => {
                        if phone.is_some() {
                            inst.phone.clone_from(phone);
                        }
                    }
                    EventKind::Activity { .. } => {}
                }
                // a disconnect `/status` told undated is counted once dated
                if dated && state == ConnState::Disconnected {
                    self.disconnects_per_minute.add(event.moment, now);
                }
                if before != state {
                    if state == ConnState::Disconnected {
                        self.disconnects_per_minute.add(event.moment, now);
                    }
                    let (on_disconnect, on_connect) = self.settings.alerts;
                    let wanted = match state {
                        ConnState::Disconnected => on_disconnect,
                        ConnState::Connected => on_connect,
                        ConnState::Unknown => false,
                    };
                    if wanted {
                        cmds.push(Command::Alert {
                            event: event.clone(),
                            name: inst.label().to_string(),
                        });
                    }
                }
            }
        }
        if let Some(d) = self.detail.as_mut().filter(|d| d.id == event.instance_id)
            && let DetailHistory::Loaded(events) = &mut d.history
        {
            // newest first, like the log's history; an event stored just
            // before the history was read is in it already
            let pos = events.partition_point(|e| e.moment > event.moment);
            let known = events[pos..]
                .iter()
                .take_while(|e| e.moment == event.moment)
                .any(|e| e == &event);
            if !known {
                events.insert(pos, event.clone());
                events.truncate(DETAIL_HISTORY);
            }
        }
        // history stays ordered by moment, newest last, at most HISTORY_LEN
        // (allocated once, exactly: it never grows past that)
        let pos = inst.history.partition_point(|e| e.moment <= event.moment);
        if inst.history.len() < HISTORY_LEN {
            if inst.history.capacity() == 0 {
                inst.history.reserve_exact(HISTORY_LEN);
            }
            inst.history.insert(pos, event);
        } else if pos > 0 {
            inst.history.pop_front();
            inst.history.insert(pos - 1, event);
        }
        // else: older than every event kept; the log has it
        (cmds, i)
    }

    /// The clock: polls that are due, the bell for new outages, and the
    /// pruning of statistics older than their window (once a minute).
    fn on_tick(&mut self) -> Vec<Command> {
        let now = self.now;
        let mut cmds = Vec::new();
        if let Some(poll) = &mut self.poll {
            for id in poll.due(now) {
                if let Some(&i) = self.index.get(&id) {
                    let inst = &mut self.instances[i];
                    if inst.status != StatusCheck::Pending {
                        inst.status = StatusCheck::Pending;
                        cmds.push(Command::FetchStatus(id));
                    }
                }
            }
        }
        let rules = self.settings.rules;
        let mut new_outage = false;
        for inst in &mut self.instances {
            if !inst.outage_announced && health::outage_since(inst, &rules, now).is_some() {
                inst.outage_announced = true;
                new_outage = true;
            }
        }
        if new_outage && self.bell {
            cmds.push(Command::Bell);
        }
        let minute = now.timestamp().div_euclid(60);
        if minute != self.pruned_minute {
            self.pruned_minute = minute;
            let before = now - chrono::Duration::days(STATS_WINDOW_DAYS);
            for inst in &mut self.instances {
                inst.transitions.settle();
                inst.transitions.prune(before);
            }
        }
        cmds
    }

    fn on_status(&mut self, id: InstanceId, result: Result<Status, ApiError>) {
        let now = self.now;
        let Some(&i) = self.index.get(&id) else {
            return;
        };
        let inst = &mut self.instances[i];
        let label = inst.label().to_string();
        // A call that could not be made (no Client-Token, not configured)
        // failed nowhere: the row stays as it was; the header says why.
        if let Err(ApiError::Config(_)) = &result {
            if inst.status == StatusCheck::Pending {
                inst.status = StatusCheck::Never;
            }
            if let Some(batch) = &mut self.status_batch {
                batch.total = batch.total.saturating_sub(1);
                if batch.finished() {
                    self.status_batch = None;
                }
            }
            return;
        }
        let failed = result.is_err();
        match result {
            Ok(status) => {
                let state = if status.connected {
                    ConnState::Connected
                } else {
                    ConnState::Disconnected
                };
                self.tally.change(inst.state, state);
                // every answer, not only changes: a confirmation settles a
                // late webhook's place in the statistics
                inst.transitions.record(now, state);
                let _ = inst.set_state(state, now, Source::Status);
                // Z-API answers a healthy instance with `"error": "You are
                // already connected."`: with `connected: true` it is no error,
                // and must not replace the last disconnect's reason.
                if let Some(err) = status
                    .error
                    .as_deref()
                    .map(str::trim)
                    .filter(|e| !e.is_empty() && !status.connected)
                {
                    inst.last_error = Some(err.to_string());
                }
                inst.status = StatusCheck::Ok { at: now, status };
            }
            Err(e) => {
                let text = e.to_string();
                inst.status = StatusCheck::Failed {
                    at: now,
                    error: text.clone(),
                };
                if self.status_batch.is_none() {
                    self.notify(Level::Error, format!("status of {label} failed: {text}"));
                }
            }
        }
        if let Some(batch) = &mut self.status_batch {
            batch.done += 1;
            batch.failed += usize::from(failed);
            if batch.finished() {
                let b = *batch;
                self.status_batch = None;
                self.notice = Some(if b.failed == 0 {
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

    fn on_registered(&mut self, id: InstanceId, result: Result<(), ApiError>) {
        let now = self.now;
        let Some(&i) = self.index.get(&id) else {
            return;
        };
        let inst = &mut self.instances[i];
        let label = inst.label().to_string();
        let notice = match &result {
            Ok(()) => {
                inst.registration = Registration::Ok(now);
                Notice {
                    level: Level::Ok,
                    text: format!("webhooks of {label} registered"),
                }
            }
            Err(e) => {
                inst.registration = Registration::Failed(e.to_string());
                Notice {
                    level: Level::Error,
                    text: format!("registering {label} failed: {e}"),
                }
            }
        };
        match &mut self.register_batch {
            Some(batch) => {
                batch.done += 1;
                batch.failed += usize::from(result.is_err());
                if batch.finished() {
                    let b = *batch;
                    self.register_batch = None;
                    let configured = self.instances.iter().filter(|i| i.configured).count();
                    self.notice = Some(if b.failed == 0 {
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
            None => self.notice = Some(notice),
        }
    }

    fn on_hooks(&mut self, id: InstanceId, result: Result<Hooks, ApiError>) {
        let now = self.now;
        let Some(&i) = self.index.get(&id) else {
            return;
        };
        let inst = &mut self.instances[i];
        inst.hooks = match result {
            Ok(hooks) => HookCheck::Ok {
                at: now,
                hooks: Box::new(hooks),
            },
            Err(e) => HookCheck::Failed {
                at: now,
                error: e.to_string(),
            },
        };
    }

    fn on_action_result(
        &mut self,
        id: InstanceId,
        action: InstanceAction,
        result: Result<(), ApiError>,
    ) {
        let now = self.now;
        let Some(&i) = self.index.get(&id) else {
            return;
        };
        let inst = &mut self.instances[i];
        let label = inst.label().to_string();
        let (state, notice) = match result {
            Ok(()) => (
                Outcome::Ok(now),
                Notice {
                    level: Level::Ok,
                    text: format!(
                        "{} of {label} accepted by Z-API: its webhooks will tell how it went",
                        action.word()
                    ),
                },
            ),
            Err(e) => (
                Outcome::Failed(e.to_string()),
                Notice {
                    level: Level::Error,
                    text: format!("{} of {label} failed: {e}", action.word()),
                },
            ),
        };
        inst.action = Some(Box::new(ActionOutcome { action, state }));
        self.notice = Some(notice);
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind != KeyEventKind::Press {
            return Vec::new();
        }
        self.warnings_seen = true;
        self.refresh_if_dirty();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            return vec![Command::Quit];
        }
        if self.replace.is_some() {
            return self.on_replace_key(key.code);
        }
        if let Some(confirm) = &self.confirm {
            // nothing is sent before `y`
            match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    let Confirm { action, targets } = confirm.clone();
                    self.confirm = None;
                    return self.act(action, targets);
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.confirm = None;
                    self.notify(Level::Info, "cancelled: nothing was sent");
                }
                _ => {}
            }
            return Vec::new();
        }
        if self.show_help {
            match (key.code, self.settings.keys.action(&key)) {
                (_, Some(Action::Quit)) => return vec![Command::Quit],
                (KeyCode::Esc | KeyCode::Enter, _) | (_, Some(Action::Help)) => {
                    self.show_help = false
                }
                (_, Some(Action::Down)) => {
                    // no further than the last line
                    let lines = layout::help_lines(self).len() + 2;
                    let max = u16::try_from(lines).unwrap_or(u16::MAX);
                    self.help_scroll = self.help_scroll.saturating_add(1).min(max);
                }
                (_, Some(Action::Up)) => self.help_scroll = self.help_scroll.saturating_sub(1),
                _ => {}
            }
            return Vec::new();
        }
        if self.searching {
            match key.code {
                KeyCode::Esc => {
                    self.searching = false;
                    self.search.clear();
                    self.view_dirty = true;
                }
                KeyCode::Enter => self.searching = false,
                KeyCode::Backspace => {
                    self.search.pop();
                    self.view_dirty = true;
                }
                // a filter longer than any name is of no use; bound it
                KeyCode::Char(c)
                    if !ctrl && !c.is_control() && self.search.chars().count() < 64 =>
                {
                    self.search.push(c);
                    self.view_dirty = true;
                }
                KeyCode::Up => self.select(self.selected.saturating_sub(1)),
                KeyCode::Down => self.select(self.selected.saturating_add(1)),
                _ => {}
            }
            self.refresh_if_dirty();
            return Vec::new();
        }
        if key.code == KeyCode::Esc {
            if self.detail.is_some() {
                self.detail = None;
            } else if !self.search.is_empty() {
                self.search.clear();
                self.view_dirty = true;
                self.refresh_if_dirty();
            } else {
                return vec![Command::Quit];
            }
            return Vec::new();
        }
        let Some(action) = self.settings.keys.action(&key) else {
            return Vec::new();
        };
        if self.detail.is_some()
            && let Some(cmds) = self.on_detail_key(action)
        {
            return cmds;
        }
        let page = self.page_rows().max(1);
        match action {
            Action::Quit => return vec![Command::Quit],
            Action::Help => {
                self.show_help = true;
                self.help_scroll = 0;
            }
            Action::Down => self.select(self.selected.saturating_add(1)),
            Action::Up => self.select(self.selected.saturating_sub(1)),
            Action::PageDown => self.select(self.selected.saturating_add(page)),
            Action::PageUp => self.select(self.selected.saturating_sub(page)),
            Action::Top => self.select(0),
            Action::Bottom => self.select(usize::MAX),
            Action::Detail => return self.open_detail(),
            Action::Mark => {
                if let Some(id) = self.selected_instance().map(|i| i.id.clone()) {
                    if !self.marked.remove(&id) {
                        self.marked.insert(id);
                    }
                    self.select(self.selected.saturating_add(1));
                }
            }
            Action::Search => {
                self.searching = true;
            }
            Action::Sort => {
                self.sort = self.sort.next();
                self.view_dirty = true;
                self.refresh_if_dirty();
                self.notify(Level::Info, format!("sorted by {}", self.sort.word()));
            }
            Action::StateFilter => {
                self.state_filter = self.state_filter.next();
                self.view_dirty = true;
                self.refresh_if_dirty();
                self.notify(
                    Level::Info,
                    format!("showing {} instances", self.state_filter.word()),
                );
            }
            Action::Register => return self.register_selected(),
            Action::RegisterAll => return self.register_all(false),
            Action::RegisterAllForce => return self.register_all(true),
            Action::Refresh => {
                if !self.setup.can_query_status {
                    self.notify(
                        Level::Warn,
                        "cannot ask Z-API: client_token is not set (config or ZAPI_CLIENT_TOKEN)",
                    );
                    return Vec::new();
                }
                return self.fetch_all_status();
            }
            Action::Restart => self.ask_confirm(InstanceAction::Restart),
            Action::Restore => self.ask_confirm(InstanceAction::Restore),
            Action::Bell => {
                self.bell = !self.bell;
                let word = if self.bell { "on" } else { "off" };
                self.notify(Level::Info, format!("bell on new outages: {word}"));
            }
            Action::Mouse => {
                self.mouse = !self.mouse;
                let text = if self.mouse {
                    "mouse on: wheel scrolls, click selects, double click opens"
                } else {
                    "mouse off: the terminal selects text for copying"
                };
                self.notify(Level::Info, text);
                return vec![Command::MouseCapture(self.mouse)];
            }
        }
        Vec::new()
    }

    /// Keys in the detail pane: movement scrolls the history; the rest
    /// acts as on the table (on this instance). `None`: not handled here.
    fn on_detail_key(&mut self, action: Action) -> Option<Vec<Command>> {
        let page = self.page_rows().max(1);
        let d = self.detail.as_mut()?;
        let len = match &d.history {
            DetailHistory::Loaded(events) => events.len(),
            _ => HISTORY_LEN,
        };
        let max = len.saturating_sub(1);
        d.scroll = match action {
            Action::Down => (d.scroll + 1).min(max),
            Action::Up => d.scroll.saturating_sub(1),
            Action::PageDown => (d.scroll + page).min(max),
            Action::PageUp => d.scroll.saturating_sub(page),
            Action::Top => 0,
            Action::Bottom => max,
            Action::Detail => {
                self.detail = None;
                return Some(Vec::new());
            }
            // about the table, not this instance: nothing to do here
            Action::Mark | Action::Search | Action::Sort | Action::StateFilter => {
                return Some(Vec::new());
            }
            _ => return None,
        };
        Some(Vec::new())
    }

    /// Opens the detail pane of the selected row and asks for its history.
    fn open_detail(&mut self) -> Vec<Command> {
        let Some(id) = self.selected_instance().map(|i| i.id.clone()) else {
            self.notify(Level::Info, "no instance selected");
            return Vec::new();
        };
        self.detail = Some(Detail {
            id: id.clone(),
            scroll: 0,
            history: DetailHistory::Loading,
        });
        vec![Command::LoadHistory(id)]
    }

    /// The instances an action applies to: the marked ones if any, else
    /// the detail pane's or the selected one.
    fn targets(&self) -> Vec<usize> {
        if !self.marked.is_empty() {
            let mut v: Vec<usize> = self
                .marked
                .iter()
                .filter_map(|id| self.index.get(id).copied())
                .collect();
            v.sort_unstable();
            return v;
        }
        if let Some(d) = &self.detail {
            return self.index.get(&d.id).copied().into_iter().collect();
        }
        self.order.get(self.selected).copied().into_iter().collect()
    }

    /// `x` / `e`: opens the confirmation popup for the targets.
    fn ask_confirm(&mut self, action: InstanceAction) {
        let targets: Vec<usize> = self.targets();
        if targets.is_empty() {
            self.notify(Level::Info, "no instance selected");
            return;
        }
        if !self.setup.can_query_status {
            self.notify(
                Level::Warn,
                format!(
                    "nothing sent: set client_token in the config (or ZAPI_CLIENT_TOKEN) to {}",
                    action.word()
                ),
            );
            return;
        }
        let configured: Vec<InstanceId> = targets
            .iter()
            .map(|&i| &self.instances[i])
            .filter(|i| i.configured)
            .map(|i| i.id.clone())
            .collect();
        if configured.is_empty() {
            self.notify(
                Level::Warn,
                format!(
                    "cannot {}: not configured (add its id and token to the config)",
                    action.word()
                ),
            );
            return;
        }
        self.confirm = Some(Confirm {
            action,
            targets: configured,
        });
    }

    /// Sends the confirmed restart or restore.
    fn act(&mut self, action: InstanceAction, targets: Vec<InstanceId>) -> Vec<Command> {
        let mut cmds = Vec::new();
        for id in targets {
            let Some(&i) = self.index.get(&id) else {
                continue;
            };
            let inst = &mut self.instances[i];
            if matches!(&inst.action, Some(a) if a.state == Outcome::Pending) {
                continue; // one call in flight per instance
            }
            inst.action = Some(Box::new(ActionOutcome {
                action,
                state: Outcome::Pending,
            }));
            cmds.push(Command::Act(id, action));
        }
        self.marked.clear();
        let n = cmds.len();
        self.notify(
            Level::Info,
            match n {
                0 => format!("{}: already running", action.word()),
                1 => format!("{}: sent…", action.word()),
                n => format!("{}: sent for {n} instances…", action.word()),
            },
        );
        cmds
    }

    fn on_mouse(&mut self, ev: MouseEvent) -> Vec<Command> {
        if !self.mouse || self.confirm.is_some() || self.replace.is_some() || self.show_help {
            return Vec::new();
        }
        self.refresh_if_dirty();
        match ev.kind {
            MouseEventKind::ScrollDown => {
                if let Some(d) = &mut self.detail {
                    d.scroll = d.scroll.saturating_add(3);
                } else {
                    self.select(self.selected.saturating_add(3));
                }
            }
            MouseEventKind::ScrollUp => {
                if let Some(d) = &mut self.detail {
                    d.scroll = d.scroll.saturating_sub(3);
                } else {
                    self.select(self.selected.saturating_sub(3));
                }
            }
            MouseEventKind::Down(MouseButton::Left) if self.detail.is_none() => {
                let Some(pos) = layout::row_at(self, ev.row) else {
                    return Vec::new();
                };
                self.select(pos);
                let double = self.last_click.is_some_and(|(at, p)| {
                    p == pos && (self.now - at).num_milliseconds() <= DOUBLE_CLICK_MS
                });
                if double {
                    self.last_click = None;
                    return self.open_detail();
                }
                self.last_click = Some((self.now, pos));
            }
            _ => {}
        }
        Vec::new()
    }

    /// Rebuilds the display order before a frame, if anything changed
    /// since the last one. The loop calls it; the view only reads.
    pub fn prepare(&mut self) {
        self.refresh_if_dirty();
    }

    fn refresh_if_dirty(&mut self) {
        if self.view_dirty {
            self.refresh_view();
        }
    }

    /// The display order: the filter, then the sort, as indexes into
    /// `instances`; the selection stays on the same instance.
    fn refresh_view(&mut self) {
        self.view_dirty = false;
        if self.stats_unsettled {
            self.stats_unsettled = false;
            for inst in &mut self.instances {
                inst.transitions.settle();
            }
        }
        let selected = self.order.get(self.selected).copied();
        let now = self.now;
        let rules = self.settings.rules;
        let needle = self.search.to_lowercase();
        let day_ago = now - chrono::Duration::hours(24);
        let mut problems = 0;
        let mut keyed: Vec<(i64, usize)> = Vec::with_capacity(self.instances.len());
        for (i, inst) in self.instances.iter().enumerate() {
            let rank = health::rank(inst, &rules, now);
            if rank >= 2 {
                problems += 1;
            }
            let shown = match self.state_filter {
                StateFilter::All => true,
                StateFilter::Down => inst.state == ConnState::Disconnected,
                StateFilter::Up => inst.state == ConnState::Connected,
                StateFilter::Drifted => health::drifted(inst),
            };
            if !shown || (!needle.is_empty() && !matches_search(inst, &needle, &rules, now)) {
                continue;
            }
            let key = match self.sort {
                SortKey::Problems => -i64::from(rank),
                SortKey::Name | SortKey::LastChange => 0,
                SortKey::Disconnects => {
                    -i64::try_from(inst.transitions.disconnects(day_ago, now)).unwrap_or(i64::MAX)
                }
            };
            keyed.push((key, i));
        }
        match self.sort {
            SortKey::Name => {
                keyed.sort_by_cached_key(|&(_, i)| (self.instances[i].label().to_lowercase(), i))
            }
            SortKey::LastChange => {
                keyed.sort_by_key(|&(_, i)| (std::cmp::Reverse(self.instances[i].last_change), i))
            }
            _ => keyed.sort_unstable(),
        }
        self.problems = problems;
        self.order.clear();
        self.order.extend(keyed.into_iter().map(|(_, i)| i));
        let pos = selected.and_then(|s| self.order.iter().position(|&i| i == s));
        self.select(pos.unwrap_or(self.selected));
    }

    fn select(&mut self, pos: usize) {
        self.selected = pos.min(self.order.len().saturating_sub(1));
        self.scroll_to_selected();
    }

    fn scroll_to_selected(&mut self) {
        let rows = self.page_rows().max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        let max_offset = self.order.len().saturating_sub(rows);
        self.offset = self.offset.min(max_offset);
    }

    fn fetch_all_status(&mut self) -> Vec<Command> {
        if self.status_batch.is_some() {
            self.notify(Level::Info, "status refresh already running");
            return Vec::new();
        }
        let mut cmds = Vec::new();
        let hooks = self.settings.can_check_hooks;
        for inst in self.instances.iter_mut().filter(|i| i.configured) {
            if inst.status != StatusCheck::Pending {
                inst.status = StatusCheck::Pending;
                cmds.push(Command::FetchStatus(inst.id.clone()));
            }
            // `/me` too: which URLs Z-API sends the webhooks to (drift)
            if hooks && inst.hooks != HookCheck::Pending {
                inst.hooks = HookCheck::Pending;
                cmds.push(Command::FetchHooks(inst.id.clone()));
            }
        }
        // A call already in flight reports back too, so it counts in the batch.
        let total = self.instances.iter().filter(|i| i.configured).count();
        if total > 0 {
            self.status_batch = Some(Batch {
                total,
                ..Batch::default()
            });
            self.notify(
                Level::Info,
                format!("asking Z-API the status of {total} instances…"),
            );
        }
        cmds
    }

    fn register_blocked(&mut self) -> bool {
        if let Some(missing) = self.setup.missing_for_register {
            let how = if missing == "client_token" {
                " (or ZAPI_CLIENT_TOKEN)"
            } else {
                " (or --public-url)"
            };
            self.notify(
                Level::Warn,
                format!("nothing sent: set {missing} in the config{how} to re-register webhooks"),
            );
            return true;
        }
        false
    }

    /// `r`: the marked instances, else the selected (or detail) one.
    fn register_selected(&mut self) -> Vec<Command> {
        let targets = self.targets();
        let Some(&first) = targets.first() else {
            self.notify(Level::Info, "no instance selected");
            return Vec::new();
        };
        if self.register_blocked() {
            return Vec::new();
        }
        if targets.len() > 1 {
            self.marked.clear();
            return self.register_batch_of(targets);
        }
        let inst = &self.instances[first];
        let label = inst.label().to_string();
        let configured = inst.configured;
        let text = if !configured {
            format!(
                "{label} is not configured: add its id and token to the config to re-register it"
            )
        } else if inst.registration == Registration::Pending {
            format!("{label}: registration already running")
        } else if self.guard_register(&[first], false) {
            return Vec::new();
        } else {
            let inst = &mut self.instances[first];
            inst.registration = Registration::Pending;
            let id = inst.id.clone();
            self.marked.clear();
            self.notify(Level::Info, format!("registering webhooks of {label}…"));
            return vec![Command::Register(id)];
        };
        let level = if configured { Level::Info } else { Level::Warn };
        self.notify(level, text);
        Vec::new()
    }

    /// `R`: the marked instances if any, else every configured instance
    /// whose webhooks are not known to point here (drifted, never
    /// registered, failed); `force` (`ctrl-r`): every configured instance.
    fn register_all(&mut self, force: bool) -> Vec<Command> {
        if self.register_blocked() {
            return Vec::new();
        }
        if !force && !self.marked.is_empty() {
            let targets = self.targets();
            self.marked.clear();
            return self.register_batch_of(targets);
        }
        let targets: Vec<usize> = self
            .instances
            .iter()
            .enumerate()
            .filter(|(_, i)| i.configured && (force || health::hooks_here(i) != Some(true)))
            .map(|(n, _)| n)
            .collect();
        if targets.is_empty() && !force && self.instances.iter().any(|i| i.configured) {
            self.notify(
                Level::Ok,
                format!(
                    "every instance's webhooks point here already ({} forces all)",
                    self.settings.keys.keys_of(Action::RegisterAllForce)
                ),
            );
            return Vec::new();
        }
        self.register_batch_of(targets)
    }

    fn register_batch_of(&mut self, targets: Vec<usize>) -> Vec<Command> {
        if self.register_batch.is_some() {
            self.notify(Level::Info, "re-registration already running");
            return Vec::new();
        }
        // another system's webhook URLs are replaced only after `y`
        if self.guard_register(&targets, true) {
            return Vec::new();
        }
        self.send_register_batch(targets, &HashSet::new())
    }

    /// Registers `targets` as one batch; those in `replacing` were
    /// confirmed to replace another system's URL.
    fn send_register_batch(
        &mut self,
        targets: Vec<usize>,
        replacing: &HashSet<InstanceId>,
    ) -> Vec<Command> {
        let mut cmds = Vec::new();
        let mut total = 0;
        for i in targets {
            let inst = &mut self.instances[i];
            if !inst.configured {
                continue;
            }
            total += 1;
            if inst.registration != Registration::Pending {
                inst.registration = Registration::Pending;
                let replace = replacing.contains(&inst.id);
                cmds.push(register_guard::register_command(inst.id.clone(), replace));
            }
        }
        // A registration already in flight reports back too, so it counts in the batch.
        if total == 0 {
            self.notify(Level::Info, "no configured instance to register");
        } else {
            self.register_batch = Some(Batch {
                total,
                ..Batch::default()
            });
            self.notice = None;
        }
        cmds
    }
}

/// Whether a row matches the `/` filter (`needle` is lowercase): its name,
/// id, last error or warning contain it.
fn matches_search(inst: &Instance, needle: &str, rules: &Rules, now: DateTime<Utc>) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    has(inst.label())
        || has(inst.id.as_str())
        || inst.last_error.as_deref().is_some_and(has)
        || health::note(inst, rules, now).is_some_and(|n| has(&n))
}

#[cfg(test)]
mod tests;
