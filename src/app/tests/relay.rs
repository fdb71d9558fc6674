//! The relay on the screen: F, Enter, t, d then y; the header's warning.

use super::*;
use crate::app::relay::{RelayAnswer, RelayCall};
use crate::relay::{DeadLetter, InstanceResult, TargetStatus};

fn status(name: &str, lag: u64, dead: usize) -> TargetStatus {
    TargetStatus {
        name: name.into(),
        url: format!("https://{name}.example.com/zapi"),
        lag_events: lag,
        dead_letters: dead,
        ..TargetStatus::default()
    }
}

fn with_relay(targets: Vec<TargetStatus>) -> App {
    let mut app = app(2);
    app.update(Msg::Relay(targets), t(1));
    app
}

#[test]
fn f_opens_the_list_enter_reads_t_retries_and_d_needs_y() {
    let mut app = with_relay(vec![status("bot", 0, 0), status("crm", 3, 2)]);
    assert!(app.update(key(KeyCode::Char('F')), t(2)).is_empty());
    assert!(app.overlays.relay.is_some());
    app.update(key(KeyCode::Down), t(2));
    assert_eq!(
        app.update(key(KeyCode::Enter), t(2)),
        vec![Command::Relay(RelayCall::DeadLetters("crm".into()))]
    );
    let letter = DeadLetter {
        seq: 9,
        instance_id: InstanceId::new("I1"),
        webhook_id: "msg_zd9_0".into(),
        received: t(0),
        at: t(1),
        error: "HTTP 500: boom".into(),
    };
    app.update(
        Msg::RelayDone {
            call: RelayCall::DeadLetters("crm".into()),
            result: Ok(RelayAnswer::Letters(vec![letter.clone()])),
        },
        t(2),
    );
    assert_eq!(
        app.overlays.relay.as_ref().and_then(|l| l.dead.clone()),
        Some(Ok(vec![letter]))
    );
    assert_eq!(
        app.update(key(KeyCode::Char('t')), t(3)),
        vec![Command::Relay(RelayCall::Retry("crm".into()))]
    );
    // d asks; anything but y keeps them, and nothing is sent
    assert!(app.update(key(KeyCode::Char('d')), t(3)).is_empty());
    assert!(app.update(key(KeyCode::Char('n')), t(3)).is_empty());
    assert!(
        app.ops
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("stay"))
    );
    app.update(key(KeyCode::Char('d')), t(3));
    assert_eq!(
        app.update(key(KeyCode::Char('y')), t(3)),
        vec![Command::Relay(RelayCall::Drop("crm".into()))]
    );
    app.update(
        Msg::RelayDone {
            call: RelayCall::Drop("crm".into()),
            result: Ok(RelayAnswer::Count(2)),
        },
        t(4),
    );
    assert!(
        app.ops
            .notice
            .as_ref()
            .is_some_and(|n| n.text == "crm: 2 dead letters dropped")
    );
    // Esc closes the dead letters, then the list
    app.update(key(KeyCode::Esc), t(5));
    assert!(
        app.overlays
            .relay
            .as_ref()
            .is_some_and(|l| l.dead.is_none())
    );
    app.update(key(KeyCode::Esc), t(5));
    assert!(app.overlays.relay.is_none());
}

#[test]
fn f_without_targets_says_how_to_add_one() {
    let mut app = app(1);
    app.update(key(KeyCode::Char('F')), t(1));
    assert!(app.overlays.relay.is_none());
    assert!(
        app.ops
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("[[forward]]"))
    );
}

#[test]
fn the_header_warns_past_the_lag_limits_or_with_dead_letters() {
    assert!(!with_relay(vec![status("bot", 10_000, 0)]).relay_warns());
    assert!(with_relay(vec![status("bot", 10_001, 0)]).relay_warns());
    assert!(with_relay(vec![status("bot", 0, 1)]).relay_warns());
    let mut old = status("bot", 5, 0);
    old.oldest_pending = Some(t(1) - chrono::TimeDelta::seconds(3601));
    assert!(with_relay(vec![old]).relay_warns());
}

#[test]
fn the_detail_knows_where_an_instance_is_forwarded() {
    let mut bot = status("bot", 0, 0);
    bot.instances.insert(
        "I0".into(),
        InstanceResult {
            ok: true,
            at: t(0),
            error: None,
        },
    );
    let mut only_i9 = status("crm", 0, 0);
    only_i9.instance_filter = vec!["I9".into()];
    let app = with_relay(vec![bot, only_i9]);
    let names: Vec<&str> = app
        .forwarding_of(&InstanceId::new("I0"))
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, vec!["bot"]);
}

#[test]
fn u_then_y_in_the_detail_removes_the_instances_adopted_targets() {
    let mut adopted = status("adopted-0a1b2c3d", 0, 0);
    adopted.adopted = true;
    adopted.instance_filter = vec!["I0".into()];
    let mut app = with_relay(vec![status("bot", 0, 0), adopted]);
    app.overlays.detail = Some(crate::app::Detail {
        id: InstanceId::new("I0"),
        scroll: 0,
        history: crate::app::DetailHistory::Loading,
        history_rows: std::cell::Cell::new(0),
        device: Default::default(),
    });
    // u asks first; n keeps it, nothing is sent
    assert!(app.update(key(KeyCode::Char('u')), t(2)).is_empty());
    let (id, targets) = app.overlays.unadopt.clone().expect("u's question");
    assert_eq!(id, InstanceId::new("I0"));
    assert_eq!(targets.len(), 1, "only the adopted target: {targets:?}");
    assert!(
        app.update(key(KeyCode::Char('x')), t(2)).is_empty(),
        "another key waits"
    );
    assert!(app.overlays.unadopt.is_some());
    assert!(app.update(key(KeyCode::Char('n')), t(2)).is_empty());
    assert!(app.overlays.unadopt.is_none());
    assert!(
        app.ops
            .notice
            .as_ref()
            .is_some_and(|n| n.text.starts_with("cancelled: still forwarded")),
        "{:?}",
        app.ops.notice
    );
    app.update(key(KeyCode::Char('u')), t(2));
    assert_eq!(
        app.update(key(KeyCode::Char('y')), t(2)),
        vec![Command::Relay(RelayCall::Unadopt(InstanceId::new("I0")))]
    );
    app.update(
        Msg::RelayDone {
            call: RelayCall::Unadopt(InstanceId::new("I0")),
            result: Ok(RelayAnswer::Removed(vec!["adopted-0a1b2c3d".into()])),
        },
        t(3),
    );
    assert_eq!(app.ops.relay.len(), 1, "the configured target stays");
    assert!(
        app.ops
            .notice
            .as_ref()
            .is_some_and(|n| n.text.contains("no longer forwarded"))
    );
    // nothing adopted left: u says so and sends nothing
    assert!(app.update(key(KeyCode::Char('u')), t(4)).is_empty());
}
