//! The relay on the screen: the header's part (`relay: 2 targets · lag 0 ·
//! 3 dead`), the target list (`F`) with a target's dead letters, and the
//! detail pane's forwarding line.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::fitting::Part;
use super::theme::Theme;
use crate::app::{App, RelayList};
use crate::model::InstanceId;
use crate::relay::TargetStatus;
use crate::words::count;

/// The header's part when targets exist: their number, the largest lag
/// and the dead letters; warned (⚠ and colour) past the lag limits or
/// with dead letters.
pub fn header_part(app: &App) -> Option<Part> {
    let targets = &app.ops.relay;
    if targets.is_empty() {
        return None;
    }
    let lag = targets.iter().map(|t| t.lag_events).max().unwrap_or(0);
    let dead: usize = targets.iter().map(|t| t.dead_letters).sum();
    let age = targets
        .iter()
        .map(|t| t.lag_age(app.now))
        .max()
        .unwrap_or_default();
    let lag_text = if age.as_secs() >= 60 {
        format!("lag {lag} ({})", short_secs(age.as_secs()))
    } else {
        format!("lag {lag}")
    };
    let (mark, style) = if app.relay_warns() {
        ("⚠ ", Theme::WARN_BOLD)
    } else {
        ("", Theme::DIM)
    };
    let long = format!(
        "{mark}relay: {} · {lag_text} · {dead} dead",
        count(targets.len(), "target")
    );
    let short = format!("{mark}relay lag {lag} · {dead} dead");
    Some(Part::two(" · ", (60, long), (85, short), style))
}

fn short_secs(secs: u64) -> String {
    match secs {
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// One target's row of the list.
fn target_line(
    t: &TargetStatus,
    now: DateTime<Utc>,
    selected: bool,
    width: usize,
) -> Line<'static> {
    let last = match (&t.last_error, t.last_delivery) {
        (Some(e), _) if t.lag_events > 0 => format!("last error: {}", super::sanitize(e)),
        (_, Some(at)) => format!("last 2xx {}", super::age(now, at)),
        _ => "nothing delivered yet".into(),
    };
    let age = t.lag_age(now).as_secs();
    // what matters first: a narrow terminal cuts the URL and the rest
    let text = format!(
        "{} {:<12} lag {} ({}) · dead {} · {}/s · delivered {} · failures {} · {} · {}",
        if selected { "▸" } else { " " },
        t.name,
        t.lag_events,
        short_secs(age),
        t.dead_letters,
        t.rate_per_s,
        t.delivered,
        t.failures,
        last,
        t.url,
    );
    let warn = t.dead_letters > 0 || t.lag_events > crate::app::LAG_WARN_EVENTS;
    let style = match (selected, warn) {
        (true, _) => Theme::SELECTED,
        (false, true) => Theme::WARN,
        (false, false) => Theme::PLAIN,
    };
    Line::from(Span::styled(super::fit(&text, width), style))
}

/// The list (`F`): every target, and under it the selected one's dead
/// letters when `Enter` asked for them, or the `d` question.
pub fn draw(app: &App, list: &RelayList, frame: &mut Frame, area: Rect) {
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines: Vec<Line> = app
        .ops
        .relay
        .iter()
        .enumerate()
        .map(|(i, t)| target_line(t, app.now, i == list.selected, width))
        .collect();
    lines.push(Line::from(""));
    let name = app
        .ops
        .relay
        .get(list.selected)
        .map_or("", |t| t.name.as_str());
    if list.confirm_drop {
        lines.push(Line::from(Span::styled(
            super::fit(
                &format!(
                    " drop {name}'s dead letters for good? y drops · any other key keeps them"
                ),
                width,
            ),
            Theme::WARN_BOLD,
        )));
    }
    match &list.dead {
        Some(Ok(letters)) if letters.is_empty() => lines.push(Line::from(Span::styled(
            format!(" {name}: no dead letters"),
            Theme::DIM,
        ))),
        Some(Ok(letters)) => {
            lines.push(Line::from(Span::styled(
                format!(" {name}: {}", count(letters.len(), "dead letter")),
                Theme::BOLD,
            )));
            for l in letters
                .iter()
                .rev()
                .take(usize::from(area.height.saturating_sub(6)))
            {
                let text = format!(
                    "   seq {} · {} · received {} · {}",
                    l.seq,
                    super::sanitize(l.instance_id.as_str()),
                    super::age(app.now, l.received),
                    super::sanitize(&l.error)
                );
                lines.push(Line::from(Span::raw(super::fit(&text, width))));
            }
        }
        Some(Err(e)) => lines.push(Line::from(Span::styled(
            super::fit(
                &format!(" {name}: cannot read the dead letters: {e}"),
                width,
            ),
            Theme::BAD,
        ))),
        None => {}
    }
    let title = super::fit(
        " Forward targets · ↑↓ select · Enter dead letters · t retry · d drop · Esc closes ",
        width,
    );
    frame.render_widget(ratatui::widgets::Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(title)),
        area,
    );
}

/// The detail pane's line: where the instance's events go and how the
/// last delivery went (none when there are no targets).
pub fn forwarding_text(app: &App, id: &InstanceId) -> Option<String> {
    let targets = app.forwarding_of(id);
    if app.ops.relay.is_empty() {
        return None;
    }
    if targets.is_empty() {
        return Some("not forwarded (no target takes this instance)".into());
    }
    let parts: Vec<String> = targets
        .iter()
        .map(|t| {
            let result = match t.instances.get(id.as_str()) {
                Some(r) if r.ok => format!("✓ 2xx {}", super::age(app.now, r.at)),
                Some(r) => format!(
                    "✗ {} {}",
                    r.error.as_deref().map(super::sanitize).unwrap_or_default(),
                    super::age(app.now, r.at)
                ),
                None => "no delivery yet".into(),
            };
            let adopted = if t.adopted { " (adopted)" } else { "" };
            format!("{}{adopted} {} ({result})", t.name, t.url)
        })
        .collect();
    Some(parts.join(" · "))
}
