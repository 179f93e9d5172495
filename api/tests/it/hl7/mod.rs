//! HL7 v2 over MLLP: results, registration, scheduling, operations, end to end over real sockets.

mod corpus;
pub(crate) mod e2e;
pub(crate) mod identity;
mod memory;
mod operations;
mod registration;
pub(crate) mod requisitions;
mod results;
pub(crate) mod rig;
mod scheduling;
mod senders;
mod tls;
