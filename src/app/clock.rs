//! What the clock changes: whether a tick can move the rows' order or
//! the problems count, and whether anything on screen reads the clock (a
//! tick that changes nothing draws no frame).

use chrono::{DateTime, Utc};

use super::{App, SortKey, zapi_link};
use crate::fleet::health::{self, Warning};
use crate::fleet::{Instance, stats};
use crate::words::age;

impl App {
    /// Whether the clock alone can change the order or the problems count:
    /// a down row may become an outage (until it is one), a silent one a
    /// problem, and the
    /// disconnects of 24 h slide. A fleet all up (or unknown), sorted by
    /// problems, name or last change, with no `silence_alert`, need not be
    /// sorted again each second (10,000 rows cost 0.3 % of a core idle).
    pub(super) fn ranks_move_with_time(&self) -> bool {
        let (_, down, _) = self.fleet.counts();
        let rules = &self.settings.rules;
        // only a down row that is not an outage yet can change rank: one
        // scan, cheaper than sorting 10,000 rows every second
        (down > 0
            && self
                .fleet
                .instances
                .iter()
                .any(|i| health::outage_pending(i, rules, self.now)))
            || rules.silence_alert.is_some()
            || self.view.sort == SortKey::Disconnects
    }

    /// Whether anything on screen now reads the clock, so that a tick
    /// changes it: an overlay (ages, countdowns), the footer's notice
    /// switching (the operator's own gives way after a while), a held order, `watch`'s link, a Z-API
    /// link in trouble, or a visible row whose age or warning (silence
    /// grows) reads otherwise than on the screen last drawn, or that will turn
    /// into an outage. The header's sparkline, the day in `Changed` and
    /// the uptime move by the minute at most (the caller draws then).
    pub(super) fn clock_on_screen(&self) -> bool {
        let o = &self.overlays;
        let overlay = o.show_help
            || o.detail.is_some()
            || o.confirm.is_some()
            || o.replace.is_some()
            || o.messages.is_some()
            || o.connect.is_some()
            || o.relay.is_some();

        let link_trouble = !matches!(
            self.ops.zapi.state(),
            zapi_link::LinkState::Ok | zapi_link::LinkState::Unknown
        );
        if overlay || self.view.held || self.link.is_some() || link_trouble || self.view.searching {
            return true;
        }
        // the screen last drawn shows the same unless the clock moved a
        // visible row's words since ("3m ago" → "4m ago")
        let Some(then) = self.ops.shown_at else {
            return true;
        };
        let now = self.now;
        // the footer's notice: the operator's own gives way to a newer
        // background one after a while
        let footer = |at| {
            self.footer_notice_at(at)
                .map(|f| (f.notice.seq, f.background))
        };
        if footer(then) != footer(now) {
            return true;
        }
        let rules = &self.settings.rules;
        let moved = |t: Option<DateTime<Utc>>| t.is_some_and(|t| age(then, t) != age(now, t));
        // the 24 h uptime and disconnects slide
        let day = |at: DateTime<Utc>, inst: &Instance| {
            (
                stats::percent(inst.transitions.uptime_day(at)),
                inst.transitions.disconnects_day(at),
            )
        };
        let first = self.view.offset;
        let last = (first + self.page_rows()).min(self.view.order.len());
        self.view.order[first.min(last)..last].iter().any(|&i| {
            let inst = &self.fleet.instances[i];
            health::outage_pending(inst, rules, now)
                || moved(inst.last_change)
                || moved(inst.last_activity)
                || health::warning(inst, rules, then).map(Warning::long)
                    != health::warning(inst, rules, now).map(Warning::long)
                || day(then, inst) != day(now, inst)
        })
    }
}
