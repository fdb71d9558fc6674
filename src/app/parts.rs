//! The groups App's state is made of, beside the fleet and the table
//! view: the overlays, the operations in flight, the switches.

use super::outcomes::Outcomes;
use super::zapi_link::ZapiLink;
use super::*;

/// What an `R` (or marked `r`) did beyond its answers: rows it left alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegisterNotes {
    pub outcomes: Outcomes,
    /// Rows left pointing at another system (`n` in the replace popup).
    pub left_foreign: usize,
    /// Rows not sent because their webhooks already point here.
    pub already_here: usize,
    /// The rows were marked (else `R` took the drifted ones).
    pub marked: bool,
}

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
    /// The message log (`l`), when open.
    pub messages: Option<MessageView>,
    /// The Connect popup (`c`): its QR code or pairing code.
    pub connect: Option<Connect>,
    /// The relay's target list (`F`), when open.
    pub relay: Option<super::RelayList>,
    /// `u` in the detail: the instance whose adopted forward targets go
    /// at `y`, and those targets (name, URL masked).
    pub unadopt: Option<(crate::model::InstanceId, Vec<(String, String)>)>,
}

/// Calls in flight, their progress, and what the footer and header say.
#[derive(Debug, Clone)]
pub struct Ops {
    /// The relay's targets as its tasks last reported (none: no relay).
    pub relay: Vec<crate::relay::TargetStatus>,
    /// The result of the operator's own last action: background results
    /// never overwrite it.
    pub notice: Option<Notice>,
    /// The newest background notice: the poller's summary, an alert
    /// command, the event log.
    pub background: Option<Notice>,
    /// Every notice of either kind, newest last (`l`).
    pub messages: MessageLog,
    /// How Z-API answers, from all calls together (the header).
    pub zapi: ZapiLink,
    pub register_batch: Option<Batch>,
    /// What the running (or last) registration batch did and did not do.
    pub register_notes: RegisterNotes,
    pub status_batch: Option<Batch>,
    /// The status batch's answers; it was the operator's `s` (else the start's).
    pub status_outcomes: (Outcomes, bool),
    /// The poller's answers since its last summary, and that summary.
    pub poll_round: (Outcomes, Option<String>),
    /// A restart or restore of several rows, and its answers so far.
    pub action_batch: Option<(InstanceAction, Batch, Outcomes)>,
    /// The start warnings were acknowledged (a key was pressed).
    pub warnings_seen: bool,
    /// A warning the header keeps showing (not acknowledged by a key), e.g.
    /// a plain-http `public_url`.
    pub header_warning: Option<String>,
    /// `watch`: the server's lasting trouble and since when (the header).
    pub server_problem: Option<(chrono::DateTime<chrono::Utc>, String)>,
    pub(crate) poll: Option<PollSchedule>,
    /// The last message changed nothing on screen (a poll's answer that
    /// repeats what the row shows): the loop need not draw for it. Read
    /// and cleared with [`crate::app::App::take_quiet`].
    pub(crate) quiet: bool,
    /// The clock of the last screen drawn (as [`crate::app::App::take_quiet`]
    /// said: a frame follows every message that is not quiet): its ages
    /// are what the terminal shows ([`crate::app::App::clock_on_screen`]).
    pub(crate) shown_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Ops {
    /// Nothing in flight; no start warning left to acknowledge.
    pub fn new() -> Ops {
        Ops {
            relay: Vec::new(),
            notice: None,
            background: None,
            messages: MessageLog::default(),
            zapi: ZapiLink::default(),
            register_batch: None,
            register_notes: RegisterNotes::default(),
            status_batch: None,
            status_outcomes: (Outcomes::default(), false),
            poll_round: (Outcomes::default(), None),
            action_batch: None,
            warnings_seen: true,
            server_problem: None,
            header_warning: None,
            poll: None,
            quiet: false,
            shown_at: None,
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
