//! Accounts discovered through the partner listing, on the screen's side:
//! rows added and marked, failures kept apart from the rows, no
//! per-instance `/status` for listed accounts, `s` listing again.

use super::*;
use crate::fleet::{ListedInstance, ListingMark};

fn listed(id: &str, connected: bool) -> ListedInstance {
    ListedInstance {
        id: InstanceId::new(id),
        name: Some(format!("Z {id}")),
        due: None,
        payment_status: None,
        connected: Some(connected),
        phone_connected: Some(connected),
        hooks: None,
    }
}

fn discovered(account: &str, listed: Vec<ListedInstance>) -> Msg {
    Msg::Discovered {
        account: account.into(),
        result: Ok(listed),
    }
}

/// An app with no configured instance and two accounts that discover.
fn two_accounts() -> App {
    let mut a = App::new(setup(0, None), t(0));
    a.fleet
        .set_accounts(&[("A".into(), true), ("B".into(), true)], &[]);
    a.configure(Settings {
        poll_interval: std::time::Duration::from_secs(60),
        ..Settings::default()
    });
    a.init();
    a
}

#[test]
fn listings_fill_the_table_and_say_what_came_and_went() {
    let mut a = two_accounts();
    a.update(
        discovered("A", vec![listed("A1", true), listed("A2", false)]),
        t(1),
    );
    a.update(discovered("B", vec![listed("B1", true)]), t(1));
    a.refresh_view();
    assert_eq!(a.view.order.len(), 3);
    assert_eq!(a.counts(), (2, 1, 0));
    assert_eq!(inst(&a, "A2").account.as_deref(), Some("A"));
    let footer = &a.ops.background.as_ref().unwrap().text;
    assert_eq!(footer, "B: 1 instance discovered");
    // A2 left the account, A3 joined
    a.update(
        discovered("A", vec![listed("A1", true), listed("A3", true)]),
        t(2),
    );
    a.refresh_view();
    assert_eq!(a.view.order.len(), 4, "the removed row stays");
    let mark = |a: &App, id: &str| inst(a, id).listing.as_ref().and_then(|l| l.mark);
    assert_eq!(mark(&a, "A2"), Some(ListingMark::Removed));
    assert_eq!(mark(&a, "A3"), Some(ListingMark::New));
    assert_eq!(
        a.ops.background.as_ref().unwrap().text,
        "A: 1 instance new, 1 instance removed from account"
    );
}

#[test]
fn a_failed_listing_keeps_the_rows_and_says_so() {
    let mut a = two_accounts();
    a.update(discovered("A", vec![listed("A1", false)]), t(1));
    a.update(
        Msg::Discovered {
            account: "A".into(),
            result: Err("HTTP 401: Unauthorized (check partner_token)".into()),
        },
        t(2),
    );
    a.refresh_view();
    assert_eq!(a.view.order.len(), 1);
    assert_eq!(a.counts(), (0, 1, 0));
    let notice = a.ops.background.as_ref().unwrap();
    assert_eq!(notice.level, Level::Error);
    assert_eq!(
        notice.text,
        "discovery failed for A: HTTP 401: Unauthorized (check partner_token)"
    );
    assert_eq!(a.fleet.discovery_failures().count(), 1);
}

#[test]
fn listed_instances_are_never_polled_and_s_lists_again() {
    let mut a = two_accounts();
    a.update(discovered("A", vec![listed("A1", true)]), t(1));
    // a whole poll interval: no `/status` of a listed instance
    for s in 2..130 {
        let cmds = a.update(Msg::Tick, t(s));
        assert!(
            !cmds
                .iter()
                .any(|c| matches!(c, Command::FetchStatus(_) | Command::FetchHooks(_))),
            "{cmds:?}"
        );
    }
    let cmds = a.update(key(KeyCode::Char('s')), t(131));
    assert_eq!(cmds, [Command::Discover]);
}

#[test]
fn configured_instances_of_the_implicit_account_are_still_polled_beside_listed_ones() {
    let mut a = App::new(setup(1, None), t(0));
    a.fleet.set_accounts(&[("A".into(), true)], &[]);
    a.configure(Settings::default());
    let cmds = a.init();
    assert_eq!(cmds, [Command::FetchStatus(InstanceId::new("I0"))]);
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I0"),
            result: Ok(Status {
                connected: true,
                error: None,
                smartphone_connected: None,
            }),
        },
        t(1),
    );
    a.update(discovered("A", vec![listed("A1", true)]), t(1));
    let cmds = a.update(key(KeyCode::Char('s')), t(2));
    assert_eq!(
        cmds,
        [
            Command::FetchStatus(InstanceId::new("I0")),
            Command::Discover
        ]
    );
}

#[test]
fn a_tick_sorts_again_only_when_the_clock_can_move_a_rank() {
    let mut a = two_accounts();
    a.update(
        discovered("A", vec![listed("A1", true), listed("A2", true)]),
        t(1),
    );
    a.update(Msg::Tick, t(2));
    // all up, problems first, no silence rule: nothing for the clock to move
    assert!(!a.ranks_move_with_time());
    a.view.sort = SortKey::Disconnects;
    assert!(a.ranks_move_with_time(), "the 24 h window slides");
    a.view.sort = SortKey::Problems;
    // a down row may become an outage: every tick sorts again
    a.update(
        discovered("A", vec![listed("A1", true), listed("A2", false)]),
        t(4),
    );
    assert!(a.ranks_move_with_time());
    a.update(Msg::Tick, t(5));
    a.update(Msg::Tick, t(200));
    assert_eq!(
        a.view.problems, 1,
        "the outage is counted by the clock alone"
    );
    assert_eq!(a.fleet.instances[a.view.order[0]].id.as_str(), "A2");
}

/// A listing that finds a connected number disconnected runs
/// `on_disconnect` (a discovered account may have no webhook here at all);
/// the first listing, from unknown, runs nothing.
#[test]
fn a_listing_that_sees_a_number_drop_runs_the_alert() {
    let mut a = two_accounts();
    a.configure(Settings {
        alerts: (true, false),
        ..Settings::default()
    });
    let first = a.update(
        discovered("A", vec![listed("A1", true), listed("A2", false)]),
        t(1),
    );
    assert!(first.is_empty(), "{first:?}");
    let cmds = a.update(
        discovered("A", vec![listed("A1", false), listed("A2", false)]),
        t(2),
    );
    match cmds.as_slice() {
        [Command::Alert { event, name }] => {
            assert_eq!(name, "Z A1");
            assert_eq!(event.instance_id, InstanceId::new("A1"));
            assert!(
                matches!(&event.kind, EventKind::Disconnected { error: Some(e) } if e.contains("account listing"))
            );
        }
        other => panic!("{other:?}"),
    }
    let again = a.update(
        discovered("A", vec![listed("A1", false), listed("A2", false)]),
        t(3),
    );
    assert!(again.is_empty(), "no change, no alert: {again:?}");
}
