//! HL7 v2 groundwork for the portal: a parser, MLLP framing, original-mode ACKs, a TCP
//! listener and the typed mapping of ORU^R01, ADT and SIU messages. No database here: the
//! integration with the domain services is built on top of this crate.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod ack;
pub mod codes;
pub mod datetime;
pub mod door;
pub mod error;
pub mod listener;
pub mod messages;
pub mod mllp;
pub mod parse;

pub use ack::{Ack, AckBuilder};
pub use codes::{AckCode, ErrorCode, Issue, Location, Severity};
pub use door::{ClientIdentity, ConnectionEvent, Door, Refusal, SenderBinding, Tls, TlsFiles};
pub use error::Hl7Error;
pub use listener::{Handler, Inbound, Limits, serve, serve_through};
pub use parse::{Message, parse};
