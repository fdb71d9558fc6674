//! Discovery through Z-API's partner API, for either program: one task per
//! `[[accounts]]` with a partner token lists its instances every
//! `discover_every` seconds (and when `s` asks, through [`Accounts::relist`]),
//! keeps the tokens it finds for the runner's calls ([`Found`]), and sends
//! what it found, without the tokens, as [`Msg::Discovered`]. A listing that
//! fails keeps what is known, says so, and is tried again with backoff.
//!
//! [`Accounts`] is also how every REST call of an instance takes its own
//! account's Client-Token.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::DateTime;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use crate::app::Msg;
use crate::fleet::{Hooks, ListedInstance};
use crate::listener::secret::WebhookSecret;
use crate::model::{InstanceId, Secret};
use crate::zapi::{Listed, PartnerClient, ZapiClient};

/// First delay before a failed listing is tried again; it doubles up to
/// [`MAX_RETRY`] (or the account's `discover_every`, when shorter).
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_secs(5);
/// The longest wait after failures.
pub const MAX_RETRY: Duration = Duration::from_secs(300);

/// Tokens of the instances discovery found, and their account: written by
/// discovery, read by every call. `Debug` shows how many, never a token.
#[derive(Clone, Default)]
pub struct Found(Arc<RwLock<HashMap<InstanceId, (usize, Secret)>>>);

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Found({} instances)", self.len())
    }
}

impl Found {
    pub fn get(&self, id: &InstanceId) -> Option<(usize, Secret)> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        map.get(id).cloned()
    }

    pub fn len(&self) -> usize {
        self.0.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert_all(&self, account: usize, listed: &[Listed]) {
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        for l in listed {
            map.insert(InstanceId::new(&l.id), (account, l.token.clone()));
        }
    }
}

/// Which account each instance belongs to and each account's client.
#[derive(Clone, Default)]
pub struct Accounts {
    /// The `[[accounts]]` in config order: name, and the client with its
    /// Client-Token (`None`: it has none).
    pub clients: Vec<(String, Option<ZapiClient>)>,
    /// The configured `[[accounts.instances]]`, by account.
    pub of: HashMap<InstanceId, usize>,
    pub found: Found,
    /// Wakes every discovery task at once (`s`).
    pub relist: Arc<Notify>,
}

impl Accounts {
    /// The client and token of an instance of an `[[accounts]]`: `None`
    /// when it is an instance of the implicit account; an error when its
    /// account has no Client-Token or it has no token.
    pub fn route(
        &self,
        id: &InstanceId,
        configured: Option<&Secret>,
    ) -> Option<Result<(ZapiClient, Secret), String>> {
        let (account, token) = match self.found.get(id) {
            Some((account, token)) => (account, Some(token)),
            None => (*self.of.get(id)?, None),
        };
        let Some((name, client)) = self.clients.get(account) else {
            return Some(Err("instance is not configured".into()));
        };
        let Some(client) = client else {
            return Some(Err(format!("client_token of account `{name}` is not set")));
        };
        match token.or_else(|| configured.cloned()) {
            Some(token) => Some(Ok((client.clone(), token))),
            None => Some(Err("instance is not configured".into())),
        }
    }

    /// Asks every discovery task to list its account again now.
    pub fn relist(&self) {
        self.relist.notify_waiters();
    }
}

/// One account to discover.
pub struct AccountDiscovery {
    /// Its number in [`Accounts::clients`].
    pub account: usize,
    pub name: String,
    pub client: PartnerClient,
    /// Between two listings (zero: only at start and on `s`).
    pub every: Duration,
    pub query: Option<String>,
}

/// Everything the discovery tasks share.
pub struct Discovery {
    pub accounts: Vec<AccountDiscovery>,
    pub found: Found,
    pub relist: Arc<Notify>,
    /// With the public URL (and the webhook secret) the listing's webhook
    /// URLs are judged: here, elsewhere (drift) or none.
    pub public_url: Option<String>,
    pub secret: Option<WebhookSecret>,
    /// `register_all_types`: the one every-webhooks URL counts as here.
    pub all_types: bool,
    pub page_size: usize,
    pub retry_base: Duration,
}

impl Discovery {
    /// One task per account; results go to `results`. The tasks end when
    /// `results` is closed (checked after each listing) or the set is dropped.
    pub fn spawn(self, results: mpsc::UnboundedSender<Msg>) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        let judge = Arc::new((self.public_url, self.secret, self.all_types));
        for acc in self.accounts {
            let ctx = Ctx {
                found: self.found.clone(),
                relist: Arc::clone(&self.relist),
                judge: Arc::clone(&judge),
                page_size: self.page_size,
                retry_base: self.retry_base,
                results: results.clone(),
            };
            tasks.spawn(run_account(acc, ctx));
        }
        tasks
    }
}

struct Ctx {
    found: Found,
    relist: Arc<Notify>,
    judge: Arc<(Option<String>, Option<WebhookSecret>, bool)>,
    page_size: usize,
    retry_base: Duration,
    results: mpsc::UnboundedSender<Msg>,
}

async fn run_account(acc: AccountDiscovery, ctx: Ctx) {
    let mut failures: u32 = 0;
    loop {
        // registered before listing, so an `s` during the listing is not lost
        let relist = ctx.relist.notified();
        tokio::pin!(relist);
        relist.as_mut().enable();
        let result = acc
            .client
            .list_all(ctx.page_size, acc.query.as_deref())
            .await;
        let wait = match result {
            Ok(listed) => {
                failures = 0;
                ctx.found.insert_all(acc.account, &listed);
                let (public_url, secret, all_types) = &*ctx.judge;
                let listed = listed
                    .iter()
                    .map(|l| listed_instance(l, public_url.as_deref(), secret.as_ref(), *all_types))
                    .collect();
                send(&ctx, &acc.name, Ok(listed));
                (!acc.every.is_zero()).then_some(acc.every)
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                tracing::warn!(account = %acc.name, error = %e, "discovery failed");
                send(&ctx, &acc.name, Err(e.to_string()));
                let cap = if acc.every.is_zero() {
                    MAX_RETRY
                } else {
                    acc.every.min(MAX_RETRY)
                };
                Some(crate::http_retry::backoff(
                    ctx.retry_base,
                    cap,
                    failures,
                    rand::random(),
                ))
            }
        };
        if ctx.results.is_closed() {
            return;
        }
        match wait {
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = &mut relist => {}
                }
            }
            None => relist.await,
        }
    }
}

fn send(ctx: &Ctx, account: &str, result: Result<Vec<ListedInstance>, String>) {
    let _ = ctx.results.send(Msg::Discovered {
        account: account.to_string(),
        result,
    });
}

/// A listed instance as the fleet takes it: no token; webhook URLs masked
/// and judged against this dashboard's.
pub fn listed_instance(
    l: &Listed,
    public_url: Option<&str>,
    secret: Option<&WebhookSecret>,
    all_types: bool,
) -> ListedInstance {
    let id = InstanceId::new(&l.id);
    let hooks = public_url.map(|public_url| {
        judge_hooks(
            [
                l.disconnected_callback_url.as_deref(),
                l.connected_callback_url.as_deref(),
                l.received_callback_url.as_deref(),
            ],
            public_url,
            secret,
            &id,
            all_types,
        )
    });
    ListedInstance {
        id,
        name: l.name.clone(),
        due: l.due.and_then(DateTime::from_timestamp_millis),
        payment_status: l.payment_status.clone(),
        connected: l.whatsapp_connected,
        phone_connected: l.phone_connected,
        hooks,
    }
}

/// Where an instance's webhooks point (`[disconnected, connected,
/// received]`, as `/me` or the partner listing say), compared with the URLs
/// registration would send; every URL masked for the screen.
pub fn judge_hooks(
    [disconnected_now, connected_now, received_now]: [Option<&str>; 3],
    public_url: &str,
    secret: Option<&WebhookSecret>,
    id: &InstanceId,
    all_types: bool,
) -> Hooks {
    let (disconnected, connected) = crate::listener::secret::hook_urls(public_url, secret, id);
    let foreign = crate::app::foreign_urls([disconnected_now, connected_now], public_url);
    // with `register_all_types`, the one every-webhooks URL points here too
    let every = crate::listener::secret::hook_url_every(public_url, secret, id);
    let points = |now: Option<&str>, own: &str| {
        now == Some(own) || (all_types && now == Some(every.as_str()))
    };
    let here = points(disconnected_now, &disconnected) && points(connected_now, &connected);
    // another system's URL may hold a secret in its query or userinfo too
    let mask = crate::app::mask_foreign_url;
    Hooks {
        disconnected: disconnected_now.map(mask),
        connected: connected_now.map(mask),
        received: received_now.map(mask),
        here,
        foreign,
    }
}
