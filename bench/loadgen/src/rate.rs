//! Fixed-rate reads (wrk2-style, open loop): requests are scheduled at a constant rate and
//! each latency runs from its scheduled time, so a stalled server cannot hide its queue.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::sync::{Mutex, Semaphore};

use crate::hist::Latencies;

#[derive(clap::Args)]
pub struct Args {
    /// GraphQL endpoint.
    #[arg(long)]
    url: String,
    /// bench/mint_tokens.py output: "<jwt>\t<Patient ID>\t<uuid>" per line.
    #[arg(long)]
    patients: PathBuf,
    /// portal (patient token, global ID) or postgraphile (no token, uuid).
    #[arg(long, default_value = "portal")]
    mode: String,
    /// Requests per second.
    #[arg(long)]
    rate: f64,
    /// Length of the run.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Most requests in flight (connections).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

const PORTAL: &str = "query($p: ID!) { patient(id: $p) { results(first: 20) { edges { node { id status issuedAt test { code displayName } observations { code displayName valueNumeric unit interpretation } } } } } }";
const POSTGRAPHILE: &str = "query($p: UUID!) { patientByRowId(rowId: $p) { testResultsByPatientId(first: 20, orderBy: [ISSUED_AT_DESC, ROW_ID_DESC]) { nodes { rowId status issuedAt testCatalogByTestId { code displayName } observationsByResultId(orderBy: POSITION_ASC) { nodes { code displayName valueNumeric unit interpretation } } } } } }";

pub async fn run(args: Args) -> anyhow::Result<()> {
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&args.patients)?
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .filter(|r: &Vec<String>| r.len() == 3)
        .collect();
    if rows.is_empty() || args.rate <= 0.0 {
        bail!("need patients and a positive rate");
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let gate = Arc::new(Semaphore::new(args.concurrency));
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let total = (args.rate * args.seconds as f64) as usize;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for k in 0..total {
        let due = start + Duration::from_secs_f64(k as f64 / args.rate);
        tokio::time::sleep_until(due.into()).await;
        let row = &rows[(k * 7919 + 13) % rows.len()];
        let mut request = client.post(&args.url);
        let body = if args.mode == "postgraphile" {
            serde_json::json!({"query": POSTGRAPHILE, "variables": {"p": row[2]}})
        } else {
            request = request.bearer_auth(&row[0]);
            serde_json::json!({"query": PORTAL, "variables": {"p": row[1]}})
        };
        let (gate, latencies, failures) = (gate.clone(), latencies.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let Ok(_permit) = gate.acquire_owned().await else {
                return;
            };
            let ok = match request.json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    r.text().await.is_ok_and(|t| !t.contains("\"errors\""))
                }
                _ => false,
            };
            if !ok {
                failures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            latencies.lock().await.record(due.elapsed());
        }));
    }
    for t in tasks {
        t.await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let summary = latencies.lock().await.summary();
    println!(
        "RATE target_rps={:.0} achieved_rps={:.1} requests={total} failures={} {summary}",
        args.rate,
        total as f64 / seconds,
        failures.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}
