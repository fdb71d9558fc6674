//! The confirmation popup of a restart or a session restore: what will be
//! sent, to which instances (each with its state), a warning when some of
//! them are connected; nothing is sent before `y`.

use ratatui::Frame;
use ratatui::layout::Rect;

use ratatui::text::{Line, Span};

use super::fit;
use super::popup::{self, Popup};
use crate::app::{App, Confirm};
use crate::fleet::InstanceAction;
use crate::model::ConnState;
use crate::words::{count, count_of};

/// Instances listed in the popup at most (a short terminal lists fewer);
/// the rest are counted.
const NAMED: usize = 8;

/// The warning when the action would hit connected numbers: `connected` of
/// the `n` targets are.
pub fn connected_warning(action: InstanceAction, connected: usize, n: usize) -> Option<String> {
    if connected == 0 {
        return None;
    }
    let who = if n == 1 {
        "it is connected".to_string()
    } else {
        format!(
            "{connected} of them {} connected",
            count_of(connected, "is", "are")
        )
    };
    let them = count_of(connected, "it", "them");
    Some(match action {
        InstanceAction::Restart => {
            format!("⚠ {who}: restarting drops {them} from WhatsApp for ~30 s")
        }
        InstanceAction::Restore => {
            format!("⚠ {who}: restoring the session may drop {them} from WhatsApp for a while")
        }
    })
}

pub fn draw(app: &App, confirm: &Confirm, frame: &mut Frame, area: Rect) {
    let n = confirm.targets.len();
    let (verb, call, effect) = match confirm.action {
        InstanceAction::Restart => (
            "Restart",
            "GET …/restart",
            "The instance drops its WhatsApp connection and reconnects.",
        ),
        InstanceAction::Restore => (
            "Restore the session of",
            "GET …/restore-session",
            "Z-API tries to bring the WhatsApp session back without a new QR code.",
        ),
    };
    let rows: Vec<_> = confirm.targets.iter().map(|id| (id, app.get(id))).collect();
    let connected = rows
        .iter()
        .filter(|(_, i)| i.is_some_and(|i| i.state == ConnState::Connected))
        .count();
    // the state is never cut: a narrow terminal shortens the names
    let room = usize::from(area.width).saturating_sub(4 + 5 + 2 + 14);
    let label_w = rows
        .iter()
        .map(|(id, i)| i.map_or(id.as_str(), |i| i.label()).chars().count())
        .max()
        .unwrap_or(0)
        .min(30)
        .min(room.max(6));
    let items = rows
        .iter()
        .take(NAMED)
        .map(|(id, inst)| {
            let label = fit(inst.map_or(id.as_str(), |i| i.label()), label_w);
            let (word, style) = match inst {
                Some(inst) => super::table::row_state_word(app, inst),
                None => super::table::state_cell(ConnState::Unknown),
            };
            vec![Line::from(vec![
                Span::raw(format!("   • {label:<label_w$}  ")),
                Span::styled(word, style),
            ])]
        })
        .collect();
    let popup = Popup {
        title: " Confirm ",
        question: format!("{verb} {}? ({call})", count(n, "instance")),
        effect: effect.to_string(),
        warning: connected_warning(confirm.action, connected, n),
        items,
        total: n,
        keys: popup::keys(&[
            (" y", " sends it · "),
            ("n", " or "),
            ("Esc", " cancels · nothing is sent before y"),
        ]),
        keys_short: popup::keys(&[(" y", " sends · "), ("n", "/"), ("Esc", " cancels")]),
    };
    popup::draw(frame, area, &popup);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_counts_the_connected_ones_in_words() {
        assert_eq!(connected_warning(InstanceAction::Restart, 0, 3), None);
        assert_eq!(
            connected_warning(InstanceAction::Restart, 2, 5).as_deref(),
            Some("⚠ 2 of them are connected: restarting drops them from WhatsApp for ~30 s")
        );
        assert_eq!(
            connected_warning(InstanceAction::Restart, 1, 5).as_deref(),
            Some("⚠ 1 of them is connected: restarting drops it from WhatsApp for ~30 s")
        );
        assert_eq!(
            connected_warning(InstanceAction::Restore, 1, 1).as_deref(),
            Some("⚠ it is connected: restoring the session may drop it from WhatsApp for a while")
        );
    }
}
