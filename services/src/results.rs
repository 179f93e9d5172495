//! Reading test results: a patient's result list, one result, and its correction history.

use chrono::{DateTime, Utc};
use portal_entities::{ResultStatus, TestCategory, result_view, test_catalog, test_result};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, Order, QueryFilter, QuerySelect,
};
use tracing::instrument;
use uuid::Uuid;

use crate::access::{self, Access, PatientAccess, Scope};
use crate::audit::{AuditRecord, Outcome};
use crate::context::RequestContext;
use crate::error::{ServiceError, ServiceResult};
use crate::pagination::{Keyset, Page, PageRequest};
use crate::release::{self, ReleaseRule};

/// The filters of `Patient.results`.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub category: Option<TestCategory>,
    pub statuses: Option<Vec<ResultStatus>>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl ResultFilter {
    fn validate(&self) -> ServiceResult<()> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since > until
        {
            return Err(ServiceError::bad_input(
                "filter.since",
                "since must not be after until",
            ));
        }
        Ok(())
    }
}

/// The access decision and release rule under which results were read; nested fields
/// (history, order results) apply the same rule without asking the database again.
#[derive(Debug, Clone)]
pub struct Visibility {
    pub access: PatientAccess,
    pub rule: ReleaseRule,
}

impl Visibility {
    /// Versions of a chain share one test, so only their status decides.
    pub fn shows_version(&self, version: &test_result::Model) -> bool {
        self.rule.allows(version, false)
    }
}

const LIST: Access = Access::read("results.list", "TestResult");
const READ: Access = Access::read("result.read", "TestResult");

/// The current version of each of a patient's results the viewer may see, newest first.
#[instrument(skip(db, ctx, filter, page), fields(request_id = %ctx.request_id))]
pub async fn list<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    patient_id: Uuid,
    filter: &ResultFilter,
    page: &PageRequest,
) -> ServiceResult<(Visibility, Page<test_result::Model>)> {
    filter.validate()?;
    let access = access::authorize(db, ctx, patient_id, Scope::Results, LIST).await?;
    let rule = ReleaseRule::for_access(db, &access).await?;
    let mut select = test_result::Entity::find()
        .filter(test_result::Column::TenantId.eq(access.tenant_id))
        .filter(test_result::Column::PatientId.eq(patient_id))
        .filter(release::current_versions(patient_id))
        .filter(rule.condition(access.tenant_id));
    if let Some(category) = filter.category {
        select = select.filter(test_result::Column::Category.eq(category));
    }
    if let Some(statuses) = &filter.statuses {
        select = select.filter(test_result::Column::Status.is_in(statuses.iter().copied()));
    }
    if let Some(since) = filter.since {
        select = select.filter(test_result::Column::IssuedAt.gte(since));
    }
    if let Some(until) = filter.until {
        select = select.filter(test_result::Column::IssuedAt.lte(until));
    }
    let after_key = page
        .after
        .as_ref()
        .map(|c| c.time())
        .transpose()?
        .map(Into::into);
    let keyset = Keyset {
        key: test_result::Column::IssuedAt,
        id: test_result::Column::Id,
        order: Order::Desc,
    };
    let page = keyset.fetch(select, page, after_key, db).await?;
    Ok((Visibility { access, rule }, page))
}

/// One result by id, if the viewer may see it (unreleased results are NOT_FOUND to patients).
#[instrument(skip(db, ctx), fields(request_id = %ctx.request_id))]
pub async fn get<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    result_id: Uuid,
) -> ServiceResult<(Visibility, test_result::Model)> {
    let viewer = ctx.viewer()?;
    let result = test_result::Entity::find_by_id(result_id)
        .filter(test_result::Column::TenantId.eq(viewer.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("test result"))?;
    let access = access::authorize(
        db,
        ctx,
        result.patient_id,
        Scope::Results,
        READ.entity(result_id),
    )
    .await?;
    let rule = ReleaseRule::for_access(db, &access).await?;
    let sensitive = is_sensitive(db, access.tenant_id, result.test_id).await?;
    if !rule.allows(&result, sensitive) {
        ctx.record(
            AuditRecord::new(
                READ.entity(result_id),
                Some(result.patient_id),
                Outcome::Denied,
            )
            .reason("not released"),
        );
        return Err(ServiceError::NotFound("test result"));
    }
    Ok((Visibility { access, rule }, result))
}

pub(crate) async fn is_sensitive<C: ConnectionTrait>(
    db: &C,
    tenant_id: Uuid,
    test_id: Uuid,
) -> ServiceResult<bool> {
    let sensitive = test_catalog::Entity::find_by_id(test_id)
        .select_only()
        .column(test_catalog::Column::Sensitive)
        .filter(test_catalog::Column::TenantId.eq(tenant_id))
        .into_tuple::<bool>()
        .one(db)
        .await?;
    Ok(sensitive.unwrap_or(false))
}

/// The release rule for everything read under `access` (one query at most, for the
/// patient's sensitive-results preference).
pub async fn visibility<C: ConnectionTrait>(
    db: &C,
    access: PatientAccess,
) -> ServiceResult<Visibility> {
    let rule = ReleaseRule::for_access(db, &access).await?;
    Ok(Visibility { access, rule })
}

/// Records that the viewer opened a result (for "new" badges and the audit trail); the
/// first view is kept. Returns when it was first viewed.
#[instrument(skip(db, ctx), fields(request_id = %ctx.request_id))]
pub async fn mark_viewed<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    result_id: Uuid,
) -> ServiceResult<(Visibility, test_result::Model, DateTime<Utc>)> {
    let (vis, result) = get(db, ctx, result_id).await?;
    let viewer = ctx.viewer()?;
    let existing = result_view::Entity::find()
        .filter(result_view::Column::TenantId.eq(vis.access.tenant_id))
        .filter(result_view::Column::ResultId.eq(result_id))
        .filter(result_view::Column::ViewerSubject.eq(viewer.subject.as_str()))
        .one(db)
        .await?;
    let viewed_at = match existing {
        Some(view) => view.viewed_at,
        None => {
            let now = crate::clock::now();
            let view = result_view::ActiveModel {
                id: Set(Uuid::now_v7()),
                tenant_id: Set(vis.access.tenant_id),
                result_id: Set(result_id),
                viewer_subject: Set(viewer.subject.clone()),
                viewed_at: Set(now),
            };
            result_view::Entity::insert(view)
                .on_conflict(
                    OnConflict::columns([
                        result_view::Column::ResultId,
                        result_view::Column::ViewerSubject,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .try_insert()
                .exec(db)
                .await?;
            now
        }
    };
    ctx.record(
        AuditRecord::new(
            Access::read("result.viewed", "TestResult").entity(result_id),
            Some(result.patient_id),
            Outcome::Allowed,
        )
        .proxy_for(
            matches!(vis.access.relation, access::Relation::Proxy { .. })
                .then_some(result.patient_id),
        ),
    );
    Ok((vis, result, viewed_at))
}

/// How the author of a write sees the result it just stored (care-team rules); the write
/// itself was audited, so this adds no audit record.
pub async fn writer_visibility<C: ConnectionTrait>(
    db: &C,
    ctx: &RequestContext,
    result: &test_result::Model,
) -> ServiceResult<Visibility> {
    let viewer = ctx.viewer()?;
    let relation = access::relation(db, ctx, viewer, result.patient_id)
        .await?
        .ok_or_else(|| ServiceError::Forbidden("you may not see this patient's data".into()))?;
    let access = PatientAccess {
        patient_id: result.patient_id,
        tenant_id: viewer.tenant_id,
        relation,
    };
    visibility(db, access).await
}
