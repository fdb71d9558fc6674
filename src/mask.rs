//! Cutting secrets down to what may be shown or logged: path tokens
//! ([`token_prefix`]) and webhook URLs ([`mask_url`]). A leaf: it imports
//! nothing of the crate, so the screen, the runner and the listener can all
//! use it.

/// The first four characters of a path token and `…`: all of a token that
/// may appear in a log line.
pub fn token_prefix(token: &str) -> String {
    let head: String = token.chars().take(4).collect();
    format!("{head}…")
}

/// A webhook URL fit to show: every path segment that looks like a token
/// (16 or more letters, digits, `-` or `_`) is cut to its first four
/// characters, so neither our secret path tokens nor another service's
/// tokens reach the screen.
pub fn mask_url(url: &str) -> String {
    let (head, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let masked: Vec<String> = rest
        .split('/')
        .map(|seg| {
            let tokenish = seg.len() >= 16
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if tokenish {
                token_prefix(seg)
            } else {
                seg.to_string()
            }
        })
        .collect();
    format!("{head}{}", masked.join("/"))
}
