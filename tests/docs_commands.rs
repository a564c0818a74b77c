//! Every `evacctl ...` command line the docs show parses: a renamed option or subcommand
//! fails here, not in an operator's terminal at 3 a.m.

use std::path::Path;

/// The docs an operator copies command lines from.
fn docs() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut more: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    more.sort();
    files.extend(more);
    files
}

/// Shell words, with '...' and "..." quoting (enough for the docs' examples).
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The evacctl command lines in a piece of shell: from each `evacctl ` to the end of its
/// simple command (a pipe, `;`, `&&`, `)`, a redirection or a comment ends it).
fn command_lines(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("evacctl ") {
        let before = rest[..i].chars().last();
        let after = &rest[i + "evacctl ".len()..];
        if before.is_none_or(|c| c.is_whitespace() || "/($`".contains(c)) {
            let end = after
                .find(['|', ';', '&', ')', '>', '<', '#', '`'])
                .unwrap_or(after.len());
            found.push(after[..end].trim().to_string());
        }
        rest = after;
    }
    found
}

#[test]
fn every_command_line_in_the_docs_parses() {
    use clap::error::ErrorKind;
    let mut bad = Vec::new();
    let mut checked = 0;
    for path in docs() {
        let text = std::fs::read_to_string(&path).expect("read doc");
        // Inside a fence: Some(is a shell block). Other blocks are output samples.
        let mut fence: Option<bool> = None;
        for (n, line) in text.lines().enumerate() {
            if let Some(info) = line.trim_start().strip_prefix("```") {
                fence = match fence {
                    Some(_) => None,
                    None => Some(info.trim() == "sh"),
                };
                continue;
            }
            let mut candidates = Vec::new();
            if let Some(shell) = fence {
                if shell {
                    // A comment is prose, not a command.
                    let code = match line.find(" #") {
                        Some(i) => &line[..i],
                        None if line.trim_start().starts_with('#') => "",
                        None => line,
                    };
                    candidates.extend(command_lines(code));
                }
            } else {
                // Inline code spans: `evacctl ...`.
                for (i, span) in line.split('`').enumerate() {
                    if i % 2 == 1 && span.starts_with("evacctl ") && !span.contains('\\') {
                        candidates.extend(command_lines(span));
                    }
                }
            }
            for cmd in candidates {
                let mut argv = vec!["evacctl".to_string()];
                argv.extend(words(&cmd));
                checked += 1;
                match evacctl::cli::command().try_get_matches_from(&argv) {
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                        ) => {}
                    Err(e) => bad.push(format!(
                        "{}:{}: `evacctl {cmd}`: {}",
                        path.display(),
                        n + 1,
                        e.to_string().lines().next().unwrap_or_default()
                    )),
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} command lines found in the docs"
    );
    assert!(
        bad.is_empty(),
        "command lines that do not parse:\n{}",
        bad.join("\n")
    );
}
