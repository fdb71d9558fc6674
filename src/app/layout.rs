//! The layout facts the screen's input needs from the view: how many
//! table rows fit, which row is drawn at a screen line, how long the help
//! is. Both `ui` (which draws by them) and [`App`] (which pages, scrolls
//! and hit-tests by them) read them here, so the model never imports the
//! view.

use super::App;

/// Lines above the table: title + counts, then config/banner.
pub const HEADER_LINES: u16 = 2;
/// Lines below the table: last result/progress, then key hints.
pub const FOOTER_LINES: u16 = 2;

/// How many instance rows the table shows in a terminal `height` rows tall
/// (the table has a border top and bottom and a header row).
pub fn table_rows(height: u16) -> usize {
    usize::from(height.saturating_sub(HEADER_LINES + FOOTER_LINES + 3))
}

/// The table row (a position in `app.order`) drawn at screen line `y`, if
/// any: the mouse's view of the layout `ui::draw` makes.
pub fn row_at(app: &App, y: u16) -> Option<usize> {
    // header lines, the table's top border, its column titles
    let first = HEADER_LINES + 2;
    let visible = table_rows(app.size.1);
    let line = usize::from(y.checked_sub(first)?);
    if line >= visible {
        return None;
    }
    let pos = app.view.offset + line;
    (pos < app.view.order.len()).then_some(pos)
}

/// Keys that no `[keys]` table changes, as (keys, what they do).
pub const FIXED_KEYS: &[(&str, &str)] = &[
    (
        "Esc",
        "close the detail, popup or help; clear the filter; else quit",
    ),
    (
        "y / n",
        "in a confirmation: send it / cancel (nothing is sent before y)",
    ),
    (
        "y / n / Esc",
        "when r/R would replace another system's webhook URL: all / only the others / none",
    ),
    (
        "p",
        "in the connect popup (c): a pairing code to type on the phone instead",
    ),
    ("Ctrl-C", "quit"),
    (
        "mouse",
        "wheel scrolls, click selects, double click opens the detail",
    ),
];

/// Every line of the help: the keymap's bindings, then the fixed keys.
pub fn help_lines(app: &App) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = app
        .settings
        .keys
        .help()
        .into_iter()
        .map(|(k, what)| (k, what.to_string()))
        .collect();
    out.extend(
        FIXED_KEYS
            .iter()
            .map(|(k, what)| (k.to_string(), what.to_string())),
    );
    out
}
