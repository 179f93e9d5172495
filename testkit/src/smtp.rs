//! A real SMTP server for tests: `python3 -m aiosmtpd` on a free loopback port, storing every
//! message it accepts in a Maildir the test reads.
//!
//! Each [`SmtpServer`] is its own server with its own Maildir. It runs under a small `sh`
//! watchdog whose stdin is a pipe held by this process: when the server value is dropped or
//! the test process exits for any reason (even SIGKILL), the pipe closes and the watchdog
//! stops the server. Panics with the install command if aiosmtpd is missing.

// Each test binary that includes the support code may use only part of it.
#![allow(dead_code)]

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs as `sh -c WATCHDOG_SCRIPT smtptest-watchdog PYTHON PORT HANDLER HANDLER_ARG LOG`:
/// starts aiosmtpd, waits for EOF on stdin, then stops it.
const WATCHDOG_SCRIPT: &str = r#"trap '' HUP INT
"$1" -m aiosmtpd -n -l "127.0.0.1:$2" -c "$3" "$4" </dev/null >"$5" 2>&1 &
pid=$!
cat >/dev/null
kill -TERM "$pid" 2>/dev/null
(sleep 5; kill -KILL "$pid" 2>/dev/null) &
wait "$pid"
"#;

/// An aiosmtpd handler (on `PYTHONPATH` as `smtptest_refuse`) that answers every `RCPT TO`
/// with the reply given on its command line, e.g. `550 5.1.1 Mailbox unavailable`.
const REFUSING_HANDLER: &str = r#"class RefuseRecipients:
    def __init__(self, reply):
        self.reply = reply

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(" ".join(args))

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return self.reply
"#;

/// A running aiosmtpd; stopped when dropped.
pub struct SmtpServer {
    // Dropped first: closing the pipe stops the server before its files are removed.
    _stdin: ChildStdin,
    _child: Child,
    port: u16,
    root: tempfile_dir::Dir,
}

impl SmtpServer {
    /// Starts a server that stores every message and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Like [`SmtpServer::start`], on a given loopback port: a test can point `SMTP_URL` at a
    /// port where nothing listens yet (the server is "down"), then bring the server up there.
    pub fn start_on(port: u16) -> Self {
        let root = tempfile_dir::Dir::new("smtptest");
        let maildir = root.path().join("maildir");
        Self::spawn_on(port, root, "aiosmtpd.handlers.Mailbox", maildir.as_os_str())
    }

    /// A loopback port that is free now (for [`SmtpServer::start_on`]).
    pub fn free_port() -> u16 {
        free_port()
    }

    /// Starts a server that refuses every recipient with `reply` (e.g. `550 5.1.1 Mailbox
    /// unavailable` or `451 4.3.0 Try again later`) and so accepts no message.
    pub fn start_refusing(reply: &str) -> Self {
        let root = tempfile_dir::Dir::new("smtptest");
        let module = root.path().join("smtptest_refuse.py");
        fs::write(&module, REFUSING_HANDLER)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", module.display()));
        Self::spawn(root, "smtptest_refuse.RefuseRecipients", reply.as_ref())
    }

    fn spawn(root: tempfile_dir::Dir, handler: &str, handler_arg: &std::ffi::OsStr) -> Self {
        Self::spawn_on(free_port(), root, handler, handler_arg)
    }

    fn spawn_on(
        port: u16,
        root: tempfile_dir::Dir,
        handler: &str,
        handler_arg: &std::ffi::OsStr,
    ) -> Self {
        let python = python();
        require_aiosmtpd(&python);
        let log = root.path().join("aiosmtpd.log");
        let mut child = Command::new("/bin/sh")
            .args(["-c", WATCHDOG_SCRIPT, "smtptest-watchdog"])
            .arg(&python)
            .arg(port.to_string())
            .arg(handler)
            .arg(handler_arg)
            .arg(&log)
            .env("PYTHONPATH", root.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own process group: a terminal Ctrl-C kills the tests, not the cleanup.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the aiosmtpd watchdog (sh): {e}"));
        let stdin = child
            .stdin
            .take()
            .unwrap_or_else(|| panic!("watchdog has no stdin"));
        let server = Self {
            port,
            root,
            _child: child,
            _stdin: stdin,
        };
        server.wait_until_ready(&log);
        server
    }

    /// `smtp://127.0.0.1:<port>`, for `SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// The raw text of every message received so far (Maildir `new/`), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let new = self.root.path().join("maildir").join("new");
        let mut files: Vec<PathBuf> = fs::read_dir(&new)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        files
            .iter()
            .filter_map(|path| fs::read_to_string(path).ok())
            .collect()
    }

    fn wait_until_ready(&self, log: &Path) {
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + READY_TIMEOUT;
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            if Instant::now() >= deadline {
                panic!(
                    "aiosmtpd did not accept connections on {address} within {READY_TIMEOUT:?}; log:\n{}",
                    fs::read_to_string(log).unwrap_or_default()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

fn require_aiosmtpd(python: &str) {
    let installed = Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        installed,
        "the email tests need a real SMTP server: `{python} -c 'import aiosmtpd'` failed; \
         install it with `{python} -m pip install aiosmtpd` (CI's .ci/run does)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|e| panic!("cannot bind a free port on 127.0.0.1: {e}"))
}

/// A temp directory removed on drop (the test kit has no dependencies).
mod tempfile_dir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    static NEXT: AtomicU64 = AtomicU64::new(0);

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new(prefix: &str) -> Self {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
