//! The Connect popup (`c`): the QR code drawn with half blocks so a phone
//! scans it off the terminal, its rotation, the pairing code, the end.
//!
//! A code is drawn whole or not at all: when the terminal is smaller than
//! the code and its quiet zone, the popup says which size it needs and
//! offers `p`. The code's cells are light modules on dark ([`Theme::QR`]);
//! under `NO_COLOR` they alone keep black and white ([`keep_code_contrast`]),
//! since a code needs a known dark and light to scan in a light or a dark
//! terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::fit;
use super::theme::Theme;
use crate::app::{App, Connect, QR_MAX_CODES, Stage};
use crate::keys::Action;
use crate::qr::Modules;

/// Text lines of the popup around the code: one above, two below.
const TEXT_ABOVE: u16 = 1;
const TEXT_BELOW: u16 = 2;

/// The terminal size (columns, rows) a code needs: the code with its
/// quiet zone, the popup's text and its borders.
pub fn needed(modules: &Modules) -> (u16, u16) {
    let cols = u16::try_from(modules.columns()).unwrap_or(u16::MAX);
    let rows = u16::try_from(modules.rows()).unwrap_or(u16::MAX);
    (
        cols.saturating_add(2),
        rows.saturating_add(TEXT_ABOVE + TEXT_BELOW + 2),
    )
}

/// Where the code's first cell goes in `area` (the whole screen), when
/// it fits: the popup is centred, the code centred in it under one line.
fn code_rect(modules: &Modules, area: Rect) -> Option<Rect> {
    let (w, h) = needed(modules);
    if area.width < w || area.height < h {
        return None;
    }
    let popup = centred(area, w.max(62).min(area.width), h);
    let cols = u16::try_from(modules.columns()).ok()?;
    let rows = u16::try_from(modules.rows()).ok()?;
    let x = popup.x + (popup.width - cols) / 2;
    Some(Rect::new(x, popup.y + 1 + TEXT_ABOVE, cols, rows))
}

fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(r);
    r
}

/// Draws the popup over `area` (the whole screen).
pub fn draw(app: &App, c: &Connect, frame: &mut Frame, area: Rect) {
    let label = app
        .get(&c.id)
        .map_or_else(|| c.id.to_string(), |i| i.label().to_string());
    let title = format!(" connect {} ", fit(&label, 40));
    if let Some(code) = c.code() {
        if let Some(rect) = code_rect(&code.modules, area) {
            let (w, h) = needed(&code.modules);
            let popup = centred(area, w.max(62).min(area.width), h);
            frame.render_widget(Clear, popup);
            frame.render_widget(block(&title), popup);
            let inner = popup.inner(ratatui::layout::Margin::new(1, 1));
            let top = Rect::new(inner.x, inner.y, inner.width, TEXT_ABOVE);
            frame.render_widget(
                Paragraph::new(fit(
                    "On the phone: WhatsApp → Linked devices → Link a device",
                    usize::from(inner.width),
                ))
                .centered(),
                top,
            );
            let lines: Vec<Line> = code
                .modules
                .half_blocks()
                .into_iter()
                .map(|l| Line::from(Span::styled(l, Theme::QR)))
                .collect();
            frame.render_widget(Paragraph::new(lines), rect);
            let below = Rect::new(inner.x, rect.y + rect.height, inner.width, TEXT_BELOW);
            frame.render_widget(Paragraph::new(code_footer(app, c)).centered(), below);
            return;
        }
        let (w, h) = needed(&code.modules);
        let lines = vec![
            Line::styled(
                format!("The QR code needs a terminal of at least {w}×{h};"),
                Theme::WARN_BOLD,
            ),
            Line::styled(
                format!("this one is {}×{}.", area.width, area.height),
                Theme::WARN_BOLD,
            ),
            Line::from("Enlarge it (or zoom out) to see the code,"),
            Line::from("or press p to link with a pairing code."),
            Line::styled(rotation(app, c), Theme::INFO),
            Line::styled("Esc close".to_string(), Theme::DIM),
        ];
        draw_text(frame, area, lines, &title);
        return;
    }
    // an error wraps to the terminal (less the popup's frame), never cut
    let width = usize::from(area.width.saturating_sub(4)).clamp(20, 100);
    draw_text(frame, area, stage_lines(app, c, width), &title);
}

fn block(title: &str) -> Block<'_> {
    Block::new()
        .borders(Borders::ALL)
        .border_style(Theme::INFO)
        .title(title)
}

fn draw_text(frame: &mut Frame, area: Rect, lines: Vec<Line<'_>>, title: &str) {
    let popup = super::popup_area(frame, area, &lines);
    frame.render_widget(Paragraph::new(lines).block(block(title)), popup);
}

/// `code 2 of 3 · new code in 12 s`, or what is being done.
fn rotation(app: &App, c: &Connect) -> String {
    match &c.stage {
        Stage::Fetching { n, .. } => format!("code {n} of {QR_MAX_CODES} · asking Z-API…"),
        Stage::Code(code) => match c.next_code_in(app.now) {
            Some(s) => format!("code {} of {QR_MAX_CODES} · new code in {s} s", code.n),
            None => format!(
                "code {} of {QR_MAX_CODES} · the last one: then press {} for new codes",
                code.n,
                connect_key(app)
            ),
        },
        _ => String::new(),
    }
}

fn connect_key(app: &App) -> String {
    app.settings.keys.keys_of(Action::Connect)
}

/// The two lines under the code.
fn code_footer(app: &App, c: &Connect) -> Vec<Line<'static>> {
    let mut keys = "p pairing code instead · Esc close".to_string();
    if !c.queue.is_empty() {
        keys.push_str(&format!(
            " · then {} more",
            crate::words::count(c.queue.len(), "instance")
        ));
    }
    vec![
        Line::styled(rotation(app, c), Theme::INFO),
        Line::styled(keys, Theme::DIM),
    ]
}

/// `text` in lines of at most `width` columns, broken between words.
fn wrapped(text: &str, width: usize, style: ratatui::style::Style) -> Vec<Line<'static>> {
    super::wrap(text, width)
        .into_iter()
        .map(|l| Line::styled(l, style))
        .collect()
}

/// The popup's text when no code is drawn.
fn stage_lines(app: &App, c: &Connect, width: usize) -> Vec<Line<'static>> {
    let key = connect_key(app);
    match &c.stage {
        Stage::Fetching { .. } | Stage::Code(_) => vec![Line::styled(
            "asking Z-API for a QR code…".to_string(),
            Theme::INFO,
        )],
        Stage::Stopped => vec![
            Line::from(format!(
                "{QR_MAX_CODES} codes went unread, so no more are asked for (Z-API's rule)."
            )),
            Line::styled(
                format!("press {key} for new codes · p pairing code · Esc close"),
                Theme::BOLD,
            ),
        ],
        Stage::AlreadyConnected => vec![
            Line::styled(
                "✓ already connected: Z-API serves no QR code for a connected number".to_string(),
                Theme::GOOD,
            ),
            Line::styled("Esc close".to_string(), Theme::DIM),
        ],
        Stage::Connected { phone, .. } => vec![Line::styled(
            match phone {
                Some(p) => format!("✓ connected as {}", fit(p, 24)),
                None => "✓ connected".to_string(),
            },
            Theme::GOOD.add_modifier(ratatui::style::Modifier::BOLD),
        )],
        Stage::Failed(e) => {
            let mut lines = wrapped(&format!("no QR code: {e}"), width, Theme::BAD);
            lines.push(Line::from(format!(
                "{key} try again · p pairing code · Esc close"
            )));
            lines
        }
        Stage::Phone { digits, error } => phone_lines(digits, error.as_deref()),
        Stage::PhoneWaiting { phone } => vec![Line::styled(
            format!("asking Z-API for a pairing code for {}…", fit(phone, 16)),
            Theme::INFO,
        )],
        Stage::Pairing { phone, code } => pairing_lines(phone, code.expose(), &key),
        Stage::PairingFailed { phone, error } => {
            let text = format!("no pairing code for {}: {error}", fit(phone, 16));
            let mut lines = wrapped(&text, width, Theme::BAD);
            lines.push(Line::from(format!(
                "p try again · {key} QR code · Esc close"
            )));
            lines
        }
    }
}

fn phone_lines(digits: &str, error: Option<&str>) -> Vec<Line<'static>> {
    let mut lines = vec![
        Line::from("The WhatsApp number to link (digits only, country code first):"),
        Line::from(vec![
            Span::styled(" > ", Theme::BOLD),
            Span::raw(digits.to_string()),
            Span::styled("▏", Theme::CURSOR),
        ]),
    ];
    if let Some(e) = error {
        lines.push(Line::styled(fit(e, 80), Theme::WARN));
    }
    lines.push(Line::styled(
        "Enter ask Z-API for a pairing code · Backspace erase · Esc close".to_string(),
        Theme::DIM,
    ));
    lines
}

fn pairing_lines(phone: &str, code: &str, key: &str) -> Vec<Line<'static>> {
    // large: each character apart, bold
    let spaced: String = fit(code, 32)
        .chars()
        .flat_map(|ch| [ch, ' '])
        .collect::<String>()
        .trim_end()
        .to_string();
    vec![
        Line::from(format!("Pairing code for {}:", fit(phone, 16))),
        Line::from(""),
        Line::styled(format!("   {spaced}   "), Theme::PAIRING_CODE),
        Line::from(""),
        Line::from("On that phone: WhatsApp → Linked devices → Link a device →"),
        Line::from("Link with phone number instead, then type this code."),
        Line::styled(
            format!("p another number · {key} QR code · Esc close"),
            Theme::DIM,
        ),
    ]
}

/// `NO_COLOR`: puts the code's black and white back after every colour was
/// reset, so it still scans (the rest of the popup stays colourless).
pub fn keep_code_contrast(app: &App, frame: &mut Frame) {
    let Some(code) = app.overlays.connect.as_ref().and_then(Connect::code) else {
        return;
    };
    let area = frame.area();
    let Some(rect) = code_rect(&code.modules, area) else {
        return;
    };
    let buf = frame.buffer_mut();
    for y in rect.top()..rect.bottom() {
        for x in rect.left()..rect.right() {
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.set_style(Theme::QR);
            }
        }
    }
}
