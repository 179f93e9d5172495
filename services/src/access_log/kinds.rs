//! What kind of record an audit action touched, as the access history names it, and which
//! entries are disclosures (164.528): one table of action prefixes, read by the SQL filter
//! and by the classification of each row, so the two cannot disagree.

use portal_entities::{AuditOutcome, audit_event};
use sea_orm::{ColumnTrait, Condition};

/// The kinds of record an access-history entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Results, orders, observations (a single result is named when the viewer may see it).
    Results,
    Appointments,
    /// Coverage and claims.
    Coverage,
    /// Name, birth date, contact details.
    Profile,
    /// Notification preferences, push tokens, proxy grants.
    Account,
    /// A copy of the record taken out of the portal (any `export…` action).
    Export,
    /// The access history itself.
    AccessLog,
    /// A result reported to a public-health authority.
    PublicHealthReport,
    /// A walk-in result link sent to the patient.
    ResultLink,
    /// Anything else the trail records about the patient.
    Other,
}

/// Action prefixes of each kind (`Other` is what none of them matches). `export` has no dot:
/// every export action (`export.everything`, `export.bulk`, …) is an export.
const PREFIXES: &[(RecordKind, &[&str])] = &[
    (
        RecordKind::Results,
        &[
            "result.",
            "results.",
            "observation.",
            "observations.",
            "order.",
            "orders.",
        ],
    ),
    (RecordKind::Appointments, &["appointment.", "appointments."]),
    (
        RecordKind::Coverage,
        &["coverage.", "coverages.", "claim.", "claims."],
    ),
    (RecordKind::Profile, &["patient."]),
    (
        RecordKind::Account,
        &[
            "preferences.",
            "push_token.",
            "proxy_grant.",
            "proxy_grants.",
        ],
    ),
    (RecordKind::Export, &["export"]),
    (RecordKind::AccessLog, &["access_log."]),
    (RecordKind::PublicHealthReport, &["public_health."]),
    (RecordKind::ResultLink, &["result_link.send"]),
];

/// The last part of the actions that only read; everything else allowed changed something.
const READS: &[&str] = &[
    "list",
    "read",
    "viewed",
    "find",
    "open",
    "subscribe",
    "subscribe_updates",
    "delivered",
];

impl RecordKind {
    /// The kind of an audit action.
    pub fn of(action: &str) -> Self {
        PREFIXES
            .iter()
            .find(|(_, prefixes)| prefixes.iter().any(|p| action.starts_with(p)))
            .map_or(Self::Other, |(kind, _)| *kind)
    }

    /// Entries that record something leaving the portal (164.528(b)).
    pub fn is_disclosure(self) -> bool {
        matches!(
            self,
            Self::Export | Self::PublicHealthReport | Self::ResultLink
        )
    }

    /// The rows of any of `kinds`, as a condition on the action column.
    pub fn condition(kinds: &[Self]) -> Condition {
        let mut any = Condition::any();
        for kind in kinds {
            any = any.add(match kind {
                Self::Other => Condition::all().add(every_prefix()).not(),
                kind => prefixes_of(*kind),
            });
        }
        any
    }
}

fn prefixes_of(kind: RecordKind) -> Condition {
    let mut any = Condition::any();
    for (_, prefixes) in PREFIXES.iter().filter(|(k, _)| *k == kind) {
        for prefix in *prefixes {
            any = any.add(audit_event::Column::Action.like(format!("{prefix}%")));
        }
    }
    any
}

fn every_prefix() -> Condition {
    PREFIXES.iter().fold(Condition::any(), |any, (kind, _)| {
        any.add(prefixes_of(*kind))
    })
}

/// How an entry ended, for the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryOutcome {
    Viewed,
    Changed,
    /// Sent out of the portal (a disclosure).
    Disclosed,
    Denied,
    /// Attempted and refused by a rule (a conflict, invalid input).
    Failed,
}

impl EntryOutcome {
    pub fn of(action: &str, kind: RecordKind, outcome: AuditOutcome) -> Self {
        match outcome {
            AuditOutcome::Denied => Self::Denied,
            AuditOutcome::Failed => Self::Failed,
            AuditOutcome::Allowed if kind.is_disclosure() => Self::Disclosed,
            AuditOutcome::Allowed => {
                let last = action.rsplit('.').next().unwrap_or(action);
                if READS.contains(&last) {
                    Self::Viewed
                } else {
                    Self::Changed
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_fall_into_their_kinds() {
        assert_eq!(RecordKind::of("results.list"), RecordKind::Results);
        assert_eq!(RecordKind::of("result.read"), RecordKind::Results);
        assert_eq!(RecordKind::of("result_link.send"), RecordKind::ResultLink);
        assert_eq!(RecordKind::of("result_link.open"), RecordKind::Other);
        assert_eq!(RecordKind::of("export.everything"), RecordKind::Export);
        assert_eq!(RecordKind::of("access_log.read"), RecordKind::AccessLog);
        assert_eq!(RecordKind::of("coverages.list"), RecordKind::Coverage);
        assert_eq!(
            RecordKind::of("public_health.report"),
            RecordKind::PublicHealthReport
        );
    }

    #[test]
    fn reads_are_viewed_and_disclosures_disclosed() {
        let of = |a| EntryOutcome::of(a, RecordKind::of(a), AuditOutcome::Allowed);
        assert_eq!(of("results.list"), EntryOutcome::Viewed);
        assert_eq!(of("appointment.book"), EntryOutcome::Changed);
        assert_eq!(of("export.everything"), EntryOutcome::Disclosed);
        assert_eq!(
            EntryOutcome::of("result.read", RecordKind::Results, AuditOutcome::Denied),
            EntryOutcome::Denied
        );
    }
}
