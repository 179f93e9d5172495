//! The Relay `Node` interface over every type with a global ID.

use async_graphql::{ID, Interface};

use super::account::ProxyGrant;
use super::catalog::TestCatalogItem;
use super::common::{Clinician, Facility};
use super::coverage::{Claim, Coverage};
use super::identity::PatientMatch;
use super::order::{Appointment, TestOrder};
use super::patient::Patient;
use super::result::TestResult;

#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Patient(Patient),
    TestResult(TestResult),
    TestOrder(TestOrder),
    Appointment(Appointment),
    Coverage(Coverage),
    Claim(Claim),
    ProxyGrant(ProxyGrant),
    TestCatalogItem(TestCatalogItem),
    Facility(Facility),
    Clinician(Clinician),
    CriticalAlert(crate::critical::CriticalAlert),
    PatientMatch(PatientMatch),
}
