//! Capped FIFO lists that grow to their cap, not past it.
//!
//! A `VecDeque` doubles its capacity when full, so a list capped at 100 ends up with 128
//! slots and one capped at 200 with 256. Per channel that slack is small; times every list
//! of every channel of a large fleet it is not. [`push_capped`] drops the oldest entry at
//! the cap and grows the deque at most to the cap.

use std::collections::VecDeque;

/// Appends `item`, first dropping the oldest entries while `q` holds `cap` or more; the
/// deque's capacity never grows past `cap` (nor past what it held before).
pub(crate) fn push_capped<T>(q: &mut VecDeque<T>, cap: usize, item: T) {
    let cap = cap.max(1);
    while q.len() >= cap {
        q.pop_front();
    }
    if q.len() == q.capacity() {
        let want = (q.len() * 2).max(4).min(cap).max(q.len() + 1);
        q.reserve_exact(want - q.len());
    }
    q.push_back(item);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_grows_to_the_cap_only() {
        let mut q = VecDeque::new();
        for i in 0..1_000 {
            push_capped(&mut q, 100, i);
        }
        assert_eq!(q.len(), 100);
        assert_eq!(q.front(), Some(&900));
        assert_eq!(q.back(), Some(&999));
        assert!(q.capacity() <= 100, "{}", q.capacity());
    }

    #[test]
    fn small_caps_work_too() {
        let mut q = VecDeque::new();
        for i in 0..10 {
            push_capped(&mut q, 3, i);
        }
        assert_eq!(q, [7, 8, 9]);
        assert!(q.capacity() <= 4, "{}", q.capacity());
    }

    #[test]
    fn a_zero_cap_keeps_the_latest_one() {
        let mut q = VecDeque::new();
        push_capped(&mut q, 0, 1);
        push_capped(&mut q, 0, 2);
        assert_eq!(q, [2]);
    }
}
