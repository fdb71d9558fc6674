//! The sim's state behind one mutex: instances, recorded calls, injected
//! failures and the webhooks REST calls queue for the fleet.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;
use tokio::sync::Notify;

use super::{SimCall, SimInstance};

pub(super) struct Shared {
    pub(super) client_token: String,
    pub(super) latency: Duration,
    pub(super) state: Mutex<SimState>,
    /// Signalled after each recorded call.
    pub(super) calls_changed: Notify,
    /// Signalled when a REST call queued a webhook for the fleet to send.
    pub(super) hooks_pending: Notify,
}

#[derive(Default)]
pub(super) struct SimState {
    pub(super) instances: HashMap<String, Inst>,
    /// Instance ids in creation order (for seeded, reproducible picks).
    pub(super) order: Vec<String>,
    pub(super) calls: Vec<SimCall>,
    pub(super) failures: Vec<Injected>,
    /// Webhooks caused by REST calls (restart...), sent by the fleet.
    pub(super) pending_hooks: Vec<Post>,
    pub(super) fleet_attached: bool,
    /// The demo's simulated phone links an instance this long after its
    /// code was served (`None`: nobody scans).
    pub(super) scan_after: Option<Duration>,
    /// Instances whose code was served since the last answer went out.
    pub(super) to_scan: Vec<String>,
    /// Accounts added with [`super::Sim::add_account`]; an instance's
    /// `account` is 1 + an index here (0: the account of [`super::SimOptions`]).
    pub(super) accounts: Vec<super::SimAccount>,
}

impl SimState {
    /// The Client-Token of account `account` (0: the options' one).
    pub(super) fn client_token_of<'a>(&'a self, shared: &'a Shared, account: usize) -> &'a str {
        match account.checked_sub(1) {
            None => &shared.client_token,
            Some(i) => self.accounts.get(i).map_or("", |a| a.client_token.as_str()),
        }
    }

    /// Whether `given` is the Client-Token of some account.
    pub(super) fn knows_client_token(&self, shared: &Shared, given: &[u8]) -> bool {
        given == shared.client_token.as_bytes()
            || self
                .accounts
                .iter()
                .any(|a| a.client_token.as_bytes() == given)
    }
}

#[derive(Debug, Clone)]
pub(super) struct Inst {
    pub(super) token: String,
    pub(super) name: String,
    pub(super) phone: String,
    pub(super) connected: bool,
    pub(super) error: String,
    pub(super) smartphone_connected: bool,
    pub(super) disconnected_url: Option<String>,
    pub(super) connected_url: Option<String>,
    pub(super) received_url: Option<String>,
    pub(super) delivery_url: Option<String>,
    pub(super) message_status_url: Option<String>,
    pub(super) presence_url: Option<String>,
    pub(super) notify_sent_by_me: bool,
    /// The QR payload served now, and since when.
    pub(super) qr: Option<(String, std::time::Instant)>,
    /// Which account it belongs to (see [`SimState::accounts`]).
    pub(super) account: usize,
    /// Expiry, in milliseconds since the epoch (the partner listing's `due`).
    pub(super) due: i64,
    /// The partner listing's `paymentStatus`.
    pub(super) payment_status: String,
}

impl Inst {
    /// A new instance, connected, with no webhook registered.
    pub(super) fn new(i: SimInstance) -> Self {
        Inst {
            phone: phone_for(&i.id),
            token: i.token,
            name: i.name,
            connected: true,
            error: String::new(),
            smartphone_connected: true,
            disconnected_url: None,
            connected_url: None,
            received_url: None,
            delivery_url: None,
            message_status_url: None,
            presence_url: None,
            notify_sent_by_me: false,
            qr: None,
            account: 0,
            due: 1_893_456_000_000,
            payment_status: "RECEIVED".to_owned(),
        }
    }
}

pub(super) struct Injected {
    pub(super) suffix: String,
    pub(super) status: StatusCode,
    pub(super) body: String,
    pub(super) remaining: usize,
    pub(super) retry_after: Option<u64>,
}

/// A webhook to POST: path under the listener base, and body.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Post {
    pub(super) path: &'static str,
    pub(super) body: Value,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A plausible phone number for an instance (`5544` + 9 digits), stable
/// for a given id.
pub(super) fn phone_for(id: &str) -> String {
    // FNV-1a: stable across runs, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("55449{:08}", h % 100_000_000)
}
