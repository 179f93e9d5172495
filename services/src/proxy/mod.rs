//! Proxy access: a patient lets a parent or carer see parts of the record. Granting and
//! revoking it, and the list of grants a patient has given.

use chrono::{DateTime, Utc};
use portal_entities::proxy_grant;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, Order, QueryFilter,
};
use tracing::instrument;
use uuid::Uuid;

use crate::live::{PROXY_GRANTED, PROXY_REVOKED};
use crate::patients;
use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest, PatientList};
use portal_messaging::outbox::{self, NewEvent};

const GRANT: Access = Access::write("proxy_grant.create", "ProxyGrant");
const REVOKE: Access = Access::write("proxy_grant.revoke", "ProxyGrant");
const GRANTS: Access = Access::read("proxy_grants.list", "ProxyGrant");

/// Scopes a proxy may be given; PROFILE comes with any grant and ACCOUNT never does.
pub const GRANTABLE: [Scope; 4] = [
    Scope::Results,
    Scope::Appointments,
    Scope::Coverage,
    Scope::AccessLog,
];
const MAX_TEXT: usize = 200;

/// The fields of `grantProxyAccess`.
#[derive(Debug, Clone)]
pub struct GrantInput {
    pub grantee_subject: String,
    pub grantee_name: String,
    pub relationship: String,
    pub scopes: Vec<Scope>,
    /// Defaults to now.
    pub valid_from: Option<DateTime<Utc>>,
    /// None: until revoked.
    pub valid_to: Option<DateTime<Utc>>,
}

impl GrantInput {
    fn validate(&self, now: DateTime<Utc>, own_subjects: &[&str]) -> ServiceResult<()> {
        text("input.granteeSubject", &self.grantee_subject)?;
        text("input.granteeName", &self.grantee_name)?;
        text("input.relationship", &self.relationship)?;
        if own_subjects.contains(&self.grantee_subject.trim()) {
            return Err(ServiceError::bad_input(
                "input.granteeSubject",
                "a patient cannot grant proxy access to themself",
            ));
        }
        if self.scopes.is_empty() || self.scopes.iter().any(|s| !GRANTABLE.contains(s)) {
            return Err(ServiceError::bad_input(
                "input.scopes",
                "scopes must be one or more of RESULTS, APPOINTMENTS, COVERAGE, ACCESS_LOG",
            ));
        }
        let from = self.valid_from.unwrap_or(now);
        if let Some(to) = self.valid_to
            && (to <= from || to <= now)
        {
            return Err(ServiceError::bad_input(
                "input.validTo",
                "validTo must be after validFrom and in the future",
            ));
        }
        Ok(())
    }

    fn scopes_column(&self) -> String {
        GRANTABLE
            .iter()
            .filter(|s| self.scopes.contains(s))
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn text(field: &str, value: &str) -> ServiceResult<()> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_TEXT {
        return Err(ServiceError::bad_input(
            field,
            format!("must be 1 to {MAX_TEXT} characters"),
        ));
    }
    portal_core::text::check(field, value)
}

/// Gives `grantee_subject` access to the patient's data in the given scopes. A second active
/// grant to the same person is a CONFLICT (revoke the first to change scopes).
#[instrument(skip(ctx, input), fields(request_id = %ctx.request_id))]
pub async fn grant(
    ctx: &RequestContext,
    patient_id: Uuid,
    input: &GrantInput,
) -> ServiceResult<proxy_grant::Model> {
    let db = ctx.db();
    let what = GRANT;
    let (access, patient) =
        patients::authorize_write(ctx, patient_id, Scope::Account, what).await?;
    let viewer = ctx.viewer()?;
    let now = portal_core::clock::now();
    let mut own = vec![viewer.subject.as_str()];
    own.extend(patient.user_subject.as_deref());
    let fail = |e| ctx.failed(what, Some(patient_id), e);
    input.validate(now, &own).map_err(fail)?;
    let row = proxy_grant::Model {
        id: Uuid::now_v7(),
        tenant_id: access.tenant_id,
        patient_id,
        grantee_subject: input.grantee_subject.trim().to_owned(),
        grantee_name: input.grantee_name.trim().to_owned(),
        relationship: input.relationship.trim().to_uppercase(),
        scopes: input.scopes_column(),
        valid_from: input.valid_from.unwrap_or(now),
        valid_to: input.valid_to,
        revoked_at: None,
        created_at: now,
        expired_at: None,
    };
    let txn = portal_core::db::begin_write(db).await?;
    patients::lock(&txn, access.tenant_id, patient_id).await?;
    if has_open_grant(&txn, &row, now).await? {
        return Err(fail(ServiceError::Conflict(
            "this person already holds an active proxy grant; revoke it first".into(),
        )));
    }
    proxy_grant::Entity::insert(row.clone().into_active_model())
        .exec_without_returning(&txn)
        .await?;
    outbox::insert(&txn, grant_event(PROXY_GRANTED, &row)).await?;
    txn.commit().await?;
    Ok(row)
}

/// A grant to the same grantee that is not revoked and not yet expired (current or future).
async fn has_open_grant<C: ConnectionTrait>(
    db: &C,
    row: &proxy_grant::Model,
    now: DateTime<Utc>,
) -> ServiceResult<bool> {
    let found = proxy_grant::Entity::find()
        .filter(proxy_grant::Column::TenantId.eq(row.tenant_id))
        .filter(proxy_grant::Column::PatientId.eq(row.patient_id))
        .filter(proxy_grant::Column::GranteeSubject.eq(row.grantee_subject.as_str()))
        .filter(proxy_grant::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(proxy_grant::Column::ValidTo.is_null())
                .add(proxy_grant::Column::ValidTo.gt(now)),
        )
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// Ends a grant at once: the grantee's next request is refused. Revoking twice is a CONFLICT.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn revoke(ctx: &RequestContext, grant_id: Uuid) -> ServiceResult<proxy_grant::Model> {
    let db = ctx.db();
    let tenant_id = ctx.viewer()?.tenant_id;
    let mut row = proxy_grant::Entity::find_by_id(grant_id)
        .filter(proxy_grant::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("proxy grant"))?;
    let what = REVOKE.entity(grant_id);
    access::authorize(ctx, row.patient_id, Scope::Account, what).await?;
    let already = || {
        ctx.failed(
            what,
            Some(row.patient_id),
            ServiceError::Conflict("this proxy grant is already revoked".into()),
        )
    };
    if row.revoked_at.is_some() {
        return Err(already());
    }
    let now = portal_core::clock::now();
    let txn = portal_core::db::begin_write(db).await?;
    let updated = proxy_grant::Entity::update_many()
        .col_expr(proxy_grant::Column::RevokedAt, now.into())
        .filter(proxy_grant::Column::Id.eq(grant_id))
        .filter(proxy_grant::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if updated.rows_affected == 0 {
        return Err(already());
    }
    row.revoked_at = Some(now);
    // Live subscriptions served under the grant end when the hub sees this event.
    outbox::insert(&txn, grant_event(PROXY_REVOKED, &row)).await?;
    txn.commit().await?;
    Ok(row)
}

/// The outbox event of a grant's creation or revocation (ids and scopes only).
fn grant_event<'a>(event_type: &'a str, row: &proxy_grant::Model) -> NewEvent<'a> {
    NewEvent {
        tenant_id: row.tenant_id,
        patient_id: Some(row.patient_id),
        event_type,
        aggregate_type: "ProxyGrant",
        aggregate_id: row.id,
        payload: serde_json::json!({
            "grantId": row.id,
            "patientId": row.patient_id,
            "scopes": row.scopes,
        }),
    }
}

/// The proxy grants a patient has given, newest first, including expired and revoked ones.
#[instrument(skip(ctx, parent, page), fields(request_id = %ctx.request_id))]
pub async fn grants(
    ctx: &RequestContext,
    parent: &PatientAccess,
    page: &PageRequest,
) -> ServiceResult<(PatientAccess, Page<proxy_grant::Model>)> {
    let access = access::confirm(ctx, parent, Scope::Account, GRANTS)?;
    let list = PatientList {
        tenant: proxy_grant::Column::TenantId,
        patient: proxy_grant::Column::PatientId,
        sort: Keyset {
            key: proxy_grant::Column::CreatedAt,
            id: proxy_grant::Column::Id,
            kind: KeyKind::Time,
            order: Order::Desc,
        },
    };
    let grants = list
        .fetch(ctx.db(), &access, proxy_grant::Entity::find(), page)
        .await?;
    for grant in &grants.items {
        access::note_grant_bounds(ctx, grant);
    }
    Ok((access, grants))
}
