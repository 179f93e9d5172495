//! The patient and everything reachable from them, each relation behind an access check.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use portal_core::access::{PatientAccess, Relation};
use portal_entities::patient;
use portal_services::results::orders;
use portal_services::{access_log, account, appointments, coverage, patients, proxy, results};

use super::access_log::{AccessLogEntry, AccessLogFilter};
use super::account::{NotificationPreferences, ProxyGrant};
use super::coverage::{Claim, Coverage};
use super::enums::{
    AccessScope, AppointmentKind, AppointmentStatus, ClaimStatus, OrderStatus, Relationship,
    ResultStatus, TestCategory,
};
use super::order::{Appointment, TestOrder};
use super::result::TestResult;
use crate::context::{connection, loader, page, request};
use crate::error::GqlResult;
use crate::ids::{NodeType, decode, encode};

pub struct Patient {
    /// Boxed: the demographics make the row large, and `Node` holds a `Patient` by value.
    model: Box<patient::Model>,
    access: PatientAccess,
}

impl Patient {
    pub fn new(model: patient::Model, access: PatientAccess) -> Self {
        Self {
            model: Box::new(model),
            access,
        }
    }
}

#[derive(InputObject, Default)]
pub struct ResultFilter {
    pub category: Option<TestCategory>,
    pub status: Option<Vec<ResultStatus>>,
    /// Issued at or after.
    pub since: Option<DateTime<Utc>>,
    /// Issued at or before.
    pub until: Option<DateTime<Utc>>,
}

#[derive(InputObject, Default)]
pub struct AppointmentFilter {
    pub status: Option<Vec<AppointmentStatus>>,
    pub kind: Option<AppointmentKind>,
    /// Starting at or after.
    pub from: Option<DateTime<Utc>>,
    /// Starting at or before.
    pub to: Option<DateTime<Utc>>,
}

#[derive(InputObject, Default)]
pub struct ClaimFilter {
    pub coverage_id: Option<ID>,
    pub status: Option<Vec<ClaimStatus>>,
}

/// A patient's postal address.
#[derive(SimpleObject)]
pub struct PostalAddress {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// County or parish.
    pub county: Option<String>,
    pub country: Option<String>,
}

impl PostalAddress {
    fn of(p: &patient::Model) -> Option<Self> {
        let parts = [
            &p.address_line1,
            &p.address_line2,
            &p.city,
            &p.state,
            &p.postal_code,
            &p.county,
            &p.country,
        ];
        parts.iter().any(|v| v.is_some()).then(|| Self {
            line1: p.address_line1.clone(),
            line2: p.address_line2.clone(),
            city: p.city.clone(),
            state: p.state.clone(),
            postal_code: p.postal_code.clone(),
            county: p.county.clone(),
            country: p.country.clone(),
        })
    }
}

/// How the viewer may see this patient.
#[derive(SimpleObject)]
pub struct PatientAccessInfo {
    pub relationship: Relationship,
    pub scopes: Vec<AccessScope>,
    /// When a proxy grant ends.
    pub valid_until: Option<DateTime<Utc>>,
}

#[Object]
impl Patient {
    pub async fn id(&self) -> ID {
        encode(NodeType::Patient, self.model.id)
    }
    /// Medical record number: the identifier under the organisation's own assigning
    /// authority.
    async fn mrn(&self) -> &str {
        &self.model.mrn
    }
    /// Identifiers under other assigning authorities (a sending facility's), each with the
    /// FHIR system of its authority.
    async fn identifiers(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Vec<crate::types::identity::PatientIdentifier>> {
        let rows = loader(ctx)?
            .load_one(crate::types::identity::IdentifiersOf(self.model.id))
            .await
            .gql()?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|(value, authority)| {
                crate::types::identity::PatientIdentifier::new(value, &authority)
            })
            .collect())
    }
    async fn given_name(&self) -> &str {
        &self.model.given_name
    }
    async fn family_name(&self) -> &str {
        &self.model.family_name
    }
    async fn birth_date(&self) -> NaiveDate {
        self.model.birth_date
    }
    async fn email(&self) -> Option<&str> {
        self.model.email.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.model.phone.as_deref()
    }
    /// Administrative sex, HL7 table 0001 (F, M, O, U, A, N).
    async fn sex(&self) -> Option<&str> {
        self.model.sex.as_deref()
    }
    /// CDC race code (HL7 table 0005), e.g. 2106-3.
    async fn race(&self) -> Option<&str> {
        self.model.race.as_deref()
    }
    /// Ethnic group: HL7 table 0189 (H, N, U) or CDC 2135-2 / 2186-5.
    async fn ethnicity(&self) -> Option<&str> {
        self.model.ethnicity.as_deref()
    }
    async fn address(&self) -> Option<PostalAddress> {
        PostalAddress::of(&self.model)
    }
    /// Preferred language (BCP 47 or ISO 639).
    async fn language(&self) -> Option<&str> {
        self.model.language.as_deref()
    }
    /// How the viewer is related to this patient and what they may see.
    async fn access(&self) -> PatientAccessInfo {
        let relation = &self.access.relation;
        PatientAccessInfo {
            relationship: match relation {
                Relation::Own => Relationship::Own,
                Relation::Proxy { .. } => Relationship::Proxy,
                Relation::Clinician { .. } => Relationship::Clinician,
                Relation::Tenant { .. } => Relationship::CareTeam,
            },
            scopes: patients::relation_scopes(relation)
                .into_iter()
                .map(Into::into)
                .collect(),
            valid_until: match relation {
                Relation::Proxy { valid_to, .. } => *valid_to,
                _ => None,
            },
        }
    }

    /// Released results (for patients and proxies), newest first; the current version of
    /// each correction chain.
    async fn results(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ResultFilter>,
    ) -> Result<Connection<String, TestResult>> {
        let page = page(ctx, first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = results::ResultFilter {
            category: filter.category.map(Into::into),
            statuses: filter
                .status
                .map(|s| s.into_iter().map(Into::into).collect()),
            since: filter.since,
            until: filter.until,
            tests: None,
            within: Vec::new(),
        };
        let (vis, rows) = results::list(request(ctx)?, &self.access, &filter, &page)
            .await
            .gql()?;
        Ok(connection(rows, |r| TestResult::new(r, vis.clone())))
    }

    async fn orders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<OrderStatus>,
    ) -> Result<Connection<String, TestOrder>> {
        let page = page(ctx, first, after)?;
        let request = request(ctx)?;
        let (access, rows) = orders::list(request, &self.access, status.map(Into::into), &page)
            .await
            .gql()?;
        let vis = results::visibility(request, access).await.gql()?;
        Ok(connection(rows, |o| TestOrder::new(o, vis.clone())))
    }

    /// Who looked at or changed this record, and what left the portal (disclosures), newest
    /// first, from the audit trail. The patient, a proxy granted `ACCESS_LOG`, staff and
    /// admins; reading it is itself recorded. See docs/patients.md, "Access history".
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AccessLogFilter>,
    ) -> Result<Connection<String, AccessLogEntry>> {
        let page = page(ctx, first, after)?;
        let filter = filter.unwrap_or_default().into();
        let rows = access_log::list(request(ctx)?, &self.access, &self.model, &filter, &page)
            .await
            .gql()?;
        Ok(connection(rows, AccessLogEntry::from))
    }

    /// Appointments in start order (earliest first).
    async fn appointments(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AppointmentFilter>,
    ) -> Result<Connection<String, Appointment>> {
        let page = page(ctx, first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = appointments::AppointmentFilter {
            statuses: filter
                .status
                .map(|s| s.into_iter().map(Into::into).collect()),
            kind: filter.kind.map(Into::into),
            from: filter.from,
            to: filter.to,
            within: Vec::new(),
        };
        let (access, rows) = appointments::list(request(ctx)?, &self.access, &filter, &page)
            .await
            .gql()?;
        Ok(connection(rows, |a| Appointment::new(a, access.clone())))
    }

    async fn coverages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Coverage>> {
        let page = page(ctx, first, after)?;
        let (_, rows) = coverage::coverages(request(ctx)?, &self.access, &page)
            .await
            .gql()?;
        Ok(connection(rows, Coverage))
    }

    /// Claims and explanations of benefits, latest service date first.
    async fn claims(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ClaimFilter>,
    ) -> Result<Connection<String, Claim>> {
        let page = page(ctx, first, after)?;
        let filter = filter.unwrap_or_default();
        let filter = coverage::ClaimFilter {
            coverage_id: filter
                .coverage_id
                .map(|id| decode(&id, NodeType::Coverage, "filter.coverageId"))
                .transpose()
                .gql()?,
            statuses: filter
                .status
                .map(|s| s.into_iter().map(Into::into).collect()),
        };
        let (_, rows) = coverage::claims(request(ctx)?, &self.access, &filter, &page)
            .await
            .gql()?;
        Ok(connection(rows, Claim))
    }

    async fn notification_preferences(&self, ctx: &Context<'_>) -> Result<NotificationPreferences> {
        let (_, prefs) = account::preferences(request(ctx)?, &self.access)
            .await
            .gql()?;
        Ok(NotificationPreferences(prefs))
    }

    /// Proxy access this patient has given, newest first (including expired and revoked).
    async fn proxy_grants(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, ProxyGrant>> {
        let page = page(ctx, first, after)?;
        let (_, rows) = proxy::grants(request(ctx)?, &self.access, &page)
            .await
            .gql()?;
        Ok(connection(rows, ProxyGrant))
    }
}
