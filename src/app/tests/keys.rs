//! Issue #13's keys: `A` / `U` marks, held order, `Esc` never quits, `Y`
//! copies the id, `a` acknowledges a known-dead number.

use super::*;

fn ms(secs: i64, millis: i64) -> DateTime<Utc> {
    t(secs) + chrono::Duration::milliseconds(millis)
}

#[test]
fn big_a_marks_every_row_shown_and_big_u_clears() {
    let mut a = app(12);
    a.update(ch('/'), t(1));
    for c in "name 1".chars() {
        a.update(ch(c), t(1));
    }
    a.update(key(KeyCode::Enter), t(1));
    assert_eq!(a.view.order.len(), 3); // Name 1, Name 10, Name 11
    assert!(a.update(ch('A'), t(2)).is_empty());
    let mut marked: Vec<&str> = a.view.marked.iter().map(|id| id.as_str()).collect();
    marked.sort_unstable();
    assert_eq!(marked, ["I1", "I10", "I11"], "only the rows shown");
    assert!(
        a.ops
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("marked 3 instances")
    );
    // x then acts on exactly those
    a.update(ch('x'), t(3));
    assert_eq!(a.overlays.confirm.as_ref().unwrap().targets.len(), 3);
    a.update(ch('n'), t(3));
    a.update(ch('U'), t(4));
    assert!(a.view.marked.is_empty());
    assert!(
        a.ops.notice.as_ref().unwrap().text.contains("3 instances"),
        "{:?}",
        a.ops.notice
    );
}

#[test]
fn esc_clears_the_filter_then_the_marks_and_never_quits() {
    let mut a = app(4);
    a.update(ch(' '), t(0)); // I0 marked
    a.update(ch('f'), t(0)); // only down: none
    a.update(ch('/'), t(0));
    a.update(ch('x'), t(0));
    a.update(key(KeyCode::Enter), t(0));
    assert!(a.view.order.is_empty());
    // 1: the filter (search and state filter both)
    assert!(a.update(key(KeyCode::Esc), t(1)).is_empty());
    assert!(a.view.search.is_empty());
    assert_eq!(a.view.state_filter, StateFilter::All);
    assert_eq!(a.view.order.len(), 4);
    assert_eq!(a.view.marked.len(), 1, "the marks stay");
    // 2: the marks
    assert!(a.update(key(KeyCode::Esc), t(2)).is_empty());
    assert!(a.view.marked.is_empty());
    // 3: nothing, however often
    for s in 3..6 {
        assert!(
            a.update(key(KeyCode::Esc), t(s)).is_empty(),
            "Esc never quits"
        );
    }
    // q quits; ctrl-c quits at once, from anywhere (the filter prompt too)
    assert_eq!(a.clone().update(ch('q'), t(7)), vec![Command::Quit]);
    a.update(ch('/'), t(8));
    assert_eq!(a.update(ctrl('c'), t(8)), vec![Command::Quit]);
}

#[test]
fn rows_do_not_resort_while_the_operator_moves_and_do_on_the_pause() {
    let mut a = app(3);
    a.update(Msg::Tick, t(0));
    assert_eq!(labels(&a), ["I0", "I1", "I2"]);
    // the operator moves down to I1
    a.update(ch('j'), ms(10, 0));
    assert_eq!(a.selected_instance().unwrap().id.as_str(), "I1");
    // I2 goes down: problems first would put it on top
    a.update(down("I2", 10, "x"), ms(10, 500));
    a.prepare();
    assert_eq!(labels(&a), ["I0", "I1", "I2"], "held under the cursor");
    assert!(a.view.held, "the title says so");
    assert_eq!(a.view.problems, 1, "the count does not wait");
    // still moving: a tick within 2 s of the last key keeps it
    a.update(ch('k'), ms(11, 0));
    a.update(Msg::Tick, ms(12, 900));
    assert_eq!(labels(&a), ["I0", "I1", "I2"]);
    assert!(a.view.held);
    // the pause: the first tick 2 s after the last key applies it
    a.update(Msg::Tick, ms(13, 0));
    assert_eq!(labels(&a), ["I2", "I0", "I1"]);
    assert!(!a.view.held);
    assert_eq!(
        a.selected_instance().unwrap().id.as_str(),
        "I0",
        "the selection stays on its instance"
    );
    // what the operator asks for (sort, filter) is never held
    a.update(down("I1", 14, "x"), ms(14, 0));
    a.update(ch('o'), ms(14, 100));
    assert_eq!(a.view.sort, SortKey::Name);
    assert_eq!(labels(&a), ["I0", "I1", "I2"]);
    assert!(!a.view.held);
}

#[test]
fn big_y_copies_the_selected_id_through_the_terminal() {
    let mut a = app(2);
    a.update(ch('j'), t(0));
    assert_eq!(
        a.update(ch('Y'), t(1)),
        vec![Command::Clipboard("I1".into())]
    );
    let n = a.ops.notice.clone().unwrap();
    assert!(n.text.starts_with("copied id I1"), "{}", n.text);
    // in the detail: the detail's instance
    a.update(key(KeyCode::Enter), t(2));
    a.update(key(KeyCode::Home), t(2)); // scrolls the history, not the table
    assert_eq!(
        a.update(ch('Y'), t(3)),
        vec![Command::Clipboard("I1".into())]
    );
    // nothing to copy without rows
    let mut empty = App::new(setup(0, None), t(0));
    assert!(empty.update(ch('Y'), t(1)).is_empty());
}

#[test]
fn a_acks_a_dead_number_until_it_changes_state() {
    let mut a = app(2);
    a.init();
    // a on a row that is not down does nothing but say why
    assert!(a.update(ch('a'), t(1)).is_empty());
    assert!(a.ops.notice.as_ref().unwrap().text.contains("not down"));
    // I1 goes down; acked before its outage is due
    a.update(down("I1", 10, "Device has been disconnected"), t(10));
    a.update(Msg::Tick, t(11));
    a.update(key(KeyCode::Home), t(12));
    assert_eq!(a.selected_instance().unwrap().id.as_str(), "I1");
    assert_eq!(
        a.update(ch('a'), t(20)),
        vec![Command::RecordAck {
            id: InstanceId::new("I1"),
            acked: true,
            at: t(20)
        }]
    );
    assert!(health::acked(inst(&a, "I1")));
    // its outage never rings, and it is not a problem
    assert!(!a.update(Msg::Tick, t(100)).contains(&Command::Bell));
    assert_eq!(a.view.problems, 0, "out of the problems count");
    // a again un-acks: a problem again, and the outage rings now
    assert_eq!(
        a.update(ch('a'), t(101)),
        vec![Command::RecordAck {
            id: InstanceId::new("I1"),
            acked: false,
            at: t(101)
        }]
    );
    assert!(a.update(Msg::Tick, t(102)).contains(&Command::Bell));
    assert_eq!(a.view.problems, 1);
    a.update(ch('a'), t(103));
    // a /status answer saying it is still down changes nothing
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I1"),
            result: Ok(status(false, Some("You are not connected."))),
        },
        t(104),
    );
    assert!(health::acked(inst(&a, "I1")));
    // a disconnect dated after the ack is a new one: the ack is over
    a.update(down("I1", 200, "x"), t(200));
    assert!(!health::acked(inst(&a, "I1")));
    // as is a reconnect
    a.update(ch('a'), t(201));
    assert!(health::acked(inst(&a, "I1")));
    a.update(up("I1", 300), t(300));
    assert!(inst(&a, "I1").acked.is_none());
}

#[test]
fn an_ack_read_back_from_the_log_is_applied_and_a_connected_row_refuses_it() {
    let mut a = app(2);
    a.update(down("I0", 10, "x"), t(10));
    a.update(
        Msg::Acked {
            id: InstanceId::new("I0"),
            acked: true,
            at: t(11),
        },
        t(12),
    );
    assert!(health::acked(inst(&a, "I0")));
    a.update(Msg::Tick, t(100));
    assert_eq!(a.view.problems, 0);
    a.update(up("I1", 10), t(10));
    a.update(
        Msg::Acked {
            id: InstanceId::new("I1"),
            acked: true,
            at: t(11),
        },
        t(101),
    );
    assert!(
        inst(&a, "I1").acked.is_none(),
        "only a down row can be acked"
    );
}

#[test]
fn the_detail_scrolls_back_from_its_last_page_without_dead_keys() {
    let mut a = app(1);
    a.update(key(KeyCode::Enter), t(1));
    let events = (0..31)
        .map(|m| Event {
            instance_id: InstanceId::new("I0"),
            kind: EventKind::Connected { phone: None },
            moment: t(m),
            received: t(m),
        })
        .collect();
    a.update(
        Msg::History {
            id: InstanceId::new("I0"),
            result: Ok(events),
        },
        t(2),
    );
    // the view had room for 10 history lines: End shows 22–31
    a.overlays.detail.as_ref().unwrap().history_rows.set(10);
    a.update(ch('G'), t(3));
    assert_eq!(a.overlays.detail.as_ref().unwrap().scroll, 21);
    a.update(ch('k'), t(3));
    assert_eq!(
        a.overlays.detail.as_ref().unwrap().scroll,
        20,
        "moves at once"
    );
    a.update(key(KeyCode::PageUp), t(3));
    assert_eq!(a.overlays.detail.as_ref().unwrap().scroll, 10);
    a.update(key(KeyCode::PageDown), t(3));
    a.update(key(KeyCode::PageDown), t(3));
    assert_eq!(
        a.overlays.detail.as_ref().unwrap().scroll,
        21,
        "never past the last page"
    );
}
