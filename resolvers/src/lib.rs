//! The GraphQL layer: types, root fields and DataLoaders. Resolvers are thin: they read the
//! context, call one service function and map its error.

pub mod context;
pub mod critical;
pub mod error;
pub mod ids;
pub mod loaders;
pub mod mutations;
pub mod queries;
pub mod subscriptions;
pub mod types;

pub use context::{AppData, Subscriber};
pub use loaders::Loaders;
pub use mutations::Mutation;
pub use queries::Query;
pub use subscriptions::Subscription;
