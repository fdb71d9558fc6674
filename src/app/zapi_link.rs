//! How the link to Z-API is doing, from every call's outcome together:
//! `/status`, `/me`, registrations, restarts and restores. One failing row
//! says little; every call failing the same way says Z-API (or the way to
//! it) is the problem, and the header says so once, with the reason.
//!
//! A pure model: fed with each call's outcome, how long it took (when the
//! runner measured it) and the time; no clock is read here.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::zapi::ApiError;

/// Answered calls whose durations make the median.
const TIMED_CALLS: usize = 20;
/// A median above this is slow.
pub const SLOW: Duration = Duration::from_secs(2);
/// Fewer timed calls than this say nothing about speed yet.
const MIN_TIMED: usize = 3;

/// What the header says of Z-API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// No call has been answered or has failed yet.
    Unknown,
    Ok,
    /// Calls get no answer (connection refused, timeouts, DNS, TLS).
    Unreachable {
        since: DateTime<Utc>,
        reason: String,
    },
    /// Z-API answers 401/403 or says the Client-Token is not allowed.
    TokenRefused {
        status: u16,
    },
    /// Z-API answers 5xx (or 429) to everything.
    Failing {
        since: DateTime<Utc>,
        status: u16,
    },
    /// Answers come, slowly: the median of the last calls.
    Slow {
        p50: Duration,
    },
}

/// The link's memory: the current run of failures and recent durations.
#[derive(Debug, Clone, Default)]
pub struct ZapiLink {
    /// Since when calls get no answer, and the newest reason.
    unreachable: Option<(DateTime<Utc>, String)>,
    /// The last answer refused the Client-Token (its HTTP status).
    token_refused: Option<u16>,
    /// Since when answers are server errors, and the newest status.
    failing: Option<(DateTime<Utc>, u16)>,
    /// Durations of the newest answered calls, newest last.
    durations: VecDeque<Duration>,
    /// Some call was answered or failed.
    heard: bool,
}

/// How one call ended, as the link sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Z-API answered and all is well for the link (a 404 for one instance
    /// is that instance's problem, not the link's).
    Answered,
    NoAnswer,
    TokenRefused(u16),
    ServerError(u16),
    /// Not a call (no Client-Token, not configured): says nothing.
    NotSent,
}

fn kind(result: Result<(), &ApiError>) -> Kind {
    match result {
        Ok(()) => Kind::Answered,
        Err(ApiError::Network(_)) => Kind::NoAnswer,
        Err(ApiError::Config(_)) => Kind::NotSent,
        Err(ApiError::Http { status, message }) => {
            if matches!(status, 401 | 403) || message.to_lowercase().contains("client-token") {
                Kind::TokenRefused(*status)
            } else if *status == 429 || *status >= 500 {
                Kind::ServerError(*status)
            } else {
                Kind::Answered
            }
        }
        Err(ApiError::Decode(_) | ApiError::Refused(_)) => Kind::Answered,
    }
}

impl ZapiLink {
    /// One call ended at `now` with `result`; `took` is how long it took,
    /// when it was measured.
    pub fn record(
        &mut self,
        result: Result<(), &ApiError>,
        took: Option<Duration>,
        now: DateTime<Utc>,
    ) {
        let kind = kind(result);
        if kind == Kind::NotSent {
            return;
        }
        self.heard = true;
        if kind != Kind::NoAnswer {
            // an answer of any kind: Z-API can be reached
            self.unreachable = None;
            if let Some(took) = took {
                self.durations.push_back(took);
                if self.durations.len() > TIMED_CALLS {
                    self.durations.pop_front();
                }
            }
        }
        match kind {
            Kind::NoAnswer => {
                let reason = result.err().map(short_reason).unwrap_or_default();
                let since = self.unreachable.as_ref().map_or(now, |(since, _)| *since);
                self.unreachable = Some((since, reason));
            }
            Kind::TokenRefused(status) => self.token_refused = Some(status),
            Kind::ServerError(status) => {
                let since = self.failing.map_or(now, |(since, _)| since);
                self.failing = Some((since, status));
            }
            Kind::Answered => {
                self.failing = None;
                // a 2xx proves the token; another answer (404…) only that
                // this instance's call went wrong
                if result.is_ok() {
                    self.token_refused = None;
                }
            }
            Kind::NotSent => {}
        }
    }

    /// The median of the last answered calls' durations, once there are a few.
    pub fn p50(&self) -> Option<Duration> {
        if self.durations.len() < MIN_TIMED {
            return None;
        }
        let mut sorted: Vec<Duration> = self.durations.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied()
    }

    /// What the header says: the worst of what is known, unreachable first.
    /// The state as the header shows it (a slow median to a tenth of a
    /// second): what a redraw would change.
    pub fn shown(&self) -> LinkState {
        match self.state() {
            LinkState::Slow { p50 } => LinkState::Slow {
                p50: Duration::from_millis(
                    u64::try_from(p50.as_millis().div_ceil(100) * 100).unwrap_or(u64::MAX),
                ),
            },
            other => other,
        }
    }

    pub fn state(&self) -> LinkState {
        if let Some((since, reason)) = &self.unreachable {
            return LinkState::Unreachable {
                since: *since,
                reason: reason.clone(),
            };
        }
        if let Some(status) = self.token_refused {
            return LinkState::TokenRefused { status };
        }
        if let Some((since, status)) = self.failing {
            return LinkState::Failing { since, status };
        }
        if !self.heard {
            return LinkState::Unknown;
        }
        match self.p50() {
            Some(p50) if p50 >= SLOW => LinkState::Slow { p50 },
            _ => LinkState::Ok,
        }
    }
}

/// A failed call's reason in a few words, the same for the same cause on
/// every instance (so failures can be counted together): `connection
/// refused`, `timed out after 10 s`, `HTTP 404: Instance not found`. The
/// whole text goes to the diagnostics log and the detail pane.
pub fn short_reason(e: &ApiError) -> String {
    match e {
        ApiError::Network(text) => network_reason(text),
        ApiError::Http { status, message } => {
            // "update-webhook-connected: …": which of the PUTs is detail
            let message = match message.split_once(": ") {
                Some((what, rest)) if what.starts_with("update-") => rest,
                _ => message.as_str(),
            };
            format!("HTTP {status}: {}", clip(message, 60))
        }
        ApiError::Decode(_) => "unexpected answer".into(),
        ApiError::Refused(_) => "Z-API refused".into(),
        ApiError::Config(text) => clip(text, 60),
    }
}

/// [`short_reason`] of an error kept as text (`ApiError`'s display, as
/// the rows store it).
pub fn short_reason_text(text: &str) -> String {
    if let Some(rest) = text.strip_prefix("network: ") {
        return network_reason(rest);
    }
    if let Some(rest) = text.strip_prefix("HTTP ")
        && let Some((status, message)) = rest.split_once(": ")
        && let Ok(status) = status.parse::<u16>()
    {
        return short_reason(&ApiError::Http {
            status,
            message: message.to_string(),
        });
    }
    clip(text, 60)
}

/// What to check after a call failed for this (short) reason.
pub fn what_to_check(reason: &str) -> &'static str {
    let lower = reason.to_lowercase();
    if lower.contains("client-token")
        || lower.starts_with("http 401")
        || lower.starts_with("http 403")
    {
        "check client_token (Z-API panel → Security)"
    } else if lower.contains("instance not found") || lower.starts_with("http 404") {
        "check the instance's id and token in the config"
    } else if lower.starts_with("http 5") || lower.starts_with("http 429") {
        "Z-API is failing or busy: wait a little"
    } else if lower.starts_with("http ")
        || lower.contains("unexpected answer")
        || lower == "z-api refused"
    {
        "see zapi-dash.log for Z-API's whole answer"
    } else {
        "check api_base and the network"
    }
}

/// The cause of a transport error in words a person looks for.
fn network_reason(text: &str) -> String {
    let lower = text.to_lowercase();
    const KNOWN: &[(&[&str], &str)] = &[
        (&["connection refused"], "connection refused"),
        (&["connection reset"], "connection reset"),
        (
            &[
                "dns error",
                "failed to lookup",
                "name or service not known",
                "no such host",
            ],
            "host not found (DNS)",
        ),
        (&["certificate", "tls", "ssl", "handshake"], "TLS error"),
        (
            &["network is unreachable", "no route to host"],
            "network unreachable",
        ),
    ];
    if let Some(start) = lower.find("timed out after") {
        return text[start..]
            .split(':')
            .next()
            .unwrap_or("timed out")
            .trim()
            .to_string();
    }
    if lower.contains("timed out") || lower.contains("timeout") {
        return "timed out".into();
    }
    for (needles, words) in KNOWN {
        if needles.iter().any(|n| lower.contains(n)) {
            return (*words).to_string();
        }
    }
    // the innermost cause, without "(os error 111)"
    let last = text.rsplit(": ").next().unwrap_or(text);
    let last = match last.find(" (os error") {
        Some(i) => &last[..i],
        None => last,
    };
    clip(last.trim(), 60)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_764_000_000 + s, 0).unwrap()
    }

    fn refused() -> ApiError {
        ApiError::Network(
            "error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)"
                .into(),
        )
    }

    fn http(status: u16, message: &str) -> ApiError {
        ApiError::Http {
            status,
            message: message.into(),
        }
    }

    #[test]
    fn nothing_heard_is_unknown_and_an_answer_is_ok() {
        let mut l = ZapiLink::default();
        assert_eq!(l.state(), LinkState::Unknown);
        l.record(
            Err(&ApiError::Config("client_token is not set".into())),
            None,
            t(0),
        );
        assert_eq!(
            l.state(),
            LinkState::Unknown,
            "a call not sent says nothing"
        );
        l.record(Ok(()), Some(Duration::from_millis(80)), t(1));
        assert_eq!(l.state(), LinkState::Ok);
    }

    #[test]
    fn unreachable_since_the_first_failure_until_an_answer() {
        let mut l = ZapiLink::default();
        l.record(Err(&refused()), None, t(10));
        l.record(Err(&refused()), None, t(20));
        assert_eq!(
            l.state(),
            LinkState::Unreachable {
                since: t(10),
                reason: "connection refused".into()
            }
        );
        // a 404 for one instance is still an answer: Z-API is reachable
        l.record(Err(&http(404, "Instance not found")), None, t(30));
        assert_eq!(l.state(), LinkState::Ok);
        l.record(Err(&refused()), None, t(40));
        assert!(matches!(l.state(), LinkState::Unreachable { since, .. } if since == t(40)));
    }

    #[test]
    fn a_refused_client_token_lasts_until_a_call_succeeds() {
        let mut l = ZapiLink::default();
        l.record(Err(&http(403, "Client-Token X not allowed")), None, t(1));
        assert_eq!(l.state(), LinkState::TokenRefused { status: 403 });
        l.record(
            Err(&http(400, "your client-token is not configured")),
            None,
            t(2),
        );
        assert_eq!(l.state(), LinkState::TokenRefused { status: 400 });
        l.record(Err(&http(404, "Instance not found")), None, t(3));
        assert_eq!(l.state(), LinkState::TokenRefused { status: 400 });
        l.record(Ok(()), None, t(4));
        assert_eq!(l.state(), LinkState::Ok);
    }

    #[test]
    fn server_errors_are_failing_and_slow_answers_are_slow() {
        let mut l = ZapiLink::default();
        l.record(Err(&http(503, "unavailable")), None, t(1));
        l.record(Err(&http(502, "bad gateway")), None, t(2));
        assert_eq!(
            l.state(),
            LinkState::Failing {
                since: t(1),
                status: 502
            }
        );
        for ms in [2100, 2500, 1900, 2200, 100] {
            l.record(Ok(()), Some(Duration::from_millis(ms)), t(3));
        }
        assert_eq!(
            l.state(),
            LinkState::Slow {
                p50: Duration::from_millis(2100)
            }
        );
        for _ in 0..TIMED_CALLS {
            l.record(Ok(()), Some(Duration::from_millis(50)), t(4));
        }
        assert_eq!(l.state(), LinkState::Ok, "only the newest calls count");
    }

    #[test]
    fn reasons_are_short_and_the_same_for_the_same_cause() {
        assert_eq!(short_reason(&refused()), "connection refused");
        assert_eq!(
            short_reason(&ApiError::Network(
                "timed out after 10 s: operation timed out".into()
            )),
            "timed out after 10 s"
        );
        assert_eq!(
            short_reason(&ApiError::Network(
                "error sending request: dns error: failed to lookup address information".into()
            )),
            "host not found (DNS)"
        );
        assert_eq!(
            short_reason(&http(500, "update-webhook-connected: oops")),
            "HTTP 500: oops"
        );
        assert_eq!(
            short_reason(&ApiError::Network("weird: thing (os error 5)".into())),
            "thing"
        );
        // the same from the text a row keeps
        assert_eq!(
            short_reason_text(&refused().to_string()),
            "connection refused"
        );
        assert_eq!(
            short_reason_text("HTTP 404: Instance not found"),
            "HTTP 404: Instance not found"
        );
        assert_eq!(
            what_to_check("connection refused"),
            "check api_base and the network"
        );
        assert!(what_to_check("HTTP 403: Client-Token X not allowed").contains("client_token"));
        assert!(what_to_check("HTTP 404: Instance not found").contains("id and token"));
    }
}
