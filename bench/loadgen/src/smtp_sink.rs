//! An SMTP sink: accepts every message, keeps nothing but a count per recipient, and
//! rewrites `<out>` (total) and `<out>.rcpt` ("count address" per line) four times a second.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

#[derive(clap::Args)]
pub struct Args {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:2525")]
    bind: String,
    /// Stats file.
    #[arg(long)]
    out: PathBuf,
}

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind(&args.bind).await?;
    let counts: Counts = Arc::default();
    tokio::spawn(write_stats(counts.clone(), args.out));
    loop {
        let (stream, _) = listener.accept().await?;
        let counts = counts.clone();
        tokio::spawn(async move {
            if let Err(e) = session(stream, counts).await {
                eprintln!("smtp session: {e}");
            }
        });
    }
}

async fn write_stats(counts: Counts, out: PathBuf) {
    let mut rcpt_path = out.clone().into_os_string();
    rcpt_path.push(".rcpt");
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (total, lines) = {
            let map = counts.lock().await;
            let lines: String = map.iter().map(|(a, n)| format!("{n} {a}\n")).collect();
            (map.values().sum::<u64>(), lines)
        };
        let _ = std::fs::write(&rcpt_path, lines);
        let _ = std::fs::write(&out, format!("{total}\n"));
    }
}

async fn session(stream: TcpStream, counts: Counts) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 bench-sink ESMTP\r\n").await?;
    let mut recipients: Vec<String> = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-bench-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("RCPT TO:") {
            recipients.push(line[8..].trim().trim_matches(['<', '>']).to_owned());
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            write.write_all(b"354 go ahead\r\n").await?;
            while let Some(data) = lines.next_line().await? {
                if data == "." {
                    break;
                }
            }
            let mut map = counts.lock().await;
            for r in recipients.drain(..) {
                *map.entry(r).or_default() += 1;
            }
            b"250 queued\r\n"
        } else if upper.starts_with("RSET") {
            recipients.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"250 OK\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}
