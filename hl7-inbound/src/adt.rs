//! ADT^A04/A08/A28/A31: registration through `portal_services::registration`.

use portal_core::RequestContext;
use portal_hl7::messages::AdtMessage;

use crate::failure::{Applied, Failure};

pub async fn apply(_ctx: &RequestContext, _adt: &AdtMessage) -> Result<Applied, Failure> {
    Err(Failure::system())
}
