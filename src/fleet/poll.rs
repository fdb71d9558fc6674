//! When to poll each instance's `/status`: spread evenly over the interval
//! so a large fleet does not hit Z-API at once.
//!
//! Pure code: no I/O and no clock reads; `now` is passed in.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::model::InstanceId;

const NANOS_PER_SEC: i128 = 1_000_000_000;

fn nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS_PER_SEC + i128::from(t.timestamp_subsec_nanos())
}

/// Nanoseconds since the epoch back to a time; None outside chrono's range.
fn time(ns: i128) -> Option<DateTime<Utc>> {
    let secs = i64::try_from(ns.div_euclid(NANOS_PER_SEC)).ok()?;
    let sub = u32::try_from(ns.rem_euclid(NANOS_PER_SEC)).ok()?;
    DateTime::from_timestamp(secs, sub)
}

/// Spreads `/status` polls of many instances evenly over the interval, so
/// 1,000 instances do not hit Z-API at once.
///
/// Each id keeps its phase (its offset within the interval) for good: a pause
/// or a clock jump moves it by whole intervals, so the spread survives.
#[derive(Debug, Clone)]
pub struct PollSchedule {
    ids: Vec<InstanceId>,
    /// When each id (same index) is next due, in nanoseconds since the epoch.
    next: Vec<i128>,
    /// The interval in nanoseconds; 0 means never due.
    interval: i128,
}

impl PollSchedule {
    /// Instance k of n is first due at start + interval·(k+1)/n (evenly
    /// spread, rounded up to the nanosecond; nothing due at `start` itself —
    /// the caller asks all at start anyway), then every interval after that.
    /// interval 0 or no ids: never due. A repeated id is kept once (in its
    /// first place).
    pub fn new(ids: Vec<InstanceId>, interval: std::time::Duration, start: DateTime<Utc>) -> Self {
        let mut seen = HashSet::with_capacity(ids.len());
        let ids: Vec<InstanceId> = ids
            .into_iter()
            .filter(|id| seen.insert(id.clone()))
            .collect();
        let interval = i128::try_from(interval.as_nanos()).unwrap_or(i128::MAX);
        let n = ids.len() as i128;
        let s = nanos(start);
        let next = (0..n)
            .map(|k| {
                // interval ≤ 2^64·10^9 and k+1 ≤ 2^64 would overflow, so
                // divide first and add the remainder's share, rounded up so
                // that no slot lands on `start` itself.
                let (q, r) = (interval / n, interval % n);
                s.saturating_add(q.saturating_mul(k + 1))
                    .saturating_add((r.saturating_mul(k + 1) + n - 1) / n)
            })
            .collect();
        Self {
            ids,
            next,
            interval,
        }
    }

    /// Every id due at `now`, each at most once per call, in the order they
    /// fell due, then moved to its next slot. After a long pause (suspend, a
    /// clock jump forward) it does not catch up with a storm: an id that
    /// missed several slots is due once and goes to its next future slot; a
    /// clock jump backwards does not stop polling forever (an id whose next
    /// slot is more than an interval after `now` is moved back by whole
    /// intervals, so it is at most one interval late).
    pub fn due(&mut self, now: DateTime<Utc>) -> Vec<InstanceId> {
        let iv = self.interval;
        if iv <= 0 {
            return Vec::new();
        }
        let now = nanos(now);
        let mut due: Vec<(i128, usize)> = Vec::new();
        for (i, next) in self.next.iter_mut().enumerate() {
            if *next <= now {
                due.push((*next, i));
                // The first slot strictly after now, same phase.
                let missed = (now - *next) / iv + 1;
                *next = next.saturating_add(missed.saturating_mul(iv));
            } else if *next - now > iv {
                // The clock went back: pull the slot to within an interval.
                let back = (*next - now - 1) / iv;
                *next -= back * iv;
            }
        }
        due.sort_unstable();
        due.into_iter()
            .filter_map(|(_, i)| self.ids.get(i).cloned())
            .collect()
    }

    /// When the next id is due (None when never). This is as of the last
    /// [`PollSchedule::due`] call: after the clock jumps back it may lie far
    /// ahead until `due` is called again, so call `due` on the regular tick
    /// rather than only sleeping until this time.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        if self.interval <= 0 {
            return None;
        }
        self.next.iter().min().and_then(|&ns| time(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration as StdDuration;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn ids(n: usize) -> Vec<InstanceId> {
        (0..n).map(|i| InstanceId::new(format!("i{i}"))).collect()
    }

    fn schedule(n: usize, secs: u64) -> PollSchedule {
        PollSchedule::new(ids(n), StdDuration::from_secs(secs), t(0))
    }

    #[test]
    fn spreads_1000_ids_over_60_seconds() {
        let mut s = schedule(1000, 60);
        assert!(s.due(t(0)).is_empty(), "nothing due at start itself");
        let mut count: HashMap<InstanceId, usize> = HashMap::new();
        let per_second_max = 1000_usize.div_ceil(60);
        for sec in 1..=60 {
            let due = s.due(t(sec));
            assert!(
                due.len() <= per_second_max,
                "{} due at second {sec}",
                due.len()
            );
            for id in due {
                *count.entry(id).or_default() += 1;
            }
        }
        assert_eq!(count.len(), 1000);
        assert!(count.values().all(|&c| c == 1));
        // The first ones are due early, the last exactly at the end.
        assert_eq!(
            s.next_due(),
            Some(t(60) + chrono::Duration::milliseconds(60))
        );
    }

    #[test]
    fn every_id_once_per_interval_over_several_intervals() {
        let mut s = schedule(37, 10);
        for round in 0..5 {
            let mut seen = Vec::new();
            // Uneven calls: every 300 ms.
            let mut ms = round * 10_000 + 300;
            while ms <= (round + 1) * 10_000 {
                let now = t(0) + chrono::Duration::milliseconds(ms);
                let due = s.due(now);
                let again = s.due(now);
                assert!(again.is_empty(), "at most once per call and time");
                seen.extend(due);
                ms += 300;
            }
            // Calls at 300 ms steps may leave the last slot of a round for the next call.
            seen.sort();
            seen.dedup();
            assert!(seen.len() >= 36, "round {round}: {}", seen.len());
        }
        // Over a whole number of intervals, called at each slot's end: exact.
        let mut s = schedule(37, 10);
        let mut count: HashMap<InstanceId, usize> = HashMap::new();
        for sec in 1..=50 {
            for id in s.due(t(sec)) {
                *count.entry(id).or_default() += 1;
            }
        }
        assert_eq!(count.len(), 37);
        assert!(count.values().all(|&c| c == 5));
    }

    #[test]
    fn a_pause_or_jump_forward_polls_each_id_once() {
        let mut s = schedule(100, 60);
        let _ = s.due(t(30));
        // Suspended for an hour.
        let due = s.due(t(3630));
        assert_eq!(due.len(), 100, "each id once, no storm of missed slots");
        let mut sorted = due.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 100);
        // Then spread again: the next minute gives each once, a few per second.
        let next = s.next_due().unwrap();
        assert!(next > t(3630) && next <= t(3690));
        let mut total = 0;
        for sec in 3631..=3690 {
            let n = s.due(t(sec)).len();
            assert!(n <= 2, "{n} at {sec}");
            total += n;
        }
        assert_eq!(total, 100);
    }

    #[test]
    fn a_jump_backwards_does_not_stop_polling() {
        let mut s = schedule(10, 60);
        assert_eq!(s.due(t(60)).len(), 10);
        // The clock goes back a day.
        let back = t(-86_400);
        assert!(s.due(back).is_empty());
        let next = s.next_due().unwrap();
        assert!(next > back && next <= back + chrono::Duration::seconds(60));
        let mut total = 0;
        for sec in 1..=60 {
            total += s.due(back + chrono::Duration::seconds(sec)).len();
        }
        assert_eq!(total, 10, "polled within one interval of the jump");
    }

    #[test]
    fn interval_zero_or_no_ids_is_never_due() {
        let mut s = PollSchedule::new(ids(5), StdDuration::ZERO, t(0));
        assert!(s.due(t(1_000_000)).is_empty());
        assert_eq!(s.next_due(), None);
        let mut s = PollSchedule::new(Vec::new(), StdDuration::from_secs(60), t(0));
        assert!(s.due(t(1_000_000)).is_empty());
        assert_eq!(s.next_due(), None);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        // A repeated id is polled once.
        let mut s = PollSchedule::new(
            vec![InstanceId::new("a"), InstanceId::new("a")],
            StdDuration::from_secs(10),
            t(0),
        );
        assert_eq!(s.due(t(10)), vec![InstanceId::new("a")]);
        // Huge intervals and the ends of chrono's range.
        let (lo, hi) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let mut s = PollSchedule::new(ids(3), StdDuration::MAX, lo);
        assert!(s.due(hi).is_empty());
        assert_eq!(s.next_due(), None, "beyond what a time can say");
        let mut s = PollSchedule::new(ids(3), StdDuration::from_secs(1), hi);
        assert!(s.due(lo).is_empty());
        assert_eq!(s.due(hi).len(), 3, "pulled back near lo, so due at hi");
        let mut s = PollSchedule::new(ids(3), StdDuration::from_nanos(1), lo);
        assert_eq!(s.due(hi).len(), 3);
        assert_eq!(s.next_due(), None, "the next slot is after the last time");
        // Sub-interval precision: 3 ids over 1 ns.
        let mut s = PollSchedule::new(ids(3), StdDuration::from_nanos(1), t(0));
        assert_eq!(s.due(t(0)).len(), 0);
        assert_eq!(s.due(t(0) + chrono::Duration::nanoseconds(1)).len(), 3);
    }
}
