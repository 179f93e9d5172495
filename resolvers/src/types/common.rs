//! Small shared output types: money, reference ranges, facilities, clinicians.

use async_graphql::{ID, Object, SimpleObject};
use portal_entities::{clinician, facility};

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
