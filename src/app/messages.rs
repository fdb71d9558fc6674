//! What the footer said, kept: the message log (`l`), and the two footer
//! slots it feeds. The operator's own actions (`r`, `R`, `x`, `e`, `s`, …)
//! have their own slot that background results (the poller, alerts, the
//! event log) never overwrite; every notice of either kind also goes into
//! the log, newest last, so nothing the footer showed is lost.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

use super::{App, Level, Notice};

/// Notices the log keeps; older ones go.
pub const MESSAGE_LOG_LEN: usize = 300;
/// For this long after it is set, the operator's own notice is shown
/// before any background one.
pub const OWN_FRESH_SECS: i64 = 20;

/// One notice as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub at: DateTime<Utc>,
    pub level: Level,
    pub text: String,
    /// From the poller, an alert, the event log: not the operator's own action.
    pub background: bool,
}

/// The newest [`MESSAGE_LOG_LEN`] notices, newest last.
#[derive(Debug, Clone, Default)]
pub struct MessageLog {
    entries: VecDeque<Message>,
    /// Notices ever logged (the sequence number of the next one).
    total: u64,
}

impl MessageLog {
    /// Adds a notice; returns its sequence number.
    pub fn push(&mut self, message: Message) -> u64 {
        if self.entries.len() == MESSAGE_LOG_LEN {
            self.entries.pop_front();
        }
        self.entries.push_back(message);
        self.total += 1;
        self.total - 1
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Message> + ExactSizeIterator {
        self.entries.iter()
    }

    /// Notices logged after the one numbered `seq`.
    pub fn after(&self, seq: u64) -> u64 {
        self.total.saturating_sub(seq + 1)
    }
}

/// The message log overlay's scroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageView {
    /// The first entry shown; `None` follows the newest (as `tail -f`).
    pub top: Option<usize>,
}

/// What the footer shows: a notice, and how many were logged after it
/// (shown in the log only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FooterNotice<'a> {
    pub notice: &'a Notice,
    pub background: bool,
    pub unseen: u64,
}

impl App {
    /// Sets the operator's own notice (and logs it).
    pub(super) fn notify(&mut self, level: Level, text: impl Into<String>) {
        let notice = self.log_notice(level, text.into(), false);
        self.ops.notice = Some(notice);
    }

    /// Sets the background notice (and logs it): never over the
    /// operator's own.
    pub(super) fn notify_background(&mut self, level: Level, text: impl Into<String>) {
        let notice = self.log_notice(level, text.into(), true);
        self.ops.background = Some(notice);
    }

    /// `watch`: the server's lasting trouble (`Some`, kept in the header
    /// from the first time it is said) or its end (`None`); each change
    /// also a background notice, so `l` keeps when it came and went.
    pub(super) fn on_server_problem(&mut self, problem: Option<String>) {
        match (problem, self.ops.server_problem.take()) {
            (Some(text), was) => {
                let since = was.map_or(self.now, |(since, _)| since);
                self.notify_background(Level::Error, format!("server: {text}"));
                self.ops.server_problem = Some((since, text));
            }
            (None, Some((since, text))) => {
                let began = crate::words::age(self.now, since);
                self.notify_background(
                    Level::Ok,
                    format!("server: over: {text} (it began {began})"),
                );
            }
            (None, None) => {}
        }
    }

    fn log_notice(&mut self, level: Level, text: String, background: bool) -> Notice {
        let at = self.now;
        let seq = self.ops.messages.push(Message {
            at,
            level,
            text: text.clone(),
            background,
        });
        Notice {
            level,
            text,
            at,
            seq,
        }
    }

    /// The notice the footer shows: the operator's own while it is fresh
    /// (or newer than the background one), else the background one.
    pub fn footer_notice(&self) -> Option<FooterNotice<'_>> {
        self.footer_notice_at(self.now)
    }

    /// [`App::footer_notice`] as the clock `now` would have it.
    pub(super) fn footer_notice_at(&self, now: DateTime<Utc>) -> Option<FooterNotice<'_>> {
        let own = self.ops.notice.as_ref();
        let background = self.ops.background.as_ref();
        let fresh = |n: &Notice| now - n.at < Duration::seconds(OWN_FRESH_SECS);
        let (notice, is_background) = match (own, background) {
            (Some(o), Some(b)) if !fresh(o) && b.seq > o.seq => (b, true),
            (Some(o), _) => (o, false),
            (None, Some(b)) => (b, true),
            (None, None) => return None,
        };
        Some(FooterNotice {
            notice,
            background: is_background,
            unseen: self.ops.messages.after(notice.seq),
        })
    }

    /// Opens or closes the message log (`l`).
    pub(super) fn toggle_messages(&mut self) {
        self.overlays.messages = match self.overlays.messages {
            Some(_) => None,
            None => Some(MessageView::default()),
        };
    }

    /// Entries one page of the message log shows.
    pub fn message_rows(&self) -> usize {
        // inside the border, between header and footer
        usize::from(
            self.size
                .1
                .saturating_sub(super::layout::HEADER_LINES + super::layout::FOOTER_LINES + 2),
        )
        .max(1)
    }

    /// A key while the message log is open: scroll it, close it (`l`,
    /// `Esc`), or quit.
    pub(super) fn on_messages_key(
        &mut self,
        code: crossterm::event::KeyCode,
        action: Option<crate::keys::Action>,
    ) -> Vec<super::Command> {
        use crate::keys::Action;
        use crossterm::event::KeyCode;
        let len = self.ops.messages.len();
        let page = self.message_rows();
        let last_top = len.saturating_sub(page);
        let Some(view) = self.overlays.messages.as_mut() else {
            return Vec::new();
        };
        let top = view.top.unwrap_or(last_top);
        let moved = match (code, action) {
            (KeyCode::Esc, _) | (_, Some(Action::MessageLog)) => {
                self.overlays.messages = None;
                return Vec::new();
            }
            (_, Some(Action::Quit)) => return vec![super::Command::Quit],
            (_, Some(Action::Up)) => top.saturating_sub(1),
            (_, Some(Action::Down)) => top.saturating_add(1),
            (_, Some(Action::PageUp)) => top.saturating_sub(page),
            (_, Some(Action::PageDown)) => top.saturating_add(page),
            (_, Some(Action::Top)) => 0,
            (_, Some(Action::Bottom)) => last_top,
            _ => return Vec::new(),
        };
        // at the end again: follow the newest
        view.top = (moved < last_top).then_some(moved);
        Vec::new()
    }
}
