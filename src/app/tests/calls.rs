//! Calls the app asks for (status, register) and what their results do; start warnings.

use super::*;

#[test]
fn status_error_is_reported_with_status_and_text() {
    let mut a = app(2);
    a.init();
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I0"),
            result: Err(http_err(400, "Instance not found")),
        },
        t(1),
    );
    assert!(
        matches!(&inst(&a, "I0").status, StatusCheck::Failed { error, .. } if error.contains("400") && error.contains("Instance not found"))
    );
    assert_eq!(
        a.ops.status_batch,
        Some(Batch {
            total: 2,
            done: 1,
            failed: 1
        })
    );
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I1"),
            result: Ok(Status {
                connected: true,
                error: None,
                smartphone_connected: None,
            }),
        },
        t(2),
    );
    // the start's batch is background: its summary names the reason
    let n = a.ops.background.clone().unwrap();
    assert_eq!(n.level, Level::Error);
    assert_eq!(
        n.text, "status: 1 of 2 failed: HTTP 400: Instance not found",
        "{}",
        n.text
    );
    assert_eq!(a.ops.notice, None, "the operator's slot is left alone");
    assert_eq!(
        inst(&a, "I0").state,
        ConnState::Unknown,
        "a failed call changes no state"
    );
}

#[test]
fn init_without_client_token_sends_nothing_and_says_so() {
    let mut a = App::new(setup(3, Some("client_token")), t(0));
    assert!(a.init().is_empty());
    // the header says it, for as long as it lasts; not every row
    assert!(!a.setup.can_query_status);
    assert!(a.update(key(KeyCode::Char('s')), t(1)).is_empty());
    assert!(a.ops.notice.as_ref().unwrap().text.contains("client_token"));
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I0"),
            result: Err(ApiError::Config("client_token is not set".into())),
        },
        t(2),
    );
    assert_eq!(inst(&a, "I0").status, StatusCheck::Never);
    assert!(!health::is_problem(inst(&a, "I0"), &a.settings.rules, t(2)));
}

#[test]
fn register_needs_public_url_and_client_token() {
    for missing in ["public_url", "client_token"] {
        let mut a = App::new(setup(2, Some(missing)), t(0));
        assert!(a.update(key(KeyCode::Char('r')), t(1)).is_empty());
        assert!(a.ops.notice.as_ref().unwrap().text.contains(missing));
        assert!(a.update(key(KeyCode::Char('R')), t(1)).is_empty());
        assert!(a.ops.notice.as_ref().unwrap().text.contains(missing));
        assert!(
            a.fleet
                .instances
                .iter()
                .all(|i| i.registration == Registration::Never)
        );
    }
}

#[test]
fn register_selected_then_result_lands_in_row() {
    let mut a = app(3);
    a.update(key(KeyCode::Char('j')), t(0));
    assert_eq!(
        a.update(key(KeyCode::Char('r')), t(1)),
        vec![Command::Register(InstanceId::new("I1"))]
    );
    assert_eq!(inst(&a, "I1").registration, Registration::Pending);
    assert!(
        a.update(key(KeyCode::Char('r')), t(1)).is_empty(),
        "one in-flight call per instance"
    );
    a.update(
        Msg::RegisterResult {
            id: InstanceId::new("I1"),
            result: Ok(()),
        },
        t(2),
    );
    assert_eq!(inst(&a, "I1").registration, Registration::Ok(t(2)));
    assert_eq!(a.ops.notice.as_ref().unwrap().level, Level::Ok);

    a.update(key(KeyCode::Char('r')), t(3));
    a.update(
        Msg::RegisterResult {
            id: InstanceId::new("I1"),
            result: Err(http_err(400, "null not allowed")),
        },
        t(4),
    );
    assert_eq!(
        inst(&a, "I1").registration,
        Registration::Failed("HTTP 400: null not allowed".into())
    );
    let n = a.ops.notice.clone().unwrap();
    assert_eq!(n.level, Level::Error);
    assert!(n.text.contains("HTTP 400: null not allowed"));
}

#[test]
fn register_all_shows_progress_and_summary() {
    let mut a = app(3);
    let cmds = a.update(key(KeyCode::Char('R')), t(0));
    assert_eq!(cmds.len(), 3);
    assert!(
        a.update(key(KeyCode::Char('R')), t(0)).is_empty(),
        "no second batch while one runs"
    );
    assert_eq!(
        a.ops.register_batch,
        Some(Batch {
            total: 3,
            done: 0,
            failed: 0
        })
    );
    a.update(
        Msg::RegisterResult {
            id: InstanceId::new("I0"),
            result: Ok(()),
        },
        t(1),
    );
    a.update(
        Msg::RegisterResult {
            id: InstanceId::new("I2"),
            result: Err(http_err(500, "oops")),
        },
        t(1),
    );
    assert_eq!(
        a.ops.register_batch,
        Some(Batch {
            total: 3,
            done: 2,
            failed: 1
        })
    );
    a.update(
        Msg::RegisterResult {
            id: InstanceId::new("I1"),
            result: Ok(()),
        },
        t(2),
    );
    assert_eq!(a.ops.register_batch, None);
    let n = a.ops.notice.clone().unwrap();
    assert_eq!(n.level, Level::Error);
    assert_eq!(
        n.text, "register: 2 registered, 1 failed: Name 2 (HTTP 500: oops)",
        "{}",
        n.text
    );
}

#[test]
fn navigation_stays_in_bounds_and_scrolls() {
    let mut a = app(50);
    a.update(Msg::Resize(80, 24), t(0));
    let page = a.page_rows();
    assert_eq!(page, 17);
    a.update(key(KeyCode::Up), t(0));
    assert_eq!(a.view.selected, 0);
    a.update(key(KeyCode::PageDown), t(0));
    assert_eq!(a.view.selected, page);
    assert!(a.view.selected >= a.view.offset && a.view.selected < a.view.offset + page);
    a.update(key(KeyCode::End), t(0));
    assert_eq!(a.view.selected, 49);
    assert_eq!(a.view.offset, 50 - page);
    a.update(key(KeyCode::Down), t(0));
    assert_eq!(a.view.selected, 49);
    a.update(key(KeyCode::Home), t(0));
    assert_eq!((a.view.selected, a.view.offset), (0, 0));
    a.update(key(KeyCode::Char('j')), t(0));
    a.update(key(KeyCode::Char('k')), t(0));
    assert_eq!(a.view.selected, 0);
    // a tiny terminal does not break anything
    a.update(Msg::Resize(20, 5), t(0));
    a.update(key(KeyCode::PageDown), t(0));
    assert_eq!(a.view.selected, 1);
}

#[test]
fn start_warnings_and_problems_reach_the_footer() {
    let mut s = setup(1, None);
    s.warnings = vec![
        "2 corrupt records skipped".into(),
        "config readable by others".into(),
    ];
    let mut a = App::new(s, t(0));
    a.init();
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I0"),
            result: Err(http_err(500, "x")),
        },
        t(1),
    );
    let w = a.pending_warnings().unwrap();
    assert!(
        w.contains("2 corrupt records skipped") && w.contains("readable"),
        "{w}"
    );
    a.update(key(KeyCode::Char('j')), t(1));
    assert_eq!(
        a.pending_warnings(),
        None,
        "a key acknowledges the warnings"
    );
    a.update(Msg::Problem("event log: disk full".into()), t(1));
    let n = a.ops.background.clone().unwrap();
    assert_eq!(
        (n.level, n.text.as_str()),
        (Level::Error, "event log: disk full")
    );
}
