//! Which columns the instance table shows at a width, and how wide each
//! is: by priority (the state and the name first, the id last) and by
//! what the visible rows hold, so that no column is cut while another has
//! room it does not use.

/// A column of the table, in the order of their priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Col {
    State,
    Name,
    /// The row's warning, else its last error.
    Error,
    /// The row's account (only with more than one).
    Account,
    Webhooks,
    Changed,
    /// Uptime over 24 h.
    Uptime,
    /// Disconnects in 24 h.
    Disconnects,
    /// Last webhook of any type.
    Activity,
    Phone,
    Id,
}

impl Col {
    /// Every column, by priority: when the width runs out, the ones at the
    /// end go first.
    pub const BY_PRIORITY: [Col; 11] = [
        Col::State,
        Col::Name,
        Col::Error,
        Col::Account,
        Col::Webhooks,
        Col::Changed,
        Col::Uptime,
        Col::Disconnects,
        Col::Activity,
        Col::Phone,
        Col::Id,
    ];

    /// Where the column is drawn, left to right.
    pub fn place(self) -> u8 {
        match self {
            Col::Name => 0,
            Col::Account => 1,
            Col::State => 2,
            Col::Uptime => 3,
            Col::Disconnects => 4,
            Col::Error => 5,
            Col::Changed => 6,
            Col::Activity => 7,
            Col::Webhooks => 8,
            Col::Phone => 9,
            Col::Id => 10,
        }
    }

    /// The titles, longest first.
    pub fn titles(self) -> &'static [&'static str] {
        match self {
            Col::Name => &["Name"],
            Col::Account => &["Account", "Acct"],
            Col::State => &["State"],
            Col::Uptime => &["Up 24h", "Up%"],
            Col::Disconnects => &["Dn"],
            Col::Error => &["Problem / last error", "Last error", "Error"],
            Col::Changed => &["Changed"],
            Col::Activity => &["Activity", "Seen"],
            Col::Webhooks => &["Webhooks", "Hooks"],
            Col::Phone => &["Phone"],
            Col::Id => &["Id"],
        }
    }

    /// The longest title that fits `w` columns.
    pub fn title(self, w: u16) -> &'static str {
        let titles = self.titles();
        titles
            .iter()
            .find(|t| super::fitting::width(t) <= usize::from(w))
            .or(titles.last())
            .copied()
            .unwrap_or("")
    }

    /// Columns of text that can shrink by words (and share the room);
    /// the others have fixed forms: shown whole, or not at all.
    fn shrinks(self) -> bool {
        matches!(self, Col::Name | Col::Error | Col::Webhooks | Col::Account)
    }

    /// How wide a column that shrinks is first made before the columns
    /// after it get their turn, and how wide it grows before the phone
    /// and the id get theirs.
    fn shares(self) -> (u16, u16) {
        match self {
            Col::Name => (14, 20),
            Col::Error => (16, 40),
            Col::Webhooks => (12, 24),
            Col::Account => (8, 16),
            _ => (u16::MAX, u16::MAX),
        }
    }

    /// The phone and the id: shown only when the other columns have had
    /// their room.
    fn extra(self) -> bool {
        matches!(self, Col::Phone | Col::Id)
    }
}

/// What the visible rows need of a column: `long` the widest of their long
/// forms, `short` the widest of their short forms (the state's `✗ down`,
/// the date without the year); a column with `short == 0` has nothing to
/// show and is left out (an unused phone or id column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub col: Col,
    pub long: u16,
    pub short: u16,
}

/// Below this, a shrinking column shows too little to be worth its room.
const SHRINK_MIN: u16 = 8;

/// The columns and their widths for `avail` columns of table (inside the
/// borders and the selection marker), in drawing order. One column of
/// space between columns.
///
/// 1. In order of priority, each column but the phone and the id gets its
///    short form (a shrinking column: its first share, at least
///    [`SHRINK_MIN`]); the first that does not fit ends the table there.
/// 2. The state gets its long words; the error, the webhooks and the name
///    grow to their second share.
/// 3. The phone and the id, if they fit whole.
/// 4. The error, the webhooks and the name grow to what their rows hold,
///    then the dates to their long form; what is still left widens the
///    error column (which then cuts nothing).
pub fn allocate(needs: &[Need], avail: u16) -> Vec<(Col, u16)> {
    let mut needs: Vec<Need> = needs.iter().filter(|n| n.short > 0).copied().collect();
    needs.sort_by_key(|n| n.col);
    let mut t = Table {
        cols: Vec::new(),
        left: avail,
    };
    let mut all_in = true;
    for &n in needs.iter().filter(|n| !n.col.extra()) {
        if !t.include(n) {
            all_in = false;
            break;
        }
    }
    t.grow(|c| c == Col::State, |n| n.long, false);
    for col in [Col::Error, Col::Webhooks, Col::Name] {
        t.grow(|c| c == col, |n| n.long.min(n.col.shares().1), true);
    }
    if all_in {
        for &n in needs.iter().filter(|n| n.col.extra()) {
            let title = title_min(n.col);
            t.include_whole(n, n.long.max(title));
        }
    }
    for col in [Col::Error, Col::Webhooks, Col::Name] {
        t.grow(|c| c == col, |n| n.long, true);
    }
    t.grow(|c| !c.shrinks(), |n| n.long, false);
    // whole titles where the rows are narrower than them
    t.grow(|_| true, |n| title_max(n.col), false);
    // what nobody needs: the error column, else the name
    let spare = [Col::Error, Col::Name]
        .iter()
        .find_map(|&c| t.cols.iter().position(|(n, _)| n.col == c));
    if let Some(i) = spare {
        t.cols[i].1 += t.left;
    }
    let mut out: Vec<(Col, u16)> = t.cols.into_iter().map(|(n, w)| (n.col, w)).collect();
    out.sort_by_key(|(c, _)| c.place());
    out
}

/// The widest title of a column.
fn title_max(col: Col) -> u16 {
    u16::try_from(super::fitting::width(col.title(u16::MAX))).unwrap_or(u16::MAX)
}

/// The narrowest title of a column.
fn title_min(col: Col) -> u16 {
    u16::try_from(super::fitting::width(col.title(0))).unwrap_or(u16::MAX)
}

/// The columns chosen so far and the room left.
struct Table {
    cols: Vec<(Need, u16)>,
    left: u16,
}

impl Table {
    /// Takes `w` columns (and a gap before all but the first) if left.
    fn take(&mut self, n: Need, w: u16) -> bool {
        let cost = w.saturating_add(u16::from(!self.cols.is_empty()));
        if cost > self.left {
            return false;
        }
        self.left -= cost;
        self.cols.push((n, w));
        true
    }

    /// A column at its first width, else its least; false if neither fits.
    fn include(&mut self, n: Need) -> bool {
        let title = title_min(n.col);
        if n.col.shrinks() {
            let first = n.short.min(n.col.shares().0).max(title);
            self.take(n, first) || self.take(n, first.min(SHRINK_MIN.max(title)))
        } else {
            self.take(n, n.short.max(title))
        }
    }

    /// A column at exactly `w`, if it fits.
    fn include_whole(&mut self, n: Need, w: u16) -> bool {
        self.take(n, w)
    }

    /// Grows the columns `which` towards `to`: by what is left (`partly`),
    /// or only if all of it is left (fixed forms).
    fn grow(&mut self, which: impl Fn(Col) -> bool, to: impl Fn(&Need) -> u16, partly: bool) {
        for (n, w) in &mut self.cols {
            if !which(n.col) {
                continue;
            }
            let more = to(n).saturating_sub(*w);
            if more <= self.left {
                *w += more;
                self.left -= more;
            } else if partly {
                *w += self.left;
                self.left = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(col: Col, long: u16, short: u16) -> Need {
        Need { col, long, short }
    }

    /// What a typical fleet's rows need.
    fn needs() -> Vec<Need> {
        vec![
            need(Col::Name, 32, 32),
            need(Col::State, 14, 9),
            need(Col::Uptime, 5, 5),
            need(Col::Disconnects, 1, 1),
            need(Col::Error, 65, 40),
            need(Col::Changed, 28, 14),
            need(Col::Activity, 6, 6),
            need(Col::Webhooks, 36, 36),
            need(Col::Phone, 13, 13),
            need(Col::Id, 32, 32),
        ]
    }

    fn total(cols: &[(Col, u16)]) -> u16 {
        cols.iter().map(|(_, w)| w).sum::<u16>() + cols.len().saturating_sub(1) as u16
    }

    fn has(cols: &[(Col, u16)], c: Col) -> Option<u16> {
        cols.iter().find(|(x, _)| *x == c).map(|(_, w)| *w)
    }

    #[test]
    fn every_width_fits_and_the_state_is_never_cut() {
        for avail in 0..400 {
            let cols = allocate(&needs(), avail);
            assert!(total(&cols) <= avail, "{avail}: {cols:?}");
            if avail >= 9 {
                assert!(has(&cols, Col::State).unwrap() >= 9, "{avail}");
            }
        }
    }

    #[test]
    fn narrow_keeps_state_name_and_error_and_drops_the_rest_by_priority() {
        let cols = allocate(&needs(), 36);
        let shown: Vec<Col> = cols.iter().map(|(c, _)| *c).collect();
        assert_eq!(shown, vec![Col::Name, Col::State, Col::Error]);
        let cols = allocate(&needs(), 76);
        assert!(has(&cols, Col::Changed).is_some(), "{cols:?}");
        assert!(has(&cols, Col::Id).is_none(), "{cols:?}");
    }

    #[test]
    fn wide_shows_phone_and_id_and_leaves_no_column_cut_beside_spare_room() {
        let cols = allocate(&needs(), 196);
        assert_eq!(has(&cols, Col::Phone), Some(13), "{cols:?}");
        assert_eq!(has(&cols, Col::Id), Some(32), "{cols:?}");
        assert_eq!(has(&cols, Col::State), Some(14), "the long state words");
        assert_eq!(total(&cols), 196);
        // so wide that everything fits: every column has its long form
        let cols = allocate(&needs(), 400);
        for n in needs() {
            assert!(has(&cols, n.col).unwrap() >= n.long, "{:?}", n.col);
        }
    }

    #[test]
    fn an_empty_column_takes_no_room() {
        let mut n = needs();
        for x in &mut n {
            if x.col == Col::Phone {
                x.short = 0;
                x.long = 0;
            }
        }
        let cols = allocate(&n, 196);
        assert!(has(&cols, Col::Phone).is_none());
    }

    #[test]
    fn titles_shrink_to_fit() {
        assert_eq!(Col::Error.title(30), "Problem / last error");
        assert_eq!(Col::Error.title(12), "Last error");
        assert_eq!(Col::Error.title(8), "Error");
        assert_eq!(Col::Uptime.title(4), "Up%");
    }
}
