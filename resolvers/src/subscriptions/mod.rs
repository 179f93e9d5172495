//! Root subscription fields, one `#[derive(Default)]` part per domain area, merged in
//! `Subscription`.

mod results;

use async_graphql::MergedSubscription;

pub use results::{ResultEvent, ResultSubscription};

/// Every root subscription field.
#[derive(MergedSubscription, Default)]
pub struct Subscription(ResultSubscription);
