//! zapi-dash: a terminal dashboard for Z-API WhatsApp instances.
//!
//! Data flows one way: the webhook listener ([`webhook`]) turns HTTP calls
//! into [`model::Event`]s, the pure [`app::App`] folds every [`app::Msg`] into
//! its state and returns [`app::Command`]s, the event loop ([`tui`]) runs
//! those commands through the Z-API client ([`zapi`]) and draws [`ui::draw`].

pub mod alert;
pub mod api;
pub mod app;
pub mod certs;
pub mod cli;
pub mod completions;
pub mod config;
pub mod exposition;
pub mod fleet;
pub mod hub;
pub mod keys;
pub mod logfile;
pub mod metrics;
pub mod model;
pub mod probe;
pub mod reload;
pub mod remote;
pub mod server;
pub mod service;
pub mod sim;
pub mod store;
pub mod tui;
pub mod ui;
pub mod webhook;
pub mod zapi;

// Old paths of modules moved into the domain core, kept while the other
// branches of the architecture work (#12) merge; the lead removes them.
pub use crate::fleet::{health, poll, stats};
