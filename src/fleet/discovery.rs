//! What an account's partner listing does to the fleet: instances found are
//! watched (a new one marked `new`), one that left the listing is kept and
//! marked `removed from account`, and each listed instance's state (whether
//! WhatsApp is connected) and webhook URLs are taken from the listing, as a
//! `/status` answer and a `/me` answer would be, so a discovered account
//! needs no per-instance call.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::instance::Census;
use super::{Fleet, HookCheck, Hooks, Instance};
use crate::model::{ConnState, InstanceId, Status};

/// The name of the implicit account (the top-level `client_token` and
/// `[[instances]]`) when there are `[[accounts]]` too.
pub const IMPLICIT_ACCOUNT: &str = "default";

/// Days before `due` from which the detail pane warns.
pub const DUE_WARNING_DAYS: i64 = 7;

/// One instance as the listing tells it (no token: that stays with the
/// runner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListedInstance {
    pub id: InstanceId,
    /// Z-API's name of it.
    pub name: Option<String>,
    pub due: Option<DateTime<Utc>>,
    pub payment_status: Option<String>,
    /// `whatsappConnected`.
    pub connected: Option<bool>,
    /// `phoneConnected`.
    pub phone_connected: Option<bool>,
    /// Where its webhooks point (masked), judged against this dashboard's
    /// URLs; `None` when that cannot be told (no `public_url`).
    pub hooks: Option<Hooks>,
}

/// How an instance stands with its account's listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingMark {
    /// Appeared in a listing after the account's first one.
    New,
    /// Was listed and no longer is (kept, with its history, until a restart).
    Removed,
}

impl ListingMark {
    pub fn word(self) -> &'static str {
        match self {
            ListingMark::New => "new",
            ListingMark::Removed => "removed from account",
        }
    }
}

/// What the listing last said of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<ListingMark>,
    /// The name is the config's: Z-API's does not replace it.
    #[serde(default)]
    pub named_here: bool,
}

impl Listing {
    /// Expired at `now`, or due within [`DUE_WARNING_DAYS`]: the warning.
    pub fn due_warning(&self, now: DateTime<Utc>) -> Option<String> {
        let due = self.due?;
        if due <= now {
            return Some("expired".into());
        }
        let days = (due - now).num_days();
        (days < DUE_WARNING_DAYS).then(|| {
            format!(
                "expires in {}",
                crate::words::count(days.max(0) as usize, "day")
            )
        })
    }

    /// `paymentStatus` that is not a paid one (Z-API's words vary: anything
    /// but `RECEIVED`, `CONFIRMED`, `PAID`, `TRIAL` or empty).
    pub fn unpaid(&self) -> Option<&str> {
        let status = self.payment_status.as_deref()?;
        let paid = ["RECEIVED", "CONFIRMED", "PAID", "TRIAL", "RECEIVED_IN_CASH"];
        (!paid.iter().any(|p| p.eq_ignore_ascii_case(status.trim()))).then_some(status)
    }
}

/// One `[[accounts]]` of the fleet and how its discovery goes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    /// It has a partner token: its instances are listed, not polled.
    pub discovers: bool,
    /// When its last listing succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<DateTime<Utc>>,
    /// Why its last listing failed (cleared by the next that succeeds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Listings that failed since the start.
    #[serde(default)]
    pub failures: u64,
}

/// What one listing did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingApplied {
    /// Rows added for instances not known before.
    pub added: Vec<usize>,
    /// Rows newly marked `removed from account`.
    pub removed: Vec<usize>,
    /// Rows whose state changed, and to what.
    pub became: Vec<(usize, ConnState)>,
    /// Of those, the rows that went from one known state to the other:
    /// the alert commands run on these ([`super::seen_change_of`]).
    pub seen_changes: Vec<(usize, ConnState)>,
}

impl Fleet {
    /// The accounts (name, has a partner token) and which configured
    /// instance belongs to which.
    pub fn set_accounts(&mut self, accounts: &[(String, bool)], of: &[(InstanceId, String)]) {
        self.accounts = accounts
            .iter()
            .map(|(name, discovers)| Account {
                name: name.clone(),
                discovers: *discovers,
                ..Account::default()
            })
            .collect();
        for (id, account) in of {
            if let Some(&row) = self.index.get(id) {
                self.instances[row].account = Some(account.clone());
            }
        }
        self.tally.forget_census();
    }

    /// The account named `name`, added if it was not known.
    fn account_mut(&mut self, name: &str) -> &mut Account {
        let pos = match self.accounts.iter().position(|a| a.name == name) {
            Some(pos) => pos,
            None => {
                self.tally.forget_census();
                self.accounts.push(Account {
                    name: name.to_string(),
                    discovers: true,
                    ..Account::default()
                });
                self.accounts.len() - 1
            }
        };
        &mut self.accounts[pos]
    }

    /// Account `account`'s listing failed at `now` (the rows stay as they are).
    pub fn listing_failed(&mut self, account: &str, error: String) {
        let acc = self.account_mut(account);
        acc.failure = Some(error);
        acc.failures += 1;
    }

    /// The accounts whose last listing failed, and why.
    pub fn discovery_failures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.accounts
            .iter()
            .filter_map(|a| a.failure.as_deref().map(|f| (a.name.as_str(), f)))
    }

    /// The names to tell accounts apart by: the configured accounts, then
    /// any other a row names (a server's rows, in `watch`); with rows of
    /// the implicit account among named ones, its name too.
    pub fn account_names(&self) -> &[String] {
        &self.census().names
    }

    /// Each account's name (as [`Fleet::account_names`]) with how many
    /// rows it has and how many of them are down.
    pub fn account_census(&self) -> impl Iterator<Item = (&str, usize, usize)> {
        let census = self.census();
        census
            .names
            .iter()
            .zip(&census.per)
            .map(|(name, &(rows, down))| (name.as_str(), rows, down))
    }

    /// The census, scanned from the rows when first asked since a row or a
    /// state changed (every frame asks: an idle screen scans nothing).
    fn census(&self) -> &Census {
        let census = self.tally.census.get_or_init(|| self.scan_accounts());
        debug_assert_eq!(*census, self.scan_accounts(), "account census out of step");
        census
    }

    /// One pass over the rows: the account names and (rows, down) of each.
    /// Rows of one account come in runs, so each row is compared with the
    /// previous row's account first.
    fn scan_accounts(&self) -> Census {
        let mut names: Vec<String> = self.accounts.iter().map(|a| a.name.clone()).collect();
        let mut per = vec![(0, 0); names.len()];
        let mut implicit: Option<(usize, usize)> = None;
        let mut last: Option<usize> = None;
        for inst in &self.instances {
            let down = usize::from(inst.state == ConnState::Disconnected);
            let Some(account) = &inst.account else {
                let (rows, d) = implicit.get_or_insert((0, 0));
                *rows += 1;
                *d += down;
                continue;
            };
            let k = match last.filter(|&k| names[k] == *account) {
                Some(k) => k,
                None => match names.iter().position(|n| n == account) {
                    Some(k) => k,
                    None => {
                        names.push(account.clone());
                        per.push((0, 0));
                        names.len() - 1
                    }
                },
            };
            last = Some(k);
            per[k].0 += 1;
            per[k].1 += down;
        }
        if let Some(counts) = implicit.filter(|_| !names.is_empty()) {
            names.insert(0, IMPLICIT_ACCOUNT.to_string());
            per.insert(0, counts);
        }
        Census { names, per }
    }

    /// Account `account`'s listing, at `now`. The account's first listing
    /// since the start marks nothing `new`.
    pub fn apply_listing(
        &mut self,
        account: &str,
        listed: Vec<ListedInstance>,
        now: DateTime<Utc>,
    ) -> ListingApplied {
        let acc = self.account_mut(account);
        let first = acc.listed.is_none();
        acc.listed = Some(now);
        acc.failure = None;
        let mut out = ListingApplied::default();
        let mut seen = HashSet::with_capacity(listed.len());
        for l in listed {
            seen.insert(l.id.clone());
            let row = match self.index.get(&l.id) {
                Some(&row) => {
                    // known from the event log before it was listed: it is ours now
                    let inst = &mut self.instances[row];
                    inst.configured = true;
                    if inst.account.is_none() {
                        inst.account = Some(account.to_string());
                        self.tally.forget_census();
                    }
                    row
                }
                None => {
                    let mut inst = Instance::new(l.id.clone(), None, true);
                    inst.account = Some(account.to_string());
                    let row = self.insert(inst);
                    out.added.push(row);
                    row
                }
            };
            let added = out.added.last() == Some(&row);
            if let Some((before, after)) = self.take_listed(row, l, added && !first, now) {
                out.became.push((row, after));
                if let Some(seen) = super::seen_change_of(before, after) {
                    out.seen_changes.push((row, seen));
                }
            }
        }
        for (row, inst) in self.instances.iter_mut().enumerate() {
            let ours = inst.account.as_deref() == Some(account);
            let Some(listing) = inst.listing.as_mut().filter(|_| ours) else {
                continue;
            };
            if !seen.contains(&inst.id) && listing.mark != Some(ListingMark::Removed) {
                listing.mark = Some(ListingMark::Removed);
                out.removed.push(row);
            }
        }
        out
    }

    /// One listed instance into its row; (before, after) if its state changed.
    fn take_listed(
        &mut self,
        row: usize,
        l: ListedInstance,
        new: bool,
        now: DateTime<Utc>,
    ) -> Option<(ConnState, ConnState)> {
        let inst = &mut self.instances[row];
        let named_here = match &inst.listing {
            Some(listing) => listing.named_here,
            None => inst.name.is_some(),
        };
        if !named_here && l.name.is_some() {
            inst.name = l.name;
        }
        // `new` lasts until the account's next listing; a removed one listed
        // again is back
        let mark = new.then_some(ListingMark::New);
        inst.listing = Some(Box::new(Listing {
            at: now,
            due: l.due,
            payment_status: l.payment_status,
            mark,
            named_here,
        }));
        if let Some(hooks) = l.hooks {
            inst.hooks = HookCheck::Ok {
                at: now,
                hooks: Box::new(hooks),
            };
        }
        let connected = l.connected?;
        let before = inst.state;
        // Only a change is applied: an unchanged answer leaves the row as it
        // is (nothing to draw), where a `/status` answer is recorded each time.
        let state = if connected {
            ConnState::Connected
        } else {
            ConnState::Disconnected
        };
        if before == state && inst.source.is_some() {
            return None;
        }
        let error = (!connected).then(|| "WhatsApp not connected (account listing)".to_string());
        inst.apply_status(
            Status {
                connected,
                error,
                smartphone_connected: l.phone_connected,
            },
            now,
        );
        let after = inst.state;
        self.tally.change(before, after);
        (before != after).then_some((before, after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn listed(id: &str, connected: bool) -> ListedInstance {
        ListedInstance {
            id: InstanceId::new(id),
            name: Some(format!("zapi {id}")),
            due: None,
            payment_status: Some("RECEIVED".into()),
            connected: Some(connected),
            phone_connected: Some(connected),
            hooks: None,
        }
    }

    #[test]
    fn the_first_listing_adds_rows_with_state_and_names_and_nothing_is_new() {
        let configured = [(InstanceId::new("C"), Some("Config name".into()))];
        let mut fleet = Fleet::with_configured(&configured, t(0));
        fleet.instances[0].account = Some("A".into());
        let out = fleet.apply_listing("A", vec![listed("C", true), listed("D", false)], t(1));
        assert_eq!(out.added, [1]);
        assert!(out.removed.is_empty());
        assert_eq!(
            out.became,
            [(0, ConnState::Connected), (1, ConnState::Disconnected)]
        );
        assert!(out.seen_changes.is_empty(), "from unknown: no alert");
        assert_eq!(fleet.counts(), (1, 1, 0));
        // the config's name stays; Z-API names the rest
        assert_eq!(fleet.instances[0].label(), "Config name");
        assert_eq!(fleet.instances[1].label(), "zapi D");
        assert_eq!(fleet.instances[1].account.as_deref(), Some("A"));
        assert!(
            fleet.instances[1].configured,
            "it has a token: it can be acted on"
        );
        assert!(
            fleet
                .instances
                .iter()
                .all(|i| i.listing.as_ref().unwrap().mark.is_none())
        );
        assert_eq!(
            fleet.instances[1].last_error.as_deref(),
            Some("WhatsApp not connected (account listing)")
        );
    }

    #[test]
    fn later_listings_mark_new_and_removed_and_keep_the_removed_row() {
        let mut fleet = Fleet::new(t(0));
        fleet.apply_listing("A", vec![listed("X", true), listed("Y", true)], t(1));
        fleet.apply_listing("B", vec![listed("B1", true)], t(1));
        let out = fleet.apply_listing("A", vec![listed("X", true), listed("Z", true)], t(2));
        assert_eq!(out.added, [3]);
        assert_eq!(out.removed, [1]);
        let mark = |fleet: &Fleet, id: &str| {
            fleet
                .get(&InstanceId::new(id))
                .unwrap()
                .listing
                .as_ref()
                .unwrap()
                .mark
        };
        assert_eq!(mark(&fleet, "Z"), Some(ListingMark::New));
        assert_eq!(mark(&fleet, "Y"), Some(ListingMark::Removed));
        assert_eq!(mark(&fleet, "X"), None);
        // another account's listing leaves A's rows alone, and B's row is not A's to remove
        assert_eq!(mark(&fleet, "B1"), None);
        assert_eq!(fleet.instances.len(), 4);
        // the next listing: `new` is over, removed stays removed (reported once)
        let out = fleet.apply_listing("A", vec![listed("X", true), listed("Z", true)], t(3));
        assert!(out.removed.is_empty() && out.added.is_empty());
        assert_eq!(mark(&fleet, "Z"), None);
        assert_eq!(mark(&fleet, "Y"), Some(ListingMark::Removed));
        assert_eq!(ListingMark::Removed.word(), "removed from account");
    }

    #[test]
    fn a_failed_listing_keeps_every_row_and_is_cleared_by_the_next() {
        let mut fleet = Fleet::new(t(0));
        fleet.set_accounts(&[("A".into(), true), ("B".into(), true)], &[]);
        fleet.apply_listing("A", vec![listed("X", false)], t(1));
        fleet.listing_failed("A", "HTTP 401: Unauthorized".into());
        assert_eq!(fleet.instances.len(), 1);
        assert_eq!(fleet.counts(), (0, 1, 0));
        assert_eq!(
            fleet.discovery_failures().collect::<Vec<_>>(),
            [("A", "HTTP 401: Unauthorized")]
        );
        assert_eq!(fleet.accounts[0].failures, 1);
        // the next listing is not the first: a new instance is `new`
        fleet.apply_listing("A", vec![listed("X", false), listed("N", true)], t(2));
        assert_eq!(fleet.discovery_failures().count(), 0);
        assert_eq!(
            fleet.instances[1].listing.as_ref().unwrap().mark,
            Some(ListingMark::New)
        );
        assert_eq!(fleet.account_names(), ["A", "B"]);
    }

    #[test]
    fn account_names_count_the_implicit_account_among_named_ones() {
        let mut fleet = Fleet::with_configured(&[(InstanceId::new("old"), None)], t(0));
        assert!(
            fleet.account_names().is_empty(),
            "one implicit account: no names"
        );
        fleet.set_accounts(&[("A".into(), true)], &[]);
        assert_eq!(fleet.account_names(), ["default", "A"]);
        // the census counts each account's rows and the down ones
        let row = fleet.insert(Instance::new(InstanceId::new("a1"), None, false));
        fleet.instances[row].account = Some("A".into());
        let row = fleet.insert(Instance::new(InstanceId::new("b1"), None, false));
        fleet.instances[row].account = Some("B".into());
        fleet.instances[row].state = ConnState::Disconnected;
        assert_eq!(
            fleet.account_census().collect::<Vec<_>>(),
            [("default", 1, 0), ("A", 1, 0), ("B", 1, 1)]
        );
    }

    #[test]
    fn state_and_drift_come_from_the_listing_and_an_unchanged_one_changes_nothing() {
        let mut fleet = Fleet::new(t(0));
        let mut x = listed("X", true);
        x.hooks = Some(Hooks {
            disconnected: Some("https://other.example/d".into()),
            here: false,
            ..Hooks::default()
        });
        fleet.apply_listing("A", vec![x.clone()], t(1));
        assert!(super::super::health::drifted(&fleet.instances[0]));
        let before = fleet.instances[0].clone();
        let out = fleet.apply_listing("A", vec![x.clone()], t(2));
        assert!(out.became.is_empty());
        assert_eq!(fleet.instances[0].last_change, before.last_change);
        assert_eq!(
            fleet.instances[0].status, before.status,
            "no new answer recorded"
        );
        x.connected = Some(false);
        let out = fleet.apply_listing("A", vec![x], t(3));
        assert_eq!(out.became, [(0, ConnState::Disconnected)]);
        assert_eq!(
            out.seen_changes,
            [(0, ConnState::Disconnected)],
            "news: alerts run"
        );
        assert_eq!(fleet.counts(), (0, 1, 0));
    }

    #[test]
    fn due_and_payment_warnings() {
        let listing = |due: Option<i64>, pay: &str| Listing {
            at: t(0),
            due: due.map(t),
            payment_status: Some(pay.into()),
            mark: None,
            named_here: false,
        };
        let day = 86_400;
        assert_eq!(listing(Some(30 * day), "RECEIVED").due_warning(t(0)), None);
        assert_eq!(
            listing(Some(3 * day + 5), "RECEIVED")
                .due_warning(t(0))
                .as_deref(),
            Some("expires in 3 days")
        );
        assert_eq!(
            listing(Some(-1), "RECEIVED").due_warning(t(0)).as_deref(),
            Some("expired")
        );
        assert_eq!(listing(None, "RECEIVED").due_warning(t(0)), None);
        assert_eq!(listing(None, "RECEIVED").unpaid(), None);
        assert_eq!(listing(None, "OVERDUE").unpaid(), Some("OVERDUE"));
    }
}
