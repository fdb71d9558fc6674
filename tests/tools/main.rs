//! Real processes beyond the crate: the tools operators run against what
//! the project ships (caddy, promtool, bash/zsh/fish, systemd-analyze),
//! alert commands run as real processes, and `serve` replicas on real
//! `nats-server` processes (`cluster`).
//!
//! `alert` puts the dashboard's secrets into this process's environment
//! (to check that alert commands do not inherit them), so it lives here,
//! where `serve` is spawned without them and nothing else reads them, and
//! not beside the end-to-end tests that spawn the binary with an inherited
//! environment.
//!
//! One test binary with modules; filter by module, e.g.
//! `cargo test --test tools alert::`.

#[path = "../common/mod.rs"]
mod common;

mod alert;
mod cluster;
mod shipped;
