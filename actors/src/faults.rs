//! Fault injection for tests and chaos benchmarks. It lives in the core, rather than behind
//! a cargo feature, so that the chaos benchmark exercises the same binary that ships; nothing
//! in the HTTP API reaches it.

use std::collections::HashSet;
use std::sync::RwLock;

/// Channels whose actor must fail at start-up, shared with every channel actor.
#[derive(Debug, Default)]
pub struct FaultPlan {
    fail_on_start: RwLock<HashSet<String>>,
}

impl FaultPlan {
    /// Makes every future start of `login`'s actor fail (or stop failing).
    pub fn set_fail_on_start(&self, login: &str, fail: bool) {
        let mut set = self
            .fail_on_start
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if fail {
            set.insert(login.to_owned());
        } else {
            set.remove(login);
        }
    }

    /// Whether `login`'s actor should fail at start-up.
    pub fn fails_on_start(&self, login: &str) -> bool {
        let set = self.fail_on_start.read().unwrap_or_else(|e| e.into_inner());
        !set.is_empty() && set.contains(login)
    }
}
