//! Every style the view uses, named once (as gitui's `Theme`): widgets say
//! what a thing is (`Theme::BAD`), never which colour it is drawn in.
//!
//! Colour never carries meaning alone: everything styled here also has a
//! word or a symbol. `NO_COLOR` is honoured after drawing ([`super::draw`]
//! resets every cell's colours and keeps the modifiers), so the styles here
//! may use colour freely.

use ratatui::style::{Color, Modifier, Style};

/// The view's styles, by role.
pub struct Theme;

impl Theme {
    /// Plain text, as the terminal draws it.
    pub const PLAIN: Style = Style::new();
    /// Emphasis: keys in prompts, labels, the selected instance's name.
    pub const BOLD: Style = Style::new().add_modifier(Modifier::BOLD);
    /// Column and section headings.
    pub const HEADING: Style =
        Style::new().add_modifier(Modifier::BOLD.union(Modifier::UNDERLINED));
    /// The selected table row.
    pub const SELECTED: Style = Style::new().add_modifier(Modifier::REVERSED);
    /// The text cursor of the filter prompt.
    pub const CURSOR: Style = Style::new().add_modifier(Modifier::SLOW_BLINK);
    /// The program's name at the top left.
    pub const TITLE: Style = Style::new()
        .fg(Color::Black)
        .bg(Color::Cyan)
        .add_modifier(Modifier::BOLD);
    /// Connected, done, pointing here.
    pub const GOOD: Style = Style::new().fg(Color::Green);
    /// Disconnected, failed, an error.
    pub const BAD: Style = Style::new().fg(Color::Red);
    /// [`Theme::BAD`] that must be seen: disconnected rows, fatal notices.
    pub const BAD_BOLD: Style = Style::new().fg(Color::Red).add_modifier(Modifier::BOLD);
    /// An outage past `alert_after`, the CUT OFF banner: cannot be missed.
    pub const ALARM: Style = Style::new()
        .fg(Color::White)
        .bg(Color::Red)
        .add_modifier(Modifier::BOLD);
    /// Unknown, a warning, something to look at.
    pub const WARN: Style = Style::new().fg(Color::Yellow);
    /// [`Theme::WARN`] that asks for action: problems, marks, drift.
    pub const WARN_BOLD: Style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
    /// In progress: registering, a call in flight, a hint.
    pub const INFO: Style = Style::new().fg(Color::Cyan);
    /// A banner: demo mode, the server `watch` follows.
    pub const BANNER: Style = Style::new().fg(Color::Magenta);
    /// A QR code's cells: the glyphs' ink is the light modules, the cell
    /// the dark ones (kept under `NO_COLOR`: a code needs a known contrast).
    pub const QR: Style = Style::new().fg(Color::White).bg(Color::Black);
    /// A pairing code to type on the phone: large, cannot be missed.
    pub const PAIRING_CODE: Style = Style::new()
        .fg(Color::Black)
        .bg(Color::White)
        .add_modifier(Modifier::BOLD);
    /// Secondary text: the config line, "never", what cannot be known.
    pub const DIM: Style = Style::new().fg(Color::DarkGray);
}
