//! The confirmation before a registration replaces another system's
//! webhook URL: each such instance with the URL (masked) that would be
//! replaced; `y` registers all, `n` only the others, `Esc` none.

use ratatui::Frame;
use ratatui::layout::Rect;

use ratatui::text::{Line, Span};

use super::theme::Theme;
use super::{fit, sanitize};
use crate::app::{App, ReplaceConfirm};

/// Instances named in the popup before "and N more".
const NAMED: usize = 5;

pub fn draw(app: &App, confirm: &ReplaceConfirm, frame: &mut Frame, area: Rect) {
    let n = confirm.foreign.len();
    let url_w = usize::from(area.width.saturating_sub(12)).clamp(20, 100);
    let bold = Theme::BOLD;
    let mut lines = vec![
        Line::from(Span::styled(
            if n == 1 {
                " 1 instance's webhooks point at another system:".to_string()
            } else {
                format!(" {n} instances' webhooks point at another system:")
            },
            bold,
        )),
        Line::from(" registering replaces these URLs, and that system stops getting the events."),
        Line::from(""),
    ];
    for (id, urls) in confirm.foreign.iter().take(NAMED) {
        let label = app.get(id).map_or(id.as_str(), |i| i.label());
        lines.push(Line::from(format!("   • {}", fit(&sanitize(label), 50))));
        for url in urls {
            lines.push(Line::from(Span::styled(
                format!("       {}", fit(&sanitize(url), url_w)),
                Theme::WARN,
            )));
        }
    }
    if n > NAMED {
        lines.push(Line::from(format!("   … and {} more", n - NAMED)));
    }
    lines.push(Line::from(""));
    let others = confirm.others.len();
    let n_does = if others == 0 {
        " leaves them alone".to_string()
    } else {
        format!(" registers only the other {others}")
    };
    lines.push(Line::from(vec![
        Span::styled(" y", bold),
        Span::raw(" replaces them · "),
        Span::styled("n", bold),
        Span::raw(n_does),
        Span::raw(" · "),
        Span::styled("Esc", bold),
        Span::raw(" sends nothing"),
    ]));
    super::draw_popup(frame, area, lines, " Replace another system's webhooks? ");
}
