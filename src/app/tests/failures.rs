//! When Z-API fails: the link state from all calls, background failures
//! counted together, the operator's own results kept apart, every batch
//! accounted for, the message log, and a next step that says what failed.

use super::*;
use crate::app::zapi_link::LinkState;
use std::time::Duration;

fn refused() -> ApiError {
    ApiError::Network(
        "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)"
            .into(),
    )
}

fn status_of(id: &str, result: Result<Status, ApiError>) -> Msg {
    Msg::StatusResult {
        id: InstanceId::new(id),
        result,
    }
}

fn timed(ms: u64, msg: Msg) -> Msg {
    Msg::Timed {
        took: Duration::from_millis(ms),
        msg: Box::new(msg),
    }
}

fn own(a: &App) -> String {
    a.ops
        .notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

#[test]
fn the_link_state_comes_from_every_call_together() {
    let mut a = app(2);
    a.init();
    assert_eq!(a.ops.zapi.state(), LinkState::Unknown);
    a.update(timed(3, status_of("I0", Err(refused()))), t(10));
    a.update(
        Msg::HooksResult {
            id: InstanceId::new("I1"),
            result: Err(refused()),
        },
        t(12),
    );
    assert_eq!(
        a.ops.zapi.state(),
        LinkState::Unreachable {
            since: t(10),
            reason: "connection refused".into()
        }
    );
    a.update(
        Msg::ActionResult {
            id: InstanceId::new("I0"),
            action: InstanceAction::Restart,
            result: Err(http_err(403, "Client-Token X not allowed")),
        },
        t(20),
    );
    assert_eq!(a.ops.zapi.state(), LinkState::TokenRefused { status: 403 });
    for id in ["I0", "I1", "I0"] {
        let msg = Msg::RegisterResult {
            id: InstanceId::new(id),
            result: Ok(()),
        };
        a.update(timed(2500, msg), t(30));
    }
    assert_eq!(
        a.ops.zapi.state(),
        LinkState::Slow {
            p50: Duration::from_millis(2500)
        }
    );
    // a timed result is applied like any other
    assert_eq!(
        inst(&a, "I0").registration,
        Registration::Ok(t(30)),
        "the wrapped result reached the row"
    );
}

#[test]
fn background_failures_are_one_line_and_never_cover_the_operators_own() {
    let mut a = app(100);
    a.init();
    for i in 0..100 {
        a.update(status_of(&format!("I{i}"), Err(refused())), t(1));
    }
    let bg = a.ops.background.clone().unwrap();
    assert_eq!(bg.text, "status: 100 of 100 failed: connection refused");
    assert_eq!(bg.level, Level::Error);
    // the operator restarts the selected row meanwhile
    a.update(ch('x'), t(2));
    assert_eq!(a.update(ch('y'), t(2)).len(), 1);
    assert_eq!(own(&a), "restart: sent…");
    let logged = a.ops.messages.len();
    // two more poller rounds failing the same way: not one more line
    for round in 0..2 {
        for i in 0..100 {
            a.update(status_of(&format!("I{i}"), Err(refused())), t(3 + round));
        }
    }
    assert_eq!(
        a.ops.messages.len(),
        logged,
        "the same summary is not repeated"
    );
    assert_eq!(
        own(&a),
        "restart: sent…",
        "background results never overwrite it"
    );
    // the restart's answer is the operator's, a round with a new reason the background's
    a.update(
        Msg::ActionResult {
            id: InstanceId::new("I0"),
            action: InstanceAction::Restart,
            result: Ok(()),
        },
        t(5),
    );
    for i in 0..100 {
        let result = if i < 3 {
            Err(http_err(404, "Instance not found"))
        } else {
            Err(refused())
        };
        a.update(status_of(&format!("I{i}"), result), t(6));
    }
    assert_eq!(
        a.ops.background.as_ref().unwrap().text,
        "status: 100 of 100 failed: 97 connection refused, 3 HTTP 404: Instance not found"
    );
    let shown = a.footer_notice().unwrap();
    assert!(
        !shown.background,
        "the operator's fresh notice is shown first"
    );
    assert!(shown.notice.text.starts_with("restart of Name 0 accepted"));
    assert_eq!(shown.unseen, 1, "the footer says one more is in the log");
    // once it is no longer fresh, the newer background line shows
    a.update(Msg::Tick, t(6 + messages::OWN_FRESH_SECS));
    assert!(a.footer_notice().unwrap().background);
    // and when every row answers again, that is said once
    for i in 0..100 {
        a.update(status_of(&format!("I{i}"), Ok(status(true, None))), t(40));
    }
    assert_eq!(
        a.ops.background.as_ref().unwrap().text,
        "status: all 100 instances answered again"
    );
    let background_lines = a.ops.messages.iter().filter(|m| m.background).count();
    // the start's "asking…", three summaries: never one per row
    assert_eq!(background_lines, 4);
}

#[test]
fn a_batch_of_restarts_reports_every_result_with_the_failures_named() {
    let mut a = app(3);
    for _ in 0..3 {
        a.update(ch(' '), t(0));
    }
    a.update(ch('x'), t(1));
    assert_eq!(a.update(ch('y'), t(1)).len(), 3);
    assert_eq!(own(&a), "restart: sent for 3 instances…");
    for (id, result) in [("I0", Ok(())), ("I1", Err(refused())), ("I2", Ok(()))] {
        a.update(
            Msg::ActionResult {
                id: InstanceId::new(id),
                action: InstanceAction::Restart,
                result,
            },
            t(2),
        );
    }
    let n = a.ops.notice.clone().unwrap();
    assert_eq!(
        n.text,
        "restart: 2 accepted, 1 failed: Name 1 (connection refused)"
    );
    assert_eq!(n.level, Level::Error);
    assert_eq!(a.ops.action_batch, None);
    // restore of two, both well
    a.update(key(KeyCode::Home), t(3));
    a.update(ch(' '), t(3));
    a.update(ch(' '), t(3));
    a.update(ch('e'), t(3));
    a.update(ch('y'), t(3));
    let pending: Vec<InstanceId> = a
        .fleet
        .instances
        .iter()
        .filter(|i| matches!(i.action.as_deref(), Some(o) if o.state == CallResult::Pending))
        .map(|i| i.id.clone())
        .collect();
    assert_eq!(pending.len(), 2);
    for id in pending {
        a.update(
            Msg::ActionResult {
                id,
                action: InstanceAction::Restore,
                result: Ok(()),
            },
            t(4),
        );
    }
    assert_eq!(own(&a), "restore session: 2 accepted, 0 failed");
}

#[test]
fn r_on_marked_rows_reports_every_registration() {
    let mut a = app(3);
    a.update(ch(' '), t(0));
    a.update(ch(' '), t(0));
    assert_eq!(a.update(ch('r'), t(1)).len(), 2);
    for (id, result) in [
        ("I0", Err(http_err(500, "update-webhook-connected: oops"))),
        ("I1", Ok(())),
    ] {
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new(id),
                result,
            },
            t(2),
        );
    }
    assert_eq!(
        own(&a),
        "register: 1 registered, 1 failed: Name 0 (HTTP 500: oops)"
    );
}

#[test]
fn big_r_on_marked_rows_says_which_already_pointed_here() {
    let mut a = app(3);
    for (id, here) in [("I0", true), ("I1", false)] {
        a.update(
            Msg::HooksResult {
                id: InstanceId::new(id),
                result: Ok(hooks(here)),
            },
            t(1),
        );
    }
    // only the one pointing here marked: nothing to send, and why
    let pos = |a: &App, id: &str| {
        a.view
            .order
            .iter()
            .position(|&i| a.fleet.instances[i].id.as_str() == id)
            .unwrap()
    };
    a.select(pos(&a, "I0"));
    a.update(ch(' '), t(2));
    assert!(a.update(ch('R'), t(2)).is_empty());
    assert_eq!(
        own(&a),
        "nothing sent: 1 marked instance already points here (r re-registers anyway)"
    );
    // I0 (here) and I1 (elsewhere) marked: R sends I1 only, and says so
    a.select(pos(&a, "I0"));
    a.update(ch(' '), t(3));
    a.select(pos(&a, "I1"));
    a.update(ch(' '), t(3));
    assert_eq!(
        a.update(ch('R'), t(3)),
        vec![Command::Register(InstanceId::new("I1"))]
    );
    a.update(
        Msg::RegisterResult {
            id: InstanceId::new("I1"),
            result: Ok(()),
        },
        t(4),
    );
    assert_eq!(
        own(&a),
        "register: 1 registered, 0 failed; 1 marked instance already pointed here (r registers them anyway)"
    );
}

#[test]
fn big_r_after_o_in_the_replace_popup_accounts_for_every_row() {
    let mut a = app(4);
    let foreign = Hooks {
        disconnected: Some("https://bot.example/zapi".into()),
        connected: Some("https://bot.example/zapi".into()),
        received: None,
        here: false,
        foreign: vec!["https://bot.example/zapi".into()],
    };
    // I0 another system's, I1 unknown, I2 and I3 here
    for (id, h) in [("I0", foreign), ("I2", hooks(true)), ("I3", hooks(true))] {
        a.update(
            Msg::HooksResult {
                id: InstanceId::new(id),
                result: Ok(h),
            },
            t(1),
        );
    }
    assert!(
        a.update(ch('R'), t(2)).is_empty(),
        "the replace popup first"
    );
    let mut cmds = a.update(ch('o'), t(3));
    cmds.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        cmds,
        vec![
            Command::Register(InstanceId::new("I1")),
            Command::RegisterReplacing(InstanceId::new("I0"))
        ]
    );
    for id in ["I0", "I1"] {
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new(id),
                result: Ok(()),
            },
            t(4),
        );
    }
    assert_eq!(
        own(&a),
        "register: 2 registered, 0 failed; 2 instances already pointed here"
    );
}

#[test]
fn the_message_log_keeps_the_newest_notices_and_scrolls() {
    let mut a = app(1);
    a.update(Msg::Resize(80, 24), t(0));
    for n in 0..350 {
        a.update(Msg::Problem(format!("problem {n}")), t(n));
    }
    assert_eq!(a.ops.messages.len(), MESSAGE_LOG_LEN);
    let texts: Vec<&str> = a.ops.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts.first(), Some(&"problem 50"));
    assert_eq!(texts.last(), Some(&"problem 349"), "newest last");
    assert!(
        a.ops
            .messages
            .iter()
            .all(|m| m.level == Level::Error && m.background)
    );
    // l opens it following the newest; ↑ scrolls back; End follows again
    a.update(ch('l'), t(400));
    assert_eq!(a.overlays.messages, Some(MessageView { top: None }));
    let page = a.message_rows();
    a.update(key(KeyCode::Up), t(400));
    assert_eq!(a.overlays.messages.unwrap().top, Some(300 - page - 1));
    a.update(key(KeyCode::PageUp), t(400));
    assert_eq!(a.overlays.messages.unwrap().top, Some(300 - 2 * page - 1));
    a.update(key(KeyCode::Home), t(400));
    assert_eq!(a.overlays.messages.unwrap().top, Some(0));
    a.update(key(KeyCode::Up), t(400));
    assert_eq!(a.overlays.messages.unwrap().top, Some(0));
    a.update(key(KeyCode::End), t(400));
    assert_eq!(a.overlays.messages.unwrap().top, None);
    // keys of the table do nothing underneath
    assert!(a.update(ch('x'), t(400)).is_empty());
    assert!(a.overlays.confirm.is_none());
    a.update(key(KeyCode::Esc), t(400));
    assert_eq!(a.overlays.messages, None);
    a.update(ch('l'), t(401));
    a.update(ch('l'), t(401));
    assert_eq!(a.overlays.messages, None, "l closes it too");
    a.update(ch('l'), t(401));
    assert_eq!(a.update(ch('q'), t(401)), vec![Command::Quit]);
}

#[test]
fn own_notices_are_logged_with_time_and_level() {
    let mut a = app(2);
    a.update(ch('b'), t(7));
    let m = a.ops.messages.iter().last().unwrap();
    assert_eq!(
        (m.at, m.level, m.text.as_str(), m.background),
        (t(7), Level::Info, "bell on new outages: off", false)
    );
}

#[test]
fn next_never_proposes_the_call_that_just_failed_without_saying_so() {
    let mut a = app(1);
    a.init();
    let step = a.next_step(inst(&a, "I0")).unwrap();
    assert_eq!(step, "state unknown: s asks Z-API");
    a.update(status_of("I0", Err(refused())), t(5));
    let step = a.next_step(inst(&a, "I0")).unwrap();
    assert_eq!(
        step,
        "s failed 16:00 (connection refused): check api_base and the network, then s"
    );
    // a restart that failed on a down row
    a.update(down("I0", 10, "Device has been disconnected"), t(10));
    a.update(ch('x'), t(11));
    a.update(ch('y'), t(11));
    a.update(
        Msg::ActionResult {
            id: InstanceId::new("I0"),
            action: InstanceAction::Restart,
            result: Err(http_err(403, "Client-Token X not allowed")),
        },
        t(12),
    );
    let step = a.next_step(inst(&a, "I0")).unwrap();
    assert!(
        step.starts_with("x failed (HTTP 403: Client-Token X not allowed): check client_token"),
        "{step}"
    );
    assert!(step.ends_with(", then x"), "{step}");
}

#[test]
fn a_servers_lasting_trouble_stays_until_it_says_it_is_over_or_the_link_is_cut() {
    let mut a = app(1);
    a.update(Msg::Link(Link::Up), t(0));
    let unreachable = "cluster unreachable: NATS is not connected";
    a.update(Msg::ServerProblem(Some(unreachable.into())), t(1));
    // said again (a new stream): still since the first time
    a.update(Msg::ServerProblem(Some(unreachable.into())), t(5));
    assert_eq!(a.ops.server_problem, Some((t(1), unreachable.to_string())));
    let n = a.ops.background.clone().unwrap();
    assert_eq!(n.level, Level::Error);
    a.update(Msg::ServerProblem(None), t(70));
    assert_eq!(a.ops.server_problem, None);
    let n = a.ops.background.clone().unwrap();
    assert_eq!(
        (n.level, n.text.as_str()),
        (
            Level::Ok,
            "server: over: cluster unreachable: NATS is not connected (it began 1m ago)"
        )
    );
    // cut off: what the server said is not known any more
    a.update(Msg::ServerProblem(Some(unreachable.into())), t(80));
    a.update(
        Msg::Link(Link::Down {
            since: t(81),
            error: "connection refused".into(),
            retry_at: None,
        }),
        t(81),
    );
    assert_eq!(a.ops.server_problem, None);
}
