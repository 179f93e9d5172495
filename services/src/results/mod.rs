//! Test results: a patient's result list, one result and its correction history here; a
//! patient's orders (`orders`) and the trend of one analyte (`observations`).

pub mod observations;
pub mod orders;

use chrono::{DateTime, Utc};
use portal_entities::{
    CodeSystem, ResultStatus, TestCategory, result_view, test_catalog, test_result,
};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, Order,
    QueryFilter, QueryOrder,
};
use tracing::instrument;
use uuid::Uuid;

use crate::times::Within;

use portal_core::access::{self, Access, PatientAccess, Scope};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest, PatientList};
use portal_core::release::{self, ReleaseRule};

/// The filters of `Patient.results`.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub category: Option<TestCategory>,
    pub statuses: Option<Vec<ResultStatus>>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only results of these catalog tests (by code, in `code_system` when given).
    pub tests: Option<Vec<TestCode>>,
    /// Conditions on the result's times, all of them met.
    pub within: Vec<Within<test_result::Column>>,
}

/// A catalog test code, optionally with its code system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCode {
    pub system: Option<CodeSystem>,
    pub code: String,
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
pub(crate) const READ: Access = Access::read("result.read", "TestResult");

/// The current version of each of a patient's results the viewer may see, newest first.
#[instrument(skip(ctx, parent, filter, page), fields(request_id = %ctx.request_id))]
pub async fn list(
    ctx: &RequestContext,
    parent: &PatientAccess,
    filter: &ResultFilter,
    page: &PageRequest,
) -> ServiceResult<(Visibility, Page<test_result::Model>)> {
    filter.validate()?;
    let access = access::confirm(ctx, parent, Scope::Results, LIST)?;
    let rule = ReleaseRule::for_request(ctx, &access).await?;
    let mut select = test_result::Entity::find()
        .filter(release::current_versions(access.patient_id))
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
    if let Some(tests) = &filter.tests {
        select = select.filter(of_tests(access.tenant_id, tests));
    }
    for within in &filter.within {
        select = select.filter(within.condition());
    }
    let list = PatientList {
        tenant: test_result::Column::TenantId,
        patient: test_result::Column::PatientId,
        sort: Keyset {
            key: test_result::Column::IssuedAt,
            id: test_result::Column::Id,
            kind: KeyKind::Time,
            order: Order::Desc,
        },
    };
    let page = if ctx.db().get_database_backend() == DatabaseBackend::Postgres {
        // One statement for the page, its observations and its catalog entries.
        let rows = list
            .fetch_into(
                ctx.db(),
                &access,
                crate::prefetch::with_children(select),
                page,
                |row: &crate::prefetch::ResultWithChildren| &row.result,
            )
            .await?;
        let Page {
            items,
            cursors,
            has_next_page,
            has_previous_page,
            total,
        } = rows;
        let items = items
            .into_iter()
            .map(|row| crate::prefetch::keep(ctx, row))
            .collect::<ServiceResult<_>>()?;
        Page {
            items,
            cursors,
            has_next_page,
            has_previous_page,
            total,
        }
    } else {
        list.fetch(ctx.db(), &access, select, page).await?
    };
    Ok((Visibility { access, rule }, page))
}

/// Results of the catalog tests with one of `codes` (an empty list matches nothing).
fn of_tests(tenant_id: Uuid, codes: &[TestCode]) -> Condition {
    let mut any = Condition::any();
    for code in codes {
        let mut one = Condition::all().add(test_catalog::Column::Code.eq(code.code.as_str()));
        if let Some(system) = code.system {
            one = one.add(test_catalog::Column::CodeSystem.eq(system));
        }
        any = any.add(one);
    }
    if codes.is_empty() {
        any = any.add(Expr::val(1).eq(2));
    }
    Condition::all().add(
        Expr::col((test_result::Entity, test_result::Column::TestId)).in_subquery(
            Query::select()
                .column(test_catalog::Column::Id)
                .from(test_catalog::Entity)
                .and_where(test_catalog::Column::TenantId.eq(tenant_id))
                .cond_where(any)
                .to_owned(),
        ),
    )
}

/// Every version of a correction chain the viewer may see, oldest first, by the chain's id
/// (the id of its first version). NOT_FOUND when the chain's current version is not
/// released to the viewer: a patient never learns of a result through its history.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn chain(
    ctx: &RequestContext,
    chain_id: Uuid,
) -> ServiceResult<(Visibility, Vec<test_result::Model>)> {
    let db = ctx.db();
    let viewer = ctx.viewer()?;
    let versions = test_result::Entity::find()
        .filter(test_result::Column::TenantId.eq(viewer.tenant_id))
        .filter(test_result::Column::ChainId.eq(chain_id))
        .order_by_asc(test_result::Column::IssuedAt)
        .order_by_asc(test_result::Column::Id)
        .all(db)
        .await?;
    let Some(first) = versions.first() else {
        return Err(ServiceError::NotFound("test result"));
    };
    let (patient_id, test_id) = (first.patient_id, first.test_id);
    let what = READ.entity(chain_id);
    let access = access::authorize(ctx, patient_id, Scope::Results, what).await?;
    let rule = ReleaseRule::for_access(db, &access).await?;
    let sensitive = release::is_sensitive(db, access.tenant_id, test_id).await?;
    let replaced: Vec<Uuid> = versions
        .iter()
        .filter_map(|v| v.replaces_result_id)
        .collect();
    let current_shown = versions
        .iter()
        .find(|v| !replaced.contains(&v.id))
        .is_some_and(|current| rule.allows(current, sensitive));
    if !current_shown {
        ctx.record(
            AuditRecord::new(what, Some(patient_id), Outcome::Denied).reason("not released"),
        );
        return Err(ServiceError::NotFound("test result"));
    }
    let shown = versions
        .into_iter()
        .filter(|v| rule.allows(v, sensitive))
        .collect();
    Ok((Visibility { access, rule }, shown))
}

/// One result by id, if the viewer may see it (unreleased results are NOT_FOUND to patients).
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn get(
    ctx: &RequestContext,
    result_id: Uuid,
) -> ServiceResult<(Visibility, test_result::Model)> {
    let db = ctx.db();
    let viewer = ctx.viewer()?;
    let result = test_result::Entity::find_by_id(result_id)
        .filter(test_result::Column::TenantId.eq(viewer.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("test result"))?;
    let access = access::authorize(
        ctx,
        result.patient_id,
        Scope::Results,
        READ.entity(result_id),
    )
    .await?;
    let rule = ReleaseRule::for_access(db, &access).await?;
    let sensitive = release::is_sensitive(db, access.tenant_id, result.test_id).await?;
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

/// The release rule for everything read under `access` (one query at most, for the
/// patient's sensitive-results preference).
pub async fn visibility(ctx: &RequestContext, access: PatientAccess) -> ServiceResult<Visibility> {
    let rule = ReleaseRule::for_access(ctx.db(), &access).await?;
    Ok(Visibility { access, rule })
}

/// Records that the viewer opened a result (for "new" badges and the audit trail); the
/// first view is kept. Returns when it was first viewed.
#[instrument(skip(ctx), fields(request_id = %ctx.request_id))]
pub async fn mark_viewed(
    ctx: &RequestContext,
    result_id: Uuid,
) -> ServiceResult<(Visibility, test_result::Model, DateTime<Utc>)> {
    let db = ctx.db();
    let (vis, result) = get(ctx, result_id).await?;
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
            let now = portal_core::clock::now();
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
pub async fn writer_visibility(
    ctx: &RequestContext,
    result: &test_result::Model,
) -> ServiceResult<Visibility> {
    let viewer = ctx.viewer()?;
    let relation = access::relation(ctx, result.patient_id)
        .await?
        .ok_or_else(|| ServiceError::Forbidden("you may not see this patient's data".into()))?;
    let access = PatientAccess {
        patient_id: result.patient_id,
        tenant_id: viewer.tenant_id,
        relation,
    };
    visibility(ctx, access).await
}
