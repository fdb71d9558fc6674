//! The simulated REST API: routing, the checks in the order of the table in
//! [`super`], and the answers.

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::connect;
use super::state::{Inst, Shared, SimState};
use super::{ERR_ALREADY_CONNECTED, MAX_BODY, SimCall};

/// An answer of the sim.
pub(super) struct Answer {
    status: StatusCode,
    body: String,
    json: bool,
    retry_after: Option<u64>,
    allow: Option<&'static str>,
}

impl Answer {
    fn json(status: StatusCode, v: Value) -> Self {
        Self {
            status,
            body: v.to_string(),
            json: true,
            retry_after: None,
            allow: None,
        }
    }

    pub(super) fn ok(v: Value) -> Self {
        Self::json(StatusCode::OK, v)
    }

    pub(super) fn error(status: StatusCode, msg: &str) -> Self {
        Self::json(status, json!({ "error": msg }))
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut resp = (self.status, self.body).into_response();
        let h = resp.headers_mut();
        let ct = if self.json {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        if let Some(secs) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(allow) = self.allow {
            h.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        resp
    }
}

/// The REST endpoints the sim knows (the last segment of the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Endpoint {
    Status,
    Me,
    Restart,
    RestoreSession,
    WebhookDisconnected,
    WebhookConnected,
    EveryWebhooks,
    QrImage,
    QrBytes,
    PhoneCode,
    Device,
}

impl Endpoint {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "status" => Endpoint::Status,
            "me" => Endpoint::Me,
            "restart" => Endpoint::Restart,
            "restore-session" => Endpoint::RestoreSession,
            "update-webhook-disconnected" => Endpoint::WebhookDisconnected,
            "update-webhook-connected" => Endpoint::WebhookConnected,
            "update-every-webhooks" => Endpoint::EveryWebhooks,
            "qr-code/image" => Endpoint::QrImage,
            "qr-code" => Endpoint::QrBytes,
            "device" => Endpoint::Device,
            s if s.starts_with("phone-code/") && !s["phone-code/".len()..].contains('/') => {
                Endpoint::PhoneCode
            }
            _ => return None,
        })
    }

    fn method(self) -> Method {
        match self {
            Endpoint::Status
            | Endpoint::Me
            | Endpoint::Restart
            | Endpoint::RestoreSession
            | Endpoint::QrImage
            | Endpoint::QrBytes
            | Endpoint::PhoneCode
            | Endpoint::Device => Method::GET,
            Endpoint::WebhookDisconnected
            | Endpoint::WebhookConnected
            | Endpoint::EveryWebhooks => Method::PUT,
        }
    }
}

pub(super) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = to_bytes(body, MAX_BODY).await;
    let header_text = |name: &str| {
        parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let call = SimCall {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        client_token: header_text("client-token"),
        content_type: header_text(header::CONTENT_TYPE.as_str()),
        body: body
            .as_ref()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        authorization: header_text(header::AUTHORIZATION.as_str()),
    };
    shared.lock().calls.push(call);
    let shared_for_scans = Arc::clone(&shared);
    shared.calls_changed.notify_waiters();
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let answer = match body {
        Ok(body) => answer(
            &shared,
            &parts.method,
            parts.uri.path(),
            parts.uri.query().unwrap_or_default(),
            &parts.headers,
            &body,
        ),
        Err(_) => Answer::error(StatusCode::PAYLOAD_TOO_LARGE, "Body too large"),
    };
    super::connect::start_scans(&shared_for_scans);
    answer.into_response()
}

/// Decides the answer to one request (synchronous: the lock is never held
/// across an await).
pub(super) fn answer(
    shared: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let mut st = shared.lock();
    let full = if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    };
    if let Some(answer) = injected_failure(&mut st, &full) {
        return answer;
    }
    if path.trim_end_matches('/') == "/instances" {
        return super::partner::list(&st, method, query, headers);
    }

    let Some((id, token, action, arg)) = parse_route(path) else {
        return Answer::error(StatusCode::NOT_FOUND, "Not found");
    };
    if *method != action.method() {
        let mut a = Answer::error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        a.allow = Some(if action.method() == Method::GET {
            "GET"
        } else {
            "PUT"
        });
        return a;
    }

    if let Err(refused) = check_client_token(shared, &st, headers, &id, &token) {
        return refused;
    }
    let Some(inst) = st.instances.get_mut(&id) else {
        return Answer::error(StatusCode::BAD_REQUEST, "Instance not found");
    };

    match action {
        Endpoint::Status => Answer::ok(json!({
            "connected": inst.connected,
            // as real Z-API: a healthy instance's answer carries an "error"
            "error": if inst.connected { ERR_ALREADY_CONNECTED } else { inst.error.as_str() },
            "smartphoneConnected": inst.smartphone_connected,
        })),
        Endpoint::Me => Answer::ok(me_body(&id, inst)),
        Endpoint::Restart | Endpoint::RestoreSession => {
            connect::connect(shared, &mut st, &id);
            Answer::ok(json!({ "value": true }))
        }
        Endpoint::QrImage => Answer::ok(connect::qr_image(&mut st, &id)),
        Endpoint::QrBytes => Answer::ok(connect::qr_bytes(&mut st, &id)),
        Endpoint::PhoneCode => match connect::phone_code(&mut st, &id, &arg) {
            Ok(v) => Answer::ok(v),
            Err(e) => Answer::error(StatusCode::BAD_REQUEST, e),
        },
        Endpoint::Device => Answer::ok(connect::device(inst)),
        Endpoint::WebhookDisconnected | Endpoint::WebhookConnected | Endpoint::EveryWebhooks => {
            set_webhooks(inst, action, headers, body)
        }
    }
}

/// The `Client-Token` of a REST call: there, some account's, and the one
/// of the instance's own account (another account's is refused).
fn check_client_token(
    shared: &Shared,
    st: &SimState,
    headers: &HeaderMap,
    id: &str,
    token: &str,
) -> Result<(), Answer> {
    let given = match headers.get("client-token").map(HeaderValue::as_bytes) {
        None | Some(b"") => return Err(Answer::error(StatusCode::BAD_REQUEST, "null not allowed")),
        Some(given) => given,
    };
    let not_allowed = |status| {
        let head: String = String::from_utf8_lossy(given).chars().take(4).collect();
        Answer::error(status, &format!("Client-Token {head}… not allowed"))
    };
    if !st.knows_client_token(shared, given) {
        return Err(not_allowed(StatusCode::BAD_REQUEST));
    }
    let Some(account) = st
        .instances
        .get(id)
        .filter(|i| i.token == token)
        .map(|i| i.account)
    else {
        return Err(Answer::error(StatusCode::BAD_REQUEST, "Instance not found"));
    };
    // every account has its own Client-Token: another account's is refused
    if st.client_token_of(shared, account).as_bytes() != given {
        return Err(not_allowed(StatusCode::FORBIDDEN));
    }
    Ok(())
}

/// The next failure injected with [`Sim::fail_next`] for `path` (with its
/// `?query`, if any: a suffix can name a page of the listing), if any
/// (used up once answered).
fn injected_failure(st: &mut SimState, path: &str) -> Option<Answer> {
    let pos = st
        .failures
        .iter()
        .position(|f| f.remaining > 0 && path.ends_with(&f.suffix))?;
    let f = &mut st.failures[pos];
    f.remaining -= 1;
    let json = serde_json::from_str::<Value>(&f.body).is_ok();
    let answer = Answer {
        status: f.status,
        body: f.body.clone(),
        json,
        retry_after: f.retry_after,
        allow: None,
    };
    if f.remaining == 0 {
        st.failures.remove(pos);
    }
    Some(answer)
}

/// A webhook PUT on `inst`: checks the body, then registers the URL for
/// one callback or (every-webhooks) for all of them.
fn set_webhooks(inst: &mut Inst, action: Endpoint, headers: &HeaderMap, body: &[u8]) -> Answer {
    let (url, notify_sent_by_me) = match read_webhook_body(headers, body, action) {
        Ok(v) => v,
        Err(a) => return a,
    };
    match action {
        Endpoint::WebhookDisconnected => inst.disconnected_url = Some(url),
        Endpoint::WebhookConnected => inst.connected_url = Some(url),
        _ => {
            for slot in [
                &mut inst.disconnected_url,
                &mut inst.connected_url,
                &mut inst.received_url,
                &mut inst.delivery_url,
                &mut inst.message_status_url,
                &mut inst.presence_url,
            ] {
                *slot = Some(url.clone());
            }
            inst.notify_sent_by_me = notify_sent_by_me;
        }
    }
    Answer::ok(json!({ "value": true }))
}

/// Checks a webhook PUT: JSON content type, `{"value": "https://…"}` and,
/// for every-webhooks, an optional boolean `notifySentByMe`.
pub(super) fn read_webhook_body(
    headers: &HeaderMap,
    body: &[u8],
    action: Endpoint,
) -> Result<(String, bool), Answer> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Answer::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        ));
    }
    let bad = |msg: &str| Answer::error(StatusCode::BAD_REQUEST, msg);
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("Body is not valid JSON"))?;
    let Some(url) = v.get("value").and_then(Value::as_str) else {
        return Err(bad("value is required and must be a string"));
    };
    let notify_sent_by_me = match (action, v.get("notifySentByMe")) {
        (Endpoint::EveryWebhooks, None) => false,
        (Endpoint::EveryWebhooks, Some(b)) => b
            .as_bool()
            .ok_or_else(|| bad("notifySentByMe must be a boolean"))?,
        _ => false,
    };
    let is_https = reqwest::Url::parse(url)
        .is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some_and(|h| !h.is_empty()));
    if !is_https {
        return Err(bad("Invalid URL: webhook URLs must start with https://"));
    }
    Ok((url.to_owned(), notify_sent_by_me))
}

/// `/instances/{id}/token/{token}/{action}` → decoded id, token, action
/// and the action's argument (`phone-code/{phone}`'s phone, else empty).
pub(super) fn parse_route(path: &str) -> Option<(String, String, Endpoint, String)> {
    let mut parts = path.splitn(6, '/');
    let (Some(""), Some("instances"), Some(id), Some("token"), Some(token), Some(action)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let endpoint = Endpoint::parse(action)?;
    let arg = match endpoint {
        Endpoint::PhoneCode => percent_decode(action.strip_prefix("phone-code/")?)?,
        _ => String::new(),
    };
    Some((percent_decode(id)?, percent_decode(token)?, endpoint, arg))
}

/// Decodes `%XX` escapes; `None` on a bad escape or invalid UTF-8.
pub(super) fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

pub(super) fn me_body(id: &str, i: &Inst) -> Value {
    json!({
        "id": id,
        "name": i.name,
        "due": 1_893_456_000_000_i64,
        "connected": i.connected,
        "paymentStatus": "RECEIVED",
        "created": 1_700_000_000_000_i64,
        "connectedCallbackUrl": i.connected_url,
        "deliveryCallbackUrl": i.delivery_url,
        "disconnectedCallbackUrl": i.disconnected_url,
        "messageStatusCallbackUrl": i.message_status_url,
        "presenceChatCallbackUrl": i.presence_url,
        "receivedCallbackUrl": i.received_url,
        "receiveCallbackSentByMe": i.notify_sent_by_me,
        "callRejectAuto": false,
        "callRejectMessage": "",
        "autoReadMessage": false,
        "initialDataCallbackUrl": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_parsed_and_decoded() {
        assert_eq!(
            parse_route("/instances/a%2Fb%20c/token/t%3Fk/status"),
            Some((
                "a/b c".into(),
                "t?k".into(),
                Endpoint::Status,
                String::new()
            ))
        );
        assert_eq!(
            parse_route("/instances/I/token/T/update-every-webhooks"),
            Some((
                "I".into(),
                "T".into(),
                Endpoint::EveryWebhooks,
                String::new()
            ))
        );
        assert_eq!(
            parse_route("/instances/I/token/T/qr-code/image"),
            Some(("I".into(), "T".into(), Endpoint::QrImage, String::new()))
        );
        assert_eq!(
            parse_route("/instances/I/token/T/phone-code/5544"),
            Some(("I".into(), "T".into(), Endpoint::PhoneCode, "5544".into()))
        );
        assert_eq!(parse_route("/instances/I/token/T/phone-code/1/2"), None);
        assert_eq!(parse_route("/instances/I/token/T/qr-code/other"), None);
        assert_eq!(parse_route("/instances/I/token/T/nope"), None);
        assert_eq!(parse_route("/instances/I/token/T/status/"), None);
        assert_eq!(parse_route("/instances/I/tokens/T/status"), None);
        assert_eq!(parse_route("/status"), None);
        assert_eq!(parse_route("/instances/%zz/token/T/status"), None);
        assert_eq!(parse_route("/instances/%C3/token/T/status"), None);
    }
}
