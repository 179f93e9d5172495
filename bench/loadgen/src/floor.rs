//! The HTTP floor: what axum costs for a response of the portal's size, with no GraphQL or SQL.

use std::path::PathBuf;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;

#[derive(clap::Args)]
pub struct Args {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8099")]
    bind: String,
    /// File whose bytes are the body of every response (e.g. a real portal response).
    #[arg(long)]
    body: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let body: &'static [u8] = Vec::leak(std::fs::read(&args.body)?);
    let app = Router::new().fallback(move || async move {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    });
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
