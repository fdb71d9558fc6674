//! Footer: progress of a running batch or the last action's result, then key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fit;
use crate::app::{App, Level};
use crate::health::{self, StepKeys};
use crate::keys::Action;

/// The keys the next step names, as the keymap has them.
pub fn step_keys(app: &App) -> StepKeys {
    let keys = &app.settings.keys;
    StepKeys {
        restore: keys.keys_of(Action::Restore),
        restart: keys.keys_of(Action::Restart),
        register: keys.keys_of(Action::Register),
        refresh: keys.keys_of(Action::Refresh),
    }
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let width = usize::from(area.width);
    let status = if app.view.searching {
        Line::from(vec![
            Span::styled(" filter / ", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(fit(&app.view.search, width.saturating_sub(40))),
            Span::styled("▏", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::styled(
                "  Enter keeps it · Esc clears it",
                Style::new().fg(Color::DarkGray),
            ),
        ])
    } else if let Some(b) = app.ops.register_batch {
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
    } else if let Some(b) = app.ops.status_batch {
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
    } else if let Some(n) = &app.ops.notice {
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
    let keys = &app.settings.keys;
    let step = app
        .overlays
        .detail
        .as_ref()
        .and_then(|d| app.get(&d.id))
        .or_else(|| app.selected_instance())
        .and_then(|inst| health::next_step(inst, &app.settings.rules, app.now, &step_keys(app)));
    let hints = match step {
        Some(step) => Line::from(vec![
            Span::styled(
                " next: ",
                Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                fit(
                    &format!("{step} · {} help", keys.keys_of(Action::Help)),
                    width.saturating_sub(7),
                ),
                Style::new().fg(Color::Yellow),
            ),
        ]),
        None => {
            // the keys in effect, each with its word
            let hints: &[(Option<Action>, &str)] = if app.overlays.detail.is_some() {
                &[
                    (Some(Action::Down), "scroll"),
                    (None, "back"),
                    (Some(Action::Restart), "restart"),
                    (Some(Action::Restore), "restore"),
                    (Some(Action::Register), "register"),
                    (Some(Action::Help), "help"),
                ]
            } else {
                &[
                    (Some(Action::Detail), "open"),
                    (Some(Action::Search), "filter"),
                    (Some(Action::Sort), "sort"),
                    (Some(Action::StateFilter), "state"),
                    (Some(Action::Mark), "mark"),
                    (Some(Action::Register), "register"),
                    (Some(Action::RegisterAll), "drifted"),
                    (Some(Action::Refresh), "status"),
                    (Some(Action::Help), "help"),
                    (Some(Action::Quit), "quit"),
                ]
            };
            let text: Vec<String> = hints
                .iter()
                .map(|(a, word)| {
                    let key = a.map_or_else(|| "Esc".to_string(), |a| keys.keys_of(a));
                    format!("{key} {word}")
                })
                .collect();
            let text = format!(" {}", text.join(" · "));
            Line::from(Span::styled(
                fit(&text, width),
                Style::new().fg(Color::DarkGray),
            ))
        }
    };
    frame.render_widget(Paragraph::new(vec![status, hints]), area);
}
