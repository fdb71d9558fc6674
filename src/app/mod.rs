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

use crate::fleet::Tally;
use crate::fleet::health::{self, Rules};
use crate::fleet::poll::PollSchedule;
use crate::fleet::{
    ActionOutcome, CallResult, Fleet, HISTORY_LEN, HookCheck, Hooks, Instance, InstanceAction,
    ListedInstance, Registration, STATS_WINDOW_DAYS, Snapshot, StatusCheck,
};
use crate::keys::{Action, Keymap};
use crate::model::{ConnState, Event, InstanceId, Status};
use crate::qr::Credential;
use crate::zapi::{ApiError, Device, QrAnswer};

mod calls;
mod clock;
mod connect;
mod discovered;
pub use connect::{
    CLOSE_AFTER_SECS, Code, Connect, DeviceView, QR_EVERY_SECS, QR_MAX_CODES, Stage,
};
pub use relay::{LAG_WARN_EVENTS, LAG_WARN_SECS, RelayAnswer, RelayCall, RelayList};
mod events;
pub(crate) use events::{alert_for, seen_alert};
pub mod layout;
mod messages;
mod next;
mod operator;
pub mod outcomes;
mod parts;
mod register_guard;
pub(crate) mod relay;
mod row_keys;
mod setup;
mod view;
pub mod zapi_link;
pub use messages::{FooterNotice, MESSAGE_LOG_LEN, Message, MessageLog, MessageView};
pub use parts::{Ops, Overlays, RegisterNotes, Switches};
pub use register_guard::{ReplaceConfirm, foreign_urls, mask_foreign_url};
pub use setup::{Reconfig, Settings, Setup, TimeZone, summary as reload_summary};
pub use view::{TableView, account_of};

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
    /// `watch`: the server's own trouble that lasts (`[cluster]`: cluster
    /// unreachable), shown in the header until it says it is over (`None`).
    ServerProblem(Option<String>),
    /// `watch`: the server's whole state, replacing ours.
    Snapshot(Snapshot),
    /// `watch`: one row as the server now has it (after a status or
    /// registration result there).
    Row(Box<Instance>),
    /// `watch`: the link to the server came up or was cut.
    Link(Link),
    /// A Z-API call's result (`StatusResult`, `RegisterResult`,
    /// `HooksResult`, `ActionResult`) with how long the call took, as the
    /// runner measured it: the header's Z-API link state counts it.
    Timed {
        took: std::time::Duration,
        msg: Box<Msg>,
    },
    /// An acknowledgement read back from the event log at start (`a` makes
    /// them): the instance is known to be down, `acked` or no longer.
    Acked {
        id: InstanceId,
        acked: bool,
        at: DateTime<Utc>,
    },
    /// Answer of `GET …/qr-code/image` for the Connect popup.
    QrResult {
        id: InstanceId,
        result: Result<QrAnswer, ApiError>,
    },
    /// Answer of `GET …/phone-code/{phone}` for the Connect popup.
    PhoneCodeResult {
        id: InstanceId,
        result: Result<Credential, ApiError>,
    },
    /// Answer of `GET …/device` for the detail pane.
    DeviceResult {
        id: InstanceId,
        result: Result<Device, ApiError>,
    },
    /// An account's partner listing (tokens stay with the runner), or why
    /// it failed.
    Discovered {
        account: String,
        result: Result<Vec<ListedInstance>, String>,
    },
    /// The relay's targets (each tick, when there is a relay).
    Relay(Vec<crate::relay::TargetStatus>),
    /// The relay's answer to the operator's [`RelayCall`].
    RelayDone {
        call: RelayCall,
        result: Result<RelayAnswer, String>,
    },
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
    /// The same, the URLs it replaces adopted as forward targets first
    /// (`y` in the replace popup): the relay keeps delivering to them.
    RegisterAdopting(InstanceId),
    /// `GET …/restart` or `GET …/restore-session` (the operator confirmed it).
    Act(InstanceId, InstanceAction),
    /// Read the instance's history from the event log (the detail pane).
    LoadHistory(InstanceId),
    /// `GET …/qr-code/image` for the Connect popup (never while it is closed).
    FetchQr(InstanceId),
    /// `GET …/phone-code/{phone}` for the Connect popup.
    PhoneCode(InstanceId, String),
    /// `GET …/device` for the detail pane.
    FetchDevice(InstanceId),
    /// Run the `on_disconnect` / `on_connect` command for this state change.
    Alert { event: Event, name: String },
    /// Ring the terminal bell (a new outage).
    Bell,
    /// Turn mouse capture on or off.
    MouseCapture(bool),
    /// Put this text on the terminal's clipboard (OSC 52; `Y`).
    Clipboard(String),
    /// Store an acknowledgement (`a`) in the event log, so it survives a
    /// restart.
    RecordAck {
        id: InstanceId,
        acked: bool,
        at: DateTime<Utc>,
    },
    /// List every account with a partner token again (`s`).
    Discover,
    /// Ask the relay (`F`'s dead letters, `t`, `d`).
    Relay(RelayCall),
    /// Leave: restore the terminal, exit 0.
    Quit,
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
    /// When it was set.
    pub at: DateTime<Utc>,
    /// Its number in the message log.
    pub seq: u64,
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

/// The whole state of the dashboard.
#[derive(Debug, Clone)]
pub struct App {
    /// The instances and what is counted over them: the domain core.
    pub fleet: Fleet,
    pub setup: Setup,
    /// The time of the last update: the view reads this, never the clock.
    pub now: DateTime<Utc>,
    /// Terminal size (columns, rows).
    pub size: (u16, u16),
    /// `watch` only: the link to the server (`None` for a local dashboard).
    pub link: Option<Link>,
    /// Thresholds, polling, bell, keys: what the config says beyond the setup.
    pub settings: Settings,
    /// The table: its order, selection, scroll, sort, filters and marks.
    pub view: TableView,
    /// What is drawn over the table: help, detail, confirmations.
    pub overlays: Overlays,
    /// Calls in flight and what the footer says of them.
    pub ops: Ops,
    /// What the operator turns on and off: the bell, the mouse.
    pub switches: Switches,
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
    /// The instances of one account (its place in
    /// [`Fleet::account_names`]); `f` comes here after the states when
    /// there is more than one account.
    Account(usize),
}

impl StateFilter {
    pub fn word(self) -> &'static str {
        match self {
            StateFilter::All => "all",
            StateFilter::Down => "down",
            StateFilter::Up => "up",
            StateFilter::Drifted => "drifted",
            StateFilter::Account(_) => "account",
        }
    }
    /// The next filter, with `accounts` accounts to cycle through after
    /// the states (none when there is only one).
    fn next(self, accounts: usize) -> StateFilter {
        let first_account = if accounts > 1 {
            StateFilter::Account(0)
        } else {
            StateFilter::All
        };
        match self {
            StateFilter::All => StateFilter::Down,
            StateFilter::Down => StateFilter::Up,
            StateFilter::Up => StateFilter::Drifted,
            StateFilter::Drifted => first_account,
            StateFilter::Account(i) if i + 1 < accounts => StateFilter::Account(i + 1),
            StateFilter::Account(_) => StateFilter::All,
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
    /// How many history lines the view last had room for: written as it
    /// draws, read by the keys (the view records where it drew things and
    /// input asks it, as oxker's `gui_state`), so `G` and `PgDn` end on a
    /// full last page whatever the pane above the history takes.
    pub history_rows: std::cell::Cell<usize>,
    /// What `GET …/device` answered, and when.
    pub device: DeviceView,
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
            fleet: Fleet::new(now),
            view: TableView::new(),
            overlays: Overlays::default(),
            ops: Ops::new(),
            switches: Switches::new(),
            now,
            size: (80, 24),
            link: None,
            settings: Settings::default(),
            setup,
        };
        app.ops.shown_at = Some(now);
        for (id, name) in app.setup.instances.clone() {
            app.insert(Instance::new(id, name, true));
        }
        app.show_warnings();
        app
    }

    /// The state as the HTTP API serves it; `seq` is the last event applied.
    pub fn snapshot(&self, seq: u64) -> Snapshot {
        self.fleet.snapshot(seq)
    }

    /// Replaces every row with the server's, keeping the selection on the
    /// same instance and each row's history.
    fn apply_snapshot(&mut self, snapshot: Snapshot) {
        let selected = self.selected_instance().map(|i| i.id.clone());
        let mut old: HashMap<InstanceId, Instance> = self
            .fleet
            .instances
            .drain(..)
            .map(|i| (i.id.clone(), i))
            .collect();
        self.fleet.index.clear();
        self.view.order.clear();
        self.fleet.tally = Tally::default();
        for mut row in snapshot.instances {
            if let Some(prev) = old.remove(&row.id) {
                row.history = prev.history;
                row.transitions = prev.transitions;
                row.outage_announced = prev.outage_announced;
            }
            self.insert(row);
        }
        self.fleet.events = snapshot.events;
        let pos = selected.and_then(|id| {
            self.view
                .order
                .iter()
                .position(|&i| self.fleet.instances[i].id == id)
        });
        // an untouched selection stays on the top row
        self.place(pos.filter(|_| self.view.chosen).unwrap_or(0));
    }

    /// Shows the setup's warnings (if any) in the footer, until a key is pressed.
    pub fn show_warnings(&mut self) {
        self.ops.warnings_seen = self.setup.warnings.is_empty();
    }

    /// The start warnings while they have not been acknowledged by a key.
    pub fn pending_warnings(&self) -> Option<String> {
        (!self.ops.warnings_seen).then(|| self.setup.warnings.join(" · "))
    }

    /// Applies what the config says beyond the setup (thresholds, polling,
    /// bell, keys). Call before [`App::init`].
    pub fn configure(&mut self, settings: Settings) {
        self.switches.bell = settings.bell;
        self.settings = settings;
        self.view.dirty = true;
    }

    /// Applies a reloaded config ([`crate::reload`]): instances added get a
    /// row (and a `/status` call), instances removed lose theirs unless
    /// something is known of them (then they stay, as not configured, like
    /// any instance that sends webhooks unasked); names, thresholds,
    /// polling, alerts and keys take the new values; the bell follows the
    /// config only when the config changed it. No event or state is lost.
    pub fn reconfigure(&mut self, change: Reconfig, now: DateTime<Utc>) -> Vec<Command> {
        self.now = now;
        if change.settings.bell != self.settings.bell {
            self.switches.bell = change.settings.bell;
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
        self.notify(level, setup::summary(added, removed, &change.needs_restart));
        self.view.dirty = true;
        cmds
    }

    /// The rows for a new list of configured instances (see
    /// [`App::reconfigure`]): the calls for the new ones, how many were
    /// added and how many removed from the config.
    fn reconcile_rows(
        &mut self,
        instances: Vec<(InstanceId, Option<String>)>,
    ) -> (Vec<Command>, usize, usize) {
        let removed = self.fleet.reconcile(&instances);
        self.view.order = (0..self.fleet.instances.len()).collect();
        self.view
            .marked
            .retain(|id| self.fleet.index.contains_key(id));
        if self
            .overlays
            .detail
            .as_ref()
            .is_some_and(|d| !self.fleet.index.contains_key(&d.id))
        {
            self.overlays.detail = None;
        }
        self.view.selected = self
            .view
            .selected
            .min(self.view.order.len().saturating_sub(1));
        let (mut cmds, mut added) = (Vec::new(), 0);
        for (id, name) in &instances {
            if self.fleet.index.contains_key(id) {
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
        let ids = self.fleet.configured_ids();
        let on = self.setup.can_query_status
            && !self.settings.poll_interval.is_zero()
            && !ids.is_empty();
        self.ops.poll = on.then(|| PollSchedule::new(ids, self.settings.poll_interval, self.now));
    }

    /// The commands to run at start: ask `/status` (and, where it can,
    /// `/me`) of every configured instance; start the poller.
    pub fn init(&mut self) -> Vec<Command> {
        // outages already under way at start are not new: no bell for them
        self.fleet.announce_outages(&self.settings.rules, self.now);
        self.refresh_view();
        if self.setup.instances.is_empty() {
            return Vec::new();
        }
        if !self.setup.can_query_status {
            // said once, in the header, for as long as it lasts
            return Vec::new();
        }
        if !self.settings.poll_interval.is_zero() {
            self.ops.poll = Some(PollSchedule::new(
                self.fleet.configured_ids(),
                self.settings.poll_interval,
                self.now,
            ));
        }
        self.fetch_all_status(false)
    }

    fn insert(&mut self, inst: Instance) -> usize {
        let i = self.fleet.insert(inst);
        // shown at once; sorted and filtered at the next view refresh
        self.view.order.push(i);
        self.view.dirty = true;
        i
    }

    /// The instance with this id.
    pub fn get(&self, id: &InstanceId) -> Option<&Instance> {
        self.fleet.get(id)
    }

    /// The last message changed nothing on screen (see [`Ops`]'s `quiet`);
    /// cleared by reading it.
    pub fn take_quiet(&mut self) -> bool {
        let quiet = std::mem::take(&mut self.ops.quiet);
        if !quiet {
            self.ops.shown_at = Some(self.now);
        }
        quiet
    }

    /// The filter in words: the state's, or the account's name.
    pub fn filter_word(&self) -> String {
        match self.view.state_filter {
            StateFilter::Account(i) => self
                .fleet
                .account_names()
                .get(i)
                .cloned()
                .unwrap_or_else(|| "account".to_string()),
            other => other.word().to_string(),
        }
    }

    /// The selected instance, if any.
    pub fn selected_instance(&self) -> Option<&Instance> {
        self.view
            .order
            .get(self.view.selected)
            .map(|&i| &self.fleet.instances[i])
    }

    /// (connected, disconnected, unknown); O(1), kept as states change.
    pub fn counts(&self) -> (usize, usize, usize) {
        self.fleet.counts()
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
            Msg::Webhook(event) => {
                self.connect_saw_event(&event);
                self.on_event(event).0
            }
            Msg::Tick => {
                let minute_turned = now.timestamp().div_euclid(60) != self.fleet.pruned_minute;
                let mut cmds = self.on_tick();
                cmds.extend(self.connect_tick());
                // ages move ranks: re-sort, unless the operator is moving
                // (or no rank can move with the clock)
                let ranks_move = self.ranks_move_with_time();
                if ranks_move {
                    self.view.dirty = true;
                }
                self.refresh_if_dirty();
                // nothing on screen reads the clock: no frame for this tick
                // (a poll sent shows only in the detail pane, which draws)
                let shows = cmds.iter().any(|c| !matches!(c, Command::FetchStatus(_)));
                self.ops.quiet = !shows && !ranks_move && !minute_turned && !self.clock_on_screen();
                cmds
            }
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.scroll_to_selected();
                Vec::new()
            }
            call @ (Msg::StatusResult { .. }
            | Msg::RegisterResult { .. }
            | Msg::HooksResult { .. }
            | Msg::ActionResult { .. }) => self.on_call(call, None),
            Msg::Timed { took, msg } => self.on_call(*msg, Some(took)),
            Msg::Mouse(ev) => self.on_mouse(ev),
            Msg::Discovered { account, result } => self.on_discovered(&account, result),
            other => {
                self.on_other(other);
                Vec::new()
            }
        }
    }

    /// The messages that only change the state: history reads, alert and
    /// log problems, `watch`'s feed, acks, the relay's and the Connect
    /// popup's answers.
    fn on_other(&mut self, msg: Msg) {
        match msg {
            Msg::History { id, result } => {
                self.on_history(id, result);
            }
            Msg::AlertFailed { id, error } => {
                let label = self.label_of(&id);
                self.notify_background(Level::Error, format!("alert command for {label}: {error}"));
            }
            Msg::Problem(text) => {
                self.notify_background(Level::Error, text);
            }
            Msg::ServerProblem(problem) => self.on_server_problem(problem),
            Msg::Snapshot(snapshot) => {
                self.apply_snapshot(snapshot);
                self.refresh_view();
            }
            Msg::Row(row) => {
                self.on_row(*row);
            }
            Msg::Link(link) => {
                // cut off, the server's trouble is not known any more: a new
                // stream says it again if it lasts
                if matches!(link, Link::Down { .. }) {
                    self.ops.server_problem = None;
                }
                self.link = Some(link);
            }
            Msg::Acked { id, acked, at } => {
                self.fleet.apply_ack(&id, acked, at);
                self.view.dirty = true;
            }
            Msg::Relay(targets) => {
                self.on_relay_status(targets);
            }
            Msg::RelayDone { call, result } => {
                self.on_relay_done(call, result);
            }
            msg @ (Msg::QrResult { .. }
            | Msg::PhoneCodeResult { .. }
            | Msg::DeviceResult { .. }) => {
                self.on_connect_result(msg);
            }
            // handled in `update`
            Msg::Key(_)
            | Msg::Webhook(_)
            | Msg::Tick
            | Msg::Resize(..)
            | Msg::Mouse(_)
            | Msg::StatusResult { .. }
            | Msg::RegisterResult { .. }
            | Msg::HooksResult { .. }
            | Msg::ActionResult { .. }
            | Msg::Timed { .. }
            | Msg::Discovered { .. } => {}
        }
    }

    /// A registration answer; when it went well and `/me` can be asked,
    /// ask it again: the row then shows what Z-API really has.
    fn on_register_result(&mut self, id: InstanceId, result: Result<(), ApiError>) -> Vec<Command> {
        let verify = result.is_ok() && self.settings.can_check_hooks;
        self.on_registered(id.clone(), result);
        self.view.dirty = true;
        match self.fleet.index.get(&id) {
            Some(&i) if verify && self.fleet.instances[i].hooks != HookCheck::Pending => {
                self.fleet.instances[i].hooks = HookCheck::Pending;
                vec![Command::FetchHooks(id)]
            }
            _ => Vec::new(),
        }
    }

    /// The detail's history as read from the log (if that detail is still open).
    fn on_history(&mut self, id: InstanceId, result: Result<Vec<Event>, String>) {
        if let Some(d) = self.overlays.detail.as_mut().filter(|d| d.id == id) {
            d.history = match result {
                Ok(events) => DetailHistory::Loaded(events),
                Err(e) => DetailHistory::Failed(e),
            };
        }
    }

    /// A row as `watch` received it: keeps what the row does not carry
    /// (history, transitions, the bell's memory).
    fn on_row(&mut self, row: Instance) {
        match self.fleet.index.get(&row.id) {
            Some(&i) => {
                let old = &mut self.fleet.instances[i];
                let history = std::mem::take(&mut old.history);
                let transitions = std::mem::take(&mut old.transitions);
                let outage_announced = old.outage_announced;
                self.fleet.tally.change(old.state, row.state);
                if old.account != row.account {
                    self.fleet.tally.forget_census();
                }
                self.fleet.instances[i] = Instance {
                    history,
                    transitions,
                    outage_announced,
                    ..row
                };
            }
            None => {
                self.insert(row);
            }
        }
        self.view.dirty = true;
    }

    /// [`App::update`] with [`Msg::Webhook`], which also tells the index
    /// in the fleet's instances of the row the event went to (a new one if its
    /// instance was unknown): `serve`'s hub updates the metrics from that row
    /// without looking the id up again or keeping a copy of the event.
    pub fn apply_webhook(&mut self, event: Event, now: DateTime<Utc>) -> (Vec<Command>, usize) {
        self.now = now;
        self.on_event(event)
    }
}

#[cfg(test)]
mod tests;
