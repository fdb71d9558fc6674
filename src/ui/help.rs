//! The help overlay: every key and what it does.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// Every key binding, as (keys, what it does). The help overlay and the
/// README's key table list exactly these.
pub const KEYS: &[(&str, &str)] = &[
    ("↑ / k", "select the row above"),
    ("↓ / j", "select the row below"),
    ("PgUp / PgDn", "one page up / down"),
    ("Home / g", "first row"),
    ("End / G", "last row"),
    ("r", "re-register the selected instance's webhooks"),
    ("R", "re-register every configured instance"),
    ("s", "ask Z-API the status of every instance"),
    ("?", "show / hide this help"),
    ("q / Esc / Ctrl-C", "quit"),
];

pub fn draw(frame: &mut Frame, area: Rect) {
    let key_w = KEYS
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!(" {k:<key_w$}  "),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(" ? or Esc closes this help"));
    let width = lines.iter().map(Line::width).max().unwrap_or(0) as u16 + 3;
    let height = lines.len() as u16 + 2;
    let [popup] = Layout::horizontal([Constraint::Length(width)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Length(height)])
        .flex(Flex::Center)
        .areas(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" Keys ")),
        popup,
    );
}
