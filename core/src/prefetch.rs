//! Rows a request fetched ahead, with the statement that needed them anyway: a results page
//! brings its observations and catalog entries (one statement instead of three), a patient
//! read brings the patient's sensitive-results preference. The request's DataLoaders and the
//! release rule take them from here before asking the database.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use portal_entities::{catalog_analyte, observation, test_catalog};
use uuid::Uuid;

use crate::sync::lock;

#[derive(Default)]
pub struct Prefetch {
    observations: Mutex<HashMap<Uuid, Vec<observation::Model>>>,
    tests: Mutex<HashMap<Uuid, test_catalog::Model>>,
    holds: Mutex<HashMap<Uuid, bool>>,
    facilities: Mutex<HashSet<Uuid>>,
    catalog: Mutex<HashMap<String, (test_catalog::Model, Vec<catalog_analyte::Model>)>>,
}

impl Prefetch {
    /// The observations of `result`, in position order (possibly none).
    pub fn put_observations(&self, result: Uuid, rows: Vec<observation::Model>) {
        lock(&self.observations).insert(result, rows);
    }

    /// The observations fetched ahead for those of `results` that have them.
    pub fn observations(&self, results: &[Uuid]) -> HashMap<Uuid, Vec<observation::Model>> {
        let kept = lock(&self.observations);
        results
            .iter()
            .filter_map(|id| kept.get(id).map(|rows| (*id, rows.clone())))
            .collect()
    }

    pub fn put_test(&self, test: test_catalog::Model) {
        lock(&self.tests).insert(test.id, test);
    }

    /// The catalog entries fetched ahead among `tests`.
    pub fn tests(&self, tests: &[Uuid]) -> HashMap<Uuid, test_catalog::Model> {
        let kept = lock(&self.tests);
        tests
            .iter()
            .filter_map(|id| kept.get(id).map(|row| (*id, row.clone())))
            .collect()
    }

    /// Whether `patient` holds sensitive results (no preference row: `false`).
    pub fn put_hold(&self, patient: Uuid, hold: bool) {
        lock(&self.holds).insert(patient, hold);
    }

    pub fn hold(&self, patient: Uuid) -> Option<bool> {
        lock(&self.holds).get(&patient).copied()
    }

    /// A facility of the request's tenant, read already (an HL7 message's sender).
    pub fn put_facility(&self, facility: Uuid) {
        lock(&self.facilities).insert(facility);
    }

    pub fn has_facility(&self, facility: Uuid) -> bool {
        lock(&self.facilities).contains(&facility)
    }

    /// A catalog test of the request's tenant with its analytes, by code, read already.
    pub fn put_catalog_test(
        &self,
        test: test_catalog::Model,
        analytes: Vec<catalog_analyte::Model>,
    ) {
        lock(&self.catalog).insert(test.code.clone(), (test, analytes));
    }

    pub fn catalog_test(
        &self,
        code: &str,
    ) -> Option<(test_catalog::Model, Vec<catalog_analyte::Model>)> {
        lock(&self.catalog).get(code).cloned()
    }
}
