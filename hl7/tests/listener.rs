//! The MLLP listener over real TCP sockets on 127.0.0.1.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use portal_hl7::messages::interpret;
use portal_hl7::mllp::{self, Decoder, Frame};
use portal_hl7::{Ack, Handler, Hl7Error, Inbound, Limits, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Answers AA for a message that maps, else the error's ACK; can be slowed down, made to
/// fail or panic, and counts calls.
#[derive(Default)]
struct TestHandler {
    calls: AtomicUsize,
    delay_first: Option<Duration>,
    started: Notify,
    fail: bool,
    panic: bool,
}

#[async_trait::async_trait]
impl Handler for TestHandler {
    async fn handle(&self, inbound: &Inbound) -> Result<Ack, Hl7Error> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.started.notify_one();
        if let (0, Some(delay)) = (n, self.delay_first) {
            tokio::time::sleep(delay).await;
        }
        assert!(!self.panic, "handler bug");
        if self.fail {
            return Err(Hl7Error::Processing("database unavailable".to_owned()));
        }
        let message = match &inbound.message {
            Ok(m) => m,
            Err(e) => return Ok(Ack::for_error(&inbound.header, e)),
        };
        Ok(match interpret(message) {
            Ok(_) => Ack::accept(&inbound.header),
            Err(e) => Ack::for_error(&inbound.header, &e),
        })
    }
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(handler: Arc<TestHandler>, limits: Limits) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, handler, limits, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn connect(&self) -> Client {
        Client {
            stream: TcpStream::connect(self.addr).await.unwrap(),
            buf: BytesMut::new(),
            decoder: Decoder::new(1 << 20),
        }
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        timeout(WAIT, self.task)
            .await
            .expect("serve returns")
            .unwrap();
    }
}

fn limits() -> Limits {
    Limits {
        max_connections: 4,
        idle_timeout: Duration::from_secs(5),
        frame_timeout: Duration::from_secs(5),
        handler_timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// A client connection with its own read buffer, so ACKs that arrive together are kept.
struct Client {
    stream: TcpStream,
    buf: BytesMut,
    decoder: Decoder,
}

impl Client {
    async fn send(&mut self, message: &[u8]) {
        self.stream.write_all(&mllp::frame(message)).await.unwrap();
    }

    /// The next ACK's text, or `None` when the server closed the connection.
    async fn ack(&mut self) -> Option<String> {
        loop {
            if let Some(Frame::Message(m)) = self.decoder.decode(&mut self.buf) {
                return Some(String::from_utf8(m.to_vec()).unwrap());
            }
            let read = timeout(WAIT, self.stream.read_buf(&mut self.buf)).await;
            if read.expect("server answers or closes").unwrap_or(0) == 0 {
                return None;
            }
        }
    }
}

fn msa(ack: &str) -> Vec<&str> {
    let line = ack.split('\r').find(|s| s.starts_with("MSA|")).unwrap();
    line.split('|').collect()
}

#[tokio::test]
async fn a_message_gets_its_ack() {
    let server = Server::start(Arc::default(), limits()).await;
    let mut c = server.connect().await;
    c.send(&fixture("oru_r01_v251_cbc.hl7")).await;
    let ack = c.ack().await.unwrap();
    assert!(ack.starts_with("MSH|^~\\&|PORTAL"));
    assert_eq!(msa(&ack)[1..3], ["AA", "LAB20260301-0001"]);
    server.shutdown().await;
}

#[tokio::test]
async fn two_messages_on_one_connection_are_answered_in_order() {
    let handler = Arc::new(TestHandler {
        delay_first: Some(Duration::from_millis(200)),
        ..Default::default()
    });
    let server = Server::start(handler, limits()).await;
    let mut c = server.connect().await;
    let mut both = mllp::frame(&fixture("oru_r01_v251_cbc.hl7"));
    both.extend(mllp::frame(&fixture("oru_r01_two_obr.hl7")));
    c.stream.write_all(&both).await.unwrap();
    assert_eq!(msa(&c.ack().await.unwrap())[2], "LAB20260301-0001");
    assert_eq!(msa(&c.ack().await.unwrap())[2], "LAB20260302-0042");
    server.shutdown().await;
}

#[tokio::test]
async fn the_connection_over_the_limit_is_closed_and_the_others_keep_working() {
    let server = Server::start(
        Arc::default(),
        Limits {
            max_connections: 2,
            ..limits()
        },
    )
    .await;
    let mut first = server.connect().await;
    let mut second = server.connect().await;
    for c in [&mut first, &mut second] {
        c.send(&fixture("oru_r01_v23.hl7")).await;
        assert_eq!(msa(&c.ack().await.unwrap())[1], "AA");
    }
    let mut third = server.connect().await;
    let _ = third
        .stream
        .write_all(&mllp::frame(&fixture("oru_r01_v23.hl7")))
        .await;
    assert_eq!(third.ack().await, None, "refused: closed without an answer");
    for c in [&mut first, &mut second] {
        c.send(&fixture("oru_r01_imaging.hl7")).await;
        assert_eq!(msa(&c.ack().await.unwrap())[2], "RAD20260304-0311");
    }
    drop(first);
    // The freed slot is usable again.
    let mut fourth = loop {
        let mut c = server.connect().await;
        c.send(&fixture("oru_r01_v23.hl7")).await;
        if let Some(ack) = c.ack().await {
            assert_eq!(msa(&ack)[1], "AA");
            break c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    fourth.send(&fixture("oru_r01_v23.hl7")).await;
    assert!(fourth.ack().await.is_some());
    server.shutdown().await;
}

#[tokio::test]
async fn an_idle_connection_is_closed() {
    let server = Server::start(
        Arc::default(),
        Limits {
            idle_timeout: Duration::from_millis(200),
            ..limits()
        },
    )
    .await;
    let mut c = server.connect().await;
    assert_eq!(c.ack().await, None);
    server.shutdown().await;
}

#[tokio::test]
async fn a_frame_without_its_end_byte_is_dropped_at_the_frame_timeout() {
    let handler = Arc::new(TestHandler::default());
    let server = Server::start(
        handler.clone(),
        Limits {
            frame_timeout: Duration::from_millis(300),
            ..limits()
        },
    )
    .await;
    let mut c = server.connect().await;
    let message = fixture("oru_r01_v23.hl7");
    c.stream.write_all(&[mllp::START]).await.unwrap();
    c.stream.write_all(&message).await.unwrap();
    assert_eq!(c.ack().await, None);
    assert_eq!(
        handler.calls.load(Ordering::SeqCst),
        0,
        "a partial frame is never handled"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_ten_mib_message_is_answered_ar_without_being_buffered() {
    let handler = Arc::new(TestHandler::default());
    let server = Server::start(handler.clone(), limits()).await;
    let mut c = server.connect().await;
    let mut huge = fixture("oru_r01_imaging.hl7");
    let filler = format!("OBX|4|TX|18782-3^Report^LN||{}||||||F\r", "x".repeat(1000));
    while huge.len() < 10 * 1024 * 1024 {
        huge.extend_from_slice(filler.as_bytes());
    }
    let (mut rd, mut wr) = c.stream.split();
    let write = async {
        wr.write_all(&mllp::frame(&huge)).await.unwrap();
    };
    let read = async {
        let mut decoder = Decoder::new(1 << 20);
        let mut buf = BytesMut::new();
        loop {
            if let Some(Frame::Message(m)) = decoder.decode(&mut buf) {
                return String::from_utf8(m.to_vec()).unwrap();
            }
            let n = timeout(WAIT, rd.read_buf(&mut buf)).await.unwrap().unwrap();
            assert_ne!(n, 0, "closed instead of answering");
        }
    };
    let ((), ack) = tokio::join!(write, read);
    assert_eq!(msa(&ack)[1..3], ["AR", "RAD20260304-0311"]);
    assert!(ack.contains("exceeds the 1048576-byte limit"));
    assert_eq!(handler.calls.load(Ordering::SeqCst), 0);
    c.send(&fixture("oru_r01_v23.hl7")).await;
    assert_eq!(
        msa(&c.ack().await.unwrap())[1],
        "AA",
        "the connection is still usable"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversized_frame_without_readable_msh_closes_the_connection() {
    let server = Server::start(
        Arc::default(),
        Limits {
            max_frame_bytes: 1024,
            ..limits()
        },
    )
    .await;
    let mut c = server.connect().await;
    let _ = c.stream.write_all(&mllp::frame(&vec![0xFF; 4096])).await;
    assert_eq!(c.ack().await, None);
    server.shutdown().await;
}

#[tokio::test]
async fn non_utf8_bytes_are_decoded_or_rejected_with_a_clear_ack() {
    let server = Server::start(Arc::default(), limits()).await;
    let mut c = server.connect().await;
    c.send(&fixture("adt_a08_latin1.hl7")).await;
    assert_eq!(
        msa(&c.ack().await.unwrap())[1..3],
        ["AA", "ADT20260311-0099"]
    );
    c.send(b"\xff\xfe\x00garbage\x80\x81").await;
    let ack = c.ack().await.unwrap();
    assert_eq!(msa(&ack)[1..3], ["AR", ""]);
    server.shutdown().await;
}

#[tokio::test]
async fn content_errors_are_answered_ae_with_the_field() {
    let server = Server::start(Arc::default(), limits()).await;
    let mut c = server.connect().await;
    let bad = "MSH|^~\\&|LIS|LAB|PORTAL|RIV|20260301||ORU^R01^ORU_R01|BAD1|P|2.5.1\rPID|1||MRN1001^^^R^MR\rOBR|1|P|F|58410-2^CBC^LN|||||||||||||||||||||F\rOBX|1|NM|718-7^Hgb^LN||twelve||||||F\r";
    c.send(bad.as_bytes()).await;
    let ack = c.ack().await.unwrap();
    assert_eq!(msa(&ack)[1..3], ["AE", "BAD1"]);
    assert!(
        ack.contains("ERR||OBX^1^5|102^Data type error^HL70357|E"),
        "{ack}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_failing_or_panicking_handler_still_gets_an_ar_out() {
    for handler in [
        TestHandler {
            fail: true,
            ..Default::default()
        },
        TestHandler {
            panic: true,
            ..Default::default()
        },
    ] {
        let server = Server::start(Arc::new(handler), limits()).await;
        let mut c = server.connect().await;
        c.send(&fixture("oru_r01_v23.hl7")).await;
        let ack = c.ack().await.unwrap();
        assert_eq!(msa(&ack)[1..3], ["AR", "RIV000123"]);
        assert!(!ack.contains("database"), "internal detail stays inside");
        c.send(&fixture("oru_r01_v23.hl7")).await;
        assert!(c.ack().await.is_some(), "the connection stays open");
        server.shutdown().await;
    }
}

#[tokio::test]
async fn graceful_shutdown_lets_the_message_in_flight_finish() {
    let handler = Arc::new(TestHandler {
        delay_first: Some(Duration::from_millis(300)),
        ..Default::default()
    });
    let server = Server::start(handler.clone(), limits()).await;
    let mut idle = server.connect().await;
    let mut busy = server.connect().await;
    busy.send(&fixture("oru_r01_v251_cbc.hl7")).await;
    timeout(WAIT, handler.started.notified()).await.unwrap();
    let addr = server.addr;
    let shutdown = tokio::spawn(server.shutdown());
    let ack = busy.ack().await.expect("the in-flight message is answered");
    assert_eq!(msa(&ack)[1..3], ["AA", "LAB20260301-0001"]);
    assert_eq!(busy.ack().await, None, "then the connection closes");
    assert_eq!(idle.ack().await, None, "idle connections close at once");
    timeout(WAIT, shutdown).await.unwrap().unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}
