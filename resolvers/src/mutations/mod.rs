//! Root mutation fields, one `#[derive(Default)]` part per domain area, merged in `Mutation`.

mod results;

use async_graphql::MergedObject;

pub use results::ResultMutation;

/// Every root mutation field.
#[derive(MergedObject, Default)]
pub struct Mutation(ResultMutation);
