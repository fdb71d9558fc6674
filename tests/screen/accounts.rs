//! Several accounts on screen: the Account column and the per-account
//! counts (only with more than one account), `/` matching an account, `f`
//! cycling through accounts after the states, the `new` and `removed from
//! account` marks, the detail's account, due date and payment status with
//! the next step they call for, and a failed listing in the header and the
//! footer. Partner and instance tokens never reach the screen.

use chrono::{DateTime, Duration};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use zapi_dash::app::{App, Msg};
use zapi_dash::fleet::ListedInstance;
use zapi_dash::model::InstanceId;

use super::render::{render, setup, t};

fn text(app: &App, w: u16, h: u16) -> String {
    let terminal = render(app, w, h);
    let buf = terminal.backend().buffer();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                + "\n"
        })
        .collect()
}

fn key(app: &mut App, c: char, at: DateTime<chrono::Utc>) {
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        at,
    );
}

fn listed(id: &str, name: &str, connected: bool) -> ListedInstance {
    ListedInstance {
        id: InstanceId::new(id),
        name: Some(name.into()),
        due: Some(t(14, 0, 0) + Duration::days(40)),
        payment_status: Some("RECEIVED".into()),
        connected: Some(connected),
        phone_connected: Some(connected),
        hooks: None,
    }
}

/// Two discovered accounts, one configured instance of the implicit one.
fn accounts(w: u16, h: u16) -> App {
    let now = t(14, 6, 12);
    let mut app = App::new(
        setup(Some("/etc/zapi-dash.toml"), &[("OLD1", Some("Front desk"))]),
        now,
    );
    app.fleet
        .set_accounts(&[("Agency A".into(), true), ("Agency B".into(), true)], &[]);
    app.update(Msg::Resize(w, h), now);
    let listing = |account: &str, listed: Vec<ListedInstance>| Msg::Discovered {
        account: account.into(),
        result: Ok(listed),
    };
    app.update(
        listing(
            "Agency A",
            vec![
                listed("A1", "Loja Centro", true),
                listed("A2", "Loja Norte", false),
            ],
        ),
        now,
    );
    app.update(
        listing("Agency B", vec![listed("B1", "Clinica Sul", true)]),
        now,
    );
    // later: A2 leaves Agency A, A3 joins it
    app.update(
        listing(
            "Agency A",
            vec![
                listed("A1", "Loja Centro", true),
                listed("A3", "Loja Oeste", true),
            ],
        ),
        now,
    );
    app.update(Msg::Tick, now);
    app
}

#[test]
fn the_account_column_the_marks_and_the_counts_per_account() {
    let app = accounts(200, 20);
    let screen = text(&app, 200, 20);
    assert!(screen.contains("Account"), "{screen}");
    for (name, account) in [
        ("Loja Centro", "Agency A"),
        ("Clinica Sul", "Agency B"),
        ("Front desk", "default"),
    ] {
        let row = screen.lines().find(|l| l.contains(name)).unwrap();
        assert!(row.contains(account), "{row}");
    }
    let removed = screen.lines().find(|l| l.contains("Loja Norte")).unwrap();
    assert!(removed.contains("removed from account"), "{removed}");
    let new = screen.lines().find(|l| l.contains("Loja Oeste")).unwrap();
    assert!(new.contains("new"), "{new}");
    assert!(
        screen.contains("default 1/0✗ · Agency A 3/1✗ · Agency B 1/0✗"),
        "{screen}"
    );
    // a narrow terminal keeps the counts of the states, not those per account
    let narrow = text(&app, 80, 20);
    assert!(!narrow.contains("per account"), "{narrow}");
}

#[test]
fn one_account_has_no_account_column() {
    let now = t(14, 6, 12);
    let mut app = App::new(setup(Some("/etc/z.toml"), &[]), now);
    app.fleet.set_accounts(&[("Agency A".into(), true)], &[]);
    app.update(
        Msg::Discovered {
            account: "Agency A".into(),
            result: Ok(vec![listed("A1", "Loja Centro", true)]),
        },
        now,
    );
    app.update(Msg::Tick, now);
    let screen = text(&app, 160, 12);
    assert!(screen.contains("Loja Centro"), "{screen}");
    assert!(!screen.contains("Account"), "{screen}");
    assert!(!screen.contains("per account"), "{screen}");
}

#[test]
fn slash_matches_an_account_and_f_cycles_through_accounts_after_the_states() {
    let mut app = accounts(160, 20);
    let now = t(14, 6, 13);
    key(&mut app, '/', now);
    for c in "agency b".chars() {
        key(&mut app, c, now);
    }
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
        now,
    );
    let screen = text(&app, 160, 20);
    assert!(
        screen.contains("Clinica Sul") && !screen.contains("Loja Centro"),
        "{screen}"
    );
    app.update(
        Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
        now,
    );
    // all → down → up → drifted → default → Agency A → Agency B → all
    let mut titles = Vec::new();
    for _ in 0..7 {
        key(&mut app, 'f', now);
        let screen = text(&app, 160, 20);
        let title = screen
            .lines()
            .find(|l| l.contains("Instances ("))
            .map(|l| l.to_string());
        titles.push((app.filter_word(), app.view.order.len(), title));
    }
    let words: Vec<(&str, usize)> = titles.iter().map(|(w, n, _)| (w.as_str(), *n)).collect();
    assert_eq!(
        words,
        [
            ("down", 1),
            ("up", 3),
            ("drifted", 0),
            ("default", 1),
            ("Agency A", 3),
            ("Agency B", 1),
            ("all", 5),
        ]
    );
    assert!(
        titles[4]
            .2
            .as_deref()
            .is_some_and(|t| t.contains("only Agency A")),
        "{:?}",
        titles[4]
    );
}

#[test]
fn the_detail_shows_the_account_due_date_and_payment_and_the_next_step() {
    let now = t(14, 6, 12);
    let mut app = App::new(setup(Some("/etc/z.toml"), &[]), now);
    app.fleet
        .set_accounts(&[("Agency A".into(), true), ("Agency B".into(), true)], &[]);
    app.update(Msg::Resize(100, 40), now);
    let mut expired = listed("A1", "Loja Centro", false);
    expired.due = Some(now - Duration::days(2));
    let mut soon = listed("A2", "Loja Norte", true);
    soon.due = Some(now + Duration::days(3) + Duration::hours(2));
    let mut unpaid = listed("A3", "Loja Oeste", false);
    unpaid.payment_status = Some("OVERDUE".into());
    app.update(
        Msg::Discovered {
            account: "Agency A".into(),
            result: Ok(vec![expired, soon, unpaid]),
        },
        now,
    );
    app.update(Msg::Tick, now);
    let open = |app: &mut App, name: &str| {
        app.update(
            Msg::Key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE)),
            now,
        );
        let row = app
            .view
            .order
            .iter()
            .position(|&i| app.fleet.instances[i].label() == name)
            .unwrap();
        app.view.selected = row;
        app.update(
            Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            now,
        );
        text(app, 100, 40)
    };
    let screen = open(&mut app, "Loja Centro");
    assert!(screen.contains("Agency A · listed"), "{screen}");
    assert!(screen.contains("⚠ expired"), "{screen}");
    assert!(
        screen.contains("subscription expired: renew it in the Z-API panel"),
        "{screen}"
    );
    let screen = open(&mut app, "Loja Norte");
    assert!(screen.contains("⚠ expires in 3 days"), "{screen}");
    assert!(screen.contains("RECEIVED"), "{screen}");
    let screen = open(&mut app, "Loja Oeste");
    assert!(screen.contains("⚠ OVERDUE"), "{screen}");
    assert!(
        screen.contains("payment status OVERDUE: settle it"),
        "{screen}"
    );
}

#[test]
fn a_failed_listing_is_in_the_header_and_the_footer_and_the_rows_stay() {
    let mut app = accounts(160, 20);
    let now = t(14, 7, 0);
    app.update(
        Msg::Discovered {
            account: "Agency B".into(),
            result: Err("HTTP 401: Unauthorized (check partner_token)".into()),
        },
        now,
    );
    let screen = text(&app, 160, 20);
    assert!(
        screen.contains("⚠ discovery failed for Agency B"),
        "{screen}"
    );
    assert!(
        screen.contains("discovery failed for Agency B: HTTP 401: Unauthorized"),
        "{screen}"
    );
    assert!(screen.contains("Clinica Sul"), "{screen}");
    // narrow: still said, shorter
    let narrow = text(&app, 80, 20);
    assert!(narrow.contains("discovery failed"), "{narrow}");
}
