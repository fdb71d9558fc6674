//! The table view: the order of rows (sort, filter, search), the selection
//! and the scroll.

use super::*;

impl App {
    /// Rebuilds the display order before a frame, if anything changed
    /// since the last one. The loop calls it; the view only reads.
    pub fn prepare(&mut self) {
        self.refresh_if_dirty();
    }

    pub(super) fn refresh_if_dirty(&mut self) {
        if self.view_dirty {
            self.refresh_view();
        }
    }

    /// The display order: the filter, then the sort, as indexes into
    /// `instances`; the selection stays on the same instance.
    pub(super) fn refresh_view(&mut self) {
        self.view_dirty = false;
        if self.fleet.stats_unsettled {
            self.fleet.stats_unsettled = false;
            for inst in &mut self.fleet.instances {
                inst.transitions.settle();
            }
        }
        let selected = self.order.get(self.selected).copied();
        let now = self.now;
        let rules = self.settings.rules;
        let needle = self.search.to_lowercase();
        let day_ago = now - chrono::Duration::hours(24);
        let mut problems = 0;
        let mut keyed: Vec<(i64, usize)> = Vec::with_capacity(self.fleet.instances.len());
        for (i, inst) in self.fleet.instances.iter().enumerate() {
            let rank = health::rank(inst, &rules, now);
            if rank >= 2 {
                problems += 1;
            }
            let shown = match self.state_filter {
                StateFilter::All => true,
                StateFilter::Down => inst.state == ConnState::Disconnected,
                StateFilter::Up => inst.state == ConnState::Connected,
                StateFilter::Drifted => health::drifted(inst),
            };
            if !shown || (!needle.is_empty() && !matches_search(inst, &needle, &rules, now)) {
                continue;
            }
            let key = match self.sort {
                SortKey::Problems => -i64::from(rank),
                SortKey::Name | SortKey::LastChange => 0,
                SortKey::Disconnects => {
                    -i64::try_from(inst.transitions.disconnects(day_ago, now)).unwrap_or(i64::MAX)
                }
            };
            keyed.push((key, i));
        }
        match self.sort {
            SortKey::Name => keyed
                .sort_by_cached_key(|&(_, i)| (self.fleet.instances[i].label().to_lowercase(), i)),
            SortKey::LastChange => keyed
                .sort_by_key(|&(_, i)| (std::cmp::Reverse(self.fleet.instances[i].last_change), i)),
            _ => keyed.sort_unstable(),
        }
        self.problems = problems;
        self.order.clear();
        self.order.extend(keyed.into_iter().map(|(_, i)| i));
        let pos = selected.and_then(|s| self.order.iter().position(|&i| i == s));
        self.select(pos.unwrap_or(self.selected));
    }

    pub(super) fn select(&mut self, pos: usize) {
        self.selected = pos.min(self.order.len().saturating_sub(1));
        self.scroll_to_selected();
    }

    pub(super) fn scroll_to_selected(&mut self) {
        let rows = self.page_rows().max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        let max_offset = self.order.len().saturating_sub(rows);
        self.offset = self.offset.min(max_offset);
    }
}

/// Whether a row matches the `/` filter (`needle` is lowercase): its name,
/// id, last error or warning contain it.
pub(super) fn matches_search(
    inst: &Instance,
    needle: &str,
    rules: &Rules,
    now: DateTime<Utc>,
) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    has(inst.label())
        || has(inst.id.as_str())
        || inst.last_error.as_deref().is_some_and(has)
        || health::note(inst, rules, now).is_some_and(|n| has(&n))
}
