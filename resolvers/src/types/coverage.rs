//! Insurance coverage and claims (explanations of benefits) as the API shows them.

use async_graphql::{Context, ID, Object, Result};
use chrono::NaiveDate;
use portal_entities::{claim, coverage};

use super::common::Money;
use super::enums::{ClaimStatus, CoverageStatus};
use crate::context::loader;
use crate::error::GqlResult;
use crate::ids::{NodeType, encode};
use crate::loaders::CoverageById;

/// A payer plan covering the patient for a period.
pub struct Coverage(pub coverage::Model);

#[Object]
impl Coverage {
    pub async fn id(&self) -> ID {
        encode(NodeType::Coverage, self.0.id)
    }
    /// The payer's name.
    async fn payer(&self) -> &str {
        &self.0.payer
    }
    /// The payer's identifier, when the registration system sent one.
    async fn payer_id(&self) -> Option<&str> {
        self.0.payer_id.as_deref()
    }
    async fn plan_name(&self) -> &str {
        &self.0.plan_name
    }
    async fn member_id(&self) -> &str {
        &self.0.member_id
    }
    async fn group_number(&self) -> Option<&str> {
        self.0.group_number.as_deref()
    }
    async fn period_start(&self) -> NaiveDate {
        self.0.period_start
    }
    async fn period_end(&self) -> Option<NaiveDate> {
        self.0.period_end
    }
    async fn status(&self) -> CoverageStatus {
        self.0.status.into()
    }
}

/// A claim against a coverage and its explanation of benefits.
pub struct Claim(pub claim::Model);

#[Object]
impl Claim {
    pub async fn id(&self) -> ID {
        encode(NodeType::Claim, self.0.id)
    }
    async fn claim_number(&self) -> &str {
        &self.0.claim_number
    }
    async fn service_date(&self) -> NaiveDate {
        self.0.service_date
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn billed(&self) -> Money {
        Money::new(self.0.billed_cents, &self.0.currency)
    }
    /// What the payer allows for the service.
    async fn allowed(&self) -> Money {
        Money::new(self.0.allowed_cents, &self.0.currency)
    }
    /// What the patient owes.
    async fn patient_responsibility(&self) -> Money {
        Money::new(self.0.patient_responsibility_cents, &self.0.currency)
    }
    async fn status(&self) -> ClaimStatus {
        self.0.status.into()
    }
    async fn coverage(&self, ctx: &Context<'_>) -> Result<Option<Coverage>> {
        let row = loader(ctx)?
            .load_one(CoverageById(self.0.coverage_id))
            .await
            .gql()?;
        Ok(row.map(Coverage))
    }
}
