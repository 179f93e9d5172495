//! The background work (outbox relay, audit sealer, notification worker, public-health
//! reporting, scheduled jobs, and the MLLP listeners with `PORTAL_MLLP_IN=worker`), run inside
//! `portal serve` (unless `PORTAL_BACKGROUND=false`) or alone by `portal worker`, which serves
//! only `/health`, `/ready` and `/metrics` on `PORTAL_WORKER_BIND`.

use std::net::SocketAddr;

use anyhow::Context as _;
use portal_messaging::jobs::{self, JobRun};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::state::AppState;
use crate::{notify, public_health};

/// The running background tasks; `stop` lets each finish what it holds and waits for them.
pub struct Background {
    relay: JoinHandle<()>,
    sealer: JoinHandle<()>,
    worker: Option<notify::Worker>,
    reporting: Option<public_health::Worker>,
    jobs: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts the relay, the audit sealer, the notification worker (unless `NOTIFY_WORKER=false`), the
    /// public-health worker (unless `PUBLIC_HEALTH_WORKER=false`) and the scheduled jobs (unless `PORTAL_JOBS_INTERVAL_SECS=0`). They run until `state.shutdown()`.
    pub fn spawn(state: &AppState) -> anyhow::Result<Self> {
        if state.config.redis_url.is_none() && !state.config.is_sqlite() {
            tracing::warn!(
                "no REDIS_URL: events relayed here reach only this process's subscribers"
            );
        }
        let worker = notify::Worker::spawn(state)?;
        let reporting = public_health::Worker::spawn(state)?;
        let relay = state.spawn_relay();
        let sealer = state.spawn_sealer();
        let jobs = spawn_jobs(state);
        Ok(Self {
            relay,
            sealer,
            worker,
            reporting,
            jobs,
        })
    }

    /// Call after `state.shutdown()`: the relay and the job loop stop at their next wait,
    /// the notification worker after its batch.
    pub async fn stop(self) {
        if let Some(worker) = self.worker {
            worker.stop().await;
        }
        if let Some(reporting) = self.reporting {
            reporting.stop().await;
        }
        if let Err(e) = self.relay.await {
            tracing::error!(error = %e, "outbox relay task failed");
        }
        if let Err(e) = self.sealer.await {
            tracing::error!(error = %e, "audit sealer task failed");
        }
        if let Some(jobs) = self.jobs
            && let Err(e) = jobs.await
        {
            tracing::error!(error = %e, "scheduled jobs task failed");
        }
    }
}

/// Runs every job at start and then every `PORTAL_JOBS_INTERVAL_SECS`, until shutdown.
fn spawn_jobs(state: &AppState) -> Option<JoinHandle<()>> {
    let interval = state.config.jobs.interval;
    if interval.is_zero() {
        return None;
    }
    let state = state.clone();
    let shutdown = state.shutting_down();
    Some(tokio::spawn(async move {
        tokio::pin!(shutdown);
        tracing::info!(interval_secs = interval.as_secs(), "scheduled jobs started");
        loop {
            run_jobs_once(&state).await;
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(interval) => {}
            }
        }
        tracing::info!("scheduled jobs stopped");
    }))
}

/// One round of every job, counted in `/metrics`.
pub async fn run_jobs_once(state: &AppState) {
    for (job, outcome) in jobs::run_all(&state.app.db, &state.config.jobs.retention).await {
        if let Some(metrics) = &state.metrics {
            let (label, count) = match outcome {
                Ok(JobRun::Done(count)) => ("done", count),
                Ok(JobRun::Skipped) => ("skipped", 0),
                Err(_) => ("failed", 0),
            };
            metrics.job_run(job.name(), label, count);
        }
    }
}

/// `portal worker`: the background work and a small probe listener, until SIGINT/SIGTERM.
pub async fn run(state: AppState) -> anyhow::Result<()> {
    let bind = state.config.worker_bind;
    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind} (PORTAL_WORKER_BIND)"))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "worker listening (health, ready, metrics only)");
    let background = Background::spawn(&state)?;
    let mllp = match state.config.mllp.run_in {
        crate::config::MllpRunIn::Worker => Some(crate::mllp::Listeners::start(&state).await?),
        crate::config::MllpRunIn::Serve => None,
    };
    let upkeep = state.spawn_metrics_upkeep();
    let stopping = state.clone();
    let served = axum::serve(
        listener,
        crate::http::probes(state.clone()).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        crate::shutdown_signal().await;
        stopping.drain_then_shutdown().await;
    })
    .await;
    state.shutdown();
    if let Some(mllp) = mllp {
        mllp.stop().await;
    }
    background.stop().await;
    if let Some(upkeep) = upkeep {
        upkeep.abort();
    }
    served?;
    tracing::info!("worker stopped");
    Ok(())
}
