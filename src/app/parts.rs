//! The groups App's state is made of, beside the fleet and the table
//! view: the overlays, the operations in flight, the switches.

use super::*;

/// What is drawn over the table, each closed when `None`/`false`.
#[derive(Debug, Clone, Default)]
pub struct Overlays {
    pub show_help: bool,
    /// First line of the help shown (a short terminal scrolls it).
    pub help_scroll: u16,
    /// The detail pane, when open.
    pub detail: Option<Detail>,
    /// A restart or restore waiting for `y`.
    pub confirm: Option<Confirm>,
    /// Registrations that would replace another system's webhooks, waiting
    /// for `y` (all), `n` (the others) or `Esc` (none).
    pub replace: Option<ReplaceConfirm>,
    /// The Connect popup (`c`): its QR code or pairing code.
    pub connect: Option<Connect>,
}

/// Calls in flight, their progress, and what the footer and header say.
#[derive(Debug, Clone)]
pub struct Ops {
    pub notice: Option<Notice>,
    pub register_batch: Option<Batch>,
    pub status_batch: Option<Batch>,
    /// The start warnings were acknowledged (a key was pressed).
    pub warnings_seen: bool,
    /// A warning the header keeps showing (not acknowledged by a key), e.g.
    /// a plain-http `public_url`.
    pub header_warning: Option<String>,
    pub(crate) poll: Option<PollSchedule>,
}

impl Ops {
    /// Nothing in flight; no start warning left to acknowledge.
    pub fn new() -> Ops {
        Ops {
            notice: None,
            register_batch: None,
            status_batch: None,
            warnings_seen: true,
            header_warning: None,
            poll: None,
        }
    }
}

impl Default for Ops {
    fn default() -> Self {
        Ops::new()
    }
}

/// What the operator turns on and off.
#[derive(Debug, Clone, Copy)]
pub struct Switches {
    /// Ring the bell on a new outage (`b` toggles).
    pub bell: bool,
    /// Mouse capture on (`m` toggles; off lets the terminal select text).
    pub mouse: bool,
}

impl Switches {
    /// Both on (the config may turn the bell off).
    pub fn new() -> Switches {
        Switches {
            bell: true,
            mouse: true,
        }
    }
}

impl Default for Switches {
    fn default() -> Self {
        Switches::new()
    }
}
