//! A batch of rows on its way to the store: built from the queue in arrival order, free of
//! duplicate ids, and splittable in two so a row the database refuses can be isolated.

use std::collections::VecDeque;

use rustc_hash::FxHashSet;
use std::sync::Arc;

use crate::model::{ChatRecord, EventRecord, IntelKind, IntelRecord, Record};

/// Rows written together in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    /// Chat rows, unique by message id.
    pub chat: Vec<Arc<ChatRecord>>,
    /// Event rows, unique by event id.
    pub events: Vec<Arc<EventRecord>>,
    /// Intelligence rows, unique by (kind, key); the latest wins.
    pub intel: Vec<Arc<IntelRecord>>,
    /// Rows dropped as in-batch duplicates when the batch was built.
    pub duplicates: u64,
    /// Sequence number of the last received row this batch covers; once it is written,
    /// every row up to here is durable. Zero for the first half of a split batch, which
    /// must not advance the watermark on its own.
    pub last_seq: u64,
    /// Whether the rows were read back from the spill log (they were acknowledged when the
    /// log was synced, so committing them acknowledges nothing new).
    pub from_spill: bool,
    /// Where the spill log may be released up to once this batch is committed. Only the
    /// second half of a split batch keeps it, like `last_seq`.
    pub spill_cursor: Option<crate::ports::SpillCursor>,
}

impl Batch {
    /// Takes up to `max_rows` rows from the front of `queue`, dropping in-batch duplicates.
    /// `last_seq` is the sequence number of the last row taken.
    pub fn take(queue: &mut VecDeque<Record>, max_rows: usize, last_seq: u64) -> Self {
        let n = queue.len().min(max_rows);
        let mut batch = Batch {
            last_seq,
            ..Batch::default()
        };
        // Which rows repeat an id seen earlier in the batch, found with borrowed ids (no copy
        // of each id, a cheap hash) before the rows are moved out. Chat is by far the most
        // frequent row, so it gets the exact capacity.
        let mut seen_ids: FxHashSet<&str> =
            FxHashSet::with_capacity_and_hasher(n, Default::default());
        let mut seen_events: FxHashSet<&str> = FxHashSet::default();
        let first_of_id: Vec<bool> = queue
            .iter()
            .take(n)
            .map(|record| match record {
                Record::Chat(c) => seen_ids.insert(c.message_id.as_str()),
                Record::Event(e) => seen_events.insert(e.event_id.as_str()),
                Record::Intel(_) => true,
            })
            .collect();
        drop((seen_ids, seen_events));
        batch.chat.reserve(n);
        let mut intel_at: std::collections::HashMap<(IntelKind, String), usize> =
            std::collections::HashMap::new();
        for (record, first) in queue.drain(..n).zip(first_of_id) {
            match record {
                Record::Chat(c) => {
                    if first {
                        batch.chat.push(c);
                    } else {
                        batch.duplicates += 1;
                    }
                }
                Record::Event(e) => {
                    if first {
                        batch.events.push(e);
                    } else {
                        batch.duplicates += 1;
                    }
                }
                // A later version of the same row (a session's KPIs, a snapshot) replaces the
                // earlier one in place, keeping the batch free of conflicting upserts.
                Record::Intel(i) => match intel_at.get(&(i.kind, i.key.clone())) {
                    Some(&at) => {
                        batch.intel[at] = i;
                        batch.duplicates += 1;
                    }
                    None => {
                        intel_at.insert((i.kind, i.key.clone()), batch.intel.len());
                        batch.intel.push(i);
                    }
                },
            }
        }
        batch
    }

    /// Every row of the batch, in table order (for the spill log).
    pub fn records(&self) -> Vec<Record> {
        let chat = self.chat.iter().cloned().map(Record::Chat);
        let events = self.events.iter().cloned().map(Record::Event);
        let intel = self.intel.iter().cloned().map(Record::Intel);
        chat.chain(events).chain(intel).collect()
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.chat.len() + self.events.len() + self.intel.len()
    }

    /// Whether the batch holds no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Splits into two halves in order; only the second half keeps the watermark.
    pub fn split(mut self) -> (Batch, Batch) {
        let chat_tail = self.chat.split_off(self.chat.len() / 2);
        let events_tail = self.events.split_off(self.events.len() / 2);
        let intel_tail = self.intel.split_off(self.intel.len() / 2);
        let first = Batch {
            chat: self.chat,
            events: self.events,
            intel: self.intel,
            duplicates: 0,
            last_seq: 0,
            from_spill: self.from_spill,
            spill_cursor: None,
        };
        let second = Batch {
            chat: chat_tail,
            events: events_tail,
            intel: intel_tail,
            duplicates: 0,
            last_seq: self.last_seq,
            from_spill: self.from_spill,
            spill_cursor: self.spill_cursor,
        };
        (first, second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ChannelLogin, EventKind};
    use chrono::Utc;

    fn chat(id: &str) -> Record {
        Record::Chat(Arc::new(ChatRecord {
            display_name: "U".into(),
            seq: 1,
            ..ChatRecord::test_line("tester", id, "u", "t", Utc::now())
        }))
    }

    fn event(id: &str) -> Record {
        Record::Event(Arc::new(EventRecord {
            event_id: id.into(),
            channel: ChannelLogin::parse("tester").unwrap(),
            kind: EventKind::Raid,
            user_login: None,
            amount: Some(3),
            details: serde_json::Value::Null,
            occurred_at: Utc::now(),
            seq: 2,
        }))
    }

    #[test]
    fn take_drops_in_batch_duplicates_and_keeps_order() {
        let mut q: VecDeque<Record> = [
            chat("a"),
            chat("b"),
            chat("a"),
            event("e"),
            event("e"),
            chat("c"),
        ]
        .into();
        let b = Batch::take(&mut q, 5, 5);
        let ids: Vec<_> = b.chat.iter().map(|c| c.message_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(b.events.len(), 1);
        assert_eq!(b.duplicates, 2);
        assert_eq!(q.len(), 1, "only max_rows rows are taken");
    }

    #[test]
    fn split_keeps_every_row_and_only_the_second_half_advances_the_watermark() {
        let mut q: VecDeque<Record> = [chat("a"), chat("b"), chat("c"), event("e")].into();
        let b = Batch::take(&mut q, 10, 42);
        let (first, second) = b.split();
        assert_eq!(first.len() + second.len(), 4);
        assert_eq!(first.last_seq, 0);
        assert_eq!(second.last_seq, 42);
    }
}
