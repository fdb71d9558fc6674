//! The Connect popup: its calls, the rotation with a fake clock, the stop
//! after three codes, the close on a connect, the pairing code.

use super::*;
use crate::app::{QR_EVERY_SECS, Stage};
use crate::qr::Credential;
use crate::zapi::QrAnswer;

const PAYLOAD: &str = "2@payload-one,key,key,key";

fn id(s: &str) -> InstanceId {
    InstanceId::new(s)
}

fn qr(n: &str, payload: &str) -> Msg {
    Msg::QrResult {
        id: id(n),
        result: Ok(QrAnswer::Code(Credential::new(payload))),
    }
}

/// `c` on the first row, its code answered at `t(0)`.
fn open_with_code() -> App {
    let mut a = app(2);
    assert_eq!(a.update(ch('c'), t(0)), vec![Command::FetchQr(id("I0"))]);
    a.update(qr("I0", PAYLOAD), t(0));
    a
}

fn stage(a: &App) -> &Stage {
    &a.overlays.connect.as_ref().expect("popup open").stage
}

#[test]
fn c_asks_for_a_code_and_shows_it() {
    let a = open_with_code();
    let c = a.overlays.connect.as_ref().unwrap();
    let code = c.code().expect("a code on screen");
    assert_eq!(code.payload.expose(), PAYLOAD);
    assert_eq!(code.n, 1);
    assert_eq!(c.next_code_in(t(3)), Some(QR_EVERY_SECS - 3));
}

#[test]
fn a_new_code_every_15_s_then_it_stops_after_three() {
    let mut a = open_with_code();
    // nothing before its time
    for s in 1..QR_EVERY_SECS {
        assert!(a.update(Msg::Tick, t(s)).is_empty(), "tick at {s} s");
    }
    assert_eq!(a.update(Msg::Tick, t(15)), vec![Command::FetchQr(id("I0"))]);
    // the old code stays on screen while the new one is asked for
    assert!(matches!(
        stage(&a),
        Stage::Fetching {
            n: 2,
            shown: Some(_)
        }
    ));
    assert!(a.update(Msg::Tick, t(16)).is_empty(), "one call at a time");
    a.update(qr("I0", "2@payload-two,k,k,k"), t(16));
    assert_eq!(a.overlays.connect.as_ref().unwrap().code().unwrap().n, 2);
    assert_eq!(a.update(Msg::Tick, t(31)), vec![Command::FetchQr(id("I0"))]);
    a.update(qr("I0", "2@payload-three,k,k,k"), t(31));
    assert_eq!(
        a.overlays.connect.as_ref().unwrap().next_code_in(t(32)),
        None
    );
    // after the third: no fourth call, ever, until `c`
    assert!(a.update(Msg::Tick, t(46)).is_empty());
    assert!(matches!(stage(&a), Stage::Stopped));
    for s in 47..200 {
        assert!(a.update(Msg::Tick, t(s)).is_empty());
    }
    assert_eq!(a.update(ch('c'), t(200)), vec![Command::FetchQr(id("I0"))]);
    assert!(matches!(stage(&a), Stage::Fetching { n: 1, shown: None }));
}

#[test]
fn no_call_while_the_popup_is_closed() {
    let mut a = open_with_code();
    a.update(key(KeyCode::Esc), t(1));
    assert!(
        a.overlays.connect.is_none(),
        "Esc closes it and drops the code"
    );
    for s in 2..120 {
        assert!(a.update(Msg::Tick, t(s)).is_empty(), "tick at {s} s");
    }
    // a late answer to a closed popup opens nothing
    a.update(qr("I0", PAYLOAD), t(121));
    assert!(a.overlays.connect.is_none());
    // and the table works again: q quits (Esc never does, #13)
    assert_eq!(a.update(ch('q'), t(122)), vec![Command::Quit]);
}

#[test]
fn a_connect_webhook_shows_the_phone_and_closes_the_popup() {
    let mut a = open_with_code();
    a.update(up("I0", 5), t(5));
    match stage(&a) {
        Stage::Connected { phone, .. } => assert_eq!(phone.as_deref(), Some("5544999999999")),
        other => panic!("{other:?}"),
    }
    assert!(a.update(Msg::Tick, t(6)).is_empty());
    assert!(a.overlays.connect.is_some(), "it stays to say so");
    assert!(a.update(Msg::Tick, t(7)).is_empty());
    assert!(a.overlays.connect.is_none(), "closed 2 s later");
    assert_eq!(inst(&a, "I0").state, ConnState::Connected);
}

#[test]
fn a_status_answer_saying_connected_closes_it_too_another_instance_does_not() {
    let mut a = open_with_code();
    a.update(
        Msg::StatusResult {
            id: id("I1"),
            result: Ok(status(true, None)),
        },
        t(2),
    );
    assert!(matches!(stage(&a), Stage::Code(_)), "another instance's");
    a.update(up("I1", 3), t(3));
    assert!(matches!(stage(&a), Stage::Code(_)));
    a.update(
        Msg::StatusResult {
            id: id("I0"),
            result: Ok(status(true, None)),
        },
        t(4),
    );
    assert!(matches!(stage(&a), Stage::Connected { .. }));
}

#[test]
fn already_connected_is_said_instead_of_a_code() {
    let mut a = app(1);
    a.update(ch('c'), t(0));
    a.update(
        Msg::QrResult {
            id: id("I0"),
            result: Ok(QrAnswer::Connected),
        },
        t(0),
    );
    assert!(matches!(stage(&a), Stage::AlreadyConnected));
    for s in 1..60 {
        assert!(a.update(Msg::Tick, t(s)).is_empty());
    }
}

#[test]
fn zapi_errors_are_shown_and_c_tries_again() {
    let mut a = app(1);
    a.update(ch('c'), t(0));
    a.update(
        Msg::QrResult {
            id: id("I0"),
            result: Err(http_err(400, "Instance not found")),
        },
        t(0),
    );
    assert!(matches!(stage(&a), Stage::Failed(e) if e.contains("Instance not found")));
    assert_eq!(a.update(ch('c'), t(1)), vec![Command::FetchQr(id("I0"))]);
}

#[test]
fn marked_instances_are_connected_one_after_another() {
    let mut a = app(3);
    a.update(key(KeyCode::Char(' ')), t(0)); // marks I0, moves to I1
    a.update(key(KeyCode::Char('j')), t(0)); // I2
    a.update(key(KeyCode::Char(' ')), t(0)); // marks I2
    assert_eq!(a.update(ch('c'), t(0)), vec![Command::FetchQr(id("I0"))]);
    assert!(a.view.marked.is_empty());
    a.update(up("I0", 1), t(1));
    assert_eq!(a.update(Msg::Tick, t(3)), vec![Command::FetchQr(id("I2"))]);
    assert_eq!(a.overlays.connect.as_ref().unwrap().id, id("I2"));
}

#[test]
fn without_a_client_token_or_configuration_nothing_is_asked() {
    let mut a = App::new(super::setup(1, Some("client_token")), t(0));
    assert!(a.update(ch('c'), t(0)).is_empty());
    assert!(a.overlays.connect.is_none());
    assert_eq!(a.ops.notice.as_ref().unwrap().level, Level::Warn);
    let mut b = app(0);
    b.update(down("UNCONFIGURED", 0, "x"), t(0));
    assert!(b.update(ch('c'), t(0)).is_empty());
    assert!(
        b.ops
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("not configured")
    );
}

#[test]
fn pairing_prompt_takes_digits_only_then_calls_and_shows_the_code() {
    let mut a = open_with_code();
    a.update(up("I0", 1), t(1));
    a.update(down("I0", 2, "x"), t(2));
    a.update(Msg::Tick, t(4)); // the connect closed the popup
    a.update(ch('c'), t(10));
    a.update(qr("I0", PAYLOAD), t(10));
    a.update(ch('p'), t(11));
    // prefilled with the phone the instance last reported
    assert!(matches!(stage(&a), Stage::Phone { digits, .. } if digits == "5544999999999"));
    for _ in 0..13 {
        a.update(key(KeyCode::Backspace), t(11));
    }
    a.update(ch('+'), t(11));
    assert!(matches!(stage(&a), Stage::Phone { digits, error: Some(_) } if digits.is_empty()));
    for d in "1234".chars() {
        a.update(ch(d), t(12));
    }
    assert!(a.update(key(KeyCode::Enter), t(12)).is_empty(), "too short");
    assert!(matches!(stage(&a), Stage::Phone { error: Some(e), .. } if e.contains("4 digits")));
    for d in "567890123".chars() {
        a.update(ch(d), t(12));
    }
    // no code is asked for while the prompt is open
    assert!(a.update(Msg::Tick, t(40)).is_empty());
    assert_eq!(
        a.update(key(KeyCode::Enter), t(41)),
        vec![Command::PhoneCode(id("I0"), "1234567890123".into())]
    );
    a.update(
        Msg::PhoneCodeResult {
            id: id("I0"),
            result: Ok(Credential::new("ABCD-EFGH")),
        },
        t(42),
    );
    assert!(matches!(stage(&a), Stage::Pairing { code, .. } if code.expose() == "ABCD-EFGH"));
    // the message log says a code was shown, never the code (a credential)
    let log: Vec<&str> = a.ops.messages.iter().map(|m| m.text.as_str()).collect();
    assert!(
        log.iter().any(|t| t.contains("pairing code shown")),
        "{log:?}"
    );
    assert!(!log.iter().any(|t| t.contains("ABCD-EFGH")), "{log:?}");
}

#[test]
fn the_message_log_keeps_the_connect_flow_without_its_codes() {
    let mut a = open_with_code();
    a.update(up("I0", 5), t(5));
    a.update(Msg::Tick, t(7)); // "connected" closes the popup
    a.update(down("I0", 8, "x"), t(8));
    assert_eq!(a.update(ch('c'), t(20)), vec![Command::FetchQr(id("I0"))]);
    a.update(
        Msg::QrResult {
            id: id("I0"),
            result: Err(http_err(500, "Instance busy")),
        },
        t(21),
    );
    let log: Vec<&str> = a.ops.messages.iter().map(|m| m.text.as_str()).collect();
    assert!(
        log.iter()
            .any(|t| t.contains("linked: connected as 5544999999999")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|t| t.contains("no QR code") && t.contains("Instance busy")),
        "{log:?}"
    );
    assert!(!log.iter().any(|t| t.contains(PAYLOAD)), "{log:?}");
}

#[test]
fn pairing_refused_shows_zapi_error() {
    let mut a = open_with_code();
    a.update(ch('p'), t(1));
    for d in "5511987654321".chars() {
        a.update(ch(d), t(1));
    }
    a.update(key(KeyCode::Enter), t(1));
    a.update(
        Msg::PhoneCodeResult {
            id: id("I0"),
            result: Err(http_err(400, "Phone number invalid")),
        },
        t(2),
    );
    assert!(
        matches!(stage(&a), Stage::PairingFailed { error, .. } if error.contains("Phone number invalid"))
    );
    let last = a.ops.messages.iter().last().map(|m| m.text.clone());
    assert!(
        last.as_deref()
            .is_some_and(|t| t.contains("no pairing code") && t.contains("Phone number invalid")),
        "{last:?}"
    );
}

#[test]
fn the_detail_pane_asks_for_the_device() {
    let mut a = app(1);
    assert_eq!(
        a.update(key(KeyCode::Enter), t(0)),
        vec![
            Command::LoadHistory(id("I0")),
            Command::FetchDevice(id("I0"))
        ]
    );
    let device = crate::zapi::Device {
        phone: Some("5544111111111".into()),
        ..Default::default()
    };
    a.update(
        Msg::DeviceResult {
            id: id("I0"),
            result: Ok(device.clone()),
        },
        t(1),
    );
    let d = a.overlays.detail.as_ref().unwrap();
    assert_eq!(d.device, DeviceView::Loaded { device, at: t(1) });
    // `c` in the detail connects this instance, prefilled from /device
    assert_eq!(a.update(ch('c'), t(2)), vec![Command::FetchQr(id("I0"))]);
    a.update(ch('p'), t(2));
    assert!(matches!(stage(&a), Stage::Phone { digits, .. } if digits == "5544111111111"));
}

#[test]
fn watch_does_not_ask_for_the_device() {
    let mut a = app(1);
    a.update(Msg::Link(Link::Up), t(0));
    assert_eq!(
        a.update(key(KeyCode::Enter), t(0)),
        vec![Command::LoadHistory(id("I0"))]
    );
    assert_eq!(
        a.overlays.detail.as_ref().unwrap().device,
        DeviceView::Unavailable
    );
}

#[test]
fn no_code_after_one_was_shown_means_it_was_read_and_the_webhook_tells_the_phone() {
    let mut a = open_with_code();
    a.update(Msg::Tick, t(15));
    a.update(
        Msg::QrResult {
            id: id("I0"),
            result: Ok(QrAnswer::Connected),
        },
        t(15),
    );
    assert!(matches!(stage(&a), Stage::Connected { phone: None, at } if *at == t(15)));
    a.update(up("I0", 16), t(16));
    assert!(
        matches!(stage(&a), Stage::Connected { phone: Some(p), at } if p == "5544999999999" && *at == t(15))
    );
    a.update(Msg::Tick, t(17));
    assert!(a.overlays.connect.is_none(), "2 s after it was first seen");
}
