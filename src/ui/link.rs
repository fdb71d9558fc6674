//! The Z-API link state in the header, from all calls together (see
//! [`crate::app::zapi_link`]): `Z-API ok`, `Z-API slow (p50 2.1 s)`, or,
//! as loud as `watch`'s CUT OFF banner, `Z-API unreachable since 14:03
//! (connection refused)` and `Z-API refuses the Client-Token (HTTP 403)`.
//! The words say it all; the colour only repeats it.

use ratatui::text::Span;

use super::theme::Theme;
use crate::app::App;
use crate::app::zapi_link::LinkState;

/// The header's span for the link state; `None` where it says nothing:
/// `watch` (its server calls Z-API), no Client-Token (the header says
/// that already), nothing asked yet.
pub fn span(app: &App) -> Option<Span<'static>> {
    if app.link.is_some() || !app.setup.can_query_status {
        return None;
    }
    let tz = app.setup.tz;
    let at = |t| {
        if tz.format(t, "%Y-%m-%d") == tz.format(app.now, "%Y-%m-%d") {
            tz.format(t, "%H:%M")
        } else {
            tz.format(t, "%Y-%m-%d %H:%M")
        }
    };
    let (text, style) = match app.ops.zapi.state() {
        LinkState::Unknown => return None,
        LinkState::Ok => ("✓ Z-API ok".to_string(), Theme::GOOD),
        LinkState::Slow { p50 } => (
            format!("⚠ Z-API slow (p50 {:.1} s)", p50.as_secs_f64()),
            Theme::WARN_BOLD,
        ),
        LinkState::Unreachable { since, reason } => (
            format!(
                "✗ Z-API unreachable since {} ({})",
                at(since),
                super::sanitize(&reason)
            ),
            Theme::ALARM,
        ),
        LinkState::TokenRefused { status } => (
            format!("✗ Z-API refuses the Client-Token (HTTP {status})"),
            Theme::ALARM,
        ),
        LinkState::Failing { since, status } => (
            format!("✗ Z-API failing since {} (HTTP {status})", at(since)),
            Theme::ALARM,
        ),
    };
    Some(Span::styled(format!(" {text} "), style))
}
