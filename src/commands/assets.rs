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
    pages.push(("evacctl.toml.5".to_string(), config_page().into_bytes()));
    Ok(pages)
}

fn collect_pages(
    cmd: &clap::Command,
    name: &str,
    pages: &mut Vec<(String, Vec<u8>)>,
) -> anyhow::Result<()> {
    let examples = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    // The examples get their own verbatim section below, and the exit codes their own table;
    // the version without the commit, so that pages change only when the CLI does.
    let page_cmd = cmd
        .clone()
        .name(name.to_string())
        .display_name(name.to_string())
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(None::<&str>)
        .after_long_help(None::<&str>);
    let man = clap_mangen::Man::new(page_cmd.clone())
        .date("")
        .source(format!("evacctl {}", env!("CARGO_PKG_VERSION")))
        .manual("evacctl manual");
    let mut buf = Vec::new();
    let render = |buf: &mut Vec<u8>| -> std::io::Result<()> {
        man.render_title(buf)?;
        man.render_name_section(buf)?;
        man.render_synopsis_section(buf)?;
        man.render_description_section(buf)?;
        if page_cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(buf)?;
        }
        if visible_subcommands(&page_cmd).next().is_some() {
            man.render_subcommands_section(buf)?;
        }
        Ok(())
    };
    render(&mut buf).with_context(|| format!("cannot render the man page of {name}"))?;
    let mut tail = String::new();
    tail.push_str(&examples_section(&examples));
    tail.push_str(&exit_status_section());
    tail.push_str(ENVIRONMENT_SECTION);
    tail.push_str(FILES_SECTION);
    tail.push_str(&see_also_section(name, cmd));
    tail.push_str(&format!(".SH VERSION\nv{}\n", env!("CARGO_PKG_VERSION")));
    buf.extend_from_slice(tail.as_bytes());
    pages.push((format!("{name}.1"), buf));
    for sub in visible_subcommands(cmd) {
        collect_pages(sub, &format!("{name}-{}", sub.get_name()), pages)?;
    }
    Ok(())
}

fn visible_subcommands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
}

/// Text for roff: backslashes and hyphens escaped, a line never taken for a request.
fn roff_text(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// The `Examples:` of `--help`, kept line for line (`.nf`: no filling, no reflow).
fn examples_section(after_help: &str) -> String {
    let lines: Vec<&str> = after_help
        .lines()
        .skip_while(|l| !l.starts_with("Examples:"))
        .skip(1)
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut s = String::from(".SH EXAMPLES\n.nf\n");
    for l in lines {
        s.push_str(&roff_text(l.trim_start()));
        s.push('\n');
    }
    s.push_str(".fi\n");
    s
}

/// The exit codes, from the table `--help` and the README print.
fn exit_status_section() -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    for (_, code, name, meaning) in crate::exit_codes::TABLE {
        s.push_str(&format!(
            ".TP\n\\fB{code}\\fR  {}\n{}\n",
            roff_text(name),
            roff_text(meaning)
        ));
    }
    s
}

const ENVIRONMENT_SECTION: &str = r".SH ENVIRONMENT
.TP
\fBOS_CLOUD\fR, \fBOS_REGION_NAME\fR, \fBOS_CLIENT_CONFIG_FILE\fR, \fBOS_AUTH_URL\fR, \fBOS_*\fR
OpenStack credentials, as for the \fBopenstack\fR client (\fBclouds.yaml\fR or an openrc file).
.TP
\fBEVACCTL_CONFIG\fR
The configuration file (\fB\-\-config\fR).
.TP
\fBEVACCTL_JOURNAL\fR
The journal of actions (\fB\-\-journal\fR).
.TP
\fBEVACCTL_LOCK_DIR\fR
The directory of the per\-host lock files (\fB\-\-lock\-dir\fR).
.TP
\fBCONSUL_HTTP_ADDR\fR, \fBCONSUL_HTTP_TOKEN\fR, \fBCONSUL_HTTP_TOKEN_FILE\fR, \fBCONSUL_HTTP_SSL\fR, \fBCONSUL_CACERT\fR
One Consul cluster when the configuration names none.
.TP
\fBCOLUMNS\fR
The width of tables when \fB\-\-max\-width\fR is not given.
";

const FILES_SECTION: &str = r".SH FILES
.TP
\fI/etc/evacctl/config.toml\fR
The configuration; see \fBevacctl.toml\fR(5).
.TP
\fI/var/lib/evacctl/journal.jsonl\fR
The journal of actions (JSON lines), the default of \fB[journal] path\fR.
.TP
\fI/run/evacctl/\fR
The lock files, the default of \fB[lock] file\fR.
.TP
\fIclouds.yaml\fR
In \fI./\fR, \fI~/.config/openstack/\fR or \fI/etc/openstack/\fR, as for the \fBopenstack\fR client.
";

fn see_also_section(name: &str, cmd: &clap::Command) -> String {
    let mut refs = Vec::new();
    if name != "evacctl" {
        refs.push("evacctl(1)".to_string());
    }
    refs.extend(visible_subcommands(cmd).map(|s| format!("{name}\\-{}(1)", s.get_name())));
    refs.push("evacctl.toml(5)".to_string());
    refs.push("ipmitool(1)".to_string());
    let refs: Vec<String> = refs
        .iter()
        .map(|r| {
            let (page, sec) = r.split_once('(').unwrap_or((r, ""));
            format!(
                "\\fB{}\\fR({sec}",
                page.replace('-', "\\-").replace("\\\\-", "\\-")
            )
        })
        .collect();
    format!(".SH \"SEE ALSO\"\n{}\n", refs.join(", "))
}

/// `evacctl.toml(5)`, from the annotated example configuration: its opening comment as the
/// description, each of its parts verbatim under its table's name.
pub fn config_page() -> String {
    const EXAMPLE: &str = include_str!("../../examples/config.toml");
    let mut s = format!(
        ".TH evacctl.toml 5 \"\" \"evacctl {}\" \"evacctl manual\"\n.SH NAME\nevacctl.toml \\- the evacctl configuration file\n.SH SYNOPSIS\n\\fI/etc/evacctl/config.toml\\fR, or \\fB\\-\\-config\\fR \\fIFILE\\fR, or \\fBEVACCTL_CONFIG\\fR=\\fIFILE\\fR\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut parts = EXAMPLE.split("\n# ---------------------------------------------------------------------------------------\n");
    let intro = parts.next().unwrap_or_default();
    s.push_str(".SH DESCRIPTION\n");
    for para in intro.split("\n#\n") {
        let text: Vec<String> = para
            .lines()
            .map(|l| l.trim_start_matches('#').trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        if !text.is_empty() {
            s.push_str(".PP\n");
            s.push_str(&roff_text(&text.join(" ")));
            s.push('\n');
        }
    }
    s.push_str(
        ".SH KEYS\nEvery key, as the annotated example has it (active lines carry the default).\n",
    );
    for part in parts {
        let title = part
            .lines()
            .map(|l| l.trim_start_matches('#'))
            .find(|l| l.starts_with('[') && l.ends_with(']'))
            .unwrap_or("(more)");
        s.push_str(&format!(".SS \"{}\"\n.nf\n", roff_text(title)));
        for l in part.trim_end().lines() {
            s.push_str(&roff_text(l));
            s.push('\n');
        }
        s.push_str(".fi\n");
    }
    s.push_str(".SH \"SEE ALSO\"\n\\fBevacctl\\fR(1), \\fBevacctl\\-watch\\fR(1)\n");
    s
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
