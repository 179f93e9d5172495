//! The MLLP server: bounded connections, one message at a time per connection, timeouts,
//! graceful shutdown. Logs carry control ids, types, sizes and outcomes, never content.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

use crate::ack::Ack;
use crate::error::Hl7Error;
use crate::messages::Header;
use crate::mllp::{self, Decoder, Frame};
use crate::parse::{Message, parse};

/// Limits of the listener; see docs/hl7.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; one more is accepted and closed at once.
    pub max_connections: usize,
    /// Largest message accepted; a larger one is answered AR (or the connection closed
    /// when its MSH cannot be read), without being buffered.
    pub max_frame_bytes: usize,
    /// A connection with no frame in progress is closed after this long.
    pub idle_timeout: Duration,
    /// A frame must be complete this long after its start byte; an ACK must be written
    /// within it too.
    pub frame_timeout: Duration,
    /// A handler taking longer is abandoned and the message answered AR.
    pub handler_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 16,
            max_frame_bytes: mllp::DEFAULT_MAX_FRAME,
            idle_timeout: Duration::from_secs(300),
            frame_timeout: Duration::from_secs(30),
            handler_timeout: Duration::from_secs(60),
        }
    }
}

/// One received message, as the handler sees it.
#[derive(Debug)]
pub struct Inbound {
    /// The message bytes, without MLLP framing.
    pub raw: Bytes,
    /// The parsed message, or why it did not parse.
    pub message: Result<Message, Hl7Error>,
    /// The header, read even when the whole message did not parse (empty if not even MSH).
    pub header: Header,
    pub peer: SocketAddr,
}

/// What the application does with a message: store it, apply it, and say which ACK to
/// send. An `Err` (or a panic, or a timeout) is answered AR so the sender resends.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, inbound: &Inbound) -> Result<Ack, Hl7Error>;
}

/// Serves MLLP on `listener` until `shutdown` resolves, then stops accepting, lets each
/// connection finish the message it is handling (its ACK is sent) and returns when all
/// connections have closed.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::warn!(%error, "mllp.accept failed");
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, limit = limits.max_connections, "mllp.connection refused: limit reached");
                    drop(stream);
                    continue;
                };
                let connection = Connection { handler: handler.clone(), limits, peer, stopped: stopped.clone() };
                connections.spawn(async move {
                    connection.run(stream).await;
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        "mllp.shutdown: finishing open connections"
    );
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

struct Connection {
    handler: Arc<dyn Handler>,
    limits: Limits,
    peer: SocketAddr,
    stopped: watch::Receiver<bool>,
}

/// Why a connection ends.
#[derive(Debug)]
enum Close {
    PeerClosed,
    IdleTimeout,
    FrameTimeout,
    Shutdown,
    Oversized,
    Io(std::io::Error),
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        let peer = self.peer;
        tracing::debug!(%peer, "mllp.connection open");
        match self.serve(stream).await {
            Close::Io(error) => tracing::debug!(%peer, %error, "mllp.connection closed: i/o error"),
            reason => tracing::debug!(%peer, ?reason, "mllp.connection closed"),
        }
    }

    async fn serve(&mut self, mut stream: TcpStream) -> Close {
        let mut decoder = Decoder::new(self.limits.max_frame_bytes);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut frame_started: Option<Instant> = None;
        loop {
            while let Some(frame) = decoder.decode(&mut buf) {
                frame_started = None;
                let Some(ack) = self.answer(frame).await else {
                    return Close::Oversized;
                };
                let written = timeout(
                    self.limits.frame_timeout,
                    stream.write_all(&mllp::frame(ack.as_bytes())),
                )
                .await;
                match written {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Close::Io(e),
                    Err(_) => return Close::FrameTimeout,
                }
                if *self.stopped.borrow() {
                    return Close::Shutdown;
                }
            }
            if *self.stopped.borrow() {
                return Close::Shutdown;
            }
            let deadline = if decoder.in_frame() {
                *frame_started.get_or_insert_with(Instant::now) + self.limits.frame_timeout
            } else {
                Instant::now() + self.limits.idle_timeout
            };
            buf.reserve(16 * 1024);
            tokio::select! {
                _ = self.stopped.changed() => return Close::Shutdown,
                read = timeout_at(deadline, stream.read_buf(&mut buf)) => match read {
                    Ok(Ok(0)) => return Close::PeerClosed,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Close::Io(e),
                    Err(_) if decoder.in_frame() => return Close::FrameTimeout,
                    Err(_) => return Close::IdleTimeout,
                },
            }
        }
    }

    /// The ACK for a frame; `None` closes the connection (an oversized frame without a
    /// readable MSH: there is nobody to address an answer to).
    async fn answer(&self, frame: Frame) -> Option<Ack> {
        match frame {
            Frame::Oversized { head, size } => {
                let header = Header::peek(&head)?;
                let error = Hl7Error::FrameTooLarge {
                    size,
                    limit: self.limits.max_frame_bytes,
                };
                let ack = Ack::for_error(&header, &error);
                log_outcome(self.peer, &header, size, &ack);
                Some(ack)
            }
            Frame::Message(raw) => Some(self.handle(raw).await),
        }
    }

    async fn handle(&self, raw: Bytes) -> Ack {
        let message = parse(&raw);
        let header = match &message {
            Ok(m) => Header::read(m),
            Err(_) => Header::peek(&raw).unwrap_or_default(),
        };
        let size = raw.len();
        let inbound = Arc::new(Inbound {
            raw,
            message,
            header,
            peer: self.peer,
        });
        let handler = self.handler.clone();
        let task_input = inbound.clone();
        // A task of its own so that a panicking handler still gets its message an AR.
        let mut task = tokio::spawn(async move { handler.handle(&task_input).await });
        let outcome = timeout(self.limits.handler_timeout, &mut task).await;
        let ack = match outcome {
            Ok(Ok(Ok(ack))) => ack,
            Ok(Ok(Err(error))) => {
                tracing::warn!(peer = %self.peer, control_id = ?inbound.header.control_id, %error, "mllp.handler failed");
                Ack::for_error(&inbound.header, &error)
            }
            Ok(Err(join)) => {
                tracing::error!(peer = %self.peer, control_id = ?inbound.header.control_id, panic = join.is_panic(), "mllp.handler crashed");
                Ack::for_error(
                    &inbound.header,
                    &Hl7Error::Processing("handler crashed".to_owned()),
                )
            }
            Err(_) => {
                task.abort();
                tracing::error!(peer = %self.peer, control_id = ?inbound.header.control_id, "mllp.handler timed out");
                Ack::for_error(
                    &inbound.header,
                    &Hl7Error::Processing("handler timed out".to_owned()),
                )
            }
        };
        log_outcome(self.peer, &inbound.header, size, &ack);
        ack
    }
}

fn log_outcome(peer: SocketAddr, header: &Header, size: usize, ack: &Ack) {
    tracing::info!(
        %peer,
        control_id = header.control_id.as_deref().unwrap_or(""),
        message_type = %header.kind(),
        bytes = size,
        ack = %ack.code,
        "mllp.message answered"
    );
}
