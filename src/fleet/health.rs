//! Is the state true, and what is wrong: the problems of a row, derived
//! from what the app knows of it (webhooks, `/status`, `/me`) and the time.
//! Pure functions; the table, the sort, the filters, the bell and the
//! footer's next step all read them, so they can never disagree.

use chrono::{DateTime, Duration, Utc};

use super::{HookCheck, Instance, Registration, StatusCheck};
use crate::model::ConnState;

/// The thresholds of the config that turn facts into problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// A disconnect not followed by a connect within this is an outage.
    pub alert_after: Duration,
    /// An instance that had traffic and is silent longer than this is a
    /// problem (`None`: off).
    pub silence_alert: Option<Duration>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            alert_after: Duration::seconds(60),
            silence_alert: None,
        }
    }
}

impl Rules {
    /// From the config's seconds (`silence_alert = 0` is off).
    pub fn from_secs(alert_after: u64, silence_alert: u64) -> Rules {
        let secs = |s: u64| Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        Rules {
            alert_after: secs(alert_after),
            silence_alert: (silence_alert > 0).then(|| secs(silence_alert)),
        }
    }
}

/// Since when the instance is down, if it is: the change time, or when
/// Z-API first said so (a status answer does not say since when).
pub fn down_since(inst: &Instance) -> Option<DateTime<Utc>> {
    if inst.state != ConnState::Disconnected {
        return None;
    }
    inst.last_change.or(match &inst.status {
        StatusCheck::Ok { at, .. } => Some(*at),
        _ => None,
    })
}

/// Down for longer than `alert_after`: an outage, since the disconnect.
pub fn outage_since(inst: &Instance, rules: &Rules, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    down_since(inst).filter(|since| now.signed_duration_since(*since) >= rules.alert_after)
}

/// Whether the clock alone will turn this row into an outage: it is down
/// since a known time and `alert_after` has not passed yet. (A row already
/// an outage, or down since an unknown time, keeps its rank as time goes.)
pub fn outage_pending(inst: &Instance, rules: &Rules, now: DateTime<Utc>) -> bool {
    down_since(inst).is_some_and(|since| now.signed_duration_since(since) < rules.alert_after)
}

/// What `/status` says, when it was asked after the newest state webhook
/// and disagrees with it: (webhook's state, Z-API's state).
pub fn disagreement(inst: &Instance) -> Option<(ConnState, ConnState)> {
    let (said, received) = inst.webhook_state?;
    let StatusCheck::Ok { at, status } = &inst.status else {
        return None;
    };
    let asked = if status.connected {
        ConnState::Connected
    } else {
        ConnState::Disconnected
    };
    (*at >= received && asked != said).then_some((said, asked))
}

/// Whether Z-API sends this instance's webhooks here, on the newest
/// evidence: a successful registration, or the URLs `/me` showed.
/// `None`: nothing known yet.
pub fn hooks_here(inst: &Instance) -> Option<bool> {
    let registered = match inst.registration {
        Registration::Ok(at) => Some(at),
        _ => None,
    };
    let checked = match &inst.hooks {
        HookCheck::Ok { at, hooks } => Some((*at, hooks.here)),
        _ => None,
    };
    match (registered, checked) {
        (Some(r), Some((c, here))) => Some(if c > r { here } else { true }),
        (Some(_), None) => Some(true),
        (None, Some((_, here))) => Some(here),
        (None, None) => None,
    }
}

/// Silent for longer than `silence_alert` after having had traffic: since
/// the last webhook of any type.
pub fn silent_since(inst: &Instance, rules: &Rules, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let limit = rules.silence_alert?;
    inst.last_activity
        .filter(|last| now.signed_duration_since(*last) > limit)
}

/// Drifted: the webhooks point elsewhere, or Z-API's status disagrees with
/// the webhooks (a zombie: the state shown may not be true).
pub fn drifted(inst: &Instance) -> bool {
    (inst.configured && hooks_here(inst) == Some(false)) || disagreement(inst).is_some()
}

/// How bad a row is, for "problems first": higher is worse.
pub fn rank(inst: &Instance, rules: &Rules, now: DateTime<Utc>) -> u8 {
    if acked(inst) {
        // known to be down: out of the problems, above the healthy rows
        1
    } else if outage_since(inst, rules, now).is_some() {
        6
    } else if inst.state == ConnState::Disconnected {
        5
    } else if disagreement(inst).is_some() {
        4
    } else if drifted(inst)
        || matches!(inst.registration, Registration::Failed(_))
        || silent_since(inst, rules, now).is_some()
    {
        3
    } else if matches!(inst.status, StatusCheck::Failed { .. }) {
        2
    } else if inst.state == ConnState::Unknown {
        1
    } else {
        0
    }
}

/// The operator acknowledged that this number is down (`a`), and it still is.
pub fn acked(inst: &Instance) -> bool {
    inst.acked.is_some() && inst.state == ConnState::Disconnected
}

/// A row counts as a problem (the header's count, the "down" filter's
/// neighbour): anything worse than "unknown".
pub fn is_problem(inst: &Instance, rules: &Rules, now: DateTime<Utc>) -> bool {
    rank(inst, rules, now) >= 2
}

/// What is wrong with a row short of its state: the webhooks and Z-API
/// disagree, the webhooks point elsewhere or nowhere, or it went silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warning {
    /// The last webhook said the first, `/status` the second.
    Disagree(ConnState, ConnState),
    NotRegistered,
    Elsewhere,
    /// No traffic for this long.
    Silent(chrono::Duration),
}

impl Warning {
    /// In words, for the detail pane and a wide table.
    pub fn long(self) -> String {
        match self {
            Warning::Disagree(said, asked) => {
                format!("webhook says {}, Z-API says {}", short(said), short(asked))
            }
            Warning::NotRegistered => "webhooks not registered".into(),
            Warning::Elsewhere => "webhook points elsewhere".into(),
            Warning::Silent(d) => format!("silent for {}", super::stats::short_duration(Some(d))),
        }
    }

    /// In a few words, for a narrow column: shortened, never cut.
    pub fn short(self) -> String {
        match self {
            Warning::Disagree(..) => "hook ≠ Z-API".into(),
            Warning::NotRegistered => "unregistered".into(),
            Warning::Elsewhere => "elsewhere".into(),
            Warning::Silent(d) => format!("silent {}", super::stats::short_duration(Some(d))),
        }
    }
}

/// The row's warning, when there is one: what disagrees, what points
/// elsewhere, how long it has been silent.
pub fn warning(inst: &Instance, rules: &Rules, now: DateTime<Utc>) -> Option<Warning> {
    if let Some((said, asked)) = disagreement(inst) {
        return Some(Warning::Disagree(said, asked));
    }
    if inst.configured && hooks_here(inst) == Some(false) {
        return Some(if inst.hooks.none_set() {
            Warning::NotRegistered
        } else {
            Warning::Elsewhere
        });
    }
    silent_since(inst, rules, now).map(|since| Warning::Silent(now.signed_duration_since(since)))
}

/// The row's warning in words ([`Warning::long`]), when there is one.
pub fn note(inst: &Instance, rules: &Rules, now: DateTime<Utc>) -> Option<String> {
    warning(inst, rules, now).map(Warning::long)
}

fn short(state: ConnState) -> &'static str {
    match state {
        ConnState::Connected => "up",
        ConnState::Disconnected => "down",
        ConnState::Unknown => "unknown",
    }
}

/// What to do next about this row, in words for the footer; `None` when
/// all is well. `keys` names the keys: (restore, restart, register, refresh).
pub fn next_step(
    inst: &Instance,
    rules: &Rules,
    now: DateTime<Utc>,
    keys: &StepKeys,
) -> Option<String> {
    let error = inst.last_error.as_deref().unwrap_or("").to_lowercase();
    let phone_offline = matches!(
        &inst.status,
        StatusCheck::Ok { status, .. } if status.smartphone_connected == Some(false)
    );
    let configured = inst.configured;
    if let Some(step) = account_step(inst, now) {
        return Some(step);
    }
    if disagreement(inst).is_some() {
        return Some(format!(
            "the webhooks and Z-API disagree: {} asks Z-API again; a missed webhook means its URL may be wrong",
            keys.refresh
        ));
    }
    if inst.state == ConnState::Disconnected {
        if error.contains("restore the session") {
            return Some(if configured {
                format!("Z-API asks for a session restore: press {}", keys.restore)
            } else {
                "Z-API asks for a session restore (add the instance to the config to do it here)"
                    .into()
            });
        }
        if phone_offline || error.contains("phone") || error.contains("smartphone") {
            return Some(
                "the phone is offline: check that it is on, has internet and WhatsApp open".into(),
            );
        }
        return Some(if configured {
            format!(
                "disconnected: {} restarts the instance; if it stays down, {} shows the QR code to link it again",
                keys.restart, keys.connect
            )
        } else {
            "disconnected: read the QR code in the Z-API panel (add the instance to the config to do it here)".into()
        });
    }
    if configured && hooks_here(inst) == Some(false) {
        let none = inst.hooks.none_set();
        return Some(if none {
            format!(
                "Z-API has no webhook URL for this instance: {} registers them here",
                keys.register
            )
        } else {
            format!(
                "Z-API sends this instance's webhooks elsewhere: {} re-registers them here",
                keys.register
            )
        });
    }
    if let Registration::Failed(_) = inst.registration {
        return Some(format!(
            "registration failed (see the Webhooks column): fix the cause, then {} again",
            keys.register
        ));
    }
    if silent_since(inst, rules, now).is_some() {
        return Some(format!(
            "no webhook for a while: {} asks Z-API whether it is still connected",
            keys.refresh
        ));
    }
    if inst.state == ConnState::Unknown && configured {
        return Some(format!("state unknown: {} asks Z-API", keys.refresh));
    }
    None
}

/// The next step the account's listing gives: the instance left the
/// account, or (when it is down) its subscription expired or is unpaid,
/// which no restart mends.
fn account_step(inst: &Instance, now: DateTime<Utc>) -> Option<String> {
    let listing = inst.listing.as_deref()?;
    if listing.mark == Some(super::ListingMark::Removed) {
        return Some(
            "removed from its Z-API account: it no longer exists there (it is forgotten at the next start)"
                .into(),
        );
    }
    if inst.state != ConnState::Disconnected {
        return None;
    }
    if listing.due.is_some_and(|due| due <= now) {
        return Some(
            "the instance's subscription expired: renew it in the Z-API panel (a restart does not help)"
                .into(),
        );
    }
    listing.unpaid().map(|status| {
        format!("payment status {status}: settle it in the Z-API panel (a restart does not help)")
    })
}

/// The keys the next step may name, as the keymap shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepKeys {
    pub restore: String,
    pub restart: String,
    pub register: String,
    pub refresh: String,
    pub connect: String,
}

impl Default for StepKeys {
    fn default() -> Self {
        StepKeys {
            restore: "e".into(),
            restart: "x".into(),
            register: "r".into(),
            refresh: "s".into(),
            connect: "c".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_down_row_short_of_alert_after_waits_to_become_an_outage() {
        let rules = Rules::default();
        let after = rules.alert_after.num_seconds();
        let down = inst(ConnState::Disconnected, Some(0));
        assert!(outage_pending(&down, &rules, t(after - 1)));
        assert!(!outage_pending(&down, &rules, t(after)), "an outage now");
        assert!(!outage_pending(
            &inst(ConnState::Connected, Some(0)),
            &rules,
            t(1)
        ));
        // down since an unknown time: the clock changes nothing
        assert!(!outage_pending(
            &inst(ConnState::Disconnected, None),
            &rules,
            t(1)
        ));
    }

    #[test]
    fn every_warning_has_a_short_form_under_15_columns() {
        use ConnState::{Connected, Disconnected};
        let all = [
            Warning::Disagree(Connected, Disconnected),
            Warning::NotRegistered,
            Warning::Elsewhere,
            Warning::Silent(chrono::Duration::hours(26)),
        ];
        for w in all {
            assert!(w.short().chars().count() <= 14, "{}", w.short());
            assert!(w.long().len() > w.short().len(), "{w:?}");
        }
        assert_eq!(
            Warning::Disagree(Connected, Disconnected).long(),
            "webhook says up, Z-API says down"
        );
    }
    use crate::fleet::{Hooks, Source};
    use crate::model::InstanceId;
    use crate::model::Status;
    use chrono::TimeZone as _;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_000_000 + s, 0).unwrap()
    }

    fn inst(state: ConnState, last_change: Option<i64>) -> Instance {
        let mut i = Instance::new(InstanceId::new("I"), None, true);
        i.state = state;
        i.last_change = last_change.map(t);
        i.source = Some(Source::Webhook);
        i
    }

    #[test]
    fn outage_starts_at_alert_after_and_needs_a_disconnect() {
        let rules = Rules::default();
        let down = inst(ConnState::Disconnected, Some(0));
        assert_eq!(outage_since(&down, &rules, t(59)), None);
        assert_eq!(outage_since(&down, &rules, t(60)), Some(t(0)));
        assert_eq!(
            outage_since(&inst(ConnState::Connected, Some(0)), &rules, t(999)),
            None
        );
        assert_eq!(
            outage_since(&inst(ConnState::Unknown, None), &rules, t(999)),
            None
        );
        // alert_after = 0: at once
        let now_rules = Rules::from_secs(0, 0);
        assert_eq!(outage_since(&down, &now_rules, t(0)), Some(t(0)));
        // a disconnect "in the future" (Z-API's clock ahead) is not an outage yet
        let ahead = inst(ConnState::Disconnected, Some(100));
        assert_eq!(outage_since(&ahead, &rules, t(50)), None);
        // down by /status with no change time: since that answer
        let mut polled = inst(ConnState::Disconnected, None);
        polled.status = StatusCheck::Ok {
            at: t(10),
            status: Status {
                connected: false,
                error: None,
                smartphone_connected: None,
            },
        };
        assert_eq!(outage_since(&polled, &rules, t(70)), Some(t(10)));
        assert_eq!(
            outage_since(&inst(ConnState::Disconnected, None), &rules, t(70)),
            None
        );
    }

    #[test]
    fn the_newest_evidence_says_where_the_hooks_point() {
        let mut i = inst(ConnState::Connected, Some(0));
        assert_eq!(hooks_here(&i), None);
        i.hooks = HookCheck::Ok {
            at: t(10),
            hooks: Box::new(Hooks::default()),
        };
        assert_eq!(hooks_here(&i), Some(false));
        i.registration = Registration::Ok(t(20));
        assert_eq!(hooks_here(&i), Some(true), "registered after the check");
        i.hooks = HookCheck::Ok {
            at: t(30),
            hooks: Box::new(Hooks::default()),
        };
        assert_eq!(hooks_here(&i), Some(false), "someone changed them since");
        assert!(drifted(&i));
        // not configured: not ours to fix, not drift
        i.configured = false;
        assert!(!drifted(&i));
    }

    #[test]
    fn ranks_order_the_problems() {
        let rules = Rules::default();
        let outage = inst(ConnState::Disconnected, Some(0));
        let down = inst(ConnState::Disconnected, Some(100));
        let up = inst(ConnState::Connected, Some(0));
        let unknown = inst(ConnState::Unknown, None);
        let now = t(120);
        assert!(rank(&outage, &rules, now) > rank(&down, &rules, now));
        assert!(rank(&down, &rules, now) > rank(&unknown, &rules, now));
        assert!(rank(&unknown, &rules, now) > rank(&up, &rules, now));
        assert!(is_problem(&down, &rules, now) && !is_problem(&unknown, &rules, now));
    }

    #[test]
    fn next_steps_follow_zapi_errors() {
        let rules = Rules::default();
        let keys = StepKeys::default();
        let mut i = inst(ConnState::Disconnected, Some(0));
        i.last_error = Some("You need to restore the session.".into());
        assert!(
            next_step(&i, &rules, t(1), &keys)
                .unwrap()
                .contains("press e")
        );
        i.last_error = Some("You are not connected.".into());
        i.status = StatusCheck::Ok {
            at: t(0),
            status: Status {
                connected: false,
                error: None,
                smartphone_connected: Some(false),
            },
        };
        i.webhook_state = None;
        assert!(
            next_step(&i, &rules, t(1), &keys)
                .unwrap()
                .contains("phone is offline")
        );
        i.status = StatusCheck::Never;
        assert!(
            next_step(&i, &rules, t(1), &keys)
                .unwrap()
                .contains("x restarts")
        );
        assert_eq!(
            next_step(&inst(ConnState::Connected, Some(0)), &rules, t(1), &keys),
            None
        );
    }
}
