//! Header: title, listen address, state counts; then the config in use or a
//! banner (`watch`: the server, or a red banner while cut off from it).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

use chrono::{DateTime, Utc};

use super::fitting::{Part, cut_line, fit_parts};
use super::theme::Theme;
use crate::app::{App, Link};
use crate::words::count;

/// The first line's parts, in the order drawn: the name, the listen
/// address, the state counts, the problems, then [`extra_parts`]. Each
/// form says at which priority it is given up to fit the width (lower goes
/// first): the address and the name go before the counts shorten, the
/// problems count and the state counts are the last to go, and nothing is
/// ever cut mid-word.
fn title_parts(app: &App) -> Vec<Part> {
    let (up, down, unknown) = app.counts();
    let mut parts = vec![Part::one("", 20, " zapi-dash ".into(), Theme::TITLE)];
    if !app.setup.listen.is_empty() {
        // `watch` has no local listener (the banner names the server)
        parts.push(Part::two(
            " ",
            (10, format!("listening on {} │", app.setup.listen)),
            (15, format!("{} │", app.setup.listen)),
            Theme::PLAIN,
        ));
    }
    parts.push(Part::two(
        " ",
        (40, format!("● {up} connected")),
        (70, format!("● {up} up")),
        Theme::GOOD,
    ));
    parts.push(Part::two(
        "  ",
        (50, format!("✗ {down} disconnected")),
        (80, format!("✗ {down} down")),
        if down > 0 {
            Theme::BAD_BOLD
        } else {
            Theme::BAD
        },
    ));
    parts.push(Part::two(
        "  ",
        (40, format!("? {unknown} unknown")),
        (60, format!("? {unknown}")),
        Theme::WARN,
    ));
    let problems = app.view.problems;
    if problems > 0 {
        parts.push(Part::two(
            "  ",
            (65, format!("⚠ {}", count(problems, "problem"))),
            (90, format!("⚠ {problems}")),
            Theme::WARN_BOLD,
        ));
    }
    parts.extend(extra_parts(app));
    parts
}

/// More parts of the first line, after the problems count, each with the
/// priorities of its forms (see [`title_parts`]: 65 and up outlives the
/// state counts' long forms, 90 outlives everything but the problems
/// count). The slot for what the header says beyond the fleet's states.
fn extra_parts(app: &App) -> Vec<Part> {
    let mut parts = Vec::new();
    // a failed listing: said until one works (the rows stay as they were)
    let mut failures = app.fleet.discovery_failures();
    if let Some((account, _)) = failures.next() {
        let more = failures.count();
        let others = if more > 0 {
            format!(" (+{more})")
        } else {
            String::new()
        };
        parts.push(Part::two(
            "  ",
            (
                66,
                format!(
                    "⚠ discovery failed for {}{others}",
                    super::sanitize(account)
                ),
            ),
            (85, "⚠ discovery failed".into()),
            Theme::WARN_BOLD,
        ));
    }
    // wide terminals: the counts per account, the first to go
    if app.fleet.account_names().len() > 1 {
        let text: Vec<String> = app
            .fleet
            .account_census()
            .map(|(name, n, down)| format!("{} {n}/{down}✗", super::sanitize(name)))
            .collect();
        parts.push(Part::one(
            "  │ ",
            5,
            format!("per account (all/✗): {}", text.join(" · ")),
            Theme::DIM,
        ));
    }
    parts.extend(super::relay::header_part(app));
    parts
}

/// The first line: [`title_parts`] fitted to the width.
fn title_line(app: &App, width: u16) -> Line<'static> {
    fit_parts(&title_parts(app), usize::from(width))
}

/// The second line: the config in use or a banner, what is missing, the
/// CUT OFF banner of `watch`, a lasting warning.
fn second_line(app: &App, width: usize) -> Line<'static> {
    // the Z-API link state comes first: what follows fits in the rest
    let link = super::link::span(app);
    let width = width.saturating_sub(link.as_ref().map_or(0, |l| l.width() + 1));
    if link.is_some() && width < 4 {
        // no room for a word more: the link state alone
        return with_zapi_link(link, Line::default());
    }
    let second = match (&app.setup.banner, &app.setup.config_file) {
        (Some(banner), _) => Line::from(Span::styled(format!(" {banner}"), Theme::BANNER)),
        // the counts outlast the file's path
        (None, Some(file)) => fit_parts(
            &[
                Part::one(
                    " ",
                    10,
                    format!("config {}", super::sanitize(file)),
                    Theme::DIM,
                ),
                Part::one(
                    " · ",
                    30,
                    count(app.fleet.instances.len(), "instance"),
                    Theme::DIM,
                ),
                Part::one(" · ", 20, events(app.fleet.events), Theme::DIM),
            ],
            width,
        ),
        (None, None) => Line::from(Span::styled(
            format!(
                " no config file: waiting for webhooks on {}/hooks · {}",
                app.setup.listen,
                events(app.fleet.events)
            ),
            Theme::WARN,
        )),
    };
    let second = with_no_client_token(app, second);
    // `watch` (no local listener): the server with its counts, and a red
    // banner instead while the link to it is cut
    let second = match (&app.link, &app.setup.banner) {
        (
            Some(Link::Down {
                since,
                error,
                retry_at,
            }),
            banner,
        ) => cut_off(app, banner.as_deref(), *since, error, *retry_at),
        (_, Some(banner)) if app.setup.listen.is_empty() => Line::from(Span::styled(
            format!(
                " {banner} · {} · {}",
                count(app.fleet.instances.len(), "instance"),
                events(app.fleet.events)
            ),
            Theme::BANNER,
        )),
        _ => second,
    };
    let second = match (&app.ops.header_warning, &app.link) {
        (Some(warning), None) => with_warning(warning, second),
        _ => second,
    };
    // `watch`: the server's lasting trouble (a `[cluster]` replica cut
    // off from NATS), first and red for as long as it lasts
    let second = match (&app.ops.server_problem, &app.link) {
        (Some((since, text)), Some(Link::Up)) => with_server_trouble(app, *since, text, second),
        _ => second,
    };
    with_zapi_link(link, second)
}

/// `line` after the missing Client-Token: said once, here, for as long as
/// it lasts (the rows are left alone: nothing failed).
fn with_no_client_token(app: &App, line: Line<'static>) -> Line<'static> {
    if app.setup.can_query_status
        || app.setup.listen.is_empty()
        || !app.fleet.instances.iter().any(|i| i.configured)
    {
        return line;
    }
    let mut spans = vec![Span::styled(
        " ⚠ client_token not set: Z-API is not asked ·",
        Theme::WARN_BOLD,
    )];
    spans.extend(line.spans);
    Line::from(spans)
}

/// `line` after the Z-API link state, when there is one to tell: it
/// comes first, so a narrow terminal cuts the config line, not it.
fn with_zapi_link(link: Option<Span<'static>>, line: Line<'static>) -> Line<'static> {
    match link {
        Some(link) if line.width() == 0 => Line::from(link),
        Some(link) => {
            let mut spans = vec![link, Span::raw("·")];
            spans.extend(line.spans);
            Line::from(spans)
        }
        None => line,
    }
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let title = title_line(app, area.width);
    frame.render_widget(
        Paragraph::new(title),
        Rect {
            height: area.height.min(1),
            ..area
        },
    );
    let [left, right] = Layout::horizontal([
        Constraint::Min(0),
        Constraint::Length(
            // the CUT OFF banner and the server's trouble need the whole line
            if matches!(app.link, Some(Link::Down { .. })) || app.ops.server_problem.is_some() {
                0
            } else {
                spark_width(area.width)
            },
        ),
    ])
    .areas(Rect {
        y: area.y.saturating_add(1),
        height: area.height.saturating_sub(1),
        ..area
    });
    // free text: cut at a word, never inside one
    let second = second_line(app, usize::from(left.width));
    frame.render_widget(
        Paragraph::new(cut_line(second, usize::from(left.width))),
        left,
    );
    if right.width > 0 {
        sparkline(app, frame, right);
    }
}

/// "1 event", "3 events".
fn events(n: u64) -> String {
    format!(
        "{n} {}",
        crate::words::plural(usize::try_from(n).unwrap_or(usize::MAX), "event")
    )
}

/// `line` after a lasting warning (yellow, bold, and `⚠` says it too).
fn with_warning(warning: &str, line: Line<'static>) -> Line<'static> {
    let mut spans = vec![Span::styled(
        format!(" ⚠ {} ·", super::sanitize(warning)),
        Theme::WARN_BOLD,
    )];
    spans.extend(line.spans);
    Line::from(spans)
}

/// `line` after the server's trouble: `✗ server: <what> since 14:03:07 (2m)`.
fn with_server_trouble(
    app: &App,
    since: DateTime<Utc>,
    text: &str,
    line: Line<'static>,
) -> Line<'static> {
    let mut spans = vec![
        Span::styled(
            format!(
                " ✗ server: {} since {} ({}) ",
                super::sanitize(text),
                clock_at(app, since),
                super::age(app.now, since)
            ),
            Theme::ALARM,
        ),
        Span::raw("·"),
    ];
    spans.extend(line.spans);
    Line::from(spans)
}

/// `since` on the clock: the time of day, with the date when not today.
fn clock_at(app: &App, since: DateTime<Utc>) -> String {
    let tz = app.setup.tz;
    if tz.format(since, "%Y-%m-%d") == tz.format(app.now, "%Y-%m-%d") {
        tz.format(since, "%H:%M:%S")
    } else {
        tz.format(since, "%Y-%m-%d %H:%M:%S")
    }
}

/// Room for the disconnects sparkline: a label and 20 to 60 minutes, on
/// terminals of 120 columns or more (the config line keeps the rest).
fn spark_width(width: u16) -> u16 {
    if width < 120 {
        0
    } else {
        SPARK_LABEL_WIDTH + (width - 120).clamp(20, 60)
    }
}

/// Columns the sparkline's label takes (" disconnects/min max 9999 ").
const SPARK_LABEL_WIDTH: u16 = 27;

/// Fleet disconnects per minute over the last hour, newest on the right;
/// the peak is written out, so the bars are never the only clue.
fn sparkline(app: &App, frame: &mut Frame, area: Rect) {
    let series = app.fleet.disconnects_per_minute.series(app.now);
    let bars_w = usize::from(area.width.saturating_sub(SPARK_LABEL_WIDTH));
    let shown = &series[series.len().saturating_sub(bars_w)..];
    let peak = shown.iter().copied().max().unwrap_or(0);
    let [label, bars] =
        Layout::horizontal([Constraint::Length(SPARK_LABEL_WIDTH), Constraint::Min(0)]).areas(area);
    let text = if peak == 0 {
        " no disconnects in 1 h ".to_string()
    } else {
        format!(" disconnects/min max {peak} ")
    };
    frame.render_widget(
        Paragraph::new(Span::styled(
            super::fit(&text, usize::from(SPARK_LABEL_WIDTH)),
            Theme::DIM,
        ))
        .alignment(ratatui::layout::Alignment::Right),
        label,
    );
    frame.render_widget(
        Sparkline::default()
            .data(shown)
            .max(peak.max(1))
            .style(Theme::BAD),
        bars,
    );
}
/// The banner while `watch` is cut off from its server: red and bold, and
/// the words say it too (never colour alone): since when, the next try,
/// and why.
fn cut_off(
    app: &App,
    banner: Option<&str>,
    since: DateTime<Utc>,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
) -> Line<'static> {
    let server = banner
        .and_then(|b| b.strip_prefix("watching "))
        .unwrap_or("the server");
    let at = clock_at(app, since);
    let retry = match retry_at.map(|t| (t - app.now).num_milliseconds()) {
        Some(ms) if ms > 0 => format!("retrying in {}s", (ms + 999) / 1000),
        _ => "retrying now".to_string(),
    };
    Line::from(Span::styled(
        format!(
            " ✗ CUT OFF from {} since {at} ({}) — {retry}: {} ",
            super::sanitize(server),
            super::age(app.now, since),
            super::sanitize(error)
        ),
        Theme::ALARM,
    ))
}
