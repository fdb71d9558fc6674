//! `completions <shell>`: the shell's completion script on stdout.

use std::io::Write;
use std::process::ExitCode;

/// Prints the script; no runtime, no config.
pub fn run(shell: clap_complete::Shell) -> ExitCode {
    // into a buffer first: clap_complete panics on a closed pipe (`| head`)
    let script = zapi_dash::completions::script(shell);
    let _ = std::io::stdout().write_all(script.as_bytes());
    ExitCode::SUCCESS
}
