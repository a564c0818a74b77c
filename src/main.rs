//! `evacctl`: parse, dispatch, map errors to the documented exit codes.

use std::process::ExitCode;

use clap::Parser;
use evacctl::cli::{Cli, Format};
use evacctl::exit_codes::ExitCode as Code;
use evacctl::{commands, error, logging, output};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return parse_error(&e),
    };
    output::configure(output::Settings {
        width: output::detect_width(cli.global.max_width.map(usize::from)),
        format: Some(cli.global.format),
        columns: cli.global.columns.clone(),
    });
    let json = cli.global.format == Format::Json;
    if let Err(e) = logging::init(
        cli.global.verbose,
        cli.global.quiet,
        cli.global.log_file.as_deref(),
        cli.global.log_format,
    ) {
        eprintln!("evacctl: error: {e:#}");
        if json {
            commands::print_json_error(&e, Code::Usage);
        }
        return Code::Usage.into();
    }
    match commands::dispatch(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            let code = error::exit_code_of(&err);
            logging::final_error(&format!("{err:#}"));
            if json {
                commands::print_json_error(&err, code);
            }
            code.into()
        }
    }
}

/// `--help`, `--version` and usage errors, as clap has them; with `-f json` on the command
/// line, `--version` and errors are JSON on stdout as well.
fn parse_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let json = json_requested(std::env::args().skip(1));
    if e.kind() == ErrorKind::DisplayVersion && json {
        let _ = output::print_json(&commands::version_info());
        return Code::Success.into();
    }
    // A reader that went away is not an error (`evacctl --help | head -1`).
    let _ = e.print();
    if e.exit_code() == 0 {
        return Code::Success.into();
    }
    if json {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first);
        commands::print_json_error(&anyhow::anyhow!(message.to_string()), Code::Usage);
    }
    Code::Usage.into()
}

/// Whether the raw arguments ask for JSON (`-f json`, `-fjson`, `--format json`, `--format=json`).
fn json_requested(args: impl Iterator<Item = String>) -> bool {
    let args: Vec<String> = args.collect();
    args.iter().enumerate().any(|(i, a)| {
        a == "-fjson"
            || a == "--format=json"
            || ((a == "-f" || a == "--format") && args.get(i + 1).is_some_and(|v| v == "json"))
    })
}
