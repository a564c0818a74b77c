//! `evacctl-sim cinder-manage`: Cinder's `cinder-manage` for the simulated cloud, with the same
//! command line, output and exit codes for what evacctl runs:
//!
//! ```text
//! evacctl-sim cinder-manage --url URL [--config-file F] volume update_host --currenthost A --newhost B
//! evacctl-sim cinder-manage --url URL [--config-file F] backup update_backup_host --currenthost A --newhost B
//! evacctl-sim cinder-manage --url URL [--config-file F] backup list
//! ```
//!
//! The updates print nothing and exit 0, whether they changed anything or not (a host name that
//! matches nothing is not an error for the real tool either). A database failure prints a
//! traceback's last line on stderr and exits 1. `--config-file` is accepted and not read: the
//! database is the simulated cloud's, reached through its control API (`/_sim/cinder-manage`).
//! Faults for tests are armed there (`POST /_sim/cinder-manage/fault`).

use std::io::Write;
use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use super::ctl::ControlClient;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The simulated cloud's URL, as printed by `serve`.
    #[arg(long, env = "EVACCTL_SIM_URL", value_name = "URL")]
    pub url: String,
    /// Accepted as the real tool's; not read (the database is the simulated cloud's).
    #[arg(long = "config-file", value_name = "PATH")]
    pub config_file: Vec<PathBuf>,
    #[command(subcommand)]
    pub category: Category,
}

#[derive(Debug, clap::Subcommand)]
pub enum Category {
    /// Volumes.
    Volume {
        #[command(subcommand)]
        action: VolumeAction,
    },
    /// Backups.
    Backup {
        #[command(subcommand)]
        action: BackupAction,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum VolumeAction {
    /// Modify the host name associated with a volume.
    #[command(name = "update_host")]
    UpdateHost(HostPair),
}

#[derive(Debug, clap::Subcommand)]
pub enum BackupAction {
    /// List all backups and the host on which the backup operation is running.
    List,
    /// Modify the host name associated with a backup.
    #[command(name = "update_backup_host")]
    UpdateBackupHost(HostPair),
}

#[derive(Debug, clap::Args)]
pub struct HostPair {
    /// Existing host name (volumes: host@backend#pool).
    #[arg(long)]
    pub currenthost: String,
    /// New host name.
    #[arg(long)]
    pub newhost: String,
}

/// How the real tool reports a database it cannot reach.
const DB_ERROR: &str = "oslo_db.exception.DBConnectionError: (pymysql.err.OperationalError) \
(2003, \"Can't connect to MySQL server on 'db' ([Errno 111] ECONNREFUSED)\")";

/// Runs one command; the exit code.
pub fn run(args: &Args, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let outcome = ControlClient::new(&args.url).and_then(|c| match &args.category {
        Category::Volume {
            action: VolumeAction::UpdateHost(p),
        } => update(&c, "volume/update_host", p),
        Category::Backup {
            action: BackupAction::UpdateBackupHost(p),
        } => update(&c, "backup/update_backup_host", p),
        Category::Backup {
            action: BackupAction::List,
        } => c
            .call(Method::GET, "cinder-manage/backup/list", None)
            .map(|v| Some(backup_table(&v))),
    });
    match outcome {
        Ok(Some(text)) => {
            let _ = out.write_all(text.as_bytes());
            0
        }
        Ok(None) => 0,
        Err(e) => {
            tracing::debug!("simulated cinder-manage: {e}");
            let _ = writeln!(err, "{DB_ERROR}");
            1
        }
    }
}

/// An update: nothing printed on success; an injected failure is a database error.
fn update(
    c: &ControlClient,
    path: &str,
    p: &HostPair,
) -> Result<Option<String>, super::ctl::CtlError> {
    let body = json!({"currenthost": p.currenthost, "newhost": p.newhost});
    let answer = c.call(Method::POST, &format!("cinder-manage/{path}"), Some(body))?;
    if answer["fault"] == "fail" {
        return Err(super::ctl::CtlError::Unexpected {
            url: path.to_string(),
            message: "injected failure".into(),
        });
    }
    Ok(None)
}

/// The table as `BackupCommands.list` prints it (Python `%-32s\t...`, `%-12d` for numbers).
pub fn backup_table(v: &Value) -> String {
    let text = |x: &Value| match x {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_string(),
        other => other.to_string(),
    };
    let mut s = format!(
        "{:<32}\t{:<32}\t{:<32}\t{:<24}\t{:<24}\t{:<12}\t{:<12}\t{:<12}\t{:<12}\n",
        "ID",
        "User ID",
        "Project ID",
        "Host",
        "Name",
        "Container",
        "Status",
        "Size",
        "Object Count"
    );
    for b in v["backups"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        s.push_str(&format!(
            "{:<32}\t{:<32}\t{:<32}\t{:<24}\t{:<24}\t{:<12}\t{:<12}\t{:<12}\t{:<12}\n",
            text(&b["id"]),
            text(&b["user_id"]),
            text(&b["project_id"]),
            text(&b["host"]),
            text(&b["display_name"]),
            text(&b["container"]),
            text(&b["status"]),
            b["size"].as_u64().unwrap_or(0),
            b["object_count"].as_u64().unwrap_or(0),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn the_backup_table_is_tab_separated_and_padded_as_cinder_manage_prints_it() {
        let v = json!({"backups": [
            {"id": "6c4a0e0c-7b7e-4f0a-9d8e-2a4d1c2b3e4f", "user_id": "u", "project_id": "p",
             "host": "compute-3", "display_name": null, "container": "backups",
             "status": "available", "size": 10, "object_count": 2}]});
        let table = backup_table(&v);
        assert!(
            table.starts_with("ID                              \tUser ID"),
            "{table}"
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2, "{table}");
        let row: Vec<&str> = lines[1].split('\t').map(str::trim).collect();
        assert_eq!(
            row,
            [
                "6c4a0e0c-7b7e-4f0a-9d8e-2a4d1c2b3e4f",
                "u",
                "p",
                "compute-3",
                "None",
                "backups",
                "available",
                "10",
                "2"
            ]
        );
    }
}
