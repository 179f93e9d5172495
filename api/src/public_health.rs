//! Wires public-health reporting from the configuration: each tenant's destination, the
//! worker settings, and the reporting worker that runs a pass every
//! `PUBLIC_HEALTH_INTERVAL_SECS` inside the background work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::ExposeSecret as _;
use anyhow::Context as _;
use portal_messaging::public_health::{
    self, Destination, Destinations, HttpEndpoint, PassCounts, Settings,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{Endpoint, PublicHealthConfig};
use crate::state::AppState;

/// Every tenant's destination: its own binding, else the default endpoint, else (embedded
/// default only) the folder.
pub fn destinations(config: &PublicHealthConfig) -> anyhow::Result<Destinations> {
    let http = |endpoint: &Endpoint| -> anyhow::Result<Destination> {
        let auth = endpoint.auth_header.as_ref().map(|h| h.expose_secret());
        HttpEndpoint::new(
            endpoint.url.expose_secret().to_owned(),
            endpoint.client.clone(),
            auth,
            config.timeout,
        )
        .map(Destination::Http)
        .map_err(anyhow::Error::msg)
    };
    let default = match (&config.default, &config.dir) {
        (Some(endpoint), _) => Some(http(endpoint)?),
        (None, Some(dir)) => Some(Destination::Directory(dir.clone())),
        (None, None) => None,
    };
    let per_tenant = config
        .per_tenant
        .iter()
        .map(|(tenant, endpoint)| Ok((tenant.clone(), http(endpoint)?)))
        .collect::<anyhow::Result<_>>()?;
    let rules = config
        .per_tenant
        .iter()
        .map(|(tenant, endpoint)| (tenant.clone(), endpoint.rules.clone()))
        .collect();
    Ok(Destinations {
        default,
        per_tenant,
        default_rules: config.default_rules.clone(),
        rules,
    })
}

pub fn settings(config: &PublicHealthConfig) -> Settings {
    Settings {
        dequeue_batch: config.dequeue_batch,
        max_batch: config.max_batch,
        lease: config.lease,
        timeout: config.timeout,
        backoff_base: config.backoff,
        backoff_max: config.backoff_max,
        processing_mode: config.processing_mode.clone(),
    }
}

/// One pass, counted in `/metrics`; `stop` ends it between uploads.
pub async fn run_pass(
    state: &AppState,
    destinations: &Destinations,
    settings: &Settings,
    stop: &(dyn Fn() -> bool + Sync),
) -> Option<PassCounts> {
    match public_health::report_due(&state.app.db, destinations, settings, stop).await {
        Ok(counts) => {
            if let Some(metrics) = &state.metrics {
                metrics.public_health_pass(&counts);
            }
            Some(counts)
        }
        Err(error) => {
            tracing::warn!(error = %error, detail = ?error, "public-health reporting pass failed");
            None
        }
    }
}

/// The running reporting worker; `stop` lets it finish the upload in hand and waits.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Worker {
    /// Starts the worker when the configuration enables it and some tenant has a destination.
    pub fn spawn(state: &AppState) -> anyhow::Result<Option<Self>> {
        let config = &state.config.public_health;
        if !config.worker {
            return Ok(None);
        }
        let destinations = destinations(config).context("configuring public-health endpoints")?;
        if destinations.default.is_none() && destinations.per_tenant.is_empty() {
            tracing::warn!(
                "no public-health endpoint (PUBLIC_HEALTH_URL, PUBLIC_HEALTH_ENDPOINTS_FILE): reports stay queued"
            );
        }
        let settings = settings(config);
        let interval = config.interval;
        let (stop, mut stopped) = watch::channel(false);
        let state = state.clone();
        let task = tokio::spawn(async move {
            tracing::info!(
                interval_secs = interval.as_secs(),
                "public-health worker started"
            );
            let stopping = Arc::new(AtomicBool::new(false));
            loop {
                let flag = stopping.clone();
                let stop_check = move || flag.load(Ordering::Relaxed);
                let pass = run_pass(&state, &destinations, &settings, &stop_check);
                tokio::pin!(pass);
                tokio::select! {
                    _ = &mut pass => {}
                    () = until_stopped(&mut stopped) => {
                        stopping.store(true, Ordering::Relaxed);
                        pass.await;
                        break;
                    }
                }
                tokio::select! {
                    () = until_stopped(&mut stopped) => break,
                    () = tokio::time::sleep(interval) => {}
                }
            }
            tracing::info!("public-health worker stopped");
        });
        Ok(Some(Self { stop, task }))
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(error = %error, "public-health worker ended abnormally");
        }
    }
}

async fn until_stopped(stopped: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which is a stop too.
    let _ = stopped.wait_for(|stop| *stop).await;
}
