//! Times a list can be narrowed to: spans of instants on a time column the caller names,
//! the spans of one condition ORed, the conditions ANDed (the FHIR date search computes them
//! from its prefixes, so a `ne` or a comma list is one condition).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition};

/// The instants from `from` (inclusive) to `to` (exclusive); `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// `column` holds an instant in one of `spans` (no span: nothing matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Within<C> {
    pub column: C,
    pub spans: Vec<Span>,
}

impl<C: ColumnTrait> Within<C> {
    pub fn condition(&self) -> Condition {
        self.spans.iter().fold(Condition::any(), |any, span| {
            let mut all = Condition::all();
            if let Some(from) = span.from {
                all = all.add(self.column.gte(from));
            }
            if let Some(to) = span.to {
                all = all.add(self.column.lt(to));
            }
            any.add(all)
        })
    }
}
