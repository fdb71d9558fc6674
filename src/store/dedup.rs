//! The duplicate filter: fingerprints of the records written within the
//! retry window, so a webhook Z-API sends again is not logged twice.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};

use super::RETRY_WINDOW;

/// The fingerprints accepted within [`RETRY_WINDOW`], with their receipt
/// times; at most `cap` of them.
pub(super) struct DedupFilter {
    seen: HashMap<u64, DateTime<Utc>>,
    /// Insertion order, for forgetting: (fingerprint, receipt time).
    ring: VecDeque<(u64, DateTime<Utc>)>,
    cap: usize,
}

impl DedupFilter {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            seen: HashMap::with_capacity(cap.min(4096)),
            ring: VecDeque::with_capacity(cap.min(4096)),
            cap,
        }
    }

    /// Whether a body with `fp` received at `at` is a retry: the same
    /// fingerprint was accepted within [`RETRY_WINDOW`] of `at` (either way,
    /// should the clock have gone back).
    pub(super) fn is_retry(&self, fp: u64, at: DateTime<Utc>) -> bool {
        self.seen
            .get(&fp)
            .is_some_and(|&then| (at - then).abs() <= RETRY_WINDOW)
    }

    /// Remembers `fp` accepted at `at`, and forgets what is older than
    /// [`RETRY_WINDOW`] before `at` or beyond `cap`.
    pub(super) fn insert(&mut self, fp: u64, at: DateTime<Utc>) {
        self.seen.insert(fp, at);
        self.ring.push_back((fp, at));
        while let Some(&(old, then)) = self.ring.front() {
            if self.ring.len() <= self.cap && at - then <= RETRY_WINDOW {
                break;
            }
            self.ring.pop_front();
            // only if not seen again since
            if self.seen.get(&old) == Some(&then) {
                self.seen.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DEDUP_WINDOW;
    use chrono::TimeZone;

    #[test]
    fn dedup_filter_forgets_the_oldest() {
        let t0 = Utc.timestamp_opt(1_764_000_000, 0).unwrap();
        let mut filter = DedupFilter::new(3);
        for fp in 1..=4 {
            filter.insert(fp, t0);
        }
        assert!(!filter.is_retry(1, t0));
        assert!((2..=4).all(|fp| filter.is_retry(fp, t0)));
        assert_eq!(filter.ring.len(), 3);
    }

    #[test]
    fn dedup_filter_forgets_after_the_retry_window() {
        let t0 = Utc.timestamp_opt(1_764_000_000, 0).unwrap();
        let mut filter = DedupFilter::new(DEDUP_WINDOW);
        filter.insert(7, t0);
        assert!(filter.is_retry(7, t0 + RETRY_WINDOW));
        assert!(!filter.is_retry(7, t0 + RETRY_WINDOW + chrono::TimeDelta::seconds(1)));
        // a clock that went back a little is still within the window
        assert!(filter.is_retry(7, t0 - chrono::TimeDelta::seconds(30)));
        // accepting anything later forgets what is out of the window
        filter.insert(8, t0 + RETRY_WINDOW + chrono::TimeDelta::seconds(1));
        assert!(!filter.seen.contains_key(&7));
        assert_eq!(filter.ring.len(), 1);
        // accepted again later: remembered from then on
        filter.insert(8, t0 + RETRY_WINDOW * 3);
        assert!(filter.is_retry(8, t0 + RETRY_WINDOW * 3));
        assert_eq!(filter.ring.len(), 1);
    }
}
