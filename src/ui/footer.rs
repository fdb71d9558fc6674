//! Footer: progress of a running batch or the last action's result, then key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fit;
use crate::app::{App, Level};

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let width = usize::from(area.width);
    let status = if let Some(b) = app.register_batch {
        let failed = if b.failed > 0 {
            format!(", {} failed", b.failed)
        } else {
            String::new()
        };
        Line::from(Span::styled(
            fit(
                &format!(
                    " ⟳ re-registering webhooks: {}/{} done{failed}",
                    b.done, b.total
                ),
                width,
            ),
            Style::new().fg(Color::Cyan),
        ))
    } else if let Some(b) = app.status_batch {
        Line::from(Span::styled(
            fit(
                &format!(
                    " ⟳ asking Z-API for status: {}/{} answered",
                    b.done, b.total
                ),
                width,
            ),
            Style::new().fg(Color::Cyan),
        ))
    } else if let Some(w) = app.pending_warnings() {
        Line::from(Span::styled(
            fit(&format!(" ⚠ warning: {w} (any key hides this)"), width),
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ))
    } else if let Some(n) = &app.notice {
        let (word, style) = match n.level {
            Level::Info => ("info", Style::new()),
            Level::Ok => ("ok", Style::new().fg(Color::Green)),
            Level::Warn => ("warning", Style::new().fg(Color::Yellow)),
            Level::Error => (
                "error",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        };
        Line::from(Span::styled(
            fit(&format!(" {word}: {}", n.text), width),
            style,
        ))
    } else {
        Line::from("")
    };
    let hints = Line::from(Span::styled(
        fit(
            " ↑↓/jk move · r register · R register all · s status · ? help · q quit",
            width,
        ),
        Style::new().fg(Color::DarkGray),
    ));
    frame.render_widget(Paragraph::new(vec![status, hints]), area);
}
