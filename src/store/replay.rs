//! Reads a channel's stored chat and events back in ingest order, for a channel actor
//! restoring its state. Each table is read by its `(channel, seq)` index and the two sorted
//! pages are merged, so one page costs two index range scans whatever the history's size.
//!
//! Both reads share one repeatable-read snapshot. Read in two autocommit statements, a
//! batch committing between them showed its events but not its chat; the restored
//! watermark then passed chat rows the replay never saw, and the actor skipped their
//! mailbox copies as already folded (the restore test's rare 13-17 missing messages).

use std::sync::Arc;

use byte_actors::model::{ChannelLogin, ChatRecord, EventKind, EventRecord, Record};
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// Every column of a stored chat row, in [`StoredChat`]'s order.
pub(crate) const CHAT_COLUMNS: &str = "message_id, channel, room_id, user_id, user_login, \
     display_name, text, bits, badges, emotes, is_moderator, is_subscriber, sent_at, \
     received_at, seq";

/// A `chat_messages` row as read back (replay, the ingest benchmark's baseline input).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct StoredChat {
    message_id: String,
    channel: String,
    room_id: Option<String>,
    user_id: String,
    user_login: String,
    display_name: String,
    text: String,
    bits: Option<i64>,
    badges: String,
    emotes: String,
    is_moderator: bool,
    is_subscriber: bool,
    sent_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    seq: i64,
}

impl StoredChat {
    /// The row as the runtime's record.
    pub(crate) fn into_record(self) -> ChatRecord {
        ChatRecord {
            message_id: self.message_id,
            channel: ChannelLogin::from_twitch(&self.channel),
            room_id: self.room_id,
            user_id: self.user_id,
            user_login: self.user_login,
            display_name: self.display_name,
            text: self.text,
            bits: self.bits,
            badges: self.badges,
            emotes: self.emotes,
            is_moderator: self.is_moderator,
            is_subscriber: self.is_subscriber,
            sent_at: self.sent_at,
            received_at: self.received_at,
            seq: self.seq,
        }
    }
}

type EventRow = (
    String,
    String,
    Option<String>,
    Option<i64>,
    serde_json::Value,
    DateTime<Utc>,
    i64,
);

/// Up to `limit` rows of `channel` with `seq > after`, oldest first.
pub(crate) async fn read(
    pool: &PgPool,
    channel: &ChannelLogin,
    after: i64,
    limit: usize,
) -> Result<Vec<Record>, sqlx::Error> {
    let lim = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let chat: Vec<StoredChat> = sqlx::query_as(&format!(
        "SELECT {CHAT_COLUMNS} FROM chat_messages \
         WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(channel.as_str())
    .bind(after)
    .bind(lim)
    .fetch_all(&mut *tx)
    .await?;
    let events: Vec<EventRow> = sqlx::query_as(
        "SELECT event_id, kind, user_login, amount, details, occurred_at, seq \
         FROM channel_events WHERE channel = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(channel.as_str())
    .bind(after)
    .bind(lim)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let chat = chat
        .into_iter()
        .map(|r| Record::Chat(Arc::new(r.into_record())));
    // A kind this build does not know (written by a newer one) is skipped, not fatal.
    let events = events.into_iter().filter_map(|r| {
        let kind = EventKind::ALL.into_iter().find(|k| k.as_str() == r.1)?;
        Some(Record::Event(Arc::new(EventRecord {
            event_id: r.0,
            channel: channel.clone(),
            kind,
            user_login: r.2,
            amount: r.3,
            details: r.4,
            occurred_at: r.5,
            seq: r.6,
        })))
    });
    Ok(merge_by_seq(chat, events, limit))
}

/// Merges two seq-ordered streams and keeps the first `limit`: the first `limit` of the
/// union are always among the first `limit` of each side.
fn merge_by_seq(
    a: impl Iterator<Item = Record>,
    b: impl Iterator<Item = Record>,
    limit: usize,
) -> Vec<Record> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    let mut out = Vec::new();
    while out.len() < limit {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.seq() <= y.seq(),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend(if take_a { a.next() } else { b.next() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64) -> Record {
        Record::Event(Arc::new(EventRecord {
            event_id: format!("e{seq}"),
            channel: ChannelLogin::from_twitch("chan"),
            kind: EventKind::Raid,
            user_login: None,
            amount: None,
            details: serde_json::json!({}),
            occurred_at: DateTime::<Utc>::UNIX_EPOCH,
            seq,
        }))
    }

    #[test]
    fn merge_keeps_order_and_limit() {
        let a = [1, 4, 5, 9].map(event);
        let b = [2, 3, 10].map(event);
        let merged = merge_by_seq(a.into_iter(), b.into_iter(), 5);
        let seqs: Vec<_> = merged.iter().filter_map(Record::seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5]);
    }
}
