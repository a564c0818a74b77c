//! The command hook: the configured argv (no shell), the event as one line of JSON on stdin,
//! killed after [`PROGRAM_TIMEOUT`](super::PROGRAM_TIMEOUT).

use std::time::Duration;

use super::{Channel, Event, PROGRAM_TIMEOUT};
use crate::process;

pub(super) struct Hook {
    argv: Vec<String>,
    pub(super) timeout: Duration,
}

impl Hook {
    pub(super) fn new(argv: Vec<String>) -> Hook {
        Hook {
            argv,
            timeout: PROGRAM_TIMEOUT,
        }
    }
}

impl Channel for Hook {
    fn name(&self) -> &'static str {
        "command"
    }

    fn deliver(&self, event: &Event) -> Result<(), String> {
        let mut json = serde_json::to_vec(event).map_err(|e| format!("cannot encode: {e}"))?;
        json.push(b'\n');
        super::outcome(process::run(&self.argv, Some(json), self.timeout))
    }
}
