//! The Z-API client against the simulated Z-API, over real loopback HTTP.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use zapi_dash::model::Status;
use zapi_dash::model::{InstanceId, Secret};
use zapi_dash::sim::{self, Sim, SimCall, SimInstance, SimOptions};
use zapi_dash::zapi::{ApiError, Hook, ZapiClient};

const CLIENT_TOKEN: &str = "CT-0123456789abcdef";
/// Generous upper bound for things that happen at once; never reached
/// when the feature works.
const WAIT: Duration = Duration::from_secs(10);

struct Fixture {
    sim: Sim,
    client: ZapiClient,
    inst: SimInstance,
    id: InstanceId,
    token: Secret,
}

impl Fixture {
    async fn new() -> Self {
        Self::with_instance(sim::demo_instances(2, 42).remove(0)).await
    }

    async fn with_instance(inst: SimInstance) -> Self {
        let sim = Sim::start(SimOptions {
            client_token: CLIENT_TOKEN.into(),
            instances: vec![inst.clone(), sim::demo_instances(2, 42).remove(1)],
            latency: Duration::ZERO,
        })
        .await
        .unwrap();
        let client = client_for(&sim.base_url(), CLIENT_TOKEN);
        Fixture {
            id: InstanceId::new(inst.id.clone()),
            token: Secret::new(inst.token.clone()),
            sim,
            client,
            inst,
        }
    }

    fn path(&self, action: &str) -> String {
        format!(
            "/instances/{}/token/{}/{action}",
            self.inst.id, self.inst.token
        )
    }

    /// Waits until exactly `n` calls were recorded (the client has returned,
    /// so no more are coming) and returns them.
    async fn calls(&self, n: usize) -> Vec<SimCall> {
        let calls = self
            .sim
            .wait_for_calls(|c| c.len() >= n, WAIT)
            .await
            .unwrap_or_else(|c| panic!("expected {n} calls, got {c:#?}"));
        assert_eq!(calls.len(), n, "{calls:#?}");
        calls
    }
}

fn client_for(base: &str, client_token: &str) -> ZapiClient {
    ZapiClient::new(base, Secret::new(client_token))
        .unwrap()
        .with_retry_base(Duration::from_millis(1))
}

fn assert_get(call: &SimCall, path: &str) {
    assert_eq!(call.method, "GET");
    assert_eq!(call.path, path);
    assert_eq!(call.client_token.as_deref(), Some(CLIENT_TOKEN));
    assert_eq!(call.body, "");
}

fn assert_put(call: &SimCall, path: &str, body: Value) {
    assert_eq!(call.method, "PUT");
    assert_eq!(call.path, path);
    assert_eq!(call.client_token.as_deref(), Some(CLIENT_TOKEN));
    assert_eq!(call.content_type.as_deref(), Some("application/json"));
    assert_eq!(serde_json::from_str::<Value>(&call.body).unwrap(), body);
}

fn http_error(r: Result<impl std::fmt::Debug, ApiError>) -> (u16, String) {
    match r {
        Err(ApiError::Http { status, message }) => (status, message),
        other => panic!("expected ApiError::Http, got {other:?}"),
    }
}

#[tokio::test]
async fn status_is_a_get_with_the_client_token_and_reads_the_answer() {
    let f = Fixture::new().await;
    let s = f.client.status(&f.id, &f.token).await.unwrap();
    assert_eq!(
        s,
        Status {
            connected: true,
            // as real Z-API answers a healthy instance
            error: Some(sim::ERR_ALREADY_CONNECTED.into()),
            smartphone_connected: Some(true),
        }
    );

    f.sim
        .set_connected(&f.inst.id, false, Some(sim::ERR_RESTORE_SESSION));
    let s = f.client.status(&f.id, &f.token).await.unwrap();
    assert!(!s.connected);
    assert_eq!(s.error.as_deref(), Some("You need to restore the session."));
    assert_eq!(s.smartphone_connected, Some(false));

    for call in f.calls(2).await {
        assert_get(&call, &f.path("status"));
    }
}

#[tokio::test]
async fn register_webhooks_with_a_secret_registers_the_instance_secret_paths() {
    let f = Fixture::new().await;
    let secret = zapi_dash::listener::secret::WebhookSecret::new(&Secret::new(
        "a-webhook-secret-of-32-characters",
    ))
    .unwrap();
    f.client
        .register_webhooks(&f.id, &f.token, "https://dash.example", Some(&secret))
        .await
        .unwrap();
    let token = secret.path_token(&f.id);
    assert_eq!(token.len(), 32);
    let mut registered: Vec<Value> = f
        .calls(2)
        .await
        .iter()
        .map(|c| serde_json::from_str(&c.body).unwrap())
        .collect();
    registered.sort_by_key(Value::to_string);
    assert_eq!(
        registered,
        [
            json!({ "value": format!("https://dash.example/hooks/{token}/connected") }),
            json!({ "value": format!("https://dash.example/hooks/{token}/disconnected") }),
        ]
    );
}

#[tokio::test]
async fn register_webhooks_makes_exactly_two_puts_with_the_right_urls() {
    let f = Fixture::new().await;
    f.client
        .register_webhooks(&f.id, &f.token, "https://dash.example/s3cr3t/", None)
        .await
        .unwrap();

    let calls = f.calls(2).await;
    // The two PUTs run concurrently: compare without order.
    let paths: BTreeSet<_> = calls.iter().map(|c| c.path.clone()).collect();
    assert_eq!(
        paths,
        BTreeSet::from([
            f.path("update-webhook-connected"),
            f.path("update-webhook-disconnected"),
        ])
    );
    for call in &calls {
        let hook = if call.path.ends_with("disconnected") {
            "disconnected"
        } else {
            "connected"
        };
        assert_put(
            call,
            &call.path,
            json!({ "value": format!("https://dash.example/s3cr3t/hooks/{hook}") }),
        );
    }

    let state = f.sim.instance(&f.inst.id).unwrap();
    assert_eq!(
        state.disconnected_url.as_deref(),
        Some("https://dash.example/s3cr3t/hooks/disconnected")
    );
    assert_eq!(
        state.connected_url.as_deref(),
        Some("https://dash.example/s3cr3t/hooks/connected")
    );
    assert_eq!(state.received_url, None);
}

#[tokio::test]
async fn update_webhook_sends_each_hook_to_its_path() {
    let f = Fixture::new().await;
    f.client
        .update_webhook(&f.id, &f.token, Hook::Disconnected, "https://a.example/d")
        .await
        .unwrap();
    f.client
        .update_webhook(&f.id, &f.token, Hook::Connected, "https://a.example/c")
        .await
        .unwrap();
    let calls = f.calls(2).await;
    assert_put(
        &calls[0],
        &f.path("update-webhook-disconnected"),
        json!({ "value": "https://a.example/d" }),
    );
    assert_put(
        &calls[1],
        &f.path("update-webhook-connected"),
        json!({ "value": "https://a.example/c" }),
    );
}

#[tokio::test]
async fn every_webhooks_sends_the_url_and_notify_sent_by_me() {
    let f = Fixture::new().await;
    let url = "https://dash.example/hooks";
    f.client
        .update_webhook(
            &f.id,
            &f.token,
            Hook::Every {
                notify_sent_by_me: true,
            },
            url,
        )
        .await
        .unwrap();
    let calls = f.calls(1).await;
    assert_put(
        &calls[0],
        &f.path("update-every-webhooks"),
        json!({ "value": url, "notifySentByMe": true }),
    );
    let state = f.sim.instance(&f.inst.id).unwrap();
    assert_eq!(state.received_url.as_deref(), Some(url));
    assert_eq!(state.disconnected_url.as_deref(), Some(url));
    assert_eq!(state.connected_url.as_deref(), Some(url));
    assert!(state.notify_sent_by_me);
}

#[tokio::test]
async fn me_reads_the_instance_data_and_registered_urls() {
    let f = Fixture::new().await;
    let me = f.client.me(&f.id, &f.token).await.unwrap();
    assert_eq!(me.name.as_deref(), Some(f.inst.name.as_str()));
    assert_eq!(me.connected, Some(true));
    assert_eq!(me.disconnected_callback_url, None);
    assert_eq!(me.connected_callback_url, None);
    assert_eq!(me.received_callback_url, None);

    f.client
        .register_webhooks(&f.id, &f.token, "https://dash.example", None)
        .await
        .unwrap();
    f.sim.set_connected(&f.inst.id, false, None);
    let me = f.client.me(&f.id, &f.token).await.unwrap();
    assert_eq!(me.connected, Some(false));
    assert_eq!(
        me.disconnected_callback_url.as_deref(),
        Some("https://dash.example/hooks/disconnected")
    );
    assert_eq!(
        me.connected_callback_url.as_deref(),
        Some("https://dash.example/hooks/connected")
    );

    let calls = f.calls(4).await;
    assert_get(&calls[0], &f.path("me"));
    assert_get(&calls[3], &f.path("me"));
}

#[tokio::test]
async fn restart_is_a_get_and_reconnects_the_instance() {
    let f = Fixture::new().await;
    f.sim.set_connected(&f.inst.id, false, None);
    f.client.restart(&f.id, &f.token).await.unwrap();
    assert_get(&f.calls(1).await[0], &f.path("restart"));
    let state = f.sim.instance(&f.inst.id).unwrap();
    assert!(state.connected);
    assert_eq!(state.error, None);
}

#[tokio::test]
async fn restore_session_is_a_get_of_restore_session() {
    let f = Fixture::new().await;
    f.sim
        .set_connected(&f.inst.id, false, Some(sim::ERR_RESTORE_SESSION));
    f.client.restore_session(&f.id, &f.token).await.unwrap();
    assert_get(&f.calls(1).await[0], &f.path("restore-session"));
    assert!(f.sim.instance(&f.inst.id).unwrap().connected);
}

#[tokio::test]
async fn path_segments_are_percent_encoded() {
    let f = Fixture::with_instance(SimInstance {
        id: "inst/1 x".into(),
        token: "tok?en#1%".into(),
        name: "Odd".into(),
    })
    .await;
    let s = f.client.status(&f.id, &f.token).await.unwrap();
    assert!(s.connected);
    let calls = f.calls(1).await;
    assert_eq!(
        calls[0].path,
        "/instances/inst%2F1%20x/token/tok%3Fen%231%25/status"
    );
}

#[tokio::test]
async fn wrong_client_token_is_an_http_error_with_zapis_text_and_not_retried() {
    let f = Fixture::new().await;
    let client = client_for(&f.sim.base_url(), "WRONG-client-token");
    let (status, message) = http_error(client.status(&f.id, &f.token).await);
    assert_eq!(status, 400);
    assert!(message.contains("not allowed"), "{message}");
    assert!(!message.contains("WRONG-client-token"), "{message}");
    let calls = f.calls(1).await;
    assert_eq!(calls[0].client_token.as_deref(), Some("WRONG-client-token"));
}

#[tokio::test]
async fn missing_client_token_is_null_not_allowed() {
    let f = Fixture::new().await;
    let client = client_for(&f.sim.base_url(), "");
    let (status, message) = http_error(client.me(&f.id, &f.token).await);
    assert_eq!((status, message.as_str()), (400, "null not allowed"));
    f.calls(1).await;
}

#[tokio::test]
async fn wrong_instance_token_is_instance_not_found() {
    let f = Fixture::new().await;
    let (status, message) = http_error(f.client.status(&f.id, &Secret::new("NOT-THE-TOKEN")).await);
    assert_eq!((status, message.as_str()), (400, "Instance not found"));
    let (status, message) =
        http_error(f.client.status(&InstanceId::new("UNKNOWN"), &f.token).await);
    assert_eq!((status, message.as_str()), (400, "Instance not found"));
    f.calls(2).await;
}

#[tokio::test]
async fn injected_4xx_is_reported_with_its_text_and_not_retried() {
    let f = Fixture::new().await;
    f.sim
        .fail_next("status", 403, r#"{"message":"Plan expired"}"#, 3);
    let (status, message) = http_error(f.client.status(&f.id, &f.token).await);
    assert_eq!((status, message.as_str()), (403, "Plan expired"));
    f.calls(1).await;
}

#[tokio::test]
async fn error_text_never_echoes_the_instance_token() {
    let f = Fixture::new().await;
    let body = json!({ "error": format!("token {} is blocked", f.inst.token) }).to_string();
    f.sim.fail_next("me", 400, &body, 1);
    let err = f.client.me(&f.id, &f.token).await.unwrap_err();
    let (text, debug) = (err.to_string(), format!("{err:?}"));
    assert!(text.contains("is blocked"), "{text}");
    assert!(!text.contains(&f.inst.token), "{text}");
    assert!(!debug.contains(&f.inst.token), "{debug}");
}

#[tokio::test]
async fn server_error_then_success_succeeds_after_one_retry() {
    let f = Fixture::new().await;
    f.sim.fail_next("status", 500, "internal error", 1);
    let s = f.client.status(&f.id, &f.token).await.unwrap();
    assert!(s.connected);
    for call in f.calls(2).await {
        assert_get(&call, &f.path("status"));
    }
}

#[tokio::test]
async fn three_503_fail_after_exactly_three_calls() {
    let f = Fixture::new().await;
    f.sim
        .fail_next("status", 503, r#"{"error":"maintenance"}"#, 5);
    let (status, message) = http_error(f.client.status(&f.id, &f.token).await);
    assert_eq!((status, message.as_str()), (503, "maintenance"));
    f.calls(3).await;
}

#[tokio::test]
async fn too_many_requests_is_retried() {
    let f = Fixture::new().await;
    f.sim.fail_next("restart", 429, "slow down", 2);
    f.client.restart(&f.id, &f.token).await.unwrap();
    f.calls(3).await;
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let f = Fixture::new().await;
    // A one-hour backoff base: only `Retry-After: 0` lets the retry come
    // at once (without it the wait would be the 30 s cap). The deadline
    // is a guard against hanging, not a timing assertion.
    let client = ZapiClient::new(&f.sim.base_url(), Secret::new(CLIENT_TOKEN))
        .unwrap()
        .with_retry_base(Duration::from_secs(3600));
    f.sim
        .fail_next_with_retry_after("status", 429, r#"{"error":"rate limited"}"#, 1, 0);
    let s = tokio::time::timeout(WAIT, client.status(&f.id, &f.token))
        .await
        .expect("Retry-After: 0 was not honoured")
        .unwrap();
    assert!(s.connected);
    f.calls(2).await;
}

#[tokio::test]
async fn value_false_is_refused_and_garbage_is_a_decode_error() {
    let f = Fixture::new().await;
    f.sim.fail_next("restart", 200, r#"{"value":false}"#, 1);
    assert!(matches!(
        f.client.restart(&f.id, &f.token).await,
        Err(ApiError::Refused(_))
    ));
    f.sim
        .fail_next("status", 200, "<html>maintenance</html>", 1);
    assert!(matches!(
        f.client.status(&f.id, &f.token).await,
        Err(ApiError::Decode(_))
    ));
    // Neither is retried.
    f.calls(2).await;
}

#[tokio::test]
async fn connection_refused_is_a_network_error_without_the_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = client_for(&format!("http://{addr}"), CLIENT_TOKEN);
    let id = InstanceId::new("3C4A1B6F00000000000000000000ABCD");
    let token = Secret::new("SUPERSECRETINSTANCETOKEN");
    let err = client.status(&id, &token).await.unwrap_err();
    let (text, debug) = (err.to_string(), format!("{err:?}"));
    assert!(matches!(err, ApiError::Network(_)), "{debug}");
    for leak in [
        "SUPERSECRETINSTANCETOKEN",
        CLIENT_TOKEN,
        "/token/",
        "http://",
    ] {
        assert!(!text.contains(leak), "{leak} in {text}");
        assert!(!debug.contains(leak), "{leak} in {debug}");
    }
}

#[tokio::test]
async fn non_https_webhook_url_is_refused_by_the_sim() {
    let f = Fixture::new().await;
    let (status, message) = http_error(
        f.client
            .update_webhook(
                &f.id,
                &f.token,
                Hook::Connected,
                "http://dash.example/hooks",
            )
            .await,
    );
    assert_eq!(status, 400);
    assert!(message.contains("https"), "{message}");
    assert_eq!(f.sim.instance(&f.inst.id).unwrap().connected_url, None);
    f.calls(1).await;
}

#[tokio::test]
async fn register_webhooks_runs_both_and_names_the_failed_one() {
    let f = Fixture::new().await;
    f.sim
        .fail_next("update-webhook-connected", 400, r#"{"error":"boom"}"#, 1);
    let (status, message) = http_error(
        f.client
            .register_webhooks(&f.id, &f.token, "https://dash.example", None)
            .await,
    );
    assert_eq!(status, 400);
    assert!(
        message.starts_with("registering the connected webhook failed"),
        "{message}"
    );
    assert!(message.contains("boom"), "{message}");
    // The other one still ran and was recorded.
    f.calls(2).await;
    assert_eq!(
        f.sim
            .instance(&f.inst.id)
            .unwrap()
            .disconnected_url
            .as_deref(),
        Some("https://dash.example/hooks/disconnected")
    );

    // Both fail: the disconnected one's error wins.
    let (status, message) = http_error(
        f.client
            .register_webhooks(&f.id, &f.token, "http://plain.example", None)
            .await,
    );
    assert_eq!(status, 400);
    assert!(
        message.starts_with("registering the disconnected webhook failed"),
        "{message}"
    );
    f.calls(4).await;
}

#[tokio::test]
async fn sim_answers_malformed_requests_like_zapi() {
    let f = Fixture::new().await;
    let http = reqwest::Client::new();
    let url = |action: &str| format!("{}{}", f.sim.base_url(), f.path(action));
    let hook = url("update-webhook-disconnected");

    // Wrong method on a known route.
    let r = http
        .post(url("status"))
        .header("Client-Token", CLIENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let r = http
        .get(&hook)
        .header("Client-Token", CLIENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    // PUT without a JSON content type.
    let r = http
        .put(&hook)
        .header("Client-Token", CLIENT_TOKEN)
        .body(r#"{"value":"https://x.example"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // Bodies that are not {"value": "<string>"}.
    for body in [
        "not json",
        r#"{"value":true}"#,
        r#"{"url":"https://x.example"}"#,
    ] {
        let r = http
            .put(&hook)
            .header("Client-Token", CLIENT_TOKEN)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].is_string(), "{body}: {v}");
    }

    // Unknown routes.
    for path in [
        "/nope",
        &f.path("send-text"),
        &format!("{}/", f.path("status")),
    ] {
        let r = http
            .get(format!("{}{path}", f.sim.base_url()))
            .header("Client-Token", CLIENT_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }

    // No Client-Token at all.
    let r = http.get(url("status")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({ "error": "null not allowed" })
    );

    let calls = f.calls(10).await;
    assert_eq!(calls[0].method, "POST");
    assert_eq!(calls[9].client_token, None);
    assert_eq!(f.sim.instance(&f.inst.id).unwrap().disconnected_url, None);
}

// ---- reconnecting a number: qr-code, phone-code, device ----------------

#[tokio::test]
async fn qr_code_reads_the_payload_out_of_the_png_or_says_connected() {
    let f = Fixture::new().await;
    assert_eq!(
        f.client.qr_code(&f.id, &f.token).await.unwrap(),
        zapi_dash::zapi::QrAnswer::Connected,
        "a connected instance has no code"
    );
    f.sim.set_connected(&f.inst.id, false, None);
    let answer = f.client.qr_code(&f.id, &f.token).await.unwrap();
    let payload = f.sim.qr_payload(&f.inst.id).unwrap();
    assert!(payload.starts_with("2@"), "WhatsApp-shaped");
    assert_eq!(
        answer,
        zapi_dash::zapi::QrAnswer::Code(zapi_dash::qr::Credential::new(payload))
    );
    let calls = f.calls(2).await;
    assert_get(&calls[0], &f.path("qr-code/image"));
    assert_get(&calls[1], &f.path("qr-code/image"));
}

#[tokio::test]
async fn qr_code_falls_back_to_the_bytes_call_and_reports_zapi_errors() {
    let f = Fixture::new().await;
    f.sim.set_connected(&f.inst.id, false, None);
    f.sim
        .fail_next("qr-code/image", 200, r#"{"value":"not an image"}"#, 1);
    let answer = f.client.qr_code(&f.id, &f.token).await.unwrap();
    let payload = f.sim.qr_payload(&f.inst.id).unwrap();
    assert_eq!(
        answer,
        zapi_dash::zapi::QrAnswer::Code(zapi_dash::qr::Credential::new(payload))
    );
    let calls = f.calls(2).await;
    assert_get(&calls[1], &f.path("qr-code"));
    // Z-API's own error: said as it is, no fallback
    f.sim
        .fail_next("qr-code/image", 400, r#"{"error":"Instance not found"}"#, 1);
    let (status, message) = http_error(f.client.qr_code(&f.id, &f.token).await);
    assert_eq!((status, message.as_str()), (400, "Instance not found"));
}

#[tokio::test]
async fn phone_code_asks_for_the_digits_and_shows_zapis_refusal() {
    let f = Fixture::new().await;
    f.sim.set_connected(&f.inst.id, false, None);
    let code = f
        .client
        .phone_code(&f.id, &f.token, "5544999999999")
        .await
        .unwrap();
    let code = code.expose();
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(&code[4..5], "-");
    let calls = f.calls(1).await;
    assert_get(&calls[0], &f.path("phone-code/5544999999999"));
    // not digits: refused before any call
    assert!(matches!(
        f.client.phone_code(&f.id, &f.token, "55 44").await,
        Err(ApiError::Config(_))
    ));
    f.sim.set_connected(&f.inst.id, true, None);
    let (status, message) = http_error(f.client.phone_code(&f.id, &f.token, "5544999999999").await);
    assert_eq!(
        (status, message.as_str()),
        (400, "Instance already connected")
    );
}

#[tokio::test]
async fn device_reads_the_phone_its_model_and_kind() {
    let f = Fixture::new().await;
    let d = f.client.device(&f.id, &f.token).await.unwrap();
    let phone = f.sim.instance(&f.inst.id).unwrap().phone;
    assert_eq!(d.phone.as_deref(), Some(phone.as_str()));
    assert_eq!(d.name.as_deref(), Some(f.inst.name.as_str()));
    assert_eq!(d.model.as_deref(), Some("Z-API Sim Phone"));
    assert_eq!(d.original_device.as_deref(), Some("android"));
    assert_eq!(d.is_business, Some(true));
    assert_get(&f.calls(1).await[0], &f.path("device"));
}
