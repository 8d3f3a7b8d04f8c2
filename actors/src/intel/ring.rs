//! A bounded FIFO of small byte records in one buffer, and the little codec the records are
//! written with: the windows' recent texts, timeline, open questions and first-timers, and
//! the recent hints live in these instead of a deque of structs holding strings.
//!
//! Why: those lists held one to three heap blocks per entry (a `String` each for a login, a
//! text, a title) plus a deque sized for the cap — ~10 KiB and ~200 blocks in a quiet
//! channel, nearly all of it pointers, lengths, capacities and allocator headers around a few
//! bytes of text. A record here is the text and a varint length; the list is one block.
//!
//! Layout: `buf[head..]` holds the live records back to back, each a varint length and its
//! bytes. Dropping the oldest only moves `head`; the dead prefix is reclaimed when the buffer
//! is full, before it would grow, and growth is by a quarter (not a doubling), so the buffer
//! stays within ~1.25× of what it holds. Records are written with [`Writer`] and read with
//! [`Reader`], which never panics on a short record (it returns `None`).

use chrono::{DateTime, Utc};

/// Appends to a record.
pub(crate) struct Writer<'a>(pub(crate) &'a mut Vec<u8>);

impl Writer<'_> {
    /// An unsigned LEB128 number.
    pub(crate) fn varint(&mut self, mut x: u64) {
        while x >= 0x80 {
            self.0.push((x as u8) | 0x80);
            x >>= 7;
        }
        self.0.push(x as u8);
    }

    /// A length-prefixed string.
    pub(crate) fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    /// An `f64`, bit for bit.
    pub(crate) fn f64(&mut self, x: f64) {
        self.0.extend_from_slice(&x.to_bits().to_le_bytes());
    }

    /// An instant, exactly (seconds zigzagged, then nanoseconds).
    pub(crate) fn time(&mut self, t: DateTime<Utc>) {
        let secs = t.timestamp();
        self.varint(((secs << 1) ^ (secs >> 63)) as u64);
        self.varint(u64::from(t.timestamp_subsec_nanos()));
    }
}

/// Reads a record written by [`Writer`]; `None` past its end.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    /// One byte.
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }

    /// An unsigned LEB128 number.
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            x |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(x);
            }
        }
        None
    }

    /// The next `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    /// A length-prefixed string.
    pub(crate) fn str(&mut self) -> Option<&'a str> {
        let n = usize::try_from(self.varint()?).ok()?;
        std::str::from_utf8(self.bytes(n)?).ok()
    }

    /// An `f64`.
    pub(crate) fn f64(&mut self) -> Option<f64> {
        let b: [u8; 8] = self.bytes(8)?.try_into().ok()?;
        Some(f64::from_bits(u64::from_le_bytes(b)))
    }

    /// An instant.
    pub(crate) fn time(&mut self) -> Option<DateTime<Utc>> {
        let secs = self.secs()?;
        let nanos = u32::try_from(self.varint()?).ok()?;
        DateTime::from_timestamp(secs, nanos)
    }

    /// The whole seconds of an instant, leaving its nanoseconds unread.
    pub(crate) fn secs(&mut self) -> Option<i64> {
        let z = self.varint()?;
        Some(((z >> 1) as i64) ^ -((z & 1) as i64))
    }
}

/// Records, oldest first, in one buffer (see the module doc).
#[derive(Debug, Clone, Default)]
pub(crate) struct ByteRing {
    buf: Vec<u8>,
    head: usize,
    len: usize,
}

impl PartialEq for ByteRing {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.buf[self.head..] == other.buf[other.head..]
    }
}

impl ByteRing {
    /// Records held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends the record `write` writes, first dropping the oldest while `cap` or more are
    /// held (`cap` 0 counts as 1).
    pub(crate) fn push_with(&mut self, cap: usize, write: impl FnOnce(&mut Writer<'_>)) {
        while self.len >= cap.max(1) {
            self.pop_front();
        }
        let mut record = Vec::new();
        write(&mut Writer(&mut record));
        let mut head = Vec::with_capacity(10);
        Writer(&mut head).varint(record.len() as u64);
        let need = head.len() + record.len();
        self.make_room(need);
        self.buf.extend_from_slice(&head);
        self.buf.extend_from_slice(&record);
        self.len += 1;
    }

    fn make_room(&mut self, need: usize) {
        if self.buf.capacity() - self.buf.len() >= need {
            return;
        }
        if self.head > 0 {
            self.buf.drain(..self.head);
            self.head = 0;
            if self.buf.capacity() - self.buf.len() >= need {
                return;
            }
        }
        // A quarter more than what is live (at least 64 bytes), not a doubling.
        let extra = need.max(self.buf.len() / 4).max(64);
        self.buf.reserve_exact(extra);
    }

    /// Drops the oldest record.
    pub(crate) fn pop_front(&mut self) {
        if self.len == 0 {
            return;
        }
        let mut r = Reader(&self.buf[self.head..]);
        let next = r
            .varint()
            .and_then(|n| usize::try_from(n).ok())
            .map(|n| self.buf.len() - r.0.len() + n);
        match next {
            Some(end) if end <= self.buf.len() && self.len > 1 => {
                self.head = end;
                self.len -= 1;
            }
            _ => self.clear(),
        }
    }

    /// Drops every record, keeping the buffer.
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.head = 0;
        self.len = 0;
    }

    /// The records, oldest first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        // Records have no back links; collected to walk them newest first too (the lists
        // are short: a cap of 20 to 200).
        let mut r = Reader(&self.buf[self.head..]);
        let mut out: Vec<&[u8]> = Vec::with_capacity(self.len);
        while let Some(rec) = r
            .varint()
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| r.bytes(n))
        {
            out.push(rec);
        }
        out.into_iter()
    }

    /// The records, oldest first, without collecting them.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&[u8])) {
        let mut r = Reader(&self.buf[self.head..]);
        while let Some(rec) = r
            .varint()
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| r.bytes(n))
        {
            f(rec);
        }
    }

    /// Keeps the records `keep` accepts (in order; `keep` sees each record once). The buffer
    /// is rewritten only from the first record that goes, so a call that drops nothing (a
    /// tick's expiry check, mostly) neither copies nor allocates.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&[u8]) -> bool) {
        let live = &self.buf[self.head..];
        let mut r = Reader(live);
        let mut first_gone = None;
        let mut seen = 0;
        while let Some((start, rec)) = Self::next_record(live, &mut r) {
            if !keep(rec) {
                first_gone = Some(start);
                break;
            }
            seen += 1;
        }
        let Some(cut) = first_gone else {
            return;
        };
        // Records before `cut` stay as they are; the rest are copied if kept.
        let mut out = Vec::with_capacity(live.len());
        out.extend_from_slice(&live[..cut]);
        let mut kept = seen;
        while let Some((_, rec)) = Self::next_record(live, &mut r) {
            if keep(rec) {
                Writer(&mut out).varint(rec.len() as u64);
                out.extend_from_slice(rec);
                kept += 1;
            }
        }
        out.shrink_to_fit();
        self.buf = out;
        self.head = 0;
        self.len = kept;
    }

    /// The next record of `live` read by `r`, with its start offset in `live`.
    fn next_record<'a>(live: &'a [u8], r: &mut Reader<'a>) -> Option<(usize, &'a [u8])> {
        let start = live.len() - r.0.len();
        let n = usize::try_from(r.varint()?).ok()?;
        Some((start, r.bytes(n)?))
    }

    /// Drops the newest record.
    pub(crate) fn pop_back(&mut self) {
        let mut i = 0;
        let last = self.len.saturating_sub(1);
        self.retain(|_| {
            i += 1;
            i - 1 != last
        });
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn texts(r: &ByteRing) -> Vec<String> {
        r.iter()
            .map(|rec| Reader(rec).str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn keeps_the_newest_up_to_the_cap_in_a_buffer_near_its_content() {
        let mut r = ByteRing::default();
        for i in 0..1_000 {
            r.push_with(100, |w| w.str(&format!("message {i}")));
        }
        assert_eq!(r.len(), 100);
        let t = texts(&r);
        assert_eq!(t.first().unwrap(), "message 900");
        assert_eq!(t.last().unwrap(), "message 999");
        let live = r.buf.len() - r.head;
        assert!(
            r.buf.capacity() <= live * 3 / 2 + 64,
            "{}",
            r.buf.capacity()
        );
    }

    #[test]
    fn retain_and_pop_back_keep_order() {
        let mut r = ByteRing::default();
        for i in 0..10 {
            r.push_with(8, |w| w.str(&i.to_string()));
        }
        r.retain(|rec| Reader(rec).str() != Some("5"));
        assert_eq!(texts(&r), ["2", "3", "4", "6", "7", "8", "9"]);
        r.pop_back();
        assert_eq!(texts(&r), ["2", "3", "4", "6", "7", "8"]);
        r.pop_front();
        assert_eq!(r.len(), 5);
        r.push_with(8, |w| w.str("new"));
        assert_eq!(texts(&r), ["3", "4", "6", "7", "8", "new"]);
    }

    #[test]
    fn instants_and_numbers_read_back_exactly() {
        let times = [
            Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap(),
            Utc.timestamp_opt(-86_400, 1).unwrap(),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        for t in times {
            let mut buf = Vec::new();
            Writer(&mut buf).time(t);
            Writer(&mut buf).f64(-0.0);
            let mut r = Reader(&buf);
            assert_eq!(r.time(), Some(t));
            assert_eq!(r.f64().map(f64::to_bits), Some((-0.0f64).to_bits()));
            assert_eq!(r.u8(), None, "nothing left");
        }
    }
}
