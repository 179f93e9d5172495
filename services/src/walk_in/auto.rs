//! Result links to walk-ins: a patient registered from a sending facility's ORU (no ADT) is
//! sent a link to each of their released results — only when that facility's master data
//! says so, never to a minor (PID-13 may be a parent's phone) and never for a sensitive
//! test. A result that already has a link is not sent again (a replayed message sends none).

use chrono::{Datelike, NaiveDate};
use portal_core::context::RequestContext;
use portal_core::error::ServiceResult;
use portal_entities::{
    patient, patient_id_authority, patient_identifier, result_link, test_result,
};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use tracing::instrument;

use super::{LinkChannel, released_to_patient, send};

/// Below this age a walk-in is sent no link.
pub const ADULT_AGE: i32 = 18;

/// Why no link went to a walk-in, or how many did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkInLinks {
    /// The facility does not send links to walk-ins (its master data).
    NotSent,
    /// The patient was not registered from this facility's identifier alone.
    NotAWalkIn,
    Minor,
    NoAddress,
    Sent(usize),
}

/// Sends the links a walk-in is owed for their released, non-sensitive results (see the
/// module), as the interface's viewer (lab role), each send audited as `sendResultLink` is.
#[instrument(skip_all, fields(request_id = %ctx.request_id))]
pub async fn send_to_walk_in(
    ctx: &RequestContext,
    patient: &patient::Model,
    authority: &patient_id_authority::Model,
    public_url: &str,
) -> ServiceResult<WalkInLinks> {
    if !authority.sends_result_links {
        return Ok(WalkInLinks::NotSent);
    }
    let walk_in = patient_identifier::Entity::find()
        .filter(patient_identifier::Column::TenantId.eq(patient.tenant_id))
        .filter(patient_identifier::Column::PatientId.eq(patient.id))
        .filter(patient_identifier::Column::AuthorityId.eq(authority.id))
        .filter(patient_identifier::Column::WalkIn.eq(true))
        .count(ctx.db())
        .await?;
    if walk_in == 0 {
        return Ok(WalkInLinks::NotAWalkIn);
    }
    if age(patient.birth_date, portal_core::clock::now().date_naive()) < ADULT_AGE {
        return Ok(WalkInLinks::Minor);
    }
    let channel = if LinkChannel::Sms.address(patient).is_some() {
        LinkChannel::Sms
    } else if LinkChannel::Email.address(patient).is_some() {
        LinkChannel::Email
    } else {
        return Ok(WalkInLinks::NoAddress);
    };
    let linked = Query::select()
        .column(result_link::Column::ResultId)
        .from(result_link::Entity)
        .and_where(Expr::col(result_link::Column::TenantId).eq(patient.tenant_id))
        .to_owned();
    let unlinked = test_result::Entity::find()
        .filter(test_result::Column::TenantId.eq(patient.tenant_id))
        .filter(test_result::Column::PatientId.eq(patient.id))
        .filter(test_result::Column::Id.not_in_subquery(linked))
        .order_by_asc(test_result::Column::Id)
        .all(ctx.db())
        .await?;
    let mut sent = 0;
    for result in unlinked {
        let db = ctx.db();
        if portal_core::release::is_sensitive(db, result.tenant_id, result.test_id).await?
            || !released_to_patient(db, &result).await?
        {
            continue;
        }
        send(ctx, result.id, channel, public_url).await?;
        sent += 1;
    }
    Ok(WalkInLinks::Sent(sent))
}

/// Whole years from birth to `today`.
fn age(birth: NaiveDate, today: NaiveDate) -> i32 {
    let years = today.year() - birth.year();
    if (today.month(), today.day()) < (birth.month(), birth.day()) {
        years - 1
    } else {
        years
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_is_an_adult_from_their_eighteenth_birthday() {
        let birth = NaiveDate::from_ymd_opt(2008, 6, 15).expect("date");
        let eve = NaiveDate::from_ymd_opt(2026, 6, 14).expect("date");
        let birthday = NaiveDate::from_ymd_opt(2026, 6, 15).expect("date");
        assert_eq!(age(birth, eve), ADULT_AGE - 1);
        assert_eq!(age(birth, birthday), ADULT_AGE);
    }
}
