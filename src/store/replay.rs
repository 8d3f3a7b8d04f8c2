//! Reads channels' stored chat and events back in ingest order, for channel actors
//! restoring their state. Each table is read by its `(channel, seq)` index and the two sorted
//! pages are merged, so one page costs two index range scans whatever the history's size;
//! the pages of many channels restoring at once are read by the same two statements (see
//! `coalesce`).
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

/// A chat row with the position of the request it answers.
#[derive(Debug, sqlx::FromRow)]
struct RequestChat {
    ord: i64,
    #[sqlx(flatten)]
    chat: StoredChat,
}

type RequestEvent = (
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    serde_json::Value,
    DateTime<Utc>,
    i64,
);

/// For each `(channel, after, limit)`, up to `limit` rows of the channel with `seq > after`,
/// oldest first, in the requests' order. Two statements for any number of requests: each
/// request is an index range scan of its own (a lateral join with its own limit).
pub(crate) async fn read_many(
    pool: &PgPool,
    requests: &[(ChannelLogin, i64, usize)],
) -> Result<Vec<Vec<Record>>, sqlx::Error> {
    let channels: Vec<&str> = requests.iter().map(|r| r.0.as_str()).collect();
    let afters: Vec<i64> = requests.iter().map(|r| r.1).collect();
    let most = requests.iter().map(|r| r.2).max().unwrap_or(0);
    let lim = i64::try_from(most).unwrap_or(i64::MAX);
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let chat: Vec<RequestChat> = sqlx::query_as(&format!(
        "SELECT w.ord, c.* FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS w(channel, after, ord) \
         CROSS JOIN LATERAL (SELECT {CHAT_COLUMNS} FROM chat_messages m \
           WHERE m.channel = w.channel AND m.seq > w.after ORDER BY m.seq LIMIT $3) c \
         ORDER BY w.ord, c.seq"
    ))
    .bind(&channels)
    .bind(&afters)
    .bind(lim)
    .fetch_all(&mut *tx)
    .await?;
    let events: Vec<RequestEvent> = sqlx::query_as(
        "SELECT w.ord, e.event_id, e.kind, e.user_login, e.amount, e.details, e.occurred_at, e.seq \
         FROM unnest($1::text[], $2::int8[]) WITH ORDINALITY AS w(channel, after, ord) \
         CROSS JOIN LATERAL (SELECT event_id, kind, user_login, amount, details, occurred_at, seq \
           FROM channel_events m WHERE m.channel = w.channel AND m.seq > w.after \
           ORDER BY m.seq LIMIT $3) e \
         ORDER BY w.ord, e.seq",
    )
    .bind(&channels)
    .bind(&afters)
    .bind(lim)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    // `ord` is 1-based, from the request arrays.
    let index = |ord: i64| {
        usize::try_from(ord - 1)
            .ok()
            .filter(|&i| i < requests.len())
    };
    let mut chat_by = vec![Vec::new(); requests.len()];
    for r in chat {
        if let Some(i) = index(r.ord) {
            chat_by[i].push(Record::Chat(Arc::new(r.chat.into_record())));
        }
    }
    let mut events_by = vec![Vec::new(); requests.len()];
    for r in events {
        // A kind this build does not know (written by a newer one) is skipped, not fatal.
        let Some(kind) = EventKind::ALL.into_iter().find(|k| k.as_str() == r.2) else {
            continue;
        };
        let Some(i) = index(r.0) else {
            continue;
        };
        events_by[i].push(Record::Event(Arc::new(EventRecord {
            event_id: r.1,
            channel: requests[i].0.clone(),
            kind,
            user_login: r.3,
            amount: r.4,
            details: r.5,
            occurred_at: r.6,
            seq: r.7,
        })));
    }
    Ok(requests
        .iter()
        .zip(chat_by.into_iter().zip(events_by))
        .map(|(req, (chat, events))| merge_by_seq(chat.into_iter(), events.into_iter(), req.2))
        .collect())
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
