//! Header: title, listen address, state counts; then the config in use or a banner.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::App;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let (up, down, unknown) = app.counts();
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let title = Line::from(vec![
        Span::styled(" zapi-dash ", bold.fg(Color::Black).bg(Color::Cyan)),
        Span::raw(if area.width >= 100 {
            format!(" listening on {} ", app.setup.listen)
        } else {
            format!(" {} ", app.setup.listen)
        }),
        Span::raw("│ "),
        Span::styled(format!("● {up} connected"), Style::new().fg(Color::Green)),
        Span::raw("  "),
        Span::styled(
            format!("✗ {down} disconnected"),
            Style::new().fg(Color::Red).add_modifier(if down > 0 {
                Modifier::BOLD
            } else {
                Modifier::empty()
            }),
        ),
        Span::raw("  "),
        Span::styled(
            format!("? {unknown} unknown"),
            Style::new().fg(Color::Yellow),
        ),
    ]);
    let second = match (&app.setup.banner, &app.setup.config_file) {
        (Some(banner), _) => Line::from(Span::styled(
            format!(" {banner}"),
            Style::new().fg(Color::Magenta),
        )),
        (None, Some(file)) => Line::from(Span::styled(
            format!(
                " config {} · {} instances · {} events",
                super::sanitize(file),
                app.instances.len(),
                app.events
            ),
            Style::new().fg(Color::DarkGray),
        )),
        (None, None) => Line::from(Span::styled(
            format!(
                " no config file: waiting for webhooks on {}/hooks · {} events",
                app.setup.listen, app.events
            ),
            Style::new().fg(Color::Yellow),
        )),
    };
    frame.render_widget(Paragraph::new(vec![title, second]), area);
}
