//! Recording claims and their explanation of benefits against a patient's coverage (master
//! data kept by staff and admins); reading them is the function `coverage::claims`. Claim
//! numbers are unique within the organisation.

use chrono::{DateTime, NaiveDate, Utc};
use portal_core::access::Access;
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_entities::{ClaimStatus, claim, coverage};
use sea_orm::{ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use tracing::instrument;
use uuid::Uuid;

use crate::master::fields::{self, MAX_TEXT};
use crate::master::update::{Kept, Owner, Update};
use crate::master::{self, Change, MAINTAINERS, set};

const CREATE: Access = Access::write("claim.create", "Claim");
const UPDATE: Access = Access::write("claim.update", "Claim");

const DUPLICATE_NUMBER: &str = "the organisation already has a claim with this number";

/// A claim's fields (`addClaim` needs all but the status; an update changes what is given).
/// Amounts are in minor units (cents).
#[derive(Debug, Clone, Default)]
pub struct ClaimPatch {
    pub claim_number: Option<String>,
    pub service_date: Option<NaiveDate>,
    pub description: Option<String>,
    pub billed_cents: Option<i64>,
    pub allowed_cents: Option<i64>,
    pub patient_responsibility_cents: Option<i64>,
    pub currency: Option<String>,
    pub status: Option<ClaimStatus>,
}

impl Kept for ClaimPatch {
    type Row = claim::Model;
    type Entity = claim::Entity;
    type Active = claim::ActiveModel;
    const NAME: &'static str = "claim";
    const OWNER: Owner = Owner::Patient;
    const DUPLICATE: Option<&'static str> = Some(DUPLICATE_NUMBER);

    fn tenant_column() -> claim::Column {
        claim::Column::TenantId
    }

    fn patient_of(row: &claim::Model) -> Option<Uuid> {
        Some(row.patient_id)
    }

    fn touch(row: &mut claim::Model, at: DateTime<Utc>) {
        row.updated_at = Some(at);
    }

    fn validated(mut self) -> ServiceResult<Self> {
        if let Some(number) = &self.claim_number {
            self.claim_number = Some(fields::identifier("input.claimNumber", number)?);
        }
        if let Some(description) = &self.description {
            self.description = Some(fields::required(
                "input.description",
                description,
                MAX_TEXT,
            )?);
        }
        if let Some(currency) = &self.currency {
            self.currency = Some(fields::currency("input.currency", currency)?);
        }
        if self
            .service_date
            .is_some_and(|d| d > master::now().date_naive())
        {
            return Err(ServiceError::bad_input(
                "input.serviceDate",
                "must not be in the future",
            ));
        }
        Ok(self)
    }

    /// The claim with the patch applied; amounts are not negative and the payer allows no
    /// more than was billed, nor does the patient owe more.
    fn applied(&self, current: &claim::Model) -> ServiceResult<claim::Model> {
        let mut c = current.clone();
        set(&mut c.claim_number, self.claim_number.clone());
        set(&mut c.service_date, self.service_date);
        set(&mut c.description, self.description.clone());
        set(&mut c.billed_cents, self.billed_cents);
        set(&mut c.allowed_cents, self.allowed_cents);
        set(
            &mut c.patient_responsibility_cents,
            self.patient_responsibility_cents,
        );
        set(&mut c.currency, self.currency.clone());
        set(&mut c.status, self.status);
        for (field, cents) in [
            ("input.billedCents", c.billed_cents),
            ("input.allowedCents", c.allowed_cents),
            (
                "input.patientResponsibilityCents",
                c.patient_responsibility_cents,
            ),
        ] {
            if cents < 0 {
                return Err(ServiceError::bad_input(field, "must not be negative"));
            }
        }
        if c.allowed_cents > c.billed_cents {
            return Err(ServiceError::bad_input(
                "input.allowedCents",
                "must not exceed the billed amount",
            ));
        }
        if c.patient_responsibility_cents > c.billed_cents {
            return Err(ServiceError::bad_input(
                "input.patientResponsibilityCents",
                "must not exceed the billed amount",
            ));
        }
        Ok(c)
    }

    /// A change that changes something, the claim number among it, must leave the number
    /// unique (a change that does not apply is refused when it is applied).
    async fn key_taken(&self, work: &Writing<'_>, current: &claim::Model) -> ServiceResult<bool> {
        let Ok(next) = self.applied(current) else {
            return Ok(false);
        };
        Ok(next != *current
            && next.claim_number != current.claim_number
            && number_taken(work, &next).await?)
    }
}

impl ClaimPatch {
    fn new_claim(&self, coverage: &coverage::Model) -> ServiceResult<claim::Model> {
        let missing = |field: &str| ServiceError::bad_input(field, "is required");
        let blank = claim::Model {
            id: Uuid::now_v7(),
            tenant_id: coverage.tenant_id,
            patient_id: coverage.patient_id,
            coverage_id: coverage.id,
            claim_number: self
                .claim_number
                .clone()
                .ok_or_else(|| missing("input.claimNumber"))?,
            service_date: self
                .service_date
                .ok_or_else(|| missing("input.serviceDate"))?,
            description: self
                .description
                .clone()
                .ok_or_else(|| missing("input.description"))?,
            billed_cents: self
                .billed_cents
                .ok_or_else(|| missing("input.billedCents"))?,
            allowed_cents: 0,
            patient_responsibility_cents: 0,
            currency: self.currency.clone().unwrap_or_else(|| "USD".to_owned()),
            status: ClaimStatus::Submitted,
            created_at: master::now(),
            updated_at: None,
        };
        self.applied(&blank)
    }
}

/// Adds a claim to a coverage of the organisation.
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn add(
    ctx: &RequestContext,
    coverage_id: Uuid,
    input: ClaimPatch,
) -> ServiceResult<claim::Model> {
    let tenant_id = master::require(ctx, MAINTAINERS, CREATE, None)?;
    let work = ctx.begin_write().await?;
    let coverage = coverage::Entity::find_by_id(coverage_id)
        .filter(coverage::Column::TenantId.eq(tenant_id))
        .one(work.txn())
        .await?
        .ok_or(ServiceError::NotFound("coverage"))?;
    let fail = |e| ctx.failed(CREATE, Some(coverage.patient_id), e);
    let row = input
        .validated()
        .and_then(|input| input.new_claim(&coverage))
        .map_err(fail)?;
    if number_taken(&work, &row).await? {
        return Err(fail(ServiceError::Conflict(DUPLICATE_NUMBER.into())));
    }
    claim::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(work.txn())
        .await
        .map_err(|e| fail(master::conflict_on_duplicate(e, DUPLICATE_NUMBER)))?;
    work.commit().await?;
    master::done(
        ctx,
        CREATE.entity(row.id),
        Some(row.patient_id),
        Change::Created,
    );
    Ok(row)
}

/// Changes the fields given of a claim (its status as the payer processes it, amounts).
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn update(
    ctx: &RequestContext,
    claim_id: Uuid,
    input: ClaimPatch,
) -> ServiceResult<claim::Model> {
    Update::new(MAINTAINERS, UPDATE, claim_id)
        .run(ctx, input)
        .await
}

async fn number_taken(work: &Writing<'_>, row: &claim::Model) -> ServiceResult<bool> {
    let other = claim::Entity::find()
        .filter(claim::Column::TenantId.eq(row.tenant_id))
        .filter(claim::Column::ClaimNumber.eq(row.claim_number.as_str()))
        .filter(claim::Column::Id.ne(row.id))
        .one(work.txn())
        .await?;
    Ok(other.is_some())
}
