//! MLLP framing: `0x0B` message `0x1C 0x0D`, with a size limit that never buffers more
//! than the limit, whatever the peer sends.

use bytes::{Buf, Bytes, BytesMut};

pub const START: u8 = 0x0B;
pub const END: [u8; 2] = [0x1C, 0x0D];

/// Default maximum message size: 1 MiB. A large lab panel is a few kB; an imaging report
/// with an embedded PDF (OBX ED) is the largest legitimate message and rarely above this.
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024;

/// How much of an oversized frame is kept to read its MSH (and answer with an AR).
const OVERSIZED_HEAD: usize = 4096;

/// What the decoder produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete message (without the framing bytes).
    Message(Bytes),
    /// A frame larger than the limit: its first bytes (enough for MSH) and its size.
    /// The rest was read and discarded.
    Oversized { head: Bytes, size: usize },
}

#[derive(Debug)]
enum State {
    /// Waiting for a start byte; anything else is discarded.
    Seeking,
    /// Inside a frame; the buffer holds its bytes, scanned up to `scanned`.
    InFrame { scanned: usize },
    /// Inside an oversized frame: only the head and the count are kept.
    Discarding {
        head: Bytes,
        size: usize,
        end_pending: bool,
    },
}

/// An incremental MLLP decoder. Feed it a buffer that the caller fills from the socket;
/// it consumes what it has decided about.
#[derive(Debug)]
pub struct Decoder {
    max_frame: usize,
    state: State,
    discarded: usize,
}

impl Decoder {
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            state: State::Seeking,
            discarded: 0,
        }
    }

    /// Whether a frame has started and not yet ended.
    pub fn in_frame(&self) -> bool {
        !matches!(self.state, State::Seeking)
    }

    /// Bytes discarded outside of frames so far (noise before a start byte).
    pub fn discarded(&self) -> usize {
        self.discarded
    }

    /// The next frame, if the buffer completes one. Iterative, so no input (a run of
    /// start bytes, a megabyte of 0x1C) can exhaust the stack.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        loop {
            let scanned = match &self.state {
                State::Seeking => {
                    let Some(start) = buf.iter().position(|&b| b == START) else {
                        self.discarded += buf.len();
                        buf.clear();
                        return None;
                    };
                    self.discarded += start;
                    buf.advance(start + 1);
                    self.state = State::InFrame { scanned: 0 };
                    continue;
                }
                State::InFrame { scanned } => *scanned,
                State::Discarding { .. } => return self.discard_step(buf),
            };
            let found = buf[scanned..]
                .iter()
                .position(|&b| b == END[0] || b == START)
                .map(|i| i + scanned);
            match found {
                Some(i) if buf[i] == START => {
                    // A new start byte inside a frame: the sender gave up on the previous
                    // one. Drop it and begin again.
                    self.discarded += i;
                    buf.advance(i + 1);
                    self.state = State::InFrame { scanned: 0 };
                }
                Some(i) if i + 1 < buf.len() && buf[i + 1] == END[1] => {
                    let frame = buf.split_to(i).freeze();
                    buf.advance(2);
                    self.state = State::Seeking;
                    if frame.len() > self.max_frame {
                        let head = frame.slice(..OVERSIZED_HEAD.min(frame.len()));
                        return Some(Frame::Oversized {
                            head,
                            size: frame.len(),
                        });
                    }
                    return Some(Frame::Message(frame));
                }
                Some(i) if i + 1 == buf.len() => return self.wait_or_overflow(buf, i, 1),
                // A 0x1C not followed by 0x0D is data: keep scanning after it.
                Some(i) => self.state = State::InFrame { scanned: i + 1 },
                None => return self.wait_or_overflow(buf, buf.len(), 0),
            }
        }
    }

    /// `pending` counts a trailing 0x1C that may turn out to be the end marker.
    fn wait_or_overflow(
        &mut self,
        buf: &mut BytesMut,
        scanned: usize,
        pending: usize,
    ) -> Option<Frame> {
        if buf.len() <= self.max_frame + pending {
            self.state = State::InFrame { scanned };
            return None;
        }
        let size = buf.len();
        let end_pending = buf.last() == Some(&END[0]);
        let head = buf.split_to(OVERSIZED_HEAD.min(size)).freeze();
        buf.clear();
        self.state = State::Discarding {
            head,
            size,
            end_pending,
        };
        None
    }

    fn discard_step(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        let State::Discarding {
            size, end_pending, ..
        } = &mut self.state
        else {
            return None;
        };
        let consumed = if *end_pending && buf.first() == Some(&END[1]) {
            Some(1)
        } else {
            buf.windows(2).position(|w| w == END).map(|i| {
                *size += i;
                i + 2
            })
        };
        match consumed {
            Some(n) => {
                buf.advance(n);
                Some(self.finish_oversized())
            }
            None => {
                *end_pending = buf.last() == Some(&END[0]);
                *size += buf.len();
                buf.clear();
                None
            }
        }
    }

    fn finish_oversized(&mut self) -> Frame {
        match std::mem::replace(&mut self.state, State::Seeking) {
            State::Discarding { head, size, .. } => Frame::Oversized { head, size },
            _ => Frame::Oversized {
                head: Bytes::new(),
                size: 0,
            },
        }
    }
}

/// Wraps a message in MLLP framing.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 3);
    out.push(START);
    out.extend_from_slice(message);
    out.extend_from_slice(&END);
    out
}

#[cfg(test)]
mod tests;
