//! The application state and its one update function.
//!
//! Everything that happens (a key, a webhook event, a Z-API answer, the clock
//! tick, a resize) is a [`Msg`]; [`App::update`] folds it into the state and
//! returns the [`Command`]s the event loop must carry out. No I/O and no clock
//! reads happen here: the time is passed in, so the whole behaviour is tested
//! without a terminal or a network.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, FixedOffset, Local, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use serde::{Deserialize, Serialize};

use crate::model::{ConnState, Event, EventKind, InstanceId};
use crate::zapi::{ApiError, Status};

/// How many events each instance keeps in memory for its history: the
/// newest few, for a quick look. The whole history stays in the event log and
/// is read from there on demand ([`crate::store::history`]), so memory stays
/// bounded whatever the fleet and the log (10,000 instances × 8 events is about
/// 12 MB; 100 each was over 150 MB).
pub const HISTORY_LEN: usize = 8;

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
    /// Something went wrong outside the app (the event log cannot be
    /// written, the listener stopped): shown in the footer as an error.
    Problem(String),
    /// `watch`: the server's whole state, replacing ours.
    Snapshot(Snapshot),
    /// `watch`: one row as the server now has it (after a status or
    /// registration result there).
    Row(Instance),
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
    /// Re-register this configured instance's connect/disconnect webhooks.
    Register(InstanceId),
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
    /// Receipt time of the last webhook of any type.
    pub last_activity: Option<DateTime<Utc>>,
    pub phone: Option<String>,
    pub registration: Registration,
    pub status: StatusCheck,
    /// Newest last, at most [`HISTORY_LEN`].
    #[serde(skip)]
    pub history: VecDeque<Event>,
}

impl Instance {
    fn new(id: InstanceId, name: Option<String>, configured: bool) -> Self {
        Self {
            id,
            name,
            configured,
            state: ConnState::Unknown,
            source: None,
            last_error: None,
            last_change: None,
            last_webhook_moment: None,
            last_activity: None,
            phone: None,
            registration: Registration::Never,
            status: StatusCheck::Never,
            history: VecDeque::new(),
        }
    }

    /// The name if configured, else the id.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(self.id.as_str())
    }

    fn set_state(&mut self, state: ConnState, at: DateTime<Utc>, source: Source) {
        if self.state != state {
            // A status answer says how things are, not since when: the first
            // one leaves the change time unknown rather than invent one.
            let first_status = source == Source::Status && self.state == ConnState::Unknown;
            self.last_change = if first_status { None } else { Some(at) };
            self.state = state;
        }
        self.source = Some(source);
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
    pub notice: Option<Notice>,
    pub register_batch: Option<Batch>,
    pub status_batch: Option<Batch>,
    /// Events in the state: replayed from the log at start and received since.
    pub events: u64,
    /// The start warnings were acknowledged (a key was pressed).
    pub warnings_seen: bool,
    /// `watch` only: the link to the server (`None` for a local dashboard).
    pub link: Option<Link>,
    /// Instances per state, kept as states change, so the header does not
    /// walk the whole fleet on every frame.
    tally: Tally,
}

/// Instances per state: (connected, disconnected, unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally([usize; 3]);

impl Tally {
    fn slot(state: ConnState) -> usize {
        match state {
            ConnState::Connected => 0,
            ConnState::Disconnected => 1,
            ConnState::Unknown => 2,
        }
    }
    fn add(&mut self, state: ConnState) {
        self.0[Self::slot(state)] += 1;
    }
    fn change(&mut self, from: ConnState, to: ConnState) {
        if from != to {
            self.0[Self::slot(from)] = self.0[Self::slot(from)].saturating_sub(1);
            self.0[Self::slot(to)] += 1;
        }
    }
    fn of<'a>(instances: impl IntoIterator<Item = &'a Instance>) -> Tally {
        let mut t = Tally::default();
        for i in instances {
            t.add(i.state);
        }
        t
    }
}

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
            notice: None,
            register_batch: None,
            status_batch: None,
            events: 0,
            warnings_seen: true,
            link: None,
            tally: Tally::default(),
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

    /// The commands to run at start: ask `/status` of every configured instance.
    pub fn init(&mut self) -> Vec<Command> {
        if self.setup.instances.is_empty() {
            return Vec::new();
        }
        if !self.setup.can_query_status {
            if self.notice.is_none() {
                self.notify(
                    Level::Warn,
                    "status not queried: set client_token (or ZAPI_CLIENT_TOKEN)",
                );
            }
            return Vec::new();
        }
        self.fetch_all_status()
    }

    fn insert(&mut self, inst: Instance) -> usize {
        let i = self.instances.len();
        self.tally.add(inst.state);
        self.index.insert(inst.id.clone(), i);
        self.instances.push(inst);
        self.order.push(i);
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
        let [c, d, u] = self.tally.0;
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
            Msg::Webhook(event) => {
                self.on_event(event);
                Vec::new()
            }
            Msg::Tick => Vec::new(),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                self.scroll_to_selected();
                Vec::new()
            }
            Msg::StatusResult { id, result } => {
                self.on_status(id, result);
                Vec::new()
            }
            Msg::RegisterResult { id, result } => {
                self.on_registered(id, result);
                Vec::new()
            }
            Msg::Problem(text) => {
                self.notify(Level::Error, text);
                Vec::new()
            }
            Msg::Snapshot(snapshot) => {
                self.apply_snapshot(snapshot);
                Vec::new()
            }
            Msg::Row(row) => {
                match self.index.get(&row.id) {
                    Some(&i) => {
                        let history = std::mem::take(&mut self.instances[i].history);
                        self.tally.change(self.instances[i].state, row.state);
                        self.instances[i] = Instance { history, ..row };
                    }
                    None => {
                        self.insert(row);
                    }
                }
                Vec::new()
            }
            Msg::Link(link) => {
                self.link = Some(link);
                Vec::new()
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        self.events += 1;
        let i = match self.index.get(&event.instance_id) {
            Some(&i) => i,
            None => self.insert(Instance::new(event.instance_id.clone(), None, false)),
        };
        let inst = &mut self.instances[i];
        let before = inst.state;
        inst.last_activity = Some(
            inst.last_activity
                .map_or(event.received, |t| t.max(event.received)),
        );
        if let Some(state) = event.kind.state() {
            // Webhooks of one instance are ordered by `momment`: a late, older
            // event goes into the history but does not overwrite the state.
            let newer = inst.last_webhook_moment.is_none_or(|m| event.moment >= m);
            if newer {
                inst.last_webhook_moment = Some(event.moment);
                inst.set_state(state, event.moment, Source::Webhook);
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
    }

    fn on_status(&mut self, id: InstanceId, result: Result<Status, ApiError>) {
        let now = self.now;
        let Some(&i) = self.index.get(&id) else {
            return;
        };
        let inst = &mut self.instances[i];
        let label = inst.label().to_string();
        let failed = result.is_err();
        match result {
            Ok(status) => {
                let state = if status.connected {
                    ConnState::Connected
                } else {
                    ConnState::Disconnected
                };
                self.tally.change(inst.state, state);
                inst.set_state(state, now, Source::Status);
                if let Some(err) = status
                    .error
                    .as_deref()
                    .map(str::trim)
                    .filter(|e| !e.is_empty())
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
                    self.notice = Some(if b.failed == 0 {
                        Notice {
                            level: Level::Ok,
                            text: format!("re-registered all {} instances", b.total),
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

    fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind != KeyEventKind::Press {
            return Vec::new();
        }
        self.warnings_seen = true;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            return vec![Command::Quit];
        }
        if self.show_help {
            match key.code {
                KeyCode::Char('q') => return vec![Command::Quit],
                KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter => self.show_help = false,
                _ => {}
            }
            return Vec::new();
        }
        let page = self.page_rows().max(1);
        match key.code {
            KeyCode::Char('q') | KeyCode::Esc => return vec![Command::Quit],
            KeyCode::Char('?') => self.show_help = true,
            KeyCode::Down | KeyCode::Char('j') => self.select(self.selected.saturating_add(1)),
            KeyCode::Up | KeyCode::Char('k') => self.select(self.selected.saturating_sub(1)),
            KeyCode::PageDown => self.select(self.selected.saturating_add(page)),
            KeyCode::PageUp => self.select(self.selected.saturating_sub(page)),
            KeyCode::Home | KeyCode::Char('g') => self.select(0),
            KeyCode::End | KeyCode::Char('G') => self.select(usize::MAX),
            KeyCode::Char('r') => return self.register_selected(),
            KeyCode::Char('R') => return self.register_all(),
            KeyCode::Char('s') => {
                if !self.setup.can_query_status {
                    self.notify(
                        Level::Warn,
                        "cannot ask Z-API: client_token is not set (config or ZAPI_CLIENT_TOKEN)",
                    );
                    return Vec::new();
                }
                return self.fetch_all_status();
            }
            _ => {}
        }
        Vec::new()
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
        for inst in self.instances.iter_mut().filter(|i| i.configured) {
            if inst.status != StatusCheck::Pending {
                inst.status = StatusCheck::Pending;
                cmds.push(Command::FetchStatus(inst.id.clone()));
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

    fn register_selected(&mut self) -> Vec<Command> {
        let Some(&i) = self.order.get(self.selected) else {
            self.notify(Level::Info, "no instance selected");
            return Vec::new();
        };
        if self.register_blocked() {
            return Vec::new();
        }
        let inst = &mut self.instances[i];
        let label = inst.label().to_string();
        let text = if !inst.configured {
            format!(
                "{label} is not configured: add its id and token to the config to re-register it"
            )
        } else if inst.registration == Registration::Pending {
            format!("{label}: registration already running")
        } else {
            inst.registration = Registration::Pending;
            let id = inst.id.clone();
            self.notify(Level::Info, format!("registering webhooks of {label}…"));
            return vec![Command::Register(id)];
        };
        let level = if inst.configured {
            Level::Info
        } else {
            Level::Warn
        };
        self.notify(level, text);
        Vec::new()
    }

    fn register_all(&mut self) -> Vec<Command> {
        if self.register_blocked() {
            return Vec::new();
        }
        if self.register_batch.is_some() {
            self.notify(Level::Info, "re-registration already running");
            return Vec::new();
        }
        let mut cmds = Vec::new();
        for inst in self.instances.iter_mut().filter(|i| i.configured) {
            if inst.registration != Registration::Pending {
                inst.registration = Registration::Pending;
                cmds.push(Command::Register(inst.id.clone()));
            }
        }
        // A registration already in flight reports back too, so it counts in the batch.
        let total = self.instances.iter().filter(|i| i.configured).count();
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;
    use crossterm::event::KeyEventState;

    fn t(secs: i64) -> DateTime<Utc> {
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

    fn app(n: usize) -> App {
        App::new(setup(n, None), t(0))
    }

    fn key(c: KeyCode) -> Msg {
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
        a.update(key(KeyCode::End), t(11));
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
        assert!(a.notice.as_ref().unwrap().text.contains("client_token"));
        assert!(a.update(key(KeyCode::Char('s')), t(1)).is_empty());
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
        a.update(Msg::Row(row), t(104));
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
}
