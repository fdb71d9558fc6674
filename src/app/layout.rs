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
        "close the detail, a popup, the help or the message log; else clear the filter, else the marks; never quits",
    ),
    (
        "y / n",
        "in a confirmation: send it / cancel (nothing is sent before y)",
    ),
    (
        "y / o / n",
        "when r/R would replace another system's webhook URL: adopt it as a forward target and register / overwrite / nothing",
    ),
    (
        "p",
        "in the connect popup (c): a pairing code to type on the phone instead",
    ),
    (
        "u",
        "in the detail: stop forwarding this instance's events to its adopted targets",
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

/// The help's rows as drawn in a terminal `app.size.0` wide: (keys, text),
/// each text wrapped by words to the room beside the keys, its further
/// rows with no keys. The view draws these; scrolling counts them.
pub fn help_rows(app: &App) -> Vec<(String, String)> {
    let lines = help_lines(app);
    let key_w = lines
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    // the borders, the margins around the keys and the popup's slack
    let room = usize::from(app.size.0).saturating_sub(key_w + 7).max(12);
    let mut out = Vec::new();
    for (keys, what) in lines {
        for (i, row) in wrap_words(&what, room).into_iter().enumerate() {
            out.push((if i == 0 { keys.clone() } else { String::new() }, row));
        }
    }
    out
}

/// `text` in rows of at most `width` characters, broken between words (a
/// word longer than a row gets a row of its own, cut by the drawing).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let mut rows: Vec<String> = Vec::new();
    let mut row = String::new();
    for word in text.split_whitespace() {
        if !row.is_empty() && row.chars().count() + 1 + word.chars().count() > width {
            rows.push(std::mem::take(&mut row));
        }
        if !row.is_empty() {
            row.push(' ');
        }
        row.push_str(word);
    }
    if !row.is_empty() || rows.is_empty() {
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_words_breaks_between_words() {
        assert_eq!(wrap_words("one two three", 20), vec!["one two three"]);
        assert_eq!(wrap_words("one two three", 7), vec!["one two", "three"]);
        assert_eq!(wrap_words("", 7), vec![""]);
        assert_eq!(
            wrap_words("unbreakable word", 5),
            vec!["unbreakable", "word"]
        );
    }

    #[test]
    fn the_help_wraps_on_a_narrow_terminal_and_keeps_every_word() {
        let mut app = App::new(super::super::Setup::default(), chrono::Utc::now());
        app.size = (200, 50);
        let wide = help_rows(&app);
        assert_eq!(wide.len(), help_lines(&app).len());
        app.size = (40, 10);
        let narrow = help_rows(&app);
        assert!(narrow.len() > wide.len());
        let words = |rows: &[(String, String)]| -> Vec<String> {
            rows.iter()
                .flat_map(|(_, t)| t.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect()
        };
        assert_eq!(words(&narrow), words(&wide));
        let key_w = narrow.iter().map(|(k, _)| k.chars().count()).max().unwrap();
        for (_, t) in &narrow {
            assert!(
                t.chars().count() + key_w + 7 <= 40 || !t.contains(' '),
                "{t}"
            );
        }
    }
}
