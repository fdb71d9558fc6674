//! `watch`: the dashboard fed by a remote `serve` (stub: being written).

use crate::model::InstanceId;
use crate::zapi::{ApiError, Status};

/// The remote server's HTTP API, for the action keys.
#[derive(Debug, Clone)]
pub struct RemoteApi {}

impl RemoteApi {
    pub async fn status(&self, _id: &InstanceId) -> Result<Status, ApiError> {
        Err(ApiError::Config("not yet".into()))
    }
    pub async fn register(&self, _id: &InstanceId) -> Result<(), ApiError> {
        Err(ApiError::Config("not yet".into()))
    }
}
