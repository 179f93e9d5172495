//! The ingestion driver: results submitted as a lab, single or batched, as fast as accepted
//! or at a fixed rate, with every response checked.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::hist::Latencies;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// GraphQL endpoints, comma-separated (requests go round-robin).
    #[arg(long)]
    url: String,
    /// File holding the lab's bearer token.
    #[arg(long)]
    token_file: PathBuf,
    /// bench/mint_tokens.py output: "<jwt>\t<Patient ID>\t<uuid>" per line.
    #[arg(long)]
    patients: PathBuf,
    /// Use only the first N patients of the file.
    #[arg(long)]
    patient_limit: Option<usize>,
    /// Global ID of the facility the orders are placed at.
    #[arg(long)]
    facility: String,
    /// Catalog code of the test.
    #[arg(long, default_value = "58410-2")]
    test_code: String,
    /// Analyte codes of the test, comma-separated, each given a numeric value.
    #[arg(long)]
    analytes: String,
    /// Results to submit in all.
    #[arg(long)]
    count: usize,
    /// Results per request: 1 uses addTestResult, more use addTestResults.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Target results per second (fixed-rate schedule); unset: as fast as accepted.
    #[arg(long)]
    rate: Option<f64>,
    /// Stop starting requests after this many seconds (those in flight finish): the run is
    /// bound by time, not by `count`, when the server cannot keep up.
    #[arg(long)]
    seconds: Option<f64>,
    /// Prefix of per-result idempotency keys (unset: no key).
    #[arg(long)]
    idempotency_prefix: Option<String>,
}

struct Shared {
    args: Args,
    urls: Vec<String>,
    token: String,
    patients: Vec<String>,
    analytes: Vec<String>,
    issued_at: String,
    next: AtomicUsize,
    start: Instant,
    client: reqwest::Client,
}

#[derive(Default)]
struct Tally {
    ok: usize,
    failed: usize,
    requests: usize,
    first_error: Option<String>,
    latencies: Latencies,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let token = std::fs::read_to_string(&args.token_file)?.trim().to_owned();
    let mut patients: Vec<String> = std::fs::read_to_string(&args.patients)?
        .lines()
        .filter_map(|l| l.split('\t').nth(1).map(str::to_owned))
        .collect();
    if let Some(limit) = args.patient_limit {
        patients.truncate(limit);
    }
    if patients.is_empty() || args.batch == 0 || args.concurrency == 0 {
        bail!("need patients, a batch of at least 1 and a concurrency of at least 1");
    }
    let shared = Arc::new(Shared {
        urls: args.url.split(',').map(str::to_owned).collect(),
        analytes: args.analytes.split(',').map(str::to_owned).collect(),
        issued_at: (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339(),
        args: args.clone(),
        token,
        patients,
        next: AtomicUsize::new(0),
        start: Instant::now(),
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(args.concurrency)
            .build()?,
    });
    let tally = Arc::new(Mutex::new(Tally::default()));
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| tokio::spawn(worker(shared.clone(), tally.clone())))
        .collect();
    for w in workers {
        w.await??;
    }
    let seconds = shared.start.elapsed().as_secs_f64();
    let mut t = tally.lock().await;
    let summary = t.latencies.summary();
    println!(
        "results_ok={} results_failed={} requests={} seconds={:.2} results_per_s={:.0} {}",
        t.ok,
        t.failed,
        t.requests,
        seconds,
        t.ok as f64 / seconds,
        summary
    );
    if let Some(e) = &t.first_error {
        eprintln!("first error: {e}");
    }
    Ok(())
}

async fn worker(shared: Arc<Shared>, tally: Arc<Mutex<Tally>>) -> anyhow::Result<()> {
    let batch = shared.args.batch;
    let requests = shared.args.count.div_ceil(batch);
    loop {
        let r = shared.next.fetch_add(1, Ordering::Relaxed);
        if r >= requests {
            return Ok(());
        }
        let deadline = shared
            .args
            .seconds
            .map(|s| shared.start + Duration::from_secs_f64(s));
        if let Some(rate) = shared.args.rate {
            let due = shared.start + Duration::from_secs_f64((r * batch) as f64 / rate);
            if deadline.is_some_and(|d| due >= d) {
                return Ok(());
            }
            tokio::time::sleep_until(due.into()).await;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        let first = r * batch;
        let last = (first + batch).min(shared.args.count);
        let body = request_body(&shared, first, last);
        let url = &shared.urls[r % shared.urls.len()];
        let sent = Instant::now();
        let outcome = send(&shared, url, &body, last - first).await;
        let elapsed = sent.elapsed();
        let mut t = tally.lock().await;
        t.requests += 1;
        t.latencies.record(elapsed);
        match outcome {
            Ok((ok, failed, error)) => {
                t.ok += ok;
                t.failed += failed;
                if t.first_error.is_none() {
                    t.first_error = error;
                }
            }
            Err(e) => {
                t.failed += last - first;
                if t.first_error.is_none() {
                    t.first_error = Some(format!("{e:#}"));
                }
            }
        }
    }
}

fn input(shared: &Shared, k: usize) -> Value {
    let patient = &shared.patients[(k * 7919) % shared.patients.len()];
    let observations: Vec<Value> = shared
        .analytes
        .iter()
        .enumerate()
        .map(|(i, code)| json!({ "code": code, "valueNumeric": 1.0 + ((k * 31 + i * 7) % 90) as f64 / 10.0 }))
        .collect();
    let mut input = json!({
        "patientId": patient,
        "order": { "facilityId": shared.args.facility, "testCode": shared.args.test_code },
        "status": "FINAL",
        "issuedAt": shared.issued_at,
        "observations": observations,
    });
    if let Some(prefix) = &shared.args.idempotency_prefix {
        input["idempotencyKey"] = json!(format!("{prefix}-{k}"));
    }
    input
}

fn request_body(shared: &Shared, first: usize, last: usize) -> Value {
    if shared.args.batch == 1 {
        json!({
            "query": "mutation($input: AddTestResultInput!) { addTestResult(input: $input) { result { id } eventId } }",
            "variables": { "input": input(shared, first) },
        })
    } else {
        let inputs: Vec<Value> = (first..last).map(|k| input(shared, k)).collect();
        json!({
            "query": "mutation($inputs: [AddTestResultInput!]!) { addTestResults(inputs: $inputs) { succeeded failed items { error { code message } } } }",
            "variables": { "inputs": inputs },
        })
    }
}

/// (stored, failed, first error) of one request.
async fn send(
    shared: &Shared,
    url: &str,
    body: &Value,
    expected: usize,
) -> anyhow::Result<(usize, usize, Option<String>)> {
    let response: Value = shared
        .client
        .post(url)
        .bearer_auth(&shared.token)
        .json(body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if let Some(errors) = response.get("errors") {
        return Ok((0, expected, Some(errors.to_string())));
    }
    if shared.args.batch == 1 {
        response
            .pointer("/data/addTestResult/result/id")
            .context("no result id in the response")?;
        return Ok((1, 0, None));
    }
    let payload = response
        .pointer("/data/addTestResults")
        .context("no addTestResults payload")?;
    let ok = payload["succeeded"].as_u64().unwrap_or(0) as usize;
    let failed = payload["failed"].as_u64().unwrap_or(0) as usize;
    let error = payload["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| !i["error"].is_null()))
        .map(|i| i["error"].to_string());
    Ok((ok, failed, error))
}
