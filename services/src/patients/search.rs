//! Staff search for patients by name, MRN and birth date (`Viewer.patients(search:)`), within
//! the patients the viewer may see and the viewer's tenant, in family-name order.
//!
//! Every search is audited (which criteria were used, never their values: names and birth
//! dates are PHI), and so is every patient it returns.

use chrono::NaiveDate;
use portal_core::access::{Access, PatientAccess};
use portal_core::audit::{AuditRecord, Outcome};
use portal_core::context::RequestContext;
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::pagination::{KeyKind, Keyset, Page, PageRequest};
use portal_entities::patient;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{ColumnTrait, Condition, Order, QueryFilter};
use tracing::instrument;

use crate::patients;
use crate::times::Within;

const SEARCH: Access = Access::read("patient.search", "Patient");
const MAX_NAME: usize = 100;
const MAX_WORDS: usize = 4;

/// What to look for; at least one criterion. Every given criterion must match.
#[derive(Debug, Clone, Default)]
pub struct PatientSearch {
    /// Words, each the start of the given or the family name (case-insensitive): "kim d",
    /// "Nguyen, Alice".
    pub name: Option<String>,
    /// The exact MRN.
    pub mrn: Option<String>,
    pub birth_date: Option<NaiveDate>,
    /// Birth dates as day spans (the FHIR `birthdate` search with its prefixes), ANDed.
    pub birth_within: Vec<Within<patient::Column, NaiveDate>>,
}

impl PatientSearch {
    /// The name's words in lower case (at most four); BAD_USER_INPUT on a name too long.
    pub fn words(&self) -> ServiceResult<Vec<String>> {
        let Some(name) = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        else {
            return Ok(Vec::new());
        };
        if name.chars().count() > MAX_NAME {
            return Err(ServiceError::bad_input(
                "search.name",
                format!("at most {MAX_NAME} characters"),
            ));
        }
        let words: Vec<String> = name
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        if words.len() > MAX_WORDS {
            return Err(ServiceError::bad_input(
                "search.name",
                format!("at most {MAX_WORDS} words"),
            ));
        }
        Ok(words)
    }

    fn mrn(&self) -> Option<&str> {
        self.mrn.as_deref().map(str::trim).filter(|m| !m.is_empty())
    }

    /// The criteria used, for the audit trail.
    fn criteria(&self, words: &[String]) -> String {
        let mut used = Vec::new();
        if !words.is_empty() {
            used.push("name");
        }
        if self.mrn().is_some() {
            used.push("mrn");
        }
        if self.birth_date.is_some() || !self.birth_within.is_empty() {
            used.push("birthDate");
        }
        used.join(",")
    }
}

/// The patients the viewer may see that match `search`, family name first.
#[instrument(skip(ctx, search, page), fields(request_id = %ctx.request_id))]
pub async fn search(
    ctx: &RequestContext,
    search: &PatientSearch,
    page: &PageRequest,
) -> ServiceResult<Page<(PatientAccess, patient::Model)>> {
    ctx.viewer()?;
    let words = search.words()?;
    let criteria = search.criteria(&words);
    if criteria.is_empty() {
        return Err(ServiceError::bad_input(
            "search",
            "give at least one of name, mrn, birthDate",
        ));
    }
    ctx.record(AuditRecord::new(SEARCH, None, Outcome::Allowed).reason(&criteria));
    let Some(mut select) = patients::visible(ctx).await? else {
        return Ok(Page::empty());
    };
    select = select.filter(matching(search, &words));
    let keyset = Keyset {
        key: patient::Column::FamilyName,
        id: patient::Column::Id,
        kind: KeyKind::Text,
        order: Order::Asc,
    };
    let rows = keyset.fetch(select, page, ctx.db()).await?;
    patients::authorize_each(ctx, rows).await
}

/// The condition every returned patient meets (the indexes of the search serve it: see
/// the migration `add_patient_demographics`).
pub fn matching(search: &PatientSearch, words: &[String]) -> Condition {
    let mut all = Condition::all();
    for word in words {
        let prefix = format!("{}%", escape_like(word));
        let starts = |column: patient::Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(LikeExpr::new(prefix.clone()).escape('\\'))
        };
        all = all.add(
            Condition::any()
                .add(starts(patient::Column::FamilyName))
                .add(starts(patient::Column::GivenName)),
        );
    }
    if let Some(mrn) = search.mrn() {
        all = all.add(patient::Column::Mrn.eq(mrn));
    }
    if let Some(date) = search.birth_date {
        all = all.add(patient::Column::BirthDate.eq(date));
    }
    for within in &search.birth_within {
        all = all.add(within.condition());
    }
    all
}

fn escape_like(word: &str) -> String {
    word.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
