//! The MLLP listeners of the HL7 v2 inbound interface (`PORTAL_MLLP_BIND`), run by
//! `portal serve` or `portal worker` as `PORTAL_MLLP_IN` says; each listener serves one
//! tenant, or routes by an identifier of the sending facility (`PORTAL_MLLP_SENDERS`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use portal_core::RequestContext;
use portal_entities::tenant;
use portal_hl7::{Door, Handler, Limits, Tls};
use portal_hl7_inbound::{Interface, Observer, Outcome};
use portal_schema::ReadCache;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use portal_hl7_inbound::Routes;

use crate::config::MllpListener;
use crate::metrics::Metrics;
use crate::state::AppState;

/// The running listeners; `stop` waits for them after `state.shutdown()` (each finishes the
/// message it is handling and sends its ACK).
pub struct Listeners {
    tasks: Vec<JoinHandle<()>>,
}

impl Listeners {
    /// Binds every configured address and serves it until `state.shutdown()`.
    pub async fn start(state: &AppState) -> anyhow::Result<Self> {
        let mut tasks = Vec::new();
        let config = &state.config.mllp;
        let tls = match &config.tls.files {
            Some(files) if !config.tls.listeners.is_empty() => {
                let tls = Arc::new(
                    Tls::load(files.clone(), config.tls.senders.clone())
                        .context("PORTAL_MLLP_TLS_CERT / _KEY / _CLIENT_CA")?,
                );
                tasks.push(tokio::spawn(
                    tls.clone()
                        .watch(config.tls.reload_every, state.shutting_down()),
                ));
                Some(tls)
            }
            _ => None,
        };
        let plain = config.listeners.iter().map(|l| (l, None));
        let secure = config.tls.listeners.iter().map(|l| (l, tls.clone()));
        for (listener, tls) in plain.chain(secure) {
            let routes = routes(state, listener).await?;
            let socket = TcpListener::bind(listener.addr)
                .await
                .with_context(|| format!("binding {} (PORTAL_MLLP_BIND)", listener.addr))?;
            let addr: SocketAddr = socket.local_addr()?;
            let door = Door {
                allow: config.tls.allow_for(listener.addr),
                tls,
            };
            tracing::info!(%addr, tls = door.tls.is_some(), allow = door.allow.len(), "mllp listening (HL7 v2)");
            let handler: Arc<dyn Handler> = Arc::new(interface(state, routes));
            tasks.push(tokio::spawn(portal_hl7::serve_through(
                socket,
                door,
                handler,
                Limits::default(),
                state.shutting_down(),
            )));
        }
        Ok(Self { tasks })
    }

    pub async fn stop(self) {
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "mllp listener task failed");
            }
        }
    }
}

/// The handler of one listener over the application's pool, counted in its metrics.
pub fn interface(state: &AppState, routes: Routes) -> Interface {
    let observer: Arc<dyn Observer> = Arc::new(Observed {
        metrics: state.metrics.clone(),
        cache: state.cache.clone(),
    });
    Interface::new(
        state.app.db.clone(),
        routes,
        state.app.outbox_wake.clone(),
        Some(observer),
    )
    .with_result_links(state.config.notify.public_url.clone())
}

/// The listener's tenant, else the senders' tenants by facility identifier, else (development) the
/// demo tenant.
async fn routes(state: &AppState, listener: &MllpListener) -> anyhow::Result<Routes> {
    if let Some(slug) = &listener.tenant {
        return Ok(Routes::Tenant(tenant_id(state, slug).await?));
    }
    let senders = &state.config.mllp.senders;
    if !senders.is_empty() {
        let mut map = HashMap::new();
        for (identifier, slug) in senders {
            map.insert(identifier.clone(), tenant_id(state, slug).await?);
        }
        return Ok(Routes::BySendingFacility(map));
    }
    match state.dev.as_ref().and_then(|d| d.demo_tenant) {
        Some(demo) => Ok(Routes::Tenant(demo)),
        None => bail!(
            "PORTAL_MLLP_BIND {}: no tenant (bind it as addr=tenant, set PORTAL_MLLP_SENDERS, or PORTAL_MLLP_BIND=off)",
            listener.addr
        ),
    }
}

async fn tenant_id(state: &AppState, slug: &str) -> anyhow::Result<Uuid> {
    tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(&state.app.db)
        .await?
        .map(|t| t.id)
        .with_context(|| format!("PORTAL_MLLP: no tenant with slug {slug:?}"))
}

/// Counts answers in the metrics and moves the read cache on after a message's writes.
struct Observed {
    metrics: Option<Arc<Metrics>>,
    cache: ReadCache,
}

#[async_trait::async_trait]
impl Observer for Observed {
    fn answered(&self, message_type: &str, outcome: Outcome) {
        if let Some(metrics) = &self.metrics {
            metrics.hl7_message(message_type, outcome.label());
        }
    }

    fn connection(&self, outcome: &'static str) {
        if let Some(metrics) = &self.metrics {
            metrics.hl7_connection(outcome);
        }
    }

    async fn committed(&self, ctx: &RequestContext) {
        if let Err(error) = self.cache.invalidate_after(ctx).await {
            tracing::warn!(%error, "read cache not moved on after an HL7 message");
        }
    }
}
