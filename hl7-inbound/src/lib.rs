//! The HL7 v2 inbound interface of the portal: each message received over MLLP is stored
//! raw in its tenant (`store`), applied through the same domain services as the GraphQL
//! mutations (`oru`, `adt`, `siu`, chosen by `dispatch`), and answered AA / AE / AR only
//! after its effects committed (`interface`). Failed messages stay in a dead letter and are
//! replayed once their cause is fixed (`replay`). See docs/hl7.md.

// `Failure` is an ERR segment's worth (an HL7 `Issue`) plus a boxed match for the staff
// queue: 128 bytes, returned once per message on a path that waits on the database anyway.
#![allow(clippy::result_large_err)]

mod adt;
mod codes;
pub mod connections;
mod details;
mod dispatch;
mod failure;
mod interface;
mod lookup;
mod oru;
mod patient_match;
pub mod replay;
mod siu;
pub mod store;

pub use interface::{Interface, Observer, Outcome, Routes};
pub use store::DeadLetter;
