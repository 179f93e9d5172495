//! The FHIR R4 read API: resources, search, paging, errors, access, checked by the independent validator.

mod access;
mod dates;
mod e2e;
mod errors;
mod everything;
pub(crate) mod kit;
mod paging;
mod resources;
