//! The view: a pure function of [`App`]. It reads the state and draws; it
//! never mutates, never reads the clock (the app carries `now`), never does I/O.
//! One file per widget.

mod columns;
mod confirm;
mod connect;
mod detail;
mod fitting;
mod footer;
mod header;
pub mod help;
mod link;
mod messages;
mod popup;
mod relay;
mod replace;
pub mod starting;
mod table;
pub mod theme;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use unicode_width::UnicodeWidthChar;

use crate::app::{App, TimeZone};

use crate::app::layout::{FOOTER_LINES, HEADER_LINES};

/// The terminal size (columns, rows) the Connect popup needs to draw this
/// QR code whole.
pub use connect::needed as connect_size;

/// Draws the whole screen.
pub fn draw(app: &App, frame: &mut Frame) {
    let [top, middle, bottom] = Layout::vertical([
        Constraint::Length(HEADER_LINES),
        Constraint::Min(0),
        Constraint::Length(FOOTER_LINES),
    ])
    .areas(frame.area());
    header::draw(app, frame, top);
    match app.overlays.detail.as_ref() {
        Some(d) => detail::draw(app, d, frame, middle),
        None => table::draw(app, frame, middle),
    }
    if let Some(view) = &app.overlays.messages {
        messages::draw(app, view, frame, middle);
    }
    if let Some(list) = &app.overlays.relay {
        relay::draw(app, list, frame, middle);
    }
    footer::draw(app, frame, bottom);
    if let Some(c) = &app.overlays.confirm {
        confirm::draw(app, c, frame, frame.area());
    }
    if let Some(r) = &app.overlays.replace {
        replace::draw(app, r, frame, frame.area());
    }
    if let Some(u) = &app.overlays.unadopt {
        replace::draw_unadopt(app, u, frame, frame.area());
    }
    if let Some(c) = &app.overlays.connect {
        connect::draw(app, c, frame, frame.area());
    }
    if app.overlays.show_help {
        help::draw(app, frame, frame.area());
    }
    if app.settings.no_color {
        // NO_COLOR: every colour goes, the words, symbols and bold/reverse stay
        for cell in frame.buffer_mut().content.iter_mut() {
            cell.fg = ratatui::style::Color::Reset;
            cell.bg = ratatui::style::Color::Reset;
        }
        connect::keep_code_contrast(app, frame);
    }
}

/// The centred rectangle a popup of these lines takes inside `area`
/// (borders included), cleared so the popup covers what is under it.
pub fn popup_area(
    frame: &mut Frame,
    area: ratatui::layout::Rect,
    lines: &[ratatui::text::Line],
) -> ratatui::layout::Rect {
    let width = lines
        .iter()
        .map(ratatui::text::Line::width)
        .max()
        .unwrap_or(0)
        .saturating_add(3);
    let height = lines.len().saturating_add(2);
    centred(
        frame,
        area,
        u16::try_from(width).unwrap_or(u16::MAX),
        u16::try_from(height).unwrap_or(u16::MAX),
    )
}

/// A `width` × `height` rectangle centred in `area` (cut to it), cleared
/// so what is drawn there covers what is under it.
pub fn centred(
    frame: &mut Frame,
    area: ratatui::layout::Rect,
    width: u16,
    height: u16,
) -> ratatui::layout::Rect {
    use ratatui::layout::Flex;
    let [popup] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(popup);
    frame.render_widget(ratatui::widgets::Clear, popup);
    popup
}

/// Makes text from the network safe to put on the terminal: control
/// characters (C0, DEL, C1: the start of every escape sequence) and
/// bidirectional overrides become `�`, line breaks become spaces.
pub fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => ' ',
            c if c.is_control() => '\u{FFFD}',
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' => {
                '\u{FFFD}'
            }
            c => c,
        })
        .collect()
}

/// Sanitizes `s` and cuts it to at most `width` terminal columns, ending
/// with `…` when it was cut.
pub fn fit(s: &str, width: usize) -> String {
    let clean = sanitize(s);
    let total: usize = clean.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        return clean;
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in clean.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Sanitizes `s` and breaks it into lines of at most `width` terminal
/// columns, between words where it can (a word longer than a line is
/// broken inside). Never returns no line; long text is never cut.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let clean = sanitize(s);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut used = 0;
    // runs of spaces stay (aligned columns), except where a line breaks
    for (n, word) in clean.split(' ').enumerate() {
        let w: usize = word.chars().map(|c| c.width().unwrap_or(0)).sum();
        if n > 0 {
            if used + 1 + w <= width {
                line.push(' ');
                used += 1;
            } else if used > 0 {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
        }
        if used == 0 && word.is_empty() && !lines.is_empty() {
            continue;
        }
        for c in word.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > width && used > 0 {
                lines.push(std::mem::take(&mut line));
                used = 0;
            }
            line.push(c);
            used += cw;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

pub use crate::words::age;

/// When something happened: local date-time and age. `wide` gives the full
/// "2026-11-24 14:03:12 · 3m ago"; otherwise a compact form for narrow
/// terminals: "14:03 · 3m ago" today, "11-20 · 4d ago" before.
pub fn when(tz: TimeZone, now: DateTime<Utc>, t: DateTime<Utc>, wide: bool) -> String {
    let ago = age(now, t);
    if wide {
        format!("{} · {ago}", tz.format(t, "%Y-%m-%d %H:%M:%S"))
    } else if tz.format(t, "%Y-%m-%d") == tz.format(now, "%Y-%m-%d") {
        format!("{} · {ago}", tz.format(t, "%H:%M"))
    } else {
        format!("{} · {ago}", tz.format(t, "%m-%d"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, TimeZone as _};

    #[test]
    fn sanitize_neutralises_escapes() {
        let s = sanitize("bad\x1b[2J\x1b]0;title\x07 text\u{202E}x\u{9b}");
        assert!(!s.chars().any(|c| c.is_control()), "{s:?}");
        assert!(!s.contains('\u{202E}'));
        assert!(s.starts_with("bad\u{FFFD}[2J"));
    }

    #[test]
    fn fit_cuts_with_ellipsis() {
        assert_eq!(fit("hello", 10), "hello");
        assert_eq!(fit("hello world", 6), "hello…");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn wrap_breaks_between_words_and_keeps_everything() {
        assert_eq!(wrap("", 10), vec![String::new()]);
        assert_eq!(
            wrap("tcp connect error: Connection refused (os error 111)", 20),
            vec!["tcp connect error:", "Connection refused", "(os error 111)"]
        );
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\x1b[2J b", 80), vec!["a\u{FFFD}[2J b"]);
        assert_eq!(wrap("x", 0), vec!["x"]);
        assert_eq!(wrap("received     (none)", 80), vec!["received     (none)"]);
    }

    #[test]
    fn ages() {
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 14, 6, 12).unwrap();
        assert_eq!(age(now, now - chrono::Duration::seconds(3 * 60)), "3m ago");
        assert_eq!(age(now, now - chrono::Duration::seconds(5)), "5s ago");
        assert_eq!(age(now, now - chrono::Duration::hours(3)), "3h ago");
        assert_eq!(age(now, now - chrono::Duration::days(3)), "3d ago");
        assert_eq!(age(now, now + chrono::Duration::seconds(30)), "just now");
    }

    #[test]
    fn when_wide_and_compact() {
        let tz = TimeZone::Fixed(FixedOffset::east_opt(0).unwrap());
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 14, 6, 12).unwrap();
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 14, 3, 12).unwrap();
        assert_eq!(when(tz, now, t, true), "2026-11-24 14:03:12 · 3m ago");
        assert_eq!(when(tz, now, t, false), "14:03 · 3m ago");
        let old = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
        assert_eq!(when(tz, now, old, false), "11-20 · 4d ago");
    }
}
