//! What an account's partner listing does on the screen: the rows (through
//! the fleet), a word in the footer when instances came or went, and a
//! failure said in the footer and kept in the header until a listing works.

use super::events::seen_alert;
use super::*;
use crate::words::count;

impl App {
    /// An account's listing; the alert commands for the changes it saw.
    pub(super) fn on_discovered(
        &mut self,
        account: &str,
        result: Result<Vec<ListedInstance>, String>,
    ) -> Vec<Command> {
        self.view.dirty = true;
        let listed = match result {
            Ok(listed) => listed,
            Err(error) => {
                self.notify_background(
                    Level::Error,
                    format!("discovery failed for {account}: {error}"),
                );
                self.fleet.listing_failed(account, error);
                return Vec::new();
            }
        };
        let first = self
            .fleet
            .accounts
            .iter()
            .find(|a| a.name == account)
            .is_none_or(|a| a.listed.is_none());
        let total = listed.len();
        let applied = self.fleet.apply_listing(account, listed, self.now);
        // shown at once; sorted and filtered at the next view refresh
        self.view.order.extend(applied.added.iter().copied());
        let alerts = applied.seen_changes.iter().filter_map(|&(row, state)| {
            seen_alert(
                self.settings.alerts,
                &self.fleet.instances[row],
                state,
                self.now,
            )
        });
        let cmds = alerts.collect();
        let text = if first {
            format!("{account}: {} discovered", count(total, "instance"))
        } else if applied.added.is_empty() && applied.removed.is_empty() {
            return cmds;
        } else {
            let mut parts = Vec::new();
            if !applied.added.is_empty() {
                parts.push(format!("{} new", count(applied.added.len(), "instance")));
            }
            if !applied.removed.is_empty() {
                parts.push(format!(
                    "{} removed from account",
                    count(applied.removed.len(), "instance")
                ));
            }
            format!("{account}: {}", parts.join(", "))
        };
        self.notify_background(Level::Info, text);
        cmds
    }
}
