//! Which requests the read cache may answer, and the key that keeps viewers apart.

use async_graphql::Request;
use async_graphql::parser::types::OperationType;
use portal_core::identity::Viewer;
use sha2::{Digest, Sha256};

use crate::documents::Parsed;

/// What a request is, as far as the cache is concerned.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// A query the cache may answer, under this key.
    Read(String),
    /// A mutation: afterwards, the generations of what it touched move on.
    Write,
    /// Anything else: anonymous, introspection, `resultLink`, subscriptions, unparsable.
    Bypass,
}

/// Classifies `request` (its document parsed once, `None` when it does not parse) for
/// `viewer`. Parsing failures are bypassed: the engine reports them.
pub fn classify(request: &Request, parsed: Option<&Parsed>, viewer: Option<&Viewer>) -> Kind {
    let Some(parsed) = parsed else {
        return Kind::Bypass;
    };
    match parsed.operation {
        None | Some(OperationType::Subscription) => Kind::Bypass,
        Some(OperationType::Mutation) => Kind::Write,
        Some(OperationType::Query) => match viewer {
            Some(viewer) if !parsed.selects_uncached => Kind::Read(key(request, viewer)),
            _ => Kind::Bypass,
        },
    }
}

/// SHA-256 over who asks (tenant, subject, roles, patient id) and what (query text, operation
/// name, variables): two viewers never share an entry, whatever they ask.
fn key(request: &Request, viewer: &Viewer) -> String {
    let mut roles: Vec<&str> = viewer.roles.iter().map(|r| r.as_str()).collect();
    roles.sort_unstable();
    let variables = serde_json::to_string(&request.variables).unwrap_or_default();
    let parts = [
        viewer.tenant_id.to_string(),
        viewer.subject.clone(),
        roles.join(","),
        viewer.patient_id.map(|p| p.to_string()).unwrap_or_default(),
        request.query.clone(),
        request.operation_name.clone().unwrap_or_default(),
        variables,
    ];
    let mut hasher = Sha256::new();
    for part in &parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use portal_core::identity::Role;
    use uuid::Uuid;

    use super::*;

    fn classify(request: &Request, viewer: Option<&Viewer>) -> Kind {
        let parsed = Parsed::parse(&request.query, request.operation_name.as_deref());
        super::classify(request, parsed.as_ref(), viewer)
    }

    fn viewer(subject: &str, patient: Option<Uuid>) -> Viewer {
        Viewer {
            subject: subject.into(),
            tenant_id: Uuid::nil(),
            roles: vec![Role::Patient],
            patient_id: patient,
            expires_at: chrono::Utc::now(),
        }
    }

    fn read_key(query: &str, viewer: &Viewer) -> String {
        match classify(&Request::new(query), Some(viewer)) {
            Kind::Read(key) => key,
            other => panic!("{query} should be cacheable, was {other:?}"),
        }
    }

    #[test]
    fn different_viewers_never_share_a_key() {
        let query = "{ viewer { subject } }";
        let alice = viewer("alice", Some(Uuid::now_v7()));
        let carol = viewer("carol", Some(Uuid::now_v7()));
        let alice_other_patient = viewer("alice", Some(Uuid::now_v7()));
        assert_eq!(read_key(query, &alice), read_key(query, &alice));
        assert_ne!(read_key(query, &alice), read_key(query, &carol));
        assert_ne!(
            read_key(query, &alice),
            read_key(query, &alice_other_patient)
        );
        let mut staff = alice.clone();
        staff.roles = vec![Role::Staff];
        assert_ne!(read_key(query, &alice), read_key(query, &staff));
    }

    #[test]
    fn variables_are_part_of_the_key() {
        let alice = viewer("alice", None);
        let query = "query($id: ID!) { patient(id: $id) { id } }";
        let with = |id: &str| {
            let vars = async_graphql::Variables::from_json(serde_json::json!({ "id": id }));
            match classify(&Request::new(query).variables(vars), Some(&alice)) {
                Kind::Read(key) => key,
                other => panic!("{other:?}"),
            }
        };
        assert_ne!(with("a"), with("b"));
    }

    #[test]
    fn only_authenticated_plain_queries_are_cached() {
        let alice = viewer("alice", None);
        let classify_as = |q: &str| classify(&Request::new(q), Some(&alice));
        assert_eq!(
            classify(&Request::new("{ viewer { subject } }"), None),
            Kind::Bypass
        );
        assert_eq!(classify_as("mutation { x }"), Kind::Write);
        assert_eq!(
            classify_as("subscription { resultUpdated { eventId } }"),
            Kind::Bypass
        );
        assert_eq!(classify_as("{ __schema { types { name } } }"), Kind::Bypass);
        assert_eq!(
            classify_as("query { ...F } fragment F on Query { __type(name: \"X\") { name } }"),
            Kind::Bypass
        );
        assert_eq!(
            classify_as(
                "{ ... on Query { resultLink(token: \"t\", birthDate: \"2000-01-01\") { id } } }"
            ),
            Kind::Bypass
        );
        assert_eq!(classify_as("not graphql"), Kind::Bypass);
        assert!(matches!(
            classify_as("{ __typename viewer { subject } }"),
            Kind::Read(_)
        ));
    }
}
