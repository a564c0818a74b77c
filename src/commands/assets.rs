//! `evacctl completions SHELL` and the hidden `evacctl gen-assets`, which writes the committed
//! `completions/` and `man/` files (a test fails when they are stale).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap_complete::Shell;

use crate::cli::{self, CompletionsArgs, GenAssetsArgs};
use crate::exit_codes::ExitCode;

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = cli::command();
    // Generated into memory, then written as all output is: a closed pipe ends it quietly
    // (clap_complete writing to stdout itself panics on one).
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "evacctl", &mut buf);
    crate::output::emit_raw(&String::from_utf8_lossy(&buf))?;
    Ok(ExitCode::Success)
}

pub fn gen_assets(args: &GenAssetsArgs) -> anyhow::Result<ExitCode> {
    for path in write_assets(&args.out)? {
        crate::outln!("{}", path.display());
    }
    Ok(ExitCode::Success)
}

/// The completion files, by file name.
pub fn completion_files() -> Vec<(String, Vec<u8>)> {
    [
        (Shell::Bash, "evacctl.bash"),
        (Shell::Zsh, "_evacctl"),
        (Shell::Fish, "evacctl.fish"),
    ]
    .into_iter()
    .map(|(shell, name)| {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cli::command(), "evacctl", &mut buf);
        (name.to_string(), buf)
    })
    .collect()
}

/// One man page per command (`evacctl.1`, `evacctl-check-services.1`, `evacctl-ipmi-power-off.1`…).
pub fn man_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut root = cli::command();
    root.build();
    let mut pages = Vec::new();
    collect_pages(&root, "evacctl", &mut pages)?;
    Ok(pages)
}

fn collect_pages(
    cmd: &clap::Command,
    name: &str,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    let page_cmd = cmd
        .clone()
        .name(name.to_string())
        .display_name(name.to_string());
    let mut buf = Vec::new();
    clap_mangen::Man::new(page_cmd)
        .date("")
        .source(format!("evacctl {}", env!("CARGO_PKG_VERSION")))
        .manual("evacctl manual")
        .render(&mut buf)
        .with_context(|| format!("cannot render the man page of {name}"))?;
    pages.push((format!("{name}.1"), buf));
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        collect_pages(sub, &format!("{name}-{}", sub.get_name()), pages)?;
    }
    Ok(())
}

/// Write `completions/*` and `man/*` under `out`; returns the paths written.
pub fn write_assets(out: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (dir, files) in [("completions", completion_files()), ("man", man_pages()?)] {
        let dir = out.join(dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, bytes) in files {
            let path = dir.join(name);
            std::fs::write(&path, bytes)
                .with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}
