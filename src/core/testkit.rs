//! Plain stand-ins for what the steps hand the core (Nova's servers, flavors, migrations;
//! Cinder's volumes and services), for the core's own tests.

use std::collections::BTreeMap;

use crate::core::capacity::FlavorView;
use crate::core::evacuable::{MigrationView, ServerView};
use crate::core::records::{Kind, Record};

#[derive(Clone, Debug, Default)]
pub struct TestFlavor {
    pub id: Option<String>,
    pub original_name: Option<String>,
    pub vcpus: Option<u64>,
    pub ram: Option<u64>,
    pub disk: Option<u64>,
    pub ephemeral: Option<u64>,
    pub swap: Option<u64>,
    pub extra_specs: BTreeMap<String, String>,
}

impl FlavorView for TestFlavor {
    fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    fn original_name(&self) -> Option<&str> {
        self.original_name.as_deref()
    }
    fn vcpus(&self) -> Option<u64> {
        self.vcpus
    }
    fn ram(&self) -> Option<u64> {
        self.ram
    }
    fn disk(&self) -> Option<u64> {
        self.disk
    }
    fn ephemeral(&self) -> Option<u64> {
        self.ephemeral
    }
    fn swap(&self) -> Option<u64> {
        self.swap
    }
    fn extra_specs(&self) -> &BTreeMap<String, String> {
        &self.extra_specs
    }
}

#[derive(Clone, Debug, Default)]
pub struct TestServer {
    pub id: String,
    pub name: String,
    pub status: String,
    pub host: String,
    pub vm_state: String,
    pub task: Option<String>,
    pub launched: bool,
    pub flavor: TestFlavor,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
}

impl ServerView for TestServer {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn status(&self) -> &str {
        &self.status
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn vm_state(&self) -> &str {
        &self.vm_state
    }
    fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }
    fn has_run(&self) -> bool {
        self.launched
    }
    fn flavor(&self) -> &dyn FlavorView {
        &self.flavor
    }
    fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
    fn tags(&self) -> &[String] {
        &self.tags
    }
}

#[derive(Clone, Debug)]
pub struct TestMigration {
    pub id: String,
    pub status: String,
}

impl MigrationView for TestMigration {
    fn id(&self) -> &str {
        &self.id
    }
    fn status(&self) -> &str {
        &self.status
    }
    fn is_in_progress(&self) -> bool {
        matches!(
            self.status.as_str(),
            "accepted" | "pre-migrating" | "running" | "queued" | "preparing"
        )
    }
    fn is_failed(&self) -> bool {
        matches!(self.status.as_str(), "failed" | "error")
    }
}

/// A journal record with only what a test says (run `r`, no time).
pub fn record(kind: Kind, action: &str, host: Option<&str>, status: &str) -> Record {
    Record {
        ts: String::new(),
        run_id: "r".into(),
        kind,
        action: action.into(),
        host: host.map(str::to_string),
        target: None,
        server: None,
        server_name: None,
        status: status.into(),
        server_status: None,
        request_id: None,
        detail: None,
        data: None,
    }
}
