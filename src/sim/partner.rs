//! The partner (integrator) API of the sim: `GET /instances?page=N&pageSize=M`
//! with `Authorization: Bearer <partner token>` lists the instances of the
//! token's account, in pages, with their tokens, webhook URLs and whether
//! WhatsApp is connected; and the [`Sim`] methods that add accounts and add
//! or remove instances while it runs.
//!
//! | case | status | body |
//! |---|---|---|
//! | not `GET` | 405 | `{"error": "Method not allowed"}` |
//! | no `Authorization: Bearer …`, or no account's partner token | 401 | `{"error": "Unauthorized"}` |
//! | no `Content-Type: application/json` | 415 | `{"error": "Content-Type must be application/json"}` |
//! | `page` or `pageSize` missing, not a number, `page` < 1, `pageSize` not 1..=1000 | 400 | `{"error": "…"}` |
//!
//! Pages count from 1; a page past the last one has an empty `content`.

use axum::http::{HeaderMap, Method, StatusCode, header};
use serde_json::{Value, json};

use super::rest::{Answer, percent_decode};
use super::state::{Inst, SimState};
use super::{Sim, SimAccount, SimInstance};

/// The largest `pageSize` the sim takes (Z-API's docs give no limit; the
/// dashboard asks for this many).
pub const MAX_PAGE_SIZE: usize = 1000;

pub(super) fn list(st: &SimState, method: &Method, query: &str, headers: &HeaderMap) -> Answer {
    if *method != Method::GET {
        return Answer::error(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(account) = bearer.and_then(|token| {
        st.accounts
            .iter()
            .position(|a| a.partner_token.as_deref() == Some(token))
    }) else {
        return Answer::error(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().starts_with("application/json"));
    if !is_json {
        return Answer::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let (page, size, search) = match page_query(query) {
        Ok(q) => q,
        Err(e) => return Answer::error(StatusCode::BAD_REQUEST, e),
    };
    let matching: Vec<(&String, &Inst)> = st
        .order
        .iter()
        .filter_map(|id| st.instances.get(id).map(|i| (id, i)))
        .filter(|(_, i)| i.account == account + 1)
        .filter(|(id, i)| {
            search
                .as_ref()
                .is_none_or(|q| id.to_lowercase().contains(q) || i.name.to_lowercase().contains(q))
        })
        .collect();
    let total = matching.len();
    let content: Vec<Value> = matching
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(|(id, i)| entry(id, i))
        .collect();
    Answer::ok(json!({
        "total": total,
        "totalPage": total.div_ceil(size),
        "pageSize": size,
        "page": page,
        "content": content,
    }))
}

/// `page`, `pageSize` (both required) and the optional `query`, lower-cased.
fn page_query(query: &str) -> Result<(usize, usize, Option<String>), &'static str> {
    let (mut page, mut size, mut search) = (None, None, None);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "page" => page = v.parse::<usize>().ok(),
            "pageSize" => size = v.parse::<usize>().ok(),
            "query" => search = percent_decode(&v.replace('+', " ")),
            _ => {}
        }
    }
    let page = page
        .filter(|p| *p >= 1)
        .ok_or("page is required (1, 2, …)")?;
    let size = size
        .filter(|s| (1..=MAX_PAGE_SIZE).contains(s))
        .ok_or("pageSize is required (1 to 1000)")?;
    let search = search
        .map(|q| q.trim().to_lowercase())
        .filter(|q| !q.is_empty());
    Ok((page, size, search))
}

/// One instance as the listing shows it.
fn entry(id: &str, i: &Inst) -> Value {
    json!({
        "id": id,
        "token": i.token,
        "name": i.name,
        "due": i.due,
        "paymentStatus": i.payment_status,
        "deliveryCallbackUrl": i.delivery_url,
        "receivedCallbackUrl": i.received_url,
        "disconnectedCallbackUrl": i.disconnected_url,
        "connectedCallbackUrl": i.connected_url,
        "messageStatusCallbackUrl": i.message_status_url,
        "receivedAndDeliveryCallbackUrl": null,
        "presenceChatCallbackUrl": i.presence_url,
        "receivedStatusCallbackUrl": null,
        "phoneConnected": i.smartphone_connected,
        "whatsappConnected": i.connected,
        "middleware": "web",
        "tenant": null,
        "created": 1_700_000_000_000_i64,
    })
}

impl Sim {
    /// Adds an account with its own Client-Token and (optionally) a partner
    /// token, and its instances (all connected); its number for
    /// [`Sim::add_instance`].
    pub fn add_account(&self, account: SimAccount, instances: Vec<SimInstance>) -> usize {
        let mut st = self.shared.lock();
        st.accounts.push(account);
        let n = st.accounts.len();
        for i in instances {
            insert(&mut st, n, i);
        }
        n
    }

    /// Adds an instance to account `account` (a number from
    /// [`Sim::add_account`]; 0 is the options' account), connected.
    pub fn add_instance(&self, account: usize, instance: SimInstance) {
        insert(&mut self.shared.lock(), account, instance);
    }

    /// Deletes an instance: the listing no longer shows it and its calls
    /// answer "Instance not found".
    pub fn remove_instance(&self, id: &str) {
        let mut st = self.shared.lock();
        st.instances.remove(id);
        st.order.retain(|o| o != id);
    }

    /// In the demo: `after` from now, `add` joins account `account` and
    /// `remove` is deleted (the next listings show both). Stops with the sim.
    pub fn change_accounts_after(
        &self,
        after: std::time::Duration,
        account: usize,
        add: SimInstance,
        remove: String,
    ) {
        let shared = std::sync::Arc::clone(&self.shared);
        let mut stopped = self.stop.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(after) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            let mut st = shared.lock();
            insert(&mut st, account, add);
            st.instances.remove(&remove);
            st.order.retain(|o| *o != remove);
        });
    }

    /// Sets what the listing says of an instance's subscription: `due`
    /// (milliseconds since the epoch) and `paymentStatus`.
    pub fn set_billing(&self, id: &str, due_ms: i64, payment_status: &str) {
        if let Some(i) = self.shared.lock().instances.get_mut(id) {
            i.due = due_ms;
            i.payment_status = payment_status.to_owned();
        }
    }
}

fn insert(st: &mut SimState, account: usize, instance: SimInstance) {
    let id = instance.id.clone();
    let mut inst = Inst::new(instance);
    inst.account = account;
    if st.instances.insert(id.clone(), inst).is_none() {
        st.order.push(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_query_is_checked() {
        assert_eq!(page_query("page=2&pageSize=10"), Ok((2, 10, None)));
        assert_eq!(
            page_query("pageSize=5&page=1&query=Sal%C3%A3o+A"),
            Ok((1, 5, Some("salão a".into())))
        );
        assert!(page_query("pageSize=5").is_err());
        assert!(page_query("page=0&pageSize=5").is_err());
        assert!(page_query("page=1&pageSize=1001").is_err());
        assert!(page_query("page=x&pageSize=5").is_err());
    }
}
