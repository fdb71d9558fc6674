//! Prometheus metrics of `serve`, kept in a [`prometheus_client`] registry
//! and served (behind the API token) at `GET /metrics` by [`crate::serve::api`].
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `zapi_instance_connected` | gauge | `instance_id`, `name` | 1 connected, 0 disconnected; **absent while the state is unknown** |
//! | `zapi_instance_last_change_timestamp_seconds` | gauge | `instance_id`, `name` | when the state last changed (Unix seconds); absent when not seen |
//! | `zapi_disconnects_total` | counter | `instance_id`, `name` | `DisconnectedCallback` events applied since start; 0 for every known instance |
//! | `zapi_instances` | gauge | `state` | instances per state: `connected`, `disconnected`, `unknown` |
//! | `zapi_webhooks_received_total` | counter | `type` | stored webhooks by callback type (Z-API's six types, anything else is `other`) |
//! | `zapi_webhooks_rejected_total` | counter | `reason` | webhook-route answers that were not 2xx: `bad_request`, `not_found`, `method_not_allowed`, `unsupported_media_type`, `payload_too_large`, `timeout`, `unavailable`, `token_mismatch` (a `z-api-token` header refused, `check_token_header = true`), else `client_error` / `server_error` |
//! | `zapi_webhooks_bad_moment_total` | counter | | webhooks accepted whose `momment` was unusable (another type, not whole, before 2000 or from 2100 on): the receipt time was used |
//! | `zapi_webhooks_bad_field_total` | counter | `field` | webhooks accepted with a field of the wrong type left out: `type`, `error`, `phone` |
//! | `zapi_webhooks_without_token_header_total` | counter | | webhooks of a configured instance without a `z-api-token` header (accepted) |
//! | `zapi_webhooks_token_header_mismatch_total` | counter | | webhooks of a configured instance whose `z-api-token` header is not its token, whether `check_token_header` refuses them or not |
//! | `zapi_registration_failures_total` | counter | | webhook registrations that failed |
//! | `zapi_api_unauthorized_total` | counter | | API requests refused for a missing or wrong token |
//! | `zapi_cluster_*` | | | with `[cluster]` only: see [`cluster`] |
//!
//! Choices:
//! - **Unknown is absent, not 0 and not NaN.** 0 means "disconnected" to
//!   every alert and to the dashboard's `count(zapi_instance_connected == 0)`;
//!   an instance nobody has heard of yet must not page anyone. NaN breaks
//!   some tools. Unknown instances still have their
//!   `zapi_disconnects_total` series (at 0) and are counted in
//!   `zapi_instances{state="unknown"}`.
//! - **Counters count since the process started** (Prometheus handles the
//!   reset on restart): events replayed from the log at start are not counted.
//!   Every known `type` and `reason` series exists at 0 from the start, so
//!   that `rate()` and `increase()` see the first event.
//! - **Two formats**: [`Metrics::encode`] writes OpenMetrics (all that
//!   prometheus-client writes); [`Metrics::encode_as`] converts to the
//!   classic text format for clients that do not ask for OpenMetrics
//!   ([`exposition`]).
//! - **Labels are ids and names, never tokens.** Both are sanitised: control
//!   characters dropped, at most [`MAX_LABEL_CHARS`] characters. At most
//!   [`MAX_INSTANCE_SERIES`] instances get per-instance series, so webhooks
//!   with made-up ids cannot grow the exposition without bound; the rest are
//!   still counted in `zapi_instances`. Callback types are a closed set for
//!   the same reason.
//! - **A name change moves the series**: the old `{instance_id,name}` series
//!   are removed and the new ones carry the same values (the disconnect count
//!   continues), so no stale series is left behind.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

mod cluster;
pub mod exposition;

use crate::fleet::Instance;
use crate::model::{ConnState, EventKind, InstanceId};

/// The content type of [`Metrics::encode`]'s output (OpenMetrics text, which
/// Prometheus scrapes and negotiates).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `reason` labels of [`rejection_reason`]: each counter exists at 0
/// from the start, so that `rate()` and `increase()` see the first refusal.
pub const REJECTION_REASONS: [&str; 10] = [
    "bad_request",
    REASON_TOKEN_MISMATCH,
    "not_found",
    "method_not_allowed",
    "unsupported_media_type",
    "payload_too_large",
    "timeout",
    "unavailable",
    "client_error",
    "server_error",
];

/// Longest label value kept (characters); longer ones are cut and end in `…`.
pub const MAX_LABEL_CHARS: usize = 64;

/// Most instances with per-instance series.
pub const MAX_INSTANCE_SERIES: usize = 10_000;

/// Z-API's callback types; any other `type` is counted as `other`.
pub const KNOWN_CALLBACKS: [&str; 6] = [
    "ConnectedCallback",
    "DisconnectedCallback",
    "ReceivedCallback",
    "DeliveryCallback",
    "MessageStatusCallback",
    "PresenceChatCallback",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabels {
    target: String,
}

/// The relay's series, one of each per forward target.
#[derive(Default)]
struct ForwardFamilies {
    delivered: Family<TargetLabels, Counter>,
    failures: Family<TargetLabels, Counter>,
    lag: Family<TargetLabels, Gauge>,
    dead: Family<TargetLabels, Gauge>,
}

impl ForwardFamilies {
    fn register(registry: &mut Registry) -> Self {
        let families = Self::default();
        registry.register(
            "zapi_forward_delivered",
            "Events a forward target answered 2xx to",
            families.delivered.clone(),
        );
        registry.register(
            "zapi_forward_failures",
            "Delivery attempts to a forward target that failed (status, timeout, network)",
            families.failures.clone(),
        );
        registry.register(
            "zapi_forward_lag_events",
            "Events a forward target has not taken yet",
            families.lag.clone(),
        );
        registry.register(
            "zapi_forward_dead_letters",
            "Events a forward target gave up on after its max_age",
            families.dead.clone(),
        );
        families
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    instance_id: String,
    name: String,
    /// `account="<name>"` for an instance of an `[[accounts]]`; no label
    /// for the implicit account (series of old configs keep their labels).
    #[prometheus(flatten)]
    account: Vec<(&'static str, String)>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AccountLabels {
    account: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabels {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FieldLabels {
    field: String,
}

/// The fields counted in `zapi_webhooks_bad_field_total` (`momment` has
/// its own counter); a closed set, so the exposition cannot grow.
pub const BAD_FIELDS: [&str; 3] = ["type", "error", "phone"];

/// The `reason` of a webhook refused for its `z-api-token` header (401).
pub const REASON_TOKEN_MISMATCH: &str = "token_mismatch";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// What the metrics remember of an instance: its labels and state.
struct Known {
    labels: InstanceLabels,
    state: ConnState,
}

/// What [`Metrics::set_instance`] last wrote for an instance, and handles
/// on its series, so that an event that changes nothing the metrics show
/// costs one map lookup (no label built, hashed or compared).
struct Written {
    /// The name and account the labels were made from.
    name: Option<String>,
    account: Option<String>,
    state: ConnState,
    last_change: Option<chrono::DateTime<chrono::Utc>>,
    /// `None` when the instance has no series (over the cap).
    disconnects: Option<Counter>,
}

/// The per-instance bookkeeping, under one lock.
#[derive(Default)]
struct Book {
    known: HashMap<InstanceId, Known>,
    written: HashMap<InstanceId, Written>,
}

impl std::ops::Deref for Book {
    type Target = HashMap<InstanceId, Known>;
    fn deref(&self) -> &Self::Target {
        &self.known
    }
}

impl std::ops::DerefMut for Book {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.known
    }
}

/// The metrics registry and its families.
pub struct Metrics {
    registry: Registry,
    connected: Family<InstanceLabels, Gauge>,
    last_change: Family<InstanceLabels, Gauge<f64, AtomicU64>>,
    disconnects: Family<InstanceLabels, Counter>,
    states: Family<StateLabels, Gauge>,
    received: Family<TypeLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    bad_moment: Counter,
    bad_field: Family<FieldLabels, Counter>,
    without_token_header: Counter,
    token_header_mismatch: Counter,
    registration_failures: Counter,
    unauthorized: Counter,
    account_instances: Family<AccountLabels, Gauge>,
    discovery_failures: Family<AccountLabels, Counter>,
    forward: ForwardFamilies,
    /// `[cluster]`'s series, only with a `[cluster]` ([`Metrics::with_cluster`]).
    cluster: Option<cluster::ClusterSeries>,
    /// `received` per callback type (index in [`KNOWN_CALLBACKS`], then
    /// `other`), taken from the family on first use: no label is built or
    /// hashed per event.
    received_by_type: [std::sync::OnceLock<Counter>; KNOWN_CALLBACKS.len() + 1],
    /// Every instance seen, by id. Its lock also serialises the updates of
    /// one row's series (a label change is a remove and an insert).
    known: Mutex<Book>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("instances", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let connected = Family::<InstanceLabels, Gauge>::default();
        registry.register(
            "zapi_instance_connected",
            "Whether the instance is connected to WhatsApp (1) or not (0); absent while unknown",
            connected.clone(),
        );
        let last_change = Family::<InstanceLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "zapi_instance_last_change_timestamp_seconds",
            "When the instance's connection state last changed, in Unix seconds",
            last_change.clone(),
        );
        let disconnects = Family::<InstanceLabels, Counter>::default();
        registry.register(
            "zapi_disconnects",
            "DisconnectedCallback webhooks applied since start",
            disconnects.clone(),
        );
        let states = Family::<StateLabels, Gauge>::default();
        registry.register(
            "zapi_instances",
            "Instances by connection state (connected, disconnected, unknown)",
            states.clone(),
        );
        let received = Family::<TypeLabels, Counter>::default();
        registry.register(
            "zapi_webhooks_received",
            "Webhooks accepted and stored, by callback type",
            received.clone(),
        );
        let rejected = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "zapi_webhooks_rejected",
            "Webhook requests refused, by reason",
            rejected.clone(),
        );
        let (bad_moment, bad_field) = register_bad_fields(&mut registry);
        let (without_token_header, token_header_mismatch) = register_token_header(&mut registry);
        let registration_failures = Counter::default();
        registry.register(
            "zapi_registration_failures",
            "Webhook registrations on Z-API that failed",
            registration_failures.clone(),
        );
        let unauthorized = Counter::default();
        registry.register(
            "zapi_api_unauthorized",
            "HTTP API requests refused for a missing or wrong API token",
            unauthorized.clone(),
        );
        let (account_instances, discovery_failures) = register_accounts(&mut registry);
        zero_labels(&states, &received, &rejected);
        let forward = ForwardFamilies::register(&mut registry);
        Self {
            account_instances,
            discovery_failures,
            forward,
            cluster: None,
            registry,
            connected,
            last_change,
            disconnects,
            states,
            received,
            rejected,
            bad_moment,
            bad_field,
            without_token_header,
            token_header_mismatch,
            registration_failures,
            unauthorized,
            received_by_type: Default::default(),
            known: Mutex::new(Book::default()),
        }
    }

    /// The same metrics with `[cluster]`'s series (see [`cluster`]).
    pub fn with_cluster(mut self) -> Self {
        self.cluster = Some(cluster::ClusterSeries::register(&mut self.registry));
        self
    }

    /// Whether this replica is connected to NATS.
    pub fn cluster_connected(&self, connected: bool) {
        if let Some(c) = &self.cluster {
            c.connected.set(i64::from(connected));
        }
    }

    /// A webhook the stream did not hold (answered 503).
    pub fn cluster_publish_failed(&self) {
        if let Some(c) = &self.cluster {
            c.publish_failures.inc();
        }
    }

    /// Whether this replica holds the leader lease.
    pub fn cluster_leader(&self, leader: bool) {
        if let Some(c) = &self.cluster {
            c.leader.set(i64::from(leader));
        }
    }

    fn lock(&self) -> MutexGuard<'_, Book> {
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An accepted webhook of this kind is being applied: counted by type.
    /// Called once per stored event, with [`Metrics::observe_disconnect`]
    /// after it for a disconnect.
    pub fn observe_received(&self, kind: &EventKind) {
        let label = callback_label(kind.label());
        let index = KNOWN_CALLBACKS
            .iter()
            .position(|k| *k == label)
            .unwrap_or(KNOWN_CALLBACKS.len());
        self.received_by_type[index]
            .get_or_init(|| {
                self.received
                    .get_or_create(&TypeLabels {
                        r#type: label.to_owned(),
                    })
                    .clone()
            })
            .inc();
    }

    /// A stored disconnect was applied to `inst` (its row after the event).
    pub fn observe_disconnect(&self, inst: &Instance) {
        let mut book = self.lock();
        if let Some(counter) = book.written.get(&inst.id).and_then(|w| {
            (w.name == inst.name && w.account == inst.account && w.state == inst.state)
                .then_some(w.disconnects.as_ref())
        }) {
            if let Some(counter) = counter {
                counter.inc();
            }
            return;
        }
        if let Some(labels) = self.track(&mut book, inst) {
            self.disconnects.get_or_create(&labels).inc();
        }
    }

    /// A row changed (state, last change).
    pub fn set_instance(&self, inst: &Instance) {
        let mut book = self.lock();
        if book.written.get(&inst.id).is_some_and(|w| {
            w.name == inst.name
                && w.account == inst.account
                && w.state == inst.state
                && w.last_change == inst.last_change
        }) {
            // what the series show already
            return;
        }
        let labels = self.track(&mut book, inst);
        let disconnects = labels
            .as_ref()
            .and_then(|l| self.disconnects.get(l).map(|c| c.clone()));
        book.written.insert(
            inst.id.clone(),
            Written {
                name: inst.name.clone(),
                account: inst.account.clone(),
                state: inst.state,
                last_change: inst.last_change,
                disconnects,
            },
        );
        let Some(labels) = labels else {
            return;
        };
        match inst.state {
            ConnState::Connected => {
                self.connected.get_or_create(&labels).set(1);
            }
            ConnState::Disconnected => {
                self.connected.get_or_create(&labels).set(0);
            }
            ConnState::Unknown => {
                self.connected.remove(&labels);
            }
        }
        match inst.last_change {
            Some(at) => {
                let secs = at.timestamp_millis() as f64 / 1000.0;
                self.last_change.get_or_create(&labels).set(secs);
            }
            None => {
                self.last_change.remove(&labels);
            }
        }
    }

    /// Records `inst` (its state, its labels) and returns the labels of its
    /// series, or `None` when it gets none (over [`MAX_INSTANCE_SERIES`]).
    /// A changed name moves the existing series to the new labels.
    fn track(&self, book: &mut Book, inst: &Instance) -> Option<InstanceLabels> {
        // whatever was cached for this instance may be stale after this
        book.written.remove(&inst.id);
        let known = &mut book.known;
        let labels = instance_labels(inst);
        match known.get_mut(&inst.id) {
            Some(k) => {
                if k.state != inst.state {
                    self.states.get_or_create(&state_labels(k.state)).dec();
                    self.states.get_or_create(&state_labels(inst.state)).inc();
                    k.state = inst.state;
                }
                if k.labels != labels {
                    self.relabel(&k.labels, &labels);
                    k.labels = labels.clone();
                }
            }
            None => {
                self.states.get_or_create(&state_labels(inst.state)).inc();
                let series = known.len() < MAX_INSTANCE_SERIES;
                known.insert(
                    inst.id.clone(),
                    Known {
                        labels: labels.clone(),
                        state: inst.state,
                    },
                );
                if !series {
                    return None;
                }
                // A counter exists from the start, at 0, so that
                // `increase()` sees the first disconnect.
                drop(self.disconnects.get_or_create(&labels));
            }
        }
        // Instances beyond the cap were inserted without series.
        self.disconnects.get(&labels).is_some().then_some(labels)
    }

    /// Moves one instance's series from `old` to `new` labels.
    fn relabel(&self, old: &InstanceLabels, new: &InstanceLabels) {
        let Some(count) = self.disconnects.get(old).map(|c| c.get()) else {
            return; // no series (over the cap)
        };
        self.disconnects.remove(old);
        self.disconnects.get_or_create(new).inc_by(count);
        if let Some(v) = self.connected.get(old).map(|g| g.get()) {
            self.connected.remove(old);
            self.connected.get_or_create(new).set(v);
        }
        if let Some(v) = self.last_change.get(old).map(|g| g.get()) {
            self.last_change.remove(old);
            self.last_change.get_or_create(new).set(v);
        }
    }

    /// The accounts that discover: their failure counters exist at 0 from
    /// the start.
    pub fn declare_accounts<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        for name in names {
            drop(self.discovery_failures.get_or_create(&account_labels(name)));
        }
    }

    /// How many instances an account's listing returned (with those the
    /// config adds).
    pub fn set_account_instances(&self, account: &str, n: usize) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.account_instances
            .get_or_create(&account_labels(account))
            .set(n);
    }

    /// An account's listing failed.
    pub fn discovery_failed(&self, account: &str) {
        self.discovery_failures
            .get_or_create(&account_labels(account))
            .inc();
    }

    pub fn registration_failed(&self) {
        self.registration_failures.inc();
    }

    /// A webhook request was refused; `reason` is one of the names of
    /// [`rejection_reason`].
    pub fn webhook_rejected(&self, reason: &str) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A webhook was accepted with `field` left out (see
    /// [`crate::listener::parse::Parsed::ignored`]): `momment` counts in
    /// `zapi_webhooks_bad_moment_total`, the fields of [`BAD_FIELDS`] in
    /// `zapi_webhooks_bad_field_total{field}`, anything else nowhere.
    pub fn webhook_bad_field(&self, field: &str) {
        if field == "momment" {
            self.bad_moment.inc();
        } else if BAD_FIELDS.contains(&field) {
            self.bad_field
                .get_or_create(&FieldLabels {
                    field: field.to_owned(),
                })
                .inc();
        }
    }

    /// A webhook of a configured instance came without a `z-api-token` header.
    pub fn webhook_without_token_header(&self) {
        self.without_token_header.inc();
    }

    /// A webhook of a configured instance came with a `z-api-token` header
    /// that is not the instance's token.
    pub fn webhook_token_header_mismatch(&self) {
        self.token_header_mismatch.inc();
    }

    /// An API request was refused for a missing or wrong token.
    pub fn unauthorized(&self) {
        self.unauthorized.inc();
    }

    /// Brings the relay's series up to `targets`' numbers (before a scrape).
    pub fn set_forward(&self, targets: &[crate::relay::TargetStatus]) {
        for t in targets {
            let labels = TargetLabels {
                target: t.name.clone(),
            };
            let delivered = self.forward.delivered.get_or_create(&labels);
            delivered.inc_by(t.delivered.saturating_sub(delivered.get()));
            let failures = self.forward.failures.get_or_create(&labels);
            failures.inc_by(t.failures.saturating_sub(failures.get()));
            self.forward
                .lag
                .get_or_create(&labels)
                .set(i64::try_from(t.lag_events).unwrap_or(i64::MAX));
            self.forward
                .dead
                .get_or_create(&labels)
                .set(i64::try_from(t.dead_letters).unwrap_or(i64::MAX));
        }
    }

    /// The exposition in `format` (see [`exposition`]).
    pub fn encode_as(&self, format: exposition::Format) -> String {
        let openmetrics = self.encode();
        match format {
            exposition::Format::OpenMetrics => openmetrics,
            exposition::Format::Text => exposition::to_text_format(&openmetrics),
        }
    }

    /// The text exposition (OpenMetrics text, see [`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        // no row changes half-way through a scrape
        let _known = self.lock();
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!("metrics: cannot encode: {e}");
        }
        out
    }
}

/// The `reason` label of a refused webhook request with this status.
pub fn rejection_reason(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        // the only 401 of the webhook routes
        StatusCode::UNAUTHORIZED => REASON_TOKEN_MISMATCH,
        s if s.is_client_error() => "client_error",
        _ => "server_error",
    }
}

/// `zapi_account_instances{account}` and `zapi_discovery_failures_total{account}`.
fn register_accounts(
    registry: &mut Registry,
) -> (Family<AccountLabels, Gauge>, Family<AccountLabels, Counter>) {
    let account_instances = Family::<AccountLabels, Gauge>::default();
    registry.register(
        "zapi_account_instances",
        "Instances of each account its partner listing last returned",
        account_instances.clone(),
    );
    let discovery_failures = Family::<AccountLabels, Counter>::default();
    registry.register(
        "zapi_discovery_failures",
        "Partner listings of each account that failed",
        discovery_failures.clone(),
    );
    (account_instances, discovery_failures)
}

/// Every known label at 0 from the start: `increase()` sees the first
/// event.
fn zero_labels(
    states: &Family<StateLabels, Gauge>,
    received: &Family<TypeLabels, Counter>,
    rejected: &Family<ReasonLabels, Counter>,
) {
    for state in [
        ConnState::Connected,
        ConnState::Disconnected,
        ConnState::Unknown,
    ] {
        states.get_or_create(&state_labels(state)).set(0);
    }
    for ty in KNOWN_CALLBACKS.iter().chain(&["other"]) {
        drop(received.get_or_create(&TypeLabels {
            r#type: (*ty).to_owned(),
        }));
    }
    for reason in REJECTION_REASONS {
        drop(rejected.get_or_create(&ReasonLabels {
            reason: reason.to_owned(),
        }));
    }
}

/// `zapi_webhooks_bad_moment_total` and `zapi_webhooks_bad_field_total`,
/// every series at 0.
fn register_bad_fields(registry: &mut Registry) -> (Counter, Family<FieldLabels, Counter>) {
    let bad_moment = Counter::default();
    registry.register(
        "zapi_webhooks_bad_moment",
        "Webhooks accepted whose momment was unusable (the receipt time was used)",
        bad_moment.clone(),
    );
    let bad_field = Family::<FieldLabels, Counter>::default();
    registry.register(
        "zapi_webhooks_bad_field",
        "Webhooks accepted with a field of the wrong type left out, by field",
        bad_field.clone(),
    );
    for field in BAD_FIELDS {
        drop(bad_field.get_or_create(&FieldLabels {
            field: field.to_owned(),
        }));
    }
    (bad_moment, bad_field)
}

/// The `z-api-token` header counters (its refusals' series in
/// `zapi_webhooks_rejected_total` is one of [`REJECTION_REASONS`], at 0 from
/// the start like the others).
fn register_token_header(registry: &mut Registry) -> (Counter, Counter) {
    let without = Counter::default();
    registry.register(
        "zapi_webhooks_without_token_header",
        "Webhooks of a configured instance without a z-api-token header",
        without.clone(),
    );
    let mismatch = Counter::default();
    registry.register(
        "zapi_webhooks_token_header_mismatch",
        "Webhooks of a configured instance whose z-api-token header is not its token",
        mismatch.clone(),
    );
    (without, mismatch)
}

/// The `type` label of a callback type: one of [`KNOWN_CALLBACKS`] or `other`.
pub fn callback_label(callback: &str) -> &'static str {
    KNOWN_CALLBACKS
        .iter()
        .find(|k| **k == callback)
        .copied()
        .unwrap_or("other")
}

/// A label value from text that came from the network or the config:
/// control characters dropped, at most [`MAX_LABEL_CHARS`] characters.
pub fn sanitize_label(s: &str) -> String {
    let clean: Vec<char> = s.chars().filter(|c| !c.is_control()).collect();
    if clean.len() <= MAX_LABEL_CHARS {
        clean.into_iter().collect()
    } else {
        let mut cut: String = clean[..MAX_LABEL_CHARS - 1].iter().collect();
        cut.push('…');
        cut
    }
}

fn instance_labels(inst: &Instance) -> InstanceLabels {
    InstanceLabels {
        instance_id: sanitize_label(inst.id.as_str()),
        name: inst.name.as_deref().map(sanitize_label).unwrap_or_default(),
        account: inst
            .account
            .as_deref()
            .map(|a| ("account", sanitize_label(a)))
            .into_iter()
            .collect(),
    }
}

fn account_labels(account: &str) -> AccountLabels {
    AccountLabels {
        account: sanitize_label(account),
    }
}

fn state_labels(state: ConnState) -> StateLabels {
    StateLabels {
        state: state.word().to_owned(),
    }
}

/// Counts the webhook routes' refusals (answers that are not 2xx) by reason
/// in `zapi_webhooks_rejected_total{reason}`.
///
/// A plain `map_response` layer: no boxed future and no clone of the inner
/// router per request (as `middleware::from_fn` has), since every webhook
/// goes through it.
pub fn count_rejections(router: axum::Router, metrics: Arc<Metrics>) -> axum::Router {
    router.layer(tower::util::MapResponseLayer::new(
        move |response: Response| {
            let status = response.status();
            if !status.is_success() {
                metrics.webhook_rejected(rejection_reason(status));
            }
            response
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    use crate::app::{App, Setup, TimeZone as Tz};
    use crate::model::Event;

    fn app(instances: Vec<(InstanceId, Option<String>)>) -> App {
        App::new(
            Setup {
                listen: String::new(),
                secret_paths: false,
                config_file: None,
                instances,
                missing_for_register: None,
                can_query_status: false,
                tz: Tz::Local,
                banner: None,
                warnings: Vec::new(),
            },
            Utc::now(),
        )
    }

    fn event(id: &str, kind: EventKind, secs: i64) -> Event {
        let at = Utc.timestamp_opt(secs, 0).unwrap();
        Event {
            instance_id: InstanceId::new(id),
            kind,
            moment: at,
            received: at,
        }
    }

    /// The value of the sample `name{labels}` in `text`, labels written as
    /// in the exposition (`a="x",b="y"`).
    fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
        let head = if labels.is_empty() {
            format!("{name} ")
        } else {
            format!("{name}{{{labels}}} ")
        };
        text.lines()
            .find_map(|l| l.strip_prefix(&head))
            .map(|v| v.trim().parse().unwrap())
    }

    /// What the hub does with each stored event.
    fn apply(m: &Metrics, app: &mut App, ev: Event) {
        m.observe_received(&ev.kind);
        let disconnect = matches!(ev.kind, EventKind::Disconnected { .. });
        let (_, row) = app.apply_webhook(ev, Utc::now());
        let inst = &app.fleet.instances[row];
        if disconnect {
            m.observe_disconnect(inst);
        }
        m.set_instance(inst);
    }

    #[test]
    fn instances_of_an_account_carry_its_label_and_accounts_have_their_series() {
        let m = Metrics::new();
        m.declare_accounts(["Agency A"]);
        let mut app = app(vec![
            (InstanceId::new("A"), Some("Sales".into())),
            (InstanceId::new("B"), None),
        ]);
        app.fleet.instances[1].account = Some("Agency A".into());
        m.set_instance(&app.fleet.instances[0]);
        m.set_instance(&app.fleet.instances[1]);
        m.set_account_instances("Agency A", 1);
        let text = m.encode();
        // the implicit account's series keep their labels
        let old = r#"instance_id="A",name="Sales""#;
        assert_eq!(sample(&text, "zapi_disconnects_total", old), Some(0.0));
        let new = r#"instance_id="B",name="",account="Agency A""#;
        assert_eq!(
            sample(&text, "zapi_disconnects_total", new),
            Some(0.0),
            "{text}"
        );
        let account = r#"account="Agency A""#;
        assert_eq!(sample(&text, "zapi_account_instances", account), Some(1.0));
        assert_eq!(
            sample(&text, "zapi_discovery_failures_total", account),
            Some(0.0)
        );
        m.discovery_failed("Agency A");
        let text = m.encode();
        assert_eq!(
            sample(&text, "zapi_discovery_failures_total", account),
            Some(1.0)
        );
        // an instance that joins an account (its first listing) moves its series
        app.fleet.instances[0].account = Some("Agency A".into());
        m.set_instance(&app.fleet.instances[0]);
        let text = m.encode();
        assert_eq!(sample(&text, "zapi_disconnects_total", old), None);
        let moved = r#"instance_id="A",name="Sales",account="Agency A""#;
        assert_eq!(sample(&text, "zapi_disconnects_total", moved), Some(0.0));
    }

    #[test]
    fn unknown_is_absent_then_disconnect_is_0_and_counted() {
        let m = Metrics::new();
        let mut app = app(vec![(InstanceId::new("A"), Some("Sales".into()))]);
        m.set_instance(&app.fleet.instances[0]);
        let text = m.encode();
        let labels = r#"instance_id="A",name="Sales""#;
        assert_eq!(sample(&text, "zapi_instance_connected", labels), None);
        assert_eq!(sample(&text, "zapi_disconnects_total", labels), Some(0.0));
        assert_eq!(
            sample(&text, "zapi_instances", r#"state="unknown""#),
            Some(1.0)
        );
        assert!(text.ends_with("# EOF\n"));

        let down = EventKind::Disconnected {
            error: Some("x".into()),
        };
        apply(&m, &mut app, event("A", down, 1_764_000_000));
        let text = m.encode();
        assert_eq!(sample(&text, "zapi_instance_connected", labels), Some(0.0));
        assert_eq!(sample(&text, "zapi_disconnects_total", labels), Some(1.0));
        assert_eq!(
            sample(&text, "zapi_instance_last_change_timestamp_seconds", labels),
            Some(1_764_000_000.0)
        );
        assert_eq!(
            sample(&text, "zapi_instances", r#"state="unknown""#),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, "zapi_instances", r#"state="disconnected""#),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                "zapi_webhooks_received_total",
                r#"type="DisconnectedCallback""#
            ),
            Some(1.0)
        );
    }

    #[test]
    fn callback_types_are_a_closed_set() {
        let m = Metrics::new();
        let mut app = app(Vec::new());
        for cb in ["ReceivedCallback", "MadeUp1", "MadeUp2"] {
            let kind = EventKind::Activity {
                callback: cb.into(),
            };
            apply(&m, &mut app, event("B", kind, 1_764_000_000));
        }
        let text = m.encode();
        assert_eq!(
            sample(
                &text,
                "zapi_webhooks_received_total",
                r#"type="ReceivedCallback""#
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "zapi_webhooks_received_total", r#"type="other""#),
            Some(2.0)
        );
        assert!(!text.contains("MadeUp"));
    }

    #[test]
    fn a_name_change_moves_the_series_and_keeps_the_count() {
        let m = Metrics::new();
        let mut app = app(vec![(InstanceId::new("A"), Some("Old".into()))]);
        let down = EventKind::Disconnected { error: None };
        apply(&m, &mut app, event("A", down, 1_764_000_000));
        let mut renamed = app.fleet.instances[0].clone();
        renamed.name = Some("New".into());
        m.set_instance(&renamed);
        let text = m.encode();
        assert!(!text.contains(r#"name="Old""#), "{text}");
        let labels = r#"instance_id="A",name="New""#;
        assert_eq!(sample(&text, "zapi_disconnects_total", labels), Some(1.0));
        assert_eq!(sample(&text, "zapi_instance_connected", labels), Some(0.0));
        assert!(sample(&text, "zapi_instance_last_change_timestamp_seconds", labels).is_some());
    }

    #[test]
    fn labels_are_sanitised_and_escaped() {
        assert_eq!(sanitize_label("a\u{1b}[31mb\n"), "a[31mb");
        let long = "x".repeat(100);
        assert_eq!(sanitize_label(&long).chars().count(), MAX_LABEL_CHARS);
        let m = Metrics::new();
        let app = app(vec![(InstanceId::new("A"), Some("say \"hi\"\\".into()))]);
        m.set_instance(&app.fleet.instances[0]);
        assert!(m.encode().contains(r#"name="say \"hi\"\\""#));
    }

    #[test]
    fn every_rejection_reason_is_listed() {
        for code in 100..=599 {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(
                REJECTION_REASONS.contains(&rejection_reason(status)),
                "{code}"
            );
        }
    }

    #[test]
    fn rejection_reasons() {
        assert_eq!(rejection_reason(StatusCode::BAD_REQUEST), "bad_request");
        assert_eq!(rejection_reason(StatusCode::REQUEST_TIMEOUT), "timeout");
        assert_eq!(
            rejection_reason(StatusCode::SERVICE_UNAVAILABLE),
            "unavailable"
        );
        assert_eq!(rejection_reason(StatusCode::IM_A_TEAPOT), "client_error");
        assert_eq!(rejection_reason(StatusCode::UNAUTHORIZED), "token_mismatch");
        assert_eq!(
            rejection_reason(StatusCode::INTERNAL_SERVER_ERROR),
            "server_error"
        );
    }

    #[test]
    fn listener_counters_exist_at_0_and_count() {
        let m = Metrics::new();
        let text = m.encode();
        for (name, labels) in [
            ("zapi_webhooks_bad_moment_total", ""),
            ("zapi_webhooks_bad_field_total", r#"field="type""#),
            ("zapi_webhooks_bad_field_total", r#"field="error""#),
            ("zapi_webhooks_bad_field_total", r#"field="phone""#),
            ("zapi_webhooks_without_token_header_total", ""),
            ("zapi_webhooks_token_header_mismatch_total", ""),
            ("zapi_webhooks_rejected_total", r#"reason="token_mismatch""#),
        ] {
            assert_eq!(sample(&text, name, labels), Some(0.0), "{name}{{{labels}}}");
        }
        for field in ["momment", "error", "momment", "made-up"] {
            m.webhook_bad_field(field);
        }
        m.webhook_without_token_header();
        m.webhook_token_header_mismatch();
        m.webhook_token_header_mismatch();
        let text = m.encode();
        assert_eq!(
            sample(&text, "zapi_webhooks_bad_moment_total", ""),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, "zapi_webhooks_bad_field_total", r#"field="error""#),
            Some(1.0)
        );
        assert!(!text.contains("made-up"), "a closed set of fields");
        assert_eq!(
            sample(&text, "zapi_webhooks_without_token_header_total", ""),
            Some(1.0)
        );
        assert_eq!(
            sample(&text, "zapi_webhooks_token_header_mismatch_total", ""),
            Some(2.0)
        );
    }

    #[test]
    fn instances_over_the_cap_get_no_series_but_are_counted() {
        let m = Metrics::new();
        let mut known = m.lock();
        for i in 0..MAX_INSTANCE_SERIES {
            known.insert(
                InstanceId::new(format!("I{i}")),
                Known {
                    labels: InstanceLabels {
                        instance_id: format!("I{i}"),
                        name: String::new(),
                        account: Vec::new(),
                    },
                    state: ConnState::Unknown,
                },
            );
        }
        drop(known);
        let app = app(vec![(InstanceId::new("LATE"), None)]);
        m.set_instance(&app.fleet.instances[0]);
        let text = m.encode();
        assert!(!text.contains("LATE"));
        assert_eq!(
            sample(&text, "zapi_instances", r#"state="unknown""#),
            Some(1.0)
        );
    }
}
