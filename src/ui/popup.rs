//! The confirmation popups' box (restart/restore, replace): what is asked,
//! a warning, the rows it acts on, and the keys — sized to its text,
//! centred, and on a small terminal shrunk by priority: the key line is
//! always there, then the question, the warning, the list (ending in
//! `… and N more`), and last the explanation.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::UnicodeWidthStr;

use super::fit;
use super::theme::Theme;

/// A confirmation popup's text, by what matters most.
pub struct Popup<'a> {
    pub title: &'a str,
    /// What is asked (wrapped; always shown, as much as fits).
    pub question: String,
    /// What the action does (wrapped; shown when there is room).
    pub effect: String,
    /// A warning about the rows (wrapped; before the list).
    pub warning: Option<String>,
    /// The rows acted on, each a group of lines (a row and its details).
    pub items: Vec<Vec<Line<'a>>>,
    /// How many rows there are in all (`items` may hold only the first).
    pub total: usize,
    /// The keys, on one line; `keys_short` when that does not fit.
    pub keys: Line<'a>,
    pub keys_short: Line<'a>,
}

/// A line of keys: each key in bold, then the words after it.
pub fn keys(parts: &[(&'static str, &'static str)]) -> Line<'static> {
    let spans: Vec<Span<'static>> = parts
        .iter()
        .flat_map(|&(key, words)| [Span::styled(key, Theme::BOLD), Span::raw(words)])
        .collect();
    Line::from(spans)
}

/// Words wrapped to `width` columns, each line indented by one space.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.saturating_sub(1).max(1);
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word = fit(word, width);
        let needed = if line.is_empty() {
            word.width()
        } else {
            line.width() + 1 + word.width()
        };
        if needed > width && !line.is_empty() {
            out.push(format!(" {}", std::mem::take(&mut line)));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        out.push(format!(" {line}"));
    }
    out
}

/// `line` cut to `width` columns (its spans kept, the last one ending in `…`).
pub fn fit_line(line: Line<'_>, width: usize) -> Line<'static> {
    let mut used = 0;
    let mut spans = Vec::new();
    for span in line.spans {
        let left = width.saturating_sub(used);
        if left == 0 {
            break;
        }
        let text = fit(&span.content, left);
        used += text.width();
        spans.push(Span::styled(text, span.style));
    }
    Line::from(spans)
}

/// The rows of the popup for an inner box `width` × `height`, by priority.
fn rows(p: &Popup<'_>, width: usize, height: usize) -> Vec<Line<'static>> {
    let styled = |texts: Vec<String>, style: Style| -> Vec<Line<'static>> {
        texts
            .into_iter()
            .map(|t| Line::from(Span::styled(t, style)))
            .collect()
    };
    let keys = if p.keys.width() <= width {
        fit_line(p.keys.clone(), width)
    } else {
        fit_line(p.keys_short.clone(), width)
    };
    let mut question = styled(wrap(&p.question, width), Theme::BOLD);
    let mut room = height.saturating_sub(1);
    question.truncate(room);
    room -= question.len();
    let mut warning = styled(
        p.warning
            .as_deref()
            .map(|w| wrap(w, width))
            .unwrap_or_default(),
        Theme::WARN_BOLD,
    );
    warning.truncate(room);
    room -= warning.len();
    let list = list_rows(p, width, room);
    room -= list.len();
    let mut effect = styled(wrap(&p.effect, width), Theme::PLAIN);
    effect.truncate(room);
    room -= effect.len();
    // blank lines between the parts, while there is room
    let body = !warning.is_empty() || !list.is_empty();
    let blank_before_body = body && room > 0;
    room -= usize::from(blank_before_body);
    let blank_before_keys = room > 0;
    let mut out = question;
    out.extend(effect);
    if blank_before_body {
        out.push(Line::from(""));
    }
    out.extend(warning);
    out.extend(list);
    if blank_before_keys {
        out.push(Line::from(""));
    }
    out.push(keys);
    out
}

/// As many whole groups of `items` as fit in `room` rows, then
/// `… and N more` for the rest.
fn list_rows(p: &Popup<'_>, width: usize, room: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut shown = 0;
    for (i, group) in p.items.iter().enumerate() {
        let rest_after = p.total.saturating_sub(i + 1);
        // room for this group and, if any are left, the "more" line
        let needed = group.len() + usize::from(rest_after > 0);
        if out.len() + needed > room {
            break;
        }
        out.extend(group.iter().map(|l| fit_line(l.clone(), width)));
        shown += 1;
    }
    let more = p.total.saturating_sub(shown);
    if more > 0 && out.len() < room {
        let text = if shown == 0 {
            format!("   {}", crate::words::count(more, "instance"))
        } else {
            format!("   … and {more} more")
        };
        out.push(Line::from(fit(&text, width)));
    }
    out
}

/// Draws the popup centred in `area`, sized to its text.
pub fn draw(frame: &mut Frame, area: Rect, popup: &Popup<'_>) {
    let widest = [
        popup.question.width() + 1,
        popup.keys.width(),
        popup.warning.as_deref().map_or(0, |w| w.width() + 1),
        popup.effect.width() + 1,
    ]
    .into_iter()
    .chain(popup.items.iter().flatten().map(Line::width))
    .max()
    .unwrap_or(0);
    let width = (widest + 3).min(usize::from(area.width));
    let inner_w = width.saturating_sub(2);
    let inner_h = usize::from(area.height.saturating_sub(2));
    let lines = rows(popup, inner_w, inner_h);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let rect = super::centred(
        frame,
        area,
        u16::try_from(width).unwrap_or(u16::MAX),
        height,
    );
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(Theme::WARN)
                .title(popup.title),
        ),
        rect,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn popup(items: usize) -> Popup<'static> {
        Popup {
            title: " Confirm ",
            question: "Restart 12 instances? (GET …/restart)".into(),
            effect: "The instance drops its WhatsApp connection and reconnects.".into(),
            warning: Some("⚠ 2 of them are connected: restarting drops them for ~30 s".into()),
            items: (0..items)
                .map(|i| vec![Line::from(format!("   • Name {i}"))])
                .collect(),
            total: 12,
            keys: Line::from(" y sends it · n or Esc cancels · nothing is sent before y"),
            keys_short: Line::from(" y sends · n/Esc cancels"),
        }
    }

    fn text(lines: &[Line]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn wrap_breaks_at_words_and_cuts_what_cannot() {
        assert_eq!(wrap("one two three", 9), [" one two", " three"]);
        assert_eq!(wrap("abcdefghijkl", 6), [" abcd…"]);
        assert!(wrap("", 10).is_empty());
    }

    #[test]
    fn the_key_line_is_always_the_last_row_and_the_list_shrinks() {
        for height in 1..30 {
            for width in [20, 38, 76] {
                let rows = rows(&popup(5), width, height);
                assert!(rows.len() <= height.max(1), "{width}×{height}");
                let last = rows.last().unwrap().to_string();
                assert!(last.contains("y sends"), "{width}×{height}: {last}");
                assert!(rows.iter().all(|l| l.width() <= width), "{width}×{height}");
            }
        }
        // a short box: question, warning, two names and the rest counted
        let shown = text(&rows(&popup(5), 76, 6));
        let rows = shown;
        assert_eq!(rows[0], " Restart 12 instances? (GET …/restart)");
        assert!(rows[1].contains("2 of them are connected"), "{rows:?}");
        assert_eq!(rows[2], "   • Name 0");
        assert_eq!(rows[3], "   • Name 1");
        assert_eq!(rows[4], "   … and 10 more");
        assert_eq!(
            rows[5],
            " y sends it · n or Esc cancels · nothing is sent before y"
        );
        // a narrow one takes the short keys
        let narrow = text(&super::rows(&popup(5), 30, 10));
        assert_eq!(narrow.last().unwrap(), " y sends · n/Esc cancels");
    }

    #[test]
    fn with_room_everything_is_there_with_blank_lines_between() {
        let shown = text(&rows(&popup(5), 76, 30));
        let rows = shown;
        assert!(rows.iter().any(|r| r.contains("drops its WhatsApp")));
        assert!(rows.iter().any(|r| r == "   … and 7 more"), "{rows:?}");
        assert!(
            rows.iter().filter(|r| r.is_empty()).count() >= 2,
            "{rows:?}"
        );
    }
}
