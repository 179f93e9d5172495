//! What a result says about its specimen and where it was tested — collection and receipt
//! time, the performing laboratory, the device — gathered in one place ([`ResultFacts`]) so
//! that the row builder does not care where each fact is stored. [`facts_from_stored_result`]
//! is the one function that reads them.

use chrono::{DateTime, Utc};
use portal_entities::{facility, test_catalog, test_order, test_result};

/// A laboratory or facility as the CSV names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    pub name: String,
    pub clia: Option<String>,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub phone: Option<String>,
}

impl From<&facility::Model> for Place {
    fn from(f: &facility::Model) -> Self {
        Self {
            name: f.name.clone(),
            clia: f.clia_number.clone(),
            street: f.address.clone(),
            city: f.city.clone(),
            state: f.state.clone(),
            zip: f.postal_code.clone(),
            phone: f.phone.clone(),
        }
    }
}

/// A time and whether it is only the order's time standing in for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    pub at: DateTime<Utc>,
    pub from_order: bool,
}

/// The facts of one result version the rows report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultFacts {
    /// `specimen_collection_date`.
    pub collected: When,
    /// `testing_lab_specimen_received_date`.
    pub received: When,
    /// `testing_lab_*`: the laboratory that performed the test.
    pub testing_lab: Place,
    /// `equipment_model_name`.
    pub device: Option<String>,
}

impl ResultFacts {
    /// The row comment's note on what stands in for a fact the result does not carry.
    pub fn fallback_note(&self) -> Option<String> {
        let mut stand_ins = Vec::new();
        if self.collected.from_order {
            stand_ins.push("specimen_collection_date");
        }
        if self.received.from_order {
            stand_ins.push("testing_lab_specimen_received_date");
        }
        (!stand_ins.is_empty()).then(|| {
            format!(
                "{} is the order time (the result carries none)",
                stand_ins.join(" and ")
            )
        })
    }
}

/// Reads the facts of `result` from what is stored today: the result carries no collection
/// or receipt time, no performing laboratory with its CLIA number and address, and no
/// device, so the order's time stands in for both times (flagged), the order's facility is
/// the testing lab, and the catalog test's `device_model` is the device. When results store
/// these (the HL7 adapter's OBR-7, OBR-14 / SPM-18, OBX-23..25 and OBX-17/18), this is the
/// function that reads them, falling back as here.
pub fn facts_from_stored_result(
    _result: &test_result::Model,
    order: &test_order::Model,
    order_facility: Option<&facility::Model>,
    test: &test_catalog::Model,
) -> ResultFacts {
    let from_order = When {
        at: order.ordered_at,
        from_order: true,
    };
    ResultFacts {
        collected: from_order,
        received: from_order,
        testing_lab: order_facility.map(Place::from).unwrap_or_default(),
        device: test.device_model.clone(),
    }
}
