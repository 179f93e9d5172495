//! Which shape of unit of work a request runs in (`finish` ends its transaction).
//!
//! PostgreSQL row-level security needs the tenant set in every transaction:
//! - a query runs in ONE transaction bound to the viewer's tenant, begun on its first
//!   statement and shared by every resolver and the DataLoader (`TenantDb::request`);
//! - a mutation runs statement by statement, and each write in its own top-level transaction,
//!   bound to the tenant (`TenantDb::scoped`). The write path commits as it always did, so a
//!   failed COMMIT fails the mutation and the outbox relay is woken only after a real commit;
//!   and a mutation never holds a request transaction's connection while its write waits for
//!   another one.
//!
//! On SQLite both are the pool.

use portal_core::context::Shape;

use crate::documents::Parsed;

/// How a request uses the database: one shared transaction for a query, short scoped
/// transactions for a mutation (see the module documentation). A request that does not
/// parse is treated as a query and fails later.
pub fn shape_of(parsed: Option<&Parsed>) -> Shape {
    if parsed.is_some_and(Parsed::is_mutation) {
        Shape::Statements
    } else {
        Shape::Query
    }
}
