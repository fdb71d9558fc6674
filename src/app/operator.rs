//! What the operator does: keys, the mouse, the detail pane, confirmations,
//! and the restart/restore they ask for.

use super::*;
use crate::words;

impl App {
    pub(super) fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        if key.kind != KeyEventKind::Press {
            return Vec::new();
        }
        self.ops.warnings_seen = true;
        // what the screen shows is what the key acts on; from now on the
        // operator is at the keys and rows stay where they are
        self.refresh_if_dirty();
        self.note_input();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            return vec![Command::Quit];
        }
        if self.overlays.replace.is_some() {
            return self.on_replace_key(key.code);
        }
        if self.overlays.connect.is_some() {
            return self.on_connect_key(&key);
        }
        if self.overlays.unadopt.is_some() {
            return self.on_unadopt_key(key.code);
        }
        if let Some(confirm) = &self.overlays.confirm {
            let confirm = confirm.clone();
            return self.on_confirm_key(key.code, confirm);
        }
        if self.overlays.show_help {
            return self.on_help_key(&key);
        }
        if self.overlays.relay.is_some() {
            let action = self.settings.keys.action(&key);
            return self.on_relay_key(key.code, action);
        }
        if self.overlays.messages.is_some() {
            let action = self.settings.keys.action(&key);
            return self.on_messages_key(key.code, action);
        }
        if self.view.searching {
            self.on_search_key(key.code, ctrl);
            return Vec::new();
        }
        if key.code == KeyCode::Esc {
            return self.on_esc();
        }
        if self.overlays.detail.is_some() && key.code == KeyCode::Char('u') {
            return self.unadopt_detail();
        }
        let Some(action) = self.settings.keys.action(&key) else {
            return Vec::new();
        };
        if self.overlays.detail.is_some()
            && let Some(cmds) = self.on_detail_key(action)
        {
            return cmds;
        }
        self.on_table_action(action)
    }

    /// A key while a confirmation is open: nothing is sent before `y`.
    fn on_confirm_key(&mut self, code: KeyCode, confirm: Confirm) -> Vec<Command> {
        match code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                let Confirm { action, targets } = confirm;
                self.overlays.confirm = None;
                return self.act(action, targets);
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.overlays.confirm = None;
                self.notify(Level::Info, "cancelled: nothing was sent");
            }
            _ => {}
        }
        Vec::new()
    }

    /// A key while the help is open: scroll it or close it.
    fn on_help_key(&mut self, key: &KeyEvent) -> Vec<Command> {
        match (key.code, self.settings.keys.action(key)) {
            (_, Some(Action::Quit)) => return vec![Command::Quit],
            (KeyCode::Esc | KeyCode::Enter, _) | (_, Some(Action::Help)) => {
                self.overlays.show_help = false
            }
            (_, Some(Action::Down)) => {
                // no further than the last line
                let lines = layout::help_rows(self).len() + 2;
                let max = u16::try_from(lines).unwrap_or(u16::MAX);
                self.overlays.help_scroll = self.overlays.help_scroll.saturating_add(1).min(max);
            }
            (_, Some(Action::Up)) => {
                self.overlays.help_scroll = self.overlays.help_scroll.saturating_sub(1)
            }
            _ => {}
        }
        Vec::new()
    }

    /// A key while typing a search: edit it, or move the selection.
    fn on_search_key(&mut self, code: KeyCode, ctrl: bool) {
        match code {
            KeyCode::Esc => {
                self.view.searching = false;
                self.view.search.clear();
                self.view.replaced_search.clear();
                self.view.dirty = true;
            }
            KeyCode::Enter => {
                self.view.searching = false;
                self.view.replaced_search.clear();
            }
            KeyCode::Backspace => {
                self.view.search.pop();
                self.view.dirty = true;
            }
            // a filter longer than any name is of no use; bound it
            KeyCode::Char(c)
                if !ctrl && !c.is_control() && self.view.search.chars().count() < 64 =>
            {
                self.view.search.push(c);
                self.view.dirty = true;
            }
            KeyCode::Up => self.select(self.view.selected.saturating_sub(1)),
            KeyCode::Down => self.select(self.view.selected.saturating_add(1)),
            _ => {}
        }
        // what the operator types shows at once
        if self.view.dirty {
            self.refresh_view();
        }
    }

    /// Esc on the table: close the detail, else clear the filter (the
    /// search and the state filter), else the marks, else nothing. It
    /// never quits: `q` does.
    fn on_esc(&mut self) -> Vec<Command> {
        if self.overlays.detail.is_some() {
            self.overlays.detail = None;
        } else if !self.view.search.is_empty() || self.view.state_filter != StateFilter::All {
            self.view.search.clear();
            self.view.state_filter = StateFilter::All;
            self.refresh_view();
            self.notify(Level::Info, "filter cleared: showing all instances");
        } else if !self.view.marked.is_empty() {
            self.clear_marks();
        }
        Vec::new()
    }

    /// A keymap action on the table (or one the detail pane passed on).
    fn on_table_action(&mut self, action: Action) -> Vec<Command> {
        let page = self.page_rows().max(1);
        match action {
            Action::Quit => return vec![Command::Quit],
            Action::Help => {
                self.overlays.show_help = true;
                self.overlays.help_scroll = 0;
            }
            Action::Down => self.select(self.view.selected.saturating_add(1)),
            Action::Up => self.select(self.view.selected.saturating_sub(1)),
            Action::PageDown => self.select(self.view.selected.saturating_add(page)),
            Action::PageUp => self.select(self.view.selected.saturating_sub(page)),
            Action::Top => self.select(0),
            Action::Bottom => self.select(usize::MAX),
            Action::Detail => return self.open_detail(),
            Action::Mark => self.toggle_mark(),
            Action::MarkAll => self.mark_all(),
            Action::ClearMarks => self.clear_marks(),
            Action::CopyId => return self.copy_id(),
            Action::Ack => return self.toggle_ack(),
            Action::Search => {
                // `/` always starts a new filter; the prompt names the one it replaces
                self.view.replaced_search = std::mem::take(&mut self.view.search);
                self.view.searching = true;
                self.refresh_view();
            }
            Action::Sort => {
                self.view.sort = self.view.sort.next();
                self.refresh_view();
                self.notify(Level::Info, format!("sorted by {}", self.view.sort.word()));
            }
            Action::StateFilter => {
                let accounts = self.fleet.account_names().len();
                self.view.state_filter = self.view.state_filter.next(accounts);
                self.refresh_view();
                let text = match self.view.state_filter {
                    StateFilter::Account(_) => {
                        format!("showing the instances of {}", self.filter_word())
                    }
                    other => format!("showing {} instances", other.word()),
                };
                self.notify(Level::Info, text);
            }
            Action::Register => return self.register_selected(),
            Action::RegisterAll => return self.register_all(false),
            Action::RegisterAllForce => return self.register_all(true),
            Action::Refresh => return self.refresh_asked(),
            Action::Connect => return self.open_connect(),
            Action::Restart => self.ask_confirm(InstanceAction::Restart),
            Action::Restore => self.ask_confirm(InstanceAction::Restore),
            Action::Bell => {
                self.switches.bell = !self.switches.bell;
                let word = if self.switches.bell { "on" } else { "off" };
                self.notify(Level::Info, format!("bell on new outages: {word}"));
            }
            Action::MessageLog => self.toggle_messages(),
            Action::Forward => self.toggle_relay_list(),
            Action::Mouse => {
                self.switches.mouse = !self.switches.mouse;
                let text = if self.switches.mouse {
                    "mouse on: wheel scrolls, click selects, double click opens"
                } else {
                    "mouse off: the terminal selects text for copying"
                };
                self.notify(Level::Info, text);
                return vec![Command::MouseCapture(self.switches.mouse)];
            }
        }
        Vec::new()
    }

    /// `Space`: marks or unmarks the selected row and moves down.
    fn toggle_mark(&mut self) {
        if let Some(id) = self.selected_instance().map(|i| i.id.clone()) {
            if !self.view.marked.remove(&id) {
                self.view.marked.insert(id);
            }
            self.select(self.view.selected.saturating_add(1));
        }
    }

    /// `s`: every configured instance's status and webhooks, asked by the
    /// operator (their own footer line), when Z-API can be asked.
    /// `s`: `/status` of every polled instance, and every account with a
    /// partner token listed again.
    fn refresh_asked(&mut self) -> Vec<Command> {
        let discovering = self.fleet.accounts.iter().filter(|a| a.discovers).count();
        if !self.setup.can_query_status {
            if discovering > 0 {
                self.notify(
                    Level::Info,
                    format!("listing {} again…", words::count(discovering, "account")),
                );
                return vec![Command::Discover];
            }
            self.notify(
                Level::Warn,
                "cannot ask Z-API: client_token is not set (config or ZAPI_CLIENT_TOKEN)",
            );
            return Vec::new();
        }
        let mut cmds = self.fetch_all_status(true);
        if discovering > 0 {
            if cmds.is_empty() {
                self.notify(
                    Level::Info,
                    format!("listing {} again…", words::count(discovering, "account")),
                );
            }
            cmds.push(Command::Discover);
        }
        cmds
    }

    /// Keys in the detail pane: movement scrolls the history (never past
    /// its last full page); the rest acts as on the table (on this
    /// instance). `None`: not handled here.
    pub(super) fn on_detail_key(&mut self, action: Action) -> Option<Vec<Command>> {
        let fallback = self.page_rows().max(1);
        let d = self.overlays.detail.as_mut()?;
        let len = match &d.history {
            DetailHistory::Loaded(events) => events.len(),
            _ => HISTORY_LEN,
        };
        let page = match d.history_rows.get() {
            0 => fallback,
            drawn => drawn,
        };
        let max = len.saturating_sub(page);
        d.scroll = match action {
            Action::Down => (d.scroll + 1).min(max),
            Action::Up => d.scroll.min(max).saturating_sub(1),
            Action::PageDown => (d.scroll + page).min(max),
            Action::PageUp => d.scroll.min(max).saturating_sub(page),
            Action::Top => 0,
            Action::Bottom => max,
            Action::Detail => {
                self.overlays.detail = None;
                return Some(Vec::new());
            }
            // about the table, not this instance: nothing to do here
            Action::Mark
            | Action::MarkAll
            | Action::ClearMarks
            | Action::Search
            | Action::Sort
            | Action::StateFilter => {
                return Some(Vec::new());
            }
            _ => return None,
        };
        Some(Vec::new())
    }

    /// Opens the detail pane of the selected row and asks for its history.
    pub(super) fn open_detail(&mut self) -> Vec<Command> {
        let Some(id) = self.selected_instance().map(|i| i.id.clone()) else {
            self.notify(Level::Info, "no instance selected");
            return Vec::new();
        };
        // `/device` is asked here, not through `watch`'s server
        let ask_device = self.setup.can_query_status
            && self.link.is_none()
            && self.get(&id).is_some_and(|i| i.configured);
        self.overlays.detail = Some(Detail {
            id: id.clone(),
            scroll: 0,
            history: DetailHistory::Loading,
            history_rows: std::cell::Cell::new(0),
            device: if ask_device {
                DeviceView::Loading
            } else {
                DeviceView::Unavailable
            },
        });
        let mut cmds = vec![Command::LoadHistory(id.clone())];
        if ask_device {
            cmds.push(Command::FetchDevice(id));
        }
        cmds
    }

    /// The instances an action applies to: the marked ones if any, else
    /// the detail pane's or the selected one.
    pub(super) fn targets(&self) -> Vec<usize> {
        if !self.view.marked.is_empty() {
            let mut v: Vec<usize> = self
                .view
                .marked
                .iter()
                .filter_map(|id| self.fleet.index.get(id).copied())
                .collect();
            v.sort_unstable();
            return v;
        }
        if let Some(d) = &self.overlays.detail {
            return self.fleet.index.get(&d.id).copied().into_iter().collect();
        }
        self.view
            .order
            .get(self.view.selected)
            .copied()
            .into_iter()
            .collect()
    }

    /// `x` / `e`: opens the confirmation popup for the targets.
    pub(super) fn ask_confirm(&mut self, action: InstanceAction) {
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
            .map(|&i| &self.fleet.instances[i])
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
        self.overlays.confirm = Some(Confirm {
            action,
            targets: configured,
        });
    }

    /// Sends the confirmed restart or restore.
    pub(super) fn act(&mut self, action: InstanceAction, targets: Vec<InstanceId>) -> Vec<Command> {
        let mut cmds = Vec::new();
        for id in targets {
            let Some(&i) = self.fleet.index.get(&id) else {
                continue;
            };
            let inst = &mut self.fleet.instances[i];
            if matches!(&inst.action, Some(a) if a.state == CallResult::Pending) {
                continue; // one call in flight per instance
            }
            inst.action = Some(Box::new(ActionOutcome {
                action,
                state: CallResult::Pending,
            }));
            cmds.push(Command::Act(id, action));
        }
        self.view.marked.clear();
        let n = cmds.len();
        // several: one summary of every answer, the failures named
        self.ops.action_batch = (n > 1).then(|| {
            (
                action,
                Batch {
                    total: n,
                    ..Batch::default()
                },
                super::outcomes::Outcomes::default(),
            )
        });
        self.notify(
            Level::Info,
            match n {
                0 => format!("{}: already running", action.word()),
                1 => format!("{}: sent…", action.word()),
                n => format!(
                    "{}: sent for {}…",
                    action.word(),
                    crate::words::count(n, "instance")
                ),
            },
        );
        cmds
    }

    pub(super) fn on_mouse(&mut self, ev: MouseEvent) -> Vec<Command> {
        if !self.switches.mouse
            || self.overlays.confirm.is_some()
            || self.overlays.replace.is_some()
            || self.overlays.connect.is_some()
            || self.overlays.show_help
        {
            return Vec::new();
        }
        self.refresh_if_dirty();
        if !matches!(ev.kind, MouseEventKind::Moved) {
            self.note_input();
        }
        match ev.kind {
            MouseEventKind::ScrollDown => {
                if let Some(d) = &mut self.overlays.detail {
                    d.scroll = d.scroll.saturating_add(3);
                } else {
                    self.select(self.view.selected.saturating_add(3));
                }
            }
            MouseEventKind::ScrollUp => {
                if let Some(d) = &mut self.overlays.detail {
                    d.scroll = d.scroll.saturating_sub(3);
                } else {
                    self.select(self.view.selected.saturating_sub(3));
                }
            }
            MouseEventKind::Down(MouseButton::Left) if self.overlays.detail.is_none() => {
                let Some(pos) = layout::row_at(self, ev.row) else {
                    return Vec::new();
                };
                self.select(pos);
                let double = self.view.last_click.is_some_and(|(at, p)| {
                    p == pos && (self.now - at).num_milliseconds() <= DOUBLE_CLICK_MS
                });
                if double {
                    self.view.last_click = None;
                    return self.open_detail();
                }
                self.view.last_click = Some((self.now, pos));
            }
            _ => {}
        }
        Vec::new()
    }
}
