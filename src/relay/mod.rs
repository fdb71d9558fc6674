//! The relay: every webhook the log holds, delivered onward to the
//! operator's own systems (`[[forward]]`), durably, in order per instance.

pub mod sign;
pub mod target;

pub use target::{ForwardTarget, Types};
