//! DataLoaders for every relation: one batched query per relation per request, never N+1.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use portal_core::db::TenantDb;
use portal_core::prefetch::Prefetch;
use portal_entities::{
    appointment, catalog_analyte, clinician, coverage, facility, imaging_report, observation,
    observation_detail, patient, result_detail, test_catalog, test_order, test_result,
};
use portal_services::ServiceError;
use portal_services::lookup::by_keys;
use uuid::Uuid;

/// The per-request loader, scoped to the viewer's tenant.
pub struct Loaders {
    db: TenantDb,
    tenant_id: Uuid,
    prefetch: Option<Arc<Prefetch>>,
}

impl Loaders {
    pub fn new(db: TenantDb, tenant_id: Uuid) -> Self {
        Self {
            db,
            tenant_id,
            prefetch: None,
        }
    }

    /// Observations and catalog entries the request fetched ahead are answered from `prefetch`.
    pub fn with_prefetch(mut self, prefetch: Arc<Prefetch>) -> Self {
        self.prefetch = Some(prefetch);
        self
    }

    /// The tenant-bound handle and tenant, for loaders defined beside their types.
    pub(crate) fn scope(&self) -> (&TenantDb, Uuid) {
        (&self.db, self.tenant_id)
    }

    async fn rows<E: sea_orm::EntityTrait>(
        &self,
        tenant: E::Column,
        key: E::Column,
        ids: Vec<Uuid>,
    ) -> Result<Vec<E::Model>, LoadError> {
        Ok(by_keys::<E, _>(&self.db, tenant, self.tenant_id, key, &ids).await?)
    }
}

pub type LoadError = Arc<ServiceError>;

/// A relation answered with at most one row per key; rows are keyed by `$field`.
macro_rules! one_by {
    ($key:ident, $entity:ident, $column:ident, $field:ident) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub Uuid);

        impl Loader<$key> for Loaders {
            type Value = $entity::Model;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let ids = keys.iter().map(|k| k.0).collect();
                let rows = self
                    .rows::<$entity::Entity>(
                        $entity::Column::TenantId,
                        $entity::Column::$column,
                        ids,
                    )
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|row| ($key(row.$field), row))
                    .collect())
            }
        }
    };
}

/// A relation answered with a list per key (every key present, maybe empty), sorted by `$sort`.
macro_rules! many_by {
    ($key:ident, $entity:ident, $column:ident, $field:ident, $sort:expr) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $key(pub Uuid);

        impl Loader<$key> for Loaders {
            type Value = Vec<$entity::Model>;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let ids = keys.iter().map(|k| k.0).collect();
                let mut rows = self
                    .rows::<$entity::Entity>(
                        $entity::Column::TenantId,
                        $entity::Column::$column,
                        ids,
                    )
                    .await?;
                rows.sort_by($sort);
                let mut grouped: HashMap<$key, Self::Value> =
                    keys.iter().map(|k| (*k, Vec::new())).collect();
                for row in rows {
                    let key: Option<Uuid> = row.$field.into();
                    if let Some(list) = key.and_then(|k| grouped.get_mut(&$key(k))) {
                        list.push(row);
                    }
                }
                Ok(grouped)
            }
        }
    };
}

one_by!(PatientById, patient, Id, id);
one_by!(ResultById, test_result, Id, id);
one_by!(OrderById, test_order, Id, id);
one_by!(FacilityById, facility, Id, id);
one_by!(ClinicianById, clinician, Id, id);
one_by!(AppointmentById, appointment, Id, id);
one_by!(CoverageById, coverage, Id, id);
one_by!(ImagingReportOf, imaging_report, ResultId, result_id);
one_by!(ResultDetailsOf, result_detail, ResultId, result_id);
one_by!(
    ObservationDetailsOf,
    observation_detail,
    ObservationId,
    observation_id
);

many_by!(AnalytesOf, catalog_analyte, TestId, test_id, |a, b| a
    .position
    .cmp(&b.position));
many_by!(VersionsOfChain, test_result, ChainId, chain_id, |a, b| a
    .issued_at
    .cmp(&b.issued_at)
    .then(a.id.cmp(&b.id)));
many_by!(ResultsOfOrder, test_result, OrderId, order_id, |a, b| a
    .issued_at
    .cmp(&b.issued_at)
    .then(a.id.cmp(&b.id)));
many_by!(
    OrdersOfAppointment,
    test_order,
    AppointmentId,
    appointment_id,
    |a, b| a.ordered_at.cmp(&b.ordered_at)
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CatalogById(pub Uuid);

impl Loader<CatalogById> for Loaders {
    type Value = test_catalog::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[CatalogById],
    ) -> Result<HashMap<CatalogById, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut found = match &self.prefetch {
            Some(prefetch) => prefetch.tests(&ids),
            None => HashMap::new(),
        };
        let missing: Vec<Uuid> = ids
            .into_iter()
            .filter(|id| !found.contains_key(id))
            .collect();
        if !missing.is_empty() {
            let rows = self
                .rows::<test_catalog::Entity>(
                    test_catalog::Column::TenantId,
                    test_catalog::Column::Id,
                    missing,
                )
                .await?;
            found.extend(rows.into_iter().map(|row| (row.id, row)));
        }
        Ok(found
            .into_iter()
            .map(|(id, row)| (CatalogById(id), row))
            .collect())
    }
}

/// A result's observations in position order (every key present, maybe empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObservationsOf(pub Uuid);

impl Loader<ObservationsOf> for Loaders {
    type Value = Vec<observation::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ObservationsOf],
    ) -> Result<HashMap<ObservationsOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut grouped = match &self.prefetch {
            Some(prefetch) => prefetch.observations(&ids),
            None => HashMap::new(),
        };
        let missing: Vec<Uuid> = ids
            .into_iter()
            .filter(|id| !grouped.contains_key(id))
            .collect();
        if !missing.is_empty() {
            let mut rows = self
                .rows::<observation::Entity>(
                    observation::Column::TenantId,
                    observation::Column::ResultId,
                    missing.clone(),
                )
                .await?;
            rows.sort_by_key(|row| row.position);
            for id in missing {
                grouped.entry(id).or_default();
            }
            for row in rows {
                if let Some(list) = grouped.get_mut(&row.result_id) {
                    list.push(row);
                }
            }
        }
        Ok(grouped
            .into_iter()
            .map(|(id, rows)| (ObservationsOf(id), rows))
            .collect())
    }
}
