//! The sim's side of reconnecting a number: real QR PNGs with a fresh random
//! payload every [`QR_LIFETIME`], pairing codes, `/device`, and (in the demo)
//! a simulated phone that "scans" a code or "types" a pairing code a few
//! seconds after it was served.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::Utc;
use serde_json::{Value, json};

use super::fleet::webhook_body_connected;
use super::state::{Inst, Post, Shared, SimState};

/// WhatsApp drops a QR code after 20 s; the sim serves a new one then.
pub const QR_LIFETIME: Duration = Duration::from_secs(20);

/// A payload shaped like WhatsApp's (`2@ref,key,key,key`), random.
fn random_payload() -> String {
    let b64 = |n: usize| {
        let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    };
    format!("2@{},{},{},{}", b64(48), b64(32), b64(32), b64(32))
}

/// The instance's current QR payload, a new one when the last is older
/// than [`QR_LIFETIME`].
fn current_payload(inst: &mut Inst) -> String {
    let fresh = inst
        .qr
        .as_ref()
        .is_some_and(|(_, at)| at.elapsed() < QR_LIFETIME);
    if !fresh {
        inst.qr = Some((random_payload(), Instant::now()));
    }
    inst.qr.as_ref().map(|(p, _)| p.clone()).unwrap_or_default()
}

/// `GET …/qr-code/image`: `{"value": "data:image/png;base64,…"}`, or
/// `{"connected": true}` when there is nothing to link.
pub(super) fn qr_image(st: &mut SimState, id: &str) -> Value {
    let Some(inst) = st.instances.get_mut(id) else {
        return json!({ "error": "Instance not found" });
    };
    if inst.connected {
        return json!({ "connected": true });
    }
    let payload = current_payload(inst);
    let png = crate::qr::Modules::encode(&payload).and_then(|m| m.to_png(6));
    queue_scan(st, id);
    match png {
        Ok(png) => json!({ "value": crate::qr::data_uri(&png) }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

/// `GET …/qr-code`: the payload itself (Z-API's docs say "the bytes").
pub(super) fn qr_bytes(st: &mut SimState, id: &str) -> Value {
    let Some(inst) = st.instances.get_mut(id) else {
        return json!({ "error": "Instance not found" });
    };
    if inst.connected {
        return json!({ "connected": true });
    }
    let payload = current_payload(inst);
    queue_scan(st, id);
    json!({ "value": payload })
}

/// `GET …/phone-code/{phone}`: `{"code": "ABCD-EFGH"}`; Z-API's error for a
/// connected instance or a phone that is not digits.
pub(super) fn phone_code(st: &mut SimState, id: &str, phone: &str) -> Result<Value, &'static str> {
    let connected = st.instances.get(id).is_some_and(|i| i.connected);
    if connected {
        return Err("Instance already connected");
    }
    if phone.is_empty() || !phone.chars().all(|c| c.is_ascii_digit()) {
        return Err("Phone number invalid");
    }
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut code: String = (0..8)
        .map(|_| char::from(LETTERS[usize::from(rand::random::<u8>()) % LETTERS.len()]))
        .collect();
    code.insert(4, '-');
    queue_scan(st, id);
    Ok(json!({ "code": code }))
}

/// `GET …/device`.
pub(super) fn device(inst: &Inst) -> Value {
    json!({
        "phone": inst.phone,
        "imgUrl": null,
        "about": "Disponível",
        "name": inst.name,
        "device": { "sessionName": "Z-API", "device_model": "Z-API Sim Phone" },
        "originalDevice": "android",
        "sessionId": 1,
        "isBusiness": true,
    })
}

/// With a scan delay set, the simulated phone will link this instance.
fn queue_scan(st: &mut SimState, id: &str) {
    if st.scan_after.is_some() && !st.to_scan.iter().any(|s| s == id) {
        st.to_scan.push(id.to_owned());
    }
}

/// Starts the simulated phones queued by the last answer: each links its
/// instance after the delay, as a person holding it up to the screen would.
pub(super) fn start_scans(shared: &Arc<Shared>) {
    let (ids, delay) = {
        let mut st = shared.lock();
        (std::mem::take(&mut st.to_scan), st.scan_after)
    };
    let Some(delay) = delay else {
        return;
    };
    for id in ids {
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let mut st = shared.lock();
            connect(&shared, &mut st, &id);
        });
    }
}

/// Connects an instance as Z-API would after a restart or a scan: its
/// `ConnectedCallback` is queued for the fleet (when one is attached).
pub(super) fn connect(shared: &Shared, st: &mut SimState, id: &str) {
    let fleet_attached = st.fleet_attached;
    let Some(inst) = st.instances.get_mut(id) else {
        return;
    };
    let was_connected = inst.connected;
    inst.connected = true;
    inst.error.clear();
    inst.smartphone_connected = true;
    inst.qr = None;
    if !was_connected && fleet_attached {
        let body = webhook_body_connected(id, Utc::now().timestamp_millis(), &inst.phone);
        st.pending_hooks.push(Post {
            path: "/hooks/connected",
            body,
        });
        shared.hooks_pending.notify_one();
    }
}
