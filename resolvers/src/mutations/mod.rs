//! Root mutation fields, one `#[derive(Default)]` part per domain area, merged in `Mutation`.

mod account;
mod appointments;
mod identity;
mod master_data;
mod result_details;
mod results;
mod walk_in;

use async_graphql::MergedObject;

pub use account::AccountMutation;
pub use appointments::AppointmentMutation;
pub use identity::IdentityMutation;
pub use master_data::MasterDataMutation;
pub use results::ResultMutation;
pub use walk_in::WalkInMutation;

/// Every root mutation field.
///
/// Validation runs before anything is stored, and a refused mutation stores nothing. Every
/// error carries a stable `extensions.code`: UNAUTHENTICATED (no token, or a refused one),
/// FORBIDDEN (the viewer's role or relation to the patient does not allow it),
/// NOT_FOUND (an id that does not exist or that the viewer may not see), BAD_USER_INPUT
/// (a field breaks its rule; `extensions.field` names it, e.g.
/// `input.observations[0].unit`), CONFLICT (the record's state forbids it, as each field
/// says), RATE_LIMITED, and UNAVAILABLE (the database did not answer: retry). Each field
/// says whether repeating it is a no-op, a CONFLICT or a new record; `addTestResult` and
/// `addTestResults` take an `idempotencyKey` for safe retries.
#[derive(MergedObject, Default)]
pub struct Mutation(
    ResultMutation,
    AccountMutation,
    AppointmentMutation,
    WalkInMutation,
    MasterDataMutation,
    crate::critical::CriticalMutation,
    IdentityMutation,
);
