//! The answers of a batch of calls, every one accounted for: how many went
//! well, which failed and why. A batch's summary names its failures
//! (`restart: 2 accepted, 1 failed: shop-2 (connection refused)`); the
//! poller's background results are counted by reason instead
//! (`status: 100 of 100 failed: connection refused`).

use crate::words::{count, count_of};

/// Failures a summary names before it says `and N more`.
const NAMED: usize = 5;
/// Reasons a summary counts before it says `…`.
const REASONS: usize = 3;

/// The answers of a batch so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub ok: usize,
    /// (instance label, short reason), in the order they came.
    pub failed: Vec<(String, String)>,
}

impl Outcomes {
    pub fn record(&mut self, label: &str, reason: Option<String>) {
        match reason {
            None => self.ok += 1,
            Some(reason) => self.failed.push((label.to_string(), reason)),
        }
    }

    pub fn total(&self) -> usize {
        self.ok + self.failed.len()
    }

    /// `3 accepted, 0 failed` / `2 accepted, 1 failed: shop-2 (connection
    /// refused)`, the failures named (the first few, then how many more).
    pub fn named(&self, ok_word: &str) -> String {
        let mut text = format!("{} {ok_word}, {} failed", self.ok, self.failed.len());
        if !self.failed.is_empty() {
            let names: Vec<String> = self
                .failed
                .iter()
                .take(NAMED)
                .map(|(label, reason)| format!("{label} ({reason})"))
                .collect();
            text.push_str(": ");
            text.push_str(&names.join(", "));
            let more = self.failed.len().saturating_sub(NAMED);
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
        }
        text
    }

    /// The failures counted by reason, most frequent first:
    /// `connection refused` when there is one reason, else
    /// `2 connection refused, 1 HTTP 404: Instance not found`.
    pub fn by_reason(&self) -> String {
        let mut groups: Vec<(&str, usize)> = Vec::new();
        for (_, reason) in &self.failed {
            match groups.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, n)) => *n += 1,
                None => groups.push((reason, 1)),
            }
        }
        // stable: equal counts keep the order they came in
        groups.sort_by_key(|g| std::cmp::Reverse(g.1));
        if let [(reason, _)] = groups.as_slice() {
            return (*reason).to_string();
        }
        let mut parts: Vec<String> = groups
            .iter()
            .take(REASONS)
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        if groups.len() > REASONS {
            parts.push("…".into());
        }
        parts.join(", ")
    }

    /// `status: 100 of 100 failed: connection refused`, or `status: 100
    /// instances answered` when none failed.
    pub fn status_summary(&self) -> String {
        let total = self.total();
        if self.failed.is_empty() {
            return format!(
                "status: {} answered",
                if total == 1 {
                    "1 instance".to_string()
                } else {
                    format!("all {}", count(total, "instance"))
                }
            );
        }
        format!(
            "status: {} of {total} failed: {}",
            self.failed.len(),
            self.by_reason()
        )
    }
}

/// `1 instance was` / `3 instances were`.
pub fn were(n: usize) -> String {
    format!("{} {}", count(n, "instance"), count_of(n, "was", "were"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ok: usize, failed: &[(&str, &str)]) -> Outcomes {
        Outcomes {
            ok,
            failed: failed
                .iter()
                .map(|(l, r)| (l.to_string(), r.to_string()))
                .collect(),
        }
    }

    #[test]
    fn every_failure_is_named_up_to_a_few() {
        assert_eq!(of(3, &[]).named("accepted"), "3 accepted, 0 failed");
        assert_eq!(
            of(2, &[("shop-2", "connection refused")]).named("accepted"),
            "2 accepted, 1 failed: shop-2 (connection refused)"
        );
        let many: Vec<(String, String)> = (0..7)
            .map(|i| (format!("s{i}"), "timed out".to_string()))
            .collect();
        let o = Outcomes {
            ok: 0,
            failed: many,
        };
        let text = o.named("registered");
        assert!(
            text.starts_with("0 registered, 7 failed: s0 (timed out), s1"),
            "{text}"
        );
        assert!(text.ends_with("s4 (timed out) and 2 more"), "{text}");
    }

    #[test]
    fn background_failures_are_counted_by_reason() {
        let all: Vec<(String, String)> = (0..100)
            .map(|i| (format!("i{i}"), "connection refused".to_string()))
            .collect();
        let o = Outcomes { ok: 0, failed: all };
        assert_eq!(
            o.status_summary(),
            "status: 100 of 100 failed: connection refused"
        );
        let mixed = of(
            97,
            &[
                ("a", "HTTP 404: Instance not found"),
                ("b", "connection refused"),
                ("c", "connection refused"),
            ],
        );
        assert_eq!(
            mixed.status_summary(),
            "status: 3 of 100 failed: 2 connection refused, 1 HTTP 404: Instance not found"
        );
        assert_eq!(of(1, &[]).status_summary(), "status: 1 instance answered");
        assert_eq!(
            of(2, &[]).status_summary(),
            "status: all 2 instances answered"
        );
        assert_eq!(were(1), "1 instance was");
        assert_eq!(were(2), "2 instances were");
    }
}
