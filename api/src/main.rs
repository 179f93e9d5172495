//! `portal`: tracing, configuration, then the command (serve by default).

use clap::Parser;
use portal_api::Config;
use portal_api::cli::{Cli, run, run_without_configuration};
use portal_api::config::server::LOG_FILTER;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc malloc: the read path allocates per field and per row, and under
/// load glibc's arenas showed up as ~20% of the server's CPU (BENCHMARKS.md, "Profile").
/// The `system-allocator` feature keeps glibc's, for heap profilers.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.runs_without_configuration() {
        return run_without_configuration(cli);
    }
    let config = Config::from_env()?;
    init_tracing(config.log_json);
    run(cli, config).await
}

fn init_tracing(json: bool) {
    let filter = EnvFilter::try_from_env(LOG_FILTER.name)
        .unwrap_or_else(|_| EnvFilter::new(LOG_FILTER.default_value(true).unwrap_or("info")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}
