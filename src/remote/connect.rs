//! The Connect popup through `serve`: `POST /api/instances/{id}/qr-code`
//! and `…/phone-code`. What they answer is a credential: it becomes a
//! [`Credential`] at once and no error text carries it.

use serde_json::{Value, json};

use super::RemoteApi;
use crate::model::InstanceId;
use crate::qr::Credential;
use crate::zapi::{ApiError, QrAnswer};

impl RemoteApi {
    /// `POST /api/instances/{id}/qr-code`: the server asks Z-API and answers
    /// the payload to draw (or that the instance is connected already).
    pub async fn qr_code(&self, id: &InstanceId) -> Result<QrAnswer, ApiError> {
        let url = self.url(&["instances", id.as_str(), "qr-code"])?;
        let body = self.send(self.http.post(url)).await?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| ApiError::Decode("qr-code answer of the server is not JSON".into()))?;
        if v.get("connected").and_then(Value::as_bool) == Some(true) {
            return Ok(QrAnswer::Connected);
        }
        match v.get("payload").and_then(Value::as_str) {
            Some(p) if !p.is_empty() => Ok(QrAnswer::Code(Credential::new(p))),
            _ => Err(ApiError::Decode(
                "qr-code answer of the server has no payload".into(),
            )),
        }
    }

    /// `POST /api/instances/{id}/phone-code` with `{"phone": …}`.
    pub async fn phone_code(&self, id: &InstanceId, phone: &str) -> Result<Credential, ApiError> {
        let url = self.url(&["instances", id.as_str(), "phone-code"])?;
        let body = self
            .send(self.http.post(url).json(&json!({ "phone": phone })))
            .await?;
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| ApiError::Decode("phone-code answer of the server is not JSON".into()))?;
        match v.get("code").and_then(Value::as_str) {
            Some(c) if !c.is_empty() => Ok(Credential::new(c)),
            _ => Err(ApiError::Decode(
                "phone-code answer of the server has no code".into(),
            )),
        }
    }
}
