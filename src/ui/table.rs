//! The instance table: one row per instance, only the visible window built.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::columns::{Col, Need, allocate};
use super::fitting::{fit_words, terse, width};
use super::theme::Theme;
use super::{age, fit, when};
use crate::app::{App, SortKey, StateFilter};
use crate::fleet::health;
use crate::fleet::stats;
use crate::fleet::{CallResult, Instance, Registration};
use crate::model::ConnState;

/// The state word with its symbol, so state never rests on colour alone.
pub fn state_cell(state: ConnState) -> (String, Style) {
    match state {
        ConnState::Connected => ("● connected".into(), Theme::GOOD),
        ConnState::Disconnected => ("✗ disconnected".into(), Theme::BAD_BOLD),
        ConnState::Unknown => ("? unknown".into(), Theme::WARN),
    }
}

/// The state word in few columns: `✗ down`, `● up`; never cut.
pub fn state_short(state: ConnState) -> &'static str {
    match state {
        ConnState::Connected => "● up",
        ConnState::Disconnected => "✗ down",
        ConnState::Unknown => "? unknown",
    }
}

/// The state cell of a row: an outage is its own word, highlighted.
fn row_state(app: &App, inst: &Instance) -> Text {
    if health::acked(inst) {
        // known to be down (`a`): said, not alarmed
        return Text::same("✗ acked".into(), Theme::BAD);
    }
    if health::outage_since(inst, &app.settings.rules, app.now).is_some() {
        return Text::same("✗ OUTAGE".into(), Theme::ALARM);
    }
    let (long, style) = state_cell(inst.state);
    Text {
        long,
        short: state_short(inst.state).into(),
        style,
        shortest: None,
    }
}

/// A row's state word in full, as the table's wide form shows it (the
/// confirmation popup lists rows with it).
pub(super) fn row_state_word(app: &App, inst: &Instance) -> (String, Style) {
    let t = row_state(app, inst);
    (t.long, t.style)
}

/// Whether the row has a name of its own (not none, not its id): only
/// then are both shown.
pub fn named(inst: &Instance) -> bool {
    inst.name.as_deref().is_some_and(|n| n != inst.id.as_str())
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

/// The webhooks cell in few columns: a failure says what failed (the
/// reason is in the footer and the detail pane), the rest is shortened.
fn hooks_short(hooks: &str) -> String {
    if hooks.starts_with("failed:") {
        return "✗ failed".into();
    }
    match hooks.find(" failed:") {
        Some(i) => format!("✗ {}", &hooks[..i + " failed".len()]),
        None => terse(hooks),
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
        parts.push(format!(
            "only {}",
            fit(&super::sanitize(&app.filter_word()), 20)
        ));
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

/// A cell's text: its long form, a shorter one for narrow columns, and
/// its style.
#[derive(Debug, Clone)]
struct Text {
    long: String,
    short: String,
    style: Style,
    /// A warning's forms after the long one, wholly shown rather than the
    /// long one cut: the short one, then this (the same in fewer words).
    shortest: Option<String>,
}

impl Text {
    fn same(text: String, style: Style) -> Text {
        Text {
            short: text.clone(),
            long: text,
            style,
            shortest: None,
        }
    }

    /// The text for a column `w` wide: the long form if it fits; for text
    /// of words, its [`terse`] form; a warning's short or shortest form
    /// whole; else the long form cut by whole words when that tells clearly
    /// more than the short one; else the short one (cut, by whole words
    /// where `words`, only if even it is too wide).
    fn fitted(&self, w: usize, words: bool) -> String {
        if width(&self.long) <= w {
            return self.long.clone();
        }
        if words {
            let terse = terse(&self.long);
            if width(&terse) <= w {
                return terse;
            }
            if let Some(shortest) = &self.shortest {
                return [&self.short, shortest]
                    .into_iter()
                    .find(|f| width(f) <= w)
                    .map_or_else(|| fit(shortest, w), |f| f.to_string());
            }
            // the long form cut by whole words when it tells clearly more
            // than the short form (a wide column); else the short one
            let cut = fit_words(&self.long, w);
            if width(&self.short) <= w && width(&cut) < width(&self.short) + 6 {
                return self.short.clone();
            }
            if width(&self.short) > w {
                return fit_words(&self.short, w);
            }
            cut
        } else {
            fit(&self.short, w)
        }
    }
}

/// The error column: a warning (and, on a down row, the error that says
/// why); a connected row's error is the last disconnect's, dimmed and
/// labelled as old.
fn error_text(app: &App, inst: &Instance) -> Text {
    use crate::fleet::ListingMark;
    match inst.listing.as_ref().and_then(|l| l.mark) {
        Some(ListingMark::Removed) => Text {
            long: "⚠ removed from account".into(),
            short: "⚠ removed".into(),
            style: Theme::WARN_BOLD,
            shortest: None,
        },
        Some(ListingMark::New) => {
            // new to its account: said first, before what else there is
            let mut text = problem_text(app, inst);
            if text.long.is_empty() {
                return Text::same("new".into(), Theme::INFO);
            }
            text.long = format!("new · {}", text.long);
            text.short = format!("new · {}", text.short);
            text
        }
        None => problem_text(app, inst),
    }
}

/// The row's warning, else its last error (see [`error_text`]).
fn problem_text(app: &App, inst: &Instance) -> Text {
    let error = inst.last_error.as_deref().map(super::sanitize);
    match health::warning(inst, &app.settings.rules, app.now) {
        Some(warning) => {
            // narrower: the warning alone (it says what to do), then in
            // fewer words; never cut while one of them fits
            let note = warning.long();
            let short = format!("⚠ {note}");
            let shortest = Some(format!("⚠ {}", warning.short()));
            let long = match error {
                // the warning first (what to do), then a down row's own
                // error (why); the detail pane shows both whole; not when
                // the state itself is in doubt
                Some(e)
                    if inst.state == ConnState::Disconnected
                        && health::disagreement(inst).is_none() =>
                {
                    format!("⚠ {note} · {e}")
                }
                _ => format!("⚠ {note}"),
            };
            Text {
                short,
                long,
                style: Theme::WARN_BOLD,
                shortest,
            }
        }
        None => match error {
            Some(e) if inst.state == ConnState::Connected => Text {
                long: format!("last down: {e}"),
                short: format!("last down: {}", terse(&e)),
                style: Theme::DIM,
                shortest: None,
            },
            Some(e) => Text {
                short: terse(&e),
                long: e,
                style: Theme::PLAIN,
                shortest: None,
            },
            None => Text::same(String::new(), Theme::PLAIN),
        },
    }
}

/// The text of one cell of an instance's row, in every form.
fn cell_text(app: &App, inst: &Instance, col: Col, marked: bool, accounts: bool) -> Text {
    let plain = |s: String| Text::same(s, Theme::PLAIN);
    match col {
        Col::Account if accounts => plain(super::sanitize(crate::app::account_of(inst))),
        Col::Account => plain(String::new()),
        Col::Name => {
            let mut style = if inst.configured {
                Theme::PLAIN
            } else {
                Theme::DIM
            };
            let label = super::sanitize(inst.label());
            let text = if marked {
                style = style.patch(Theme::BOLD);
                format!("◆ {label}")
            } else {
                label
            };
            Text::same(text, style)
        }
        Col::State => row_state(app, inst),
        Col::Uptime => plain(stats::percent(inst.transitions.uptime_day(app.now))),
        Col::Disconnects => plain(inst.transitions.disconnects_day(app.now).to_string()),
        Col::Error => error_text(app, inst),
        Col::Changed => match inst.last_change {
            Some(t) => Text {
                long: when(app.setup.tz, app.now, t, true),
                short: when(app.setup.tz, app.now, t, false),
                style: Theme::PLAIN,
                shortest: None,
            },
            None => plain("—".into()),
        },
        Col::Activity => plain(
            inst.last_activity
                .map(|t| age(app.now, t))
                .unwrap_or_else(|| "—".into()),
        ),
        Col::Webhooks => {
            let (hooks, style) = hooks_text(app, inst);
            let hooks = super::sanitize(&hooks);
            Text {
                short: hooks_short(&hooks),
                long: hooks,
                style,
                shortest: None,
            }
        }
        Col::Phone => plain(
            inst.phone
                .as_deref()
                .map(super::sanitize)
                .unwrap_or_default(),
        ),
        // the name column already shows the id of a row without a name
        Col::Id if named(inst) => plain(inst.id.as_str().to_string()),
        Col::Id => plain(String::new()),
    }
}

/// What the visible rows need of each column (see [`Need`]).
fn needs(rows: &[Vec<Text>]) -> Vec<Need> {
    Col::BY_PRIORITY
        .iter()
        .enumerate()
        .map(|(k, &col)| {
            let widest = |f: fn(&Text) -> &String| {
                rows.iter()
                    .map(|r| width(f(&r[k])))
                    .max()
                    .unwrap_or(0)
                    .min(usize::from(u16::MAX)) as u16
            };
            let (long, short) = (widest(|t| &t.long), widest(|t| &t.short));
            // the table's own columns stay when empty; phone and id only
            // appear when a row has one
            let keep = !matches!(col, Col::Phone | Col::Id | Col::Activity | Col::Account);
            Need {
                col,
                long,
                short: if keep { short.max(1) } else { short },
            }
        })
        .collect()
}

/// The hidden rows above and below the window, said in the border.
fn more_marker(n: usize, arrow: &str) -> Option<Line<'static>> {
    (n > 0).then(|| Line::from(format!(" {arrow} {n} more ")).right_aligned())
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let mut block = Block::new()
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
    let rows_visible = area.height.saturating_sub(3) as usize;
    let end = (app.view.offset + rows_visible).min(app.view.order.len());
    let start = app.view.offset.min(end);
    if let Some(up) = more_marker(start, "↑") {
        block = block.title_top(up);
    }
    if let Some(down) = more_marker(app.view.order.len() - end, "↓") {
        block = block.title_bottom(down);
    }
    // the Account column: only with more than one account
    let accounts = app.fleet.account_names().len() > 1;
    let texts: Vec<Vec<Text>> = app.view.order[start..end]
        .iter()
        .map(|&i| {
            let inst = &app.fleet.instances[i];
            let marked = app.view.marked.contains(&inst.id);
            Col::BY_PRIORITY
                .iter()
                .map(|&col| cell_text(app, inst, col, marked, accounts))
                .collect()
        })
        .collect();
    // inside the borders, less the selection marker
    let avail = area.width.saturating_sub(2 + 2);
    let cols = allocate(&needs(&texts), avail);
    let index = |c: Col| Col::BY_PRIORITY.iter().position(|&x| x == c).unwrap_or(0);
    let rows = texts.iter().map(|row| {
        let cells = cols.iter().map(|&(col, w)| {
            let t = &row[index(col)];
            let words = matches!(col, Col::Error | Col::Webhooks | Col::Account);
            let text = t.fitted(usize::from(w), words);
            Cell::from(Span::styled(text, t.style))
        });
        Row::new(cells.collect::<Vec<_>>())
    });
    let header = Row::new(cols.iter().map(|&(c, w)| c.title(w))).style(Theme::HEADING);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_webhooks_cell_says_what_failed_in_few_columns() {
        assert_eq!(
            hooks_short("failed: HTTP 400: Instance not found"),
            "✗ failed"
        );
        assert_eq!(
            hooks_short("restart failed: connection refused"),
            "✗ restart failed"
        );
        assert_eq!(hooks_short("✓ point here"), "✓ point here");
    }
}
