//! Fuzzes `webhook::parse_event` with the input as the body, on every route.
//!
//! Beyond "never panics", it checks what must hold of every result:
//! - an accepted body is a JSON object whose `instanceId` is a non-blank
//!   string, copied as is; `received` is passed through; an activity's
//!   callback name is non-blank;
//! - a rejection has a message (it is sent back as `{"error": ...}`);
//! - `type` decides the kind when present, so whatever `Route::Any` (which
//!   requires `type`) accepts, the per-event routes accept identically.

#![no_main]

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use zapi_dash::model::EventKind;
use zapi_dash::webhook::{Route, UNTYPED_CALLBACK, parse_event};

/// Every route today; `Route::Any` last.
const ROUTES: [Route; 3] = [Route::Disconnected, Route::Connected, Route::Any];

fn received() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let received = received();
    let results = ROUTES.map(|route| parse_event(data, route, received));

    for (route, result) in ROUTES.iter().zip(&results) {
        match result {
            Ok(event) => {
                let id = event.instance_id.as_str();
                assert!(
                    !id.trim().is_empty(),
                    "{route:?}: accepted blank instanceId {id:?}"
                );
                assert_eq!(event.received, received, "{route:?}: received changed");
                if let EventKind::Activity { callback } = &event.kind {
                    assert!(!callback.trim().is_empty(), "{route:?}: blank callback");
                }
                let value: Value = serde_json::from_slice(data)
                    .unwrap_or_else(|e| panic!("{route:?}: accepted non-JSON: {e}"));
                assert!(value.is_object(), "{route:?}: accepted a non-object");
                assert_eq!(
                    value.get("instanceId").and_then(Value::as_str),
                    Some(id),
                    "{route:?}: instanceId altered"
                );
            }
            Err(e) => assert!(!e.to_string().is_empty(), "{route:?}: empty error message"),
        }
    }

    // Only the body decides a refusal (JSON, object, instanceId): every
    // route accepts or refuses alike.
    assert!(
        results.iter().all(Result::is_ok) || results.iter().all(Result::is_err),
        "routes disagree on accepting the body"
    );
    if let Ok(any) = &results[2] {
        // A usable `type` wins over the route; without one each route has its own kind.
        let typed =
            !matches!(&any.kind, EventKind::Activity { callback } if callback == UNTYPED_CALLBACK);
        if typed {
            for (route, result) in ROUTES[..2].iter().zip(&results[..2]) {
                assert_eq!(
                    result.as_ref().ok(),
                    Some(any),
                    "{route:?} disagrees with Route::Any"
                );
            }
        }
    }
});
