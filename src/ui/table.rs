//! The instance table: one row per instance, only the visible window built.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};

use super::{fit, when};
use crate::app::{App, Instance, Registration};
use crate::model::ConnState;

/// Column widths for a table `inner` columns wide (inside the borders):
/// name, state, last error, changed, webhooks. The error column takes what is left.
pub fn widths(inner: u16) -> [u16; 5] {
    let wide = inner >= 118;
    let state = 14;
    let changed = if wide { 30 } else { 16 };
    let hooks = if wide { 26 } else { 13 };
    let name = if wide { 24 } else { 14 };
    // 2 for the selection marker, 4 gaps of one column between 5 columns
    let fixed = 2 + 4 + name + state + changed + hooks;
    let error = inner.saturating_sub(fixed);
    [name, state, error, changed, hooks]
}

/// The state word with its symbol, so state never rests on colour alone.
pub fn state_cell(state: ConnState) -> (String, Style) {
    match state {
        ConnState::Connected => ("● connected".into(), Style::new().fg(Color::Green)),
        ConnState::Disconnected => (
            "✗ disconnected".into(),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        ConnState::Unknown => ("? unknown".into(), Style::new().fg(Color::Yellow)),
    }
}

fn hooks_text(app: &App, inst: &Instance) -> (String, Style) {
    if !inst.configured {
        return ("unconfigured".into(), Style::new().fg(Color::DarkGray));
    }
    match &inst.registration {
        Registration::Never => ("never".into(), Style::new().fg(Color::DarkGray)),
        Registration::Pending => ("registering…".into(), Style::new().fg(Color::Cyan)),
        Registration::Ok(t) => (
            format!("ok {}", app.setup.tz.format(*t, "%H:%M")),
            Style::new().fg(Color::Green),
        ),
        Registration::Failed(reason) => (format!("failed: {reason}"), Style::new().fg(Color::Red)),
    }
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let block = Block::new()
        .borders(Borders::ALL)
        .title(Line::from(format!(" Instances ({}) ", app.instances.len())));
    if app.instances.is_empty() {
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
        frame.render_widget(
            Paragraph::new(text)
                .alignment(Alignment::Center)
                .block(block),
            area,
        );
        return;
    }
    let inner = area.width.saturating_sub(2);
    let w = widths(inner);
    let wide = inner >= 118;
    let rows_visible = area.height.saturating_sub(3) as usize;
    let end = (app.offset + rows_visible).min(app.order.len());
    let start = app.offset.min(end);

    let rows = app.order[start..end].iter().map(|&i| {
        let inst = &app.instances[i];
        let (state, state_style) = state_cell(inst.state);
        let name_style = if inst.configured {
            Style::new()
        } else {
            Style::new().fg(Color::DarkGray)
        };
        let error = inst.last_error.as_deref().unwrap_or("");
        let changed = inst
            .last_change
            .map(|t| when(app.setup.tz, app.now, t, wide))
            .unwrap_or_else(|| "—".into());
        let (hooks, hooks_style) = hooks_text(app, inst);
        Row::new(vec![
            Cell::from(Span::styled(fit(inst.label(), w[0].into()), name_style)),
            Cell::from(Span::styled(state, state_style)),
            Cell::from(fit(error, w[2].into())),
            Cell::from(fit(&changed, w[3].into())),
            Cell::from(Span::styled(fit(&hooks, w[4].into()), hooks_style)),
        ])
    });
    let header = Row::new(["Name", "State", "Last error", "Changed", "Webhooks"])
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let table = Table::new(rows, w.map(Constraint::Length))
        .header(header)
        .block(block)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("▶ ")
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::new().with_selected(app.selected.checked_sub(start));
    frame.render_stateful_widget(table, area, &mut state);
}
