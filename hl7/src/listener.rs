//! The MLLP server: bounded connections, one message at a time per connection, timeouts,
//! graceful shutdown; each connection admitted by the listener's [`Door`] (allow-list,
//! TLS, client certificate) and told to the handler, accepted or refused. Logs carry
//! control ids, types, sizes and outcomes, never content.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout, timeout_at};

use crate::ack::Ack;
use crate::door::{ClientIdentity, ConnectionEvent, Door, Refusal};
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
    /// The sender the connection's client certificate identifies (TLS with client
    /// certificates only).
    pub identity: Option<Arc<ClientIdentity>>,
}

/// What the application does with a message: store it, apply it, and say which ACK to
/// send. An `Err` (or a panic, or a timeout) is answered AR so the sender resends.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn handle(&self, inbound: &Inbound) -> Result<Ack, Hl7Error>;

    /// Told of every connection, accepted or refused, before anything is read from it.
    /// Must not wait: the accept loop calls it.
    fn connection(&self, event: ConnectionEvent) {
        let _ = event;
    }
}

/// Serves MLLP on `listener` until `shutdown` resolves, then stops accepting, lets each
/// connection finish the message it is handling (its ACK is sent) and returns when all
/// connections have closed. Plain, from any source: see [`serve_through`].
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn Handler>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    serve_through(listener, Door::default(), handler, limits, shutdown).await;
}

/// [`serve`], admitting connections through `door`: a source outside its allow-list is
/// closed at once; over TLS the handshake (and the client certificate) must succeed
/// within the frame timeout.
pub async fn serve_through(
    listener: TcpListener,
    door: Door,
    handler: Arc<dyn Handler>,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let door = Arc::new(door);
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
                if !door.admits(peer.ip()) {
                    refuse(handler.as_ref(), peer, None, Refusal::NotAllowed);
                    continue;
                }
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, limit = limits.max_connections, "mllp.connection refused: limit reached");
                    refuse(handler.as_ref(), peer, None, Refusal::ConnectionLimit);
                    continue;
                };
                let connection = Connection { handler: handler.clone(), limits, peer, identity: None, stopped: stopped.clone() };
                let door = door.clone();
                connections.spawn(async move {
                    connection.open(stream, &door).await;
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

fn refuse(
    handler: &dyn Handler,
    peer: SocketAddr,
    identity: Option<Arc<ClientIdentity>>,
    refusal: Refusal,
) {
    tracing::info!(%peer, reason = refusal.label(), "mllp.connection refused");
    handler.connection(ConnectionEvent {
        peer,
        identity,
        refused: Some(refusal),
    });
}

struct Connection {
    handler: Arc<dyn Handler>,
    limits: Limits,
    peer: SocketAddr,
    identity: Option<Arc<ClientIdentity>>,
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
    /// Plain: serves at once. TLS: the handshake first, then the client certificate's
    /// identity; a failure closes the connection.
    async fn open(mut self, stream: TcpStream, door: &Door) {
        let Some(tls) = &door.tls else {
            self.accepted();
            return self.run(stream).await;
        };
        let handshake = timeout(self.limits.frame_timeout, tls.acceptor().accept(stream)).await;
        let stream = match handshake {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(peer = %self.peer, %error, "mllp.tls handshake failed");
                return refuse(
                    self.handler.as_ref(),
                    self.peer,
                    None,
                    Refusal::of_handshake(&error),
                );
            }
            Err(_) => {
                return refuse(
                    self.handler.as_ref(),
                    self.peer,
                    None,
                    Refusal::HandshakeFailed,
                );
            }
        };
        match tls.identify(stream.get_ref().1.peer_certificates()) {
            Ok(identity) => self.identity = identity.map(Arc::new),
            Err(refusal) => return refuse(self.handler.as_ref(), self.peer, None, refusal),
        }
        self.accepted();
        self.run(stream).await;
    }

    fn accepted(&self) {
        self.handler.connection(ConnectionEvent {
            peer: self.peer,
            identity: self.identity.clone(),
            refused: None,
        });
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(mut self, stream: S) {
        let peer = self.peer;
        tracing::debug!(%peer, "mllp.connection open");
        match self.serve(stream).await {
            Close::Io(error) => tracing::debug!(%peer, %error, "mllp.connection closed: i/o error"),
            reason => tracing::debug!(%peer, ?reason, "mllp.connection closed"),
        }
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(&mut self, mut stream: S) -> Close {
        let mut decoder = Decoder::new(self.limits.max_frame_bytes);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        let mut frame_started: Option<Instant> = None;
        loop {
            while let Some(frame) = decoder.decode(&mut buf) {
                frame_started = None;
                let Some(ack) = self.answer(frame).await else {
                    return Close::Oversized;
                };
                let framed = mllp::frame(ack.as_bytes());
                let write = async {
                    stream.write_all(&framed).await?;
                    stream.flush().await
                };
                let written = timeout(self.limits.frame_timeout, write).await;
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
            identity: self.identity.clone(),
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
