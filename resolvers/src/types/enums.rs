//! GraphQL enums, mirrored from the stored enums so the API contract is declared here.

use async_graphql::Enum;
use portal_entities as db;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::TestCategory")]
pub enum TestCategory {
    Lab,
    Imaging,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::CodeSystem")]
pub enum CodeSystem {
    Loinc,
    Local,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::ValueType")]
pub enum ValueType {
    Numeric,
    Text,
    Coded,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::OrderSource")]
pub enum OrderSource {
    Portal,
    WalkIn,
    Referral,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::OrderStatus")]
pub enum OrderStatus {
    Pending,
    Completed,
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::ResultStatus")]
pub enum ResultStatus {
    Preliminary,
    Final,
    Corrected,
    EnteredInError,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::Interpretation")]
pub enum Interpretation {
    Normal,
    Low,
    High,
    CriticalLow,
    CriticalHigh,
    Abnormal,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::AppointmentKind")]
pub enum AppointmentKind {
    LabDraw,
    Imaging,
    Consult,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::AppointmentStatus")]
pub enum AppointmentStatus {
    Booked,
    Cancelled,
    Completed,
    NoShow,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::CoverageStatus")]
pub enum CoverageStatus {
    Active,
    Cancelled,
    EnteredInError,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::ClaimStatus")]
pub enum ClaimStatus {
    Submitted,
    Processing,
    Paid,
    Denied,
    Adjusted,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::PushPlatform")]
pub enum PushPlatform {
    Ios,
    Android,
    Web,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "db::NotificationStatus")]
pub enum NotificationStatus {
    Pending,
    Sent,
    Failed,
    Skipped,
    Dead,
}

/// Where a walk-in result link is sent.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ResultLinkChannel {
    Sms,
    Email,
}

impl From<ResultLinkChannel> for portal_services::walk_in::LinkChannel {
    fn from(channel: ResultLinkChannel) -> Self {
        match channel {
            ResultLinkChannel::Sms => Self::Sms,
            ResultLinkChannel::Email => Self::Email,
        }
    }
}

/// A channel a patient can be told about new results on; NONE when they opted out of all.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum NotificationChannel {
    Email,
    Sms,
    Push,
    None,
}

impl From<NotificationChannel> for portal_services::account::preferences::Channel {
    fn from(channel: NotificationChannel) -> Self {
        match channel {
            NotificationChannel::Email => Self::Email,
            NotificationChannel::Sms => Self::Sms,
            NotificationChannel::Push => Self::Push,
            NotificationChannel::None => Self::None,
        }
    }
}

/// What a proxy grant lets the grantee see.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum AccessScope {
    Profile,
    Results,
    Appointments,
    Coverage,
    Account,
    /// The patient's access history (`Patient.accessLog`).
    AccessLog,
}

impl From<portal_core::access::Scope> for AccessScope {
    fn from(scope: portal_core::access::Scope) -> Self {
        use portal_core::access::Scope;
        match scope {
            Scope::Profile => Self::Profile,
            Scope::Results => Self::Results,
            Scope::Appointments => Self::Appointments,
            Scope::Coverage => Self::Coverage,
            Scope::Account => Self::Account,
            Scope::AccessLog => Self::AccessLog,
        }
    }
}

impl From<AccessScope> for portal_core::access::Scope {
    fn from(scope: AccessScope) -> Self {
        match scope {
            AccessScope::Profile => Self::Profile,
            AccessScope::Results => Self::Results,
            AccessScope::Appointments => Self::Appointments,
            AccessScope::Coverage => Self::Coverage,
            AccessScope::Account => Self::Account,
            AccessScope::AccessLog => Self::AccessLog,
        }
    }
}

/// How the viewer is related to a patient.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Relationship {
    /// The patient themself.
    #[graphql(name = "SELF")]
    Own,
    /// A parent or carer with a proxy grant.
    Proxy,
    /// A clinician who ordered or was referred a test.
    Clinician,
    /// Lab, staff or admin of the patient's organisation.
    CareTeam,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    Patient,
    Clinician,
    Lab,
    Staff,
    Admin,
}

impl From<portal_core::identity::Role> for Role {
    fn from(role: portal_core::identity::Role) -> Self {
        use portal_core::identity::Role as R;
        match role {
            R::Patient => Self::Patient,
            R::Clinician => Self::Clinician,
            R::Lab => Self::Lab,
            R::Staff => Self::Staff,
            R::Admin => Self::Admin,
        }
    }
}
