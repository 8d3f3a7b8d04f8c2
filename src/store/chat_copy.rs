//! Binary `COPY ... FROM STDIN` of chat rows: the write path's fast lane and the benchmark's
//! baseline, sharing one encoder so both store byte-identical rows.
//!
//! Why binary COPY for chat: it is the cheapest way into Postgres for both sides. The client
//! writes each row once into a buffer (no per-column arrays, no bind parameters), and the
//! server neither parses text nor expands arrays: a 5,000-row batch costs a fraction of the
//! equivalent `INSERT ... SELECT unnest(...)` (docs/benchmarks.md). What COPY cannot do is
//! skip a row already stored: a duplicate id fails the whole statement, which is why
//! [`super::pg`] falls back to `INSERT ... ON CONFLICT DO NOTHING` for that batch.

use std::borrow::Borrow;

use byte_actors::model::ChatRecord;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::pg::no_nul;

/// Column order of the COPY stream (every column, so the rows are exactly what was given).
pub(crate) const COLUMNS: &str = "message_id, channel, room_id, user_id, user_login, \
                                  display_name, text, bits, badges, emotes, is_moderator, \
                                  is_subscriber, sent_at, received_at, seq";
const FIELD_COUNT: i16 = 15;
/// Send to the server whenever the buffer reaches this size, so memory stays flat for any
/// number of rows.
const CHUNK_BYTES: usize = 1 << 20;
/// Microseconds between the Unix epoch and Postgres's epoch (2000-01-01 UTC).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// Streams `rows` into `table` (a trusted identifier with `chat_messages`' columns) on
/// `conn` and returns the rows copied. Any error, a duplicate id included, aborts the whole
/// copy; inside a transaction the transaction is then failed and must be rolled back.
pub(crate) async fn copy_chat<R>(
    conn: &mut PgConnection,
    table: &str,
    rows: &[R],
) -> Result<u64, sqlx::Error>
where
    R: Borrow<ChatRecord>,
{
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .await?;
    let mut buf = Vec::with_capacity(CHUNK_BYTES.min(64 + rows.len() * 256) + 4096);
    write_header(&mut buf);
    for row in rows {
        write_row(&mut buf, row.borrow());
        if buf.len() >= CHUNK_BYTES {
            copy.send(std::mem::replace(
                &mut buf,
                Vec::with_capacity(CHUNK_BYTES + 4096),
            ))
            .await?;
        }
    }
    // File trailer: a field count of -1.
    buf.extend_from_slice(&(-1i16).to_be_bytes());
    copy.send(buf).await?;
    copy.finish().await
}

/// Binary COPY header: signature, flags (no OIDs), header-extension length.
fn write_header(buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&0i32.to_be_bytes());
    buf.extend_from_slice(&0i32.to_be_bytes());
}

/// One tuple: field count, then per field its byte length (-1 for NULL) and value in the
/// type's binary send format.
fn write_row(buf: &mut Vec<u8>, r: &ChatRecord) {
    buf.extend_from_slice(&FIELD_COUNT.to_be_bytes());
    put_text(buf, &r.message_id);
    put_text(buf, r.channel.as_str());
    match &r.room_id {
        Some(room) => put_text(buf, room),
        None => put_null(buf),
    }
    put_text(buf, &r.user_id);
    put_text(buf, &r.user_login);
    put_text(buf, &r.display_name);
    put_text(buf, &r.text);
    match r.bits {
        Some(bits) => put_field(buf, &bits.to_be_bytes()),
        None => put_null(buf),
    }
    put_text(buf, &r.badges);
    put_text(buf, &r.emotes);
    put_field(buf, &[u8::from(r.is_moderator)]);
    put_field(buf, &[u8::from(r.is_subscriber)]);
    put_timestamp(buf, r.sent_at);
    put_timestamp(buf, r.received_at);
    put_field(buf, &r.seq.to_be_bytes());
}

fn put_field(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Field lengths are i32; a single chat field never approaches 2 GiB.
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
}

fn put_null(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&(-1i32).to_be_bytes());
}

fn put_text(buf: &mut Vec<u8>, s: &str) {
    // Same NUL rule as the INSERT path, so both paths store identical rows.
    put_field(buf, no_nul(s).as_bytes());
}

/// `timestamptz` travels as microseconds since 2000-01-01 UTC.
fn put_timestamp(buf: &mut Vec<u8>, at: DateTime<Utc>) {
    put_field(
        buf,
        &(at.timestamp_micros() - PG_EPOCH_OFFSET_MICROS).to_be_bytes(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_use_the_postgres_epoch() {
        let mut buf = Vec::new();
        let pg_epoch = DateTime::parse_from_rfc3339("2000-01-01T00:00:00.000001Z")
            .unwrap()
            .with_timezone(&Utc);
        put_timestamp(&mut buf, pg_epoch);
        assert_eq!(&buf[..4], &8i32.to_be_bytes());
        assert_eq!(&buf[4..], &1i64.to_be_bytes());
    }

    #[test]
    fn a_row_carries_every_column_and_nulls_as_minus_one() {
        let row = ChatRecord {
            message_id: "m\0id".into(),
            channel: byte_actors::model::ChannelLogin::from_twitch("chan"),
            room_id: None,
            user_id: "1".into(),
            user_login: "u".into(),
            display_name: "U".into(),
            text: "hi".into(),
            bits: None,
            badges: String::new(),
            emotes: String::new(),
            is_moderator: true,
            is_subscriber: false,
            sent_at: Utc::now(),
            received_at: Utc::now(),
            seq: 7,
        };
        let mut buf = Vec::new();
        write_row(&mut buf, &row);
        assert_eq!(&buf[..2], &FIELD_COUNT.to_be_bytes());
        // The NUL is dropped like the INSERT path does: "mid".
        assert_eq!(&buf[2..6], &3i32.to_be_bytes());
        assert_eq!(&buf[6..9], b"mid");
        // The row ends with seq: length 8, value 7.
        assert_eq!(&buf[buf.len() - 12..buf.len() - 8], &8i32.to_be_bytes());
        assert_eq!(&buf[buf.len() - 8..], &7i64.to_be_bytes());
        let nulls = buf
            .windows(4)
            .filter(|w| *w == (-1i32).to_be_bytes())
            .count();
        assert!(nulls >= 2, "room_id and bits are NULL");
    }
}
