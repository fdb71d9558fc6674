//! zapi-dash: parse the command line and dispatch to its command (`cmd/`).

mod cmd;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use zapi_dash::cli::{Cli, Subcommand};
use zapi_dash::model::Secret;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Subcommand::Completions { shell }) => return cmd::completions::run(shell),
        Some(Subcommand::Report { since, format }) => {
            return cmd::report::run(&cli.flags, since, format);
        }
        _ => {}
    }
    // The dashboards (run, demo, watch) idle far more than they work: one
    // worker spares the cross-thread wake-ups that were a third of an idle
    // dashboard's CPU (1,000 polled instances: 0.33 -> 0.27 % of a core);
    // the event log's writer keeps its own thread. `serve` takes webhooks
    // from many connections at once: a worker per core.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if !matches!(cli.command, Some(Subcommand::Serve)) {
        builder.worker_threads(1);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("zapi-dash: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        let flags = &cli.flags;
        match cli.command {
            Some(Subcommand::Demo { instances }) => {
                cmd::demo::run(flags, usize::from(instances)).await
            }
            Some(Subcommand::Serve) => cmd::serve::run(cmd::load_config(flags)?, flags).await,
            Some(Subcommand::Watch { remote, api_token }) => {
                cmd::watch::run(flags, &remote, Secret::new(api_token)).await
            }
            Some(Subcommand::Completions { .. } | Subcommand::Report { .. }) => Ok(()),
            Some(Subcommand::Run) | None => {
                cmd::run::run(cmd::load_config(flags)?, flags, None, None).await
            }
        }
    });
    // tasks still running (calls in flight) must not hold the exit up
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("zapi-dash: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
