//! `portal-bench`: the helpers the benchmark scripts in `bench/` run (not part of the portal).

mod floor;
mod hist;
mod ingest;
mod rate;
mod smtp_sink;
mod subs;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmark helpers for bench/*.sh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A trivial axum server answering every POST with a fixed body (the HTTP floor).
    HttpFloor(floor::Args),
    /// Submits results with addTestResult / addTestResults as a lab and reports results/s.
    Ingest(ingest::Args),
    /// Fixed-rate reads (wrk2-style): latency counted from each request's scheduled time.
    Rate(rate::Args),
    /// Holds resultReady subscriptions over graphql-transport-ws and measures delivery.
    Subs(subs::Args),
    /// An SMTP server that accepts every message and counts them per recipient.
    SmtpSink(smtp_sink::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match cli.command {
            Command::HttpFloor(args) => floor::run(args).await,
            Command::Ingest(args) => ingest::run(args).await,
            Command::Rate(args) => rate::run(args).await,
            Command::Subs(args) => subs::run(args).await,
            Command::SmtpSink(args) => smtp_sink::run(args).await,
        }
    })
}
