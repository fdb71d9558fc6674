//! The instance table: one row per instance, only the visible window built.

use chrono::Duration;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::theme::Theme;
use super::{age, fit, when};
use crate::app::{App, SortKey, StateFilter};
use crate::fleet::health;
use crate::fleet::stats;
use crate::fleet::{CallResult, Instance, Registration};
use crate::model::ConnState;

/// A column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Name,
    State,
    /// Uptime over 24 h.
    Uptime,
    /// Disconnects in 24 h.
    Disconnects,
    /// The row's warning, else its last error.
    Error,
    Changed,
    /// Last webhook of any type.
    Activity,
    Webhooks,
}

impl Col {
    fn title(self, wide: bool) -> &'static str {
        match self {
            Col::Name => "Name",
            Col::State => "State",
            Col::Uptime if wide => "Up 24h",
            Col::Uptime => "Up%",
            Col::Disconnects => "Dn",
            Col::Error if wide => "Problem / last error",
            Col::Error => "Last error",
            Col::Changed => "Changed",
            Col::Activity => "Activity",
            Col::Webhooks => "Webhooks",
        }
    }
}

/// The columns and their widths for a table `inner` columns wide (inside
/// the borders). The error column takes what is left; narrow terminals
/// drop the columns that matter least.
pub fn columns(inner: u16) -> Vec<(Col, u16)> {
    let mut cols = if inner >= 150 {
        vec![
            (Col::Name, 24),
            (Col::State, 14),
            (Col::Uptime, 7),
            (Col::Disconnects, 3),
            (Col::Error, 0),
            (Col::Changed, 30),
            (Col::Activity, 9),
            (Col::Webhooks, 22),
        ]
    } else if inner >= 100 {
        vec![
            (Col::Name, 16),
            (Col::State, 14),
            (Col::Uptime, 6),
            (Col::Disconnects, 3),
            (Col::Error, 0),
            (Col::Changed, 16),
            (Col::Activity, 8),
            (Col::Webhooks, 13),
        ]
    } else {
        vec![
            (Col::Name, 13),
            (Col::State, 14),
            (Col::Uptime, 5),
            (Col::Error, 0),
            (Col::Changed, 14),
            (Col::Webhooks, 13),
        ]
    };
    // 2 for the selection marker, one column between columns
    let fixed: u16 = 2 + cols.len() as u16 - 1 + cols.iter().map(|(_, w)| w).sum::<u16>();
    let rest = inner.saturating_sub(fixed);
    for (c, w) in &mut cols {
        if *c == Col::Error {
            *w = rest;
        }
    }
    cols
}

/// The state word with its symbol, so state never rests on colour alone.
pub fn state_cell(state: ConnState) -> (String, Style) {
    match state {
        ConnState::Connected => ("● connected".into(), Theme::GOOD),
        ConnState::Disconnected => ("✗ disconnected".into(), Theme::BAD_BOLD),
        ConnState::Unknown => ("? unknown".into(), Theme::WARN),
    }
}

/// The state cell of a row: an outage is its own word, highlighted.
pub(super) fn row_state(app: &App, inst: &Instance) -> (String, Style) {
    if health::acked(inst) {
        // known to be down (`a`): said, not alarmed
        return ("✗ acked".into(), Theme::BAD);
    }
    if health::outage_since(inst, &app.settings.rules, app.now).is_some() {
        return ("✗ OUTAGE".into(), Theme::ALARM);
    }
    state_cell(inst.state)
}

fn hooks_text(app: &App, inst: &Instance) -> (String, Style) {
    if !inst.configured {
        return ("unconfigured".into(), Theme::DIM);
    }
    if let Some(a) = &inst.action {
        match &a.state {
            CallResult::Pending => {
                return (format!("{}…", a.action.word()), Theme::INFO);
            }
            CallResult::Failed(reason) => {
                return (format!("{} failed: {reason}", a.action.word()), Theme::BAD);
            }
            CallResult::Ok(_) => {}
        }
    }
    let tz = app.setup.tz;
    match &inst.registration {
        Registration::Pending => ("registering…".into(), Theme::INFO),
        Registration::Failed(reason) => (format!("failed: {reason}"), Theme::BAD),
        _ if health::hooks_here(inst) == Some(false) => (
            if inst.hooks.none_set() {
                "⚠ none set".into()
            } else {
                "⚠ elsewhere".into()
            },
            Theme::WARN_BOLD,
        ),
        Registration::Ok(t) => (format!("ok {}", tz.format(*t, "%H:%M")), Theme::GOOD),
        _ if health::hooks_here(inst) == Some(true) => ("✓ point here".into(), Theme::GOOD),
        _ => ("never".into(), Theme::DIM),
    }
}

/// The table's title: the count, and what the filters and the sort are.
fn title(app: &App) -> String {
    let mut parts = Vec::new();
    if app.view.order.len() != app.fleet.instances.len() {
        parts.push(format!(
            "{} of {}",
            app.view.order.len(),
            app.fleet.instances.len()
        ));
    } else {
        parts.push(app.fleet.instances.len().to_string());
    }
    if app.view.state_filter != StateFilter::All {
        parts.push(format!("only {}", app.view.state_filter.word()));
    }
    if !app.view.search.is_empty() {
        parts.push(format!("matching \"{}\"", fit(&app.view.search, 20)));
    }
    if app.view.sort != SortKey::Problems {
        parts.push(format!("by {}", app.view.sort.word()));
    }
    if !app.view.marked.is_empty() {
        parts.push(format!("{} marked", app.view.marked.len()));
    }
    if app.view.held {
        // rows stay put while the operator moves; the new order comes on a pause
        parts.push("order held".to_string());
    }
    format!(" Instances ({}) ", parts.join(" · "))
}

/// What the table shows instead of rows: no instances yet, or none that
/// matches the filter; `None` when there are rows to draw.
fn placeholder(app: &App) -> Option<Vec<Line<'static>>> {
    if app.fleet.instances.is_empty() {
        let text = vec![
            Line::from(""),
            Line::from("No instances yet."),
            Line::from(format!(
                "Waiting for Z-API webhooks on {}/hooks{}",
                app.setup.listen,
                if app.setup.secret_paths {
                    "/<instance path token>/…"
                } else {
                    ""
                }
            )),
            Line::from("or add [[instances]] with id and token to the config file."),
        ];
        // `watch` (no local listener): the rows come from the server
        let text = if app.setup.listen.is_empty() {
            vec![
                Line::from(""),
                Line::from("No instances yet."),
                Line::from("They appear when the server has some: its first webhooks,"),
                Line::from("or [[instances]] in the server's config."),
            ]
        } else {
            text
        };
        return Some(text);
    }
    if app.view.order.is_empty() {
        return Some(vec![
            Line::from(""),
            Line::from("No instance matches the filter."),
            Line::from("Esc clears the search; f cycles the state filter."),
        ]);
    }
    None
}

/// One cell of an instance's row.
fn cell(app: &App, inst: &Instance, col: Col, w: usize, marked: bool, wide: bool) -> Cell<'static> {
    let rules = app.settings.rules;
    let day_ago = app.now - Duration::hours(24);
    match col {
        Col::Name => {
            let mut style = if inst.configured {
                Theme::PLAIN
            } else {
                Theme::DIM
            };
            let text = if marked {
                style = style.patch(Theme::BOLD);
                fit(&format!("◆ {}", inst.label()), w)
            } else {
                fit(inst.label(), w)
            };
            Cell::from(Span::styled(text, style))
        }
        Col::State => {
            let (text, style) = row_state(app, inst);
            Cell::from(Span::styled(text, style))
        }
        Col::Uptime => Cell::from(fit(
            &stats::percent(inst.transitions.uptime(day_ago, app.now)),
            w,
        )),
        Col::Disconnects => {
            let n = inst.transitions.disconnects(day_ago, app.now);
            Cell::from(fit(&n.to_string(), w))
        }
        Col::Error => match health::note(inst, &rules, app.now) {
            Some(note) => {
                let text = match inst.last_error.as_deref() {
                    // the warning first (it says what to do), then a down
                    // row's own error (why); the detail pane shows both
                    // whole; not when the state itself is in doubt
                    Some(e)
                        if inst.state == ConnState::Disconnected
                            && health::disagreement(inst).is_none() =>
                    {
                        format!("⚠ {note} · {e}")
                    }
                    _ => format!("⚠ {note}"),
                };
                Cell::from(Span::styled(fit(&text, w), Theme::WARN_BOLD))
            }
            None => Cell::from(fit(inst.last_error.as_deref().unwrap_or(""), w)),
        },
        Col::Changed => {
            let changed = inst
                .last_change
                .map(|t| when(app.setup.tz, app.now, t, wide))
                .unwrap_or_else(|| "—".into());
            Cell::from(fit(&changed, w))
        }
        Col::Activity => {
            let text = inst
                .last_activity
                .map(|t| age(app.now, t))
                .unwrap_or_else(|| "—".into());
            Cell::from(fit(&text, w))
        }
        Col::Webhooks => {
            let (hooks, style) = hooks_text(app, inst);
            Cell::from(Span::styled(fit(&hooks, w), style))
        }
    }
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let block = Block::new()
        .borders(Borders::ALL)
        .title(Line::from(title(app)));
    if let Some(text) = placeholder(app) {
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .block(block),
            area,
        );
        return;
    }
    let inner = area.width.saturating_sub(2);
    let cols = columns(inner);
    let wide = inner >= 150;
    let rows_visible = area.height.saturating_sub(3) as usize;
    let end = (app.view.offset + rows_visible).min(app.view.order.len());
    let start = app.view.offset.min(end);

    let rows = app.view.order[start..end].iter().map(|&i| {
        let inst = &app.fleet.instances[i];
        let marked = app.view.marked.contains(&inst.id);
        let cells = cols
            .iter()
            .map(|&(col, w)| cell(app, inst, col, usize::from(w), marked, wide));
        Row::new(cells.collect::<Vec<_>>())
    });
    let header = Row::new(cols.iter().map(|(c, _)| c.title(wide))).style(Theme::HEADING);
    let table = Table::new(rows, cols.iter().map(|&(_, w)| Constraint::Length(w)))
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(Theme::SELECTED)
        .highlight_symbol("▶ ")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::new().with_selected(app.view.selected.checked_sub(start));
    frame.render_stateful_widget(table, area, &mut state);
}
