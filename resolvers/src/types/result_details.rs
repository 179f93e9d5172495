//! What a laboratory sent with a result beyond its values, as the API shows it: the
//! specimen, its collection and receipt times, the performing laboratory (as data, not a
//! facility), and per observation its time and device.

use async_graphql::{Context, Result, SimpleObject};
use chrono::{DateTime, Utc};
use portal_entities::{observation_detail, result_detail};

use crate::context::loader;
use crate::error::GqlResult;
use crate::loaders::{ObservationDetailsOf, ResultDetailsOf};

/// The specimen a result was obtained from, as the laboratory described it.
#[derive(SimpleObject)]
pub struct Specimen {
    /// The specimen type (e.g. SNOMED CT `119297000` Blood specimen).
    pub r#type: Option<SpecimenType>,
    /// The source site or a description of the source.
    pub source: Option<String>,
}

#[derive(SimpleObject)]
pub struct SpecimenType {
    pub code: Option<String>,
    pub display: Option<String>,
    /// The code system as sent (e.g. `SCT`).
    pub system: Option<String>,
}

/// The laboratory that performed the test, as the laboratory named it.
#[derive(SimpleObject)]
pub struct PerformingLaboratory {
    pub name: Option<String>,
    pub identifier: Option<LaboratoryIdentifier>,
    /// The address on one line.
    pub address: Option<String>,
    /// The laboratory's medical director.
    pub director: Option<String>,
}

/// An identifier of a laboratory with its type and the authority that assigned it.
#[derive(SimpleObject)]
pub struct LaboratoryIdentifier {
    pub value: String,
    /// The identifier's kind (HL7 table 0203, e.g. `XX` organization identifier).
    pub r#type: Option<String>,
    /// Who assigned it (e.g. `CLIA`, or an OID).
    pub system: Option<String>,
}

/// The device or test kit an observation was made with.
#[derive(SimpleObject)]
pub struct Device {
    pub name: Option<String>,
    /// The equipment instance identifier.
    pub identifier: Option<String>,
}

pub(super) async fn of_result(
    ctx: &Context<'_>,
    result_id: uuid::Uuid,
) -> Result<Option<result_detail::Model>> {
    loader(ctx)?
        .load_one(ResultDetailsOf(result_id))
        .await
        .gql()
}

pub(super) async fn of_observation(
    ctx: &Context<'_>,
    observation_id: uuid::Uuid,
) -> Result<Option<observation_detail::Model>> {
    loader(ctx)?
        .load_one(ObservationDetailsOf(observation_id))
        .await
        .gql()
}

pub(super) fn specimen(d: &result_detail::Model) -> Option<Specimen> {
    let kind = (d.specimen_type_code.is_some() || d.specimen_type_display.is_some()).then(|| {
        SpecimenType {
            code: d.specimen_type_code.clone(),
            display: d.specimen_type_display.clone(),
            system: d.specimen_type_system.clone(),
        }
    });
    (kind.is_some() || d.specimen_source.is_some()).then(|| Specimen {
        r#type: kind,
        source: d.specimen_source.clone(),
    })
}

pub(super) fn laboratory(d: &result_detail::Model) -> Option<PerformingLaboratory> {
    let identifier = d.lab_identifier.clone().map(|value| LaboratoryIdentifier {
        value,
        r#type: d.lab_identifier_type.clone(),
        system: d.lab_identifier_system.clone(),
    });
    let any = d.lab_name.is_some()
        || identifier.is_some()
        || d.lab_address.is_some()
        || d.lab_director.is_some();
    any.then(|| PerformingLaboratory {
        name: d.lab_name.clone(),
        identifier,
        address: d.lab_address.clone(),
        director: d.lab_director.clone(),
    })
}

pub(super) fn device(d: &observation_detail::Model) -> Option<Device> {
    (d.device_name.is_some() || d.device_identifier.is_some()).then(|| Device {
        name: d.device_name.clone(),
        identifier: d.device_identifier.clone(),
    })
}

pub(super) fn collected_at(d: Option<result_detail::Model>) -> Option<DateTime<Utc>> {
    d.and_then(|d| d.collected_at)
}
