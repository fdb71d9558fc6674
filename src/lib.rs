//! zapi-dash: a terminal dashboard for Z-API WhatsApp instances.
//!
//! Data flows one way: the webhook listener ([`webhook`]) turns HTTP calls
//! into [`model::Event`]s, the pure [`app::App`] folds every [`app::Msg`] into
//! its state and returns [`app::Command`]s, the event loop ([`tui`]) runs
//! those commands through the Z-API client ([`zapi`]) and draws [`ui::draw`].

pub mod alert;
pub mod app;
pub mod certs;
pub mod cli;
pub mod completions;
pub mod config;
pub mod health;
pub mod http_retry;
pub mod hub;
pub mod keys;
pub mod logfile;
pub mod model;
pub mod poll;
pub mod probe;
pub mod reload;
pub mod remote;
pub mod runner;
pub mod serve;
pub mod server;
pub mod service;
pub mod signals;
pub mod sim;
pub mod stats;
pub mod store;
pub mod tui;
pub mod ui;
pub mod webhook;
pub mod zapi;

// moved into serve/; kept at their old paths while the other branches merge
pub use serve::{api, exposition, metrics};
