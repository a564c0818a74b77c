//! `evacctl`: parse, dispatch, map errors to the documented exit codes.

use std::process::ExitCode;

use clap::Parser;
use evacctl::cli::Cli;
use evacctl::{commands, error, logging};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(
        cli.global.verbose,
        cli.global.quiet,
        cli.global.log_file.as_deref(),
    ) {
        eprintln!("evacctl: error: {e:#}");
        return evacctl::exit_codes::ExitCode::Usage.into();
    }
    match commands::dispatch(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            let code = error::exit_code_of(&err);
            tracing::error!(target: logging::FINAL_ERROR_TARGET, "{err:#}");
            eprintln!("evacctl: error: {err:#}");
            code.into()
        }
    }
}
