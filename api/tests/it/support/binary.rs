//! The real `portal` binary for end-to-end tests: start `portal serve` (or `portal worker`)
//! on a free loopback port, mint tokens with `portal token`, post GraphQL over HTTP.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_portal");

/// A running `portal serve` or `portal worker`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
}

impl Server {
    pub fn addr(&self) -> SocketAddr {
        self.base
            .trim_start_matches("http://")
            .parse()
            .expect("address")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `portal` in `dir` (development mode, SQLite under `dir/data` unless `env` says otherwise).
pub fn portal(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    // None of the runner's own settings leak in: every variable the portal declares is unset.
    for var in portal_api::config::variables() {
        command.env_remove(var.name);
    }
    command
        .current_dir(dir)
        .env("PORTAL_DATA_DIR", dir.join("data"))
        .env("PORTAL_MLLP_BIND", "off")
        .env("RUST_LOG", "warn");
    command
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

pub async fn start(dir: &Path) -> Server {
    start_with(dir, &[]).await
}

/// `portal serve` with extra environment variables, once `/ready` answers.
pub async fn start_with(dir: &Path, env: &[(&str, &str)]) -> Server {
    launch(dir, "serve", env, Stdio::inherit()).await
}

/// `portal worker` (background work only); `base` is its probe listener.
pub async fn start_worker(dir: &Path, env: &[(&str, &str)]) -> Server {
    launch(dir, "worker", env, Stdio::inherit()).await
}

/// `portal serve` with its log (stderr) written to `log`.
pub async fn start_logged(dir: &Path, env: &[(&str, &str)], log: &Path) -> Server {
    let file = std::fs::File::create(log).expect("log file");
    launch(dir, "serve", env, Stdio::from(file)).await
}

/// Starts `portal <subcommand>` on a free port and waits until `/ready` answers.
async fn launch(dir: &Path, subcommand: &str, env: &[(&str, &str)], stderr: Stdio) -> Server {
    let port = free_port();
    let bind = if subcommand == "worker" {
        "PORTAL_WORKER_BIND"
    } else {
        "PORTAL_BIND"
    };
    let child = portal(dir)
        .arg(subcommand)
        .envs(env.iter().copied())
        .env(bind, format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start portal");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = reqwest::get(format!("{}/ready", server.base)).await
            && response.status().is_success()
        {
            return server;
        }
        assert!(
            Instant::now() < deadline,
            "portal {subcommand} did not become ready within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn token(dir: &Path, args: &[&str]) -> String {
    token_with(dir, &[], args)
}

/// `portal token ARGS` with extra environment variables.
pub fn token_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = portal(dir)
        .arg("token")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("portal token");
    assert!(
        out.status.success(),
        "portal token {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

pub async fn graphql(
    server: &Server,
    token: Option<&str>,
    query: &str,
) -> (reqwest::header::HeaderMap, Value) {
    post(server, token, json!({ "query": query }), "e2e-request-1").await
}

/// POSTs a GraphQL request body; returns the response headers and JSON body.
pub async fn post(
    server: &Server,
    token: Option<&str>,
    body: Value,
    request_id: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/graphql", server.base))
        .header("x-request-id", request_id)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST /graphql");
    let headers = response.headers().clone();
    (headers, response.json().await.expect("json body"))
}
