//! The next step for a row, as the footer and the detail pane say it: the
//! fleet's advice ([`health::next_step`]), except that it never proposes
//! the call that just failed without saying it failed, why, and what to
//! check first (`s failed 14:03 (connection refused): check api_base and
//! the network, then s`).

use super::zapi_link::{short_reason_text, what_to_check};
use super::*;
use crate::fleet::health::StepKeys;

/// A call of the row's whose last try failed: its key, when (if known)
/// and the short reason.
struct Failed {
    key: String,
    at: Option<DateTime<Utc>>,
    reason: String,
}

impl App {
    /// The keys the next step names, as the keymap has them.
    pub fn step_keys(&self) -> StepKeys {
        let keys = &self.settings.keys;
        StepKeys {
            restore: keys.keys_of(Action::Restore),
            restart: keys.keys_of(Action::Restart),
            register: keys.keys_of(Action::Register),
            refresh: keys.keys_of(Action::Refresh),
            connect: keys.keys_of(Action::Connect),
        }
    }

    /// What to do next about `inst`, in words; `None` when all is well.
    pub fn next_step(&self, inst: &Instance) -> Option<String> {
        let keys = self.step_keys();
        let step = health::next_step(inst, &self.settings.rules, self.now, &keys)?;
        let failed = failed_calls(inst, &keys)
            .into_iter()
            .find(|f| names_key(&step, &f.key));
        let Some(f) = failed else {
            return Some(step);
        };
        let at =
            f.at.map(|t| format!(" {}", self.setup.tz.format(t, "%H:%M")))
                .unwrap_or_default();
        Some(format!(
            "{key} failed{at} ({reason}): {check}, then {key}",
            key = f.key,
            reason = f.reason,
            check = what_to_check(&f.reason),
        ))
    }
}

/// The row's calls whose last try failed, with the keys that make them.
fn failed_calls(inst: &Instance, keys: &StepKeys) -> Vec<Failed> {
    let mut out = Vec::new();
    if let StatusCheck::Failed { at, error } = &inst.status {
        out.push(Failed {
            key: keys.refresh.clone(),
            at: Some(*at),
            reason: short_reason_text(error),
        });
    }
    if let Some(a) = &inst.action
        && let CallResult::Failed(error) = &a.state
    {
        out.push(Failed {
            key: match a.action {
                InstanceAction::Restart => keys.restart.clone(),
                InstanceAction::Restore => keys.restore.clone(),
            },
            at: None,
            reason: short_reason_text(error),
        });
    }
    if let Registration::Failed(error) = &inst.registration {
        out.push(Failed {
            key: keys.register.clone(),
            at: None,
            reason: short_reason_text(error),
        });
    }
    out
}

/// `step` names `key` as a word of its own (`s asks Z-API`, `press e`).
fn names_key(step: &str, key: &str) -> bool {
    if key.is_empty() {
        return false;
    }
    step.match_indices(key).any(|(i, _)| {
        let before = step[..i].chars().next_back();
        let after = step[i + key.len()..].chars().next();
        before.is_none_or(|c| c == ' ')
            && after.is_none_or(|c| c == ' ' || c == ',' || c == ';' || c == ':' || c == '.')
    })
}

#[cfg(test)]
mod tests {
    use super::names_key;

    #[test]
    fn a_key_is_named_as_a_word_only() {
        assert!(names_key("state unknown: s asks Z-API", "s"));
        assert!(names_key("Z-API asks for a session restore: press e", "e"));
        assert!(!names_key("the phone is offline: check it is on", "s"));
        assert!(!names_key("restarts", "x"));
        assert!(names_key("disconnected: ctrl-r / x restarts", "x"));
    }
}
