//! `viewer`: who am I, and which patients may I see.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object, Result};
use portal_core::identity::Viewer as AuthViewer;
use portal_entities::tenant;
use portal_services::patients::search as patient_search;
use portal_services::{ServiceError, patients};
use sea_orm::EntityTrait;

use super::enums::Role;
use super::master_data::PatientSearchInput;
use super::patient::Patient;
use crate::context::{connection, page, request};
use crate::error::{GqlResult, to_gql};

pub struct Viewer(pub AuthViewer);

/// The organisation (tenant) a user belongs to.
pub struct Organization(pub tenant::Model);

#[Object]
impl Organization {
    pub async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
}

#[Object]
impl Viewer {
    /// The token subject.
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn roles(&self) -> Vec<Role> {
        self.0.roles.iter().copied().map(Into::into).collect()
    }
    async fn organization(&self, ctx: &Context<'_>) -> Result<Organization> {
        let found = tenant::Entity::find_by_id(self.0.tenant_id)
            .one(request(ctx)?.db())
            .await
            .map_err(ServiceError::from)
            .gql()?;
        found
            .map(Organization)
            .ok_or_else(|| to_gql(&ServiceError::NotFound("organization")))
    }
    /// The viewer's own patient record (patients only).
    async fn patient(&self, ctx: &Context<'_>) -> Result<Option<Patient>> {
        let Some(id) = self.0.patient_id else {
            return Ok(None);
        };
        let (access, model) = patients::get(request(ctx)?, id).await.gql()?;
        Ok(Some(Patient::new(model, access)))
    }
    /// Every patient the viewer may see: themself and those who granted them proxy access;
    /// a clinician's patients; the whole organisation for lab and staff. With `search`, those
    /// of them that match, in family-name order (audited as a search).
    async fn patients(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<PatientSearchInput>,
    ) -> Result<Connection<String, Patient>> {
        let page = page(ctx, first, after)?;
        let rows = match search {
            Some(s) => {
                let search = patient_search::PatientSearch {
                    name: s.name,
                    mrn: s.mrn,
                    birth_date: s.birth_date,
                    ..Default::default()
                };
                patient_search::search(request(ctx)?, &search, &page).await
            }
            None => patients::visible_to_viewer(request(ctx)?, &page).await,
        }
        .gql()?;
        Ok(connection(rows, |(access, p)| Patient::new(p, access)))
    }
}
