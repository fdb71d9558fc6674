//! zapi-dash: a terminal dashboard for Z-API WhatsApp instances.
//!
//! Data flows one way: the webhook listener ([`listener`]) turns HTTP calls
//! into [`model::Event`]s, the pure [`app::App`] folds every [`app::Msg`] into
//! its state and returns [`app::Command`]s, the event loop ([`tui`]) runs
//! those commands through the Z-API client ([`zapi`]) and draws [`ui::draw`].

pub mod alert;
pub mod app;
pub mod cli;
pub mod cluster;
pub mod completions;
pub mod config;
pub mod discovery;
mod fixtures;
pub mod fleet;
pub mod http_retry;
pub mod keys;
pub mod listener;
pub mod logfile;
pub mod mask;
pub mod metrics;
pub mod model;
pub mod panics;
pub mod probe;
pub mod qr;
pub mod relay;
pub mod reload;
pub mod remote;
pub mod report;
pub mod runner;
pub mod serve;
pub mod signals;
pub mod sim;
pub mod store;
pub mod tui;
pub mod ui;
pub mod words;
pub mod zapi;
