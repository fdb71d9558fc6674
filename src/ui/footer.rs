//! Footer: progress of a running batch or the last action's result, then key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fit;
use super::theme::Theme;
use crate::app::{App, Level};
use crate::fleet::health::{self, StepKeys};
use crate::keys::Action;

/// The keys the next step names, as the keymap has them.
pub fn step_keys(app: &App) -> StepKeys {
    let keys = &app.settings.keys;
    StepKeys {
        restore: keys.keys_of(Action::Restore),
        restart: keys.keys_of(Action::Restart),
        register: keys.keys_of(Action::Register),
        refresh: keys.keys_of(Action::Refresh),
        connect: keys.keys_of(Action::Connect),
    }
}

/// The first line: the filter prompt, a batch's progress, a pending
/// warning or the last action's result.
fn status_line(app: &App, width: usize) -> Line<'static> {
    if app.view.searching {
        Line::from(vec![
            Span::styled(" filter / ", Theme::BOLD),
            Span::raw(fit(&app.view.search, width.saturating_sub(40))),
            Span::styled("▏", Theme::CURSOR),
            Span::styled("  Enter keeps it · Esc clears it", Theme::DIM),
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
            Theme::INFO,
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
            Theme::INFO,
        ))
    } else if let Some(w) = app.pending_warnings() {
        Line::from(Span::styled(
            fit(&format!(" ⚠ warning: {w} (any key hides this)"), width),
            Theme::WARN_BOLD,
        ))
    } else if let Some(n) = &app.ops.notice {
        let (word, style) = match n.level {
            Level::Info => ("info", Theme::PLAIN),
            Level::Ok => ("ok", Theme::GOOD),
            Level::Warn => ("warning", Theme::WARN),
            Level::Error => ("error", Theme::BAD_BOLD),
        };
        Line::from(Span::styled(
            fit(&format!(" {word}: {}", n.text), width),
            style,
        ))
    } else {
        Line::from("")
    }
}

/// The second line: the next step for the instance in view, or the keys
/// in effect.
fn hints_line(app: &App, width: usize) -> Line<'static> {
    let keys = &app.settings.keys;
    let step = app
        .overlays
        .detail
        .as_ref()
        .and_then(|d| app.get(&d.id))
        .or_else(|| app.selected_instance())
        .and_then(|inst| health::next_step(inst, &app.settings.rules, app.now, &step_keys(app)));
    match step {
        Some(step) => Line::from(vec![
            Span::styled(" next: ", Theme::WARN_BOLD),
            Span::styled(
                fit(
                    &format!("{step} · {} help", keys.keys_of(Action::Help)),
                    width.saturating_sub(7),
                ),
                Theme::WARN,
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
            Line::from(Span::styled(fit(&text, width), Theme::DIM))
        }
    }
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let width = usize::from(area.width);
    let status = status_line(app, width);
    let hints = hints_line(app, width);
    frame.render_widget(Paragraph::new(vec![status, hints]), area);
}
