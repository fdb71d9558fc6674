//! The help overlay: every key in effect (the config's `[keys]` included)
//! and what it does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use crate::app::App;

use crate::app::layout::help_rows as lines;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let entries = lines(app);
    let key_w = entries
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = entries
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<key_w$}  "), super::theme::Theme::BOLD),
                Span::raw(what.clone()),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(format!(
        " {} or Esc closes this help",
        app.settings.keys.keys_of(crate::keys::Action::Help)
    )));
    // a short terminal scrolls the help (↑/↓) rather than cut it
    let hidden = (lines.len() as u16 + 2).saturating_sub(area.height);
    let scroll = app.overlays.help_scroll.min(hidden);
    let title = if hidden > 0 {
        format!(" Keys ({}/{}, ↑↓ scroll) ", scroll + 1, hidden + 1)
    } else {
        " Keys ".to_string()
    };
    let popup = super::popup_area(frame, area, &lines);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll, 0))
            .block(Block::new().borders(Borders::ALL).title(title)),
        popup,
    );
}
