//! zapi-dash: a terminal dashboard for Z-API WhatsApp instances.
//!
//! Data flows one way: the webhook listener ([`listener`]) turns HTTP calls
//! into [`model::Event`]s, the pure [`app::App`] folds every [`app::Msg`] into
//! its state and returns [`app::Command`]s, the event loop ([`tui`]) runs
//! those commands through the Z-API client ([`zapi`]) and draws [`ui::draw`].

pub mod alert;
pub mod app;
pub mod cli;
pub mod completions;
pub mod config;
mod fixtures;
pub mod fleet;
pub mod http_retry;
pub mod hub;
pub mod keys;
pub mod listener;
pub mod logfile;
pub mod mask;
pub mod model;
pub mod probe;
pub mod reload;
pub mod remote;
pub mod runner;
pub mod serve;
pub mod signals;
pub mod sim;
pub mod store;
pub mod tui;
pub mod ui;
pub mod zapi;

// Old paths of what moved into `listener`, kept while the other branches
// merge; the lead removes them.
pub use crate::listener::server;
/// Old path of [`listener::Listener`] and its options.
pub mod service {
    pub use crate::listener::{
        EVENT_CHANNEL, Listener as Service, ListenerError as ServiceError,
        ListenerOptions as ServiceOptions,
    };
}
/// Old path of the listener's routes, secret paths and parser.
pub mod webhook {
    pub use crate::listener::parse::*;
    pub use crate::listener::routes::*;
    pub use crate::listener::secret::*;
    pub use crate::listener::token_header::*;
}
// moved into serve/; kept at their old paths while the other branches merge
pub use crate::fleet::{health, poll, stats};
pub use serve::{api, exposition, metrics};
