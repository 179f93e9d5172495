//! Who an access-history entry names: a display name and a role, from the audit row and the
//! names the page query brought along. Never an internal id, a client address or another
//! patient's name.

use portal_entities::audit_event;

/// The role an entry's actor had, as the patient reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActorRole {
    /// The viewer of the history themself.
    You,
    /// The patient (shown to their proxy).
    Patient,
    Proxy,
    Clinician,
    /// A laboratory system (a lab token, an HL7 interface).
    LaboratoryInterface,
    Staff,
    Administrator,
    /// The portal's own processes (public-health reporting, scheduled jobs).
    Automated,
    /// Someone signed in with no relation the portal can name (another patient's account):
    /// never named.
    OtherUser,
}

impl ActorRole {
    fn label(self) -> &'static str {
        match self {
            Self::You => "you",
            Self::Patient => "patient",
            Self::Proxy => "proxy",
            Self::Clinician => "clinician",
            Self::LaboratoryInterface => "laboratory interface",
            Self::Staff => "staff",
            Self::Administrator => "administrator",
            Self::Automated => "automated process",
            Self::OtherUser => "another portal user",
        }
    }

    /// Roles that act for the organisation, shown with its name.
    fn of_organisation(self) -> bool {
        matches!(
            self,
            Self::Clinician
                | Self::LaboratoryInterface
                | Self::Staff
                | Self::Administrator
                | Self::Automated
        )
    }
}

/// An entry's actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub role: ActorRole,
    pub name: Option<String>,
    pub organisation: Option<String>,
}

impl Actor {
    /// "Dr. Maya Patel, clinician, Riverside Health"; "Carol Johnson, proxy"; "You".
    pub fn display(&self) -> String {
        if self.role == ActorRole::You {
            return "You".to_owned();
        }
        let mut parts = Vec::with_capacity(3);
        match &self.name {
            Some(name) => {
                parts.push(name.clone());
                parts.push(self.role.label().to_owned());
            }
            None => parts.push(capitalised(self.role.label())),
        }
        parts.extend(self.organisation.clone());
        parts.join(", ")
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// What the page query found beside an audit row.
pub struct Names<'a> {
    pub clinician: Option<&'a str>,
    pub proxy: Option<&'a str>,
    pub organisation: Option<&'a str>,
}

/// Whose history is read, and by whom.
pub struct Reader<'a> {
    /// The token subject of the viewer reading the history.
    pub viewer_subject: &'a str,
    /// The patient's own account (`patients.user_subject`), if they have one.
    pub patient_subject: Option<&'a str>,
    pub patient_name: &'a str,
}

/// The actor of `row`.
pub fn actor(row: &audit_event::Model, names: &Names<'_>, reader: &Reader<'_>) -> Actor {
    let subject = row.subject.as_deref();
    let roles: Vec<&str> = row.roles.split(',').map(str::trim).collect();
    let has = |role: &str| roles.contains(&role);
    let (role, name) = if subject == Some(reader.viewer_subject) {
        (ActorRole::You, None)
    } else if has("admin") {
        (ActorRole::Administrator, None)
    } else if has("staff") {
        (ActorRole::Staff, None)
    } else if has("lab") {
        let system = subject.map(|s| s.strip_prefix("hl7:").unwrap_or(s).to_owned());
        (ActorRole::LaboratoryInterface, system)
    } else if has("clinician") {
        (ActorRole::Clinician, names.clinician.map(str::to_owned))
    } else if has("system") {
        (ActorRole::Automated, None)
    } else if row.proxy_for.is_some() || names.proxy.is_some() {
        (ActorRole::Proxy, names.proxy.map(str::to_owned))
    } else if subject.is_some() && subject == reader.patient_subject {
        (ActorRole::Patient, Some(reader.patient_name.to_owned()))
    } else {
        (ActorRole::OtherUser, None)
    };
    let organisation = role
        .of_organisation()
        .then(|| names.organisation.map(str::to_owned))
        .flatten();
    Actor {
        role,
        name,
        organisation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_read_as_name_role_and_organisation() {
        let clinician = Actor {
            role: ActorRole::Clinician,
            name: Some("Dr. Maya Patel".into()),
            organisation: Some("Riverside Health".into()),
        };
        assert_eq!(
            clinician.display(),
            "Dr. Maya Patel, clinician, Riverside Health"
        );
        let proxy = Actor {
            role: ActorRole::Proxy,
            name: Some("Carol Johnson".into()),
            organisation: None,
        };
        assert_eq!(proxy.display(), "Carol Johnson, proxy");
        let stranger = Actor {
            role: ActorRole::OtherUser,
            name: None,
            organisation: None,
        };
        assert_eq!(stranger.display(), "Another portal user");
        let staff = Actor {
            role: ActorRole::Staff,
            name: None,
            organisation: Some("Riverside Health".into()),
        };
        assert_eq!(staff.display(), "Staff, Riverside Health");
    }
}
