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

#[path = "register_guard.rs"]
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
        crate::ui::table_rows(self.size.1)
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
                    let lines = crate::ui::help::lines(self).len() + 2;
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
                let Some(pos) = crate::ui::row_at(self, ev.row) else {
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
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use crossterm::event::KeyEventState;

    pub(super) fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_000_000 + secs, 0).unwrap()
    }

    fn setup(n: usize, missing: Option<&'static str>) -> Setup {
        Setup {
            listen: "http://127.0.0.1:8787".into(),
            config_file: Some("/tmp/c.toml".into()),
            instances: (0..n)
                .map(|i| (InstanceId::new(format!("I{i}")), Some(format!("Name {i}"))))
                .collect(),
            missing_for_register: missing,
            can_query_status: missing != Some("client_token"),
            tz: TimeZone::Fixed(FixedOffset::east_opt(0).unwrap()),
            banner: None,
            warnings: Vec::new(),
            secret_paths: false,
        }
    }

    pub(super) fn app(n: usize) -> App {
        App::new(setup(n, None), t(0))
    }

    pub(super) fn key(c: KeyCode) -> Msg {
        Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
    }

    fn ev(id: &str, kind: EventKind, moment: i64, received: i64) -> Msg {
        Msg::Webhook(Event {
            instance_id: InstanceId::new(id),
            kind,
            moment: t(moment),
            received: t(received),
        })
    }

    fn down(id: &str, moment: i64, error: &str) -> Msg {
        ev(
            id,
            EventKind::Disconnected {
                error: Some(error.into()),
            },
            moment,
            moment,
        )
    }

    fn up(id: &str, moment: i64) -> Msg {
        ev(
            id,
            EventKind::Connected {
                phone: Some("5544999999999".into()),
            },
            moment,
            moment,
        )
    }

    fn inst<'a>(app: &'a App, id: &str) -> &'a Instance {
        app.get(&InstanceId::new(id)).unwrap()
    }

    fn http_err(status: u16, message: &str) -> ApiError {
        ApiError::Http {
            status,
            message: message.into(),
        }
    }

    #[test]
    fn disconnect_webhook_sets_row() {
        let mut a = app(2);
        assert!(
            a.update(down("I1", 10, "Device has been disconnected"), t(11))
                .is_empty()
        );
        let i = inst(&a, "I1");
        assert_eq!(i.state, ConnState::Disconnected);
        assert_eq!(
            i.last_error.as_deref(),
            Some("Device has been disconnected")
        );
        assert_eq!(i.last_change, Some(t(10)));
        assert_eq!(i.source, Some(Source::Webhook));
        assert_eq!(a.counts(), (0, 1, 1));
        assert_eq!(inst(&a, "I0").state, ConnState::Unknown);
    }

    #[test]
    fn connect_after_disconnect_changes_state_and_keeps_last_error() {
        let mut a = app(1);
        a.update(down("I0", 10, "boom"), t(10));
        a.update(up("I0", 20), t(20));
        let i = inst(&a, "I0");
        assert_eq!(i.state, ConnState::Connected);
        assert_eq!(i.last_change, Some(t(20)));
        assert_eq!(i.last_error.as_deref(), Some("boom"));
        assert_eq!(i.phone.as_deref(), Some("5544999999999"));
    }

    #[test]
    fn late_older_event_goes_to_history_but_not_state() {
        let mut a = app(1);
        a.update(up("I0", 20), t(21));
        a.update(down("I0", 10, "old news"), t(22));
        let i = inst(&a, "I0");
        assert_eq!(i.state, ConnState::Connected);
        assert_eq!(i.last_change, Some(t(20)));
        assert_eq!(i.last_error, None);
        let moments: Vec<_> = i.history.iter().map(|e| e.moment).collect();
        assert_eq!(moments, vec![t(10), t(20)], "history is ordered by moment");
    }

    #[test]
    fn same_state_again_keeps_change_time_but_updates_error() {
        let mut a = app(1);
        a.update(down("I0", 10, "first"), t(10));
        a.update(down("I0", 30, "second"), t(30));
        let i = inst(&a, "I0");
        assert_eq!(i.last_change, Some(t(10)));
        assert_eq!(i.last_error.as_deref(), Some("second"));
    }

    #[test]
    fn activity_counts_as_life_but_not_state() {
        let mut a = app(1);
        a.update(
            ev(
                "I0",
                EventKind::Activity {
                    callback: "ReceivedCallback".into(),
                },
                5,
                6,
            ),
            t(6),
        );
        let i = inst(&a, "I0");
        assert_eq!(i.state, ConnState::Unknown);
        assert_eq!(i.last_activity, Some(t(6)));
        assert_eq!(i.history.len(), 1);
        assert_eq!(a.events, 1);
    }

    #[test]
    fn unknown_instance_appears_unconfigured_and_cannot_be_registered() {
        let mut a = app(1);
        a.update(down("STRANGER", 10, "x"), t(10));
        assert_eq!(a.instances.len(), 2);
        let i = inst(&a, "STRANGER");
        assert!(!i.configured);
        assert_eq!(i.label(), "STRANGER");
        // down, so sorted first
        a.update(key(KeyCode::Home), t(11));
        assert_eq!(a.selected_instance().unwrap().id.as_str(), "STRANGER");
        assert!(a.update(key(KeyCode::Char('r')), t(12)).is_empty());
        assert!(a.notice.as_ref().unwrap().text.contains("not configured"));
        // R only asks for configured instances
        assert_eq!(
            a.update(key(KeyCode::Char('R')), t(13)),
            vec![Command::Register(InstanceId::new("I0"))]
        );
    }

    #[test]
    fn status_answer_is_applied_when_it_arrives() {
        let mut a = app(1);
        let cmds = a.init();
        assert_eq!(cmds, vec![Command::FetchStatus(InstanceId::new("I0"))]);
        assert_eq!(inst(&a, "I0").status, StatusCheck::Pending);
        let status = Status {
            connected: false,
            error: Some("You need to restore the session.".into()),
            smartphone_connected: Some(true),
        };
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("I0"),
                result: Ok(status.clone()),
            },
            t(5),
        );
        let i = inst(&a, "I0");
        assert_eq!(i.state, ConnState::Disconnected);
        assert_eq!(i.source, Some(Source::Status));
        assert_eq!(
            i.last_error.as_deref(),
            Some("You need to restore the session.")
        );
        assert_eq!(
            i.last_change, None,
            "the first status answer does not invent a change time"
        );
        assert_eq!(i.status, StatusCheck::Ok { at: t(5), status });
        assert_eq!(a.status_batch, None);
        assert_eq!(a.notice.as_ref().unwrap().level, Level::Ok);

        // a later answer that differs is a change we saw happen
        let ok = Status {
            connected: true,
            error: None,
            smartphone_connected: Some(true),
        };
        a.update(key(KeyCode::Char('s')), t(6));
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("I0"),
                result: Ok(ok),
            },
            t(9),
        );
        assert_eq!(inst(&a, "I0").state, ConnState::Connected);
        assert_eq!(inst(&a, "I0").last_change, Some(t(9)));

        // and a webhook says otherwise afterwards
        a.update(down("I0", 12, "Device has been disconnected"), t(12));
        assert_eq!(inst(&a, "I0").state, ConnState::Disconnected);
        assert_eq!(inst(&a, "I0").source, Some(Source::Webhook));
    }

    #[test]
    fn status_error_is_reported_with_status_and_text() {
        let mut a = app(2);
        a.init();
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("I0"),
                result: Err(http_err(400, "Instance not found")),
            },
            t(1),
        );
        assert!(
            matches!(&inst(&a, "I0").status, StatusCheck::Failed { error, .. } if error.contains("400") && error.contains("Instance not found"))
        );
        assert_eq!(
            a.status_batch,
            Some(Batch {
                total: 2,
                done: 1,
                failed: 1
            })
        );
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("I1"),
                result: Ok(Status {
                    connected: true,
                    error: None,
                    smartphone_connected: None,
                }),
            },
            t(2),
        );
        let n = a.notice.clone().unwrap();
        assert_eq!(n.level, Level::Error);
        assert!(n.text.contains("1 failed"), "{}", n.text);
        assert_eq!(
            inst(&a, "I0").state,
            ConnState::Unknown,
            "a failed call changes no state"
        );
    }

    #[test]
    fn init_without_client_token_sends_nothing_and_says_so() {
        let mut a = App::new(setup(3, Some("client_token")), t(0));
        assert!(a.init().is_empty());
        // the header says it, for as long as it lasts; not every row
        assert!(!a.setup.can_query_status);
        assert!(a.update(key(KeyCode::Char('s')), t(1)).is_empty());
        assert!(a.notice.as_ref().unwrap().text.contains("client_token"));
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("I0"),
                result: Err(ApiError::Config("client_token is not set".into())),
            },
            t(2),
        );
        assert_eq!(inst(&a, "I0").status, StatusCheck::Never);
        assert!(!health::is_problem(inst(&a, "I0"), &a.settings.rules, t(2)));
    }

    #[test]
    fn register_needs_public_url_and_client_token() {
        for missing in ["public_url", "client_token"] {
            let mut a = App::new(setup(2, Some(missing)), t(0));
            assert!(a.update(key(KeyCode::Char('r')), t(1)).is_empty());
            assert!(a.notice.as_ref().unwrap().text.contains(missing));
            assert!(a.update(key(KeyCode::Char('R')), t(1)).is_empty());
            assert!(a.notice.as_ref().unwrap().text.contains(missing));
            assert!(
                a.instances
                    .iter()
                    .all(|i| i.registration == Registration::Never)
            );
        }
    }

    #[test]
    fn register_selected_then_result_lands_in_row() {
        let mut a = app(3);
        a.update(key(KeyCode::Char('j')), t(0));
        assert_eq!(
            a.update(key(KeyCode::Char('r')), t(1)),
            vec![Command::Register(InstanceId::new("I1"))]
        );
        assert_eq!(inst(&a, "I1").registration, Registration::Pending);
        assert!(
            a.update(key(KeyCode::Char('r')), t(1)).is_empty(),
            "one in-flight call per instance"
        );
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new("I1"),
                result: Ok(()),
            },
            t(2),
        );
        assert_eq!(inst(&a, "I1").registration, Registration::Ok(t(2)));
        assert_eq!(a.notice.as_ref().unwrap().level, Level::Ok);

        a.update(key(KeyCode::Char('r')), t(3));
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new("I1"),
                result: Err(http_err(400, "null not allowed")),
            },
            t(4),
        );
        assert_eq!(
            inst(&a, "I1").registration,
            Registration::Failed("HTTP 400: null not allowed".into())
        );
        let n = a.notice.clone().unwrap();
        assert_eq!(n.level, Level::Error);
        assert!(n.text.contains("HTTP 400: null not allowed"));
    }

    #[test]
    fn register_all_shows_progress_and_summary() {
        let mut a = app(3);
        let cmds = a.update(key(KeyCode::Char('R')), t(0));
        assert_eq!(cmds.len(), 3);
        assert!(
            a.update(key(KeyCode::Char('R')), t(0)).is_empty(),
            "no second batch while one runs"
        );
        assert_eq!(
            a.register_batch,
            Some(Batch {
                total: 3,
                done: 0,
                failed: 0
            })
        );
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new("I0"),
                result: Ok(()),
            },
            t(1),
        );
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new("I2"),
                result: Err(http_err(500, "oops")),
            },
            t(1),
        );
        assert_eq!(
            a.register_batch,
            Some(Batch {
                total: 3,
                done: 2,
                failed: 1
            })
        );
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new("I1"),
                result: Ok(()),
            },
            t(2),
        );
        assert_eq!(a.register_batch, None);
        let n = a.notice.clone().unwrap();
        assert_eq!(n.level, Level::Error);
        assert!(n.text.contains("2/3"), "{}", n.text);
    }

    #[test]
    fn navigation_stays_in_bounds_and_scrolls() {
        let mut a = app(50);
        a.update(Msg::Resize(80, 24), t(0));
        let page = a.page_rows();
        assert_eq!(page, 17);
        a.update(key(KeyCode::Up), t(0));
        assert_eq!(a.selected, 0);
        a.update(key(KeyCode::PageDown), t(0));
        assert_eq!(a.selected, page);
        assert!(a.selected >= a.offset && a.selected < a.offset + page);
        a.update(key(KeyCode::End), t(0));
        assert_eq!(a.selected, 49);
        assert_eq!(a.offset, 50 - page);
        a.update(key(KeyCode::Down), t(0));
        assert_eq!(a.selected, 49);
        a.update(key(KeyCode::Home), t(0));
        assert_eq!((a.selected, a.offset), (0, 0));
        a.update(key(KeyCode::Char('j')), t(0));
        a.update(key(KeyCode::Char('k')), t(0));
        assert_eq!(a.selected, 0);
        // a tiny terminal does not break anything
        a.update(Msg::Resize(20, 5), t(0));
        a.update(key(KeyCode::PageDown), t(0));
        assert_eq!(a.selected, 1);
    }

    #[test]
    fn quit_keys_and_help() {
        for c in [KeyCode::Char('q'), KeyCode::Esc] {
            assert_eq!(app(1).update(key(c), t(0)), vec![Command::Quit]);
        }
        let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(app(1).update(ctrl_c.clone(), t(0)), vec![Command::Quit]);

        let mut a = app(3);
        a.update(key(KeyCode::Char('?')), t(0));
        assert!(a.show_help);
        a.update(key(KeyCode::Char('j')), t(0));
        assert_eq!(a.selected, 0, "keys do not act behind the help");
        a.update(key(KeyCode::Esc), t(0));
        assert!(!a.show_help, "Esc closes help rather than quitting");
        a.update(key(KeyCode::Char('?')), t(0));
        assert_eq!(a.update(ctrl_c, t(0)), vec![Command::Quit]);
    }

    #[test]
    fn key_release_is_ignored() {
        let mut a = app(1);
        let mut k = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        k.kind = KeyEventKind::Release;
        k.state = KeyEventState::NONE;
        assert!(a.update(Msg::Key(k), t(0)).is_empty());
    }

    #[test]
    fn history_is_bounded() {
        let mut a = app(1);
        for s in 0..(HISTORY_LEN as i64 + 25) {
            a.update(down("I0", s, "x"), t(s));
        }
        let i = inst(&a, "I0");
        assert_eq!(i.history.len(), HISTORY_LEN);
        assert_eq!(i.history.back().unwrap().moment, t(HISTORY_LEN as i64 + 24));
    }

    #[test]
    fn history_keeps_the_newest_exactly_and_counts_follow_states() {
        let mut a = app(3);
        for s in 10..(10 + HISTORY_LEN as i64) {
            a.update(down("I0", s, "x"), t(s));
        }
        // older than every event kept: stays in the log only
        a.update(up("I0", 1), t(100));
        let i = inst(&a, "I0");
        assert_eq!(i.history.len(), HISTORY_LEN);
        assert_eq!(i.history.capacity(), HISTORY_LEN, "allocated once, exactly");
        assert_eq!(i.history.front().unwrap().moment, t(10));
        // a late one inside the window pushes out the oldest
        a.update(up("I0", 11), t(101));
        let moments: Vec<_> = inst(&a, "I0").history.iter().map(|e| e.moment).collect();
        assert_eq!(moments.len(), HISTORY_LEN);
        assert_eq!(&moments[..2], &[t(11), t(11)]);
        assert!(moments.is_sorted());

        assert_eq!(a.counts(), (0, 1, 2));
        a.update(up("I1", 5), t(102));
        a.update(down("STRANGER", 5, "x"), t(102));
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("I2"),
                result: Ok(Status {
                    connected: false,
                    error: None,
                    smartphone_connected: None,
                }),
            },
            t(103),
        );
        assert_eq!(a.counts(), (1, 3, 0));
        let mut row = inst(&a, "I1").clone();
        row.state = ConnState::Disconnected;
        a.update(Msg::Row(Box::new(row)), t(104));
        assert_eq!(a.counts(), (0, 4, 0));
        a.update(Msg::Snapshot(a.snapshot(0)), t(105));
        assert_eq!(a.counts(), (0, 4, 0));
    }

    #[test]
    fn results_for_unknown_ids_are_ignored() {
        let mut a = app(1);
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new("nope"),
                result: Ok(()),
            },
            t(0),
        );
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("nope"),
                result: Err(http_err(500, "x")),
            },
            t(0),
        );
        assert_eq!(a.instances.len(), 1);
    }

    #[test]
    fn start_warnings_and_problems_reach_the_footer() {
        let mut s = setup(1, None);
        s.warnings = vec![
            "2 corrupt records skipped".into(),
            "config readable by others".into(),
        ];
        let mut a = App::new(s, t(0));
        a.init();
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("I0"),
                result: Err(http_err(500, "x")),
            },
            t(1),
        );
        let w = a.pending_warnings().unwrap();
        assert!(
            w.contains("2 corrupt records skipped") && w.contains("readable"),
            "{w}"
        );
        a.update(key(KeyCode::Char('j')), t(1));
        assert_eq!(
            a.pending_warnings(),
            None,
            "a key acknowledges the warnings"
        );
        a.update(Msg::Problem("event log: disk full".into()), t(1));
        let n = a.notice.clone().unwrap();
        assert_eq!(
            (n.level, n.text.as_str()),
            (Level::Error, "event log: disk full")
        );
    }

    // ---- the operator's view ----------------------------------------

    pub(super) fn ch(c: char) -> Msg {
        key(KeyCode::Char(c))
    }

    pub(super) fn ctrl(c: char) -> Msg {
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
    }

    fn status(connected: bool, error: Option<&str>) -> Status {
        Status {
            connected,
            error: error.map(Into::into),
            smartphone_connected: Some(true),
        }
    }

    fn hooks(here: bool) -> Hooks {
        Hooks {
            disconnected: Some("https://elsewhere.example/hook".into()),
            connected: Some("https://elsewhere.example/hook".into()),
            received: None,
            here,
            foreign: Vec::new(),
        }
    }

    fn labels(a: &App) -> Vec<String> {
        a.order
            .iter()
            .map(|&i| a.instances[i].id.to_string())
            .collect()
    }

    #[test]
    fn problems_sort_first_and_o_cycles_the_sort() {
        let mut a = app(4);
        a.update(up("I0", 100), t(100));
        a.update(up("I1", 100), t(100));
        a.update(down("I2", 100, "x"), t(100)); // will be an outage
        a.update(down("I3", 150, "y"), t(150)); // down, not yet an outage
        a.update(Msg::Tick, t(170));
        assert_eq!(
            labels(&a),
            ["I2", "I3", "I0", "I1"],
            "outage, down, then up"
        );
        assert_eq!(a.problems, 2);
        a.update(ch('o'), t(171));
        assert_eq!(a.sort, SortKey::Name);
        assert_eq!(labels(&a), ["I0", "I1", "I2", "I3"]);
        a.update(ch('o'), t(172));
        assert_eq!(a.sort, SortKey::Disconnects);
        a.update(ch('o'), t(173));
        assert_eq!(a.sort, SortKey::LastChange);
        assert_eq!(labels(&a)[0], "I3", "the most recent change first");
        a.update(ch('o'), t(174));
        assert_eq!(a.sort, SortKey::Problems);
    }

    #[test]
    fn selection_follows_its_instance_when_the_order_changes() {
        let mut a = app(3);
        a.update(key(KeyCode::End), t(0));
        assert_eq!(a.selected_instance().unwrap().id.as_str(), "I2");
        a.update(down("I2", 10, "x"), t(10));
        a.prepare();
        assert_eq!(labels(&a)[0], "I2");
        assert_eq!(
            a.selected_instance().unwrap().id.as_str(),
            "I2",
            "still on I2 after it moved to the top"
        );
    }

    #[test]
    fn slash_filters_as_you_type_and_esc_clears() {
        let mut a = app(12);
        a.update(down("I3", 10, "You need to restore the session."), t(10));
        a.update(ch('/'), t(11));
        assert!(a.searching);
        for c in "name 1".chars() {
            a.update(ch(c), t(11));
        }
        // "Name 1", "Name 10", "Name 11"
        assert_eq!(a.order.len(), 3, "{:?}", labels(&a));
        a.update(key(KeyCode::Backspace), t(11));
        a.update(key(KeyCode::Backspace), t(11));
        assert_eq!(a.order.len(), 12, "\"name \" matches all");
        a.update(key(KeyCode::Esc), t(12));
        assert!(!a.searching && a.search.is_empty());
        // by error text, and Enter keeps the filter while keys act again
        a.update(ch('/'), t(13));
        for c in "RESTORE".chars() {
            a.update(ch(c), t(13));
        }
        a.update(key(KeyCode::Enter), t(13));
        assert_eq!(labels(&a), ["I3"]);
        assert!(!a.searching);
        a.update(ch('j'), t(13));
        assert_eq!(a.selected, 0);
        // typing q into the filter does not quit
        a.update(ch('/'), t(14));
        assert!(a.update(ch('q'), t(14)).is_empty());
        assert_eq!(a.search, "RESTOREq");
        assert!(a.order.is_empty(), "nothing matches");
        // Esc while typing clears; Esc again (no filter) quits
        a.update(key(KeyCode::Esc), t(14));
        assert_eq!(a.order.len(), 12);
        assert_eq!(a.update(key(KeyCode::Esc), t(14)), vec![Command::Quit]);
    }

    #[test]
    fn f_cycles_the_state_filter() {
        let mut a = app(4);
        a.update(up("I0", 10), t(10));
        a.update(down("I1", 10, "x"), t(10));
        a.update(
            Msg::HooksResult {
                id: InstanceId::new("I2"),
                result: Ok(hooks(false)),
            },
            t(11),
        );
        a.update(ch('f'), t(12));
        assert_eq!(a.state_filter, StateFilter::Down);
        assert_eq!(labels(&a), ["I1"]);
        a.update(ch('f'), t(12));
        assert_eq!(labels(&a), ["I0"]);
        a.update(ch('f'), t(12));
        assert_eq!(a.state_filter, StateFilter::Drifted);
        assert_eq!(labels(&a), ["I2"]);
        a.update(ch('f'), t(12));
        assert_eq!(a.order.len(), 4);
    }

    #[test]
    fn restart_asks_first_and_sends_nothing_before_y() {
        let mut a = app(2);
        assert!(a.update(ch('x'), t(1)).is_empty());
        let c = a.confirm.clone().expect("a confirmation popup");
        assert_eq!(c.action, InstanceAction::Restart);
        assert_eq!(c.targets, vec![InstanceId::new("I0")]);
        // other keys do nothing while it is open
        assert!(a.update(ch('j'), t(1)).is_empty());
        assert!(
            a.update(ch('q'), t(1)).is_empty(),
            "q does not quit behind it"
        );
        assert_eq!(a.selected, 0);
        assert!(a.update(ch('n'), t(1)).is_empty());
        assert!(a.confirm.is_none());
        assert!(a.instances.iter().all(|i| i.action.is_none()));
        // Esc cancels too
        a.update(ch('e'), t(2));
        assert!(a.update(key(KeyCode::Esc), t(2)).is_empty());
        assert!(a.confirm.is_none());
        // y sends it
        a.update(ch('e'), t(3));
        assert_eq!(
            a.update(ch('y'), t(3)),
            vec![Command::Act(InstanceId::new("I0"), InstanceAction::Restore)]
        );
        assert_eq!(
            inst(&a, "I0").action.as_deref().map(|o| &o.state),
            Some(&Outcome::Pending)
        );
        a.update(
            Msg::ActionResult {
                id: InstanceId::new("I0"),
                action: InstanceAction::Restore,
                result: Err(http_err(400, "Instance not found")),
            },
            t(4),
        );
        assert_eq!(
            inst(&a, "I0").action.as_deref().map(|o| &o.state),
            Some(&Outcome::Failed("HTTP 400: Instance not found".into()))
        );
        let n = a.notice.clone().unwrap();
        assert_eq!(n.level, Level::Error);
        assert!(n.text.contains("Instance not found"), "{}", n.text);
    }

    #[test]
    fn space_marks_rows_and_actions_take_the_marks() {
        let mut a = app(4);
        a.update(ch(' '), t(0)); // marks I0, moves to I1
        a.update(ch('j'), t(0));
        a.update(ch(' '), t(0)); // marks I2
        assert_eq!(a.marked.len(), 2);
        a.update(ch('x'), t(1));
        assert_eq!(
            a.confirm.as_ref().unwrap().targets,
            vec![InstanceId::new("I0"), InstanceId::new("I2")]
        );
        let cmds = a.update(ch('y'), t(1));
        assert_eq!(
            cmds,
            vec![
                Command::Act(InstanceId::new("I0"), InstanceAction::Restart),
                Command::Act(InstanceId::new("I2"), InstanceAction::Restart),
            ]
        );
        assert!(a.marked.is_empty(), "the marks are used up");
        // R with marks registers the marked
        a.update(key(KeyCode::Home), t(2));
        a.update(ch(' '), t(2));
        a.update(ch(' '), t(2));
        let cmds = a.update(ch('R'), t(2));
        assert_eq!(
            cmds,
            vec![
                Command::Register(InstanceId::new("I0")),
                Command::Register(InstanceId::new("I1"))
            ]
        );
        assert_eq!(a.register_batch.unwrap().total, 2);
        // space again unmarks
        let mut b = app(2);
        b.update(ch(' '), t(0));
        b.update(key(KeyCode::Home), t(0));
        b.update(ch(' '), t(0));
        assert!(b.marked.is_empty());
    }

    #[test]
    fn big_r_takes_the_drifted_and_ctrl_r_takes_all() {
        let mut a = app(3);
        for (id, here) in [("I0", true), ("I1", false)] {
            a.update(
                Msg::HooksResult {
                    id: InstanceId::new(id),
                    result: Ok(hooks(here)),
                },
                t(1),
            );
        }
        // I0 points here; I1 elsewhere; I2 never checked
        assert_eq!(
            a.update(ch('R'), t(2)),
            vec![
                Command::Register(InstanceId::new("I1")),
                Command::Register(InstanceId::new("I2"))
            ]
        );
        for id in ["I1", "I2"] {
            a.update(
                Msg::RegisterResult {
                    id: InstanceId::new(id),
                    result: Ok(()),
                },
                t(3),
            );
        }
        assert!(
            a.notice.as_ref().unwrap().text.contains("re-registered 2"),
            "{:?}",
            a.notice
        );
        assert!(a.update(ch('R'), t(4)).is_empty(), "all point here now");
        assert!(a.notice.as_ref().unwrap().text.contains("forces all"));
        assert_eq!(a.update(ctrl('r'), t(5)).len(), 3);
    }

    #[test]
    fn me_pointing_elsewhere_is_drift_with_words_and_a_next_step() {
        let mut a = app(1);
        a.update(up("I0", 1), t(1));
        a.update(
            Msg::HooksResult {
                id: InstanceId::new("I0"),
                result: Ok(hooks(false)),
            },
            t(2),
        );
        let i = inst(&a, "I0");
        assert!(health::drifted(i));
        assert_eq!(
            health::note(i, &a.settings.rules, a.now).as_deref(),
            Some("webhook points elsewhere")
        );
        let step = health::next_step(i, &a.settings.rules, a.now, &health::StepKeys::default());
        assert!(step.unwrap().contains("r re-registers"));
        // a registration after the check settles it
        a.update(ch('r'), t(3));
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new("I0"),
                result: Ok(()),
            },
            t(4),
        );
        assert!(!health::drifted(inst(&a, "I0")));
    }

    #[test]
    fn webhook_and_status_disagreeing_is_a_zombie() {
        let mut a = app(1);
        a.update(up("I0", 10), t(10));
        a.update(
            Msg::StatusResult {
                id: InstanceId::new("I0"),
                result: Ok(status(false, Some("You are not connected."))),
            },
            t(20),
        );
        a.update(Msg::Tick, t(21));
        let i = inst(&a, "I0");
        assert_eq!(
            health::note(i, &a.settings.rules, a.now).as_deref(),
            Some("webhook says up, Z-API says down")
        );
        assert!(health::is_problem(i, &a.settings.rules, a.now));
        assert_eq!(a.problems, 1);
        // a newer webhook than the status answer is not a disagreement
        a.update(down("I0", 30, "x"), t(30));
        assert_eq!(health::disagreement(inst(&a, "I0")), None);
    }

    #[test]
    fn silence_longer_than_silence_alert_is_a_problem() {
        let mut a = app(1);
        a.configure(Settings {
            rules: Rules::from_secs(60, 300),
            ..Settings::default()
        });
        a.update(up("I0", 0), t(0));
        a.update(Msg::Tick, t(300));
        assert!(!health::is_problem(
            inst(&a, "I0"),
            &a.settings.rules,
            a.now
        ));
        a.update(Msg::Tick, t(301));
        let i = inst(&a, "I0");
        assert_eq!(
            health::note(i, &a.settings.rules, a.now).as_deref(),
            Some(
                format!(
                    "silent for {}",
                    crate::stats::short_duration(Some(chrono::Duration::seconds(301)))
                )
                .as_str()
            )
        );
        assert_eq!(a.problems, 1);
    }

    #[test]
    fn a_new_outage_rings_the_bell_once_and_b_turns_it_off() {
        let mut a = app(2);
        // an outage already under way at start is not new
        a.update(down("I1", 0, "old"), t(0));
        a.update(Msg::Tick, t(1000));
        a.init();
        assert!(!a.update(Msg::Tick, t(1001)).contains(&Command::Bell));
        a.update(down("I0", 1002, "x"), t(1002));
        assert!(
            !a.update(Msg::Tick, t(1061)).contains(&Command::Bell),
            "59 s: not yet"
        );
        assert!(
            a.update(Msg::Tick, t(1062)).contains(&Command::Bell),
            "60 s: an outage"
        );
        assert!(
            !a.update(Msg::Tick, t(1063)).contains(&Command::Bell),
            "once"
        );
        // back up, down again: a new outage; but the bell is off now
        a.update(up("I0", 1100), t(1100));
        a.update(down("I0", 1101, "x"), t(1101));
        a.update(ch('b'), t(1102));
        assert!(!a.bell);
        assert!(!a.update(Msg::Tick, t(1200)).contains(&Command::Bell));
        assert!(inst(&a, "I0").outage_announced);
    }

    #[test]
    fn polls_are_spread_over_the_interval() {
        let mut a = app(4);
        a.configure(Settings {
            poll_interval: std::time::Duration::from_secs(60),
            ..Settings::default()
        });
        assert_eq!(a.init().len(), 4, "everyone asked at start");
        for id in ["I0", "I1", "I2", "I3"] {
            a.update(
                Msg::StatusResult {
                    id: InstanceId::new(id),
                    result: Ok(status(true, None)),
                },
                t(0),
            );
        }
        let mut polled = Vec::new();
        for s in 1..=60 {
            for cmd in a.update(Msg::Tick, t(s)) {
                if let Command::FetchStatus(id) = cmd {
                    polled.push((s, id.to_string()));
                    a.update(
                        Msg::StatusResult {
                            id,
                            result: Ok(status(true, None)),
                        },
                        t(s),
                    );
                }
            }
        }
        let ids: HashSet<&str> = polled.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(polled.len(), 4, "each once per interval: {polled:?}");
        assert_eq!(ids.len(), 4);
        let secs: HashSet<i64> = polled.iter().map(|(s, _)| *s).collect();
        assert_eq!(secs.len(), 4, "at four different seconds: {polled:?}");
    }

    #[test]
    fn state_changes_ask_for_the_alert_commands_configured() {
        let mut a = app(1);
        assert!(
            a.update(down("I0", 1, "x"), t(1)).is_empty(),
            "none configured"
        );
        a.configure(Settings {
            alerts: (true, false),
            ..Settings::default()
        });
        assert!(a.update(up("I0", 2), t(2)).is_empty(), "no on_connect");
        let cmds = a.update(down("I0", 3, "Device has been disconnected"), t(3));
        match cmds.as_slice() {
            [Command::Alert { event, name }] => {
                assert_eq!(name, "Name 0");
                assert_eq!(event.moment, t(3));
                assert!(
                    matches!(&event.kind, EventKind::Disconnected { error: Some(e) } if e == "Device has been disconnected")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            a.update(down("I0", 4, "again"), t(4)).is_empty(),
            "no change of state, no alert"
        );
        assert!(
            a.update(up("I0", 0), t(5)).is_empty(),
            "a late, older event changes nothing"
        );
        a.update(
            Msg::AlertFailed {
                id: InstanceId::new("I0"),
                error: "exited with code 7".into(),
            },
            t(6),
        );
        let n = a.notice.clone().unwrap();
        assert_eq!(n.level, Level::Error);
        assert!(n.text.contains("Name 0") && n.text.contains("code 7"));
    }

    #[test]
    fn enter_opens_the_detail_with_history_from_the_log() {
        let mut a = app(2);
        a.update(ch('j'), t(0));
        assert_eq!(
            a.update(key(KeyCode::Enter), t(1)),
            vec![Command::LoadHistory(InstanceId::new("I1"))]
        );
        assert_eq!(a.detail.as_ref().unwrap().history, DetailHistory::Loading);
        let old = |m: i64| Event {
            instance_id: InstanceId::new("I1"),
            kind: EventKind::Connected { phone: None },
            moment: t(m),
            received: t(m),
        };
        a.update(
            Msg::History {
                id: InstanceId::new("I1"),
                result: Ok((0..30).rev().map(old).collect()),
            },
            t(2),
        );
        // an event the log read had already is not shown twice
        a.update(Msg::Webhook(old(29)), t(99));
        // a live event goes on top
        a.update(down("I1", 100, "x"), t(100));
        let Some(DetailHistory::Loaded(events)) = a.detail.as_ref().map(|d| d.history.clone())
        else {
            panic!("loaded");
        };
        assert_eq!(events.len(), 31);
        assert_eq!(events[0].moment, t(100));
        // movement scrolls the history, bounded
        a.update(key(KeyCode::End), t(101));
        assert_eq!(a.detail.as_ref().unwrap().scroll, 30);
        a.update(ch('j'), t(101));
        assert_eq!(a.detail.as_ref().unwrap().scroll, 30);
        a.update(ch('g'), t(101));
        assert_eq!(a.detail.as_ref().unwrap().scroll, 0);
        assert_eq!(
            a.selected_instance().unwrap().id.as_str(),
            "I1",
            "the table's selection stayed on the instance"
        );
        // a history for another instance is not ours
        a.update(
            Msg::History {
                id: InstanceId::new("I0"),
                result: Err("nope".into()),
            },
            t(102),
        );
        assert!(matches!(
            a.detail.as_ref().unwrap().history,
            DetailHistory::Loaded(_)
        ));
        // x in the detail acts on this instance
        a.update(ch('x'), t(103));
        assert_eq!(
            a.confirm.as_ref().unwrap().targets,
            vec![InstanceId::new("I1")]
        );
        a.update(ch('n'), t(103));
        assert!(
            a.update(key(KeyCode::Esc), t(104)).is_empty(),
            "Esc closes, not quits"
        );
        assert!(a.detail.is_none());
    }

    #[test]
    fn mouse_wheel_click_and_double_click() {
        use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
        let mouse = |kind, row| {
            Msg::Mouse(MouseEvent {
                kind,
                column: 10,
                row,
                modifiers: KeyModifiers::NONE,
            })
        };
        let mut a = app(30);
        a.update(Msg::Resize(80, 24), t(0));
        let first_row = crate::ui::HEADER_LINES + 2;
        a.update(mouse(MouseEventKind::ScrollDown, 5), t(0));
        assert_eq!(a.selected, 3);
        a.update(mouse(MouseEventKind::ScrollUp, 5), t(0));
        assert_eq!(a.selected, 0);
        a.update(
            mouse(MouseEventKind::Down(MouseButton::Left), first_row + 4),
            t(1),
        );
        assert_eq!(a.selected, 4);
        assert!(a.detail.is_none());
        // a click on the border or the header selects nothing
        a.update(mouse(MouseEventKind::Down(MouseButton::Left), 0), t(5));
        assert_eq!(a.selected, 4);
        // two clicks on one row, quickly: the detail
        let at = Utc.timestamp_millis_opt(1_764_000_010_000).unwrap();
        a.update(
            mouse(MouseEventKind::Down(MouseButton::Left), first_row + 2),
            at,
        );
        let cmds = a.update(
            mouse(MouseEventKind::Down(MouseButton::Left), first_row + 2),
            at + chrono::Duration::milliseconds(200),
        );
        assert_eq!(cmds, vec![Command::LoadHistory(InstanceId::new("I2"))]);
        a.update(key(KeyCode::Esc), t(20));
        // m turns capture off: the app ignores the mouse, the loop releases it
        assert_eq!(a.update(ch('m'), t(21)), vec![Command::MouseCapture(false)]);
        a.update(mouse(MouseEventKind::ScrollDown, 5), t(21));
        assert_eq!(a.selected, 2);
        assert_eq!(a.update(ch('m'), t(22)), vec![Command::MouseCapture(true)]);
    }

    #[test]
    fn remapped_keys_are_the_ones_in_effect() {
        let table: toml::Table = toml::from_str("restart = \"X\"\nquit = [\"Q\"]").unwrap();
        let mut a = app(2);
        a.configure(Settings {
            keys: Keymap::from_table(&table).unwrap(),
            ..Settings::default()
        });
        assert!(a.update(ch('x'), t(0)).is_empty());
        assert!(a.confirm.is_none(), "x is no longer restart");
        assert!(a.update(ch('q'), t(0)).is_empty(), "q no longer quits");
        a.update(ch('X'), t(0));
        assert_eq!(a.confirm.as_ref().unwrap().action, InstanceAction::Restart);
        a.update(ch('n'), t(0));
        assert_eq!(a.update(ch('Q'), t(0)), vec![Command::Quit]);
        let help = crate::ui::help::lines(&a);
        assert!(
            help.iter()
                .any(|(k, what)| k == "X" && what.contains("restart"))
        );
        assert!(help.iter().any(|(k, what)| k == "Q" && what == "quit"));
    }

    #[test]
    fn changes_before_the_stats_window_still_tell_the_state_it_opens_with() {
        let mut a = app(1);
        let month = 30 * 86_400;
        // connected a month ago, down for an hour 20 days ago, nothing since
        a.update(up("I0", 0), t(month));
        a.update(down("I0", 10 * 86_400, "x"), t(month));
        a.update(up("I0", 10 * 86_400 + 3600), t(month));
        a.update(Msg::Tick, t(month));
        let i = inst(&a, "I0");
        let day_ago = t(month - 86_400);
        assert_eq!(i.transitions.uptime(day_ago, t(month)), Some(1.0));
        assert_eq!(
            i.transitions.disconnects(t(0), t(month)),
            0,
            "old ones are not kept"
        );
        assert!(!i.transitions.unsettled());
        assert_eq!(i.transitions.len(), 1, "one entry tells it all");
    }

    fn status_result(id: &str, connected: bool, error: Option<&str>) -> Msg {
        Msg::StatusResult {
            id: InstanceId::new(id),
            result: Ok(status(connected, error)),
        }
    }

    #[test]
    fn already_connected_from_status_is_not_the_last_error() {
        let mut a = app(1);
        a.init();
        // Z-API's answer for a healthy instance carries an `error`
        a.update(
            status_result("I0", true, Some("You are already connected.")),
            t(1),
        );
        assert_eq!(inst(&a, "I0").state, ConnState::Connected);
        assert_eq!(inst(&a, "I0").last_error, None, "at start");
        a.update(down("I0", 10, "Device has been disconnected"), t(10));
        a.update(up("I0", 20), t(20));
        for at in [30, 40] {
            a.update(key(KeyCode::Char('s')), t(at));
            a.update(
                status_result("I0", true, Some("You are already connected.")),
                t(at + 1),
            );
            assert_eq!(
                inst(&a, "I0").last_error.as_deref(),
                Some("Device has been disconnected"),
                "the disconnect's reason survives every poll"
            );
        }
        // a real error (connected: false) is still stored
        a.update(key(KeyCode::Char('s')), t(50));
        a.update(
            status_result("I0", false, Some("You need to restore the session.")),
            t(51),
        );
        assert_eq!(
            inst(&a, "I0").last_error.as_deref(),
            Some("You need to restore the session.")
        );
    }

    #[test]
    fn a_webhook_dates_a_state_status_only_knew_undated() {
        for connected in [false, true] {
            let mut a = app(1);
            a.init();
            a.update(status_result("I0", connected, None), t(120));
            assert_eq!(inst(&a, "I0").last_change, None, "undated at first");
            let hook = if connected {
                up("I0", 0)
            } else {
                down("I0", 0, "boom")
            };
            // received two minutes after its moment
            let Msg::Webhook(mut event) = hook else {
                unreachable!()
            };
            event.received = t(121);
            a.update(Msg::Webhook(event), t(121));
            let i = inst(&a, "I0");
            assert_eq!(i.last_change, Some(t(0)), "the webhook's moment dates it");
            let state = i.state;
            // once dated, later webhooks of the same state do not move it
            let later = if connected {
                up("I0", 60)
            } else {
                down("I0", 60, "again")
            };
            a.update(later, t(130));
            assert_eq!(inst(&a, "I0").last_change, Some(t(0)));
            // the statistics and the outage start follow
            let i = inst(&a, "I0");
            let expected = if connected { 1.0 } else { 0.0 };
            assert_eq!(i.transitions.uptime(t(0), t(130)), Some(expected));
            if !connected {
                assert_eq!(health::down_since(i), Some(t(0)));
                assert_eq!(i.transitions.disconnects(t(0), t(130)), 1);
                assert_eq!(
                    a.disconnects_per_minute.series(t(130)).iter().sum::<u64>(),
                    1
                );
            }
            assert_eq!(state, inst(&a, "I0").state);
        }
    }

    #[test]
    fn a_status_change_is_dated_by_the_webhook_that_follows() {
        let mut a = app(1);
        a.init();
        a.update(up("I0", 0), t(0));
        // a poll finds it down: the change time is only when we asked
        a.update(key(KeyCode::Char('s')), t(100));
        a.update(
            status_result("I0", false, Some("You are not connected.")),
            t(100),
        );
        assert_eq!(inst(&a, "I0").last_change, Some(t(100)));
        // its disconnect webhook arrives late, with Z-API's moment
        a.update(down("I0", 90, "Device has been disconnected"), t(101));
        assert_eq!(inst(&a, "I0").last_change, Some(t(90)));
        a.update(down("I0", 95, "again"), t(102));
        assert_eq!(inst(&a, "I0").last_change, Some(t(90)));
    }
}
