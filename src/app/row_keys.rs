//! Keys that act on rows without calling Z-API: marking every row shown,
//! clearing the marks, copying an id, acknowledging a known-dead number.

use super::*;

impl App {
    /// `A`: marks every row the table shows (after the filters).
    pub(super) fn mark_all(&mut self) {
        let shown: Vec<InstanceId> = self
            .view
            .order
            .iter()
            .map(|&i| self.fleet.instances[i].id.clone())
            .collect();
        if shown.is_empty() {
            self.notify(Level::Info, "no instance shown: nothing to mark");
            return;
        }
        let n = shown.len();
        self.view.marked.extend(shown);
        let total = self.view.marked.len();
        let text = if total == n {
            format!("marked {}", crate::words::count(n, "instance"))
        } else {
            format!(
                "marked {} shown ({} marked in all)",
                crate::words::count(n, "instance"),
                total
            )
        };
        self.notify(Level::Info, text);
    }

    /// `U` (and `Esc` with no filter): clears the marks.
    pub(super) fn clear_marks(&mut self) {
        let n = self.view.marked.len();
        self.view.marked.clear();
        let text = if n == 0 {
            "no marks to clear".to_string()
        } else {
            format!(
                "cleared the marks of {}",
                crate::words::count(n, "instance")
            )
        };
        self.notify(Level::Info, text);
    }

    /// The instance a key about one row is for: the detail's, else the
    /// selected one.
    fn row_in_view(&self) -> Option<&Instance> {
        match &self.overlays.detail {
            Some(d) => self.get(&d.id),
            None => self.selected_instance(),
        }
    }

    /// `Y`: puts the instance's id on the terminal's clipboard (OSC 52).
    pub(super) fn copy_id(&mut self) -> Vec<Command> {
        let Some(id) = self.row_in_view().map(|i| i.id.to_string()) else {
            self.notify(Level::Info, "no instance selected");
            return Vec::new();
        };
        self.notify(
            Level::Ok,
            format!("copied id {} (the terminal must allow OSC 52)", id),
        );
        vec![Command::Clipboard(id)]
    }

    /// `a`: acknowledges that a down number is known to be down (no bell,
    /// out of the problems until it connects or disconnects again), or
    /// withdraws the acknowledgement. Stored in the event log.
    pub(super) fn toggle_ack(&mut self) -> Vec<Command> {
        let Some(inst) = self.row_in_view() else {
            self.notify(Level::Info, "no instance selected");
            return Vec::new();
        };
        let (id, label) = (inst.id.clone(), inst.label().to_string());
        let acked = !health::acked(inst);
        if acked && inst.state != ConnState::Disconnected {
            self.notify(
                Level::Info,
                format!("{label} is not down: only a disconnected number can be acknowledged"),
            );
            return Vec::new();
        }
        let now = self.now;
        self.fleet.apply_ack(&id, acked, now);
        self.view.dirty = true;
        let text = if acked {
            format!(
                "acked {label}: no bell, not counted as a problem until it connects or drops again"
            )
        } else {
            format!("{label} is no longer acked: it counts as a problem again")
        };
        self.notify(Level::Ok, text);
        vec![Command::RecordAck { id, acked, at: now }]
    }
}
