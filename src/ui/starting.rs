//! The starting screen: drawn at once, before the dashboard has anything to
//! show (the demo's simulator starting, the event log being read), so the
//! terminal is never blank and keys typed meanwhile are not echoed.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::theme::Theme;

/// `title` and what is being done, centred, and how to leave. No colour
/// (it is drawn before `NO_COLOR` is known to the view); words wrap on a
/// narrow terminal and nothing panics on a tiny one.
pub fn draw(title: &str, doing: &str, frame: &mut Frame) {
    let lines = vec![
        Line::from(Span::styled(title, Theme::BOLD)),
        Line::from(Span::styled(doing, Theme::PLAIN)),
        Line::from(vec![
            Span::styled("q", Theme::BOLD),
            Span::styled(" quits", Theme::PLAIN),
        ]),
    ];
    let area = frame.area();
    let width = usize::from(area.width.max(1));
    // the lines as wrapped at this width, so the block stays centred
    let height: usize = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
    let height = u16::try_from(height).unwrap_or(u16::MAX);
    let [_, middle, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(height),
        Constraint::Fill(1),
    ])
    .areas(area);
    let text = Paragraph::new(lines)
        .alignment(Alignment::Center)
        .wrap(Wrap { trim: true });
    frame.render_widget(text, middle);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
        t.draw(|f| draw("zapi-dash demo", "starting 20 simulated instances…", f))
            .unwrap();
        let buf = t.backend().buffer();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn says_what_starts_centred_and_how_to_leave() {
        let s = screen(80, 24);
        let lines: Vec<&str> = s.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains("starting 20 simulated instances…"))
            .unwrap();
        assert!((10..=13).contains(&at), "centred vertically:\n{s}");
        assert!(lines[at - 1].contains("zapi-dash demo"), "{s}");
        assert!(lines[at + 1].contains("q quits"), "{s}");
        assert!(lines[at].starts_with("        "), "centred:\n{s}");
    }

    #[test]
    fn wraps_on_a_narrow_terminal_and_never_panics_on_a_tiny_one() {
        let s = screen(20, 10);
        assert!(s.contains("starting 20"), "{s}");
        assert!(s.contains("simulated"), "{s}");
        for (w, h) in [(1, 1), (2, 1), (5, 2), (40, 3)] {
            screen(w, h);
        }
    }
}
