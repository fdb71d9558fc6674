//! Prometheus metrics of `serve` (stub: being written).

use crate::app::Instance;
use crate::model::Event;

/// The metrics registry and its families.
#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    pub fn new() -> Self {
        Self {}
    }
    /// An accepted webhook was applied to `inst` (its row after the event).
    pub fn observe_event(&self, _event: &Event, _inst: &Instance) {}
    /// A row changed (state, last change).
    pub fn set_instance(&self, _inst: &Instance) {}
    pub fn registration_failed(&self) {}
    pub fn webhook_rejected(&self, _reason: &str) {}
    pub fn unauthorized(&self) {}
    /// The text exposition.
    pub fn encode(&self) -> String {
        String::new()
    }
}

/// Counts the webhook routes' refusals (4xx/5xx answers) by reason in
/// `zapi_webhooks_rejected_total{reason}` (stub: passes through).
pub fn count_rejections(router: axum::Router, _metrics: std::sync::Arc<Metrics>) -> axum::Router {
    router
}
