//! Words for counts, so that every message says `1 instance` and
//! `2 instances`, never `1 instances`; and ages (`3m ago`).

use chrono::{DateTime, Utc};

/// `count(1, "instance")` is `"1 instance"`, `count(3, "instance")` is
/// `"3 instances"`. For nouns whose plural is not `+s`, use [`count_of`].
pub fn count(n: usize, noun: &str) -> String {
    format!("{n} {}", plural(n, noun))
}

/// The noun for `n` of it: `noun` for one, `noun` + `s` otherwise.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        noun.to_string()
    } else {
        format!("{noun}s")
    }
}

/// `count_of(2, "was", "were")`: the singular or the plural form, as given.
pub fn count_of<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// "12s ago", "3m ago", "5h ago", "2d ago"; "just now" for the future (clock skew).
pub fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    match secs {
        i64::MIN..=0 => "just now".to_string(),
        1..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=172_799 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(0, "instance"), "0 instances");
        assert_eq!(count(1, "instance"), "1 instance");
        assert_eq!(count(2, "problem"), "2 problems");
        assert_eq!(count_of(1, "was", "were"), "was");
        assert_eq!(count_of(5, "was", "were"), "were");
    }
}
