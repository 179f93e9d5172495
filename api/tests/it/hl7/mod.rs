//! HL7 v2 over MLLP: results, registration, scheduling, operations, end to end over real sockets.

mod corpus;
pub(crate) mod e2e;
mod memory;
mod operations;
mod registration;
mod results;
pub(crate) mod rig;
mod scheduling;
mod tls;
