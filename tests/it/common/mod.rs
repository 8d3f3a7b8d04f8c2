//! Shared test harness: a real Postgres for every test that needs one, plus row builders.
//!
//! [`test_db`] gives each test its own freshly migrated database on one shared server:
//! - `BYTEBOT_TEST_DATABASE_URL` (a server URL whose user may create databases), if set;
//! - otherwise the embedded PostgreSQL under `<workspace>/target/test-pg` (override with
//!   `BYTEBOT_TEST_PG_DIR`), started by whichever test process gets there first and left
//!   running for later processes and runs. nextest runs each test in its own process, so many
//!   processes call this at once; the embedded server's file lock makes that safe.
//!
//! Databases are named `bytebot_test_<unix secs>_<host>_<pid>_<random>`. Dropping a
//! [`TestDb`] drops its database from a background thread (set `BYTEBOT_TEST_KEEP_DB=1` to
//! keep it for inspection). A process that exits first (nextest) cannot finish that, so the
//! first `test_db` call of every process also drops databases whose creating process is gone
//! or that are older than an hour.

#![allow(dead_code)] // Each test module uses a different subset of the harness.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use byte_actors::model::{ChannelLogin, ChatRecord, EventKind, EventRecord};
use bytebot::store::{self, EmbeddedPostgres, with_database};
use chrono::{DateTime, TimeZone, Utc};
use rand::Rng;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::OnceCell;

/// Server URL of an external Postgres to test against instead of the embedded one.
pub(crate) const TEST_DATABASE_URL_ENV: &str = "BYTEBOT_TEST_DATABASE_URL";
/// Data directory for the embedded test server (default `<workspace>/target/test-pg`).
pub(crate) const TEST_PG_DIR_ENV: &str = "BYTEBOT_TEST_PG_DIR";
/// Set to keep test databases after the test, for debugging.
pub(crate) const KEEP_DB_ENV: &str = "BYTEBOT_TEST_KEEP_DB";

const DB_PREFIX: &str = "bytebot_test_";
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// A database of its own for one test, migrated to the current schema.
#[derive(Debug)]
pub(crate) struct TestDb {
    /// Pool on the test database (the store's own pool settings).
    pub(crate) pool: PgPool,
    /// URL of the test database, e.g. to hand to the app as `DATABASE_URL`.
    pub(crate) url: String,
    /// The database's name.
    pub(crate) name: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_DB_ENV).is_some() {
            eprintln!("keeping test database {} ({})", self.name, self.url);
            return;
        }
        let Some(server) = SERVER.get() else { return };
        let admin_url = server.admin_url.clone();
        let name = self.name.clone();
        // Not on the test's runtime: it is shutting down when this runs. Detached, so drop
        // never blocks; if the process exits first, the next harness start cleans up.
        let _ = std::thread::Builder::new()
            .name("drop-test-db".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(mut admin) = PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut admin)
                        .await;
                        let _ = admin.close().await;
                    }
                });
            });
    }
}

/// The server all test databases live on, set up once per process.
struct Server {
    /// URL of a maintenance database (`postgres`) for CREATE/DROP DATABASE.
    admin_url: String,
    /// Server URL whose database part is replaced per test.
    base_url: String,
    /// Identifies this machine in database names, so cleanup only judges local pids.
    host_tag: String,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// Root of the workspace (where Cargo.toml is).
pub(crate) fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Data directory of the shared embedded test server.
pub(crate) fn test_pg_dir() -> PathBuf {
    std::env::var_os(TEST_PG_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_dir().join("target/test-pg"))
}

/// A fresh, migrated database for this test. Panics with a clear message when no server can
/// be provided (e.g. `scripts/setup.sh` was not run).
pub(crate) async fn test_db() -> TestDb {
    let server = SERVER
        .get_or_init(|| async {
            let server = start_server().await;
            cleanup_stale(&server).await;
            server
        })
        .await;
    let name = format!(
        "{DB_PREFIX}{}_{}_{}_{:06x}",
        unix_now(),
        server.host_tag,
        std::process::id(),
        rand::rng().random_range(0..1u32 << 24),
    );
    let mut admin = PgConnection::connect(&server.admin_url)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test server: {e}"));
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("creating test database {name}: {e}"));
    let _ = admin.close().await;

    let url = with_database(&server.base_url, &name);
    let pool = store::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("connecting to test database {name}: {e}"));
    store::migrate(&pool)
        .await
        .unwrap_or_else(|e| panic!("migrating test database {name}: {e}"));
    TestDb { pool, url, name }
}

async fn start_server() -> Server {
    if let Some(url) = std::env::var(TEST_DATABASE_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Server {
            admin_url: with_database(&url, &database_of(&url).unwrap_or("postgres".into())),
            base_url: url,
            host_tag: host_tag(),
        };
    }
    let embedded = EmbeddedPostgres::locate().unwrap_or_else(|e| panic!("{e}"));
    let running = embedded
        .ensure_running(&test_pg_dir(), 0)
        .await
        .unwrap_or_else(|e| panic!("starting the embedded test Postgres: {e}"));
    Server {
        admin_url: running.url_for("postgres"),
        base_url: running.url(),
        host_tag: host_tag(),
    }
}

/// Drops test databases left behind by processes that are gone, or older than an hour.
/// Best effort: another process may be dropping the same ones.
async fn cleanup_stale(server: &Server) {
    let Ok(mut admin) = PgConnection::connect(&server.admin_url).await else {
        return;
    };
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname FROM pg_database WHERE datname LIKE 'bytebot\\_test\\_%'",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap_or_default();
    let now = unix_now();
    for name in names {
        let mut parts = name[DB_PREFIX.len()..].split('_');
        let (Some(created), Some(host), Some(pid)) = (
            parts.next().and_then(|s| s.parse::<u64>().ok()),
            parts.next(),
            parts.next().and_then(|s| s.parse::<u32>().ok()),
        ) else {
            continue;
        };
        let too_old = now.saturating_sub(created) > STALE_AFTER.as_secs();
        let orphaned = host == server.host_tag
            && pid != std::process::id()
            && !PathBuf::from(format!("/proc/{pid}")).exists();
        if too_old || orphaned {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .execute(&mut admin)
                .await;
        }
    }
    let _ = admin.close().await;
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Eight hex digits derived from the host name (FNV-1a), short enough for database names.
fn host_tag() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    let hash = host.trim().bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}")
}

fn database_of(url: &str) -> Option<String> {
    let head = url.split('?').next()?;
    let after_scheme = &head[head.find("://")? + 3..];
    let db = &after_scheme[after_scheme.find('/')? + 1..];
    (!db.is_empty()).then(|| db.to_owned())
}

/// A login for tests, panicking on invalid input.
pub(crate) fn login(raw: &str) -> ChannelLogin {
    ChannelLogin::parse(raw).unwrap_or_else(|e| panic!("bad test login {raw:?}: {e}"))
}

/// A unique prefix for ids in one test, so rows from different calls never collide.
pub(crate) fn unique_prefix() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

/// A fixed instant with millisecond precision, like Twitch's `tmi-sent-ts`.
pub(crate) fn ts_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_else(|| panic!("timestamp {ms} out of range"))
}

/// `count` chat rows in `channel` with ids `<prefix>-<i>`, varied enough to exercise every
/// column (NULL and non-NULL room ids and bits, both flags).
pub(crate) fn chat_rows(
    channel: &ChannelLogin,
    prefix: &str,
    count: usize,
) -> Vec<Arc<ChatRecord>> {
    let base = 1_717_171_717_000i64;
    (0..count)
        .map(|i| {
            let n = i as i64;
            Arc::new(ChatRecord {
                message_id: format!("{prefix}-{i}"),
                channel: channel.clone(),
                room_id: (i % 5 != 0).then(|| "22484632".to_owned()),
                user_id: format!("{}", 10_000 + i % 97),
                user_login: format!("viewer_{}", i % 97),
                display_name: format!("Viewer_{}", i % 97),
                text: format!("message {i} KEKW olá 🎉 \"quoted\" it's"),
                bits: (i % 7 == 0).then_some(n * 10),
                badges: if i % 3 == 0 {
                    "subscriber/12,premium/1".into()
                } else {
                    String::new()
                },
                emotes: if i % 4 == 0 {
                    "25:8-11".into()
                } else {
                    String::new()
                },
                is_moderator: i % 11 == 0,
                is_subscriber: i % 3 == 0,
                sent_at: ts_millis(base + n * 37),
                received_at: ts_millis(base + n * 37 + 120),
                seq: (base + n * 37 + 120) * 1_000,
            })
        })
        .collect()
}

/// `count` events in `channel` with ids `<prefix>-ev-<i>`, cycling through every kind.
pub(crate) fn event_rows(
    channel: &ChannelLogin,
    prefix: &str,
    count: usize,
) -> Vec<Arc<EventRecord>> {
    let base = 1_717_171_717_000i64;
    (0..count)
        .map(|i| {
            let kind = EventKind::ALL[i % EventKind::ALL.len()];
            Arc::new(EventRecord {
                event_id: format!("{prefix}-ev-{i}"),
                channel: channel.clone(),
                kind,
                user_login: (i % 2 == 0).then(|| format!("viewer_{i}")),
                amount: (i % 3 != 0).then_some(i as i64 + 1),
                details: serde_json::json!({
                    "kind": kind.as_str(),
                    "index": i,
                    "system_msg": format!("Viewer_{i} subscribed at Tier 1. Valeu! 💜"),
                    "nested": {"list": [1, 2, 3], "flag": i % 2 == 0, "none": null},
                }),
                occurred_at: ts_millis(base + i as i64 * 1000),
                seq: (base + i as i64 * 1000) * 1_000 + 1,
            })
        })
        .collect()
}
