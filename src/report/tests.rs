//! The report's numbers against outages whose answers are known.

use super::*;

const A: &str = "A";

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn changes(id: &str, list: &[(&str, ConnState)]) -> Vec<StateChange> {
    list.iter()
        .enumerate()
        .map(|(i, (at, state))| StateChange {
            seq: i as u64 + 1,
            instance_id: InstanceId::new(id),
            at: t(at),
            state: *state,
        })
        .collect()
}

fn mins(m: i64) -> TimeDelta {
    TimeDelta::minutes(m)
}

use ConnState::{Connected as C, Disconnected as D};

/// Connected from the 1st at 00:00; down 10:00–10:30 on the 1st; down
/// 23:00 on the 1st to 01:00 on the 2nd (over midnight); down again at
/// 22:00 on the 3rd and still down at the report's end, the 4th at 06:00.
fn week() -> Report {
    let log = changes(
        A,
        &[
            ("2026-03-01T00:00:00Z", C),
            ("2026-03-01T10:00:00Z", D),
            ("2026-03-01T10:30:00Z", C),
            ("2026-03-01T23:00:00Z", D),
            // a second disconnect while down changes nothing
            ("2026-03-01T23:30:00Z", D),
            ("2026-03-02T01:00:00Z", C),
            ("2026-03-03T22:00:00Z", D),
        ],
    );
    build(
        log,
        &[(InstanceId::new(A), Some("Sales".into()))],
        t("2026-03-01T00:00:00Z"),
        t("2026-03-04T06:00:00Z"),
    )
}

#[test]
fn a_day_with_two_outages_counts_both_and_the_longest() {
    let r = week();
    let inst = &r.instances[0];
    assert_eq!(inst.name.as_deref(), Some("Sales"));
    let (d, f) = inst.days[0];
    assert_eq!(d, day("2026-03-01"));
    assert_eq!(f.disconnects, 2);
    assert_eq!(f.disconnected, mins(30 + 60));
    assert_eq!(f.connected, mins(24 * 60 - 90));
    // 1350 of 1440 minutes: 93.75 %
    assert_eq!(f.uptime(), Some(1350.0 / 1440.0));
    assert_eq!(f.reconnects, 1);
    assert_eq!(f.mean_reconnect(), Some(mins(30)));
    assert_eq!(f.longest_outage, Some(mins(60)));
    assert!(!f.outage_open);
}

#[test]
fn an_outage_over_midnight_counts_on_each_day_for_its_part() {
    let r = week();
    let (d, f) = r.instances[0].days[1];
    assert_eq!(d, day("2026-03-02"));
    // the disconnect was on the 1st, the reconnect on the 2nd
    assert_eq!(f.disconnects, 0);
    assert_eq!(f.disconnected, mins(60));
    assert_eq!(f.longest_outage, Some(mins(60)));
    assert_eq!(f.reconnects, 1);
    assert_eq!(f.mean_reconnect(), Some(mins(120)), "the whole outage");
    assert_eq!(f.uptime(), Some(1380.0 / 1440.0));
}

#[test]
fn an_outage_still_open_at_the_end_runs_to_the_end_and_is_marked() {
    let r = week();
    let days = &r.instances[0].days;
    assert_eq!(days.len(), 4);
    let (d3, f3) = days[2];
    assert_eq!(d3, day("2026-03-03"));
    assert_eq!((f3.disconnects, f3.longest_outage), (1, Some(mins(120))));
    assert!(!f3.outage_open, "it goes on the next day, not open here");
    assert_eq!(f3.mean_reconnect(), None);
    let (d4, f4) = days[3];
    assert_eq!(d4, day("2026-03-04"));
    // the 4th up to the report's end: 6 hours, all of them down
    assert_eq!(f4.disconnected, mins(6 * 60));
    assert_eq!(f4.connected, TimeDelta::zero());
    assert_eq!(f4.uptime(), Some(0.0));
    assert_eq!(f4.disconnects, 0);
    assert_eq!(f4.longest_outage, Some(mins(6 * 60)));
    assert!(f4.outage_open);
}

#[test]
fn the_total_takes_whole_outages_within_the_window() {
    let t = week().instances[0].total;
    assert_eq!(t.disconnects, 3);
    assert_eq!(t.reconnects, 2);
    assert_eq!(t.mean_reconnect(), Some(mins((30 + 120) / 2)));
    // the open outage: 22:00 on the 3rd to 06:00 on the 4th
    assert_eq!(t.longest_outage, Some(mins(8 * 60)));
    assert!(t.outage_open);
    assert_eq!(t.disconnected, mins(30 + 120 + 8 * 60));
    assert_eq!(t.known(), mins(78 * 60));
}

#[test]
fn the_window_clips_an_outage_that_began_before_it() {
    let log = changes(
        A,
        &[("2026-03-01T20:00:00Z", D), ("2026-03-02T02:00:00Z", C)],
    );
    let r = build(
        log,
        &[],
        t("2026-03-02T00:00:00Z"),
        t("2026-03-03T00:00:00Z"),
    );
    let inst = &r.instances[0];
    assert_eq!(inst.name, None, "an instance of the log not in the config");
    assert_eq!(inst.days.len(), 1);
    let f = inst.total;
    assert_eq!(f.disconnects, 0, "the disconnect was before the window");
    assert_eq!(f.longest_outage, Some(mins(120)));
    assert_eq!(f.mean_reconnect(), Some(mins(6 * 60)));
}

#[test]
fn before_the_first_change_time_is_unknown_and_counts_neither_way() {
    let log = changes(A, &[("2026-03-01T12:00:00Z", D)]);
    let r = build(
        log,
        &[],
        t("2026-03-01T00:00:00Z"),
        t("2026-03-01T18:00:00Z"),
    );
    let f = r.instances[0].total;
    assert_eq!(f.known(), mins(6 * 60));
    assert_eq!(f.uptime(), Some(0.0));
    assert_eq!(f.disconnects, 1, "the first change, into disconnected");
}

#[test]
fn an_instance_without_changes_has_no_numbers() {
    let r = build(
        Vec::new(),
        &[(InstanceId::new("quiet"), None)],
        t("2026-03-01T00:00:00Z"),
        t("2026-03-02T00:00:00Z"),
    );
    let inst = &r.instances[0];
    assert!(!inst.has_changes);
    assert_eq!(inst.total.uptime(), None);
    assert_eq!(inst.total.longest_outage, None);
    assert_eq!(inst.total.mean_reconnect(), None);
}

#[test]
fn down_and_up_in_the_same_instant_is_a_zero_length_outage() {
    let log = changes(
        A,
        &[
            ("2026-03-01T00:00:00Z", C),
            ("2026-03-01T06:00:00Z", D),
            ("2026-03-01T06:00:00Z", C),
        ],
    );
    let r = build(
        log,
        &[],
        t("2026-03-01T00:00:00Z"),
        t("2026-03-02T00:00:00Z"),
    );
    let f = r.instances[0].total;
    assert_eq!((f.disconnects, f.reconnects), (1, 1));
    assert_eq!(f.longest_outage, Some(TimeDelta::zero()));
    assert_eq!(f.uptime(), Some(1.0));
}

#[test]
fn changes_after_the_end_and_out_of_order_are_handled() {
    let mut log = changes(
        A,
        &[
            ("2026-03-01T12:00:00Z", C),
            ("2026-03-01T06:00:00Z", D),
            ("2026-03-05T00:00:00Z", D),
        ],
    );
    log.reverse();
    let r = build(
        log,
        &[],
        t("2026-03-01T00:00:00Z"),
        t("2026-03-02T00:00:00Z"),
    );
    let f = r.instances[0].total;
    assert_eq!(f.disconnected, mins(6 * 60));
    assert_eq!(f.connected, mins(12 * 60));
    assert_eq!(f.mean_reconnect(), Some(mins(6 * 60)));
    assert!(!f.outage_open);
}

#[test]
fn days_cover_the_window_in_utc_and_skip_an_empty_last_day() {
    let d = days(t("2026-03-01T18:00:00Z"), t("2026-03-03T00:00:00Z"));
    assert_eq!(
        d,
        vec![
            (
                day("2026-03-01"),
                t("2026-03-01T18:00:00Z"),
                t("2026-03-02T00:00:00Z")
            ),
            (
                day("2026-03-02"),
                t("2026-03-02T00:00:00Z"),
                t("2026-03-03T00:00:00Z")
            ),
        ]
    );
    assert!(days(t("2026-03-01T00:00:00Z"), t("2026-03-01T00:00:00Z")).is_empty());
}

#[test]
fn since_takes_days_hours_and_minutes_and_says_what_it_takes() {
    assert_eq!(parse_since("7d"), Ok(TimeDelta::days(7)));
    assert_eq!(parse_since("24h"), Ok(TimeDelta::hours(24)));
    assert_eq!(parse_since("30m"), Ok(TimeDelta::minutes(30)));
    for bad in [
        "7",
        "7x",
        "d",
        "-7d",
        "+7d",
        "7.5d",
        "7 d",
        "",
        "0d",
        "99999999999999d",
        "3651d",
    ] {
        let err = parse_since(bad).unwrap_err();
        assert!(
            err.contains("7d, 24h or 30m") || err.contains("at most 3650d"),
            "{bad}: {err}"
        );
    }
}
