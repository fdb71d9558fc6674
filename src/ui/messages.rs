//! The message log (`l`): every notice the footer showed, the operator's
//! and the background ones, with time and level, newest last; long ones
//! wrap. It follows the newest until scrolled (↑↓ PgUp/PgDn, Home/End).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::theme::Theme;
use super::wrap;
use crate::app::{App, Level, Message, MessageView};
use crate::keys::Action;

/// The level as a word (never colour alone) and its style.
pub fn level_word(level: Level) -> (&'static str, Style) {
    match level {
        Level::Info => ("info", Theme::PLAIN),
        Level::Ok => ("ok", Theme::GOOD),
        Level::Warn => ("warn", Theme::WARN),
        Level::Error => ("error", Theme::BAD_BOLD),
    }
}

/// Columns before the text: ` 14:03:12 error `.
const PREFIX: usize = 16;

/// One notice as lines: time and level on the first, the text wrapped
/// under itself.
fn entry_lines(app: &App, m: &Message, width: usize) -> Vec<Line<'static>> {
    let tz = app.setup.tz;
    let at = if tz.format(m.at, "%Y-%m-%d") == tz.format(app.now, "%Y-%m-%d") {
        tz.format(m.at, "%H:%M:%S")
    } else {
        tz.format(m.at, "%m-%d %H:%M")
    };
    let (word, style) = level_word(m.level);
    let text_w = width.saturating_sub(PREFIX).max(8);
    let text = if m.background {
        m.text.clone()
    } else {
        // the operator's own, told apart without colour
        format!("▸ {}", m.text)
    };
    wrap(&text, text_w)
        .into_iter()
        .enumerate()
        .map(|(n, part)| {
            let head = if n == 0 {
                format!(" {at:<8} {word:<5} ")
            } else {
                " ".repeat(PREFIX)
            };
            Line::from(vec![
                Span::styled(head, if n == 0 { style } else { Theme::PLAIN }),
                Span::styled(
                    part,
                    if m.level == Level::Error {
                        style
                    } else {
                        Theme::PLAIN
                    },
                ),
            ])
        })
        .collect()
}

pub fn draw(app: &App, view: &MessageView, frame: &mut Frame, area: Rect) {
    let width = usize::from(area.width.saturating_sub(2));
    let rows = usize::from(area.height.saturating_sub(2));
    let entries: Vec<&Message> = app.ops.messages.iter().collect();
    let len = entries.len();
    let mut lines: Vec<Line> = Vec::new();
    let (first, last) = match view.top {
        // from the chosen entry down
        Some(top) => {
            let top = top.min(len.saturating_sub(1));
            let mut end = top;
            for m in entries.iter().skip(top) {
                if lines.len() >= rows {
                    break;
                }
                lines.extend(entry_lines(app, m, width));
                end += 1;
            }
            lines.truncate(rows);
            (top, end)
        }
        // the newest at the bottom, as many above as fit
        None => {
            let mut start = len;
            let mut stack: Vec<Vec<Line>> = Vec::new();
            let mut used = 0;
            for m in entries.iter().rev() {
                let l = entry_lines(app, m, width);
                if used + l.len() > rows && used > 0 {
                    break;
                }
                used += l.len();
                stack.push(l);
                start -= 1;
            }
            lines = stack.into_iter().rev().flatten().collect();
            // the newest alone taller than the window: its start (time, level)
            lines.truncate(rows);
            (start, len)
        }
    };
    if len == 0 {
        lines.push(Line::from(Span::styled(
            " no messages yet: results of calls and actions will be listed here",
            Theme::DIM,
        )));
    }
    let close = app.settings.keys.keys_of(Action::MessageLog);
    let position = if len == 0 {
        String::new()
    } else {
        format!("{}–{} of {} · ", first + 1, last, len)
    };
    let title = super::fit(
        &format!(" Messages · {position}newest last · Esc or {close} closes "),
        width,
    );
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(title)),
        area,
    );
}
