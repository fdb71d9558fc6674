//! Webhook events and /status answers folding into rows: state, history, dates.

use super::*;
use crate::fleet::Source;

#[test]
fn disconnect_webhook_sets_row() {
    let mut a = app(2);
    assert!(
        a.update(down("I1", 10, "Device has been disconnected"), t(11))
            .is_empty()
    );
    let i = inst(&a, "I1");
    assert_eq!(i.state, ConnState::Disconnected);
    assert_eq!(
        i.last_error.as_deref(),
        Some("Device has been disconnected")
    );
    assert_eq!(i.last_change, Some(t(10)));
    assert_eq!(i.source, Some(Source::Webhook));
    assert_eq!(a.counts(), (0, 1, 1));
    assert_eq!(inst(&a, "I0").state, ConnState::Unknown);
}

#[test]
fn connect_after_disconnect_changes_state_and_keeps_last_error() {
    let mut a = app(1);
    a.update(down("I0", 10, "boom"), t(10));
    a.update(up("I0", 20), t(20));
    let i = inst(&a, "I0");
    assert_eq!(i.state, ConnState::Connected);
    assert_eq!(i.last_change, Some(t(20)));
    assert_eq!(i.last_error.as_deref(), Some("boom"));
    assert_eq!(i.phone.as_deref(), Some("5544999999999"));
}

#[test]
fn late_older_event_goes_to_history_but_not_state() {
    let mut a = app(1);
    a.update(up("I0", 20), t(21));
    a.update(down("I0", 10, "old news"), t(22));
    let i = inst(&a, "I0");
    assert_eq!(i.state, ConnState::Connected);
    assert_eq!(i.last_change, Some(t(20)));
    assert_eq!(i.last_error, None);
    let moments: Vec<_> = i.history.iter().map(|e| e.moment).collect();
    assert_eq!(moments, vec![t(10), t(20)], "history is ordered by moment");
}

#[test]
fn same_state_again_keeps_change_time_but_updates_error() {
    let mut a = app(1);
    a.update(down("I0", 10, "first"), t(10));
    a.update(down("I0", 30, "second"), t(30));
    let i = inst(&a, "I0");
    assert_eq!(i.last_change, Some(t(10)));
    assert_eq!(i.last_error.as_deref(), Some("second"));
}

#[test]
fn activity_counts_as_life_but_not_state() {
    let mut a = app(1);
    a.update(
        ev(
            "I0",
            EventKind::Activity {
                callback: "ReceivedCallback".into(),
            },
            5,
            6,
        ),
        t(6),
    );
    let i = inst(&a, "I0");
    assert_eq!(i.state, ConnState::Unknown);
    assert_eq!(i.last_activity, Some(t(6)));
    assert_eq!(i.history.len(), 1);
    assert_eq!(a.fleet.events, 1);
}

#[test]
fn unknown_instance_appears_unconfigured_and_cannot_be_registered() {
    let mut a = app(1);
    a.update(down("STRANGER", 10, "x"), t(10));
    assert_eq!(a.fleet.instances.len(), 2);
    let i = inst(&a, "STRANGER");
    assert!(!i.configured);
    assert_eq!(i.label(), "STRANGER");
    // down, so sorted first
    a.update(key(KeyCode::Home), t(11));
    assert_eq!(a.selected_instance().unwrap().id.as_str(), "STRANGER");
    assert!(a.update(key(KeyCode::Char('r')), t(12)).is_empty());
    assert!(
        a.ops
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("not configured")
    );
    // R only asks for configured instances
    assert_eq!(
        a.update(key(KeyCode::Char('R')), t(13)),
        vec![Command::Register(InstanceId::new("I0"))]
    );
}

#[test]
fn status_answer_is_applied_when_it_arrives() {
    let mut a = app(1);
    let cmds = a.init();
    assert_eq!(cmds, vec![Command::FetchStatus(InstanceId::new("I0"))]);
    assert_eq!(inst(&a, "I0").status, StatusCheck::Pending);
    let status = Status {
        connected: false,
        error: Some("You need to restore the session.".into()),
        smartphone_connected: Some(true),
    };
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I0"),
            result: Ok(status.clone()),
        },
        t(5),
    );
    let i = inst(&a, "I0");
    assert_eq!(i.state, ConnState::Disconnected);
    assert_eq!(i.source, Some(Source::Status));
    assert_eq!(
        i.last_error.as_deref(),
        Some("You need to restore the session.")
    );
    assert_eq!(
        i.last_change, None,
        "the first status answer does not invent a change time"
    );
    assert_eq!(i.status, StatusCheck::Ok { at: t(5), status });
    assert_eq!(a.ops.status_batch, None);
    assert_eq!(a.ops.background.as_ref().unwrap().level, Level::Ok);

    // a later answer that differs is a change we saw happen
    let ok = Status {
        connected: true,
        error: None,
        smartphone_connected: Some(true),
    };
    a.update(key(KeyCode::Char('s')), t(6));
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I0"),
            result: Ok(ok),
        },
        t(9),
    );
    assert_eq!(inst(&a, "I0").state, ConnState::Connected);
    assert_eq!(inst(&a, "I0").last_change, Some(t(9)));

    // and a webhook says otherwise afterwards
    a.update(down("I0", 12, "Device has been disconnected"), t(12));
    assert_eq!(inst(&a, "I0").state, ConnState::Disconnected);
    assert_eq!(inst(&a, "I0").source, Some(Source::Webhook));
}

#[test]
fn history_keeps_the_newest_exactly_and_counts_follow_states() {
    let mut a = app(3);
    for s in 10..(10 + HISTORY_LEN as i64) {
        a.update(down("I0", s, "x"), t(s));
    }
    // older than every event kept: stays in the log only
    a.update(up("I0", 1), t(100));
    let i = inst(&a, "I0");
    assert_eq!(i.history.len(), HISTORY_LEN);
    assert_eq!(i.history.capacity(), HISTORY_LEN, "allocated once, exactly");
    assert_eq!(i.history.front().unwrap().moment, t(10));
    // a late one inside the window pushes out the oldest
    a.update(up("I0", 11), t(101));
    let moments: Vec<_> = inst(&a, "I0").history.iter().map(|e| e.moment).collect();
    assert_eq!(moments.len(), HISTORY_LEN);
    assert_eq!(&moments[..2], &[t(11), t(11)]);
    assert!(moments.is_sorted());

    assert_eq!(a.counts(), (0, 1, 2));
    a.update(up("I1", 5), t(102));
    a.update(down("STRANGER", 5, "x"), t(102));
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I2"),
            result: Ok(Status {
                connected: false,
                error: None,
                smartphone_connected: None,
            }),
        },
        t(103),
    );
    assert_eq!(a.counts(), (1, 3, 0));
    let mut row = inst(&a, "I1").clone();
    row.state = ConnState::Disconnected;
    a.update(Msg::Row(Box::new(row)), t(104));
    assert_eq!(a.counts(), (0, 4, 0));
    a.update(Msg::Snapshot(a.snapshot(0)), t(105));
    assert_eq!(a.counts(), (0, 4, 0));
}

#[test]
fn results_for_unknown_ids_are_ignored() {
    let mut a = app(1);
    a.update(
        Msg::RegisterResult {
            id: InstanceId::new("nope"),
            result: Ok(()),
        },
        t(0),
    );
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("nope"),
            result: Err(http_err(500, "x")),
        },
        t(0),
    );
    assert_eq!(a.fleet.instances.len(), 1);
}

fn status_result(id: &str, connected: bool, error: Option<&str>) -> Msg {
    Msg::StatusResult {
        id: InstanceId::new(id),
        result: Ok(status(connected, error)),
    }
}

#[test]
fn already_connected_from_status_is_not_the_last_error() {
    let mut a = app(1);
    a.init();
    // Z-API's answer for a healthy instance carries an `error`
    a.update(
        status_result("I0", true, Some("You are already connected.")),
        t(1),
    );
    assert_eq!(inst(&a, "I0").state, ConnState::Connected);
    assert_eq!(inst(&a, "I0").last_error, None, "at start");
    a.update(down("I0", 10, "Device has been disconnected"), t(10));
    a.update(up("I0", 20), t(20));
    for at in [30, 40] {
        a.update(key(KeyCode::Char('s')), t(at));
        a.update(
            status_result("I0", true, Some("You are already connected.")),
            t(at + 1),
        );
        assert_eq!(
            inst(&a, "I0").last_error.as_deref(),
            Some("Device has been disconnected"),
            "the disconnect's reason survives every poll"
        );
    }
    // a real error (connected: false) is still stored
    a.update(key(KeyCode::Char('s')), t(50));
    a.update(
        status_result("I0", false, Some("You need to restore the session.")),
        t(51),
    );
    assert_eq!(
        inst(&a, "I0").last_error.as_deref(),
        Some("You need to restore the session.")
    );
}

#[test]
fn a_webhook_dates_a_state_status_only_knew_undated() {
    for connected in [false, true] {
        let mut a = app(1);
        a.init();
        a.update(status_result("I0", connected, None), t(120));
        assert_eq!(inst(&a, "I0").last_change, None, "undated at first");
        let hook = if connected {
            up("I0", 0)
        } else {
            down("I0", 0, "boom")
        };
        // received two minutes after its moment
        let Msg::Webhook(mut event) = hook else {
            unreachable!()
        };
        event.received = t(121);
        a.update(Msg::Webhook(event), t(121));
        let i = inst(&a, "I0");
        assert_eq!(i.last_change, Some(t(0)), "the webhook's moment dates it");
        let state = i.state;
        // once dated, later webhooks of the same state do not move it
        let later = if connected {
            up("I0", 60)
        } else {
            down("I0", 60, "again")
        };
        a.update(later, t(130));
        assert_eq!(inst(&a, "I0").last_change, Some(t(0)));
        // the statistics and the outage start follow
        let i = inst(&a, "I0");
        let expected = if connected { 1.0 } else { 0.0 };
        assert_eq!(i.transitions.uptime(t(0), t(130)), Some(expected));
        if !connected {
            assert_eq!(health::down_since(i), Some(t(0)));
            assert_eq!(i.transitions.disconnects(t(0), t(130)), 1);
            assert_eq!(
                a.fleet
                    .disconnects_per_minute
                    .series(t(130))
                    .iter()
                    .sum::<u64>(),
                1
            );
        }
        assert_eq!(state, inst(&a, "I0").state);
    }
}

#[test]
fn a_status_change_is_dated_by_the_webhook_that_follows() {
    let mut a = app(1);
    a.init();
    a.update(up("I0", 0), t(0));
    // a poll finds it down: the change time is only when we asked
    a.update(key(KeyCode::Char('s')), t(100));
    a.update(
        status_result("I0", false, Some("You are not connected.")),
        t(100),
    );
    assert_eq!(inst(&a, "I0").last_change, Some(t(100)));
    // its disconnect webhook arrives late, with Z-API's moment
    a.update(down("I0", 90, "Device has been disconnected"), t(101));
    assert_eq!(inst(&a, "I0").last_change, Some(t(90)));
    a.update(down("I0", 95, "again"), t(102));
    assert_eq!(inst(&a, "I0").last_change, Some(t(90)));
}

/// A tick draws a frame only when something on screen reads the clock: a
/// fleet of connected rows with no ages, no fresh notice and no overlay
/// costs no frame a second (the idle CPU of 10,000 discovered instances).
#[test]
fn a_tick_draws_only_when_something_on_screen_reads_the_clock() {
    let mut a = app(3);
    a.update(Msg::Resize(120, 30), t(0));
    for i in 0..3 {
        a.update(
            Msg::StatusResult {
                id: InstanceId::new(format!("I{i}")),
                result: Ok(Status {
                    connected: true,
                    error: None,
                    smartphone_connected: None,
                }),
            },
            t(1),
        );
        a.take_quiet();
    }
    a.update(Msg::Tick, t(2));
    assert!(
        !a.take_quiet(),
        "the uptime: — when drawn, 100% a second later"
    );
    a.update(Msg::Tick, t(3));
    assert!(a.take_quiet(), "connected rows without ages: no frame");
    // the operator's own notice gives way to a newer background one after
    // 20 s: only the tick that switches the footer draws
    a.update(ch('b'), t(4));
    assert!(!a.take_quiet());
    a.update(Msg::Problem("alert command failed".into()), t(5));
    assert!(!a.take_quiet());
    a.update(Msg::Tick, t(6));
    assert!(a.take_quiet(), "the footer reads the same");
    a.update(Msg::Tick, t(24));
    assert!(!a.take_quiet(), "the background notice takes the footer");
    a.update(Msg::Tick, t(25));
    assert!(a.take_quiet());
    a.update(Msg::Tick, t(40));
    assert!(a.take_quiet(), "the notice is old");
    // an overlay shows ages and countdowns
    a.update(key(KeyCode::Enter), t(41));
    a.update(Msg::Tick, t(42));
    assert!(!a.take_quiet(), "the detail pane");
    a.update(key(KeyCode::Esc), t(43));
    a.update(Msg::Tick, t(44));
    assert!(a.take_quiet());
    a.update(Msg::Tick, t(60));
    assert!(!a.take_quiet(), "a new minute moves the sparkline");
    a.update(Msg::Tick, t(61));
    assert!(a.take_quiet());
    // a row that shows an age ("3s ago") changes every second
    a.update(up("I1", 62), t(62));
    a.take_quiet();
    a.update(Msg::Tick, t(63));
    assert!(!a.take_quiet(), "an age on screen");
    // "5m ago" reads the same for a minute: only the tick that turns it draws
    a.update(Msg::Tick, t(362));
    assert!(!a.take_quiet());
    a.update(Msg::Tick, t(363));
    assert!(a.take_quiet(), "still 5m ago");
    a.update(Msg::Tick, t(421));
    assert!(!a.take_quiet(), "a new minute");
    a.update(Msg::Tick, t(422));
    assert!(!a.take_quiet(), "5m ago became 6m ago");
    a.update(Msg::Tick, t(423));
    assert!(a.take_quiet());
}
