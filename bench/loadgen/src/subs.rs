//! The subscription driver: N graphql-transport-ws connections, one `resultReady` each,
//! spread over several replicas and source addresses. Commit→client latency is the receive
//! time minus the time in the event's id (a UUIDv7, made in the writing transaction).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tokio::signal::unix::SignalKind;
use tokio::sync::{Mutex, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::hist::Latencies;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// WebSocket endpoints (ws://127.0.0.1:PORT/graphql), comma-separated.
    #[arg(long)]
    url: String,
    /// bench/mint_tokens.py output: "<jwt>\t<Patient ID>\t<uuid>" per line.
    #[arg(long)]
    patients: PathBuf,
    /// Subscribe to the first K patients (subscription i follows patient i mod K).
    #[arg(long)]
    patient_limit: usize,
    /// Skip the first S subscriptions' patients (to split N over several processes).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Number of connections (one subscription each).
    #[arg(long)]
    subs: usize,
    /// Local source addresses, comma-separated (127.0.0.x), used round-robin.
    #[arg(long, default_value = "127.0.0.1")]
    sources: String,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Where to write the latencies (microseconds, one per line) at the end.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Default)]
struct Totals {
    deliveries: AtomicUsize,
    duplicates: AtomicUsize,
    errors: AtomicUsize,
    closed: AtomicUsize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let patients: Vec<(String, String)> = std::fs::read_to_string(&args.patients)?
        .lines()
        .take(args.patient_limit)
        .filter_map(|l| {
            let mut f = l.split('\t');
            Some((f.next()?.to_owned(), f.next()?.to_owned()))
        })
        .collect();
    if patients.is_empty() {
        bail!("no patients");
    }
    let urls: Vec<String> = args.url.split(',').map(str::to_owned).collect();
    let sources: Vec<IpAddr> = args
        .sources
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let totals = Arc::new(Totals::default());
    let latencies = Arc::new(Mutex::new(Latencies::default()));
    let gate = Arc::new(Semaphore::new(args.connect_concurrency));
    let mut opening = Vec::with_capacity(args.subs);
    for i in 0..args.subs {
        let n = args.offset + i;
        let (token, patient) = patients[n % patients.len()].clone();
        let url = urls[n % urls.len()].clone();
        let source = sources[n % sources.len()];
        let (totals, latencies, gate) = (totals.clone(), latencies.clone(), gate.clone());
        opening.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await?;
            let ws = open(&url, source, &token, &patient).await?;
            drop(permit);
            tokio::spawn(listen(ws, totals, latencies));
            anyhow::Ok(())
        }));
    }
    let (mut connected, mut failed, mut first_error) = (0usize, 0usize, None);
    for o in opening {
        match o.await? {
            Ok(()) => connected += 1,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    println!("READY connected={connected} failed={failed}");
    if let Some(e) = first_error {
        eprintln!("first connect error: {e}");
    }
    // SIGUSR1 ends a phase: its figures are printed (`PHASE n …`, counts since the start)
    // and its latencies go to `<out>.<n>`; Ctrl-C (SIGINT) ends the run the same way with
    // `DONE …` and `<out>`. One set of connections then serves several write rates in turn.
    let mut phase_end = tokio::signal::unix::signal(SignalKind::user_defined1())?;
    let mut phase = 0usize;
    loop {
        let done = tokio::select! {
            _ = phase_end.recv() => false,
            stopped = tokio::signal::ctrl_c() => { stopped?; true }
        };
        let mut lat = std::mem::take(&mut *latencies.lock().await);
        let (label, out) = if done {
            ("DONE".to_owned(), args.out.clone())
        } else {
            phase += 1;
            (
                format!("PHASE {phase}"),
                args.out.with_extension(format!("{phase}")),
            )
        };
        lat.write_to(&out)?;
        let summary = lat.summary();
        println!(
            "{label} connected={connected} deliveries={} duplicates={} errors={} closed={} {summary}",
            totals.deliveries.load(Ordering::Relaxed),
            totals.duplicates.load(Ordering::Relaxed),
            totals.errors.load(Ordering::Relaxed),
            totals.closed.load(Ordering::Relaxed),
        );
        if done {
            return Ok(());
        }
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn open(url: &str, source: IpAddr, token: &str, patient: &str) -> anyhow::Result<Ws> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let host = request.uri().host().context("no host")?.to_owned();
    let port = request.uri().port_u16().context("no port")?;
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let stream = socket.connect(SocketAddr::new(host.parse()?, port)).await?;
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await?;
    let init =
        json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    ws.send(Message::text(init.to_string())).await?;
    let ack = tokio::time::timeout(Duration::from_secs(30), ws.next())
        .await?
        .context("closed before connection_ack")??;
    if !ack.to_text()?.contains("connection_ack") {
        bail!("expected connection_ack, got {ack}");
    }
    let subscribe = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($p: ID!) { resultReady(patientId: $p) { eventId result { id } } }",
        "variables": {"p": patient}}});
    ws.send(Message::text(subscribe.to_string())).await?;
    Ok(ws)
}

async fn listen(mut ws: Ws, totals: Arc<Totals>, latencies: Arc<Mutex<Latencies>>) {
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(Ok(message)) = ws.next().await {
        let Ok(text) = message.to_text() else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            continue;
        };
        match value["type"].as_str() {
            Some("next") => {
                let Some(event) = value
                    .pointer("/payload/data/resultReady/eventId")
                    .and_then(Value::as_str)
                else {
                    if totals.errors.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("first error payload: {text}");
                    }
                    continue;
                };
                if !seen.insert(event.to_owned()) {
                    totals.duplicates.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                totals.deliveries.fetch_add(1, Ordering::Relaxed);
                if let Some(latency) = since_uuid_v7(event) {
                    latencies.lock().await.record(latency);
                }
            }
            Some("ping") => {
                let _ = ws.send(Message::text(r#"{"type":"pong"}"#)).await;
            }
            Some("error") | Some("complete")
                if totals.errors.fetch_add(1, Ordering::Relaxed) == 0 =>
            {
                eprintln!("first error message: {text}");
            }
            _ => {}
        }
    }
    totals.closed.fetch_add(1, Ordering::Relaxed);
}

/// Now minus the millisecond timestamp in the first 48 bits of a UUIDv7.
fn since_uuid_v7(id: &str) -> Option<Duration> {
    let hex: String = id.chars().filter(|c| *c != '-').take(12).collect();
    let millis = u64::from_str_radix(&hex, 16).ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
    Some(now.saturating_sub(Duration::from_millis(millis)))
}
