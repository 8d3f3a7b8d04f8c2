//! Memory settings of the embedded PostgreSQL, sized from the machine it runs on.
//!
//! PostgreSQL's own default `shared_buffers` is 128 MB whatever the machine. That is too small
//! for semantic memory: a 1M-entry HNSW index is ~2 GB, and a search walks a few thousand of
//! its pages. Pages missing from shared buffers are copied in from the OS page cache on every
//! visit (evicting others), and that copying was the tail of the 1M search latency. So the
//! embedded server gets the usual advice: a quarter of the memory for `shared_buffers` (capped,
//! so a big box keeps room for the runtime and the page cache) and half of it as
//! `effective_cache_size` (a planner hint, allocates nothing). Memory means the smaller of
//! `/proc/meminfo`'s `MemTotal` and a cgroup v2 limit, so a container's limit is respected.
//!
//! `BYTEBOT_PG_SHARED_BUFFERS` overrides the computed size (PostgreSQL syntax, e.g. `512MB`).
//! A server given a `DATABASE_URL` is the operator's to tune; none of this applies to it.

use std::fs;

/// Environment variable overriding the embedded server's `shared_buffers`.
pub const SHARED_BUFFERS_ENV: &str = "BYTEBOT_PG_SHARED_BUFFERS";

const MIB: u64 = 1024 * 1024;
/// PostgreSQL's own default; never go below it.
const FLOOR: u64 = 128 * MIB;
/// Above this, more buffers mostly duplicate the OS page cache.
const CAP: u64 = 8 * 1024 * MIB;

/// `shared_buffers` and `effective_cache_size` for a machine with `memory` bytes, in
/// megabytes as PostgreSQL writes them.
pub fn sized_for(memory: u64) -> [(&'static str, String); 2] {
    let buffers = (memory / 4).clamp(FLOOR, CAP);
    let cache = (memory / 2).max(buffers);
    [
        ("shared_buffers", format!("{}MB", buffers / MIB)),
        ("effective_cache_size", format!("{}MB", cache / MIB)),
    ]
}

/// Whether `value` is a PostgreSQL memory size: digits with an optional `kB`, `MB`, `GB` or
/// `TB` unit (what `shared_buffers` accepts; anything else would stop the server at start).
pub fn is_size(value: &str) -> bool {
    let digits = value.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &value[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(unit, "" | "kB" | "MB" | "GB" | "TB")
}

/// Memory available to this process: `MemTotal`, lowered to the cgroup v2 limit if there is
/// one. `None` where `/proc` is unreadable.
pub fn available() -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    let total = mem_total(&meminfo)?;
    let limit = fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    Some(limit.map_or(total, |l| l.min(total)))
}

/// `MemTotal` of a `/proc/meminfo` text, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_of_memory_within_bounds() {
        let gib = 1024 * MIB;
        assert_eq!(
            sized_for(24 * gib),
            [
                ("shared_buffers", "6144MB".to_owned()),
                ("effective_cache_size", "12288MB".to_owned())
            ]
        );
        // Small machines keep PostgreSQL's default, big ones stop at the cap.
        assert_eq!(sized_for(256 * MIB)[0].1, "128MB");
        assert_eq!(sized_for(256 * MIB)[1].1, "128MB");
        assert_eq!(sized_for(256 * gib)[0].1, "8192MB");
        assert_eq!(sized_for(256 * gib)[1].1, "131072MB");
    }

    #[test]
    fn reads_mem_total() {
        let text = "MemTotal:       24596012 kB\nMemFree:         1000 kB\n";
        assert_eq!(mem_total(text), Some(24_596_012 * 1024));
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert!(available().is_some_and(|m| m > 0));
    }

    #[test]
    fn sizes_are_checked() {
        for ok in ["512MB", "4GB", "131072", "64kB"] {
            assert!(is_size(ok), "{ok}");
        }
        for bad in ["", "MB", "4 GB", "4gb", "1.5GB", "4GB'; x", "-1"] {
            assert!(!is_size(bad), "{bad}");
        }
    }
}
