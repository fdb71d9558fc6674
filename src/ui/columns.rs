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
    pub const BY_PRIORITY: [Col; 10] = [
        Col::State,
        Col::Name,
        Col::Error,
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
            Col::State => 1,
            Col::Uptime => 2,
            Col::Disconnects => 3,
            Col::Error => 4,
            Col::Changed => 5,
            Col::Activity => 6,
            Col::Webhooks => 7,
            Col::Phone => 8,
            Col::Id => 9,
        }
    }

    /// The titles, longest first.
    pub fn titles(self) -> &'static [&'static str] {
        match self {
            Col::Name => &["Name"],
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
        matches!(self, Col::Name | Col::Error | Col::Webhooks)
    }

    /// How wide a column that shrinks is first made before the columns
    /// after it get their turn.
    fn first_share(self) -> u16 {
        match self {
            Col::Name => 14,
            Col::Error => 16,
            Col::Webhooks => 12,
            _ => u16::MAX,
        }
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
/// In order of priority, each column is given its short form (a shrinking
/// column: up to its first share, at least [`SHRINK_MIN`]); the first that
/// does not fit ends the table there. What is left grows the columns, in
/// order of priority, to their long forms, and what is still left widens
/// the error column (which then never cuts anything).
pub fn allocate(needs: &[Need], avail: u16) -> Vec<(Col, u16)> {
    let mut needs: Vec<Need> = needs.to_vec();
    needs.sort_by_key(|n| n.col);
    let mut cols: Vec<(Need, u16)> = Vec::new();
    let mut used: u16 = 0;
    for n in needs.into_iter().filter(|n| n.short > 0) {
        let title_min = super::fitting::width(n.col.title(0)) as u16;
        let gap = u16::from(!cols.is_empty());
        let (first, least) = if n.col.shrinks() {
            let first = n.short.min(n.col.first_share()).max(title_min);
            (first, first.min(SHRINK_MIN.max(title_min)))
        } else {
            let w = n.short.max(title_min);
            (w, w)
        };
        if used + gap + first <= avail {
            used += gap + first;
            cols.push((n, first));
        } else if used + gap + least <= avail {
            used += gap + least;
            cols.push((n, least));
        } else {
            break;
        }
    }
    let mut left = avail.saturating_sub(used);
    // then the long forms, by priority; the error before the name (a
    // name cut short is still told apart, an error often is not)
    let mut growing: Vec<&mut (Need, u16)> = cols.iter_mut().collect();
    growing.sort_by_key(|(n, _)| match n.col {
        Col::Error => (Col::Name, 0),
        Col::Name => (Col::Name, 1),
        c => (c, 0),
    });
    for (n, w) in growing {
        let want = n.long.max(n.short);
        if *w >= want {
            continue;
        }
        if n.col.shrinks() {
            let more = (want - *w).min(left);
            *w += more;
            left -= more;
        } else if want - *w <= left {
            left -= want - *w;
            *w = want;
        }
    }
    // what nobody needs: the error column, else the name
    let spare = cols
        .iter()
        .position(|(n, _)| n.col == Col::Error)
        .or_else(|| cols.iter().position(|(n, _)| n.col == Col::Name));
    if let Some(i) = spare {
        cols[i].1 += left;
    }
    let mut out: Vec<(Col, u16)> = cols.into_iter().map(|(n, w)| (n.col, w)).collect();
    out.sort_by_key(|(c, _)| c.place());
    out
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
