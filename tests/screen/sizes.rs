//! The screen at every size an operator's terminal has: the main screen,
//! the detail pane and the help as snapshots at 200×50, 120×35, 80×24 and
//! 40×10; what each width keeps (the state and the problems count first,
//! words shortened rather than cut, markers for hidden rows, phone and id
//! when there is room) and the small things a newcomer trips on.

use crossterm::event::KeyCode;
use ratatui::style::Color;

use zapi_dash::app::{App, Msg};
use zapi_dash::model::{Event, EventKind, InstanceId, Status};

use super::render::{fg_of, key, open_detail_of, operator_fleet, render, setup, t, text, webhook};

/// The sizes of the snapshot matrix.
const SIZES: [(u16, u16); 4] = [(200, 50), (120, 35), (80, 24), (40, 10)];

/// Asserts the snapshot `tests/snapshots/render__<name>_<w>x<h>.snap`.
fn assert_sized(name: &str, (w, h): (u16, u16), screen: &str) {
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(format!("render__{name}_{w}x{h}"), screen);
    });
}

/// The operator's fleet at a size, Sales with the phone its connection
/// reported (Support's came with webhooks older than its state).
fn sized((w, h): (u16, u16)) -> App {
    let mut app = operator_fleet(w, h);
    for inst in &mut app.fleet.instances {
        if inst.label() == "Sales" {
            inst.phone = Some("5511987654321".into());
        }
    }
    app
}

/// The lines of the table's rows: between the column titles and the
/// bottom border.
fn table_rows(screen: &str) -> Vec<&str> {
    screen
        .lines()
        .skip(4)
        .take_while(|l| !l.starts_with('└'))
        .filter(|l| l.chars().any(|c| c.is_alphanumeric()))
        .collect()
}

#[test]
fn main_screen_at_every_size() {
    for size in SIZES {
        let app = sized(size);
        let screen = text(&render(&app, size.0, size.1));
        let header = screen.lines().next().unwrap();
        // the problems count and the states, at every width
        assert!(header.contains("⚠ 4"), "{size:?}: {header}");
        assert!(header.contains("✗ 4"), "{size:?}: {header}");
        // the state words are never cut: long, short or the outage
        for row in table_rows(&screen) {
            assert!(
                ["✗ OUTAGE", "✗ disconnected", "✗ down", "? unknown"]
                    .iter()
                    .any(|w| row.contains(w)),
                "{size:?}: {row}"
            );
        }
        assert_sized("main_screen", size, &screen);
    }
}

/// Support's detail with its history read from the log.
fn support_detail(size: (u16, u16)) -> App {
    let mut app = sized(size);
    open_detail_of(&mut app, "Support");
    let support = InstanceId::new("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B");
    let history: Vec<Event> = app
        .get(&support)
        .unwrap()
        .history
        .iter()
        .rev()
        .cloned()
        .collect();
    app.update(
        Msg::History {
            id: support,
            result: Ok(history),
        },
        t(14, 6, 12),
    );
    app
}

#[test]
fn detail_pane_at_every_size() {
    for size in SIZES {
        let app = support_detail(size);
        let screen = text(&render(&app, size.0, size.1));
        assert!(screen.contains("Support"), "{size:?}:\n{screen}");
        assert_sized("detail_pane", size, &screen);
    }
    let screen = text(&render(&support_detail((200, 50)), 200, 50));
    for want in [
        "Uptime",
        "disconnects 24 h: 3",
        "Last 24 h",
        "https://old-server.example/hooks/disc",
        "point elsewhere",
        "History, newest first",
        "Device has been disconnected",
        "Next",
    ] {
        assert!(screen.contains(want), "{want}:\n{screen}");
    }
}

#[test]
fn help_at_every_size() {
    for size in SIZES {
        let mut app = sized(size);
        key(&mut app, KeyCode::Char('?'));
        let screen = text(&render(&app, size.0, size.1));
        assert!(screen.contains("Keys"), "{size:?}:\n{screen}");
        assert_sized("help", size, &screen);
    }
}

/// Every width from 1 to 220: the header's first line is made of whole
/// words of the widest one (parts are dropped, never cut), and from 20
/// columns up it keeps the problems count.
#[test]
fn the_header_drops_whole_parts_and_keeps_the_problems_count() {
    let app = sized((220, 50));
    let widest = text(&render(&app, 220, 50));
    let words: Vec<&str> = widest.lines().next().unwrap().split_whitespace().collect();
    for w in 1..=220 {
        let mut a = app.clone();
        a.update(Msg::Resize(w, 24), t(14, 6, 12));
        let screen = text(&render(&a, w, 24));
        let header = screen.lines().next().unwrap();
        for word in header.split_whitespace() {
            assert!(
                words.contains(&word) || ["up", "down"].contains(&word),
                "{w}: {word:?} cut in {header:?}"
            );
        }
        if w >= 20 {
            assert!(header.contains("⚠ 4"), "{w}: {header}");
        }
        // the second line (Z-API's link, then the config's counts) drops
        // whole parts too: no word of it is cut
        let second = screen.lines().nth(1).unwrap();
        if w >= 12 {
            assert!(!second.contains('…'), "{w}: {second:?}");
        }
        if w >= 40 {
            assert!(second.contains("Z-API ok"), "{w}: {second:?}");
        }
    }
    // at 80×24, the listen address goes before any count shortens
    let screen = text(&render(&sized((80, 24)), 80, 24));
    let header = screen.lines().next().unwrap();
    assert!(header.contains("⚠ 4 problems"), "{header}");
    assert!(header.contains("✗ 4 disconnected"), "{header}");
    assert!(!header.contains("127.0.0.1"), "{header}");
}

/// 20 instances at 80×24: 17 rows fit, the 3 others are said.
#[test]
fn hidden_rows_have_a_marker_above_and_below() {
    let now = t(14, 6, 12);
    let ids: Vec<String> = (0..20).map(|i| format!("ID{i:02}")).collect();
    let named: Vec<(String, String)> = ids
        .iter()
        .map(|id| (id.clone(), format!("Row {id}")))
        .collect();
    let list: Vec<(&str, Option<&str>)> = named
        .iter()
        .map(|(id, n)| (id.as_str(), Some(n.as_str())))
        .collect();
    let mut app = App::new(setup(Some("/etc/zapi-dash/config.toml"), &list), now);
    app.update(Msg::Resize(80, 24), now);
    app.prepare();
    let screen = text(&render(&app, 80, 24));
    let bottom = screen.lines().find(|l| l.starts_with('└')).unwrap();
    assert!(bottom.contains("↓ 3 more"), "{screen}");
    assert!(!screen.contains("↑"), "at the top:\n{screen}");
    key(&mut app, KeyCode::End);
    let screen = text(&render(&app, 80, 24));
    let top = screen.lines().find(|l| l.starts_with('┌')).unwrap();
    assert!(top.contains("↑ 3 more"), "{screen}");
    assert!(!screen.contains("↓"), "at the end:\n{screen}");
    // in the middle: both
    key(&mut app, KeyCode::Home);
    for _ in 0..18 {
        key(&mut app, KeyCode::Down);
    }
    let screen = text(&render(&app, 80, 24));
    assert!(
        screen.contains("↑ 2 more") && screen.contains("↓ 1 more"),
        "{screen}"
    );
}

/// `You need to restore the session.` and `You are not connected.` at
/// 80 columns: the words that tell them apart, not `You need to…` and
/// `You are not…`.
#[test]
fn similar_errors_keep_the_words_that_tell_them_apart() {
    let mut app = sized((80, 24));
    app.update(
        Msg::StatusResult {
            id: InstanceId::new("B11C0FFEE0000000000000000000BEEF"),
            result: Ok(Status {
                connected: false,
                error: Some("You are not connected.".into()),
                smartphone_connected: Some(false),
            }),
        },
        t(14, 6, 10),
    );
    app.update(Msg::Tick, t(14, 6, 12));
    let screen = text(&render(&app, 80, 24));
    assert!(screen.contains("restore session"), "{screen}");
    assert!(screen.contains("not connected"), "{screen}");
    assert!(!screen.contains("You need to…"), "{screen}");
    assert!(!screen.contains("You are not…"), "{screen}");
}

/// At 200 columns the phone and the id have their columns, and nothing is
/// cut while the table has room: the webhooks' failure is whole.
#[test]
fn wide_terminals_use_the_room_for_phone_and_id() {
    let app = sized((200, 50));
    let screen = text(&render(&app, 200, 50));
    let titles = screen.lines().nth(3).unwrap();
    assert!(
        titles.contains("Phone") && titles.contains("Id"),
        "{titles}"
    );
    let sales = table_rows(&screen)
        .into_iter()
        .find(|l| l.contains("Sales"))
        .unwrap();
    assert!(sales.contains("5511987654321"), "{sales}");
    assert!(
        sales.contains("3C8A1F00D2E94B7A9F15C0DE2A7B6E11"),
        "{sales}"
    );
    // cut by whole words where the row holds more than the room
    assert!(screen.contains("failed: HTTP 400…"), "{screen}");
    // at 80 columns they give way to the state and the errors
    let screen = text(&render(&sized((80, 24)), 80, 24));
    assert!(!screen.contains("5511987654321"), "{screen}");
}

/// A connected row's error is the last disconnect's: dimmed and said so.
#[test]
fn stale_errors_on_connected_rows_are_dimmed_and_labelled() {
    let mut app = sized((200, 50));
    let now = t(14, 6, 12);
    app.update(
        webhook(
            "A20DA9C0183A2D35A260F53F5D2B9244",
            EventKind::Connected { phone: None },
            t(14, 6, 0),
        ),
        now,
    );
    app.update(Msg::Tick, now);
    let term = render(&app, 200, 50);
    let screen = text(&term);
    let billing = table_rows(&screen)
        .into_iter()
        .find(|l| l.contains("Billing"))
        .unwrap();
    assert!(billing.contains("● connected"), "{billing}");
    assert!(
        billing.contains("last down: You need to restore"),
        "{billing}"
    );
    assert_eq!(fg_of(&term, "last down:"), Color::DarkGray);
    // a down row's error is not old: plain
    assert_eq!(fg_of(&term, "evil"), Color::Reset);
}

/// A name equal to the id is shown once: in the table (no id column
/// beside it) and in the detail's title.
#[test]
fn a_name_equal_to_the_id_is_shown_once() {
    let now = t(14, 6, 12);
    let id = "3C8A1F00D2E94B7A9F15C0DE2A7B6E11";
    let mut app = App::new(
        setup(
            Some("/etc/zapi-dash/config.toml"),
            &[
                (id, Some(id)),
                ("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B", Some("Support")),
            ],
        ),
        now,
    );
    app.update(Msg::Resize(200, 50), now);
    app.prepare();
    let screen = text(&render(&app, 200, 50));
    assert_eq!(screen.matches(id).count(), 1, "{screen}");
    assert!(
        screen.contains("7D2B9E11A4C34F0E8B6A1D2C3E4F5A6B"),
        "{screen}"
    );
    open_detail_of(&mut app, id);
    let screen = text(&render(&app, 200, 50));
    let title = screen.lines().find(|l| l.starts_with('┌')).unwrap();
    assert_eq!(title.matches(id).count(), 1, "{title}");
}

/// `1 instance`, `1 problem`: never `1 instances`.
#[test]
fn counts_of_one_are_singular() {
    let now = t(14, 6, 12);
    let id = "3C8A1F00D2E94B7A9F15C0DE2A7B6E11";
    let mut app = App::new(
        setup(Some("/etc/zapi-dash/config.toml"), &[(id, Some("Sales"))]),
        now,
    );
    app.update(Msg::Resize(120, 35), now);
    app.update(
        webhook(
            id,
            EventKind::Disconnected {
                error: Some("Device has been disconnected".into()),
            },
            t(14, 6, 11),
        ),
        now,
    );
    app.update(Msg::Tick, now);
    let screen = text(&render(&app, 120, 35));
    assert!(screen.contains("⚠ 1 problem "), "{screen}");
    assert!(screen.contains("1 instance ·"), "{screen}");
    assert!(screen.contains("1 event"), "{screen}");
    assert!(
        !screen.contains("1 problems") && !screen.contains("1 instances"),
        "{screen}"
    );
}

/// The bell and the mouse say whether they are on, in the footer's hints.
#[test]
fn the_footer_says_whether_the_bell_and_the_mouse_are_on() {
    let now = t(14, 6, 12);
    let mut app = App::new(setup(Some("/etc/zapi-dash/config.toml"), &[]), now);
    app.update(Msg::Resize(120, 35), now);
    let last = |app: &App| {
        text(&render(app, 120, 35))
            .lines()
            .last()
            .unwrap()
            .to_string()
    };
    let hints = last(&app);
    assert!(hints.contains("b bell on · m mouse on"), "{hints}");
    key(&mut app, KeyCode::Char('b'));
    key(&mut app, KeyCode::Char('m'));
    let hints = last(&app);
    assert!(hints.contains("b bell off · m mouse off"), "{hints}");
    // at 80 columns the hints are cut before them, at a whole word
    app.update(Msg::Resize(80, 24), now);
    let screen = text(&render(&app, 80, 24));
    let hints = screen.lines().last().unwrap();
    assert!(
        hints.trim_end().ends_with("b bell off · m mouse off"),
        "{hints}"
    );
}
