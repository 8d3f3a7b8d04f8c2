//! Raw `COPY ... FROM STDIN (FORMAT binary)` of chat rows from one connection outside any
//! transaction: the baseline the write path is benchmarked against. It uses the write path's
//! own encoder ([`super::chat_copy`]), so the comparison is the whole path (actors, batching,
//! idempotency, the transaction with the events) against the bare statement.
//!
//! Why binary: it is the fastest way to get rows into Postgres (no text parsing of timestamps
//! or numbers on the server), so it is the honest upper bound. Why a scratch table created
//! `LIKE chat_messages INCLUDING ALL`, and *logged*: it has the same columns, defaults (the
//! `seq` sequence), primary key and index as the real table, so the comparison measures only
//! the statement, not a cheaper table. An unlogged table would skip WAL, which the real
//! table cannot.
//!
//! Rows are streamed in chunks of about 1 MiB, so memory stays flat for any batch size.

use std::borrow::Borrow;

use byte_actors::model::ChatRecord;
use sqlx::PgPool;

use super::DbError;

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
        let n = super::chat_copy::copy_chat(&mut conn, table, rows).await?;
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
}
