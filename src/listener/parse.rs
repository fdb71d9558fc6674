//! [`parse_event`]: one webhook body to a [`model::Event`](crate::model::Event).
//!
//! Real Z-API deliveries do not always match the docs' tables (fields
//! missing, `null`, or of another type: the connected page types `momment`
//! as a string). A field that cannot be used costs that field, never the
//! event: only a body that is not JSON, not an object, or without a
//! non-empty string `instanceId` is refused. [`parse_webhook`] says which
//! fields were ignored, so the listener can count and log them.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::model::{Event, EventKind, InstanceId, moment_from_raw};

/// The callback name of an event on `/hooks` whose `type` is missing or
/// unusable: it still proves the instance alive.
pub const UNTYPED_CALLBACK: &str = "(no type)";

/// Which endpoint a body arrived on. It decides what a body without `type`
/// means: Z-API's per-event webhooks (`update-webhook-disconnected`,
/// `update-webhook-connected`) may omit it; on the catch-all endpoint such a
/// body is activity ([`UNTYPED_CALLBACK`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /hooks/disconnected` (or `/hooks/{token}/disconnected`): a body
    /// without `type` is a disconnect.
    Disconnected,
    /// `POST /hooks/connected` (or `/hooks/{token}/connected`): a body
    /// without `type` is a connect.
    Connected,
    /// `POST /hooks` (or `/hooks/{token}`): every webhook type.
    Any,
}

/// Why a webhook body was rejected. The `Display` text names the problem and
/// is what the listener sends back in `{"error": ...}`.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// The body is not JSON at all (the message is serde_json's, with position).
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is JSON but not an object (an array, a string, ...).
    #[error("body must be a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field that must be a non-empty string is empty, blank or not a string.
    #[error("`{0}` must be a non-empty string")]
    NotNonEmptyString(&'static str),
}

/// A parsed webhook body and what the parser had to leave out.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub event: Event,
    /// The event's moment came from a usable `momment` in the body. Only such
    /// a body can be told from a new event of the same content: a body
    /// without one is the same bytes every time the event happens.
    pub has_moment: bool,
    /// Fields present but unusable (of another type, blank, an absurd
    /// `momment`), in the order `type`, `momment`, `error`, `phone`. Each
    /// was ignored as if absent.
    pub ignored: Vec<&'static str>,
}

/// Earliest usable `momment`: 2000-01-01T00:00:00Z (Unix seconds).
/// Anything earlier (0, negative, a clock reset) is not a real event time.
pub const MOMENT_MIN_SECS: i64 = 946_684_800;
/// First unusable `momment` in the future: 2100-01-01T00:00:00Z.
pub const MOMENT_MAX_SECS: i64 = 4_102_444_800;

/// Parses one webhook body received on `route` at `received` (see
/// [`parse_webhook`]; this keeps only the event).
///
/// Never panics, whatever the bytes.
pub fn parse_event(
    body: &[u8],
    route: Route,
    received: DateTime<Utc>,
) -> Result<Event, ParseError> {
    parse_webhook(body, route, received).map(|p| p.event)
}

/// Parses one webhook body received on `route` at `received`.
///
/// Refused (the only errors): invalid JSON, a body that is not an object, an
/// `instanceId` that is missing, null, not a string or blank. Everything
/// else is accepted; unknown fields are ignored.
///
/// - `type` decides the kind when it is a non-blank string
///   (`DisconnectedCallback`, `ConnectedCallback`, anything else is
///   activity); otherwise `route` decides, and on [`Route::Any`] it is
///   activity named [`UNTYPED_CALLBACK`].
/// - `momment` may be seconds or milliseconds (see [`moment_from_raw`]), a
///   number or a numeric string. Missing, null or unusable (another type,
///   not whole, before [`MOMENT_MIN_SECS`] or from [`MOMENT_MAX_SECS`] on):
///   the moment is `received`.
/// - `error` and `phone` are kept when strings, else left out.
///
/// Unusable fields are listed in [`Parsed::ignored`]. Never panics,
/// whatever the bytes.
pub fn parse_webhook(
    body: &[u8],
    route: Route,
    received: DateTime<Utc>,
) -> Result<Parsed, ParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    let Value::Object(obj) = value else {
        return Err(ParseError::NotAnObject);
    };

    let instance_id = match obj.get("instanceId") {
        None | Some(Value::Null) => return Err(ParseError::MissingField("instanceId")),
        Some(Value::String(s)) if !s.trim().is_empty() => InstanceId::new(s.clone()),
        Some(_) => return Err(ParseError::NotNonEmptyString("instanceId")),
    };

    let mut ignored = Vec::new();
    let type_name = match obj.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.trim().is_empty() => Some(t.as_str()),
        Some(_) => {
            ignored.push("type");
            None
        }
    };
    let moment = match obj.get("momment") {
        None | Some(Value::Null) => None,
        Some(raw) => {
            let moment = usable_moment(raw);
            if moment.is_none() {
                ignored.push("momment");
            }
            moment
        }
    };
    let kind = match (type_name, route) {
        (Some("DisconnectedCallback"), _) | (None, Route::Disconnected) => {
            disconnected(&obj, &mut ignored)
        }
        (Some("ConnectedCallback"), _) | (None, Route::Connected) => connected(&obj, &mut ignored),
        (Some(other), _) => EventKind::Activity {
            callback: other.to_owned(),
        },
        (None, Route::Any) => EventKind::Activity {
            callback: UNTYPED_CALLBACK.to_owned(),
        },
    };

    Ok(Parsed {
        event: Event {
            instance_id,
            kind,
            moment: moment.unwrap_or(received),
            received,
        },
        has_moment: moment.is_some(),
        ignored,
    })
}

fn disconnected(obj: &Map<String, Value>, ignored: &mut Vec<&'static str>) -> EventKind {
    EventKind::Disconnected {
        error: optional_string(obj, "error", ignored),
    }
}

fn connected(obj: &Map<String, Value>, ignored: &mut Vec<&'static str>) -> EventKind {
    EventKind::Connected {
        phone: optional_string(obj, "phone", ignored),
    }
}

/// A text field: kept when a string; absent or null is `None`; anything
/// else is `None` and listed in `ignored`.
fn optional_string(
    obj: &Map<String, Value>,
    field: &'static str,
    ignored: &mut Vec<&'static str>,
) -> Option<String> {
    match obj.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            ignored.push(field);
            None
        }
    }
}

/// `momment` as a time, when it is a whole number (or a string holding
/// one) of seconds or milliseconds between [`MOMENT_MIN_SECS`] and
/// [`MOMENT_MAX_SECS`].
fn usable_moment(raw: &Value) -> Option<DateTime<Utc>> {
    let number = match raw {
        Value::Number(n) => n.clone(),
        Value::String(s) => serde_json::from_str::<serde_json::Number>(s.trim()).ok()?,
        _ => return None,
    };
    let raw = whole(&number)?;
    let moment = moment_from_raw(raw)?;
    let min = Utc.timestamp_opt(MOMENT_MIN_SECS, 0).single()?;
    let max = Utc.timestamp_opt(MOMENT_MAX_SECS, 0).single()?;
    (min..max).contains(&moment).then_some(moment)
}

/// A JSON number as an `i64`, when it is whole and fits.
fn whole(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    if !f.is_finite() || f.fract() != 0.0 {
        return None;
    }
    // i64::MIN and i64::MAX + 1 are exact powers of two in f64.
    (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0)
        .contains(&f)
        .then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
    }

    fn parse(body: &str, route: Route) -> Result<Event, ParseError> {
        parse_event(body.as_bytes(), route, now())
    }

    fn err(body: &str, route: Route) -> String {
        parse(body, route).unwrap_err().to_string()
    }

    #[test]
    fn disconnect_from_the_docs() {
        let e = parse(
            r#"{"momment": 1580163342, "error": "Device has been disconnected",
                "disconnected": true, "type": "DisconnectedCallback", "instanceId": "instance.id"}"#,
            Route::Any,
        )
        .unwrap();
        assert_eq!(e.instance_id, InstanceId::new("instance.id"));
        assert_eq!(
            e.kind,
            EventKind::Disconnected {
                error: Some("Device has been disconnected".into())
            }
        );
        assert_eq!(e.moment, Utc.timestamp_opt(1_580_163_342, 0).unwrap());
        assert_eq!(e.received, now());
    }

    #[test]
    fn connect_with_millis_and_phone() {
        let e = parse(
            r#"{"type": "ConnectedCallback", "connected": true, "momment": 1732400000123,
                "instanceId": "ABC", "phone": "5544999999999"}"#,
            Route::Any,
        )
        .unwrap();
        assert_eq!(
            e.kind,
            EventKind::Connected {
                phone: Some("5544999999999".into())
            }
        );
        assert_eq!(
            e.moment,
            Utc.timestamp_millis_opt(1_732_400_000_123).unwrap()
        );
    }

    #[test]
    fn other_types_are_activity() {
        let e = parse(
            r#"{"type": "ReceivedCallback", "instanceId": "X", "phone": 5, "momment": 1632228638000}"#,
            Route::Connected,
        )
        .unwrap();
        assert_eq!(
            e.kind,
            EventKind::Activity {
                callback: "ReceivedCallback".into()
            }
        );
    }

    #[test]
    fn type_wins_over_route() {
        let e = parse(
            r#"{"type": "ConnectedCallback", "instanceId": "X"}"#,
            Route::Disconnected,
        )
        .unwrap();
        assert_eq!(e.kind, EventKind::Connected { phone: None });
    }

    #[test]
    fn missing_type_follows_route() {
        let body = r#"{"instanceId": "X", "error": null, "phone": null}"#;
        assert_eq!(
            parse(body, Route::Disconnected).unwrap().kind,
            EventKind::Disconnected { error: None }
        );
        assert_eq!(
            parse(body, Route::Connected).unwrap().kind,
            EventKind::Connected { phone: None }
        );
        let any = parse_webhook(body.as_bytes(), Route::Any, now()).unwrap();
        assert_eq!(
            any.event.kind,
            EventKind::Activity {
                callback: UNTYPED_CALLBACK.into()
            }
        );
        assert!(any.ignored.is_empty(), "a missing type is not a bad field");
    }

    #[test]
    fn missing_or_null_moment_is_received() {
        for body in [
            r#"{"instanceId": "X", "type": "T"}"#,
            r#"{"instanceId": "X", "type": "T", "momment": null}"#,
        ] {
            assert_eq!(parse(body, Route::Any).unwrap().moment, now());
        }
    }

    #[test]
    fn integral_float_moment_is_accepted() {
        let e = parse(
            r#"{"instanceId": "X", "type": "T", "momment": 1580163342.0}"#,
            Route::Any,
        )
        .unwrap();
        assert_eq!(e.moment.timestamp(), 1_580_163_342);
        let e = parse(
            r#"{"instanceId": "X", "type": "T", "momment": 1.632228638e12}"#,
            Route::Any,
        )
        .unwrap();
        assert_eq!(e.moment.timestamp(), 1_632_228_638);
    }

    #[test]
    fn numeric_string_moments_are_used() {
        for (raw, want) in [
            (r#""1580163342""#, 1_580_163_342_000),
            (r#"" 1632228638000 ""#, 1_632_228_638_000),
            (r#""1580163342.0""#, 1_580_163_342_000),
        ] {
            let body = format!(r#"{{"instanceId": "X", "type": "T", "momment": {raw}}}"#);
            let p = parse_webhook(body.as_bytes(), Route::Any, now()).unwrap();
            assert_eq!(p.event.moment.timestamp_millis(), want, "momment {raw}");
            assert!(p.has_moment);
            assert!(p.ignored.is_empty());
        }
    }

    #[test]
    fn unusable_moments_fall_back_to_receipt_and_are_reported() {
        let cases = [
            "true",
            "false",
            "[1]",
            "{}",
            r#""abc""#,
            r#""""#,
            r#""-1580163342""#,
            "1.5",
            "0",
            "-1",
            "-1580163342",
            "5",
            "99999999999",
            "4102444800",
            "9223372036854775807",
            "-9223372036854775808",
            "-9.223372036854775808e18",
            "18446744073709551615",
            "1e300",
            "-1e300",
            "9.3e18",
        ];
        for raw in cases {
            let body = format!(
                r#"{{"instanceId": "X", "type": "DisconnectedCallback", "error": "e", "momment": {raw}}}"#
            );
            let p = parse_webhook(body.as_bytes(), Route::Any, now())
                .unwrap_or_else(|e| panic!("momment {raw} refused the event: {e}"));
            assert_eq!(p.event.moment, now(), "momment {raw}");
            assert!(!p.has_moment, "momment {raw}");
            assert_eq!(p.ignored, ["momment"], "momment {raw}");
            assert_eq!(
                p.event.kind,
                EventKind::Disconnected {
                    error: Some("e".into())
                },
                "the rest of the event is kept"
            );
        }
        let null = parse_webhook(
            br#"{"instanceId": "X", "type": "T", "momment": null}"#,
            Route::Any,
            now(),
        )
        .unwrap();
        assert!(null.ignored.is_empty() && !null.has_moment);
    }

    #[test]
    fn instance_id_must_be_a_non_empty_string() {
        assert_eq!(
            err(r#"{"type": "T"}"#, Route::Any),
            "missing field `instanceId`"
        );
        assert_eq!(
            err(r#"{"type": "T", "instanceId": null}"#, Route::Any),
            "missing field `instanceId`"
        );
        for bad in ["\"\"", "\"  \"", "42", "true", "[\"a\"]", "{}"] {
            let body = format!(r#"{{"type": "T", "instanceId": {bad}}}"#);
            assert_eq!(
                err(&body, Route::Any),
                "`instanceId` must be a non-empty string",
                "instanceId {bad}"
            );
        }
    }

    #[test]
    fn unusable_type_costs_the_type_only() {
        for bad in ["1", "\"\"", "\"  \"", "{}", "true"] {
            let body = format!(r#"{{"instanceId": "X", "momment": 1580163342, "type": {bad}}}"#);
            let p = parse_webhook(body.as_bytes(), Route::Disconnected, now()).unwrap();
            assert_eq!(
                p.event.kind,
                EventKind::Disconnected { error: None },
                "{bad}"
            );
            assert_eq!(p.ignored, ["type"], "type {bad}");
            assert!(p.has_moment);
            let p = parse_webhook(body.as_bytes(), Route::Any, now()).unwrap();
            assert_eq!(
                p.event.kind,
                EventKind::Activity {
                    callback: UNTYPED_CALLBACK.into()
                }
            );
        }
    }

    #[test]
    fn error_and_phone_of_another_type_cost_only_that_field() {
        let p = parse_webhook(
            br#"{"instanceId": "X", "type": "DisconnectedCallback", "error": 1, "momment": "x"}"#,
            Route::Any,
            now(),
        )
        .unwrap();
        assert_eq!(p.event.kind, EventKind::Disconnected { error: None });
        assert_eq!(p.ignored, ["momment", "error"]);
        let p = parse_webhook(
            br#"{"instanceId": "X", "phone": {"n": 1}, "connected": "yes"}"#,
            Route::Connected,
            now(),
        )
        .unwrap();
        assert_eq!(p.event.kind, EventKind::Connected { phone: None });
        assert_eq!(p.ignored, ["phone"]);
    }

    #[test]
    fn not_json_or_not_an_object() {
        assert_eq!(
            err("", Route::Any),
            "body is not valid JSON: EOF while parsing a value at line 1 column 0"
        );
        assert_eq!(
            err("hello", Route::Any),
            "body is not valid JSON: expected value at line 1 column 1"
        );
        for body in ["[]", "\"x\"", "1", "null"] {
            assert_eq!(err(body, Route::Any), "body must be a JSON object");
        }
    }

    #[test]
    fn connected_example_as_documented_is_rejected() {
        let doc = "{\n  \"type\": 'ConnectedCallback',\n  \"connected\": true,\n  \"instanceId\": instance.id,,\n}";
        assert!(matches!(
            parse(doc, Route::Connected),
            Err(ParseError::InvalidJson(_))
        ));
    }

    /// xorshift64*: a tiny deterministic generator, so failures reproduce.
    struct Gen(u64);
    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    const ROUTES: [Route; 3] = [Route::Disconnected, Route::Connected, Route::Any];

    #[test]
    fn never_panics_on_random_bytes() {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        for i in 0..20_000 {
            let len = g.below(64);
            let bytes: Vec<u8> = (0..len).map(|_| g.next() as u8).collect();
            let _ = parse_event(&bytes, ROUTES[i % 3], now());
        }
    }

    #[test]
    fn never_panics_on_mutated_bodies() {
        // Start from valid bodies, so mutations reach the field checks.
        let seeds = [
            r#"{"momment": 1580163342, "error": "Device has been disconnected", "disconnected": true, "type": "DisconnectedCallback", "instanceId": "instance.id"}"#,
            r#"{"type": "ConnectedCallback", "connected": true, "momment": 1732400000000, "instanceId": "A", "phone": "5544999999999"}"#,
            r#"{"instanceId": "X", "momment": -1.0e19, "phone": null}"#,
        ];
        let alphabet = b"{}[]\":,0123456789.eE-+ntrufalsx\\ ";
        let mut g = Gen(0xD1B5_4A32_D192_ED03);
        let mut accepted = 0;
        for i in 0..20_000 {
            let mut body = seeds[i % seeds.len()].as_bytes().to_vec();
            for _ in 0..=g.below(4) {
                let at = g.below(body.len() + 1);
                match g.below(3) {
                    0 if at < body.len() => {
                        body.remove(at);
                    }
                    1 if at < body.len() => body[at] = alphabet[g.below(alphabet.len())],
                    _ => body.insert(at, alphabet[g.below(alphabet.len())]),
                }
            }
            if parse_event(&body, ROUTES[g.below(3)], now()).is_ok() {
                accepted += 1;
            }
        }
        // The mutations must not be so destructive that nothing parses.
        assert!(accepted > 100, "only {accepted} mutated bodies parsed");
    }

    #[test]
    fn never_panics_on_any_moment_value() {
        let mut g = Gen(0x2545_F491_4F6C_DD1D);
        let mut raws: Vec<String> = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX]
            .iter()
            .map(i64::to_string)
            .collect();
        for _ in 0..20_000 {
            let bits = g.next();
            raws.push((bits as i64).to_string());
            raws.push(bits.to_string());
            let f = f64::from_bits(bits);
            if f.is_finite() {
                raws.push(format!("{f:e}"));
                raws.push(format!("{:.1}", f.trunc()));
            }
        }
        for raw in raws {
            let body = format!(r#"{{"instanceId": "X", "type": "T", "momment": {raw}}}"#);
            let _ = parse(&body, Route::Any);
        }
    }

    #[test]
    fn never_panics_on_deep_nesting() {
        let deep = format!(
            r#"{{"instanceId": "X", "type": "T", "x": {}{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(
            parse(&deep, Route::Any),
            Err(ParseError::InvalidJson(_))
        ));
    }
}
