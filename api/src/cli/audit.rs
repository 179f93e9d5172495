//! `portal audit verify` and `portal audit seal`: check the audit chains (streaming, page by
//! page) and seal what is committed but not sealed yet (docs/audit.md).

use anyhow::{Context as _, bail};
use clap::Subcommand;
use portal_core::audit::chain::Chain;
use portal_core::audit::seal::{self, BATCH_ROWS};
use portal_core::audit::verify::{self, ChainReport, Scope};
use uuid::Uuid;

use crate::config::Config;
use crate::state::open_database;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Verify the audit chains; prints each chain's state and the first broken link, and
    /// exits non-zero when one is broken.
    Verify {
        /// One chain: a tenant id, or `none` for the rows without a tenant.
        #[arg(long, value_parser = parse_chain)]
        tenant: Option<Chain>,
        /// Start at the first batch sealed at or after this time (RFC 3339).
        #[arg(long, value_parser = super::parse_rfc3339)]
        since: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Seal every committed, unsealed audit row now (the background sealer does this every
    /// `AUDIT_SEAL_INTERVAL_MS`).
    Seal,
}

fn parse_chain(text: &str) -> Result<Chain, String> {
    if text == "none" {
        return Ok(Chain::Untenanted);
    }
    Uuid::parse_str(text)
        .map(Chain::Tenant)
        .map_err(|e| format!("a tenant id or `none`: {e}"))
}

pub async fn run(config: Config, command: AuditCommand) -> anyhow::Result<()> {
    let db = open_database(&config).await?;
    match command {
        AuditCommand::Seal => {
            let sealed = seal::seal_all(&db, BATCH_ROWS)
                .await
                .context("sealing the audit trail")?;
            println!(
                "sealed {} row(s) in {} batch(es); {} chain(s) busy with another sealer",
                sealed.rows, sealed.batches, sealed.busy
            );
            Ok(())
        }
        AuditCommand::Verify { tenant, since } => {
            let scope = Scope {
                chain: tenant,
                since,
            };
            let reports = verify::verify(&db, &scope)
                .await
                .context("verifying the audit trail")?;
            let mut broken = 0;
            for report in &reports {
                println!("{}", describe(report));
                broken += usize::from(report.broken.is_some());
            }
            if broken > 0 {
                bail!("{broken} audit chain(s) broken");
            }
            Ok(())
        }
    }
}

fn describe(report: &ChainReport) -> String {
    let chain = report.chain.label();
    let unsealed = match report.oldest_unsealed {
        Some(oldest) => format!(
            "{} unsealed (oldest {})",
            report.unsealed_rows,
            oldest.to_rfc3339()
        ),
        None => "0 unsealed".to_owned(),
    };
    match &report.broken {
        None => format!(
            "chain {chain}: intact, {} batch(es), {} sealed row(s), {unsealed}, head {}",
            report.batches, report.sealed_rows, report.head
        ),
        Some(b) => format!(
            "chain {chain}: BROKEN at batch {} seq {}: {}",
            b.batch.map_or("-".to_owned(), |n| n.to_string()),
            b.seq.map_or("-".to_owned(), |n| n.to_string()),
            b.reason
        ),
    }
}
