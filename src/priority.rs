//! Thread priorities: how Byte tells the kernel which of its threads may wait.
//!
//! tokio cannot prioritise one task over another, but the kernel can prioritise threads.
//! Three tiers: the dashboard's HTTP threads keep the process's own priority (a person is
//! waiting on them); the threads that process chat run at `--worker-nice` (chat is buffered
//! and backpressured, it can wait a little); the local embeddings model runs on its own
//! threads at `--memory-embed-nice` (enrichment is best effort and may wait for chat).
//!
//! Niceness can only be raised without privileges, and a thread keeps it for life; threads
//! a thread creates inherit it. So each tier lowers its own threads once, when they start.

use thread_priority::{ThreadPriority, ThreadPriorityValue, set_current_thread_priority};

/// Sets this thread's niceness to `nice` (0–19; 0 leaves the thread as it is). A thread may
/// always lower its own priority; failing that (another OS), it runs on at the process's.
pub fn lower_current_thread(nice: u8) {
    if nice == 0 {
        return;
    }
    // thread-priority takes a cross-platform 0–99 value and maps it onto niceness -20..19
    // for normal threads; find the value that lands on `nice` (checked by the test below).
    let Some(value) = (0..=u8::from(ThreadPriorityValue::MAX))
        .find(|&v| niceness_of(v) == i32::from(nice))
        .and_then(|v| ThreadPriorityValue::try_from(v).ok())
    else {
        return;
    };
    if let Err(e) = set_current_thread_priority(ThreadPriority::Crossplatform(value)) {
        // Not fatal: the process then runs at one priority, as it did before this existed.
        eprintln!("could not lower a thread's priority to nice {nice}: {e:?}");
    }
}

/// thread-priority's mapping of a cross-platform value onto Linux niceness.
fn niceness_of(value: u8) -> i32 {
    let ratio = 1.0 - f32::from(value) / f32::from(u8::from(ThreadPriorityValue::MAX));
    (39.0 * ratio) as i32 - 20
}

/// The calling thread's niceness as the kernel reports it (`/proc/thread-self/stat`), for
/// tests; `None` where there is no such file.
#[cfg(test)]
pub(crate) fn current_niceness() -> Option<i32> {
    niceness_in(&std::fs::read_to_string("/proc/thread-self/stat").ok()?)
}

/// The niceness field of a `/proc/<pid>/task/<tid>/stat` line.
#[cfg(test)]
pub(crate) fn niceness_in(stat: &str) -> Option<i32> {
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split_whitespace().nth(16)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_gets_the_niceness_asked_for() {
        for nice in [1, 5, 10, 15, 19] {
            let got = std::thread::spawn(move || {
                lower_current_thread(nice);
                current_niceness()
            })
            .join()
            .unwrap();
            assert_eq!(got, Some(i32::from(nice)));
        }
        let untouched = std::thread::spawn(|| {
            lower_current_thread(0);
            current_niceness()
        })
        .join()
        .unwrap();
        assert_eq!(
            untouched,
            current_niceness(),
            "0 leaves the thread as it was"
        );
    }

    #[test]
    fn the_niceness_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 7 1 0 5 0 0";
        assert_eq!(niceness_in(stat), Some(7));
        assert_eq!(niceness_in("garbage"), None);
    }
}
