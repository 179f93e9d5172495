//! A delivered result shared by every subscriber of one event on this replica: the row is
//! read once by the hub, and each nested part (observations, imaging report, catalog test,
//! versions) is read once, by whichever subscriber's query asks for it first.

use portal_entities::{imaging_report, observation, test_catalog, test_result};
use tokio::sync::OnceCell;

/// The result an event announced, with its nested parts loaded on first use.
#[derive(Debug)]
pub struct SharedResult {
    pub model: test_result::Model,
    pub observations: OnceCell<Vec<observation::Model>>,
    pub imaging_report: OnceCell<Option<imaging_report::Model>>,
    pub test: OnceCell<Option<test_catalog::Model>>,
    /// Every version of the result's correction chain, oldest first (unfiltered: each
    /// subscriber sees those its release rule shows).
    pub versions: OnceCell<Vec<test_result::Model>>,
}

impl SharedResult {
    pub fn new(model: test_result::Model) -> Self {
        Self {
            model,
            observations: OnceCell::new(),
            imaging_report: OnceCell::new(),
            test: OnceCell::new(),
            versions: OnceCell::new(),
        }
    }
}
