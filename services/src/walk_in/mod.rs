//! Walk-in result links: a secret link sent by SMS or email that opens one released result after
//! the holder proves the patient's birth date. Only the token's SHA-256 is stored; attempts
//! are limited per client address (`rate_limit`).

pub mod auto;
pub mod rate_limit;

use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use portal_entities::{
    NotificationChannel, NotificationStatus, imaging_report, notification, observation, patient,
    result_link, test_catalog, test_result,
};
use rand::RngCore;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Statement, TransactionSession, TransactionTrait,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::instrument;
use uuid::Uuid;

use crate::results::{self, Visibility};
use crate::walk_in::rate_limit::AttemptLimiter;
use portal_core::access::{self, Access};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::db::TenantDb;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::Role;
use portal_core::release::ReleaseRule;

const SEND: Access = Access::write("result_link.send", "TestResult");
const OPEN: Access = Access::read("result_link.open", "ResultLink");

/// How long a link stays valid after it was (re)sent.
pub const LINK_TTL: Duration = Duration::days(10);
/// Wrong birth dates after which a link is locked for good (a new send unlocks it).
pub const MAX_FAILED_ATTEMPTS: i32 = 10;
/// The template the notification worker renders for links (with `params.link`).
pub const TEMPLATE: &str = "result_link";
/// Tokens are 32 random bytes in unpadded base64url: 43 characters.
const TOKEN_LEN: usize = 43;

/// Where a link can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkChannel {
    Sms,
    Email,
}

impl LinkChannel {
    fn stored(self) -> NotificationChannel {
        match self {
            Self::Sms => NotificationChannel::Sms,
            Self::Email => NotificationChannel::Email,
        }
    }

    fn address(self, patient: &patient::Model) -> Option<&str> {
        match self {
            Self::Sms => patient.phone.as_deref(),
            Self::Email => patient.email.as_deref(),
        }
        .filter(|a| !a.trim().is_empty())
    }
}

/// What `sendResultLink` did: the notification's status and, when queued, the link's expiry.
#[derive(Debug, Clone)]
pub struct SentLink {
    pub vis: Visibility,
    pub result: test_result::Model,
    pub status: NotificationStatus,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Sends (or re-sends, rotating the token) a link to a released result (lab, staff, admin only).
/// When the patient has no address on `channel`, a SKIPPED notification is recorded and the
/// link is left as it was, so a link the patient already holds keeps working.
#[instrument(skip(ctx, public_url), fields(request_id = %ctx.request_id))]
pub async fn send(
    ctx: &RequestContext,
    result_id: Uuid,
    channel: LinkChannel,
    public_url: &str,
) -> ServiceResult<SentLink> {
    let db = ctx.db();
    let what = SEND.entity(result_id);
    let viewer = ctx.viewer()?;
    if ![Role::Lab, Role::Staff, Role::Admin]
        .iter()
        .any(|r| viewer.has_role(*r))
    {
        ctx.record(AuditRecord::new(what, None, Outcome::Denied).reason("role may not send links"));
        return Err(ServiceError::Forbidden(
            "only lab, staff and admin users may send result links".into(),
        ));
    }
    let (vis, result) = results::get(ctx, result_id).await?;
    let patient = patient::Entity::find_by_id(result.patient_id)
        .filter(patient::Column::TenantId.eq(result.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("patient"))?;
    if !released_to_patient(db, &result).await? {
        ctx.record(
            AuditRecord::new(what, Some(patient.id), Outcome::Failed).reason("not released"),
        );
        return Err(ServiceError::Conflict(
            "the result is not released to the patient yet".into(),
        ));
    }
    let now = portal_core::clock::now();
    let txn = portal_core::db::begin_write(db).await?;
    let (status, expires_at) = match channel.address(&patient) {
        None => {
            let why = match channel {
                LinkChannel::Sms => "patient has no phone number",
                LinkChannel::Email => "patient has no email address",
            };
            let row = notification_row(&result, channel, now, None, Some(why));
            insert_notification(&txn, row).await?;
            (NotificationStatus::Skipped, None)
        }
        Some(_) => {
            let token = new_token();
            let expires_at = now + LINK_TTL;
            rotate_link(&txn, &result, &token_hash(&token), now, expires_at).await?;
            let link = format!("{}/r/{token}", public_url.trim_end_matches('/'));
            let params = serde_json::json!({ "link": link });
            let row = notification_row(&result, channel, now, Some(params), None);
            insert_notification(&txn, row).await?;
            (NotificationStatus::Pending, Some(expires_at))
        }
    };
    txn.commit().await?;
    ctx.record(AuditRecord::new(what, Some(patient.id), Outcome::Allowed));
    Ok(SentLink {
        vis,
        result,
        status,
        expires_at,
    })
}

/// Whether the patient themself would see this result now (release status, sensitive hold).
async fn released_to_patient<C: ConnectionTrait>(
    db: &C,
    result: &test_result::Model,
) -> ServiceResult<bool> {
    let access = access::as_patient(result.tenant_id, result.patient_id);
    let rule = ReleaseRule::for_access(db, &access).await?;
    let sensitive =
        portal_core::release::is_sensitive(db, result.tenant_id, result.test_id).await?;
    Ok(rule.allows(result, sensitive))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of a token: lower-case SHA-256 hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// One link row per result: sending again replaces the token and resets expiry and lock.
async fn rotate_link<C: ConnectionTrait>(
    db: &C,
    result: &test_result::Model,
    hash: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> ServiceResult<()> {
    use result_link::Column as Col;
    let row = result_link::Model {
        id: Uuid::now_v7(),
        tenant_id: result.tenant_id,
        patient_id: result.patient_id,
        result_id: result.id,
        token_hash: hash.to_owned(),
        expires_at,
        failed_attempts: 0,
        locked_at: None,
        last_opened_at: None,
        created_at: now,
    };
    result_link::Entity::insert(row.into_active_model())
        .on_conflict(
            OnConflict::column(Col::ResultId)
                .update_columns([
                    Col::TokenHash,
                    Col::ExpiresAt,
                    Col::FailedAttempts,
                    Col::LockedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

fn notification_row(
    result: &test_result::Model,
    channel: LinkChannel,
    now: DateTime<Utc>,
    params: Option<serde_json::Value>,
    skipped: Option<&str>,
) -> notification::Model {
    notification::Model {
        id: Uuid::now_v7(),
        tenant_id: result.tenant_id,
        patient_id: result.patient_id,
        result_id: Some(result.id),
        // No outbox event describes a link; each send is its own delivery set.
        event_id: Uuid::now_v7(),
        channel: channel.stored(),
        template: TEMPLATE.to_owned(),
        status: if skipped.is_some() {
            NotificationStatus::Skipped
        } else {
            NotificationStatus::Pending
        },
        attempts: 0,
        last_error: skipped.map(str::to_owned),
        next_attempt_at: now,
        sent_at: None,
        created_at: now,
        params,
    }
}

async fn insert_notification<C: ConnectionTrait>(
    db: &C,
    row: notification::Model,
) -> ServiceResult<()> {
    notification::Entity::insert(row.into_active_model())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The result a link opens, with everything the walk-in page shows.
#[derive(Debug, Clone)]
pub struct OpenedResult {
    pub vis: Visibility,
    pub result: test_result::Model,
    pub test: Option<test_catalog::Model>,
    pub observations: Vec<observation::Model>,
    pub imaging_report: Option<imaging_report::Model>,
}

/// Opens a link without a login: rate-limited per client address, the token looked up by its
/// hash, the birth date compared in constant time; every attempt is audited (never the token).
#[instrument(skip_all, fields(request_id = %ctx.request_id))]
pub async fn open(
    ctx: &RequestContext,
    limiter: &AttemptLimiter,
    token: &str,
    birth_date: NaiveDate,
) -> ServiceResult<OpenedResult> {
    let db = ctx.db();
    let client = ctx.client_addr.as_deref().unwrap_or("unknown");
    if !limiter.try_acquire(client, Instant::now()) {
        return Err(denied(
            ctx,
            OPEN,
            None,
            "rate limited",
            ServiceError::RateLimited,
        ));
    }
    let link = find_link(db, token).await?;
    let Some(link) = link else {
        return Err(denied(
            ctx,
            OPEN,
            None,
            "unknown token",
            ServiceError::NotFound("result link"),
        ));
    };
    // The holder of the secret is not signed in: the rest runs bound to the link's tenant.
    let db = &db.for_tenant(link.tenant_id);
    let what = OPEN.entity(link.id);
    let patient_id = Some(link.patient_id);
    let now = portal_core::clock::now();
    if link.expires_at <= now {
        let err = ServiceError::Expired(
            "this result link has expired; ask the laboratory to send a new one".into(),
        );
        return Err(denied(ctx, what, patient_id, "expired", err));
    }
    if link.locked_at.is_some() {
        let err = ServiceError::Forbidden(
            "this result link is locked after too many attempts; ask the laboratory for a new one"
                .into(),
        );
        return Err(denied(ctx, what, patient_id, "locked", err));
    }
    let patient = patient::Entity::find_by_id(link.patient_id)
        .filter(patient::Column::TenantId.eq(link.tenant_id))
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("result link"))?;
    if !same_date(patient.birth_date, birth_date) {
        count_failure(db, link.id, now).await?;
        let err = ServiceError::Forbidden("the birth date does not match".into());
        return Err(denied(ctx, what, patient_id, "birth date mismatch", err));
    }
    let opened = load_current(db, &link).await?;
    let Some(opened) = opened else {
        let err = ServiceError::NotFound("test result");
        return Err(denied(ctx, what, patient_id, "not released", err));
    };
    result_link::Entity::update_many()
        .col_expr(result_link::Column::LastOpenedAt, Expr::value(now))
        .filter(result_link::Column::Id.eq(link.id))
        .exec(db)
        .await?;
    ctx.record(AuditRecord::new(what, patient_id, Outcome::Allowed));
    Ok(opened)
}

fn denied(
    ctx: &RequestContext,
    what: Access,
    patient_id: Option<Uuid>,
    reason: &str,
    err: ServiceError,
) -> ServiceError {
    ctx.record(AuditRecord::new(what, patient_id, Outcome::Denied).reason(reason));
    err
}

/// The link a token opens, whichever tenant it belongs to. On PostgreSQL the `result_links`
/// policy admits the one row whose hash the transaction sets in `app.result_link_token_hash`
/// (the caller holds the secret, not a tenant); no other tenant row is visible.
async fn find_link(db: &TenantDb, token: &str) -> ServiceResult<Option<result_link::Model>> {
    if token.len() != TOKEN_LEN {
        return Ok(None);
    }
    let hash = token_hash(token);
    let find = result_link::Entity::find().filter(result_link::Column::TokenHash.eq(hash.clone()));
    let pool = db.pool();
    if pool.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(find.one(pool).await?);
    }
    let txn = pool.begin().await?;
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT set_config('app.result_link_token_hash', $1, true)",
        [hash.into()],
    ))
    .await?;
    let link = find.one(&txn).await?;
    txn.commit().await?;
    Ok(link)
}

/// Constant-time comparison, so response timing does not reveal how much of a date matched.
fn same_date(stored: NaiveDate, given: NaiveDate) -> bool {
    let stored = stored.format("%Y-%m-%d").to_string();
    let given = given.format("%Y-%m-%d").to_string();
    stored.len() == given.len() && bool::from(stored.as_bytes().ct_eq(given.as_bytes()))
}

/// Counts a wrong birth date and locks the link at the limit, atomically per statement.
async fn count_failure<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    link_id: Uuid,
    now: DateTime<Utc>,
) -> ServiceResult<()> {
    use result_link::Column as Col;
    let txn = portal_core::db::begin_write(db).await?;
    result_link::Entity::update_many()
        .col_expr(Col::FailedAttempts, Expr::col(Col::FailedAttempts).add(1))
        .filter(Col::Id.eq(link_id))
        .exec(&txn)
        .await?;
    result_link::Entity::update_many()
        .col_expr(Col::LockedAt, Expr::value(now))
        .filter(Col::Id.eq(link_id))
        .filter(Col::LockedAt.is_null())
        .filter(Col::FailedAttempts.gte(MAX_FAILED_ATTEMPTS))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The current version of the linked result's correction chain, if the patient may see it.
async fn load_current<C: ConnectionTrait>(
    db: &C,
    link: &result_link::Model,
) -> ServiceResult<Option<OpenedResult>> {
    let Some(linked) = test_result::Entity::find_by_id(link.result_id)
        .filter(test_result::Column::TenantId.eq(link.tenant_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let versions = test_result::Entity::find()
        .filter(test_result::Column::TenantId.eq(link.tenant_id))
        .filter(test_result::Column::ChainId.eq(linked.chain_id))
        .all(db)
        .await?;
    let current = versions
        .iter()
        .find(|v| !versions.iter().any(|o| o.replaces_result_id == Some(v.id)))
        .cloned()
        .unwrap_or(linked);
    let access = access::as_patient(link.tenant_id, link.patient_id);
    let rule = portal_core::release::ReleaseRule::for_access(db, &access).await?;
    let vis = Visibility { access, rule };
    let sensitive =
        portal_core::release::is_sensitive(db, current.tenant_id, current.test_id).await?;
    if !vis.rule.allows(&current, sensitive) {
        return Ok(None);
    }
    details(db, vis, current).await.map(Some)
}

async fn details<C: ConnectionTrait>(
    db: &C,
    vis: Visibility,
    result: test_result::Model,
) -> ServiceResult<OpenedResult> {
    let tenant_id = result.tenant_id;
    let test = test_catalog::Entity::find_by_id(result.test_id)
        .filter(test_catalog::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?;
    let observations = observation::Entity::find()
        .filter(observation::Column::TenantId.eq(tenant_id))
        .filter(observation::Column::ResultId.eq(result.id))
        .order_by_asc(observation::Column::Position)
        .all(db)
        .await?;
    let imaging_report = imaging_report::Entity::find_by_id(result.id)
        .filter(imaging_report::Column::TenantId.eq(tenant_id))
        .one(db)
        .await?;
    Ok(OpenedResult {
        vis,
        result,
        test,
        observations,
        imaging_report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_hash_to_hex() {
        let token = new_token();
        assert_eq!(token.len(), TOKEN_LEN);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(token, new_token());
        assert_eq!(token_hash(&token).len(), 64);
    }
}
