//! Chooses what a stored message does: parse errors and unsupported types are answered at
//! once; ORU^R01, ADT and SIU go to their family's handler.

use portal_core::RequestContext;
use portal_entities::hl7_message;
use portal_hl7::messages::{Hl7Message, interpret};
use portal_hl7::{Hl7Error, Message};

use crate::failure::{Applied, Failure};
use crate::{adt, oru, siu};

/// Applies one stored message through the domain services (`public_url`: where result
/// links to walk-ins point; none on replay).
pub async fn apply(
    ctx: &RequestContext,
    row: &hl7_message::Model,
    message: Result<&Message, &Hl7Error>,
    public_url: Option<&str>,
) -> Result<Applied, Failure> {
    let message = message.map_err(Failure::from_hl7)?;
    match interpret(message).map_err(|e| Failure::from_hl7(&e))? {
        Hl7Message::Oru(oru) => oru::apply(ctx, message, &oru, row, public_url).await,
        Hl7Message::Adt(adt) => adt::apply(ctx, &adt).await,
        Hl7Message::Siu(siu) => siu::apply(ctx, message, &siu).await,
    }
}
