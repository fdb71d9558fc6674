//! `zapi-dash report`: per instance and day, from the state changes in the
//! event log, what an agency sends its customers: uptime, disconnects, mean
//! time to reconnect, longest outage.
//!
//! Pure code: the changes, names and window come in, a [`Report`] goes out
//! ([`format`] writes it as a table, CSV or JSON). Days are UTC days.
//!
//! What each number means, for a window (a day, or the whole report):
//! - the state at any time is the one the newest change before it says;
//!   before an instance's first change it is unknown, and unknown time
//!   counts neither way;
//! - **uptime**: connected time / (connected + disconnected time);
//! - **disconnects**: changes into disconnected within the window;
//! - **mean time to reconnect**: over the reconnects within the window,
//!   the mean of (reconnect − the disconnect before it), which may be on an
//!   earlier day;
//! - **longest outage**: the longest stretch disconnected within the window
//!   (an outage over midnight counts on each day for its part, and in the
//!   total whole); one still going at the report's end runs to the end and
//!   is marked open.

pub mod format;

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};

use crate::model::{ConnState, InstanceId};
use crate::store::StateChange;

/// The report over `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub instances: Vec<InstanceReport>,
}

/// One instance: a row per day and the whole window.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceReport {
    pub id: InstanceId,
    pub name: Option<String>,
    /// Whether the log holds any state change of it (up to the report's end).
    pub has_changes: bool,
    pub days: Vec<(NaiveDate, Figures)>,
    pub total: Figures,
}

/// The numbers of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub connected: TimeDelta,
    pub disconnected: TimeDelta,
    pub disconnects: usize,
    pub reconnects: usize,
    /// Sum of the times to reconnect (for the mean).
    pub reconnect_total: TimeDelta,
    /// The longest stretch disconnected in the window, if any.
    pub longest_outage: Option<TimeDelta>,
    /// The longest outage is still going at the report's end.
    pub outage_open: bool,
}

impl Default for Figures {
    fn default() -> Self {
        Self {
            connected: TimeDelta::zero(),
            disconnected: TimeDelta::zero(),
            disconnects: 0,
            reconnects: 0,
            reconnect_total: TimeDelta::zero(),
            longest_outage: None,
            outage_open: false,
        }
    }
}

impl Figures {
    /// Connected / known time in [0, 1]; `None` when no time is known.
    pub fn uptime(&self) -> Option<f64> {
        let known = self.known().num_milliseconds();
        (known > 0).then(|| self.connected.num_milliseconds() as f64 / known as f64)
    }

    /// Time whose state the log tells.
    pub fn known(&self) -> TimeDelta {
        self.connected + self.disconnected
    }

    /// The mean time to reconnect; `None` without a reconnect.
    pub fn mean_reconnect(&self) -> Option<TimeDelta> {
        let n = i32::try_from(self.reconnects).ok().filter(|n| *n > 0)?;
        Some(self.reconnect_total / n)
    }
}

/// The longest `--since` taken: ten years.
const MAX_SINCE_DAYS: i64 = 3650;

/// Parses `--since`: a whole number and a unit, `d` (days), `h` (hours)
/// or `m` (minutes): `7d`, `24h`, `30m`. Errors say what is accepted.
pub fn parse_since(s: &str) -> Result<TimeDelta, String> {
    const ACCEPTED: &str = "use a whole number and d, h or m, e.g. 7d, 24h or 30m";
    let s = s.trim();
    let (digits, per) = match s.char_indices().last() {
        Some((i, 'd')) => (&s[..i], 24 * 60),
        Some((i, 'h')) => (&s[..i], 60),
        Some((i, 'm')) => (&s[..i], 1),
        _ => return Err(format!("`{s}` has no unit: {ACCEPTED}")),
    };
    let n: i64 = digits
        .parse()
        .ok()
        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| format!("`{s}` is not a duration: {ACCEPTED}"))?;
    if n == 0 {
        return Err(format!("`{s}` is an empty window: {ACCEPTED}"));
    }
    let minutes = n
        .checked_mul(per)
        .filter(|m| *m <= MAX_SINCE_DAYS * 24 * 60)
        .ok_or_else(|| format!("`{s}` is too far back: at most {MAX_SINCE_DAYS}d"))?;
    Ok(TimeDelta::minutes(minutes))
}

/// A stretch of one state: `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Period {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    state: ConnState,
    /// For a connected period after an outage: when that outage began.
    after_outage: Option<DateTime<Utc>>,
}

/// The report of `changes` over `[from, to)`: the `known` instances first
/// (id and name, in their order), then any other instance of the log by
/// id. Changes after `to` are ignored.
pub fn build(
    changes: Vec<StateChange>,
    known: &[(InstanceId, Option<String>)],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Report {
    let mut by_instance: HashMap<InstanceId, Vec<StateChange>> = HashMap::new();
    for change in changes.into_iter().filter(|c| c.at < to) {
        by_instance
            .entry(change.instance_id.clone())
            .or_default()
            .push(change);
    }
    let mut others: Vec<InstanceId> = by_instance
        .keys()
        .filter(|id| !known.iter().any(|(k, _)| k == *id))
        .cloned()
        .collect();
    others.sort();
    let order = known
        .iter()
        .cloned()
        .chain(others.into_iter().map(|id| (id, None)));
    let instances = order
        .map(|(id, name)| {
            let mut changes = by_instance.remove(&id).unwrap_or_default();
            changes.sort_by_key(|c| (c.at, c.seq));
            let periods = periods(&changes, to);
            InstanceReport {
                has_changes: !changes.is_empty(),
                days: days(from, to)
                    .into_iter()
                    .map(|(day, a, b)| (day, figures(&periods, a, b, to)))
                    .collect(),
                total: figures(&periods, from, to, to),
                id,
                name,
            }
        })
        .collect();
    Report {
        from,
        to,
        instances,
    }
}

/// The UTC days that `[from, to)` touches, each with its part of the window.
pub fn days(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> {
    let mut out = Vec::new();
    let mut day = from.date_naive();
    while let Some(start) = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc()) {
        if start >= to {
            break;
        }
        let Some(next) = day.checked_add_days(Days::new(1)) else {
            break;
        };
        let end = next
            .and_hms_opt(0, 0, 0)
            .map_or(to, |t| t.and_utc().min(to));
        let start = start.max(from);
        if start < end {
            out.push((day, start, end));
        }
        day = next;
    }
    out
}

/// The stretches of each state from the first change to `end`, same
/// states merged: a disconnect while disconnected changes nothing.
fn periods(changes: &[StateChange], end: DateTime<Utc>) -> Vec<Period> {
    let mut out: Vec<Period> = Vec::new();
    for c in changes {
        if out.last().is_some_and(|p| p.state == c.state) {
            continue;
        }
        let after_outage = match out.last_mut() {
            Some(prev) => {
                prev.end = c.at;
                (prev.state == ConnState::Disconnected).then_some(prev.start)
            }
            None => None,
        };
        out.push(Period {
            start: c.at,
            end,
            state: c.state,
            after_outage,
        });
    }
    out
}

/// The figures of `[from, to)`; `end` is the report's end (an outage that
/// lasts to it is open).
fn figures(
    periods: &[Period],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Figures {
    let mut f = Figures::default();
    for p in periods {
        let overlap = p.end.min(to) - p.start.max(from);
        let starts_inside = p.start >= from && p.start < to;
        match p.state {
            ConnState::Disconnected => {
                if starts_inside {
                    f.disconnects += 1;
                }
                // an outage of no length (down and up in the same
                // instant) still counts, as 0s
                if overlap > TimeDelta::zero() || (starts_inside && overlap.is_zero()) {
                    f.disconnected += overlap;
                    if f.longest_outage.is_none_or(|l| overlap > l) {
                        f.longest_outage = Some(overlap);
                        // open: still going when this window, the last, ends
                        f.outage_open = p.end >= end && to >= end;
                    }
                }
            }
            ConnState::Connected => {
                if overlap > TimeDelta::zero() {
                    f.connected += overlap;
                }
                if let Some(down_since) = p.after_outage.filter(|_| starts_inside) {
                    f.reconnects += 1;
                    f.reconnect_total += p.start - down_since;
                }
            }
            ConnState::Unknown => {}
        }
    }
    f
}

#[cfg(test)]
mod tests;
