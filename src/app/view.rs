//! The table view: the order of rows (sort, filter, search), the selection
//! and the scroll; the order held while the operator moves or marks.

use super::*;

/// While the operator moved or marked within this, rows are not re-sorted
/// under the cursor: the new order waits for the first tick after it.
pub const HOLD_ORDER: chrono::Duration = chrono::Duration::seconds(2);

/// The table's view of the fleet: which rows, in what order, which one is
/// selected and where the window is scrolled to. Indexes into the fleet,
/// never copies of its rows.
#[derive(Debug, Clone)]
pub struct TableView {
    /// Display order: indexes into `instances`.
    pub order: Vec<usize>,
    /// Position in `order` of the selected row.
    pub selected: usize,
    /// First visible position in `order`.
    pub offset: usize,
    /// How the table is sorted.
    pub sort: SortKey,
    /// Which states the table shows.
    pub state_filter: StateFilter,
    /// The `/` filter: rows whose name, id, error or note contain it.
    pub search: String,
    /// Typing into the `/` filter.
    pub searching: bool,
    /// The filter a new `/` replaced, named in the prompt while typing.
    pub replaced_search: String,
    /// Rows marked with Space, for `R`, `x` and `e`.
    pub marked: HashSet<InstanceId>,
    /// Problems (rank ≥ 2) in the fleet, as of the last view refresh.
    pub problems: usize,
    /// `order` needs to be rebuilt (a state, the sort or a filter changed).
    pub(crate) dirty: bool,
    /// When the operator last moved, marked or clicked in the table.
    pub(crate) last_input: Option<DateTime<Utc>>,
    /// A new order is waiting for the operator to pause ([`HOLD_ORDER`]);
    /// the table's title says so.
    pub held: bool,
    /// The operator has moved the selection: it follows its instance when
    /// rows re-sort. Until then it stays on the top row, so a fleet whose
    /// rows move while they start up never opens scrolled down.
    pub(crate) chosen: bool,
    pub(crate) last_click: Option<(DateTime<Utc>, usize)>,
}

impl TableView {
    /// Nothing shown yet, to be refreshed before the first frame.
    pub fn new() -> TableView {
        TableView {
            order: Vec::new(),
            selected: 0,
            offset: 0,
            sort: SortKey::default(),
            state_filter: StateFilter::default(),
            search: String::new(),
            searching: false,
            replaced_search: String::new(),
            marked: HashSet::new(),
            problems: 0,
            dirty: true,
            last_input: None,
            held: false,
            chosen: false,
            last_click: None,
        }
    }
}

impl Default for TableView {
    fn default() -> Self {
        TableView::new()
    }
}

impl App {
    /// Rebuilds the display order before a frame, if anything changed
    /// since the last one. The loop calls it; the view only reads.
    pub fn prepare(&mut self) {
        self.refresh_if_dirty();
    }

    /// Rebuilds the order if something changed, unless the operator is
    /// moving or marking ([`HOLD_ORDER`]): then the rows stay where they
    /// are (only the problems count follows) and the order is held.
    pub(super) fn refresh_if_dirty(&mut self) {
        if !self.view.dirty {
            return;
        }
        if self.order_held() {
            self.view.held = true;
            self.view.problems = self.count_problems();
            return;
        }
        self.refresh_view();
    }

    /// The operator moved or marked within [`HOLD_ORDER`] of now.
    pub(super) fn order_held(&self) -> bool {
        self.view
            .last_input
            .is_some_and(|at| self.now.signed_duration_since(at) < HOLD_ORDER)
    }

    /// The operator moved, marked or clicked now: hold the order.
    pub(super) fn note_input(&mut self) {
        self.view.last_input = Some(self.now);
    }

    /// Problems (rank ≥ 2) in the fleet now.
    fn count_problems(&self) -> usize {
        let rules = self.settings.rules;
        self.fleet
            .instances
            .iter()
            .filter(|inst| health::rank(inst, &rules, self.now) >= 2)
            .count()
    }

    /// The display order: the filter, then the sort, as indexes into
    /// `instances`; the selection stays on the same instance.
    pub(super) fn refresh_view(&mut self) {
        self.view.dirty = false;
        self.view.held = false;
        if self.fleet.stats_unsettled {
            self.fleet.stats_unsettled = false;
            for inst in &mut self.fleet.instances {
                inst.transitions.settle();
            }
        }
        let selected = self.view.order.get(self.view.selected).copied();
        let now = self.now;
        let rules = self.settings.rules;
        let needle = self.view.search.to_lowercase();
        let mut problems = 0;
        let account = match self.view.state_filter {
            StateFilter::Account(i) => self.fleet.account_names().get(i).cloned(),
            _ => None,
        };
        let mut keyed: Vec<(i64, usize)> = Vec::with_capacity(self.fleet.instances.len());
        for (i, inst) in self.fleet.instances.iter().enumerate() {
            let rank = health::rank(inst, &rules, now);
            if rank >= 2 {
                problems += 1;
            }
            let shown = match self.view.state_filter {
                StateFilter::All => true,
                StateFilter::Down => inst.state == ConnState::Disconnected,
                StateFilter::Up => inst.state == ConnState::Connected,
                StateFilter::Drifted => health::drifted(inst),
                StateFilter::Account(_) => account.as_deref() == Some(account_of(inst)),
            };
            if !shown || (!needle.is_empty() && !matches_search(inst, &needle, &rules, now)) {
                continue;
            }
            let key = match self.view.sort {
                SortKey::Problems => -i64::from(rank),
                SortKey::Name | SortKey::LastChange => 0,
                SortKey::Disconnects => {
                    -i64::try_from(inst.transitions.disconnects_day(now)).unwrap_or(i64::MAX)
                }
            };
            keyed.push((key, i));
        }
        match self.view.sort {
            SortKey::Name => keyed
                .sort_by_cached_key(|&(_, i)| (self.fleet.instances[i].label().to_lowercase(), i)),
            SortKey::LastChange => keyed
                .sort_by_key(|&(_, i)| (std::cmp::Reverse(self.fleet.instances[i].last_change), i)),
            _ => keyed.sort_unstable(),
        }
        self.view.problems = problems;
        self.view.order.clear();
        self.view.order.extend(keyed.into_iter().map(|(_, i)| i));
        let pos = match self.view.chosen {
            true => selected.and_then(|s| self.view.order.iter().position(|&i| i == s)),
            false => Some(0),
        };
        self.place(pos.unwrap_or(self.view.selected));
    }

    /// The operator selects the row at `pos` (clamped): from now on the
    /// selection follows its instance.
    pub(super) fn select(&mut self, pos: usize) {
        self.view.chosen = true;
        self.place(pos);
    }

    /// Puts the selection at `pos` (clamped) and scrolls to it.
    pub(super) fn place(&mut self, pos: usize) {
        self.view.selected = pos.min(self.view.order.len().saturating_sub(1));
        self.scroll_to_selected();
    }

    pub(super) fn scroll_to_selected(&mut self) {
        let rows = self.page_rows().max(1);
        if self.view.selected < self.view.offset {
            self.view.offset = self.view.selected;
        } else if self.view.selected >= self.view.offset + rows {
            self.view.offset = self.view.selected + 1 - rows;
        }
        let max_offset = self.view.order.len().saturating_sub(rows);
        self.view.offset = self.view.offset.min(max_offset);
    }
}

/// The name of the account of a row (the implicit account's for none).
pub fn account_of(inst: &Instance) -> &str {
    inst.account
        .as_deref()
        .unwrap_or(crate::fleet::discovery::IMPLICIT_ACCOUNT)
}

/// Whether a row matches the `/` filter (`needle` is lowercase): its name,
/// id, account, last error or warning contain it.
pub(super) fn matches_search(
    inst: &Instance,
    needle: &str,
    rules: &Rules,
    now: DateTime<Utc>,
) -> bool {
    let has = |s: &str| s.to_lowercase().contains(needle);
    has(inst.label())
        || has(inst.id.as_str())
        || inst.account.as_deref().is_some_and(has)
        || inst.last_error.as_deref().is_some_and(has)
        || health::note(inst, rules, now).is_some_and(|n| has(&n))
}
