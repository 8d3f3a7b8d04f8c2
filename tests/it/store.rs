//! Storage layer against a real PostgreSQL: the batched idempotent write path, field
//! round-trips, error classification, channel records, the COPY baseline, migrations, and the
//! embedded server's lifecycle (reuse, concurrency, stop, crash recovery).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use byte_actors::model::{ChannelLogin, ChatRecord, EventKind, EventRecord, Record};
use byte_actors::ports::{Store, StoreError};
use bytebot::store::embedded::UnixUser;
use bytebot::store::{
    self, DbError, EmbeddedError, EmbeddedPostgres, PgStore, channels, copy_baseline,
};
use chrono::{DateTime, Utc};
use sqlx::{Connection, PgConnection, PgPool, Row};

use crate::common::{chat_rows, event_rows, login, test_db, ts_millis, unique_prefix};
use crate::support::eventually;

async fn read_chat(pool: &PgPool, message_id: &str) -> ChatRecord {
    let row = sqlx::query(
        "SELECT message_id, channel, room_id, user_id, user_login, display_name, text, bits, \
             badges, emotes, is_moderator, is_subscriber, sent_at, received_at, seq \
         FROM chat_messages WHERE message_id = $1",
    )
    .bind(message_id)
    .fetch_one(pool)
    .await
    .unwrap();
    ChatRecord {
        message_id: row.get("message_id"),
        channel: ChannelLogin::from_twitch(row.get("channel")),
        room_id: row.get("room_id"),
        user_id: row.get("user_id"),
        user_login: row.get("user_login"),
        display_name: row.get("display_name"),
        text: row.get("text"),
        bits: row.get("bits"),
        badges: row.get("badges"),
        emotes: row.get("emotes"),
        is_moderator: row.get("is_moderator"),
        is_subscriber: row.get("is_subscriber"),
        sent_at: row.get("sent_at"),
        received_at: row.get("received_at"),
        seq: row.get("seq"),
    }
}

async fn read_event(pool: &PgPool, event_id: &str) -> EventRecord {
    let row = sqlx::query(
        "SELECT event_id, channel, kind, user_login, amount, details, occurred_at, seq \
         FROM channel_events WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_one(pool)
    .await
    .unwrap();
    let kind: String = row.get("kind");
    EventRecord {
        event_id: row.get("event_id"),
        channel: ChannelLogin::from_twitch(row.get("channel")),
        kind: *EventKind::ALL
            .iter()
            .find(|k| k.as_str() == kind)
            .unwrap_or_else(|| panic!("unknown kind {kind}")),
        user_login: row.get("user_login"),
        amount: row.get("amount"),
        details: row.get("details"),
        occurred_at: row.get("occurred_at"),
        seq: row.get("seq"),
    }
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap().port()
    // Dropped here: nothing listens on the port afterwards.
}

#[tokio::test]
async fn write_batch_inserts_and_is_idempotent() {
    let db = test_db().await;
    let store = PgStore::new(db.pool.clone());
    let chan = login("idempotent_chan");
    let p = unique_prefix();
    let chat = chat_rows(&chan, &p, 50);
    let events = event_rows(&chan, &p, 20);

    let first = store.write_batch(&chat, &events).await.unwrap();
    assert_eq!(first.chat_inserted, 50);
    assert_eq!(first.events_inserted, 20);

    let second = store.write_batch(&chat, &events).await.unwrap();
    assert_eq!(
        second.chat_inserted, 0,
        "replayed chat must not be inserted again"
    );
    assert_eq!(
        second.events_inserted, 0,
        "replayed events must not be inserted again"
    );
    assert_eq!(store::count_chat(&db.pool, Some(&chan)).await.unwrap(), 50);
    assert_eq!(
        store::count_events(&db.pool, Some(&chan)).await.unwrap(),
        20
    );

    // Half old, half new: only the new half counts.
    let mixed: Vec<_> = chat_rows(&chan, &p, 75).into_iter().skip(25).collect();
    let third = store.write_batch(&mixed, &[]).await.unwrap();
    assert_eq!(third.chat_inserted, 25);
    assert_eq!(third.events_inserted, 0);

    // A fresh store tries a plain insert first; the stored half makes it fall back to
    // ON CONFLICT, and only the new rows count.
    let fresh = PgStore::new(db.pool.clone());
    let mixed: Vec<_> = chat_rows(&chan, &p, 100).into_iter().skip(50).collect();
    let fourth = fresh.write_batch(&mixed, &[]).await.unwrap();
    assert_eq!(fourth.chat_inserted, 25);

    // Other channels are counted separately; `None` counts all.
    let other = login("other_chan");
    store
        .write_batch(&chat_rows(&other, &unique_prefix(), 3), &[])
        .await
        .unwrap();
    assert_eq!(store::count_chat(&db.pool, Some(&chan)).await.unwrap(), 100);
    assert_eq!(store::count_chat(&db.pool, Some(&other)).await.unwrap(), 3);
    assert_eq!(store::count_chat(&db.pool, None).await.unwrap(), 103);

    // Empty batch is a no-op.
    let empty = store.write_batch(&[], &[]).await.unwrap();
    assert_eq!((empty.chat_inserted, empty.events_inserted), (0, 0));
}

#[tokio::test]
async fn chat_fields_round_trip_exactly() {
    let db = test_db().await;
    let store = PgStore::new(db.pool.clone());
    let chan = login("gaules");
    let full = ChatRecord {
        message_id: "b34ccfc7-4977-403a-8a94-33c6bac34fb8".into(),
        channel: chan.clone(),
        room_id: Some("181077473".into()),
        user_id: "123456".into(),
        user_login: "joão_silva".into(),
        display_name: "João_Silva".into(),
        text: "Olá, ação! Pão de açúcar: «ótimo» 🎉🔥 \"aspas\" 'simples' \\barra\\ ; DROP TABLE x; -- ✓"
            .into(),
        bits: Some(1_000_000_000_000),
        badges: "broadcaster/1,subscriber/3012".into(),
        emotes: "25:0-4,12-16/1902:6-10".into(),
        is_moderator: true,
        is_subscriber: true,
        sent_at: ts_millis(1_717_171_717_123),
        received_at: ts_millis(1_717_171_717_999),
        seq: 1_717_171_717_999_001,
    };
    let sparse = ChatRecord {
        message_id: "sparse-1".into(),
        channel: ChannelLogin::from_twitch("abc"), // legacy short login: accepted in chat
        room_id: None,
        user_id: String::new(),
        user_login: "x".into(),
        display_name: String::new(),
        text: String::new(),
        bits: None,
        badges: String::new(),
        emotes: String::new(),
        is_moderator: false,
        is_subscriber: false,
        sent_at: ts_millis(0),
        received_at: ts_millis(1),
        seq: 1_000,
    };
    let out = store
        .write_batch(&[Arc::new(full.clone()), Arc::new(sparse.clone())], &[])
        .await
        .unwrap();
    assert_eq!(out.chat_inserted, 2);
    assert_eq!(read_chat(&db.pool, &full.message_id).await, full);
    assert_eq!(read_chat(&db.pool, &sparse.message_id).await, sparse);

    // Millisecond precision survives; sub-millisecond too (Postgres keeps microseconds).
    let micro: DateTime<Utc> = "2024-05-31T16:08:37.123456Z".parse().unwrap();
    let precise = ChatRecord {
        message_id: "micro".into(),
        sent_at: micro,
        received_at: micro,
        ..full.clone()
    };
    store.write_batch(&[Arc::new(precise)], &[]).await.unwrap();
    assert_eq!(read_chat(&db.pool, "micro").await.sent_at, micro);

    // NUL cannot be stored in text; it is stripped instead of failing the batch.
    let nul = ChatRecord {
        message_id: "nul-1".into(),
        display_name: "a\0b".into(),
        text: "x\0y".into(),
        ..full.clone()
    };
    let out = store.write_batch(&[Arc::new(nul)], &[]).await.unwrap();
    assert_eq!(out.chat_inserted, 1);
    let back = read_chat(&db.pool, "nul-1").await;
    assert_eq!(
        (back.display_name.as_str(), back.text.as_str()),
        ("ab", "xy")
    );
}

#[tokio::test]
async fn events_round_trip_with_jsonb_details() {
    let db = test_db().await;
    let store = PgStore::new(db.pool.clone());
    let chan = login("events_chan");
    let p = unique_prefix();
    let events = event_rows(&chan, &p, EventKind::ALL.len());
    let out = store.write_batch(&[], &events).await.unwrap();
    assert_eq!(out.events_inserted, EventKind::ALL.len() as u64);
    for event in &events {
        assert_eq!(&read_event(&db.pool, &event.event_id).await, event.as_ref());
    }
    // jsonb is queryable, not an opaque string.
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT details->>'kind' FROM channel_events WHERE details->'nested'->>'flag' = 'true' \
         ORDER BY event_id",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(kinds.len(), EventKind::ALL.len().div_ceil(2));

    // `\u0000` is illegal in jsonb; stripped rather than rejecting the batch.
    let nul = EventRecord {
        event_id: format!("{p}-nul"),
        details: serde_json::json!({"msg\u{0}": "a\u{0}b", "list": ["\u{0}"]}),
        ..(*events[0]).clone()
    };
    store
        .write_batch(&[], &[Arc::new(nul.clone())])
        .await
        .unwrap();
    assert_eq!(
        read_event(&db.pool, &nul.event_id).await.details,
        serde_json::json!({"msg": "ab", "list": [""]})
    );
}

#[tokio::test]
async fn replay_returns_a_channels_rows_in_ingest_order_across_both_tables() {
    let db = test_db().await;
    let store = PgStore::new(db.pool.clone());
    let chan = login("seq_chan");
    let other = login("seq_other");
    let p = unique_prefix();
    // Positions interleave chat and events; rows are written out of order and in two
    // batches, and another channel's rows sit in between.
    let mut chat = chat_rows(&chan, &p, 100);
    let mut events = event_rows(&chan, &p, 10);
    for (i, c) in chat.iter_mut().enumerate() {
        Arc::make_mut(c).seq = 1_000 + 10 * i as i64;
    }
    for (i, e) in events.iter_mut().enumerate() {
        Arc::make_mut(e).seq = 1_005 + 100 * i as i64;
    }
    let noise = chat_rows(&other, &format!("{p}-o"), 20);
    let (first, second) = chat.split_at(60);
    store.write_batch(second, &events[5..]).await.unwrap();
    store.write_batch(&noise, &[]).await.unwrap();
    store.write_batch(first, &events[..5]).await.unwrap();

    let mut expected: Vec<(i64, String)> = chat
        .iter()
        .map(|c| (c.seq, c.message_id.clone()))
        .chain(events.iter().map(|e| (e.seq, e.event_id.clone())))
        .collect();
    expected.sort();
    // Paged like a restore reads it: 7 rows at a time from the last position seen.
    let mut got = Vec::new();
    let mut after = 0;
    loop {
        let page = store.replay(&chan, after, 7).await.unwrap();
        assert!(page.len() <= 7);
        for row in &page {
            let (seq, id) = match row {
                Record::Chat(c) => (c.seq, c.message_id.clone()),
                Record::Event(e) => (e.seq, e.event_id.clone()),
                Record::Intel(_) => panic!("replay returns raw rows only"),
            };
            assert!(seq > after, "pages continue after the last position");
            after = seq;
            got.push((seq, id));
        }
        if page.len() < 7 {
            break;
        }
    }
    assert_eq!(got, expected);
    // A replayed row is the stored row, field for field.
    let from_replay = store.replay(&chan, 1_000 + 10 * 41, 1).await.unwrap();
    assert_eq!(from_replay, vec![Record::Chat(chat[42].clone())]);
}

/// A restore replays while ingest keeps committing. Each batch holds chat rows and an
/// event positioned after them; a replay must see whole batches, never a batch's event
/// without its chat, or the restored watermark would pass chat rows it never folded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_sees_whole_batches_while_batches_commit() {
    const BATCHES: i64 = 150;
    let db = test_db().await;
    let store = Arc::new(PgStore::new(db.pool.clone()));
    let chan = login("seq_race");
    let p = unique_prefix();
    let writer = {
        let (store, chan, p) = (store.clone(), chan.clone(), p.clone());
        tokio::spawn(async move {
            for b in 0..BATCHES {
                let mut chat = chat_rows(&chan, &format!("{p}-{b}"), 10);
                let mut events = event_rows(&chan, &format!("{p}-{b}"), 1);
                for (i, c) in chat.iter_mut().enumerate() {
                    Arc::make_mut(c).seq = b * 100 + 1 + i as i64;
                }
                Arc::make_mut(&mut events[0]).seq = b * 100 + 50;
                store.write_batch(&chat, &events).await.unwrap();
            }
        })
    };
    let mut partial_reads = 0u32;
    loop {
        let done = writer.is_finished();
        let rows = store.replay(&chan, 0, 100_000).await.unwrap();
        let events = rows
            .iter()
            .filter(|r| matches!(r, Record::Event(_)))
            .count();
        let chats = rows.len() - events;
        assert_eq!(
            chats,
            10 * events,
            "a replay saw {events} batches' events but {chats} chat rows"
        );
        if events > 0 && (events as i64) < BATCHES {
            partial_reads += 1;
        }
        if done {
            assert_eq!(events as i64, BATCHES, "every batch is stored");
            break;
        }
    }
    writer.await.unwrap();
    assert!(
        partial_reads > 0,
        "the replays ran while batches were committing"
    );
}

#[tokio::test]
async fn ten_thousand_rows_in_one_batch_and_copy_baseline() {
    let db = test_db().await;
    let store = PgStore::new(db.pool.clone());
    let chan = login("big_batch_chan");
    let p = unique_prefix();
    let rows = chat_rows(&chan, &p, 10_000);

    let started = Instant::now();
    let out = store.write_batch(&rows, &[]).await.unwrap();
    let insert_secs = started.elapsed().as_secs_f64();
    assert_eq!(out.chat_inserted, 10_000);
    assert_eq!(
        store::count_chat(&db.pool, Some(&chan)).await.unwrap(),
        10_000
    );

    let started = Instant::now();
    let again = store.write_batch(&rows, &[]).await.unwrap();
    let replay_secs = started.elapsed().as_secs_f64();
    assert_eq!(again.chat_inserted, 0);
    assert_eq!(store::count_chat(&db.pool, None).await.unwrap(), 10_000);

    // The COPY baseline writes the very same rows into a twin table...
    copy_baseline::create_scratch_table(&db.pool, "chat_copy")
        .await
        .unwrap();
    let started = Instant::now();
    let copied = copy_baseline::copy_chat_rows(&db.pool, "chat_copy", &rows)
        .await
        .unwrap();
    let copy_secs = started.elapsed().as_secs_f64();
    assert_eq!(copied, 10_000);
    let in_copy: i64 = sqlx::query_scalar("SELECT count(*) FROM chat_copy")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(in_copy, 10_000);
    // ...and both paths store byte-identical rows.
    let differing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ( \
           (SELECT message_id, channel, room_id, user_id, user_login, display_name, text, bits, \
                   badges, emotes, is_moderator, is_subscriber, sent_at, received_at \
            FROM chat_messages \
            EXCEPT \
            SELECT message_id, channel, room_id, user_id, user_login, display_name, text, bits, \
                   badges, emotes, is_moderator, is_subscriber, sent_at, received_at \
            FROM chat_copy)) d",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        differing, 0,
        "COPY and INSERT..UNNEST must store identical rows"
    );
    // The twin has the same primary key, so the comparison is fair and COPY cannot dedupe.
    let dup = copy_baseline::copy_chat_rows(&db.pool, "chat_copy", &rows[..1]).await;
    assert!(matches!(dup, Err(DbError::Query { .. })), "{dup:?}");
    // The pool still works after the failed COPY.
    assert_eq!(store::count_chat(&db.pool, None).await.unwrap(), 10_000);

    eprintln!(
        "10k chat rows: write_batch {:.0} rows/s ({insert_secs:.3}s), replay {:.0} rows/s, \
         binary COPY {:.0} rows/s ({copy_secs:.3}s) [{} build]",
        10_000.0 / insert_secs,
        10_000.0 / replay_secs,
        10_000.0 / copy_secs,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
    );
}

#[tokio::test]
async fn copy_baseline_rejects_unsafe_table_names() {
    let db = test_db().await;
    let rows = chat_rows(&login("copy_chan"), &unique_prefix(), 1);
    for bad in ["chat_messages; DROP TABLE channels", "Chat", "1x", ""] {
        let err = copy_baseline::copy_chat_rows(&db.pool, bad, &rows).await;
        assert!(
            matches!(err, Err(DbError::InvalidData(_))),
            "{bad:?}: {err:?}"
        );
        let err = copy_baseline::create_scratch_table(&db.pool, bad).await;
        assert!(
            matches!(err, Err(DbError::InvalidData(_))),
            "{bad:?}: {err:?}"
        );
    }
    assert!(channels::list_active(&db.pool).await.is_ok());
}

#[tokio::test]
async fn bad_data_is_rejected_and_nothing_is_committed() {
    let db = test_db().await;
    let store = PgStore::new(db.pool.clone());
    let chan = login("reject_chan");
    let p = unique_prefix();
    let mut rows = chat_rows(&chan, &p, 10);
    // Postgres timestamps start at 4713 BC.
    let ancient = ChatRecord {
        sent_at: "-5000-01-01T00:00:00Z".parse().unwrap(),
        ..(*rows[9]).clone()
    };
    rows[9] = Arc::new(ancient);
    let events = event_rows(&chan, &p, 3);
    let err = store.write_batch(&rows, &events).await.unwrap_err();
    assert!(matches!(err, StoreError::Rejected(_)), "{err:?}");
    // One transaction: neither the good chat rows nor the events were stored.
    assert_eq!(store::count_chat(&db.pool, None).await.unwrap(), 0);
    assert_eq!(store::count_events(&db.pool, None).await.unwrap(), 0);
    // And the store keeps working.
    let out = store.write_batch(&rows[..9], &events).await.unwrap();
    assert_eq!((out.chat_inserted, out.events_inserted), (9, 3));
}

#[tokio::test]
async fn unreachable_database_is_unavailable_and_secret_free() {
    let port = closed_port();
    let url = format!("postgres://bytebot:hunter2secret@127.0.0.1:{port}/bytebot");

    let pool = store::connect_lazy(&url).unwrap();
    let store = PgStore::new(pool);
    let started = Instant::now();
    let err = store
        .write_batch(&chat_rows(&login("down_chan"), "x", 1), &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2secret"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "an outage must surface quickly, took {:?}",
        started.elapsed()
    );

    let err = store.ping(Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    let err = store::connect(&url).await.unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, DbError::Connect { .. }), "{err:?}");
    assert!(!shown.contains("hunter2secret"), "{shown}");
    assert!(!format!("{err:?}").contains("hunter2secret"));
    assert!(shown.contains("bytebot:***@127.0.0.1"), "{shown}");

    let err = store::connect_lazy("postgres://u:hunter2secret@h:notaport/db").unwrap_err();
    assert!(!err.to_string().contains("hunter2secret"), "{err}");
}

#[tokio::test]
async fn killed_connection_is_unavailable_and_pool_recovers() {
    let db = test_db().await;
    let store = PgStore::new(db.pool.clone());
    assert!(store.ping(Duration::from_secs(5)).await.is_ok());

    let mut tx = db.pool.begin().await.unwrap();
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let mut admin = PgConnection::connect(&db.url).await.unwrap();
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(backend)
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(killed);
    let err = sqlx::query("SELECT 1").execute(&mut *tx).await.unwrap_err();
    // 57P01 (admin shutdown) or a closed socket, depending on timing: both mean "retry".
    assert!(
        matches!(store::classify_error(&err), StoreError::Unavailable(_)),
        "{err:?}"
    );
    drop(tx);

    // Later writes get a healthy connection.
    let out = store
        .write_batch(&chat_rows(&login("recover_chan"), &unique_prefix(), 5), &[])
        .await
        .unwrap();
    assert_eq!(out.chat_inserted, 5);
    let _ = admin.close().await;
}

#[tokio::test]
async fn channels_join_part_list_get() {
    let db = test_db().await;
    let pool = &db.pool;
    let (a, b, c) = (login("alpha_chan"), login("beta_chan"), login("gamma_chan"));

    assert!(channels::list_active(pool).await.unwrap().is_empty());
    assert!(channels::get(pool, &a).await.unwrap().is_none());

    assert!(channels::join(pool, &b).await.unwrap(), "new channel");
    assert!(channels::join(pool, &a).await.unwrap(), "new channel");
    assert!(!channels::join(pool, &a).await.unwrap(), "already active");
    assert_eq!(
        channels::list_active(pool).await.unwrap(),
        vec![a.clone(), b.clone()]
    );

    let rec = channels::get(pool, &a).await.unwrap().unwrap();
    assert_eq!(rec.login, a);
    assert!(rec.active);
    assert_eq!(rec.config, serde_json::json!({}));
    assert_eq!(rec.room_id, None);
    assert!(rec.updated_at >= rec.created_at);

    assert!(channels::part(pool, &a).await.unwrap(), "existed");
    assert!(
        channels::part(pool, &a).await.unwrap(),
        "still exists, inactive"
    );
    assert!(!channels::part(pool, &c).await.unwrap(), "never joined");
    assert!(
        channels::get(pool, &c).await.unwrap().is_none(),
        "part must not create"
    );
    assert_eq!(channels::list_active(pool).await.unwrap(), vec![b.clone()]);
    let parted = channels::get(pool, &a).await.unwrap().unwrap();
    assert!(!parted.active);
    assert!(parted.updated_at >= rec.updated_at);
    assert_eq!(parted.created_at, rec.created_at);

    // Re-joining re-activates the same row (config and created_at survive).
    sqlx::query("UPDATE channels SET config = '{\"persona\": \"calm\"}' WHERE login = $1")
        .bind(a.as_str())
        .execute(pool)
        .await
        .unwrap();
    assert!(channels::join(pool, &a).await.unwrap(), "re-activated");
    let rejoined = channels::get(pool, &a).await.unwrap().unwrap();
    assert!(rejoined.active);
    assert_eq!(rejoined.created_at, rec.created_at);
    assert_eq!(rejoined.config, serde_json::json!({"persona": "calm"}));
    assert_eq!(channels::list_active(pool).await.unwrap(), vec![a, b]);
}

#[tokio::test]
async fn schema_enforces_channel_rules_and_migrations_are_idempotent() {
    let db = test_db().await;
    for bad in [
        "abc",
        "UpperCase",
        "with-dash",
        "a_very_long_login_name_over_25",
    ] {
        let err = sqlx::query("INSERT INTO channels (login) VALUES ($1)")
            .bind(bad)
            .execute(&db.pool)
            .await
            .unwrap_err();
        let code = err.as_database_error().and_then(|e| e.code()).unwrap();
        assert_eq!(code, "23514", "{bad}: {err}");
    }
    let err = sqlx::query("INSERT INTO channels (login, config) VALUES ('okay_login', '[]')")
        .execute(&db.pool)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("channels_config_object"), "{err}");

    store::migrate(&db.pool).await.unwrap();
    let vector: String =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert!(!vector.is_empty());
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
         AND tablename NOT LIKE '\\_sqlx%' ORDER BY 1",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "api_tokens",
            "autonomy_actions",
            "autonomy_settings",
            "channel_events",
            "channel_hints",
            "channel_models",
            "channel_rollups",
            "channel_snapshots",
            "channels",
            "chat_messages",
            "clip_candidates",
            "copilot_replies",
            "goal_outcomes",
            "llm_channel_budgets",
            "llm_usage",
            "memory_entries",
            "playbook_runs",
            "post_stream_reports",
            "prompt_profiles",
            "runtime_settings",
            "stream_sessions",
        ]
    );
    // Hot tables: no foreign keys, and only the PK plus the (channel, time) index for history
    // and the (channel, seq) index for restore.
    let fks: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' \
         AND conrelid IN ('chat_messages'::regclass, 'channel_events'::regclass)",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(fks, 0);
    let indexes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE tablename IN ('chat_messages', 'channel_events')",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(
        indexes, 6,
        "PK, (channel, time) and (channel, seq) per table"
    );
}

#[test]
fn passwd_parsing_resolves_users() {
    let passwd = "root:x:0:0:root:/root:/bin/bash\n\
                  # comment\n\
                  \n\
                  nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
                  pg:x:1001:1002::/home/pg:/bin/sh\n\
                  bad:x:oops:1::/:/bin/sh\n";
    let pg = UnixUser::from_passwd(passwd, "pg").unwrap();
    assert_eq!((pg.uid, pg.gid), (1001, 1002));
    assert_eq!(UnixUser::from_passwd(passwd, "nobody").unwrap().uid, 65534);
    assert!(UnixUser::from_passwd(passwd, "bad").is_none());
    assert!(UnixUser::from_passwd(passwd, "no").is_none());
    assert!(UnixUser::from_passwd(passwd, "ghost").is_none());
    // The real file has root.
    assert_eq!(UnixUser::lookup("root").unwrap().uid, 0);
    assert!(matches!(
        UnixUser::lookup("no_such_user_bytebot"),
        Err(EmbeddedError::UserNotFound { .. })
    ));
}

#[test]
fn missing_install_points_at_setup_script() {
    let err = EmbeddedPostgres::from_install_dir("/nonexistent/pginstall").unwrap_err();
    assert!(
        matches!(err, EmbeddedError::InvalidInstall { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("scripts/setup.sh"), "{err}");
}

// ---- embedded server lifecycle, each on a private data dir ---------------------------------

/// A private data directory; its server is stopped (immediate mode) and the directory removed
/// when the test ends, even on panic.
struct ScratchPg {
    dir: PathBuf,
    pg: EmbeddedPostgres,
}

impl ScratchPg {
    fn new(tag: &str) -> Self {
        // Beside the shared test server, so the user Postgres runs as can reach it.
        let dir = crate::common::test_pg_dir()
            .with_file_name("test-pg-scratch")
            .join(format!("{tag}-{}-{}", std::process::id(), unique_prefix()));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = EmbeddedPostgres::locate().unwrap_or_else(|e| panic!("{e}"));
        Self { dir, pg }
    }
}

impl Drop for ScratchPg {
    fn drop(&mut self) {
        let pgdata = self.dir.join("pg");
        if pgdata.join("postmaster.pid").exists() {
            let mut cmd = std::process::Command::new(self.pg.install_dir().join("bin/pg_ctl"));
            cmd.args(["stop", "-m", "immediate", "-w", "-D"])
                .arg(&pgdata)
                .current_dir(&self.dir)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            if let Some(user) = self.pg.run_as() {
                use std::os::unix::process::CommandExt;
                cmd.uid(user.uid).gid(user.gid);
            }
            let _ = cmd.status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn server_answers(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
}

#[tokio::test]
async fn embedded_server_starts_once_and_is_reused() {
    let scratch = ScratchPg::new("reuse");
    let first = scratch.pg.ensure_running(&scratch.dir, 0).await.unwrap();
    assert!(!first.was_reused());
    assert!(first.pid() > 0);
    assert!(first.url().starts_with("postgres://bytebot@127.0.0.1:"));
    assert_eq!(
        first.url(),
        format!("postgres://bytebot@127.0.0.1:{}/bytebot", first.port())
    );

    // The bytebot database exists with pgvector, and only TCP is offered.
    let mut conn = PgConnection::connect(&first.url()).await.unwrap();
    let (db, vector, sockets, listen, encoding): (String, String, String, String, String) =
        sqlx::query_as(
            "SELECT current_database()::text, \
                    (SELECT extversion FROM pg_extension WHERE extname = 'vector'), \
                    current_setting('unix_socket_directories'), \
                    current_setting('listen_addresses'), \
                    current_setting('server_encoding')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(db, "bytebot");
    assert_eq!(vector, "0.8.5");
    assert_eq!(sockets, "");
    assert_eq!(listen, "127.0.0.1");
    assert_eq!(encoding, "UTF8");
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(version / 10_000, 16);
    sqlx::raw_sql("CREATE TABLE survives (x int); INSERT INTO survives VALUES (42)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    // Concurrent callers (separate lock handles, like separate processes) all reuse it.
    let calls = (0..4).map(|_| scratch.pg.ensure_running(&scratch.dir, 0));
    for again in futures::future::join_all(calls).await {
        let again = again.unwrap();
        assert!(again.was_reused());
        assert_eq!((again.port(), again.pid()), (first.port(), first.pid()));
    }

    // Stop, then start again: new process, same data.
    first.stop().await.unwrap();
    assert!(!server_answers(&first.url()).await);
    assert!(!scratch.dir.join("pg/postmaster.pid").exists());
    first.stop().await.unwrap(); // stopping a stopped server is fine
    let restarted = scratch.pg.ensure_running(&scratch.dir, 0).await.unwrap();
    assert!(!restarted.was_reused());
    assert_ne!(restarted.pid(), first.pid());
    let mut conn = PgConnection::connect(&restarted.url()).await.unwrap();
    let x: i32 = sqlx::query_scalar("SELECT x FROM survives")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(x, 42);
    conn.close().await.unwrap();

    // Asking for a specific port restarts it there.
    let wanted = closed_port();
    let moved = scratch
        .pg
        .ensure_running(&scratch.dir, wanted)
        .await
        .unwrap();
    assert_eq!(moved.port(), wanted);
    assert!(server_answers(&moved.url()).await);
    assert!(!server_answers(&restarted.url()).await);
    moved.stop().await.unwrap();
}

#[tokio::test]
async fn embedded_server_recovers_from_a_crash_and_stale_pid_file() {
    let scratch = ScratchPg::new("crash");
    let first = scratch.pg.ensure_running(&scratch.dir, 0).await.unwrap();

    // kill -9 the postmaster: postmaster.pid stays behind.
    let status = std::process::Command::new("kill")
        .args(["-9", &first.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(first.pid()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(scratch.dir.join("pg/postmaster.pid").exists());
    let recovered = scratch.pg.ensure_running(&scratch.dir, 0).await.unwrap();
    assert!(!recovered.was_reused());
    assert!(server_answers(&recovered.url()).await);

    // A pid file naming a process that is not postgres (pid reuse) is stale too.
    recovered.stop().await.unwrap();
    let fake = format!(
        "{}\n{}\n0\n{}\n\n127.0.0.1\n0 0\nready   \n",
        std::process::id(),
        scratch.dir.join("pg").display(),
        recovered.port()
    );
    let pid_file = scratch.dir.join("pg/postmaster.pid");
    std::fs::write(&pid_file, fake).unwrap();
    let again = scratch.pg.ensure_running(&scratch.dir, 0).await.unwrap();
    assert!(!again.was_reused());
    assert!(server_answers(&again.url()).await);
    again.stop().await.unwrap();
}

#[tokio::test]
async fn embedded_server_reports_unreachable_data_dir_as_root() {
    let scratch = ScratchPg::new("perm");
    let Some(user) = scratch.pg.run_as().cloned() else {
        eprintln!("not root: PostgreSQL runs as us, nothing to check");
        return;
    };
    use std::os::unix::fs::PermissionsExt;
    let locked = scratch.dir.join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = scratch
        .pg
        .ensure_running(&locked.join("data"), 0)
        .await
        .unwrap_err();
    match &err {
        EmbeddedError::NotAccessible { path, user: u, .. } => {
            assert_eq!(path, &locked.canonicalize().unwrap());
            assert_eq!(u, &user.name);
        }
        other => panic!("expected NotAccessible, got {other:?}"),
    }
    assert!(err.to_string().contains("chmod"), "{err}");
}

async fn insert_rollup(pool: &PgPool, channel: &str, minute: DateTime<Utc>, messages: i32) {
    sqlx::query(
        "INSERT INTO channel_rollups (channel, minute, messages, chatters, new_chatters, \
             sentiment, health, health_factors, churn_risk, subs, gifts, bits, raids, hints) \
         VALUES ($1, $2, $3, 1, 0, 0, 50, '{}'::jsonb, 0.1, 0, 0, 0, 0, 0)",
    )
    .bind(channel)
    .bind(minute)
    .bind(messages)
    .execute(pool)
    .await
    .unwrap();
}

/// The fleet's trend cache: a channel is read from the database once, then served from
/// memory; an expired entry or a window that moved on is served at once while one background
/// read refreshes it; an outage keeps the last rows on screen and is never cached itself.
#[tokio::test]
async fn the_fleet_trend_cache_serves_then_revalidates_in_the_background_and_survives_an_outage() {
    use bytebot::http::trends::TrendCache;
    let db = test_db().await;
    let since = DateTime::parse_from_rfc3339("2026-01-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let minute = |m: i64| since + chrono::Duration::minutes(m);
    let (a, b, quiet) = (
        "trend_a".to_owned(),
        "trend_b".to_owned(),
        "trend_q".to_owned(),
    );
    insert_rollup(&db.pool, &a, minute(1), 7).await;
    insert_rollup(&db.pool, &b, minute(2), 9).await;
    let logins = vec![a.clone(), b.clone(), quiet.clone()];
    let messages = |rows: &[bytebot::http::trends::MinuteRow]| -> Vec<i32> {
        rows.iter().map(|r| r.1).collect()
    };

    let cache = Arc::new(TrendCache::new(Duration::from_secs(3600)));
    let (first, lookup) = cache.get(&db.pool, &logins, since).await;
    assert_eq!((lookup.hits, lookup.fetched, lookup.stale), (0, 3, 0));
    assert_eq!(messages(&first[&a]), vec![7]);
    assert_eq!(messages(&first[&b]), vec![9]);
    assert!(
        first[&quiet].is_empty(),
        "a channel without rollups is known to be empty"
    );

    // A new minute lands: within the period the page is served from memory, unchanged.
    insert_rollup(&db.pool, &a, minute(3), 11).await;
    let (second, lookup) = cache.get(&db.pool, &logins, since).await;
    assert_eq!((lookup.hits, lookup.fetched, lookup.stale), (3, 0, 0));
    assert_eq!(messages(&second[&a]), vec![7]);

    // The window moves on a minute: the old rows answer at once, a background read brings
    // the new one.
    let later = since + chrono::Duration::minutes(1);
    let (moved, lookup) = cache.get(&db.pool, std::slice::from_ref(&a), later).await;
    assert_eq!((lookup.hits, lookup.fetched, lookup.stale), (0, 0, 1));
    assert_eq!(messages(&moved[&a]), vec![7], "served before the refresh");
    eventually("the background refresh", Duration::from_secs(10), || {
        let cache = cache.clone();
        let pool = db.pool.clone();
        let a = a.clone();
        async move {
            let (rows, lookup) = cache.get(&pool, std::slice::from_ref(&a), later).await;
            (lookup.hits == 1 && messages(&rows[&a]) == vec![7, 11]).then_some(())
        }
    })
    .await;

    // The database goes away: expired entries keep answering, a never-read channel gets
    // nothing and is not remembered as empty.
    let expiring = Arc::new(TrendCache::new(Duration::ZERO));
    let (fresh, lookup) = expiring
        .get(&db.pool, std::slice::from_ref(&b), since)
        .await;
    assert_eq!((lookup.fetched, messages(&fresh[&b])), (1, vec![9]));
    // Nothing listens on port 1: every query fails like a database that is down.
    let down = store::connect_lazy("postgres://byte@127.0.0.1:1/none").unwrap();
    let (kept, lookup) = expiring.get(&down, std::slice::from_ref(&b), since).await;
    assert_eq!((lookup.stale, messages(&kept[&b])), (1, vec![9]));
    let (none, lookup) = expiring
        .get(&down, std::slice::from_ref(&quiet), since)
        .await;
    assert!(none.is_empty(), "{none:?}");
    assert_eq!((lookup.hits, lookup.fetched, lookup.stale), (0, 0, 0));
    let (back, lookup) = expiring
        .get(&db.pool, std::slice::from_ref(&quiet), since)
        .await;
    assert_eq!(
        (lookup.fetched, back[&quiet].len()),
        (1, 0),
        "read again once it is back"
    );
}

/// The channel actors' decisions are written many channels at a time; a batched write must
/// store exactly what one insert per action stored: the same status rules, NULLs kept, each
/// key once (within the batch and against what is already stored).
#[tokio::test]
async fn batched_decisions_store_each_key_once_with_the_single_insert_rules() {
    use byte_actors::autonomy::{ActionKind, ActionOrigin, Intent, ProposedAction};
    use bytebot::store::autonomy::{insert_actions, insert_actions_many};

    let db = test_db().await;
    let at = ts_millis(1_772_395_200_000);
    let action = |key: &str, auto: bool, target: Option<&str>| ProposedAction {
        key: key.to_owned(),
        kind: ActionKind::ChatMessage,
        intent: Intent::GreetFirstTimer,
        origin: ActionOrigin::Autonomy,
        playbook: (!auto).then(|| "raid_welcome".to_owned()),
        payload: serde_json::json!({ "text": format!("welcome {key}") }),
        reason: format!("first message of {key}"),
        target: target.map(str::to_owned),
        auto,
        decided_at: at,
        expires_at: at + chrono::Duration::minutes(10),
        session_id: auto.then(|| "s1".to_owned()),
    };
    // Stored earlier, one insert per action.
    let earlier = action("k-old", true, Some("ann"));
    insert_actions(&db.pool, "alpha", std::slice::from_ref(&earlier), None)
        .await
        .unwrap();

    let (a1, a2, b1) = (
        action("k1", true, Some("bob")),
        action("k2", false, None),
        action("k1", false, Some("cid")),
    );
    let batch = [
        ("alpha", &a1),
        ("alpha", &a2),
        ("beta", &b1),
        ("alpha", &a1),      // the same decision twice in one batch
        ("alpha", &earlier), // already stored
    ];
    let mut rows = insert_actions_many(&db.pool, &batch).await.unwrap();
    rows.sort_by(|x, y| (&x.channel, &x.idempotency_key).cmp(&(&y.channel, &y.idempotency_key)));
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {:?} {:?}",
                r.channel, r.idempotency_key, r.status, r.decided_by, r.target
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            r#"alpha k1 approved Some("policy") Some("bob")"#,
            "alpha k2 proposed None None",
            r#"beta k1 proposed None Some("cid")"#,
        ]
    );
    let k2 = &rows[1];
    assert_eq!(k2.playbook.as_deref(), Some("raid_welcome"));
    assert_eq!(k2.session_id, None);
    assert_eq!(k2.decided_at, None);
    assert_eq!(k2.payload, serde_json::json!({ "text": "welcome k2" }));
    assert_eq!(rows[0].decided_at, Some(at));
    assert_eq!(rows[0].session_id.as_deref(), Some("s1"));
    assert_eq!(rows[0].expires_at, at + chrono::Duration::minutes(10));

    // Written again (a retried batch): nothing new.
    assert!(
        insert_actions_many(&db.pool, &batch)
            .await
            .unwrap()
            .is_empty()
    );
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM autonomy_actions")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 4);
    assert!(insert_actions_many(&db.pool, &[]).await.unwrap().is_empty());
}
