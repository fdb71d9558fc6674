//! A webhook receiver on loopback (the operator's bot, CRM…): records
//! every delivery with its Standard Webhooks headers, answers as its
//! [`Mode`] says; tests wait on what it got.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use tokio::sync::Notify;

/// What the receiver answers.
#[derive(Clone, Debug)]
pub enum Mode {
    Up,
    Down,
    /// 500 with `Retry-After` for bodies of this instance, 200 for others.
    FailInstance(String, u64),
    /// 200 to the first n deliveries, then no answer at all.
    StallAfter(usize),
}

#[derive(Clone, Debug)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: Option<String>,
    pub content_type: String,
    pub body: Vec<u8>,
    pub accepted: bool,
}

#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<(Mode, Vec<Delivery>)>>,
    changed: Arc<Notify>,
    pub url: String,
}

impl Receiver {
    pub async fn start(mode: Mode) -> Receiver {
        let inner = Arc::new(Mutex::new((mode, Vec::new())));
        let changed = Arc::new(Notify::new());
        let (state, notify) = (Arc::clone(&inner), Arc::clone(&changed));
        // any path: a test may give the receiver the URL of an operator's bot
        let app = axum::Router::new().fallback(axum::routing::post(
            move |headers: HeaderMap, body: Bytes| {
                let (state, notify) = (Arc::clone(&state), Arc::clone(&notify));
                async move {
                    match receive(&state, &notify, &headers, &body) {
                        Some(response) => response,
                        None => std::future::pending().await,
                    }
                }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            inner,
            changed,
            url,
        }
    }

    pub fn set(&self, mode: Mode) {
        self.inner.lock().expect("lock").0 = mode;
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.lock().expect("lock").1.clone()
    }

    /// Waits until `pred` holds for the deliveries so far. A hang guard,
    /// not a timing check: it gives up only when nothing has arrived for
    /// the e2e timeout (a burst of 10,000 on a loaded machine may take
    /// longer than that in all, but never stalls that long).
    pub async fn wait(&self, what: &str, pred: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        let mut deadline = tokio::time::Instant::now() + super::timeout();
        let mut before = 0;
        loop {
            let notified = self.changed.notified();
            // judged under the lock: copying 10,000 deliveries for every
            // one that arrives made the wait itself the slow part
            let seen = {
                let guard = self.inner.lock().expect("lock");
                if pred(&guard.1) {
                    return guard.1.clone();
                }
                guard.1.len()
            };
            if seen > before {
                before = seen;
                deadline = tokio::time::Instant::now() + super::timeout();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("timed out waiting for {what}; {seen} deliveries");
            }
        }
    }
}

fn receive(
    state: &Mutex<(Mode, Vec<Delivery>)>,
    notify: &Notify,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<axum::response::Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut guard = state.lock().expect("lock");
    if matches!(guard.0, Mode::StallAfter(n) if guard.1.len() >= n) {
        return None;
    }
    let (status, retry_after) = match &guard.0 {
        Mode::Up | Mode::StallAfter(_) => (StatusCode::OK, None),
        Mode::Down => (StatusCode::SERVICE_UNAVAILABLE, None),
        Mode::FailInstance(id, after) => {
            let needle = format!("\"instanceId\":\"{id}\"");
            if String::from_utf8_lossy(body).contains(&needle) {
                (StatusCode::INTERNAL_SERVER_ERROR, Some(*after))
            } else {
                (StatusCode::OK, None)
            }
        }
    };
    guard.1.push(Delivery {
        id: header("webhook-id").unwrap_or_default(),
        timestamp: header("webhook-timestamp").unwrap_or_default(),
        signature: header("webhook-signature"),
        content_type: header("content-type").unwrap_or_default(),
        body: body.to_vec(),
        accepted: status.is_success(),
    });
    drop(guard);
    notify.notify_waiters();
    Some(match retry_after {
        Some(secs) => (status, [("retry-after", secs.to_string())]).into_response(),
        None => status.into_response(),
    })
}
