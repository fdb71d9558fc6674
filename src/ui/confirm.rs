//! The confirmation popup of a restart or a session restore: what will be
//! sent, to which instances; nothing is sent before `y`.

use ratatui::Frame;
use ratatui::layout::Rect;

use ratatui::text::{Line, Span};

use super::fit;
use super::theme::Theme;
use crate::app::{App, Confirm};
use crate::fleet::InstanceAction;

/// Instances named in the popup before "and N more".
const NAMED: usize = 5;

pub fn draw(app: &App, confirm: &Confirm, frame: &mut Frame, area: Rect) {
    let n = confirm.targets.len();
    let (verb, call, effect) = match confirm.action {
        InstanceAction::Restart => (
            "Restart",
            "GET …/restart",
            "The instance drops its WhatsApp connection and reconnects.",
        ),
        InstanceAction::Restore => (
            "Restore the session of",
            "GET …/restore-session",
            "Z-API tries to bring the WhatsApp session back without a new QR code.",
        ),
    };
    let what = if n == 1 {
        "1 instance".to_string()
    } else {
        format!("{n} instances")
    };
    let mut lines = vec![
        Line::from(Span::styled(
            format!(" {verb} {what}? ({call})"),
            Theme::BOLD,
        )),
        Line::from(format!(" {effect}")),
        Line::from(""),
    ];
    for id in confirm.targets.iter().take(NAMED) {
        let label = app.get(id).map_or(id.as_str(), |i| i.label());
        lines.push(Line::from(format!("   • {}", fit(label, 50))));
    }
    if n > NAMED {
        lines.push(Line::from(format!("   … and {} more", n - NAMED)));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled(" y", Theme::BOLD),
        Span::raw(" sends it · "),
        Span::styled("n", Theme::BOLD),
        Span::raw(" or "),
        Span::styled("Esc", Theme::BOLD),
        Span::raw(" cancels · nothing is sent before y"),
    ]));
    super::draw_popup(frame, area, lines, " Confirm ");
}
