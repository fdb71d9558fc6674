//! Property tests of [`parse_event`], the webhook body parser.
//!
//! - (a) arbitrary bytes, and nearly valid bodies, never panic on any route;
//! - (b) arbitrary JSON values never panic, and whatever is accepted agrees
//!   with the documented contract (see [`check_accepted`]);
//! - (c) a disconnect body built from arbitrary `instanceId`, `error` and
//!   `momment` gives exactly the event (or the error) the rules say (an
//!   unusable `momment` is the receipt time);
//! - (d) every Z-API example body with unknown fields added still parses to
//!   the same event;
//! - (e) control characters and ANSI escapes in `instanceId`, `error` and
//!   `phone` come through the parser unchanged (sanitising is the view's job).
//!
//! 256 cases per property by default; `PROPTEST_CASES=10000 cargo test --test
//! parser_props` runs longer. A failing case is saved under
//! `tests/log/parser_props.proptest-regressions` and replayed first next time.

use std::path::Path;
use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Number, Value, json};
use zapi_dash::listener::parse::{
    MOMENT_MAX_SECS, MOMENT_MIN_SECS, ParseError, Route, UNTYPED_CALLBACK, parse_event,
};
use zapi_dash::model::{Event, EventKind, InstanceId};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/zapi-examples");

/// Every route the listener has today. A route added later is not covered
/// here until it is listed.
const ROUTES: [Route; 3] = [Route::Disconnected, Route::Connected, Route::Any];

/// The top-level fields the parser reads; "unknown" fields avoid these.
const PARSER_FIELDS: [&str; 5] = ["instanceId", "type", "momment", "error", "phone"];

/// Values of `momment` above this (in absolute value) are milliseconds.
const MS_THRESHOLD: i64 = 100_000_000_000;

fn received() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
}

/// 256 cases unless `PROPTEST_CASES` says otherwise, divided by `divisor`
/// for properties whose every case is many parses.
fn config(divisor: u32) -> ProptestConfig {
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases((cases / divisor).max(1))
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Any string of up to `max` chars, any code point (controls included).
fn arb_text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// Blank strings: `instanceId` must reject these.
fn arb_blank() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\u{a0}', '\u{2028}', '\u{3000}',
        ]),
        0..4,
    )
    .prop_map(String::from_iter)
}

/// Numbers of every shape serde_json can hold, with the `momment` edges.
fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        (-2 * MS_THRESHOLD..2 * MS_THRESHOLD).prop_map(Number::from),
        any::<f64>().prop_filter_map("JSON has no NaN or infinity", Number::from_f64),
        prop::sample::select(vec![
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            1,
            MS_THRESHOLD,
            MS_THRESHOLD + 1,
            -MS_THRESHOLD - 1,
            i64::MAX,
        ])
        .prop_map(Number::from),
    ]
}

/// Object keys: anything, or near misses of the fields the parser reads.
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => arb_text(10),
        1 => prop::sample::select(vec![
            "instanceID",
            "InstanceId",
            "instance_id",
            "instanceId ",
            "instanceId\u{0}",
            "Type",
            "TYPE",
            "type\u{200b}",
            "moment",
            "Momment",
            "mommentt",
            "errors",
            "Error",
            "phones",
            "connected",
            "disconnected",
            "__proto__",
            "",
        ])
        .prop_map(String::from),
    ]
}

/// Any JSON value, nesting at most 4 deep and bounded in size.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number().prop_map(Value::Number),
        arb_text(16).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(arb_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Objects shaped like webhooks (each parser field absent, or any value, or
/// a plausible one), so generated bodies get past the first checks.
fn arb_envelope() -> impl Strategy<Value = Value> {
    let instance_id = prop_oneof![
        4 => arb_text(12).prop_map(Value::String),
        1 => arb_blank().prop_map(Value::String),
        1 => arb_json(),
    ];
    let kind = prop_oneof![
        prop::sample::select(vec![
            "DisconnectedCallback",
            "ConnectedCallback",
            "ReceivedCallback",
            "disconnectedcallback",
            "",
            " ",
        ])
        .prop_map(|t| Value::String(t.into())),
        arb_text(12).prop_map(Value::String),
        arb_json(),
    ];
    let momment = prop_oneof![
        2 => (0..2_000_000_000_000i64).prop_map(Value::from),
        2 => arb_number().prop_map(Value::Number),
        1 => arb_json(),
    ];
    let text = prop_oneof![
        3 => arb_text(12).prop_map(Value::String),
        1 => arb_json(),
    ];
    (
        prop::option::weighted(0.9, instance_id),
        prop::option::weighted(0.7, kind),
        prop::option::weighted(0.7, momment),
        prop::option::of(text.clone()),
        prop::option::of(text),
        prop::collection::btree_map(arb_key(), arb_json(), 0..4),
    )
        .prop_map(|(id, kind, momment, error, phone, extra)| {
            let mut obj: Map<String, Value> = extra.into_iter().collect();
            for (field, value) in [
                ("instanceId", id),
                ("type", kind),
                ("momment", momment),
                ("error", error),
                ("phone", phone),
            ] {
                match value {
                    Some(v) => obj.insert(field.to_owned(), v),
                    None => obj.remove(field),
                };
            }
            Value::Object(obj)
        })
}

/// Webhook-shaped bodies with a few byte-level edits (deletions, and
/// insertions or overwrites of JSON tokens, field names and troublemakers:
/// invalid UTF-8, lone surrogates, huge numbers): nearly valid bodies, which
/// random bytes almost never are.
fn arb_mutated_body() -> impl Strategy<Value = Vec<u8>> {
    const TOKENS: &[&[u8]] = &[
        b"{",
        b"}",
        b"[",
        b"]",
        b":",
        b",",
        b" ",
        b"\"",
        b"\\",
        b"\"instanceId\"",
        b"\"type\"",
        b"\"momment\"",
        b"\"error\"",
        b"\"phone\"",
        b"\"DisconnectedCallback\"",
        b"\"ConnectedCallback\"",
        b"\"X\"",
        b"\"\"",
        b"\" \"",
        b"\\u001b",
        b"\\ud800",
        b"\\udc00\\ud800",
        b"\xff\xfe",
        b"\xc0\x80",
        b"\xef\xbb\xbf",
        b"\x00",
        b"null",
        b"true",
        b"0",
        b"-0",
        b"1580163342",
        b"1632228638000",
        b"100000000000",
        b"1.5",
        b"1e300",
        b"-1e400",
        b"9223372036854775807",
        b"-9223372036854775808",
        b"18446744073709551616",
        b"1.632228638e12",
    ];
    // (where, what: 0 delete / 1 insert / 2 overwrite, which token)
    let edit = (any::<Index>(), 0..3u8, prop::sample::select(TOKENS));
    (arb_envelope(), prop::collection::vec(edit, 0..4)).prop_map(|(value, edits)| {
        let mut body = serde_json::to_vec(&value).unwrap();
        for (at, op, token) in edits {
            let at = at.index(body.len() + 1);
            match op {
                0 if at < body.len() => {
                    body.remove(at);
                }
                2 if at < body.len() => {
                    let end = (at + token.len()).min(body.len());
                    body.splice(at..end, token.iter().copied());
                }
                _ => {
                    body.splice(at..at, token.iter().copied());
                }
            }
        }
        body
    })
}

/// `momment` values: anything, and many near the edges that matter (the
/// seconds/ms threshold and the ends of chrono's range in ms).
fn arb_momment() -> impl Strategy<Value = i64> {
    let max_ms = DateTime::<Utc>::MAX_UTC.timestamp_millis();
    let min_ms = DateTime::<Utc>::MIN_UTC.timestamp_millis();
    let t = MS_THRESHOLD;
    prop_oneof![
        any::<i64>(),
        -t - 2..=t + 2,
        t - 1_000..=t + 1_000,
        -t - 1_000..=-t + 1_000,
        1_500_000_000_000..2_000_000_000_000i64,
        max_ms - 1_000..=max_ms + 1_000,
        min_ms - 1_000..=min_ms + 1_000,
        // The exact edges, which the ranges above hit too rarely.
        prop::sample::select(vec![
            i64::MIN,
            i64::MIN + 1,
            -t - 1,
            -t,
            -t + 1,
            -1,
            0,
            1,
            t - 1,
            t,
            t + 1,
            min_ms - 1,
            min_ms,
            max_ms,
            max_ms + 1,
            i64::MAX - 1,
            i64::MAX,
        ]),
    ]
}

/// Text with control characters, ANSI/OSC/DCS escapes, C1 controls, bidi
/// overrides and other characters a terminal could trip on.
fn arb_nasty() -> impl Strategy<Value = String> {
    const NASTY: &[&str] = &[
        "\x1b[31m",
        "\x1b[2J",
        "\x1b[H",
        "\x1b[0m",
        "\x1b]0;pwned\x07",
        "\x1b]8;;http://evil.example/\x1b\\",
        "\x1bP+q544e\x1b\\",
        "\x1b",
        "\u{9b}31m",
        "\u{90}",
        "\u{85}",
        "\0",
        "\x07",
        "\x08",
        "\r",
        "\n",
        "\t",
        "\x0b",
        "\x0c",
        "\x7f",
        "\u{202e}",
        "\u{200b}",
        "\u{feff}",
        "\u{2028}",
        "\u{fffd}",
        "e\u{301}",
        "\u{1f600}",
        "\u{10ffff}",
    ];
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(NASTY).prop_map(String::from),
            "[a-zA-Z0-9.]{1,4}",
        ],
        1..8,
    )
    .prop_map(|parts| parts.concat())
}

// ---------------------------------------------------------------------------
// Oracles
// ---------------------------------------------------------------------------

/// What `momment` = `raw` must become: `Some(moment)`, or `None` when it is
/// unusable (out of chrono's range, or outside 2000..2100): then the event
/// keeps its receipt time. Stated from the rule, not from the crate's
/// helper: |raw| above 10^11 is milliseconds, otherwise seconds.
fn expected_moment(raw: i64) -> Option<DateTime<Utc>> {
    let plausible = |m: &DateTime<Utc>| (MOMENT_MIN_SECS..MOMENT_MAX_SECS).contains(&m.timestamp());
    chrono_moment(raw).filter(plausible)
}

fn chrono_moment(raw: i64) -> Option<DateTime<Utc>> {
    let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    if raw.unsigned_abs() > MS_THRESHOLD.unsigned_abs() {
        let in_range = (min.timestamp_millis()..=max.timestamp_millis()).contains(&raw);
        in_range.then(|| {
            let m = Utc.timestamp_millis_opt(raw).unwrap();
            assert_eq!(m.timestamp_millis(), raw);
            m
        })
    } else {
        let in_range = (min.timestamp()..=max.timestamp()).contains(&raw);
        in_range.then(|| {
            let m = Utc.timestamp_opt(raw, 0).unwrap();
            assert_eq!((m.timestamp(), m.timestamp_subsec_nanos()), (raw, 0));
            m
        })
    }
}

/// `obj[field]` as the optional string the parser must have produced: a
/// field of another type costs only that field.
fn optional_text(obj: &Map<String, Value>, field: &str) -> Result<Option<String>, TestCaseError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        _ => Ok(None),
    }
}

/// Checks an accepted body against the documented contract: a non-blank
/// string `instanceId` copied as is; `type` decides the kind when it is a
/// non-blank string, the route otherwise (`Route::Any`: untyped activity);
/// no usable `momment` means the receipt time.
fn check_accepted(value: &Value, route: Route, event: &Event) -> Result<(), TestCaseError> {
    let Value::Object(obj) = value else {
        return Err(TestCaseError::fail(format!(
            "accepted a non-object: {value}"
        )));
    };
    match obj.get("instanceId") {
        Some(Value::String(id)) => {
            prop_assert!(!id.trim().is_empty(), "accepted a blank instanceId");
            prop_assert_eq!(&event.instance_id, &InstanceId::new(id.clone()));
        }
        other => prop_assert!(false, "accepted instanceId {:?}", other),
    }
    prop_assert_eq!(event.received, received());

    let disconnected = || -> Result<EventKind, TestCaseError> {
        Ok(EventKind::Disconnected {
            error: optional_text(obj, "error")?,
        })
    };
    let connected = || -> Result<EventKind, TestCaseError> {
        Ok(EventKind::Connected {
            phone: optional_text(obj, "phone")?,
        })
    };
    let want = match obj.get("type") {
        Some(Value::String(t)) if t == "DisconnectedCallback" => Some(disconnected()?),
        Some(Value::String(t)) if t == "ConnectedCallback" => Some(connected()?),
        Some(Value::String(t)) if !t.trim().is_empty() => Some(EventKind::Activity {
            callback: t.clone(),
        }),
        // missing, null, blank or not a string: the route decides
        _ if route == Route::Disconnected => Some(disconnected()?),
        _ if route == Route::Connected => Some(connected()?),
        _ if route == Route::Any => Some(EventKind::Activity {
            callback: UNTYPED_CALLBACK.to_owned(),
        }),
        _ => None, // a route added later: its rule is not known here
    };
    if let Some(want) = want {
        prop_assert_eq!(&event.kind, &want);
    }

    match obj.get("momment") {
        Some(Value::Number(n)) => {
            if let Some(raw) = n.as_i64() {
                let want = expected_moment(raw).unwrap_or_else(received);
                prop_assert_eq!(event.moment, want, "momment {}", raw);
            }
        }
        Some(Value::String(s)) => {
            if let Ok(raw) = s.trim().parse::<i64>() {
                let want = expected_moment(raw).unwrap_or_else(received);
                prop_assert_eq!(event.moment, want, "momment {:?}", s);
            }
        }
        // missing, null, or of another type: the receipt time
        _ => prop_assert_eq!(event.moment, received()),
    }
    Ok(())
}

/// Parses `body` on every route; whatever is accepted must satisfy
/// [`check_accepted`], and every error must have a message.
fn parse_everywhere(body: &[u8]) -> Result<(), TestCaseError> {
    for route in ROUTES {
        match parse_event(body, route, received()) {
            Ok(event) => {
                let value: Value = serde_json::from_slice(body).map_err(|e| {
                    TestCaseError::fail(format!("accepted a body serde_json rejects: {e}"))
                })?;
                check_accepted(&value, route, &event)?;
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

struct Fixture {
    name: String,
    value: Value,
    /// What the unmodified body parses to on each of [`ROUTES`].
    parsed: Vec<Result<Event, ParseError>>,
}

/// Every `*.json` in the examples directory (the invalid ones live in
/// `invalid/` and are not JSON files).
static EXAMPLES: LazyLock<Vec<Fixture>> = LazyLock::new(|| {
    let dir = Path::new(FIXTURES);
    let mut out: Vec<Fixture> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            let parsed = ROUTES
                .iter()
                .map(|&route| parse_event(text.as_bytes(), route, received()))
                .collect();
            Fixture {
                name: path.file_name().unwrap().to_string_lossy().into_owned(),
                value,
                parsed,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        out.len() >= 50,
        "expected Z-API's example bodies in {}, found {}",
        dir.display(),
        out.len()
    );
    out
});

/// JSON pointers to every object inside `value` (the root is `""`).
fn object_pointers(value: &Value, here: String, out: &mut Vec<String>) {
    let escape = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                object_pointers(v, format!("{here}/{}", escape(k)), out);
            }
            out.push(here);
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                object_pointers(v, format!("{here}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// One extra field: at the top level or in a nested object (picked by the
/// index), under a key not already there.
#[derive(Debug, Clone)]
struct Extra {
    top_level: bool,
    at: Index,
    key: String,
    value: Value,
}

fn arb_extras() -> impl Strategy<Value = Vec<Extra>> {
    prop::collection::vec(
        (any::<bool>(), any::<Index>(), arb_key(), arb_json()).prop_map(
            |(top_level, at, key, value)| Extra {
                top_level,
                at,
                key,
                value,
            },
        ),
        1..6,
    )
}

/// `value` with `extras` added; never replaces a field, never adds one the
/// parser reads at the top level.
fn with_extras(value: &Value, extras: &[Extra]) -> Value {
    let mut out = value.clone();
    let mut pointers = Vec::new();
    object_pointers(value, String::new(), &mut pointers);
    for extra in extras {
        let pointer = if extra.top_level {
            ""
        } else {
            pointers[extra.at.index(pointers.len())].as_str()
        };
        if pointer.is_empty() && PARSER_FIELDS.contains(&extra.key.as_str()) {
            continue;
        }
        let Some(Value::Object(obj)) = out.pointer_mut(pointer) else {
            unreachable!("{pointer:?} is an object in the fixture");
        };
        obj.entry(extra.key.clone())
            .or_insert_with(|| extra.value.clone());
    }
    out
}

// ---------------------------------------------------------------------------
// Encodings
// ---------------------------------------------------------------------------

/// `s` as a JSON string literal with every character outside printable ASCII
/// written as `\uXXXX` (surrogate pairs above U+FFFF): the other way a
/// sender may encode the same text.
fn json_string_ascii(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// An object as JSON text: serde_json's own encoding, or every string
/// (keys included) ASCII-escaped.
fn encode(obj: &[(&str, Value)], ascii: bool) -> Vec<u8> {
    if !ascii {
        let map: Map<String, Value> = obj
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        return serde_json::to_vec(&Value::Object(map)).unwrap();
    }
    let fields: Vec<String> = obj
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => json_string_ascii(s),
                other => other.to_string(),
            };
            format!("{}: {v}", json_string_ascii(k))
        })
        .collect();
    format!("{{{}}}", fields.join(", ")).into_bytes()
}

#[test]
fn ascii_encoding_is_json() {
    let s = "a\"\\\x1b[31m\u{9b}\u{1f600}\0\u{10ffff}";
    let lit = json_string_ascii(s);
    assert!(lit.is_ascii());
    assert_eq!(serde_json::from_str::<String>(&lit).unwrap(), s);
}

// ---------------------------------------------------------------------------
// Plain checks of the fixtures themselves
// ---------------------------------------------------------------------------

#[test]
fn every_example_parses_on_every_route() {
    for fixture in EXAMPLES.iter() {
        let obj = fixture.value.as_object().unwrap();
        for (route, parsed) in ROUTES.into_iter().zip(&fixture.parsed) {
            let event = parsed
                .as_ref()
                .unwrap_or_else(|e| panic!("{} on {route:?}: {e}", fixture.name));
            assert_eq!(
                Some(event.instance_id.as_str()),
                obj["instanceId"].as_str(),
                "{}",
                fixture.name
            );
            let want_label = obj["type"].as_str().unwrap();
            assert_eq!(event.kind.label(), want_label, "{}", fixture.name);
            check_accepted(&fixture.value, route, event)
                .unwrap_or_else(|e| panic!("{} on {route:?}: {e}", fixture.name));
        }
    }
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1))]

    /// (a) Random bytes: no panic on any route; anything accepted is a valid
    /// body by the contract.
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everywhere(&body)?;
    }

    /// (a) Nearly valid bodies, which reach the field checks.
    #[test]
    fn mutated_bodies_never_panic(body in arb_mutated_body()) {
        parse_everywhere(&body)?;
    }

    /// (b) Any JSON value, compact or pretty, and webhook-shaped objects.
    #[test]
    fn arbitrary_json_never_panics(
        value in prop_oneof![arb_json(), arb_envelope()],
        pretty in any::<bool>(),
    ) {
        let body = if pretty {
            serde_json::to_vec_pretty(&value).unwrap()
        } else {
            serde_json::to_vec(&value).unwrap()
        };
        parse_everywhere(&body)?;
        if !value.is_object() {
            for route in ROUTES {
                prop_assert_eq!(
                    parse_event(&body, route, received()),
                    Err(ParseError::NotAnObject)
                );
            }
        }
    }

    /// (c) Disconnect bodies: exactly the event the rules give, or exactly
    /// the error. With `type` on any route, or without it on
    /// `/hooks/disconnected`.
    #[test]
    fn disconnect_round_trips(
        id in prop_oneof![4 => arb_text(24), 1 => arb_blank()],
        error in prop::option::of(arb_text(40)),
        error_as_null in any::<bool>(),
        momment in arb_momment(),
        typed_route in prop::option::of(prop::sample::select(ROUTES.to_vec())),
    ) {
        let mut obj = json!({
            "instanceId": id,
            "momment": momment,
            "disconnected": true,
        });
        match &error {
            Some(e) => obj["error"] = json!(e),
            None if error_as_null => obj["error"] = Value::Null,
            None => {}
        }
        let route = match typed_route {
            Some(route) => {
                obj["type"] = json!("DisconnectedCallback");
                route
            }
            None => Route::Disconnected,
        };
        let body = serde_json::to_vec(&obj).unwrap();

        let want = if id.trim().is_empty() {
            Err(ParseError::NotNonEmptyString("instanceId"))
        } else {
            Ok(Event {
                instance_id: InstanceId::new(id.clone()),
                kind: EventKind::Disconnected { error: error.clone() },
                // an unusable momment costs the momment, not the event
                moment: expected_moment(momment).unwrap_or_else(received),
                received: received(),
            })
        };
        let got = parse_event(&body, route, received());
        prop_assert_eq!(&got, &want, "body {}", String::from_utf8_lossy(&body));
        if let (Ok(event), Some(_)) = (got, expected_moment(momment)) {
            // The two readings, stated once more from the result's side.
            if momment.unsigned_abs() > MS_THRESHOLD.unsigned_abs() {
                prop_assert_eq!(event.moment.timestamp_millis(), momment);
            } else {
                prop_assert_eq!(event.moment.timestamp(), momment);
                prop_assert_eq!(event.moment.timestamp_subsec_nanos(), 0);
            }
        }
    }

    /// (e) Control characters and escapes survive parsing untouched, whether
    /// the sender wrote them as serde_json does or all as `\uXXXX`.
    #[test]
    fn control_characters_are_preserved(
        id in arb_nasty().prop_filter("instanceId must not be blank", |s| !s.trim().is_empty()),
        text in arb_nasty(),
        connect in any::<bool>(),
        typed in any::<bool>(),
        ascii in any::<bool>(),
    ) {
        let (kind, field, route, want) = if connect {
            (
                "ConnectedCallback",
                "phone",
                Route::Connected,
                EventKind::Connected { phone: Some(text.clone()) },
            )
        } else {
            (
                "DisconnectedCallback",
                "error",
                Route::Disconnected,
                EventKind::Disconnected { error: Some(text.clone()) },
            )
        };
        let mut fields = vec![("instanceId", json!(id)), (field, json!(text))];
        let route = if typed {
            fields.push(("type", json!(kind)));
            Route::Any
        } else {
            route
        };
        let body = encode(&fields, ascii);
        let event = parse_event(&body, route, received());
        prop_assert!(
            event.is_ok(),
            "rejected {:?}: {:?}",
            String::from_utf8_lossy(&body),
            event
        );
        let event = event.unwrap();
        prop_assert_eq!(event.instance_id.as_str(), id.as_str());
        prop_assert_eq!(&event.kind, &want);
    }
}

proptest! {
    #![proptest_config(config(4))]

    /// (d) Z-API's examples with unknown fields added (top level and nested,
    /// near-miss names included): the same event. Each case covers every
    /// example on one route, so a quarter of the usual case count suffices.
    #[test]
    fn examples_ignore_unknown_fields(
        extras in arb_extras(),
        pretty in any::<bool>(),
        route_at in any::<Index>(),
    ) {
        let r = route_at.index(ROUTES.len());
        let route = ROUTES[r];
        for fixture in EXAMPLES.iter() {
            let want = fixture.parsed[r].as_ref();
            prop_assert!(want.is_ok(), "{} on {:?}: {:?}", fixture.name, route, want);
            let want = want.unwrap();

            let value = with_extras(&fixture.value, &extras);
            let body = if pretty {
                serde_json::to_vec_pretty(&value).unwrap()
            } else {
                serde_json::to_vec(&value).unwrap()
            };
            let got = parse_event(&body, route, received());
            prop_assert!(
                got.is_ok(),
                "{} on {:?} with extras: {:?}\nbody: {}",
                fixture.name, route, got, String::from_utf8_lossy(&body)
            );
            let got = got.unwrap();
            prop_assert_eq!(&got.kind, &want.kind, "{}", fixture.name);
            prop_assert_eq!(&got.instance_id, &want.instance_id, "{}", fixture.name);
            prop_assert_eq!(&got, want, "{}", fixture.name);
        }
    }
}
