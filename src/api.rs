//! The HTTP API of `serve`: `/metrics`, `/api/instances`, `/api/events`
//! (SSE) and the actions (stub: being written).

use crate::hub::HubHandle;
use crate::model::Secret;

/// The API's routes; without an `api_token` they answer 404.
pub fn router(_hub: HubHandle, _api_token: Option<Secret>) -> axum::Router {
    axum::Router::new()
}
