//! `Patient.accessLog`: the patient's access history and disclosures, as GraphQL types over
//! `portal_services::access_log`.

use async_graphql::{Enum, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use portal_services::access_log::{self, ActorRole, Entry, EntryOutcome, RecordKind};

/// What kind of record an access-history entry is about.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccessRecordKind {
    /// Results, orders and observations; one result is named when you may see it now.
    Results,
    Appointments,
    /// Coverage and claims.
    Coverage,
    /// Name, birth date, contact details.
    Profile,
    /// Notification preferences, push tokens, proxy grants.
    Account,
    /// A copy of the record taken out of the portal (a disclosure).
    Export,
    /// This access history.
    AccessLog,
    /// A result reported to a public-health authority (a disclosure).
    PublicHealthReport,
    /// A result link sent to the patient (a disclosure).
    ResultLink,
    Other,
}

/// How an access-history entry ended.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccessOutcome {
    Viewed,
    Changed,
    /// Sent out of the portal: see `disclosure`.
    Disclosed,
    /// Access was refused.
    Denied,
    /// Attempted, and refused by a rule (a conflict, invalid input).
    Failed,
}

/// The role of whoever an access-history entry names.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccessActorRole {
    /// The one reading the history.
    You,
    Patient,
    Proxy,
    Clinician,
    LaboratoryInterface,
    Staff,
    Administrator,
    /// The portal's own processes (public-health reporting, scheduled jobs).
    Automated,
    /// A signed-in user the portal does not name (e.g. another patient's account).
    OtherUser,
}

/// Filters of `Patient.accessLog`.
#[derive(InputObject, Default)]
pub struct AccessLogFilter {
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// At or before.
    pub until: Option<DateTime<Utc>>,
    /// Any of these kinds.
    pub kind: Option<Vec<AccessRecordKind>>,
}

impl From<AccessLogFilter> for access_log::AccessLogFilter {
    fn from(filter: AccessLogFilter) -> Self {
        Self {
            since: filter.since,
            until: filter.until,
            kinds: filter
                .kind
                .map(|kinds| kinds.into_iter().map(Into::into).collect()),
        }
    }
}

/// Where something that left the portal went, and why (45 CFR 164.528(b)).
#[derive(SimpleObject)]
pub struct Disclosure {
    pub recipient: String,
    pub purpose: String,
}

/// One entry of a patient's access history.
#[derive(SimpleObject)]
pub struct AccessLogEntry {
    pub at: DateTime<Utc>,
    /// Name and role: "Dr. Maya Patel, clinician, Riverside Health", "Carol Johnson, proxy",
    /// "You".
    pub who: String,
    pub actor_role: AccessActorRole,
    /// The actor's name, when the portal knows it and may show it.
    pub actor_name: Option<String>,
    pub kind: AccessRecordKind,
    /// "results", a result's test name, "a result" (one you may not see now), "appointments", …
    pub what: String,
    pub outcome: AccessOutcome,
    /// Set on disclosures (public-health reports, result links, exports).
    pub disclosure: Option<Disclosure>,
}

impl From<Entry> for AccessLogEntry {
    fn from(entry: Entry) -> Self {
        Self {
            at: entry.at,
            who: entry.actor.display(),
            actor_role: entry.actor.role.into(),
            actor_name: entry.actor.name,
            kind: entry.kind.into(),
            what: entry.what,
            outcome: entry.outcome.into(),
            disclosure: entry.disclosure.map(|d| Disclosure {
                recipient: d.recipient,
                purpose: d.purpose,
            }),
        }
    }
}

macro_rules! same_variants {
    ($from:ty => $to:ty { $($variant:ident),* $(,)? }) => {
        impl From<$from> for $to {
            fn from(value: $from) -> Self {
                match value {
                    $(<$from>::$variant => <$to>::$variant,)*
                }
            }
        }
    };
}

same_variants!(RecordKind => AccessRecordKind {
    Results, Appointments, Coverage, Profile, Account, Export, AccessLog, PublicHealthReport,
    ResultLink, Other,
});
same_variants!(AccessRecordKind => RecordKind {
    Results, Appointments, Coverage, Profile, Account, Export, AccessLog, PublicHealthReport,
    ResultLink, Other,
});
same_variants!(EntryOutcome => AccessOutcome { Viewed, Changed, Disclosed, Denied, Failed });
same_variants!(ActorRole => AccessActorRole {
    You, Patient, Proxy, Clinician, LaboratoryInterface, Staff, Administrator, Automated,
    OtherUser,
});
