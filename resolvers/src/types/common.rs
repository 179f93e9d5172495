//! Small shared output types: money, reference ranges, facilities, clinicians.

use async_graphql::{ID, Object, SimpleObject};
use portal_entities::{clinician, facility};
use portal_services::directory::{code_map, identifiers};

use crate::ids::{NodeType, encode};

/// An amount of money in minor units (cents) with its ISO 4217 currency.
#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    /// Minor units: 1234 means 12.34.
    pub cents: i64,
    pub currency: String,
    /// Decimal text, e.g. "12.34".
    pub amount: String,
}

impl Money {
    pub fn new(cents: i64, currency: &str) -> Self {
        let sign = if cents < 0 { "-" } else { "" };
        let abs = cents.unsigned_abs();
        Self {
            cents,
            currency: currency.to_owned(),
            amount: format!("{sign}{}.{:02}", abs / 100, abs % 100),
        }
    }
}

/// A reference range: numeric bounds and/or a text (e.g. "Nonreactive").
#[derive(SimpleObject, Clone, Debug)]
pub struct ReferenceRange {
    pub low: Option<f64>,
    pub high: Option<f64>,
    pub text: Option<String>,
}

impl ReferenceRange {
    pub fn from_parts(low: Option<f64>, high: Option<f64>, text: Option<String>) -> Option<Self> {
        (low.is_some() || high.is_some() || text.is_some()).then_some(Self { low, high, text })
    }
}

/// A laboratory, imaging centre or clinic, with its CLIA number.
pub struct Facility(pub facility::Model);

#[Object]
impl Facility {
    pub async fn id(&self) -> ID {
        encode(NodeType::Facility, self.0.id)
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn clia_number(&self) -> Option<&str> {
        self.0.clia_number.as_deref()
    }
    /// The clinician public-health reports name when an order names none.
    async fn default_ordering_clinician_id(&self) -> Option<ID> {
        self.0
            .default_ordering_clinician_id
            .map(|id| encode(NodeType::Clinician, id))
    }
    /// The street line(s).
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.0.city.as_deref()
    }
    async fn state(&self) -> Option<&str> {
        self.0.state.as_deref()
    }
    async fn postal_code(&self) -> Option<&str> {
        self.0.postal_code.as_deref()
    }
    async fn country(&self) -> Option<&str> {
        self.0.country.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.0.phone.as_deref()
    }
    /// HL7 ORU from this facility store their valid ORC/OBR groups and answer AE for the
    /// others; false: a message is stored whole or not at all.
    async fn accept_valid_groups(&self) -> bool {
        self.0.accept_valid_groups
    }
    /// Other identifiers HL7 messages name the facility by (HD), beside its CLIA number.
    async fn identifiers(&self) -> Vec<FacilityIdentifier> {
        identifiers::of(&self.0)
            .into_iter()
            .map(|i| FacilityIdentifier {
                namespace_id: i.namespace_id,
                universal_id: i.universal_id,
                universal_id_type: i.universal_id_type,
            })
            .collect()
    }
    /// The facility's local codes mapped to catalog codes (HL7 results it sends).
    async fn code_map(&self) -> Vec<CodeMapEntry> {
        code_map::of(&self.0)
            .into_iter()
            .map(|e| CodeMapEntry {
                local_code: e.local_code,
                local_system: e.local_system,
                code: e.code,
            })
            .collect()
    }
}

/// A local code of a sending facility and the catalog code it stands for.
#[derive(SimpleObject, Clone, Debug)]
pub struct CodeMapEntry {
    pub local_code: String,
    pub local_system: Option<String>,
    pub code: String,
}

/// An alias identifier of a facility, as HL7 v2 names a sender (HD).
#[derive(SimpleObject, Clone, Debug)]
pub struct FacilityIdentifier {
    /// HD.1.
    pub namespace_id: Option<String>,
    /// HD.2.
    pub universal_id: Option<String>,
    /// HD.3: CLIA, ISO, DNS or L.
    pub universal_id_type: Option<String>,
}

/// A clinician who orders tests or receives referrals.
pub struct Clinician(pub clinician::Model);

#[Object]
impl Clinician {
    pub async fn id(&self) -> ID {
        encode(NodeType::Clinician, self.0.id)
    }
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    async fn given_name(&self) -> Option<&str> {
        self.0.given_name.as_deref()
    }
    async fn family_name(&self) -> Option<&str> {
        self.0.family_name.as_deref()
    }
    async fn npi(&self) -> Option<&str> {
        self.0.npi.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn money_formats_minor_units() {
        assert_eq!(Money::new(123_456, "USD").amount, "1234.56");
        assert_eq!(Money::new(5, "USD").amount, "0.05");
        assert_eq!(Money::new(-250, "USD").amount, "-2.50");
    }
}
