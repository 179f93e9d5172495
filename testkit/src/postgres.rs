//! Throwaway PostgreSQL for integration tests: one private cluster per test process, a fresh empty database per test
//! (and [`DedicatedCluster`], a cluster of its own for a test that stops and restarts the server).
//!
//! Call [`fresh_database`] from a test to get the URL of a new, uniquely named, empty
//! database (`postgres://postgres@127.0.0.1:<port>/t_<pid>_<counter>`); [`admin_url`]
//! gives the URL of the maintenance database on the same server. A [`Template`] prepares a
//! database once per test process (the migrations, say) and hands each test a copy of it
//! (`CREATE DATABASE … TEMPLATE`), as crates.io's test_db does.
//!
//! - If `DATABASE_URL` is set to a `postgres://` or `postgresql://` URL, nothing is started:
//!   that server is the admin URL and the fresh databases are created there.
//! - Otherwise the first call (from any test thread) runs `initdb` into a new temp
//!   directory and starts `postgres` on a free port, listening only on 127.0.0.1, with
//!   durability turned off (`fsync`, `synchronous_commit`, `full_page_writes`), and
//!   `pg_stat_statements` loaded (track = all) so tests can count the statements a request
//!   sends, BEGIN and COMMIT included, the way `bench/read.sh` does.
//! - Binaries are taken from `PG_BIN`, else `pg_config --bindir`, else the newest
//!   `/usr/lib/postgresql/*/bin`, else `PATH`.
//! - Running as root (initdb and postgres refuse to), the server runs as the `postgres`
//!   OS user; without that user this panics and says to install PostgreSQL or set `DATABASE_URL`.
//! - Cleanup: statics are never dropped, so the postmaster runs under a small `sh`
//!   watchdog whose stdin is a pipe held open by this process. When the test process
//!   exits for any reason (even SIGKILL) the pipe closes, and the watchdog shuts the
//!   server down (immediate shutdown) and deletes the temp directory.

// Each test binary that includes the support code may use only part of it.
#![allow(dead_code)]

use std::fs;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Database superuser created by `initdb` (and the OS user the server runs as under root).
const SUPERUSER: &str = "postgres";
/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Fresh starts to try when another process grabbed our port in the meantime.
const START_ATTEMPTS: u32 = 3;
/// Lines of the server log quoted when startup fails.
const LOG_TAIL_LINES: usize = 40;

/// Runs as `sh -c WATCHDOG_SCRIPT pgtest-watchdog POSTGRES DATA PORT SOCKET_DIR LOG TEMP_DIR PID_FILE`.
/// Starts the postmaster, then blocks until its stdin (a pipe from the test process)
/// reaches EOF, then stops the server (SIGQUIT = immediate shutdown; SIGKILL if it is
/// still there 10 s later) and removes the temp directory.
const WATCHDOG_SCRIPT: &str = r#"trap '' HUP INT
"$1" -D "$2" -p "$3" -c listen_addresses=127.0.0.1 -c unix_socket_directories="$4" \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
  -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all \
  -c pg_stat_statements.max=50000 \
  </dev/null >"$5" 2>&1 &
pid=$!
echo "$pid" >"$7"
cat >/dev/null
kill -QUIT "$pid" 2>/dev/null
(for _ in 1 2 3 4 5 6 7 8 9 10; do sleep 1; done; kill -KILL "$pid" 2>/dev/null) &
killer=$!
wait "$pid"
kill "$killer" 2>/dev/null
rm -rf "$6"
"#;

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT_DATABASE: AtomicU64 = AtomicU64::new(0);

/// The server all databases of this test process live on.
struct Server {
    admin_url: String,
    psql: PathBuf,
    /// `None` when `DATABASE_URL` names an external server.
    _watchdog: Option<Mutex<Watchdog>>,
}

/// Keeps the watchdog's stdin pipe open for as long as the test process lives.
struct Watchdog {
    _child: Child,
    _stdin: ChildStdin,
}

/// Where one local cluster keeps its files; everything lives under `root`.
struct Layout {
    root: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    log: PathBuf,
    pid_file: PathBuf,
}

/// The PostgreSQL binary directory, if one was found; otherwise tools come from `PATH`.
struct PgBin(Option<PathBuf>);

/// URL of the maintenance database (`postgres`) on the test server, starting the server on first use.
pub fn admin_url() -> &'static str {
    &server().admin_url
}

/// Creates a new empty database named `t_<pid>_<counter>` and returns its URL.
pub fn fresh_database() -> String {
    create_database(None)
}

/// Creates a new database, empty or a copy of `template`, and returns its URL.
fn create_database(template: Option<&str>) -> String {
    let server = server();
    for _ in 0..100 {
        let name = next_database_name();
        let create = match template {
            None => format!("CREATE DATABASE \"{name}\""),
            Some(template) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
        };
        match run_psql(&server.psql, &server.admin_url, &create) {
            Ok(_) => return with_database(&server.admin_url, &name),
            // Left over from an earlier run with the same pid on a DATABASE_URL server.
            Err(error) if error.contains("already exists") => continue,
            Err(error) => panic!(
                "could not create test database {name} via {}: {error}",
                server.admin_url
            ),
        }
    }
    panic!(
        "could not find an unused test database name on {}",
        server.admin_url
    );
}

/// The role the application connects as in tests, like production's: `NOSUPERUSER
/// NOBYPASSRLS`, so PostgreSQL row-level security applies to every query it runs.
pub const APP_ROLE: &str = "portal_app";

/// Creates the role if it is missing (roles are cluster-wide; concurrent test processes may
/// race, which is harmless).
const CREATE_APP_ROLE: &str = "DO $$ BEGIN \
    CREATE ROLE portal_app LOGIN PASSWORD 'portal_app' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; \
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$";

/// What an operator grants the application role (docs/row-level-security.md): rows of the
/// tables the migration role creates from now on, and the sequences behind their ids.
const GRANT_APP_ROLE: &str = "GRANT USAGE ON SCHEMA public TO portal_app; \
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO portal_app; \
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO portal_app";

/// A fresh database and the two URLs the portal uses in production: the owner's (the
/// superuser here; migrations) and the application role's (everything else).
#[derive(Debug, Clone)]
pub struct AppDatabase {
    pub owner_url: String,
    pub app_url: String,
}

/// Like [`fresh_database`], with the application role set up (see [`with_app_role`]).
pub fn fresh_app_database() -> AppDatabase {
    let owner_url = fresh_database();
    let app_url = with_app_role(&owner_url)
        .unwrap_or_else(|error| panic!("could not set up the application role: {error}"));
    AppDatabase { owner_url, app_url }
}

/// Creates [`APP_ROLE`] on the server of `owner_url` (a superuser's URL of an empty
/// database), grants it rows of every table the owner creates there later, and returns the
/// URL of the same database as that role.
pub fn with_app_role(owner_url: &str) -> Result<String, String> {
    let psql = PgBin::find().tool("psql");
    run_psql(&psql, owner_url, CREATE_APP_ROLE)?;
    run_psql(&psql, owner_url, GRANT_APP_ROLE)?;
    Ok(with_user(owner_url, APP_ROLE, APP_ROLE))
}

/// A database prepared once per test process and copied for each test that asks for one:
/// `prepare` (the migrations) runs once instead of once per test.
///
/// ```text
/// static MIGRATED: Template = Template::new(migrate);
/// let database = MIGRATED.fresh_app_database();
/// ```
///
/// The template is an empty database with [`APP_ROLE`] set up (as [`fresh_app_database`]
/// does), then `prepare(owner_url)`. `prepare` must close its connections before it
/// returns: PostgreSQL copies a database only while nobody is connected to it. Afterwards
/// the template refuses connections, so no test can connect to it by mistake while it is
/// being copied. The first test thread to ask prepares it; the others wait for it. When
/// `prepare` fails, every test that asks panics with its message.
pub struct Template {
    prepare: fn(&str) -> Result<(), String>,
    /// The template database's name, once prepared.
    name: OnceLock<Result<String, String>>,
}

impl Template {
    pub const fn new(prepare: fn(owner_url: &str) -> Result<(), String>) -> Self {
        Self {
            prepare,
            name: OnceLock::new(),
        }
    }

    /// A fresh copy of the template, with the two URLs [`fresh_app_database`] gives.
    pub fn fresh_app_database(&self) -> AppDatabase {
        let template = match self.name.get_or_init(|| self.create()) {
            Ok(name) => name,
            Err(message) => panic!("could not prepare the template database: {message}"),
        };
        let owner_url = create_database(Some(template));
        let app_url = with_user(&owner_url, APP_ROLE, APP_ROLE);
        AppDatabase { owner_url, app_url }
    }

    fn create(&self) -> Result<String, String> {
        let server = server();
        let owner_url = fresh_database();
        let name = database_name(&owner_url).to_owned();
        with_app_role(&owner_url)?;
        (self.prepare)(&owner_url)?;
        let close =
            format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true");
        run_psql(&server.psql, &server.admin_url, &close)?;
        // A connection `prepare` left (a pool closing in the background) would make every
        // copy wait, then fail.
        let left = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}'"
        );
        run_psql(&server.psql, &server.admin_url, &left)?;
        Ok(name)
    }
}

/// The database (path) of a PostgreSQL URL.
fn database_name(url: &str) -> &str {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let path = rest.find('/').map_or("", |i| &rest[i + 1..]);
    path.split('?').next().unwrap_or_default()
}

/// `url` with its user and password replaced.
fn with_user(url: &str, user: &str, password: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{}{user}:{password}@{host}", &url[..authority_start])
}

fn next_database_name() -> String {
    let counter = NEXT_DATABASE.fetch_add(1, Ordering::Relaxed);
    format!("t_{}_{counter}", std::process::id())
}

fn server() -> &'static Server {
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(message) => panic!("{message}"),
    }
}

fn start() -> Result<Server, String> {
    let bin = PgBin::find();
    match external_url() {
        Some(admin_url) => Ok(Server {
            admin_url,
            psql: bin.tool("psql"),
            _watchdog: None,
        }),
        None => start_local(&bin),
    }
}

fn external_url() -> Option<String> {
    let url = std::env::var("DATABASE_URL").ok()?;
    (url.starts_with("postgres://") || url.starts_with("postgresql://")).then_some(url)
}

/// Replaces the database (path) of a PostgreSQL URL, keeping credentials, host and query.
fn with_database(url: &str, database: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[authority_start..];
    let authority_end = authority_start + rest.find(['/', '?']).unwrap_or(rest.len());
    let (base, tail) = url.split_at(authority_end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{base}/{database}{query}")
}

fn start_local(bin: &PgBin) -> Result<Server, String> {
    let owner = server_owner()?;
    let mut last_error = String::new();
    for _ in 0..START_ATTEMPTS {
        match start_cluster(bin, owner) {
            Err(error) if error.contains("already in use") => last_error = error,
            result => return result,
        }
    }
    Err(last_error)
}

fn start_cluster(bin: &PgBin, owner: Option<(u32, u32)>) -> Result<Server, String> {
    let layout = Layout::new(make_temp_dir()?);
    let started = prepare_cluster(bin, &layout, owner).and_then(|()| {
        let port = free_port()?;
        Ok((port, spawn_watchdog(bin, &layout, port, owner)?))
    });
    let (port, watchdog) = started.inspect_err(|_| {
        let _ = fs::remove_dir_all(&layout.root);
    })?;
    // From here on the watchdog owns the temp dir: dropping it (also on error) cleans up.
    let admin_url = format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres");
    let psql = bin.tool("psql");
    wait_until_ready(&psql, &admin_url, port, &layout)?;
    Ok(Server {
        admin_url,
        psql,
        _watchdog: Some(Mutex::new(watchdog)),
    })
}

impl Layout {
    fn new(root: PathBuf) -> Self {
        Self {
            data: root.join("data"),
            socket_dir: root.join("socket"),
            log: root.join("postgres.log"),
            pid_file: root.join("postmaster.watchdog.pid"),
            root,
        }
    }
}

fn make_temp_dir() -> Result<PathBuf, String> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100 {
        let name = format!("pgtest-{}-{nanos}-{attempt}", std::process::id());
        let path = std::env::temp_dir().join(name);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(format!(
                    "cannot create temp dir {}: {error}",
                    path.display()
                ));
            }
        }
    }
    Err(format!(
        "cannot create a unique temp dir in {}",
        std::env::temp_dir().display()
    ))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|error| format!("cannot bind a free port on 127.0.0.1: {error}"))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot read bound port: {error}"))?;
    Ok(address.port())
}

/// Creates the socket dir, hands the temp dir to the server's OS user and runs `initdb`.
fn prepare_cluster(bin: &PgBin, layout: &Layout, owner: Option<(u32, u32)>) -> Result<(), String> {
    fs::create_dir(&layout.socket_dir)
        .map_err(|error| format!("cannot create {}: {error}", layout.socket_dir.display()))?;
    if let Some((uid, gid)) = owner {
        for dir in [&layout.root, &layout.socket_dir] {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|error| {
                format!(
                    "cannot chown {} to the postgres user: {error}",
                    dir.display()
                )
            })?;
        }
    }
    run_initdb(bin, layout, owner)
}

fn run_initdb(bin: &PgBin, layout: &Layout, owner: Option<(u32, u32)>) -> Result<(), String> {
    let initdb = bin.tool("initdb");
    let mut command = Command::new(&initdb);
    command
        .arg("-D")
        .arg(&layout.data)
        .args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ])
        .stdin(Stdio::null());
    as_server_user(&mut command, layout, owner);
    let output = command
        .output()
        .map_err(|error| format!("cannot run {}: {error}", initdb.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} failed ({}):\n{}{}",
        initdb.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn spawn_watchdog(
    bin: &PgBin,
    layout: &Layout,
    port: u16,
    owner: Option<(u32, u32)>,
) -> Result<Watchdog, String> {
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", WATCHDOG_SCRIPT, "pgtest-watchdog"])
        .arg(bin.tool("postgres"))
        .arg(&layout.data)
        .arg(port.to_string())
        .arg(&layout.socket_dir)
        .arg(&layout.log)
        .arg(&layout.root)
        .arg(&layout.pid_file)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Own process group: a terminal Ctrl-C kills the tests, not the cleanup.
        .process_group(0);
    as_server_user(&mut command, layout, owner);
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start the postgres watchdog (sh): {error}"))?;
    let stdin = child
        .stdin
        .take()
        .ok_or("the postgres watchdog has no stdin pipe")?;
    Ok(Watchdog {
        _child: child,
        _stdin: stdin,
    })
}

/// Runs server-side commands from the temp dir, as the `postgres` OS user when we are root.
fn as_server_user(command: &mut Command, layout: &Layout, owner: Option<(u32, u32)>) {
    command.current_dir(&layout.root);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
}

fn wait_until_ready(
    psql: &Path,
    admin_url: &str,
    port: u16,
    layout: &Layout,
) -> Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Some(data_directory) = serving_data_directory(psql, admin_url, port) {
            return check_is_ours(&data_directory, port, layout);
        }
        if postmaster_exited(&layout.pid_file) {
            return Err(startup_failure("exited during startup", layout));
        }
        if Instant::now() >= deadline {
            let reason =
                format!("did not accept connections on 127.0.0.1:{port} within {READY_TIMEOUT:?}");
            return Err(startup_failure(&reason, layout));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The data directory of whatever server answers queries on the port, if any does.
fn serving_data_directory(psql: &Path, admin_url: &str, port: u16) -> Option<String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).ok()?;
    run_psql(psql, admin_url, "SHOW data_directory").ok()
}

/// Guards against another process having taken the port between our probe and the server's bind.
fn check_is_ours(data_directory: &str, port: u16, layout: &Layout) -> Result<(), String> {
    let theirs = fs::canonicalize(data_directory).unwrap_or_else(|_| PathBuf::from(data_directory));
    let ours = fs::canonicalize(&layout.data).unwrap_or_else(|_| layout.data.clone());
    if theirs == ours {
        return Ok(());
    }
    Err(format!(
        "port {port} is already in use by another PostgreSQL server (data directory {data_directory})"
    ))
}

/// True once the postmaster started by the watchdog is gone (or a zombie).
fn postmaster_exited(pid_file: &Path) -> bool {
    let Some(pid) = fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok())
    else {
        return false;
    };
    if !Path::new("/proc/self/stat").exists() {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => process_state(&stat) == Some('Z'),
        Err(_) => true,
    }
}

/// The state letter of a `/proc/<pid>/stat` line: `pid (comm) S ...`.
fn process_state(stat: &str) -> Option<char> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.trim_start().chars().next()
}

fn startup_failure(reason: &str, layout: &Layout) -> String {
    format!(
        "test PostgreSQL server {reason}; last lines of {}:\n{}",
        layout.log.display(),
        log_tail(&layout.log)
    )
}

fn log_tail(log: &Path) -> String {
    let Ok(bytes) = fs::read(log) else {
        return "(no server log)".to_string();
    };
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// Runs one SQL statement with `psql`; returns trimmed stdout, or stderr on failure.
fn run_psql(psql: &Path, url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new(psql)
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("cannot run {}: {error}", psql.display()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// `None` to run the server as ourselves; the `postgres` OS user's uid/gid when we are root.
fn server_owner() -> Result<Option<(u32, u32)>, String> {
    if !running_as_root() {
        return Ok(None);
    }
    postgres_os_user().map(Some).ok_or_else(|| {
        "tests run as root, where initdb/postgres refuse to run, and there is no `postgres` OS user \
         in /etc/passwd to run them as; install PostgreSQL (e.g. the Debian `postgresql` package) \
         or set DATABASE_URL=postgres://... to use an existing server"
            .to_string()
    })
}

fn running_as_root() -> bool {
    effective_uid_from_proc().or_else(effective_uid_from_id) == Some(0)
}

/// The effective uid: second number of the `Uid:` line in /proc/self/status.
fn effective_uid_from_proc() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn effective_uid_from_id() -> Option<u32> {
    let output = Command::new("id").arg("-u").output().ok()?;
    String::from_utf8_lossy(&output.stdout).trim().parse().ok()
}

fn postgres_os_user() -> Option<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| passwd_ids(line, SUPERUSER))
}

/// uid and gid from an /etc/passwd line (`name:x:uid:gid:...`) for `user`.
fn passwd_ids(line: &str, user: &str) -> Option<(u32, u32)> {
    let mut fields = line.split(':');
    if fields.next()? != user {
        return None;
    }
    let _password = fields.next()?;
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    Some((uid, gid))
}

impl PgBin {
    fn find() -> Self {
        Self(
            bin_dir_from_env()
                .or_else(bin_dir_from_pg_config)
                .or_else(newest_debian_bin_dir),
        )
    }

    /// The tool from the binary directory if it is there, else its bare name (looked up on `PATH`).
    fn tool(&self, name: &str) -> PathBuf {
        match &self.0 {
            Some(dir) if dir.join(name).is_file() => dir.join(name),
            _ => PathBuf::from(name),
        }
    }
}

fn bin_dir_from_env() -> Option<PathBuf> {
    std::env::var_os("PG_BIN")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
}

fn bin_dir_from_pg_config() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    (output.status.success() && dir.join("initdb").is_file()).then_some(dir)
}

/// The highest-versioned `/usr/lib/postgresql/<version>/bin` that has `initdb`.
fn newest_debian_bin_dir() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            Some((
                version_key(entry.file_name().to_str()?)?,
                entry.path().join("bin"),
            ))
        })
        .filter(|(_, bin)| bin.join("initdb").is_file())
        .max()
        .map(|(_, bin)| bin)
}

/// "15" -> [15], "9.6" -> [9, 6]; `None` for names that are not versions.
fn version_key(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// Runs as `sh -c DEDICATED_WATCHDOG_SCRIPT pgtest-dedicated PG_CTL DATA TEMP_DIR`: blocks
/// until its stdin (a pipe from the test process) reaches EOF, then stops the cluster
/// (immediate shutdown) if it runs and removes the temp directory.
const DEDICATED_WATCHDOG_SCRIPT: &str = r#"trap '' HUP INT
cat >/dev/null
"$1" -D "$2" -m immediate -w stop >/dev/null 2>&1
rm -rf "$3"
"#;

/// A PostgreSQL cluster of its own for one test that stops and restarts the server (outage
/// tests), so the shared cluster of the other tests is never disturbed. Always local (even
/// when `DATABASE_URL` names an external server); same port and data directory across
/// restarts. Dropping it (or the test process exiting) shuts it down and deletes its files.
pub struct DedicatedCluster {
    url: String,
    port: u16,
    pg_ctl: PathBuf,
    layout: Layout,
    owner: Option<(u32, u32)>,
    _watchdog: Watchdog,
}

impl DedicatedCluster {
    /// Runs `initdb` into a new temp directory and starts the server on a free loopback port.
    pub fn start_new() -> Result<Self, String> {
        let bin = PgBin::find();
        let owner = server_owner()?;
        let layout = Layout::new(make_temp_dir()?);
        let prepared = prepare_cluster(&bin, &layout, owner)
            .and_then(|()| spawn_dedicated_watchdog(&bin, &layout, owner));
        let watchdog = prepared.inspect_err(|_| {
            let _ = fs::remove_dir_all(&layout.root);
        })?;
        // From here on the watchdog owns the temp dir.
        let port = free_port()?;
        let cluster = Self {
            url: format!("postgres://{SUPERUSER}@127.0.0.1:{port}/postgres"),
            port,
            pg_ctl: bin.tool("pg_ctl"),
            layout,
            owner,
            _watchdog: watchdog,
        };
        cluster.start()?;
        Ok(cluster)
    }

    /// URL of the maintenance database (`postgres`), which tests may use directly.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `pg_ctl stop -m fast`: disconnects every client and waits until the server is gone.
    pub fn stop(&self) -> Result<(), String> {
        self.pg_ctl(&["-m", "fast", "-w", "-t", "60", "stop"])
    }

    /// `pg_ctl start` on the same port and data directory; waits until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.layout.socket_dir.display()
        );
        let log = self.layout.log.display().to_string();
        self.pg_ctl(&["-o", &options, "-l", &log, "-w", "-t", "60", "start"])
            .map_err(|error| format!("{error}\n{}", log_tail(&self.layout.log)))
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<(), String> {
        let mut command = Command::new(&self.pg_ctl);
        command
            .arg("-D")
            .arg(&self.layout.data)
            .args(args)
            .stdin(Stdio::null());
        as_server_user(&mut command, &self.layout, self.owner);
        let output = command
            .output()
            .map_err(|error| format!("cannot run {}: {error}", self.pg_ctl.display()))?;
        if output.status.success() {
            return Ok(());
        }
        Err(format!(
            "{} {args:?} failed ({}):\n{}{}",
            self.pg_ctl.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn spawn_dedicated_watchdog(
    bin: &PgBin,
    layout: &Layout,
    owner: Option<(u32, u32)>,
) -> Result<Watchdog, String> {
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", DEDICATED_WATCHDOG_SCRIPT, "pgtest-dedicated"])
        .arg(bin.tool("pg_ctl"))
        .arg(&layout.data)
        .arg(&layout.root)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Own process group: a terminal Ctrl-C kills the tests, not the cleanup.
        .process_group(0);
    as_server_user(&mut command, layout, owner);
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot start the dedicated postgres watchdog (sh): {error}"))?;
    let stdin = child
        .stdin
        .take()
        .ok_or("the dedicated postgres watchdog has no stdin pipe")?;
    Ok(Watchdog {
        _child: child,
        _stdin: stdin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    static PREPARED: AtomicU64 = AtomicU64::new(0);
    static MARKED: Template = Template::new(mark);

    /// The template's content: a table with one row, readable by the application role.
    fn mark(owner_url: &str) -> Result<(), String> {
        PREPARED.fetch_add(1, Ordering::SeqCst);
        let psql = PgBin::find().tool("psql");
        run_psql(
            &psql,
            owner_url,
            "CREATE TABLE marker (n int); INSERT INTO marker VALUES (1)",
        )
        .map(|_| ())
    }

    #[test]
    fn a_template_is_prepared_once_and_every_test_gets_its_own_copy() {
        let copies: Vec<AppDatabase> = (0..4)
            .map(|_| thread::spawn(|| MARKED.fresh_app_database()))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("copy"))
            .collect();
        assert_eq!(PREPARED.load(Ordering::SeqCst), 1);
        let psql = PgBin::find().tool("psql");
        run_psql(&psql, &copies[0].owner_url, "INSERT INTO marker VALUES (2)").expect("insert");
        let counts: Vec<String> = copies
            .iter()
            .map(|c| run_psql(&psql, &c.app_url, "SELECT count(*) FROM marker").expect("read"))
            .collect();
        assert_eq!(
            counts,
            ["2", "1", "1", "1"],
            "the application role reads its copy"
        );
        let names: std::collections::HashSet<&str> =
            copies.iter().map(|c| database_name(&c.owner_url)).collect();
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn the_template_itself_refuses_connections() {
        let copy = MARKED.fresh_app_database();
        let Some(Ok(template)) = MARKED.name.get() else {
            panic!("prepared by the copy");
        };
        let url = with_database(&copy.owner_url, template);
        let psql = PgBin::find().tool("psql");
        let refused = run_psql(&psql, &url, "SELECT 1").expect_err("no connections");
        assert!(
            refused.contains("not currently accepting connections"),
            "{refused}"
        );
    }

    #[test]
    fn the_database_name_is_the_path_of_the_url() {
        assert_eq!(
            database_name("postgres://u:p@127.0.0.1:5/t_1_2?sslmode=disable"),
            "t_1_2"
        );
        assert_eq!(database_name("postgresql://127.0.0.1/db"), "db");
    }
}
