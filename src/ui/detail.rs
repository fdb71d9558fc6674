//! The detail pane of one instance (Enter on a row, Esc back): its state
//! and since when, uptime, disconnects and time to reconnect, a 24 h
//! timeline, the last `/status` answer, the webhook URLs Z-API has, the
//! next step, and its event history from the log, newest first.

use chrono::Duration;
use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::theme::Theme;
use super::{fit, sanitize, when};
use crate::app::TimeZone;
use crate::app::{App, Detail, DetailHistory, DeviceView};
use crate::fleet::health::{self, Rules};
use crate::fleet::stats;
use crate::fleet::{HookCheck, Instance, STATS_WINDOW_DAYS, Source, StatusCheck};
use crate::model::{ConnState, Event, EventKind};

/// Width of the labels on the left.
const LABEL: usize = 12;

/// The timeline's symbol and style for a state: the symbol alone tells
/// the state (NO_COLOR, colour-blind readers).
pub fn slice_cell(state: ConnState) -> (&'static str, Style) {
    match state {
        ConnState::Connected => ("█", Theme::GOOD),
        ConnState::Disconnected => ("░", Theme::BAD),
        ConnState::Unknown => ("·", Theme::DIM),
    }
}

fn labelled(label: &str, spans: Vec<Span<'static>>) -> Line<'static> {
    let mut v = vec![Span::styled(format!(" {label:<LABEL$}"), Theme::BOLD)];
    v.extend(spans);
    Line::from(v)
}

/// Lines a wrapped field takes at most (the history keeps the rest).
const MAX_WRAPPED: usize = 6;

/// `text` under `label`, wrapped to `text_w` (never cut, up to
/// [`MAX_WRAPPED`] lines); the continuation lines are indented under it.
fn wrapped(label: &str, text: &str, style: Style, text_w: usize, lines: &mut Vec<Line<'static>>) {
    let mut parts = super::wrap(text, text_w.max(1));
    if parts.len() > MAX_WRAPPED {
        parts.truncate(MAX_WRAPPED);
        if let Some(last) = parts.last_mut() {
            *last = fit(&format!("{last} …"), text_w);
        }
    }
    for (n, part) in parts.into_iter().enumerate() {
        let label = if n == 0 { label } else { "" };
        lines.push(labelled(label, vec![Span::styled(part, style)]));
    }
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "NO",
        None => "?",
    }
}

pub fn draw(app: &App, detail: &Detail, frame: &mut Frame, area: Rect) {
    let Some(inst) = app.get(&detail.id) else {
        return;
    };
    let inner_w = usize::from(area.width.saturating_sub(2));
    let text_w = inner_w.saturating_sub(LABEL + 2);
    let tz = app.setup.tz;
    let now = app.now;
    let rules = app.settings.rules;
    let mut lines: Vec<Line> = Vec::new();

    state_lines(inst, &rules, now, tz, text_w, &mut lines);
    number_lines(inst, now, text_w, &mut lines);
    let status = status_text(inst, tz, now);
    wrapped("/status", &status, Theme::PLAIN, text_w, &mut lines);
    hooks_lines(app, inst, text_w, &mut lines);
    account_lines(app, inst, text_w, &mut lines);
    if let Some(forwarding) = super::relay::forwarding_text(app, &inst.id) {
        wrapped("Forwarded", &forwarding, Theme::PLAIN, text_w, &mut lines);
    }
    if let Some(phone) = &inst.phone {
        lines.push(labelled("Phone", vec![Span::raw(fit(phone, text_w))]));
    }
    if let Some(device) = device_text(&detail.device, now) {
        lines.push(labelled("Device", vec![Span::raw(fit(&device, text_w))]));
    }
    if let Some(step) = app.next_step(inst) {
        wrapped("Next", &step, Theme::WARN, text_w, &mut lines);
    }
    lines.push(Line::from(""));

    history_lines(app, detail, inst, area, &mut lines);
    let title = title(inst, usize::from(area.width.saturating_sub(2)));
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(title)),
        area,
    );
}

/// The pane's title: the name, the id (once, when the name is the id) and
/// how to go back; the id goes first when the width runs out, then the
/// way back, and nothing is cut inside a word.
fn title(inst: &Instance, width: usize) -> Line<'static> {
    use super::fitting::{Part, fit_parts};
    let mut parts = Vec::new();
    if super::table::named(inst) {
        parts.push(Part::one(" ", 30, sanitize(inst.label()), Theme::PLAIN));
    }
    parts.push(Part::one(
        " · ",
        10,
        sanitize(inst.id.as_str()),
        Theme::PLAIN,
    ));
    parts.push(Part::one(" · ", 20, "Esc back".into(), Theme::PLAIN));
    let mut line = fit_parts(&parts, width.saturating_sub(1));
    line.spans.push(Span::raw(" "));
    line
}

/// What `GET …/device` answered: phone, name, model, the phone's kind,
/// business or not, and its age. `None` when it cannot be asked.
fn device_text(device: &DeviceView, now: DateTime<Utc>) -> Option<String> {
    match device {
        DeviceView::Unavailable => None,
        DeviceView::Loading => Some("asking Z-API…".into()),
        DeviceView::Failed(e) => Some(format!("cannot ask Z-API: {e}")),
        DeviceView::Loaded { device: d, at } => {
            let kind = d.original_device.as_deref().map(|k| match k {
                "iphone" => "iPhone".to_string(),
                "android" => "Android".to_string(),
                "smbi" => "WhatsApp Business on iPhone".to_string(),
                "smba" => "WhatsApp Business on Android".to_string(),
                other => other.to_string(),
            });
            let business = match d.is_business {
                Some(true) => Some("business".to_string()),
                Some(false) => Some("not business".to_string()),
                None => None,
            };
            let parts: Vec<String> = [
                d.phone.clone(),
                d.name.clone(),
                d.model.clone(),
                kind,
                business,
            ]
            .into_iter()
            .flatten()
            .collect();
            let what = if parts.is_empty() {
                "no phone linked".to_string()
            } else {
                parts.join(" · ")
            };
            Some(format!("{what} · {}", super::age(now, *at)))
        }
    }
}

/// The state (or OUTAGE) and since when, the last error, the warning.
fn state_lines(
    inst: &Instance,
    rules: &Rules,
    now: DateTime<Utc>,
    tz: TimeZone,
    text_w: usize,
    lines: &mut Vec<Line<'static>>,
) {
    // state, and since when
    let (word, style) = match health::outage_since(inst, rules, now) {
        _ if health::acked(inst) => ("✗ acked".to_string(), Theme::BAD),
        Some(_) => ("✗ OUTAGE".to_string(), Theme::ALARM),
        None => super::table::state_cell(inst.state),
    };
    let since = inst
        .last_change
        .map(|t| format!(" since {}", when(tz, now, t, true)))
        .unwrap_or_default();
    let source = match inst.source {
        Some(Source::Webhook) => " · from a webhook",
        Some(Source::Status) => " · from /status",
        None => "",
    };
    lines.push(labelled(
        "State",
        vec![
            Span::styled(word, style),
            Span::raw(fit(&format!("{since}{source}"), text_w.saturating_sub(14))),
        ],
    ));
    if let Some(e) = &inst.last_error {
        match (inst.state, inst.last_change) {
            // connected again: the error is the last disconnect's, not now's
            (ConnState::Connected, since) => {
                let when = since
                    .map(|t| format!(" {}", super::when(tz, now, t, false)))
                    .unwrap_or_default();
                let text = format!("(before reconnecting{when}) {e}");
                wrapped("Last error", &text, Theme::DIM, text_w, lines);
            }
            _ => wrapped("Last error", e, Theme::PLAIN, text_w, lines),
        }
    }
    if let Some(at) = inst.acked.filter(|_| health::acked(inst)) {
        let text = format!(
            "{}: known to be down; no bell, not a problem until it connects or drops again",
            when(tz, now, at, false)
        );
        lines.push(labelled(
            "Acked",
            vec![Span::styled(fit(&text, text_w), Theme::DIM)],
        ));
    }
    if let Some(note) = health::note(inst, rules, now) {
        wrapped(
            "Warning",
            &format!("⚠ {note}"),
            Theme::WARN_BOLD,
            text_w,
            lines,
        );
    }
}

/// The account (with more than one), and what its listing says of the
/// instance: `new` or `removed from account`, the expiry (a warning when it
/// is near or past) and the payment status.
fn account_lines(app: &App, inst: &Instance, text_w: usize, lines: &mut Vec<Line<'static>>) {
    let (tz, now) = (app.setup.tz, app.now);
    let listing = inst.listing.as_deref();
    if inst.account.is_some() || app.fleet.account_names().len() > 1 {
        let mut text = sanitize(crate::app::account_of(inst));
        if let Some(l) = listing {
            match l.mark {
                Some(mark) => text.push_str(&format!(" · {}", mark.word())),
                None => text.push_str(&format!(" · listed {}", super::age(now, l.at))),
            }
        }
        let removed = listing.is_some_and(|l| l.mark == Some(crate::fleet::ListingMark::Removed));
        let style = if removed {
            Theme::WARN_BOLD
        } else {
            Theme::PLAIN
        };
        wrapped("Account", &text, style, text_w, lines);
    }
    let Some(l) = listing else {
        return;
    };
    if let Some(due) = l.due {
        let (text, style) = match l.due_warning(now) {
            Some(w) => (
                format!("{} · ⚠ {w}", when(tz, now, due, true)),
                Theme::WARN_BOLD,
            ),
            None => (when(tz, now, due, true), Theme::PLAIN),
        };
        wrapped("Due", &text, style, text_w, lines);
    }
    if let Some(pay) = &l.payment_status {
        let (text, style) = match l.unpaid() {
            Some(_) => (format!("⚠ {}", sanitize(pay)), Theme::WARN_BOLD),
            None => (sanitize(pay), Theme::PLAIN),
        };
        wrapped("Payment", &text, style, text_w, lines);
    }
}

/// Uptime, disconnects and time to reconnect; the 24 h timeline.
fn number_lines(
    inst: &Instance,
    now: DateTime<Utc>,
    text_w: usize,
    lines: &mut Vec<Line<'static>>,
) {
    // numbers
    let day = now - Duration::hours(24);
    let week = now - Duration::days(STATS_WINDOW_DAYS);
    let t = &inst.transitions;
    lines.push(labelled(
        "Uptime",
        vec![Span::raw(fit(
            &format!(
                "24 h {} · 7 d {} · disconnects 24 h: {} · mean time to reconnect (7 d): {}",
                stats::percent(t.uptime(day, now)),
                stats::percent(t.uptime(week, now)),
                t.disconnects(day, now),
                stats::short_duration(t.mean_time_to_reconnect(week, now)),
            ),
            text_w,
        ))],
    ));
    let slices = text_w.clamp(1, 144);
    let mut bar: Vec<Span> = t
        .timeline(day, now, slices)
        .into_iter()
        .map(|s| {
            let (sym, style) = slice_cell(s);
            Span::styled(sym, style)
        })
        .collect();
    bar.insert(0, Span::raw(""));
    lines.push(labelled("Last 24 h", bar));
    lines.push(labelled(
        "",
        vec![Span::styled(
            fit(
                &format!(
                    "{:<w$}now",
                    "24 h ago   █ up  ░ down  · unknown",
                    w = slices.saturating_sub(3)
                ),
                text_w,
            ),
            Theme::DIM,
        )],
    ));
}

/// The last `/status` answer, in words.
fn status_text(inst: &Instance, tz: TimeZone, now: DateTime<Utc>) -> String {
    // what Z-API says
    match &inst.status {
        StatusCheck::Never => "never asked".to_string(),
        StatusCheck::Pending => "asking Z-API…".to_string(),
        StatusCheck::Ok { at, status } => format!(
            "{}: connected {} · smartphone connected {}{}",
            when(tz, now, *at, false),
            yes_no(Some(status.connected)),
            yes_no(status.smartphone_connected),
            status
                .error
                .as_deref()
                .map(|e| format!(" · \"{e}\""))
                .unwrap_or_default()
        ),
        StatusCheck::Failed { at, error } => {
            format!("{}: failed: {error}", when(tz, now, *at, false))
        }
    }
}

/// The history heading and the events that fit, newest first, scrolled.
fn history_lines(
    app: &App,
    detail: &Detail,
    inst: &Instance,
    area: Rect,
    lines: &mut Vec<Line<'static>>,
) {
    let inner_w = usize::from(area.width.saturating_sub(2));
    // the history, newest first, scrolled
    let (events, note): (Vec<&Event>, String) = match &detail.history {
        DetailHistory::Loaded(events) => (
            events.iter().collect(),
            format!(
                "{} from the log",
                crate::words::count(events.len(), "event")
            ),
        ),
        DetailHistory::Loading => (
            inst.history.iter().rev().collect(),
            "reading the log…".into(),
        ),
        DetailHistory::Failed(e) => (
            inst.history.iter().rev().collect(),
            format!("the newest {} kept in memory ({e})", inst.history.len()),
        ),
    };
    // one line for the heading; the rest is the history's
    let room = usize::from(area.height.saturating_sub(2))
        .saturating_sub(lines.len() + 1)
        .max(1);
    detail.history_rows.set(room);
    // the last page is always a full one (`G` lands there)
    let start = detail.scroll.min(events.len().saturating_sub(room));
    let end = (start + room).min(events.len());
    let position = if events.len() > room {
        format!(" · {}–{end} of {}", start + 1, events.len())
    } else {
        String::new()
    };
    lines.push(Line::from(Span::styled(
        fit(
            &format!(" History, newest first · {note}{position}"),
            inner_w,
        ),
        Theme::HEADING,
    )));
    if events.is_empty() {
        lines.push(Line::from(" no events yet"));
    }
    for ev in &events[start..end] {
        lines.push(history_line(app, ev, inner_w));
    }
}

fn hooks_lines(app: &App, inst: &Instance, text_w: usize, lines: &mut Vec<Line<'static>>) {
    let tz = app.setup.tz;
    match &inst.hooks {
        HookCheck::Ok { at, hooks } => {
            let mark = if hooks.here {
                Span::styled("✓ point here", Theme::GOOD)
            } else {
                Span::styled("⚠ point elsewhere", Theme::WARN_BOLD)
            };
            lines.push(labelled(
                "Webhooks",
                vec![
                    Span::raw(format!("/me at {}: ", when(tz, app.now, *at, false))),
                    mark,
                ],
            ));
            for (what, url) in [
                ("disconnected", &hooks.disconnected),
                ("connected", &hooks.connected),
            ] {
                let url = url.as_deref().unwrap_or("(none)");
                wrapped("", &format!("{what:<13}{url}"), Theme::PLAIN, text_w, lines);
            }
            let received = received_text(app, inst, hooks.received.as_deref());
            wrapped(
                "",
                &format!("{:<13}{received}", "received"),
                Theme::PLAIN,
                text_w,
                lines,
            );
        }
        HookCheck::Pending => {
            lines.push(labelled("Webhooks", vec![Span::raw("asking Z-API (/me)…")]))
        }
        HookCheck::Failed { at, error } => wrapped(
            "Webhooks",
            &format!("/me at {}: failed: {error}", when(tz, app.now, *at, false)),
            Theme::PLAIN,
            text_w,
            lines,
        ),
        HookCheck::Never => lines.push(labelled(
            "Webhooks",
            vec![Span::raw(fit(
                if inst.configured {
                    "not checked (needs client_token and public_url)"
                } else {
                    "not configured here: add its id and token to the config"
                },
                text_w,
            ))],
        )),
    }
}

/// The received-message webhook as `/me` has it, explained when it is
/// not set: the dashboard does not need it, and message traffic seen
/// here came through another of the instance's webhooks.
fn received_text(app: &App, inst: &Instance, url: Option<&str>) -> String {
    match (url, inst.last_activity) {
        (Some(url), _) => url.to_string(),
        (None, Some(seen)) => format!(
            "(none) · Z-API sends no \"message received\" webhook; the traffic seen here ({}) came through another of this instance's webhooks",
            super::age(app.now, seen)
        ),
        (None, None) => "(none) · Z-API sends no \"message received\" webhook; the dashboard does not need it (it only adds message traffic to Activity)".into(),
    }
}

fn history_line(app: &App, ev: &Event, width: usize) -> Line<'static> {
    let at = app.setup.tz.format(ev.moment, "%Y-%m-%d %H:%M:%S");
    let (sym, style) = match ev.kind.state() {
        Some(s) => {
            let (sym, style) = slice_cell(s);
            (sym, style)
        }
        None => (" ", Theme::PLAIN),
    };
    let what = match &ev.kind {
        EventKind::Disconnected { error } => error.clone().unwrap_or_default(),
        EventKind::Connected { phone } => phone
            .as_deref()
            .map(|p| format!("phone {p}"))
            .unwrap_or_default(),
        EventKind::Activity { .. } => String::new(),
    };
    let text = format!(" {at}  {:<22} {}", sanitize(ev.kind.label()), what);
    Line::from(vec![
        Span::styled(format!(" {sym}"), style),
        Span::raw(fit(&text, width.saturating_sub(2))),
    ])
}
