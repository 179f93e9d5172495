//! Root query fields, one `#[derive(Default)]` part per domain area, merged in `Query`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, MergedObject, Object, Result};
use chrono::NaiveDate;
use portal_services::{ServiceError, catalog, directory, nodes, patients, results, walk_in};

use crate::context::{app, connection, page, request};
use crate::error::{GqlResult, to_gql};
use crate::ids::{NodeType, decode, decode_any};
use crate::types::account::ProxyGrant;
use crate::types::catalog::TestCatalogItem;
use crate::types::common::{Clinician, Facility};
use crate::types::coverage::{Claim, Coverage};
use crate::types::identity::{PatientIdAuthority, PatientMatch, PatientMatchStatus};
use crate::types::node::Node;
use crate::types::order::{Appointment, TestOrder};
use crate::types::patient::Patient;
use crate::types::result::TestResult;
use crate::types::viewer::Viewer;
use crate::types::walk_in::WalkInResult;

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// The authenticated user: who they are and which patients they may see.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let viewer = request(ctx)?.viewer().gql()?;
        Ok(Viewer(viewer.clone()))
    }
}

#[derive(Default)]
pub struct PatientQuery;

#[Object]
impl PatientQuery {
    /// One patient the viewer may see; FORBIDDEN when they may not.
    async fn patient(&self, ctx: &Context<'_>, id: ID) -> Result<Patient> {
        let id = decode(&id, NodeType::Patient, "id").gql()?;
        let (access, model) = patients::get(request(ctx)?, id).await.gql()?;
        Ok(Patient::new(model, access))
    }
}

#[derive(Default)]
pub struct ResultQuery;

#[Object]
impl ResultQuery {
    /// One result; NOT_FOUND for results not released to the viewer.
    async fn test_result(&self, ctx: &Context<'_>, id: ID) -> Result<TestResult> {
        let id = decode(&id, NodeType::TestResult, "id").gql()?;
        let (vis, model) = results::get(request(ctx)?, id).await.gql()?;
        Ok(TestResult::new(model, vis))
    }
}

#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// The organisation's orderable tests, by code prefix or name.
    async fn test_catalog(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, TestCatalogItem>> {
        let page = page(ctx, first, after)?;
        let rows = catalog::search(request(ctx)?, search.as_deref(), &page)
            .await
            .gql()?;
        Ok(connection(rows, TestCatalogItem))
    }
}

#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// The organisation's facilities, by name; `search` matches part of the name.
    async fn facilities(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Facility>> {
        let page = page(ctx, first, after)?;
        let rows = directory::facilities(request(ctx)?, search.as_deref(), &page)
            .await
            .gql()?;
        Ok(connection(rows, Facility))
    }

    /// The organisation's clinicians, by display name; `search` matches part of the name or
    /// the whole NPI.
    async fn clinicians(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, Clinician>> {
        let page = page(ctx, first, after)?;
        let rows = directory::clinicians(request(ctx)?, search.as_deref(), &page)
            .await
            .gql()?;
        Ok(connection(rows, Clinician))
    }
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Any object by its global ID, with the same access checks as its own field.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let (node_type, id) = decode_any(&id, "id").gql()?;
        let req = request(ctx)?;
        let node = match node_type {
            NodeType::Patient => {
                let (access, model) = patients::get(req, id).await.gql()?;
                Node::Patient(Patient::new(model, access))
            }
            NodeType::TestResult => {
                let (vis, model) = results::get(req, id).await.gql()?;
                Node::TestResult(TestResult::new(model, vis))
            }
            NodeType::TestOrder => {
                let (vis, model) = nodes::order(req, id).await.gql()?;
                Node::TestOrder(TestOrder::new(model, vis))
            }
            NodeType::Appointment => {
                let (access, model) = nodes::appointment(req, id).await.gql()?;
                Node::Appointment(Appointment::new(model, access))
            }
            NodeType::Coverage => Node::Coverage(Coverage(nodes::coverage(req, id).await.gql()?)),
            NodeType::Claim => Node::Claim(Claim(nodes::claim(req, id).await.gql()?)),
            NodeType::ProxyGrant => {
                Node::ProxyGrant(ProxyGrant(nodes::proxy_grant(req, id).await.gql()?))
            }
            NodeType::TestCatalogItem => {
                Node::TestCatalogItem(TestCatalogItem(nodes::catalog_item(req, id).await.gql()?))
            }
            NodeType::Facility => Node::Facility(Facility(nodes::facility(req, id).await.gql()?)),
            NodeType::Clinician => {
                Node::Clinician(Clinician(nodes::clinician(req, id).await.gql()?))
            }
            NodeType::Observation => {
                return Err(to_gql(&ServiceError::bad_input(
                    "id",
                    "observations are read through their result",
                )));
            }
            NodeType::CriticalAlert => Node::CriticalAlert(crate::critical::CriticalAlert(
                portal_services::critical::get(req, id).await.gql()?,
            )),
            NodeType::PushToken => {
                return Err(to_gql(&ServiceError::bad_input(
                    "id",
                    "push tokens are write-only",
                )));
            }
            NodeType::PatientMatch => {
                Node::PatientMatch(PatientMatch(patients::matching::get(req, id).await.gql()?))
            }
        };
        Ok(Some(node))
    }
}

#[derive(Default)]
pub struct WalkInQuery;

#[Object]
impl WalkInQuery {
    /// Opens a walk-in result link without signing in: the token from the link and the
    /// patient's birth date. Rate-limited per client; locks after 10 wrong birth dates.
    async fn result_link(
        &self,
        ctx: &Context<'_>,
        token: String,
        birth_date: NaiveDate,
    ) -> Result<WalkInResult> {
        let app = app(ctx)?;
        let opened = walk_in::open(request(ctx)?, &app.result_link_limiter, &token, birth_date)
            .await
            .gql()?;
        Ok(WalkInResult(opened))
    }
}

#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// The staff matching queue (staff, admin): messages whose identifier no patient held
    /// while a patient with the same name and birth date exists; OPEN ones unless `status`
    /// says otherwise, oldest first.
    async fn patient_matches(
        &self,
        ctx: &Context<'_>,
        status: Option<PatientMatchStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, PatientMatch>> {
        let page = page(ctx, first, after)?;
        let rows = patients::matching::list(request(ctx)?, status.map(Into::into), &page)
            .await
            .gql()?;
        Ok(connection(rows, PatientMatch))
    }

    /// The organisation's assigning authorities of patient identifiers, its own first
    /// (staff, admin).
    async fn patient_id_authorities(&self, ctx: &Context<'_>) -> Result<Vec<PatientIdAuthority>> {
        let rows = directory::authorities::list(request(ctx)?).await.gql()?;
        Ok(rows.into_iter().map(PatientIdAuthority).collect())
    }
}

/// Every root query field.
#[derive(MergedObject, Default)]
pub struct Query(
    ViewerQuery,
    PatientQuery,
    ResultQuery,
    CatalogQuery,
    DirectoryQuery,
    NodeQuery,
    WalkInQuery,
    crate::critical::CriticalQuery,
    IdentityQuery,
);
