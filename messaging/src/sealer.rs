//! The audit sealer loop: every replica (and `portal worker`) runs one; per chain only one
//! seals at a time (`portal_core::audit::seal`), the others find the chain busy and move on.
//! The interval bounds the window in which a committed audit row is not sealed yet
//! (docs/audit.md).

use std::future::Future;
use std::time::Duration;

use portal_core::audit::seal::{self, BATCH_ROWS};
use sea_orm::DatabaseConnection;

/// Seals every chain, then again every `interval`, until `shutdown`.
pub async fn run_sealer(
    db: DatabaseConnection,
    interval: Duration,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        if let Err(err) = seal::seal_all(&db, BATCH_ROWS).await {
            tracing::warn!(error = %err, "audit seal pass failed; retrying later");
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(interval) => {}
        }
    }
    tracing::info!("audit sealer stopped");
}
