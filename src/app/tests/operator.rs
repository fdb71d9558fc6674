//! The operator's view: keys, sort, filter, marks, confirmations, detail, mouse, bell, alerts.

use super::*;

#[test]
fn quit_keys_and_help() {
    assert_eq!(app(1).update(ch('q'), t(0)), vec![Command::Quit]);
    let ctrl_c = Msg::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    assert_eq!(app(1).update(ctrl_c.clone(), t(0)), vec![Command::Quit]);

    let mut a = app(3);
    a.update(key(KeyCode::Char('?')), t(0));
    assert!(a.overlays.show_help);
    a.update(key(KeyCode::Char('j')), t(0));
    assert_eq!(a.view.selected, 0, "keys do not act behind the help");
    a.update(key(KeyCode::Esc), t(0));
    assert!(
        !a.overlays.show_help,
        "Esc closes help rather than quitting"
    );
    a.update(key(KeyCode::Char('?')), t(0));
    assert_eq!(a.update(ctrl_c, t(0)), vec![Command::Quit]);
}

#[test]
fn key_release_is_ignored() {
    let mut a = app(1);
    let mut k = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
    k.kind = KeyEventKind::Release;
    k.state = KeyEventState::NONE;
    assert!(a.update(Msg::Key(k), t(0)).is_empty());
}

#[test]
fn history_is_bounded() {
    let mut a = app(1);
    for s in 0..(HISTORY_LEN as i64 + 25) {
        a.update(down("I0", s, "x"), t(s));
    }
    let i = inst(&a, "I0");
    assert_eq!(i.history.len(), HISTORY_LEN);
    assert_eq!(i.history.back().unwrap().moment, t(HISTORY_LEN as i64 + 24));
}

#[test]
fn problems_sort_first_and_o_cycles_the_sort() {
    let mut a = app(4);
    a.update(up("I0", 100), t(100));
    a.update(up("I1", 100), t(100));
    a.update(down("I2", 100, "x"), t(100)); // will be an outage
    a.update(down("I3", 150, "y"), t(150)); // down, not yet an outage
    a.update(Msg::Tick, t(170));
    assert_eq!(
        labels(&a),
        ["I2", "I3", "I0", "I1"],
        "outage, down, then up"
    );
    assert_eq!(a.view.problems, 2);
    a.update(ch('o'), t(171));
    assert_eq!(a.view.sort, SortKey::Name);
    assert_eq!(labels(&a), ["I0", "I1", "I2", "I3"]);
    a.update(ch('o'), t(172));
    assert_eq!(a.view.sort, SortKey::Disconnects);
    a.update(ch('o'), t(173));
    assert_eq!(a.view.sort, SortKey::LastChange);
    assert_eq!(labels(&a)[0], "I3", "the most recent change first");
    a.update(ch('o'), t(174));
    assert_eq!(a.view.sort, SortKey::Problems);
}

#[test]
fn selection_follows_its_instance_when_the_order_changes() {
    let mut a = app(3);
    a.update(key(KeyCode::End), t(0));
    assert_eq!(a.selected_instance().unwrap().id.as_str(), "I2");
    a.update(down("I2", 10, "x"), t(10));
    a.prepare();
    assert_eq!(labels(&a)[0], "I2");
    assert_eq!(
        a.selected_instance().unwrap().id.as_str(),
        "I2",
        "still on I2 after it moved to the top"
    );
}

/// The demo at 80×24 opened scrolled down: the untouched selection
/// followed the first instance, which sorted to the bottom while the other
/// rows were still unknown, and the window scrolled after it and stayed.
#[test]
fn an_untouched_selection_stays_on_the_top_row_so_the_table_opens_at_the_top() {
    let mut a = app(20);
    a.update(Msg::Resize(80, 24), t(0));
    let page = a.page_rows();
    assert!(page < 20, "rows are hidden at this size");
    // I0 answers first: connected, below the 19 unknown rows
    a.update(up("I0", 1), t(1));
    a.prepare();
    assert_eq!((a.view.selected, a.view.offset), (0, 0));
    // then the others: I5 down goes to the top, the rest connected
    for i in 1..20 {
        let id = format!("I{i}");
        if i == 5 {
            a.update(down(&id, 2, "x"), t(2));
        } else {
            a.update(up(&id, 2), t(2));
        }
    }
    a.prepare();
    assert_eq!((a.view.selected, a.view.offset), (0, 0), "opens at the top");
    assert_eq!(a.selected_instance().unwrap().id.as_str(), "I5");
    // once the operator moves, the selection follows its instance
    a.update(key(KeyCode::Down), t(3));
    let chosen = a.selected_instance().unwrap().id.clone();
    a.update(down("I0", 4, "y"), t(4));
    a.prepare();
    assert_eq!(a.selected_instance().unwrap().id, chosen);
}

#[test]
fn slash_filters_as_you_type_and_esc_clears() {
    let mut a = app(12);
    a.update(down("I3", 10, "You need to restore the session."), t(10));
    a.update(ch('/'), t(11));
    assert!(a.view.searching);
    for c in "name 1".chars() {
        a.update(ch(c), t(11));
    }
    // "Name 1", "Name 10", "Name 11"
    assert_eq!(a.view.order.len(), 3, "{:?}", labels(&a));
    a.update(key(KeyCode::Backspace), t(11));
    a.update(key(KeyCode::Backspace), t(11));
    assert_eq!(a.view.order.len(), 12, "\"name \" matches all");
    a.update(key(KeyCode::Esc), t(12));
    assert!(!a.view.searching && a.view.search.is_empty());
    // by error text, and Enter keeps the filter while keys act again
    a.update(ch('/'), t(13));
    for c in "RESTORE".chars() {
        a.update(ch(c), t(13));
    }
    a.update(key(KeyCode::Enter), t(13));
    assert_eq!(labels(&a), ["I3"]);
    assert!(!a.view.searching);
    a.update(ch('j'), t(13));
    assert_eq!(a.view.selected, 0);
    // `/` on a kept filter starts a new one, and the prompt names the old
    a.update(ch('/'), t(14));
    assert!(a.view.search.is_empty(), "a new filter");
    assert_eq!(a.view.replaced_search, "RESTORE");
    assert_eq!(a.view.order.len(), 12, "all rows while it is empty");
    // typing q into the filter does not quit
    assert!(a.update(ch('q'), t(14)).is_empty());
    assert_eq!(a.view.search, "q");
    assert!(a.view.order.is_empty(), "nothing matches");
    // Esc while typing clears; Esc again (no filter, no marks) does nothing
    a.update(key(KeyCode::Esc), t(14));
    assert_eq!(a.view.order.len(), 12);
    assert!(a.view.replaced_search.is_empty());
    assert!(
        a.update(key(KeyCode::Esc), t(14)).is_empty(),
        "Esc never quits"
    );
}

#[test]
fn f_cycles_the_state_filter() {
    let mut a = app(4);
    a.update(up("I0", 10), t(10));
    a.update(down("I1", 10, "x"), t(10));
    a.update(
        Msg::HooksResult {
            id: InstanceId::new("I2"),
            result: Ok(hooks(false)),
        },
        t(11),
    );
    a.update(ch('f'), t(12));
    assert_eq!(a.view.state_filter, StateFilter::Down);
    assert_eq!(labels(&a), ["I1"]);
    a.update(ch('f'), t(12));
    assert_eq!(labels(&a), ["I0"]);
    a.update(ch('f'), t(12));
    assert_eq!(a.view.state_filter, StateFilter::Drifted);
    assert_eq!(labels(&a), ["I2"]);
    a.update(ch('f'), t(12));
    assert_eq!(a.view.order.len(), 4);
}

#[test]
fn restart_asks_first_and_sends_nothing_before_y() {
    let mut a = app(2);
    assert!(a.update(ch('x'), t(1)).is_empty());
    let c = a.overlays.confirm.clone().expect("a confirmation popup");
    assert_eq!(c.action, InstanceAction::Restart);
    assert_eq!(c.targets, vec![InstanceId::new("I0")]);
    // other keys do nothing while it is open
    assert!(a.update(ch('j'), t(1)).is_empty());
    assert!(
        a.update(ch('q'), t(1)).is_empty(),
        "q does not quit behind it"
    );
    assert_eq!(a.view.selected, 0);
    assert!(a.update(ch('n'), t(1)).is_empty());
    assert!(a.overlays.confirm.is_none());
    assert!(a.fleet.instances.iter().all(|i| i.action.is_none()));
    // Esc cancels too
    a.update(ch('e'), t(2));
    assert!(a.update(key(KeyCode::Esc), t(2)).is_empty());
    assert!(a.overlays.confirm.is_none());
    // y sends it
    a.update(ch('e'), t(3));
    assert_eq!(
        a.update(ch('y'), t(3)),
        vec![Command::Act(InstanceId::new("I0"), InstanceAction::Restore)]
    );
    assert_eq!(
        inst(&a, "I0").action.as_deref().map(|o| &o.state),
        Some(&CallResult::Pending)
    );
    a.update(
        Msg::ActionResult {
            id: InstanceId::new("I0"),
            action: InstanceAction::Restore,
            result: Err(http_err(400, "Instance not found")),
        },
        t(4),
    );
    assert_eq!(
        inst(&a, "I0").action.as_deref().map(|o| &o.state),
        Some(&CallResult::Failed("HTTP 400: Instance not found".into()))
    );
    let n = a.ops.notice.clone().unwrap();
    assert_eq!(n.level, Level::Error);
    assert!(n.text.contains("Instance not found"), "{}", n.text);
}

#[test]
fn space_marks_rows_and_actions_take_the_marks() {
    let mut a = app(4);
    a.update(ch(' '), t(0)); // marks I0, moves to I1
    a.update(ch('j'), t(0));
    a.update(ch(' '), t(0)); // marks I2
    assert_eq!(a.view.marked.len(), 2);
    a.update(ch('x'), t(1));
    assert_eq!(
        a.overlays.confirm.as_ref().unwrap().targets,
        vec![InstanceId::new("I0"), InstanceId::new("I2")]
    );
    let cmds = a.update(ch('y'), t(1));
    assert_eq!(
        cmds,
        vec![
            Command::Act(InstanceId::new("I0"), InstanceAction::Restart),
            Command::Act(InstanceId::new("I2"), InstanceAction::Restart),
        ]
    );
    assert!(a.view.marked.is_empty(), "the marks are used up");
    // R with marks registers the marked
    a.update(key(KeyCode::Home), t(2));
    a.update(ch(' '), t(2));
    a.update(ch(' '), t(2));
    let cmds = a.update(ch('R'), t(2));
    assert_eq!(
        cmds,
        vec![
            Command::Register(InstanceId::new("I0")),
            Command::Register(InstanceId::new("I1"))
        ]
    );
    assert_eq!(a.ops.register_batch.unwrap().total, 2);
    // space again unmarks
    let mut b = app(2);
    b.update(ch(' '), t(0));
    b.update(key(KeyCode::Home), t(0));
    b.update(ch(' '), t(0));
    assert!(b.view.marked.is_empty());
}

#[test]
fn big_r_takes_the_drifted_and_ctrl_r_takes_all() {
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
    // I0 points here; I1 elsewhere; I2 never checked
    assert_eq!(
        a.update(ch('R'), t(2)),
        vec![
            Command::Register(InstanceId::new("I1")),
            Command::Register(InstanceId::new("I2"))
        ]
    );
    for id in ["I1", "I2"] {
        a.update(
            Msg::RegisterResult {
                id: InstanceId::new(id),
                result: Ok(()),
            },
            t(3),
        );
    }
    assert!(
        a.ops
            .notice
            .as_ref()
            .unwrap()
            .text
            .contains("register: 2 registered, 0 failed; 1 instance already pointed here"),
        "{:?}",
        a.ops.notice
    );
    assert!(a.update(ch('R'), t(4)).is_empty(), "all point here now");
    assert!(a.ops.notice.as_ref().unwrap().text.contains("forces all"));
    assert_eq!(a.update(ctrl('r'), t(5)).len(), 3);
}

#[test]
fn me_pointing_elsewhere_is_drift_with_words_and_a_next_step() {
    let mut a = app(1);
    a.update(up("I0", 1), t(1));
    a.update(
        Msg::HooksResult {
            id: InstanceId::new("I0"),
            result: Ok(hooks(false)),
        },
        t(2),
    );
    let i = inst(&a, "I0");
    assert!(health::drifted(i));
    assert_eq!(
        health::note(i, &a.settings.rules, a.now).as_deref(),
        Some("webhook points elsewhere")
    );
    let step = health::next_step(i, &a.settings.rules, a.now, &health::StepKeys::default());
    assert!(step.unwrap().contains("r re-registers"));
    // a registration after the check settles it
    a.update(ch('r'), t(3));
    a.update(
        Msg::RegisterResult {
            id: InstanceId::new("I0"),
            result: Ok(()),
        },
        t(4),
    );
    assert!(!health::drifted(inst(&a, "I0")));
}

#[test]
fn webhook_and_status_disagreeing_is_a_zombie() {
    let mut a = app(1);
    a.update(up("I0", 10), t(10));
    a.update(
        Msg::StatusResult {
            id: InstanceId::new("I0"),
            result: Ok(status(false, Some("You are not connected."))),
        },
        t(20),
    );
    a.update(Msg::Tick, t(21));
    let i = inst(&a, "I0");
    assert_eq!(
        health::note(i, &a.settings.rules, a.now).as_deref(),
        Some("webhook says up, Z-API says down")
    );
    assert!(health::is_problem(i, &a.settings.rules, a.now));
    assert_eq!(a.view.problems, 1);
    // a newer webhook than the status answer is not a disagreement
    a.update(down("I0", 30, "x"), t(30));
    assert_eq!(health::disagreement(inst(&a, "I0")), None);
}

#[test]
fn silence_longer_than_silence_alert_is_a_problem() {
    let mut a = app(1);
    a.configure(Settings {
        rules: Rules::from_secs(60, 300),
        ..Settings::default()
    });
    a.update(up("I0", 0), t(0));
    a.update(Msg::Tick, t(300));
    assert!(!health::is_problem(
        inst(&a, "I0"),
        &a.settings.rules,
        a.now
    ));
    a.update(Msg::Tick, t(301));
    let i = inst(&a, "I0");
    assert_eq!(
        health::note(i, &a.settings.rules, a.now).as_deref(),
        Some(
            format!(
                "silent for {}",
                crate::fleet::stats::short_duration(Some(chrono::Duration::seconds(301)))
            )
            .as_str()
        )
    );
    assert_eq!(a.view.problems, 1);
}

#[test]
fn a_new_outage_rings_the_bell_once_and_b_turns_it_off() {
    let mut a = app(2);
    // an outage already under way at start is not new
    a.update(down("I1", 0, "old"), t(0));
    a.update(Msg::Tick, t(1000));
    a.init();
    assert!(!a.update(Msg::Tick, t(1001)).contains(&Command::Bell));
    a.update(down("I0", 1002, "x"), t(1002));
    assert!(
        !a.update(Msg::Tick, t(1061)).contains(&Command::Bell),
        "59 s: not yet"
    );
    assert!(
        a.update(Msg::Tick, t(1062)).contains(&Command::Bell),
        "60 s: an outage"
    );
    assert!(
        !a.update(Msg::Tick, t(1063)).contains(&Command::Bell),
        "once"
    );
    // back up, down again: a new outage; but the bell is off now
    a.update(up("I0", 1100), t(1100));
    a.update(down("I0", 1101, "x"), t(1101));
    a.update(ch('b'), t(1102));
    assert!(!a.switches.bell);
    assert!(!a.update(Msg::Tick, t(1200)).contains(&Command::Bell));
    assert!(inst(&a, "I0").outage_announced);
}

#[test]
fn polls_are_spread_over_the_interval() {
    let mut a = app(4);
    a.configure(Settings {
        poll_interval: std::time::Duration::from_secs(60),
        ..Settings::default()
    });
    assert_eq!(a.init().len(), 4, "everyone asked at start");
    for id in ["I0", "I1", "I2", "I3"] {
        a.update(
            Msg::StatusResult {
                id: InstanceId::new(id),
                result: Ok(status(true, None)),
            },
            t(0),
        );
    }
    a.take_quiet();
    let mut polled = Vec::new();
    for s in 1..=60 {
        let cmds = a.update(Msg::Tick, t(s));
        let quiet = a.take_quiet();
        if s > 1 && s < 60 && !cmds.is_empty() {
            // a poll sent changes nothing on the table: no frame for it
            // (the first tick draws: the uptime was — at t(0); at 60 the
            // minute turns)
            assert!(quiet, "a tick that only polls draws nothing");
        }
        for cmd in cmds {
            if let Command::FetchStatus(id) = cmd {
                polled.push((s, id.to_string()));
                a.update(
                    Msg::StatusResult {
                        id,
                        result: Ok(status(true, None)),
                    },
                    t(s),
                );
                assert!(
                    a.take_quiet(),
                    "an answer that repeats the row draws nothing"
                );
            }
        }
    }
    let ids: HashSet<&str> = polled.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(polled.len(), 4, "each once per interval: {polled:?}");
    assert_eq!(ids.len(), 4);
    let secs: HashSet<i64> = polled.iter().map(|(s, _)| *s).collect();
    assert_eq!(secs.len(), 4, "at four different seconds: {polled:?}");
}

#[test]
fn state_changes_ask_for_the_alert_commands_configured() {
    let mut a = app(1);
    assert!(
        a.update(down("I0", 1, "x"), t(1)).is_empty(),
        "none configured"
    );
    a.configure(Settings {
        alerts: (true, false),
        ..Settings::default()
    });
    assert!(a.update(up("I0", 2), t(2)).is_empty(), "no on_connect");
    let cmds = a.update(down("I0", 3, "Device has been disconnected"), t(3));
    match cmds.as_slice() {
        [Command::Alert { event, name }] => {
            assert_eq!(name, "Name 0");
            assert_eq!(event.moment, t(3));
            assert!(
                matches!(&event.kind, EventKind::Disconnected { error: Some(e) } if e == "Device has been disconnected")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        a.update(down("I0", 4, "again"), t(4)).is_empty(),
        "no change of state, no alert"
    );
    assert!(
        a.update(up("I0", 0), t(5)).is_empty(),
        "a late, older event changes nothing"
    );
    a.update(
        Msg::AlertFailed {
            id: InstanceId::new("I0"),
            error: "exited with code 7".into(),
        },
        t(6),
    );
    let n = a.ops.background.clone().unwrap();
    assert_eq!(n.level, Level::Error);
    assert!(n.text.contains("Name 0") && n.text.contains("code 7"));
}

/// A change seen by a `/status` answer runs the alert once: the webhook
/// that tells the same outage afterwards runs nothing more; an answer about
/// a row that was unknown is not news.
#[test]
fn a_status_answer_that_sees_a_number_drop_runs_the_alert_once() {
    let mut a = app(1);
    a.configure(Settings {
        alerts: (true, true),
        ..Settings::default()
    });
    let status = |connected: bool, error: Option<&str>| Msg::StatusResult {
        id: InstanceId::new("I0"),
        result: Ok(Status {
            connected,
            error: error.map(String::from),
            smartphone_connected: None,
        }),
    };
    assert!(
        a.update(status(true, None), t(1)).is_empty(),
        "unknown -> connected is not news"
    );
    let cmds = a.update(status(false, Some("You are not connected.")), t(2));
    match cmds.as_slice() {
        [Command::Alert { event, name }] => {
            assert_eq!(name, "Name 0");
            assert_eq!(event.moment, t(2), "seen when it was asked");
            assert!(
                matches!(&event.kind, EventKind::Disconnected { error: Some(e) } if e == "You are not connected.")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        a.update(down("I0", 3, "x"), t(3)).is_empty(),
        "the webhook of the same outage runs nothing more"
    );
    assert!(a.update(status(false, None), t(4)).is_empty());
    let back = a.update(status(true, None), t(5));
    assert!(
        matches!(back.as_slice(), [Command::Alert { event, .. }] if matches!(event.kind, EventKind::Connected { .. })),
        "{back:?}"
    );
}

#[test]
fn enter_opens_the_detail_with_history_from_the_log() {
    let mut a = app(2);
    a.update(ch('j'), t(0));
    assert_eq!(
        a.update(key(KeyCode::Enter), t(1)),
        vec![
            Command::LoadHistory(InstanceId::new("I1")),
            Command::FetchDevice(InstanceId::new("I1"))
        ]
    );
    assert_eq!(
        a.overlays.detail.as_ref().unwrap().history,
        DetailHistory::Loading
    );
    let old = |m: i64| Event {
        instance_id: InstanceId::new("I1"),
        kind: EventKind::Connected { phone: None },
        moment: t(m),
        received: t(m),
    };
    a.update(
        Msg::History {
            id: InstanceId::new("I1"),
            result: Ok((0..30).rev().map(old).collect()),
        },
        t(2),
    );
    // an event the log read had already is not shown twice
    a.update(Msg::Webhook(old(29)), t(99));
    // a live event goes on top
    a.update(down("I1", 100, "x"), t(100));
    let Some(DetailHistory::Loaded(events)) = a.overlays.detail.as_ref().map(|d| d.history.clone())
    else {
        panic!("loaded");
    };
    assert_eq!(events.len(), 31);
    assert_eq!(events[0].moment, t(100));
    // movement scrolls the history, bounded: End shows the last full page
    // (of the rows the view last had room for)
    a.overlays.detail.as_ref().unwrap().history_rows.set(10);
    a.update(key(KeyCode::End), t(101));
    assert_eq!(a.overlays.detail.as_ref().unwrap().scroll, 21);
    a.update(ch('j'), t(101));
    assert_eq!(a.overlays.detail.as_ref().unwrap().scroll, 21);
    a.update(ch('g'), t(101));
    assert_eq!(a.overlays.detail.as_ref().unwrap().scroll, 0);
    assert_eq!(
        a.selected_instance().unwrap().id.as_str(),
        "I1",
        "the table's selection stayed on the instance"
    );
    // a history for another instance is not ours
    a.update(
        Msg::History {
            id: InstanceId::new("I0"),
            result: Err("nope".into()),
        },
        t(102),
    );
    assert!(matches!(
        a.overlays.detail.as_ref().unwrap().history,
        DetailHistory::Loaded(_)
    ));
    // x in the detail acts on this instance
    a.update(ch('x'), t(103));
    assert_eq!(
        a.overlays.confirm.as_ref().unwrap().targets,
        vec![InstanceId::new("I1")]
    );
    a.update(ch('n'), t(103));
    assert!(
        a.update(key(KeyCode::Esc), t(104)).is_empty(),
        "Esc closes, not quits"
    );
    assert!(a.overlays.detail.is_none());
}

#[test]
fn mouse_wheel_click_and_double_click() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mouse = |kind, row| {
        Msg::Mouse(MouseEvent {
            kind,
            column: 10,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    let mut a = app(30);
    a.update(Msg::Resize(80, 24), t(0));
    let first_row = layout::HEADER_LINES + 2;
    a.update(mouse(MouseEventKind::ScrollDown, 5), t(0));
    assert_eq!(a.view.selected, 3);
    a.update(mouse(MouseEventKind::ScrollUp, 5), t(0));
    assert_eq!(a.view.selected, 0);
    a.update(
        mouse(MouseEventKind::Down(MouseButton::Left), first_row + 4),
        t(1),
    );
    assert_eq!(a.view.selected, 4);
    assert!(a.overlays.detail.is_none());
    // a click on the border or the header selects nothing
    a.update(mouse(MouseEventKind::Down(MouseButton::Left), 0), t(5));
    assert_eq!(a.view.selected, 4);
    // two clicks on one row, quickly: the detail
    let at = Utc.timestamp_millis_opt(1_764_000_010_000).unwrap();
    a.update(
        mouse(MouseEventKind::Down(MouseButton::Left), first_row + 2),
        at,
    );
    let cmds = a.update(
        mouse(MouseEventKind::Down(MouseButton::Left), first_row + 2),
        at + chrono::Duration::milliseconds(200),
    );
    assert_eq!(
        cmds,
        vec![
            Command::LoadHistory(InstanceId::new("I2")),
            Command::FetchDevice(InstanceId::new("I2"))
        ]
    );
    a.update(key(KeyCode::Esc), t(20));
    // m turns capture off: the app ignores the mouse, the loop releases it
    assert_eq!(a.update(ch('m'), t(21)), vec![Command::MouseCapture(false)]);
    a.update(mouse(MouseEventKind::ScrollDown, 5), t(21));
    assert_eq!(a.view.selected, 2);
    assert_eq!(a.update(ch('m'), t(22)), vec![Command::MouseCapture(true)]);
}

#[test]
fn remapped_keys_are_the_ones_in_effect() {
    let table: toml::Table = toml::from_str("restart = \"X\"\nquit = [\"Q\"]").unwrap();
    let mut a = app(2);
    a.configure(Settings {
        keys: Keymap::from_table(&table).unwrap(),
        ..Settings::default()
    });
    assert!(a.update(ch('x'), t(0)).is_empty());
    assert!(a.overlays.confirm.is_none(), "x is no longer restart");
    assert!(a.update(ch('q'), t(0)).is_empty(), "q no longer quits");
    a.update(ch('X'), t(0));
    assert_eq!(
        a.overlays.confirm.as_ref().unwrap().action,
        InstanceAction::Restart
    );
    a.update(ch('n'), t(0));
    assert_eq!(a.update(ch('Q'), t(0)), vec![Command::Quit]);
    let help = layout::help_lines(&a);
    assert!(
        help.iter()
            .any(|(k, what)| k == "X" && what.contains("restart"))
    );
    assert!(help.iter().any(|(k, what)| k == "Q" && what == "quit"));
}

#[test]
fn changes_before_the_stats_window_still_tell_the_state_it_opens_with() {
    let mut a = app(1);
    let month = 30 * 86_400;
    // connected a month ago, down for an hour 20 days ago, nothing since
    a.update(up("I0", 0), t(month));
    a.update(down("I0", 10 * 86_400, "x"), t(month));
    a.update(up("I0", 10 * 86_400 + 3600), t(month));
    a.update(Msg::Tick, t(month));
    let i = inst(&a, "I0");
    let day_ago = t(month - 86_400);
    assert_eq!(i.transitions.uptime(day_ago, t(month)), Some(1.0));
    assert_eq!(
        i.transitions.disconnects(t(0), t(month)),
        0,
        "old ones are not kept"
    );
    assert!(!i.transitions.unsettled());
    assert_eq!(i.transitions.len(), 1, "one entry tells it all");
}
