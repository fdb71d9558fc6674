//! Connection statistics of instances: the state changes of each instance
//! ([`Transitions`]) and what the operator's view derives from them (uptime,
//! disconnects, mean time to reconnect, a timeline bar), plus a fleet-wide
//! per-minute counter ([`PerMinute`]) and the formatting of the numbers.
//!
//! Pure code: no I/O and no clock reads; every time is passed in.

use chrono::{DateTime, Duration, Utc};

use crate::model::ConnState;

const NANOS_PER_MS: i128 = 1_000_000;
const NANOS_PER_SEC: i128 = 1_000_000_000;

/// A time as nanoseconds since the epoch. Every `DateTime<Utc>` fits in an
/// i128 this way, so window arithmetic below cannot overflow.
fn nanos(t: DateTime<Utc>) -> i128 {
    i128::from(t.timestamp()) * NANOS_PER_SEC + i128::from(t.timestamp_subsec_nanos())
}

/// A time as whole milliseconds since the epoch (rounded down), the unit an
/// entry stores. chrono's range is about ±8.3·10^15 ms, so this fits in an
/// i64 with room for the two state bits.
fn millis(t: DateTime<Utc>) -> i64 {
    let ms = nanos(t).div_euclid(NANOS_PER_MS);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN >> 2 } else { i64::MAX >> 2 })
}

/// A signed nanosecond count as a chrono `Duration`, saturating at its bounds.
fn duration_from_nanos(ns: i128) -> Duration {
    let secs = ns.div_euclid(NANOS_PER_SEC);
    let sub = ns.rem_euclid(NANOS_PER_SEC);
    let Ok(secs) = i64::try_from(secs) else {
        return if ns < 0 { Duration::MIN } else { Duration::MAX };
    };
    // `sub` is in [0, 1e9), so the conversion cannot fail.
    let sub = i64::try_from(sub).unwrap_or(0);
    Duration::try_seconds(secs)
        .and_then(|d| d.checked_add(&Duration::nanoseconds(sub)))
        .unwrap_or(if ns < 0 { Duration::MIN } else { Duration::MAX })
}

/// The two-bit code of a state. The order decides which of two entries at
/// the same millisecond comes last (and so holds from then on): Connected
/// wins a tie, so a disconnect and reconnect within one millisecond read as
/// a zero-length outage rather than an outage that never ends.
fn code(state: ConnState) -> i64 {
    match state {
        ConnState::Unknown => 0,
        ConnState::Disconnected => 1,
        ConnState::Connected => 2,
    }
}

fn pack(ms: i64, state: ConnState) -> i64 {
    (ms << 2) | code(state)
}

fn entry_state(e: i64) -> ConnState {
    match e & 3 {
        1 => ConnState::Disconnected,
        2 => ConnState::Connected,
        _ => ConnState::Unknown,
    }
}

fn entry_millis(e: i64) -> i64 {
    e >> 2
}

fn entry_nanos(e: i64) -> i128 {
    i128::from(entry_millis(e)) * NANOS_PER_MS
}

fn entry_time(e: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(entry_millis(e)).unwrap_or(if e < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// An instance's state changes, ordered by time, bounded: each entry packed
/// in 8 bytes (unix milliseconds << 2 | state), so a fleet of 10,000
/// instances stays small (at most [`Transitions::MAX`] · 8 bytes each).
///
/// Besides the changes it may hold *confirmations* (an entry whose state
/// equals the one before it, e.g. a `/status` answer saying "still
/// connected"). They are invisible: [`Transitions::len`] and
/// [`Transitions::iter`] show changes only and no answer depends on them
/// while entries arrive in time order. They are kept while there is room so
/// that an entry recorded late lands in the right place: a disconnect at
/// 10:00 delivered after the reconnect at 10:02 must end at 10:02, which only
/// the kept "connected at 10:02" can tell. When the buffer is full the
/// oldest confirmation goes first (which changes no answer), then the oldest
/// change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transitions {
    /// Sorted ascending (by time, then state code), no two equal.
    entries: Vec<i64>,
    /// The newest entry given to [`Transitions::record_old`] and not yet
    /// settled into `entries` ([`NO_FLOOR`]: none).
    floor: i64,
}

/// No entry set aside by [`Transitions::record_old`].
const NO_FLOOR: i64 = i64::MIN;

impl Default for Transitions {
    fn default() -> Self {
        Transitions {
            entries: Vec::new(),
            floor: NO_FLOOR,
        }
    }
}

impl Transitions {
    /// At most this many entries are kept; the oldest go first.
    pub const MAX: usize = 256;

    /// Records that the instance was in `state` from `at` on (to the
    /// millisecond). Out-of-order times are inserted in their place; an
    /// entry equal to one already there is ignored; an entry whose state
    /// equals the previous entry's is redundant and not counted as a change
    /// (but if it is EARLIER than an existing same-state entry, it moves that
    /// change earlier). Allocates lazily and never above [`Self::MAX`].
    pub fn record(&mut self, at: DateTime<Utc>, state: ConnState) {
        self.insert(pack(millis(at), state));
    }

    /// Records an entry older than any window the statistics will be asked
    /// about (the caller knows its window). Of those only the newest
    /// matters, the state when the window opens, so it is kept aside in the
    /// struct itself until [`Transitions::settle`]: replaying a long log then
    /// costs neither memory nor a cache miss per old event.
    pub fn record_old(&mut self, at: DateTime<Utc>, state: ConnState) {
        self.floor = self.floor.max(pack(millis(at), state));
    }

    /// Moves the entry set aside by [`Transitions::record_old`] into the
    /// entries; call before asking anything (queries do not see it before).
    pub fn settle(&mut self) {
        let floor = std::mem::replace(&mut self.floor, NO_FLOOR);
        if floor != NO_FLOOR {
            self.insert(floor);
        }
    }

    /// Whether an entry waits for [`Transitions::settle`].
    pub fn unsettled(&self) -> bool {
        self.floor != NO_FLOOR
    }

    fn insert(&mut self, key: i64) {
        // the common case, in time order with room: an append (a replay of a
        // million events takes this path for nearly all of them)
        if self.entries.len() < Self::MAX && self.entries.last().is_none_or(|&last| key > last) {
            self.grow_if_full();
            self.entries.push(key);
            return;
        }
        let Err(mut pos) = self.entries.binary_search(&key) else {
            return; // already there
        };
        if self.entries.len() >= Self::MAX {
            // Make room: a confirmation costs no answer; else the oldest.
            if let Some(i) = self.oldest_redundant() {
                self.entries.remove(i);
                if i < pos {
                    pos -= 1;
                }
            } else if pos == 0 {
                return; // the new entry is itself the oldest
            } else {
                self.entries.remove(0);
                pos -= 1;
            }
        }
        self.grow_if_full();
        self.entries.insert(pos, key);
    }

    /// Room for one more entry: doubling, but never above [`Self::MAX`].
    fn grow_if_full(&mut self) {
        if self.entries.len() == self.entries.capacity() {
            let want = (self.entries.capacity() * 2).clamp(4, Self::MAX);
            self.entries
                .reserve_exact(want.saturating_sub(self.entries.len()));
        }
    }

    /// Index of the oldest entry whose state equals its predecessor's.
    fn oldest_redundant(&self) -> Option<usize> {
        self.entries
            .windows(2)
            .position(|w| entry_state(w[0]) == entry_state(w[1]))
            .map(|i| i + 1)
    }

    /// Forgets entries before `before`, keeping the newest change among them
    /// (it tells the state at `before`, and since when). Answers for windows
    /// starting at or after `before` do not change; a window starting
    /// earlier sees the kept entry as a change from Unknown.
    pub fn prune(&mut self, before: DateTime<Utc>) {
        let b = nanos(before);
        let cut = self.entries.partition_point(|&e| entry_nanos(e) < b);
        if cut == 0 {
            return;
        }
        // The change that started the run in effect at `before`.
        let state = entry_state(self.entries[cut - 1]);
        let mut start = cut - 1;
        while start > 0 && entry_state(self.entries[start - 1]) == state {
            start -= 1;
        }
        let keep = self.entries[start];
        self.entries.drain(..cut);
        self.entries.insert(0, keep);
        let cap = self.entries.capacity();
        if cap > 8 && self.entries.len() * 4 <= cap {
            self.entries.shrink_to((self.entries.len() * 2).max(4));
        }
    }

    /// The number of changes kept (confirmations are not counted).
    pub fn len(&self) -> usize {
        self.changes().count()
    }

    /// Whether nothing was recorded (or everything was pruned).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The changes, oldest first: each time and the state from then on.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (DateTime<Utc>, ConnState)> + '_ {
        self.changes().map(|e| (entry_time(e), entry_state(e)))
    }

    /// The packed entries that are changes (state differs from the one before).
    fn changes(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
        self.entries.iter().enumerate().filter_map(|(i, &e)| {
            let prev = i.checked_sub(1).and_then(|j| self.entries.get(j));
            match prev {
                Some(&p) if entry_state(p) == entry_state(e) => None,
                _ => Some(e),
            }
        })
    }

    /// Index of the first entry after `t` (in nanoseconds).
    fn after(&self, t: i128) -> usize {
        self.entries.partition_point(|&e| entry_nanos(e) <= t)
    }

    fn state_at_nanos(&self, t: i128) -> ConnState {
        match self.after(t).checked_sub(1) {
            Some(i) => self
                .entries
                .get(i)
                .map_or(ConnState::Unknown, |&e| entry_state(e)),
            None => ConnState::Unknown,
        }
    }

    /// The state at `t`: the newest entry at or before `t`; Unknown before
    /// the first.
    pub fn state_at(&self, t: DateTime<Utc>) -> ConnState {
        self.state_at_nanos(nanos(t))
    }

    /// Nanoseconds in each state (indexed by [`slot`]) within [f, t).
    fn spans_nanos(&self, f: i128, t: i128) -> [i128; 3] {
        let mut acc = [0i128; 3];
        if f >= t {
            return acc;
        }
        let mut state = self.state_at_nanos(f);
        let mut cursor = f;
        for &e in &self.entries[self.after(f)..] {
            let at = entry_nanos(e);
            if at >= t {
                break;
            }
            acc[slot(state)] += at - cursor;
            cursor = at;
            state = entry_state(e);
        }
        acc[slot(state)] += t - cursor;
        acc
    }

    /// Time spent in each state within [from, to) (to the nanosecond; all
    /// zero when `from >= to`). Entries after `to` do not count.
    pub fn spans(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Spans {
        let acc = self.spans_nanos(nanos(from), nanos(to));
        Spans {
            connected: duration_from_nanos(acc[slot(ConnState::Connected)]),
            disconnected: duration_from_nanos(acc[slot(ConnState::Disconnected)]),
            unknown: duration_from_nanos(acc[slot(ConnState::Unknown)]),
        }
    }

    /// connected / (connected + disconnected) within [from, to); None when
    /// no known time in the window (no entries, all Unknown, `from >= to`).
    pub fn uptime(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<f64> {
        let acc = self.spans_nanos(nanos(from), nanos(to));
        let c = acc[slot(ConnState::Connected)];
        let known = c + acc[slot(ConnState::Disconnected)];
        (known > 0).then(|| (c as f64 / known as f64).clamp(0.0, 1.0))
    }

    /// [`Transitions::uptime`] over the 24 h before `now`: the table's
    /// `Up 24h`.
    pub fn uptime_day(&self, now: DateTime<Utc>) -> Option<f64> {
        self.uptime(now - Duration::hours(24), now)
    }

    /// [`Transitions::disconnects`] in the 24 h before `now`: the table's
    /// `Dn` and its sort.
    pub fn disconnects_day(&self, now: DateTime<Utc>) -> usize {
        self.disconnects(now - Duration::hours(24), now)
    }

    /// Changes into Disconnected (from Connected or Unknown; before the
    /// first entry the state is Unknown) at times in [from, to).
    pub fn disconnects(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> usize {
        let (f, t) = (nanos(from), nanos(to));
        self.changes()
            .filter(|&e| entry_state(e) == ConnState::Disconnected)
            .map(entry_nanos)
            .filter(|&at| f <= at && at < t)
            .count()
    }

    /// Mean of (connect time − the disconnect before it) over reconnects
    /// whose connect falls in [from, to); the disconnect may be before
    /// `from`. A reconnect is a change into Connected after a change into
    /// Disconnected (Unknown in between does not break it; the latest
    /// disconnect counts). None when there is none.
    pub fn mean_time_to_reconnect(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Option<Duration> {
        let (f, t) = (nanos(from), nanos(to));
        let mut down: Option<i128> = None;
        let (mut sum, mut n) = (0i128, 0i128);
        for e in self.changes() {
            let at = entry_nanos(e);
            if at >= t {
                break;
            }
            match entry_state(e) {
                ConnState::Disconnected => down = Some(at),
                ConnState::Connected => {
                    if let Some(d) = down.take()
                        && at >= f
                    {
                        sum += at - d;
                        n += 1;
                    }
                }
                ConnState::Unknown => {}
            }
        }
        (n > 0).then(|| duration_from_nanos(sum / n))
    }

    /// `slices` cells covering [from, to), oldest first: Disconnected if the
    /// instance was disconnected at any time in the slice (a short outage
    /// must stay visible, like a heartbeat bar), else Connected if connected
    /// at any time in it, else Unknown. `slices == 0` → empty vec;
    /// `from >= to` → all Unknown. A `slices` too large to allocate gives an
    /// empty vec rather than a panic.
    pub fn timeline(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        slices: usize,
    ) -> Vec<ConnState> {
        let mut out = Vec::new();
        if slices == 0 || out.try_reserve_exact(slices).is_err() {
            return out;
        }
        let (f, t) = (nanos(from), nanos(to));
        if f >= t {
            out.resize(slices, ConnState::Unknown);
            return out;
        }
        let width = t - f;
        let n = slices as i128;
        let (q, r) = (width / n, width % n);
        // Slice i starts at f + width·i/slices, computed without overflow.
        let bound = |i: i128| f + q * i + (r * i) / n;
        // Entries before `from` only set the state at its start.
        let mut j = self.entries.partition_point(|&e| entry_nanos(e) < f);
        let mut state = j
            .checked_sub(1)
            .and_then(|i| self.entries.get(i))
            .map_or(ConnState::Unknown, |&e| entry_state(e));
        for i in 0..n {
            let (start, end) = (bound(i), bound(i + 1));
            let mut seen = [false; 3];
            // The state held before the slice counts unless an entry sits
            // exactly at its start (then it ended there). Entries in the
            // slice count even when they last no time: a disconnect and
            // reconnect within one millisecond stay visible.
            if self.entries.get(j).is_none_or(|&e| entry_nanos(e) > start) {
                seen[slot(state)] = true;
            }
            while let Some(&e) = self.entries.get(j) {
                let at = entry_nanos(e);
                if at >= end && at != start {
                    break;
                }
                state = entry_state(e);
                seen[slot(state)] = true;
                j += 1;
            }
            out.push(if seen[slot(ConnState::Disconnected)] {
                ConnState::Disconnected
            } else if seen[slot(ConnState::Connected)] {
                ConnState::Connected
            } else {
                ConnState::Unknown
            });
        }
        out
    }
}

fn slot(state: ConnState) -> usize {
    match state {
        ConnState::Connected => 0,
        ConnState::Disconnected => 1,
        ConnState::Unknown => 2,
    }
}

/// Time spent in each state within a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spans {
    /// Time in [`ConnState::Connected`].
    pub connected: Duration,
    /// Time in [`ConnState::Disconnected`].
    pub disconnected: Duration,
    /// Time before the first entry or in [`ConnState::Unknown`].
    pub unknown: Duration,
}

/// Fleet-wide counts per minute over the last hour (the header's sparkline
/// of disconnects per minute). Fixed size, no allocation after creation.
///
/// Minutes are UTC wall-clock minutes (unix seconds / 60). A clock that goes
/// backwards clears the minutes that are now in the future.
#[derive(Debug, Clone)]
pub struct PerMinute {
    /// Ring indexed by minute mod 60.
    counts: [u64; 60],
    /// The newest minute the ring holds (unix minutes).
    head: i64,
}

impl Default for PerMinute {
    fn default() -> Self {
        Self {
            counts: [0; 60],
            head: 0,
        }
    }
}

fn minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

fn ring(m: i64) -> usize {
    // rem_euclid(60) is in [0, 60).
    usize::try_from(m.rem_euclid(60)).unwrap_or(0)
}

impl PerMinute {
    /// The number of minutes kept and shown.
    pub const MINUTES: usize = 60;

    /// Counts one occurrence at `at`. `at` older than an hour before `now`
    /// (outside the 60 minutes shown) is ignored; `at` after `now` (clock
    /// skew) counts in `now`'s minute. Moving to a later minute clears the
    /// buckets that went by.
    pub fn add(&mut self, at: DateTime<Utc>, now: DateTime<Utc>) {
        let now_m = minute(now);
        self.advance(now_m);
        let at_m = minute(at).min(now_m);
        if now_m.saturating_sub(at_m) >= Self::MINUTES as i64 {
            return;
        }
        let b = &mut self.counts[ring(at_m)];
        *b = b.saturating_add(1);
    }

    /// Makes `now_m` the newest minute, clearing the buckets of minutes
    /// that are no longer in the hour ending at it.
    fn advance(&mut self, now_m: i64) {
        let gap = now_m.abs_diff(self.head);
        if gap >= Self::MINUTES as u64 {
            self.counts = [0; 60];
        } else if now_m > self.head {
            for m in self.head + 1..=now_m {
                self.counts[ring(m)] = 0;
            }
        } else {
            // Clock went back: the minutes after `now_m` are in the future.
            for m in now_m + 1..=self.head {
                self.counts[ring(m)] = 0;
            }
        }
        self.head = now_m;
    }

    /// The last 60 minutes, oldest first, the current minute last (as of
    /// `now`, so minutes with nothing are 0 even if nothing was added lately).
    pub fn series(&self, now: DateTime<Utc>) -> [u64; 60] {
        let now_m = minute(now);
        let mut out = [0u64; 60];
        for (i, o) in out.iter_mut().enumerate() {
            let m = now_m.saturating_sub((Self::MINUTES - 1 - i) as i64);
            let held = m <= self.head && self.head.saturating_sub(m) < Self::MINUTES as i64;
            if held {
                *o = self.counts[ring(m)];
            }
        }
        out
    }
}

/// A ratio in [0, 1] as a percentage with one decimal, rounded down:
/// "99.2%", "100%" (only for exactly 1), "0%" (only for exactly 0), "—" for
/// None or NaN. 0.9996 → "99.9%". Values outside [0, 1] are clamped.
pub fn percent(v: Option<f64>) -> String {
    let Some(v) = v.filter(|v| !v.is_nan()) else {
        return "—".to_string();
    };
    if v >= 1.0 {
        return "100%".to_string();
    }
    if v <= 0.0 {
        return "0%".to_string();
    }
    // A small epsilon so 0.992 (stored as 0.99199999…) shows 99.2, capped
    // so nothing below 1 ever shows 100.
    let tenths = ((v * 1000.0 + 1e-6).floor() as i64).clamp(0, 999);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// A duration in its two largest units, rounded down: "45s", "3m 12s",
/// "2h 05m", "3d 4h"; "—" for None. Negative durations show as "0s".
pub fn short_duration(d: Option<Duration>) -> String {
    let Some(d) = d else {
        return "—".to_string();
    };
    let s = d.num_seconds().max(0);
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins:02}m")
    } else if mins > 0 {
        format!("{mins}m {secs:02}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConnState::{Connected as C, Disconnected as D, Unknown as U};
    use proptest::prelude::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn tr(entries: &[(i64, ConnState)]) -> Transitions {
        let mut x = Transitions::default();
        for &(s, st) in entries {
            x.record(t(s), st);
        }
        x
    }

    fn secs(d: Duration) -> i64 {
        d.num_seconds()
    }

    #[test]
    fn no_events() {
        let x = Transitions::default();
        assert!(x.is_empty());
        assert_eq!(x.len(), 0);
        assert_eq!(x.state_at(t(100)), U);
        assert_eq!(x.uptime(t(0), t(100)), None);
        assert_eq!(x.disconnects(t(0), t(100)), 0);
        assert_eq!(x.mean_time_to_reconnect(t(0), t(100)), None);
        assert_eq!(x.spans(t(0), t(100)).unknown, Duration::seconds(100));
        assert_eq!(x.timeline(t(0), t(100), 4), vec![U; 4]);
    }

    #[test]
    fn a_single_event() {
        let x = tr(&[(50, D)]);
        assert_eq!(x.len(), 1);
        assert_eq!(x.state_at(t(49)), U);
        assert_eq!(x.state_at(t(50)), D);
        assert_eq!(x.uptime(t(0), t(100)), Some(0.0));
        assert_eq!(x.disconnects(t(0), t(100)), 1);
        assert_eq!(x.disconnects(t(51), t(100)), 0);
        assert_eq!(x.mean_time_to_reconnect(t(0), t(100)), None);
        let s = x.spans(t(0), t(100));
        assert_eq!(
            (secs(s.unknown), secs(s.disconnected), secs(s.connected)),
            (50, 50, 0)
        );

        let x = tr(&[(50, C)]);
        assert_eq!(x.uptime(t(0), t(100)), Some(1.0));
        assert_eq!(
            x.uptime(t(0), t(50)),
            None,
            "nothing known before the first"
        );
        assert_eq!(x.disconnects(t(0), t(100)), 0);
        assert_eq!(x.mean_time_to_reconnect(t(0), t(100)), None);
    }

    #[test]
    fn events_older_than_the_window_set_the_state_at_its_start() {
        // Down at 10, up at 40, down at 70, up at 80; window [50, 150).
        let x = tr(&[(10, D), (40, C), (70, D), (80, C)]);
        assert_eq!(x.state_at(t(50)), C);
        // 20 s connected, 10 down, 70 connected.
        assert_eq!(x.uptime(t(50), t(150)), Some(0.9));
        assert_eq!(x.disconnects(t(50), t(150)), 1);
        assert_eq!(
            x.mean_time_to_reconnect(t(50), t(150)),
            Some(Duration::seconds(10))
        );
        // Only old events: the state at the start holds throughout.
        let x = tr(&[(10, C), (20, D)]);
        assert_eq!(x.uptime(t(100), t(200)), Some(0.0));
        assert_eq!(x.disconnects(t(100), t(200)), 0);
        // The disconnect before the window still pairs with a connect in it.
        let x = tr(&[(10, C), (20, D), (120, C)]);
        assert_eq!(
            x.mean_time_to_reconnect(t(100), t(200)),
            Some(Duration::seconds(100))
        );
        assert_eq!(x.mean_time_to_reconnect(t(0), t(100)), None);
    }

    #[test]
    fn out_of_order_gives_the_same_answers() {
        let in_order = [(10, C), (20, D), (25, C), (30, C), (60, D), (90, C)];
        let a = tr(&in_order);
        let mut rev = in_order;
        rev.reverse();
        let b = tr(&rev);
        // The realistic case: a disconnect delivered after the reconnect.
        let c = tr(&[(10, C), (25, C), (30, C), (20, D), (90, C), (60, D)]);
        for x in [&b, &c] {
            assert_eq!(x, &a);
            assert_eq!(x.uptime(t(0), t(100)), a.uptime(t(0), t(100)));
            assert_eq!(x.disconnects(t(0), t(100)), 2);
            assert_eq!(
                x.mean_time_to_reconnect(t(0), t(100)),
                Some(Duration::seconds((5 + 30) / 2) + Duration::milliseconds(500))
            );
            assert_eq!(x.iter().collect::<Vec<_>>(), a.iter().collect::<Vec<_>>());
        }
        // 10..20 up, 20..25 down, 25..60 up, 60..90 down, 90..100 up.
        assert_eq!(a.uptime(t(0), t(100)), Some(55.0 / 90.0));
        assert_eq!(a.len(), 5);
    }

    #[test]
    fn an_earlier_same_state_entry_moves_the_change_earlier() {
        let x = tr(&[(5, D), (20, C), (10, C)]);
        assert_eq!(x.iter().collect::<Vec<_>>(), vec![(t(5), D), (t(10), C)]);
        assert_eq!(
            x.mean_time_to_reconnect(t(0), t(100)),
            Some(Duration::seconds(5))
        );
        assert_eq!(x.len(), 2);
    }

    #[test]
    fn clock_skew_future_entries_and_reversed_windows() {
        let x = tr(&[(10, C), (50, D), (200, C)]);
        // The reconnect at 200 is after `to`: not counted.
        assert_eq!(x.mean_time_to_reconnect(t(0), t(100)), None);
        assert_eq!(x.disconnects(t(0), t(50)), 0, "to is exclusive");
        assert_eq!(x.disconnects(t(0), t(100)), 1);
        assert_eq!(x.uptime(t(0), t(100)), Some(40.0 / 90.0));
        let s = x.spans(t(0), t(100));
        assert_eq!(
            s.connected + s.disconnected + s.unknown,
            Duration::seconds(100)
        );
        // from > to: nothing, and no panic.
        assert_eq!(x.uptime(t(100), t(0)), None);
        assert_eq!(x.disconnects(t(100), t(0)), 0);
        assert_eq!(x.mean_time_to_reconnect(t(300), t(0)), None);
        assert_eq!(x.spans(t(100), t(0)), Spans::default());
        assert_eq!(x.timeline(t(100), t(0), 3), vec![U; 3]);
        // The extremes of chrono's range.
        let (lo, hi) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let mut y = x.clone();
        y.record(lo, D);
        y.record(hi, D);
        assert_eq!(y.state_at(hi), D);
        assert_eq!(y.state_at(lo), D);
        let s = y.spans(lo, hi);
        assert_eq!(s.connected + s.disconnected + s.unknown, hi - lo);
        assert!(y.uptime(lo, hi).is_some());
        // The one at `hi` is stored as hi rounded down to the millisecond.
        assert_eq!(y.disconnects(lo, hi), 3);
        assert!(y.mean_time_to_reconnect(lo, hi).is_some());
        assert_eq!(y.timeline(lo, hi, 5).len(), 5);
        assert_eq!(y.iter().next(), Some((lo, D)));
        let (last, st) = y.iter().next_back().unwrap();
        assert_eq!(st, D);
        assert!(
            hi - last < Duration::milliseconds(1),
            "kept to the millisecond"
        );
    }

    #[test]
    fn max_bound_drops_the_oldest() {
        let mut x = Transitions::default();
        let n = Transitions::MAX as i64 + 10;
        for i in 0..n {
            x.record(t(i * 10), if i % 2 == 0 { D } else { C });
        }
        assert_eq!(x.len(), Transitions::MAX);
        assert!(x.entries.capacity() <= Transitions::MAX);
        assert_eq!(x.iter().next().map(|e| e.0), Some(t(100)));
        assert_eq!(x.state_at(t(95)), U, "the dropped part is unknown");
        assert_eq!(x.disconnects(t(0), t(n * 10)), Transitions::MAX / 2);
        // An entry older than everything kept is not let back in.
        x.record(t(0), C);
        assert_eq!(x.iter().next().map(|e| e.0), Some(t(100)));
        // Confirmations go before changes: hours of "still connected" polls
        // do not push out the changes.
        let mut y = tr(&[(0, D), (10, C)]);
        for i in 0..1000 {
            y.record(t(20 + i), C);
        }
        assert_eq!(y.iter().collect::<Vec<_>>(), vec![(t(0), D), (t(10), C)]);
        assert!(y.entries.len() <= Transitions::MAX);
        assert!(y.entries.capacity() <= Transitions::MAX);
        assert_eq!(
            y.mean_time_to_reconnect(t(0), t(2000)),
            Some(Duration::seconds(10))
        );
    }

    #[test]
    fn memory_stays_small() {
        // 10,000 instances at the bound: 10,000 · (32 + 256 · 8) B ≈ 20 MiB
        // (the Vec, and the entry `record_old` sets aside)
        assert_eq!(std::mem::size_of::<Transitions>(), 32);
        let mut x = Transitions::default();
        x.record(t(1), C);
        assert!(x.entries.capacity() <= 4, "allocates lazily and small");
        for i in 0..10_000 {
            x.record(t(i), if i % 3 == 0 { D } else { C });
        }
        assert_eq!(x.entries.capacity(), Transitions::MAX);
        assert!(std::mem::size_of::<PerMinute>() <= 60 * 8 + 8);
    }

    #[test]
    fn duplicates_are_ignored() {
        let x = tr(&[(10, C), (10, C), (20, D), (20, D), (20, D), (30, D)]);
        assert_eq!(x, tr(&[(10, C), (20, D), (30, D)]));
        assert_eq!(x.len(), 2);
        assert_eq!(x.disconnects(t(0), t(100)), 1);
        assert_eq!(x.uptime(t(10), t(30)), Some(0.5));
        assert_eq!(x.mean_time_to_reconnect(t(0), t(100)), None);
        // Same instant, two states: order-independent, connected last.
        let a = tr(&[(10, C), (20, D), (20, C)]);
        let b = tr(&[(20, C), (20, D), (10, C)]);
        assert_eq!(a, b);
        assert_eq!(a.state_at(t(20)), C);
        assert_eq!(a.disconnects(t(0), t(100)), 1);
        assert_eq!(
            a.mean_time_to_reconnect(t(0), t(100)),
            Some(Duration::zero())
        );
        assert_eq!(a.timeline(t(0), t(40), 4), vec![U, C, D, C]);
    }

    #[test]
    fn prune_keeps_the_state_at_the_cut() {
        let mut x = tr(&[(10, C), (20, D), (30, D), (40, C), (50, D)]);
        x.prune(t(35));
        assert_eq!(
            x.iter().collect::<Vec<_>>(),
            vec![(t(20), D), (t(40), C), (t(50), D)]
        );
        assert_eq!(x.state_at(t(35)), D);
        assert_eq!(x.uptime(t(35), t(60)), Some(10.0 / 25.0));
        assert_eq!(x.disconnects(t(35), t(60)), 1);
        assert_eq!(
            x.mean_time_to_reconnect(t(35), t(60)),
            Some(Duration::seconds(20))
        );
        x.prune(t(0));
        assert_eq!(x.len(), 3);
        x.prune(t(1000));
        assert_eq!(x.iter().collect::<Vec<_>>(), vec![(t(50), D)]);
        assert_eq!(x.state_at(t(2000)), D);
        let mut e = Transitions::default();
        e.prune(t(5));
        assert!(e.is_empty());
        // Pruning a full buffer gives memory back.
        let mut f = Transitions::default();
        for i in 0..Transitions::MAX as i64 {
            f.record(t(i), if i % 2 == 0 { D } else { C });
        }
        f.prune(t(250));
        assert!(f.entries.capacity() < Transitions::MAX);
        assert_eq!(f.len(), 7, "249 (the state at 250) and 250..=255");
    }

    #[test]
    fn timeline_keeps_short_outages_visible() {
        // Up from 0, down for one second at 42, up from 43.
        let x = tr(&[(0, C), (42, D), (43, C), (95, U)]);
        let cells = x.timeline(t(0), t(100), 10);
        assert_eq!(cells, vec![C, C, C, C, D, C, C, C, C, C]);
        assert_eq!(x.timeline(t(0), t(100), 0), vec![]);
        // Before the first entry: unknown; a boundary change belongs to the later slice.
        let x = tr(&[(50, D)]);
        assert_eq!(x.timeline(t(0), t(100), 4), vec![U, U, D, D]);
        // More slices than nanoseconds: still the right length.
        assert_eq!(
            x.timeline(t(50), t(50) + Duration::nanoseconds(3), 7).len(),
            7
        );
        // A silly size does not panic.
        assert!(x.timeline(t(0), t(100), usize::MAX).is_empty());
    }

    #[test]
    fn sub_second_times_are_kept_to_the_millisecond() {
        let at = t(10) + Duration::milliseconds(250);
        let x = {
            let mut x = Transitions::default();
            x.record(at, D);
            x.record(at + Duration::milliseconds(500), C);
            x
        };
        assert_eq!(
            x.mean_time_to_reconnect(t(0), t(20)),
            Some(Duration::milliseconds(500))
        );
        assert_eq!(x.iter().next(), Some((at, D)));
    }

    fn state() -> impl Strategy<Value = ConnState> {
        prop_oneof![Just(C), Just(D), Just(U)]
    }

    proptest! {
        #[test]
        fn invariants(
            entries in prop::collection::vec((-50i64..500, state()), 0..60),
            from in -100i64..600,
            len in 0i64..700,
            slices in 0usize..80,
            seed in any::<u64>(),
        ) {
            let x = tr(&entries);
            let (f, to) = (t(from), t(from + len));
            let s = x.spans(f, to);
            prop_assert_eq!(s.connected + s.disconnected + s.unknown, to - f);
            if let Some(u) = x.uptime(f, to) {
                prop_assert!((0.0..=1.0).contains(&u));
            }
            prop_assert_eq!(x.timeline(f, to, slices).len(), slices);
            prop_assert_eq!(x.timeline(to, f, slices).len(), slices);
            if let Some(m) = x.mean_time_to_reconnect(f, to) {
                prop_assert!(m >= Duration::zero());
            }
            // Any record order: the same transitions, so the same answers.
            let mut shuffled = entries.clone();
            let mut r = seed;
            for i in (1..shuffled.len()).rev() {
                r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                shuffled.swap(i, (r >> 33) as usize % (i + 1));
            }
            let y = tr(&shuffled);
            prop_assert_eq!(&x, &y);
            prop_assert_eq!(x.uptime(f, to), y.uptime(f, to));
            prop_assert_eq!(x.disconnects(f, to), y.disconnects(f, to));
            prop_assert_eq!(x.mean_time_to_reconnect(f, to), y.mean_time_to_reconnect(f, to));
            prop_assert_eq!(x.timeline(f, to, slices), y.timeline(f, to, slices));
            // Against a plain model: the newest recorded entry at or before.
            let mut sorted = entries.clone();
            sorted.sort_by_key(|&(s, st)| (s, code(st)));
            for probe in [from, from + len / 2, from + len] {
                let want = sorted.iter().rev().find(|e| e.0 <= probe).map_or(U, |e| e.1);
                prop_assert_eq!(x.state_at(t(probe)), want);
            }
            // Against sampling: entries sit on whole seconds, so the state
            // holds for each whole second.
            let count = |st| (from..from + len).filter(|&s| x.state_at(t(s)) == st).count() as i64;
            prop_assert_eq!(s.connected.num_seconds(), count(C));
            prop_assert_eq!(s.disconnected.num_seconds(), count(D));
            // The changes alternate and are in time order.
            let changes: Vec<_> = x.iter().collect();
            prop_assert!(changes.windows(2).all(|w| w[0].1 != w[1].1 && w[0].0 <= w[1].0));
            prop_assert_eq!(x.len(), changes.len());
        }

        #[test]
        fn prune_does_not_change_answers_after_the_cut(
            entries in prop::collection::vec((0i64..500, state()), 0..60),
            cut in 0i64..500,
            len in 0i64..300,
        ) {
            let x = tr(&entries);
            let mut y = x.clone();
            y.prune(t(cut));
            let (f, to) = (t(cut), t(cut + len));
            prop_assert_eq!(x.spans(f, to), y.spans(f, to));
            prop_assert_eq!(x.uptime(f, to), y.uptime(f, to));
            prop_assert_eq!(x.disconnects(f, to), y.disconnects(f, to));
            prop_assert_eq!(x.timeline(f, to, 13), y.timeline(f, to, 13));
            prop_assert_eq!(x.state_at(f), y.state_at(f));
        }
    }

    fn m(min: i64, sec: i64) -> DateTime<Utc> {
        t(1_000_000 * 60 + min * 60 + sec)
    }

    #[test]
    fn per_minute_counts_and_orders_oldest_first() {
        let mut p = PerMinute::default();
        assert_eq!(p.series(m(0, 0)), [0; 60]);
        p.add(m(0, 5), m(0, 10));
        p.add(m(0, 30), m(0, 40));
        p.add(m(1, 0), m(1, 0));
        let s = p.series(m(1, 30));
        assert_eq!((s[58], s[59]), (2, 1));
        assert_eq!(s.iter().sum::<u64>(), 3);
        // A late event in an earlier minute still within the hour.
        p.add(m(-30, 0), m(1, 30));
        assert_eq!(p.series(m(1, 30))[59 - 31], 1);
        // Older than the hour: ignored.
        p.add(m(-59, 0), m(1, 0));
        assert_eq!(p.series(m(1, 30)).iter().sum::<u64>(), 4);
    }

    #[test]
    fn per_minute_wraps_around() {
        let mut p = PerMinute::default();
        for i in 0..150 {
            p.add(m(i, 0), m(i, 0));
        }
        let s = p.series(m(149, 59));
        assert_eq!(s, [1; 60]);
        // series() is as of now: minutes with nothing added read 0.
        let s = p.series(m(159, 0));
        assert_eq!(&s[50..], &[0; 10]);
        assert_eq!(&s[..50], &[1; 50]);
        // Moving on clears the buckets that went by, even in the ring.
        p.add(m(161, 0), m(161, 0));
        let s = p.series(m(161, 0));
        assert_eq!(s[59], 1);
        assert_eq!(&s[48..59], &[0; 11]);
        assert_eq!(s[47], 1, "minute 149 is still in the hour");
        assert_eq!(s.iter().sum::<u64>(), 49);
    }

    #[test]
    fn per_minute_an_hour_gap_clears_all() {
        let mut p = PerMinute::default();
        for i in 0..60 {
            p.add(m(i, 0), m(i, 0));
        }
        p.add(m(200, 0), m(200, 0));
        let s = p.series(m(200, 0));
        assert_eq!(s.iter().sum::<u64>(), 1);
        assert_eq!(s[59], 1);
        let mut q = PerMinute::default();
        q.add(m(0, 0), m(0, 0));
        assert_eq!(q.series(m(60, 0)), [0; 60]);
        assert_eq!(q.series(m(59, 0))[0], 1);
    }

    #[test]
    fn per_minute_skewed_times() {
        let mut p = PerMinute::default();
        // In the future: counts now.
        p.add(m(5, 0), m(1, 0));
        assert_eq!(p.series(m(1, 0))[59], 1);
        // The clock goes back two minutes: the "future" minute is cleared,
        // the older ones stay.
        p.add(m(0, 0), m(0, 0));
        p.add(m(-1, 0), m(-1, 0));
        let s = p.series(m(-1, 0));
        assert_eq!(s[59], 1);
        assert_eq!(s.iter().sum::<u64>(), 1);
        // Back a day: everything cleared, counting goes on.
        p.add(m(-1440, 0), m(-1440, 0));
        assert_eq!(p.series(m(-1440, 0)).iter().sum::<u64>(), 1);
        // Extremes do not panic.
        let (lo, hi) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        p.add(lo, hi);
        p.add(hi, lo);
        p.add(hi, hi);
        assert_eq!(p.series(hi)[59], 1);
        let _ = p.series(lo);
    }

    #[test]
    fn percent_rounds_down_and_never_fakes_100() {
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(f64::NAN)), "—");
        assert_eq!(percent(Some(1.0)), "100%");
        assert_eq!(percent(Some(0.0)), "0%");
        assert_eq!(percent(Some(0.992)), "99.2%");
        assert_eq!(percent(Some(0.9996)), "99.9%");
        assert_eq!(percent(Some(0.999_999_999)), "99.9%");
        assert_eq!(percent(Some(0.5)), "50.0%");
        assert_eq!(percent(Some(0.0001)), "0.0%");
        assert_eq!(percent(Some(1.5)), "100%");
        assert_eq!(percent(Some(-0.1)), "0%");
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(None), "—");
        assert_eq!(short_duration(Some(Duration::seconds(45))), "45s");
        assert_eq!(short_duration(Some(Duration::milliseconds(999))), "0s");
        assert_eq!(
            short_duration(Some(Duration::seconds(3 * 60 + 12))),
            "3m 12s"
        );
        assert_eq!(
            short_duration(Some(Duration::seconds(3 * 60 + 5))),
            "3m 05s"
        );
        assert_eq!(
            short_duration(Some(Duration::seconds(2 * 3600 + 5 * 60 + 59))),
            "2h 05m"
        );
        assert_eq!(
            short_duration(Some(Duration::seconds(3 * 86400 + 4 * 3600 + 59))),
            "3d 4h"
        );
        assert_eq!(short_duration(Some(Duration::seconds(-5))), "0s");
        assert!(!short_duration(Some(Duration::MAX)).is_empty());
        assert_eq!(short_duration(Some(Duration::MIN)), "0s");
    }
}
