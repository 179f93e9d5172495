//! Throwaway Redis for integration tests: `redis-server` on a free 127.0.0.1 port, no
//! persistence; optionally TLS-only with a certificate generated for the test.
//!
//! [`RedisServer::start`] runs `redis-server --save "" --appendonly no` in a new temp
//! directory under a small `sh` watchdog whose stdin is a pipe held by this process: when
//! the test process exits for any reason (even SIGKILL) the pipe closes and the watchdog kills
//! the server and removes the directory. [`RedisServer::stop`] and [`RedisServer::restart`]
//! simulate an outage on the same port. Panics with a clear message when `redis-server` is
//! not installed (Debian package `redis-server`).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long the server may take to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs as `sh -c WATCHDOG_SCRIPT redistest-watchdog REDIS_SERVER PORT DIR LOG`. Starts the
/// server, blocks until stdin reaches EOF, then kills it and removes the directory.
const WATCHDOG_SCRIPT: &str = r#"trap '' HUP INT
server=$1 port=$2 dir=$3 log=$4
shift 4
"$server" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --daemonize no \
  "$@" </dev/null >"$log" 2>&1 &
pid=$!
cat >/dev/null
kill -KILL "$pid" 2>/dev/null
wait "$pid"
rm -rf "$dir"
"#;

/// A running (or stopped) Redis server owned by one test.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    watchdog: Option<Watchdog>,
    /// With TLS only: the directory of the generated certificate (`ca.pem`) and key.
    tls: Option<PathBuf>,
}

/// The watchdog process and the pipe that keeps it (and the server) alive.
struct Watchdog {
    child: Child,
    stdin: ChildStdin,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers PING.
    pub fn start() -> Self {
        ensure_installed();
        let mut server = Self {
            port: free_port(),
            dir: temp_dir(),
            watchdog: None,
            tls: None,
        };
        server.restart();
        server
    }

    /// A server that speaks only TLS, with a certificate for `localhost` signed by a CA
    /// generated now (`openssl req`); clients trust that CA through `ca_file()`.
    pub fn start_tls() -> Self {
        ensure_installed();
        let certs = temp_dir();
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=portal-test-ca",
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
            ],
            &certs,
        );
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-keyout",
                "key.pem",
                "-out",
                "cert.pem",
            ],
            &certs,
        );
        let mut server = Self {
            port: free_port(),
            dir: temp_dir(),
            watchdog: None,
            tls: Some(certs),
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>/`, or `rediss://localhost:<port>/` with TLS.
    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("rediss://localhost:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// With TLS: the PEM certificate clients must trust (e.g. as `SSL_CERT_FILE`).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|dir| dir.join("ca.pem"))
    }

    /// Kills the server (clients see their connections drop) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(Watchdog { mut child, stdin }) = self.watchdog.take() {
            drop(stdin);
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (a no-op when it runs).
    pub fn restart(&mut self) {
        if self.watchdog.is_some() {
            return;
        }
        if let Err(error) = std::fs::create_dir_all(&self.dir) {
            panic!("cannot create {}: {error}", self.dir.display());
        }
        self.watchdog = Some(spawn_watchdog(self.port, &self.dir, &self.tls_args()));
        self.wait_until_ready();
    }

    fn tls_args(&self) -> Vec<String> {
        let Some(certs) = &self.tls else {
            return Vec::new();
        };
        let file = |name: &str| certs.join(name).display().to_string();
        vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            self.port.to_string(),
            "--tls-cert-file".into(),
            file("cert.pem"),
            "--tls-key-file".into(),
            file("key.pem"),
            "--tls-ca-cert-file".into(),
            file("ca.pem"),
            "--tls-auth-clients".into(),
            "no".into(),
        ]
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready = || match self.tls {
            // A TLS port does not answer a plain PING; listening is enough.
            Some(_) => TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok(),
            None => answers_ping(self.port),
        };
        while !ready() {
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(self.dir.join("redis.log")).unwrap_or_default();
                panic!(
                    "test redis-server did not answer PING on 127.0.0.1:{} within {READY_TIMEOUT:?}; log:\n{log}",
                    self.port
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        if let Some(certs) = &self.tls {
            let _ = std::fs::remove_dir_all(certs);
        }
    }
}

/// Runs `openssl` with `args` in `dir`; panics with its output when it fails.
fn openssl(args: &[&str], dir: &std::path::Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run openssl to make a test certificate: {error}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ensure_installed() {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|out| out.status.success());
    assert!(
        found,
        "redis-server is not installed (or not on PATH): the Redis tests start a throwaway \
         server; install the Debian package with `apt-get install -y redis-server`"
    );
}

fn spawn_watchdog(port: u16, dir: &std::path::Path, extra: &[String]) -> Watchdog {
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", WATCHDOG_SCRIPT, "redistest-watchdog", "redis-server"])
        .arg(port.to_string())
        .arg(dir)
        .arg(dir.join("redis.log"))
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Own process group: a terminal Ctrl-C kills the tests, not the cleanup.
        .process_group(0);
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start the redis watchdog (sh): {error}"));
    let Some(stdin) = child.stdin.take() else {
        panic!("the redis watchdog has no stdin pipe");
    };
    Watchdog { child, stdin }
}

fn answers_ping(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|error| panic!("cannot bind a free port on 127.0.0.1: {error}"));
    match listener.local_addr() {
        Ok(address) => address.port(),
        Err(error) => panic!("cannot read bound port: {error}"),
    }
}

fn temp_dir() -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for attempt in 0..100 {
        let name = format!("redistest-{}-{nanos}-{attempt}", std::process::id());
        let path = std::env::temp_dir().join(name);
        match std::fs::create_dir(&path) {
            Ok(()) => return path,
            Err(error) if error.kind() == ErrorKind::AlreadyExists => continue,
            Err(error) => panic!("cannot create temp dir {}: {error}", path.display()),
        }
    }
    panic!(
        "cannot create a unique temp dir in {}",
        std::env::temp_dir().display()
    );
}
