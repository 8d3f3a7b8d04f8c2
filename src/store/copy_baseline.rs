//! Raw `COPY ... FROM STDIN (FORMAT binary)` writer for chat rows: the baseline the
//! `INSERT ... SELECT FROM UNNEST` write path is benchmarked against.
//!
//! Why binary: it is the fastest way to get rows into Postgres (no text parsing of timestamps
//! or numbers on the server), so it is the honest upper bound. Why a scratch table created
//! `LIKE chat_messages INCLUDING ALL`, and *logged*: it has the same columns, defaults (the
//! `seq` sequence), primary key and index as the real table, so the comparison measures only
//! the protocol and statement, not a cheaper table. An unlogged table would skip WAL, which
//! the real table cannot. What COPY does not do is the real path's `ON CONFLICT DO NOTHING`:
//! a duplicate id fails the whole copy. That is why it is a baseline and not the write path.
//!
//! Rows are streamed in chunks of about 1 MiB, so memory stays flat for any batch size.

use std::borrow::Borrow;

use byte_actors::model::ChatRecord;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::DbError;
use super::pg::no_nul;

/// Column order of the COPY stream; `seq` is left to its default.
const COLUMNS: &str = "message_id, channel, room_id, user_id, user_login, display_name, text, \
                       bits, badges, emotes, is_moderator, is_subscriber, sent_at, received_at";
const FIELD_COUNT: i16 = 14;
/// Flush to the server whenever the buffer reaches this size.
const CHUNK_BYTES: usize = 1 << 20;
/// Microseconds between the Unix epoch and Postgres's epoch (2000-01-01 UTC).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// Checks that `table` is a plain lowercase identifier, since it is formatted into SQL.
fn checked_identifier(table: &str) -> Result<&str, DbError> {
    let mut chars = table.chars();
    let valid = table.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(table)
    } else {
        Err(DbError::InvalidData(format!(
            "{table:?} is not a plain table name (a-z, 0-9, _)"
        )))
    }
}

/// (Re)creates `table` as an empty copy of `chat_messages`: same columns, defaults, primary
/// key and indexes, logged.
pub async fn create_scratch_table(pool: &PgPool, table: &str) -> Result<(), DbError> {
    let table = checked_identifier(table)?;
    let mut tx = pool
        .begin()
        .await
        .map_err(DbError::query("begin scratch table"))?;
    sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
        .execute(&mut *tx)
        .await
        .map_err(DbError::query("drop scratch table"))?;
    sqlx::query(&format!(
        "CREATE TABLE {table} (LIKE chat_messages INCLUDING ALL)"
    ))
    .execute(&mut *tx)
    .await
    .map_err(DbError::query("create scratch table"))?;
    tx.commit()
        .await
        .map_err(DbError::query("commit scratch table"))?;
    Ok(())
}

/// Streams `rows` into `table` with binary COPY and returns the number of rows copied. The
/// table must have `chat_messages`' columns (see [`create_scratch_table`]); any error,
/// including a duplicate id, aborts the whole copy. Takes `&[ChatRecord]` as well as
/// `&[Arc<ChatRecord>]` (what `write_batch` gets), so a benchmark can feed both the same rows.
pub async fn copy_chat_rows<R>(pool: &PgPool, table: &str, rows: &[R]) -> Result<u64, DbError>
where
    R: Borrow<ChatRecord> + Sync,
{
    let table = checked_identifier(table)?;
    let mut conn = pool
        .acquire()
        .await
        .map_err(DbError::query("acquire connection for COPY"))?;
    let result = async {
        // A large baseline (millions of rows) is one statement: lift the pool's statement
        // timeout for it, and put it back before the connection returns to the pool.
        sqlx::query("SET statement_timeout = 0")
            .execute(&mut *conn)
            .await?;
        let mut copy = conn
            .copy_in_raw(&format!(
                "COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"
            ))
            .await?;
        let mut buf = Vec::with_capacity(CHUNK_BYTES + 4096);
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
        let n = copy.finish().await?;
        sqlx::query("RESET statement_timeout")
            .execute(&mut *conn)
            .await?;
        Ok(n)
    }
    .await;
    match result {
        Ok(n) => Ok(n),
        Err(e) => {
            // The copy may have been cut mid-stream; do not hand this connection to anyone else.
            let _ = conn.close().await;
            Err(DbError::Query {
                context: "COPY chat rows",
                source: e,
            })
        }
    }
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
    fn identifiers_are_checked() {
        assert!(checked_identifier("chat_copy_1").is_ok());
        assert!(checked_identifier("_x").is_ok());
        assert!(checked_identifier("1abc").is_err());
        assert!(checked_identifier("t; DROP TABLE chat_messages").is_err());
        assert!(checked_identifier("Chat").is_err());
        assert!(checked_identifier("").is_err());
    }

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
}
