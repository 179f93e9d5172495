//! Root mutation fields, one `#[derive(Default)]` part per domain area, merged in `Mutation`.

mod account;
mod appointments;
mod master_data;
mod result_details;
mod results;
mod walk_in;

use async_graphql::MergedObject;

pub use account::AccountMutation;
pub use appointments::AppointmentMutation;
pub use master_data::MasterDataMutation;
pub use results::ResultMutation;
pub use walk_in::WalkInMutation;

/// Every root mutation field.
#[derive(MergedObject, Default)]
pub struct Mutation(
    ResultMutation,
    AccountMutation,
    AppointmentMutation,
    WalkInMutation,
    MasterDataMutation,
);
