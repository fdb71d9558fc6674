//! The confirmation before a registration replaces another system's
//! webhook URL: each such instance with the URL (masked) that would be
//! replaced; `y` adopts them as forward targets and registers all, `o`
//! overwrites them, `n` or `Esc` sends nothing; and `u`'s question before
//! adopted targets stop being fed.

use ratatui::Frame;
use ratatui::layout::Rect;

use ratatui::text::{Line, Span};

use super::popup::{self, Popup};
use super::theme::Theme;
use super::{fit, sanitize};
use crate::app::{App, ReplaceConfirm};
use crate::model::InstanceId;

/// Instances listed in the popup at most (a short terminal lists fewer);
/// the rest are counted.
const NAMED: usize = 5;

pub fn draw(app: &App, confirm: &ReplaceConfirm, frame: &mut Frame, area: Rect) {
    let n = confirm.foreign.len();
    let url_w = usize::from(area.width.saturating_sub(12)).clamp(20, 100);
    let items = confirm
        .foreign
        .iter()
        .take(NAMED)
        .map(|(id, urls)| {
            let label = app.get(id).map_or(id.as_str(), |i| i.label());
            let mut group = vec![Line::from(format!("   • {}", fit(&sanitize(label), 50)))];
            group.extend(urls.iter().map(|url| {
                Line::from(Span::styled(
                    format!("       {}", fit(&sanitize(url), url_w)),
                    Theme::WARN,
                ))
            }));
            group
        })
        .collect();
    let popup = Popup {
        title: " Replace another system's webhooks? ",
        question: if n == 1 {
            "1 instance's webhooks point at another system:".to_string()
        } else {
            format!("{n} instances' webhooks point at another system:")
        },
        effect: "y keeps them fed through zapi-dash (forward targets); o cuts them off."
            .to_string(),
        warning: None,
        items,
        total: n,
        keys: popup::keys(&[
            (" y", " adopts and registers · "),
            ("o", " overwrites · "),
            ("n", "/"),
            ("Esc", " sends nothing"),
        ]),
        keys_short: popup::keys(&[
            (" y", " adopt · "),
            ("o", " overwrite · "),
            ("n", " nothing"),
        ]),
    };
    popup::draw(frame, area, &popup);
}

/// `u` in the detail: the adopted targets that `y` stops feeding.
pub fn draw_unadopt(
    app: &App,
    (id, targets): &(InstanceId, Vec<(String, String)>),
    frame: &mut Frame,
    area: Rect,
) {
    let url_w = usize::from(area.width.saturating_sub(12)).clamp(20, 100);
    let label = app.get(id).map_or(id.as_str(), |i| i.label());
    let items = targets
        .iter()
        .map(|(name, url)| {
            vec![
                Line::from(format!("   • {}", fit(&sanitize(name), 50))),
                Line::from(Span::styled(
                    format!("       {}", fit(&sanitize(url), url_w)),
                    Theme::WARN,
                )),
            ]
        })
        .collect();
    let popup = Popup {
        title: " Stop forwarding? ",
        question: format!(
            "Stop forwarding {}'s events to what was there before?",
            fit(&sanitize(label), 40)
        ),
        effect: "Z-API keeps pointing at zapi-dash: these URLs get nothing more.".to_string(),
        warning: None,
        items,
        total: targets.len(),
        keys: popup::keys(&[
            (" y", " stops forwarding · "),
            ("n", "/"),
            ("Esc", " keeps it"),
        ]),
        keys_short: popup::keys(&[(" y", " stop · "), ("n", " keep")]),
    };
    popup::draw(frame, area, &popup);
}
