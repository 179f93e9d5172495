//! Times a list can be narrowed to: spans of instants (or of days, for a date column) on a
//! column the caller names, the spans of one condition ORed, the conditions ANDed (the FHIR
//! date search computes them from its prefixes, so a `ne` or a comma list is one condition).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, Value};

/// The instants (or days) from `from` (inclusive) to `to` (exclusive); `None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span<T = DateTime<Utc>> {
    pub from: Option<T>,
    pub to: Option<T>,
}

/// `column` holds an instant in one of `spans` (no span: nothing matches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Within<C, T = DateTime<Utc>> {
    pub column: C,
    pub spans: Vec<Span<T>>,
}

impl<C: ColumnTrait, T: Copy + Into<Value>> Within<C, T> {
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
