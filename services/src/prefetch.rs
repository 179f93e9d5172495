//! PostgreSQL statements that bring what the next resolvers will ask for along with what is
//! asked now (`portal_core::prefetch`): a results page with its observations and catalog
//! entries, a patient with their sensitive-results preference (and the request's tenant
//! binding). Decoding errors never quote the row (patient data).

use portal_entities::{observation, patient, test_catalog, test_result};
use sea_orm::sea_query::Expr;
use sea_orm::{DbErr, FromQueryResult, QueryResult, QuerySelect, Select};
use uuid::Uuid;

use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};

// JSON text (`json`, not `jsonb`: no binary tree built on the server only to be printed) that
// serde decodes straight into the models, with no `serde_json::Value` in between.
const OBSERVATIONS: &str = "(SELECT json_agg(o ORDER BY o.position)::text FROM observations o \
     WHERE o.tenant_id = test_results.tenant_id AND o.result_id = test_results.id)";
const TEST: &str = "(SELECT row_to_json(c)::text FROM test_catalog c \
     WHERE c.tenant_id = test_results.tenant_id AND c.id = test_results.test_id)";

/// A results row with its observations and catalog entry as JSON text.
pub struct ResultWithChildren {
    pub result: test_result::Model,
    observations: Option<String>,
    test: Option<String>,
}

impl FromQueryResult for ResultWithChildren {
    fn from_query_result(row: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            result: test_result::Model::from_query_result(row, pre)?,
            observations: row.try_get(pre, "portal_observations")?,
            test: row.try_get(pre, "portal_test")?,
        })
    }
}

/// `select` (of results) with each row's observations and catalog entry added.
pub fn with_children(select: Select<test_result::Entity>) -> Select<test_result::Entity> {
    select
        .expr_as(Expr::cust(OBSERVATIONS), "portal_observations")
        .expr_as(Expr::cust(TEST), "portal_test")
}

/// Keeps the page's observations and catalog entries for the request's loaders.
pub fn keep(ctx: &RequestContext, row: ResultWithChildren) -> ServiceResult<test_result::Model> {
    let observations: Vec<observation::Model> = match &row.observations {
        Some(json) => decode(json, "observations")?,
        None => Vec::new(),
    };
    ctx.prefetch().put_observations(row.result.id, observations);
    if let Some(json) = &row.test {
        ctx.prefetch()
            .put_test(decode::<test_catalog::Model>(json, "test_catalog")?);
    }
    Ok(row.result)
}

/// The patient and their sensitive-results preference in one statement, which binds the
/// request's tenant too when it is the request's first (`TenantDb::query_row_binding`).
pub async fn patient(
    ctx: &RequestContext,
    tenant_id: Uuid,
    patient_id: Uuid,
) -> ServiceResult<Option<patient::Model>> {
    let row = ctx
        .db()
        .query_row_binding(
            "(SELECT row_to_json(p)::text FROM patients p WHERE p.tenant_id = $1 AND p.id = $2) AS patient, \
             (SELECT np.hold_sensitive_results FROM notification_preferences np \
              WHERE np.tenant_id = $1 AND np.patient_id = $2) AS hold_sensitive",
            vec![tenant_id.into(), patient_id.into()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let Some(json) = row.try_get::<Option<String>>("", "patient")? else {
        return Ok(None);
    };
    let hold = row.try_get::<Option<bool>>("", "hold_sensitive")?;
    ctx.prefetch().put_hold(patient_id, hold.unwrap_or(false));
    Ok(Some(decode(&json, "patients")?))
}

fn decode<T: serde::de::DeserializeOwned>(json: &str, table: &str) -> ServiceResult<T> {
    serde_json::from_str(json)
        .map_err(|_| ServiceError::internal(format!("a {table} row fetched ahead did not decode")))
}
