//! Words for counts, so that every message says `1 instance` and
//! `2 instances`, never `1 instances`.

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
