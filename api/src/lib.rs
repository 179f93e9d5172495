//! The portal server as a library: configuration, state, router and serving, so tests run
//! the very same application as the binary.

pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod import;
pub mod metrics;
pub mod migrate;
pub mod mllp;
pub mod notify;
pub mod public_health;
pub mod state;
pub mod worker;

use std::net::SocketAddr;

use anyhow::Context as _;
use axum::Router;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::AppState;

/// The application: state built from `config` and the router over it.
pub async fn build_app(config: Config) -> anyhow::Result<(Router, AppState)> {
    let state = AppState::build(config).await?;
    Ok((http::router(state.clone()), state))
}

/// Serves until SIGINT or SIGTERM, then finishes in-flight requests.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let bind = config.bind;
    let (router, state) = build_app(config).await?;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let addr = listener.local_addr()?;
    announce(&state, addr);
    let background = if state.config.background {
        Some(worker::Background::spawn(&state)?)
    } else {
        tracing::info!("background work off (PORTAL_BACKGROUND=false): run `portal worker`");
        None
    };
    let mllp = match state.config.mllp.run_in {
        config::MllpRunIn::Serve => Some(mllp::Listeners::start(&state).await?),
        config::MllpRunIn::Worker => None,
    };
    let upkeep = state.spawn_metrics_upkeep();
    let bus_subscriber = state.spawn_bus_subscriber();
    let stopping = state.clone();
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        stopping.drain_then_shutdown().await;
    })
    .await;
    state.shutdown();
    if let Some(mllp) = mllp {
        mllp.stop().await;
    }
    if let Some(background) = background {
        background.stop().await;
    }
    if let Some(upkeep) = upkeep {
        upkeep.abort();
    }
    if let Some(task) = bus_subscriber
        && let Err(e) = task.await
    {
        tracing::error!(error = %e, "event bus subscriber task failed");
    }
    served?;
    tracing::info!("server stopped");
    Ok(())
}

fn announce(state: &AppState, addr: SocketAddr) {
    tracing::info!(%addr, "listening");
    if state.config.playground {
        tracing::info!("GraphiQL: http://{addr}/  (GraphQL endpoint: http://{addr}/graphql)");
    }
    if state.dev.is_some() {
        let program = invocation();
        tracing::info!(
            "development mode: the playground carries the demo patient's and the lab's tokens; \
             mint others with `{program} token --patient MRN1002` or `{program} token --role lab`"
        );
    }
}

/// How this binary was started (`target/release/portal`, `portal`, …), so the commands the
/// log and the playground print work as written.
pub fn invocation() -> String {
    std::env::args()
        .next()
        .filter(|program| !program.is_empty())
        .unwrap_or_else(|| "portal".to_owned())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// A summary of the configuration without secrets, for `portal config check`.
pub fn describe(config: &Config) -> String {
    let database = if config.is_sqlite() {
        "SQLite"
    } else if config.database_migration_url.is_some() {
        "PostgreSQL (migrations as the DATABASE_MIGRATION_URL role)"
    } else {
        "PostgreSQL"
    };
    let bus = if config.redis_url.is_some() {
        "Redis pub/sub (several replicas)"
    } else {
        "in-process"
    };
    let cache = match (config.cache_enabled, config.redis_url.is_some()) {
        (false, _) => "off".to_owned(),
        (true, true) => format!("Redis, TTL {} s", config.cache_ttl.as_secs()),
        (true, false) => format!("in-process, TTL {} s", config.cache_ttl.as_secs()),
    };
    let keys = match &config.jwt.keys {
        config::JwtKeys::DevSecret => "HS256 dev secret".to_owned(),
        config::JwtKeys::PublicKeyPem { algorithm, path } => {
            format!("{algorithm} public key {}", path.display())
        }
        config::JwtKeys::Jwks { url, .. } => format!("JWKS {url}"),
    };
    let notify = &config.notify;
    let email = if notify.smtp_url.is_some() {
        "SMTP".to_owned()
    } else {
        format!("mailbox folder {}", notify.mailbox_dir.display())
    };
    let provider = |p: &Option<config::Provider>| {
        if p.is_some() {
            "HTTP provider"
        } else {
            "mailbox folder"
        }
    };
    format!(
        "configuration OK\n  environment: {:?}\n  bind: {}\n  database: {database}\n  event bus: {bus}\n  read cache: {cache}\n  jwt: {keys}, issuer {}, audience {}\n  \
         playground: {}, introspection: {}, metrics: {}\n  demo data: {}, auto-migrate: {}\n  max page size: {}\n  \
         notifications: email via {email}, SMS via {}, push via {}, from {}, link {}\n  \
         retries: {} attempts, backoff {:?} doubling up to {:?}, poll {:?}, lease {:?}, send timeout {:?}\n  \
         background work in serve: {} (notification worker {}), jobs every {:?}, worker probes on {}\n  \
         hl7 mllp: {} (in {}), senders by CLIA: {}, raw messages kept {} days",
        config.env,
        config.bind,
        config.jwt.issuer,
        config.jwt.audience,
        config.playground,
        config.introspection,
        config.metrics,
        config.seed_demo,
        config.auto_migrate,
        config.max_page_size,
        provider(&notify.sms),
        provider(&notify.push),
        notify.smtp_from,
        notify.public_url,
        notify.max_attempts,
        notify.backoff,
        notify.backoff_max,
        notify.poll,
        notify.lease,
        notify.send_timeout,
        if config.background { "on" } else { "off" },
        if notify.worker { "on" } else { "off" },
        config.jobs.interval,
        config.worker_bind,
        mllp_listeners(config),
        match config.mllp.run_in {
            config::MllpRunIn::Serve => "serve",
            config::MllpRunIn::Worker => "worker",
        },
        config.mllp.senders.len(),
        config.jobs.retention.hl7_messages.as_secs() / 86_400,
    ) + &describe_public_health(&config.public_health)
}

/// The public-health line of `portal config check`: where reports go, never the URL or key.
fn describe_public_health(config: &config::PublicHealthConfig) -> String {
    let default = match (&config.default, &config.dir) {
        (Some(_), _) => "HTTP endpoint (PUBLIC_HEALTH_URL)".to_owned(),
        (None, Some(dir)) => format!("folder {}", dir.display()),
        (None, None) => "none (reports stay queued)".to_owned(),
    };
    format!(
        "\n  public health: worker {}, every {:?}, {} per dequeue, up to {} per upload, default {default}, \
         {} tenant binding(s), timeout {:?}, lease {:?}, backoff {:?} up to {:?}, mode {}",
        if config.worker { "on" } else { "off" },
        config.interval,
        config.dequeue_batch,
        config.max_batch,
        config.per_tenant.len(),
        config.timeout,
        config.lease,
        config.backoff,
        config.backoff_max,
        config.processing_mode,
    )
}

fn mllp_listeners(config: &Config) -> String {
    if config.mllp.listeners.is_empty() {
        return "off".to_owned();
    }
    config
        .mllp
        .listeners
        .iter()
        .map(|l| match &l.tenant {
            Some(tenant) => format!("{}={tenant}", l.addr),
            None => l.addr.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
