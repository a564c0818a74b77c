//! `evacctl`: parse, dispatch, map errors to the documented exit codes.

use std::process::ExitCode;

use clap::Parser;
use evacctl::cli::{Cli, Format};
use evacctl::exit_codes::ExitCode as Code;
use evacctl::{commands, error, logging, output};

fn main() -> ExitCode {
    limit_malloc_arenas();
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

/// Each HTTP exchange runs on a thread of its own, and glibc gives threads their own malloc
/// arenas (up to 8 per core), each keeping what was freed in it: a long `watch` at 5,000
/// hosts grew to 180 MiB where one cycle needs 71 (BENCHMARKS.md, soak). Two arenas keep it
/// near the one-shot figure. `MALLOC_ARENA_MAX` set by the operator wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
