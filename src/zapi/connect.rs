//! Reconnecting a number: the QR code (`qr-code/image`, `qr-code` as a
//! fallback), the pairing code (`phone-code/{phone}`) and the device
//! (`device`). The QR payload and the pairing code are credentials: they
//! travel as [`Credential`] and never reach an error text or a log line.

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::model::{InstanceId, Secret};
use crate::qr::{self, Credential};

use super::{ApiError, ZapiClient};

/// What `qr-code/image` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QrAnswer {
    /// The payload of the code to draw.
    Code(Credential),
    /// The instance is connected already: Z-API serves no code.
    Connected,
}

/// Answer of `GET …/device` (the fields the detail pane shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    #[serde(default, deserialize_with = "text")]
    pub phone: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub name: Option<String>,
    /// The phone's model (`device.device_model`).
    #[serde(default)]
    pub model: Option<String>,
    /// `iphone`, `android`, `smbi` (business, iPhone), `smba` (business, Android).
    #[serde(default, deserialize_with = "text")]
    pub original_device: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    pub is_business: Option<bool>,
}

/// A string field; empty, `null` or another type reads as `None`.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::String(s) if !s.trim().is_empty() => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A boolean field; another type reads as `None`.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Value::deserialize(d)?.as_bool())
}

/// Z-API's error text, at most [`super::MAX_ERROR_CHARS`] characters.
fn short(s: &str) -> String {
    s.chars().take(super::MAX_ERROR_CHARS).collect()
}

impl Device {
    /// Reads Z-API's `/device` answer (the model is nested under `device`).
    pub fn from_answer(v: &Value) -> Device {
        let mut d: Device = serde_json::from_value(v.clone()).unwrap_or_default();
        d.model = v
            .pointer("/device/device_model")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .map(str::to_owned);
        d
    }
}

/// The longest phone number there is (E.164: 15 digits) and the shortest
/// worth asking about.
pub const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 8..=15;

/// Checks a phone number for `phone-code`: digits only, 8 to 15 of them.
pub fn check_phone(phone: &str) -> Result<(), String> {
    if !phone.chars().all(|c| c.is_ascii_digit()) {
        return Err("the phone number takes digits only (country code first, no +)".into());
    }
    if !PHONE_DIGITS.contains(&phone.len()) {
        return Err(format!(
            "the phone number has {} digits; it needs {} to {}, country code first",
            phone.len(),
            PHONE_DIGITS.start(),
            PHONE_DIGITS.end()
        ));
    }
    Ok(())
}

impl ZapiClient {
    /// `GET …/qr-code/image` (or, when that gives nothing readable,
    /// `GET …/qr-code`): the payload of the code to draw.
    pub async fn qr_code(&self, id: &InstanceId, token: &Secret) -> Result<QrAnswer, ApiError> {
        let image = self
            .call_path(
                Method::GET,
                id,
                token,
                &["qr-code", "image"],
                "qr-code/image",
                None,
            )
            .await;
        let first = match image.map(|b| read_qr_answer(&b)) {
            Ok(Ok(answer)) => return Ok(answer),
            Ok(Err(e)) => e,
            // the call itself failed: Z-API's error is the answer
            Err(e @ ApiError::Http { status, .. }) if status != 404 => return Err(e),
            Err(e @ (ApiError::Network(_) | ApiError::Config(_))) => return Err(e),
            Err(e) => e,
        };
        match self
            .call_path(Method::GET, id, token, &["qr-code"], "qr-code", None)
            .await
        {
            Ok(bytes) => read_qr_answer(&bytes).map_err(|_| first),
            Err(_) => Err(first),
        }
    }

    /// `GET …/phone-code/{phone}`: the code to type in WhatsApp → Linked
    /// devices → Link with phone number.
    pub async fn phone_code(
        &self,
        id: &InstanceId,
        token: &Secret,
        phone: &str,
    ) -> Result<Credential, ApiError> {
        check_phone(phone).map_err(ApiError::Config)?;
        let body = self
            .call_path(
                Method::GET,
                id,
                token,
                &["phone-code", phone],
                "phone-code",
                None,
            )
            .await?;
        read_phone_code(&body)
    }

    /// `GET …/device`: the phone linked to the instance.
    pub async fn device(&self, id: &InstanceId, token: &Secret) -> Result<Device, ApiError> {
        let body = self
            .call_path(Method::GET, id, token, &["device"], "device", None)
            .await?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| ApiError::Decode(format!("device: {e}")))?;
        if !v.is_object() {
            return Err(ApiError::Decode("device: not a JSON object".into()));
        }
        Ok(Device::from_answer(&v))
    }
}

/// Reads a `qr-code/image` or `qr-code` answer: `{"value": "data:…"}`, a
/// JSON string, a bare base64 text, the PNG bytes themselves, or
/// `{"connected": true}`. The error never holds the payload.
pub fn read_qr_answer(body: &[u8]) -> Result<QrAnswer, ApiError> {
    const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if body.starts_with(PNG_SIGNATURE) {
        return qr::payload_from_png(body)
            .map(QrAnswer::Code)
            .map_err(|e| ApiError::Decode(e.to_string()));
    }
    let value = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => {
            if o.get("connected").and_then(Value::as_bool) == Some(true) {
                return Ok(QrAnswer::Connected);
            }
            match o.get("value").and_then(Value::as_str) {
                Some(v) => v.to_owned(),
                None => {
                    let why = o
                        .get("error")
                        .or_else(|| o.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("no QR code in the answer");
                    return Err(ApiError::Refused(short(why)));
                }
            }
        }
        Ok(Value::String(s)) => s,
        Ok(_) => return Err(ApiError::Decode("no QR code in the answer".into())),
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    };
    match qr::payload_from_answer(&value) {
        Ok(payload) => Ok(QrAnswer::Code(payload)),
        // `qr-code` may answer the payload itself, not an image of it
        Err(_) if looks_like_payload(&value) => Ok(QrAnswer::Code(Credential::new(value))),
        Err(e) => Err(ApiError::Decode(e.to_string())),
    }
}

/// WhatsApp's payloads are `ref,key,…` text (`2@…,…,…`): printable, short,
/// with commas. Anything else is not taken for one.
fn looks_like_payload(s: &str) -> bool {
    (10..=2000).contains(&s.len()) && s.contains(',') && s.chars().all(|c| c.is_ascii_graphic())
}

/// Reads a `phone-code` answer: the code under `code` or `value`; an
/// `error` or `message` is Z-API refusing.
pub fn read_phone_code(body: &[u8]) -> Result<Credential, ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::Decode("phone-code: not JSON".into()))?;
    let code = ["code", "value"]
        .iter()
        .find_map(|k| v.get(k).and_then(Value::as_str))
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if let Some(code) = code {
        if code.chars().count() > 64 || code.chars().any(char::is_control) {
            return Err(ApiError::Decode("phone-code: not a pairing code".into()));
        }
        return Ok(Credential::new(code));
    }
    let why = v
        .get("error")
        .or_else(|| v.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("no pairing code in the answer");
    Err(ApiError::Refused(short(why)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn qr_answers_in_every_shape() {
        let payload = "2@abc,def,ghi";
        let png = qr::Modules::encode(payload).unwrap().to_png(3).unwrap();
        let uri = qr::data_uri(&png);
        let want = QrAnswer::Code(Credential::new(payload));
        let body = json!({ "value": uri }).to_string();
        assert_eq!(read_qr_answer(body.as_bytes()).unwrap(), want);
        assert_eq!(
            read_qr_answer(json!(uri).to_string().as_bytes()).unwrap(),
            want
        );
        let bare = uri.split_once(',').unwrap().1;
        assert_eq!(read_qr_answer(bare.as_bytes()).unwrap(), want);
        assert_eq!(read_qr_answer(&png).unwrap(), want);
        assert_eq!(
            read_qr_answer(json!({ "value": payload }).to_string().as_bytes()).unwrap(),
            want
        );
        assert_eq!(
            read_qr_answer(br#"{"connected":true}"#).unwrap(),
            QrAnswer::Connected
        );
        assert!(matches!(
            read_qr_answer(br#"{"error":"Instance not found"}"#),
            Err(ApiError::Refused(m)) if m == "Instance not found"
        ));
        assert!(read_qr_answer(b"[1]").is_err());
    }

    #[test]
    fn phone_code_under_code_or_value_and_errors() {
        assert_eq!(
            read_phone_code(br#"{"code":"ABCD-1234"}"#)
                .unwrap()
                .expose(),
            "ABCD-1234"
        );
        assert_eq!(
            read_phone_code(br#"{"value":"WXYZ9876"}"#)
                .unwrap()
                .expose(),
            "WXYZ9876"
        );
        let err = read_phone_code(br#"{"error":"Phone number invalid"}"#).unwrap_err();
        assert_eq!(err, ApiError::Refused("Phone number invalid".into()));
        assert!(read_phone_code(b"nope").is_err());
        assert!(read_phone_code(br#"{"code":""}"#).is_err());
    }

    #[test]
    fn phones_are_digits_only() {
        assert!(check_phone("5544999999999").is_ok());
        assert!(check_phone("+5544999999999").is_err());
        assert!(check_phone("55 44").is_err());
        assert!(check_phone("1234567").is_err());
        assert!(check_phone("1234567890123456").is_err());
    }

    #[test]
    fn device_reads_nested_model_and_odd_types() {
        let d = Device::from_answer(&json!({
            "phone": "554499999999", "name": "Sales", "imgUrl": "x",
            "device": {"sessionName": "Z-API", "device_model": "iPhone 15"},
            "originalDevice": "iphone", "isBusiness": false, "extra": 1
        }));
        assert_eq!(d.phone.as_deref(), Some("554499999999"));
        assert_eq!(d.model.as_deref(), Some("iPhone 15"));
        assert_eq!(d.original_device.as_deref(), Some("iphone"));
        assert_eq!(d.is_business, Some(false));
        let odd = Device::from_answer(&json!({"phone": 5544, "name": null, "device": "x"}));
        assert_eq!(odd.phone.as_deref(), Some("5544"));
        assert_eq!(odd.name, None);
        assert_eq!(odd.model, None);
    }
}
