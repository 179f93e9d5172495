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

use async_graphql::Request;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use portal_core::context::Shape;

/// How `request` uses the database: one shared transaction for a query, short scoped
/// transactions for a mutation (see the module documentation).
pub fn shape_of(request: &Request) -> Shape {
    if is_mutation(request) {
        Shape::Statements
    } else {
        Shape::Query
    }
}

/// Whether the operation the request selects is a mutation. The query is parsed once more
/// here (the schema parses it again to run it); a request that does not parse is treated as a
/// query and fails validation later.
fn is_mutation(request: &Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let wanted = request.operation_name.as_deref();
    match &document.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => ops
            .iter()
            .find(|(name, _)| Some(name.as_str()) == wanted)
            .is_some_and(|(_, op)| op.node.ty == OperationType::Mutation),
    }
}
