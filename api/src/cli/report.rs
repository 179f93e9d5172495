//! `portal report`: the public-health error queue (`errors`) and its replay
//! (`replay --errors [--dry-run]`). Prints ids, statuses and the receiver's messages only.

use anyhow::Context as _;
use clap::Subcommand;
use portal_messaging::public_health::queue;

use crate::config::Config;
use crate::state::{apply_migrations, open_database};

#[derive(Subcommand)]
pub enum ReportCommand {
    /// List the error queue: reports the receiver refused or that lack required data.
    Errors {
        /// At most this many entries per tenant.
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Put the error queue back in the reporting queue (after fixing the data or the
    /// receiver's configuration); each report goes into a new batch with a new id.
    Replay {
        /// Replay the error queue (the only queue to replay; required so the intent is explicit).
        #[arg(long, required = true)]
        errors: bool,
        /// Count what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(config: Config, command: ReportCommand) -> anyhow::Result<()> {
    let db = open_database(&config).await?;
    if config.auto_migrate {
        apply_migrations(&config, &db).await?;
    }
    match command {
        ReportCommand::Errors { limit } => {
            let open = queue::open_errors(&db, limit)
                .await
                .context("reading the public-health error queue")?;
            println!("{} report(s) in the error queue", open.len());
            for entry in open {
                let status = entry
                    .http_status
                    .map_or_else(|| "-".to_owned(), |s| s.to_string());
                let batch = entry
                    .batch_id
                    .map_or_else(|| "-".to_owned(), |b| b.to_string());
                let result = entry
                    .result_id
                    .map_or_else(|| "-".to_owned(), |r| r.to_string());
                println!(
                    "{}  tenant {}  message_id {}  result {result}  batch {batch}  HTTP {status}  {}",
                    entry.created_at.to_rfc3339(),
                    entry.tenant_id,
                    entry.report_id,
                    entry.message
                );
            }
        }
        ReportCommand::Replay { errors: _, dry_run } => {
            let count = queue::replay_errors(&db, dry_run)
                .await
                .context("replaying the public-health error queue")?;
            if dry_run {
                println!("{count} report(s) would be queued again (dry run)");
            } else {
                println!("{count} report(s) queued again");
            }
        }
    }
    Ok(())
}
