//! Making text fit a width without cutting words: whole words dropped
//! from the end with `…`, filler words left out first ([`terse`]), and
//! lines of parts where the parts that matter least go first
//! ([`fit_parts`]).

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use super::{fit, sanitize};

/// Terminal columns `s` takes.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Words that carry no meaning in a short error: `You need to restore the
/// session.` says `restore session`, `You are not connected.` says `not
/// connected`.
const FILLER: &[&str] = &[
    "a", "an", "the", "you", "are", "is", "has", "have", "been", "need", "needs", "to", "please",
];

/// `s` without its filler words and the final full stop: the words that
/// tell one error from another. `s` itself when nothing would be left.
pub fn terse(s: &str) -> String {
    let words: Vec<&str> = s
        .split_whitespace()
        .filter(|w| {
            let bare = w.trim_matches(|c: char| !c.is_alphanumeric());
            !FILLER.iter().any(|f| f.eq_ignore_ascii_case(bare))
        })
        .collect();
    let out = words.join(" ");
    let out = out.strip_suffix('.').unwrap_or(&out).to_string();
    if out.is_empty() {
        s.trim().to_string()
    } else {
        out
    }
}

/// Sanitizes `s` and fits it to `w` columns by whole words: the words that
/// fit, then `…`. A first word longer than `w` is cut (there is nothing
/// better to show).
pub fn fit_words(s: &str, w: usize) -> String {
    let clean = sanitize(s);
    if width(&clean) <= w {
        return clean;
    }
    // the longest run of whole words (ending before a space) that leaves
    // room for the `…`
    let best = clean
        .char_indices()
        .filter(|&(_, c)| c == ' ')
        .map(|(i, _)| clean[..i].trim_end_matches([' ', ',', ';', ':', '·']))
        .rfind(|p| !p.trim_start().is_empty() && width(p) < w);
    match best {
        Some(p) => format!("{p}…"),
        None => fit(&clean, w),
    }
}

/// One part of a line that may lose parts to fit: its forms from the
/// longest to the shortest, each with the priority at which it is given
/// up (lower goes first); after the last form the part is dropped whole.
#[derive(Debug, Clone)]
pub struct Part {
    /// What goes before the part when another is drawn before it.
    pub sep: &'static str,
    /// (priority at which this form is given up, the form's spans).
    pub forms: Vec<(u8, Vec<Span<'static>>)>,
}

impl Part {
    /// A part with one form, given up at `priority`.
    pub fn one(sep: &'static str, priority: u8, text: String, style: Style) -> Part {
        Part {
            sep,
            forms: vec![(priority, vec![Span::styled(text, style)])],
        }
    }

    /// A part with a long and a short form in one style.
    pub fn two(sep: &'static str, long: (u8, String), short: (u8, String), style: Style) -> Part {
        Part {
            sep,
            forms: vec![
                (long.0, vec![Span::styled(long.1, style)]),
                (short.0, vec![Span::styled(short.1, style)]),
            ],
        }
    }
}

fn spans_width(spans: &[Span]) -> usize {
    spans.iter().map(|s| width(&s.content)).sum()
}

/// What goes before a part: its separator, or at the start of the line a
/// one-column margin (none for a part whose separator is empty: it opens
/// the line itself).
fn lead(sep: &'static str, first: bool) -> &'static str {
    match (first, sep.is_empty()) {
        (false, _) => sep,
        (true, true) => "",
        (true, false) => " ",
    }
}

/// The line of `parts` (in their order) that fits `w` columns: while it
/// is too wide, the form with the lowest priority is given up (the next
/// shorter form, or the part dropped); on a tie the rightmost goes first.
/// Nothing is ever cut inside a form.
pub fn fit_parts(parts: &[Part], w: usize) -> Line<'static> {
    // which form each part shows; forms.len() means dropped
    let mut at: Vec<usize> = vec![0; parts.len()];
    let total = |at: &[usize]| -> usize {
        let mut sum = 0;
        let mut first = true;
        for (p, &i) in parts.iter().zip(at) {
            if let Some((_, spans)) = p.forms.get(i) {
                sum += width(lead(p.sep, first));
                first = false;
                sum += spans_width(spans);
            }
        }
        sum
    };
    while total(&at) > w {
        let weakest = parts
            .iter()
            .zip(&at)
            .enumerate()
            .filter_map(|(k, (p, &i))| p.forms.get(i).map(|(prio, _)| (*prio, k)))
            .min_by_key(|&(prio, k)| (prio, std::cmp::Reverse(k)));
        match weakest {
            Some((_, k)) => at[k] += 1,
            None => break,
        }
    }
    let mut spans = Vec::new();
    for (p, &i) in parts.iter().zip(&at) {
        if let Some((_, form)) = p.forms.get(i) {
            let sep = lead(p.sep, spans.is_empty());
            if !sep.is_empty() {
                spans.push(Span::raw(sep));
            }
            spans.extend(form.iter().cloned());
        }
    }
    Line::from(spans)
}

/// `line` cut to `w` columns at a word boundary, with `…` where it was
/// cut: for lines of free text (banners, warnings) that have no parts.
pub fn cut_line(line: Line<'static>, w: usize) -> Line<'static> {
    if line.width() <= w {
        return line;
    }
    let whole: String = line.spans.iter().map(|s| s.content.as_ref()).collect();
    let cut = fit_words(&whole, w);
    // the characters kept (sanitizing maps one character to one)
    let mut keep = cut.strip_suffix('…').unwrap_or(&cut).chars().count();
    let mut out: Vec<Span<'static>> = Vec::new();
    let mut last_style = Style::new();
    for span in line.spans {
        if keep == 0 {
            break;
        }
        let text: String = sanitize(&span.content).chars().take(keep).collect();
        keep -= text.chars().count();
        last_style = span.style;
        out.push(Span::styled(text, span.style));
    }
    if cut.ends_with('…') {
        out.push(Span::styled("…", last_style));
    }
    Line::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(line: &Line) -> String {
        line.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn terse_keeps_the_words_that_tell_errors_apart() {
        assert_eq!(terse("You need to restore the session."), "restore session");
        assert_eq!(terse("You are not connected."), "not connected");
        assert_eq!(terse("Device has been disconnected"), "Device disconnected");
        assert_eq!(terse("The"), "The");
        assert_eq!(terse(""), "");
    }

    #[test]
    fn fit_words_drops_whole_words() {
        assert_eq!(fit_words("You need to restore", 40), "You need to restore");
        assert_eq!(
            fit_words("You need to restore the session.", 14),
            "You need to…"
        );
        assert_eq!(fit_words("Device has been disconnected", 11), "Device has…");
        // a first word too long is cut, it cannot be dropped
        assert_eq!(fit_words("Disconnected", 6), "Disco…");
        assert_eq!(fit_words("abc", 0), "");
        assert_eq!(
            fit_words("tcp connect error: refused", 19),
            "tcp connect error…"
        );
    }

    #[test]
    fn fit_parts_gives_up_the_lowest_priority_first_and_never_cuts() {
        let parts = vec![
            Part::one("", 1, "alpha".into(), Style::new()),
            Part::two(
                "  ",
                (2, "beta long".into()),
                (9, "beta".into()),
                Style::new(),
            ),
            Part::one("  ", 5, "gamma".into(), Style::new()),
        ];
        assert_eq!(text(&fit_parts(&parts, 100)), "alpha  beta long  gamma");
        // alpha goes first, then beta shortens, then gamma goes
        // a line that no longer starts with the first part gets a margin
        assert_eq!(text(&fit_parts(&parts, 18)), " beta long  gamma");
        assert_eq!(text(&fit_parts(&parts, 15)), " beta  gamma");
        assert_eq!(text(&fit_parts(&parts, 10)), " beta");
        assert_eq!(text(&fit_parts(&parts, 3)), "");
        for w in 0..30 {
            assert!(fit_parts(&parts, w).width() <= w);
        }
    }

    #[test]
    fn cut_line_ends_on_a_whole_word() {
        let line = Line::from(vec![
            Span::raw(" config /etc/zapi.toml"),
            Span::raw(" · 5 instances · 3 events"),
        ]);
        assert_eq!(text(&cut_line(line.clone(), 80)), text(&line));
        let cut = cut_line(line.clone(), 30);
        assert_eq!(text(&cut), " config /etc/zapi.toml · 5…");
        assert!(cut.width() <= 30);
        for w in 0..50 {
            assert!(cut_line(line.clone(), w).width() <= w, "{w}");
        }
    }
}
