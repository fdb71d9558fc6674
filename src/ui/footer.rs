//! Footer: progress of a running batch or the last action's result, then key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::fit;
use super::theme::Theme;
use crate::app::{App, FooterNotice, Level};
use crate::keys::Action;

/// The first line: the filter prompt, a batch's progress, a pending
/// warning or the last action's result.
fn status_line(app: &App, width: usize) -> Line<'static> {
    if app.view.searching {
        // `/` always starts a new filter: say which one it replaces
        let replaces = if app.view.replaced_search.is_empty() {
            String::new()
        } else {
            format!(" · replaces \"{}\"", fit(&app.view.replaced_search, 16))
        };
        Line::from(vec![
            Span::styled(" new filter / ", Theme::BOLD),
            Span::raw(fit(&app.view.search, width.saturating_sub(44))),
            Span::styled("▏", Theme::CURSOR),
            Span::styled(
                format!("  Enter keeps it · Esc clears it{replaces}"),
                Theme::DIM,
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
    } else if let Some((action, b, _)) = &app.ops.action_batch {
        Line::from(Span::styled(
            fit(
                &format!(" ⟳ {}: {}/{} answered", action.word(), b.done, b.total),
                width,
            ),
            Theme::INFO,
        ))
    } else if let Some(w) = app.pending_warnings() {
        Line::from(Span::styled(
            fit(&format!(" ⚠ warning: {w} (any key hides this)"), width),
            Theme::WARN_BOLD,
        ))
    } else if let Some(shown) = app.footer_notice() {
        notice_line(app, &shown, width)
    } else {
        Line::from("")
    }
}

/// A notice with its level in words, and how many more the log holds
/// (`l` shows them).
fn notice_line(app: &App, shown: &FooterNotice, width: usize) -> Line<'static> {
    let n = shown.notice;
    let (word, style) = match n.level {
        Level::Info => ("info", Theme::PLAIN),
        Level::Ok => ("ok", Theme::GOOD),
        Level::Warn => ("warning", Theme::WARN),
        Level::Error => ("error", Theme::BAD_BOLD),
    };
    let more = if shown.unseen > 0 {
        format!(
            " · {} more in the log ({})",
            shown.unseen,
            app.settings.keys.keys_of(Action::MessageLog)
        )
    } else {
        String::new()
    };
    let more_w = more.chars().count();
    // the notice keeps the room; the pointer to the log goes first
    let (text_w, more) = if width >= more_w + 30 {
        (width - more_w, more)
    } else {
        (width, String::new())
    };
    Line::from(vec![
        Span::styled(fit(&format!(" {word}: {}", n.text), text_w), style),
        Span::styled(more, Theme::DIM),
    ])
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
        .and_then(|inst| app.next_step(inst))
        // the message log covers the rows: its own keys
        .filter(|_| app.overlays.messages.is_none());
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
            let hints: &[(Option<Action>, &str)] = if app.overlays.messages.is_some() {
                &[
                    (Some(Action::Down), "scroll"),
                    (Some(Action::PageDown), "page"),
                    (Some(Action::Bottom), "newest"),
                    (Some(Action::MessageLog), "or Esc close"),
                ]
            } else if app.overlays.detail.is_some() {
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
                    (Some(Action::MessageLog), "log"),
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
            with_switches(app, text, width)
        }
    }
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let width = usize::from(area.width);
    let status = status_line(app, width);
    let hints = hints_line(app, width);
    frame.render_widget(Paragraph::new(vec![status, hints]), area);
}

/// The key hints `hints`, then the switches' keys with their state (`b
/// bell on · m mouse off`: what the key would change is plain to see).
/// The switches stay at the end when the hints are cut, from 60 columns up;
/// below that the hints keep the room.
fn with_switches(app: &App, hints: String, width: usize) -> Line<'static> {
    use super::fitting::{fit_words, width as cols};
    let keys = &app.settings.keys;
    let on_off = |on: bool| if on { "on" } else { "off" };
    let switches = format!(
        " · {} bell {} · {} mouse {}",
        keys.keys_of(Action::Bell),
        on_off(app.switches.bell),
        keys.keys_of(Action::Mouse),
        on_off(app.switches.mouse)
    );
    let text = if cols(&hints) + cols(&switches) <= width {
        format!("{hints}{switches}")
    } else if width >= 60 {
        format!(
            "{}{switches}",
            fit_words(&hints, width.saturating_sub(cols(&switches)))
        )
    } else {
        fit_words(&hints, width)
    };
    Line::from(Span::styled(text, Theme::DIM))
}
