//! `PORTAL_MAX_*` and persisted queries: what a GraphQL request may ask before it runs.

use std::path::PathBuf;

use portal_schema::limits::RequestLimits;

use super::var::{Reader, Var, kind, section};
use super::{ConfigError, err};

section! {
    title: "Request limits",
    intro: "What one GraphQL request may ask, checked before it runs, and which operations may run at all.",
    MAX_PAGE_SIZE = Var::new("PORTAL_MAX_PAGE_SIZE", kind::INTEGER, "Largest `first` (and FHIR `_count`).")
        .default("100")
        .range(1, 500);
    MAX_DEPTH = Var::new("PORTAL_MAX_DEPTH", kind::INTEGER,
        "Deepest query (GraphiQL's introspection query needs a depth of about 13).")
        .default("16");
    MAX_COMPLEXITY = Var::new("PORTAL_MAX_COMPLEXITY", kind::INTEGER, "Most complex query.")
        .default("2000");
    MAX_BODY_BYTES = Var::new("PORTAL_MAX_BODY_BYTES", kind::INTEGER,
        "Largest POST body of `/graphql` (413 beyond).")
        .default("1048576")
        .min(1024);
    MAX_QUERY_BYTES = Var::new("PORTAL_MAX_QUERY_BYTES", kind::INTEGER,
        "Longest query text; at most `PORTAL_MAX_BODY_BYTES`.")
        .default("32768")
        .min(1);
    MAX_TOKENS = Var::new("PORTAL_MAX_TOKENS", kind::INTEGER, "Most lexical tokens in a query.")
        .default("5000")
        .min(1);
    MAX_SELECTIONS = Var::new("PORTAL_MAX_SELECTIONS", kind::INTEGER,
        "Most field selections in a query (duplicates counted).")
        .default("2000")
        .min(1);
    MAX_ALIASES = Var::new("PORTAL_MAX_ALIASES", kind::INTEGER, "Most aliases in a query.")
        .default("50");
    MAX_DIRECTIVES = Var::new("PORTAL_MAX_DIRECTIVES", kind::INTEGER,
        "Most directives on one field, fragment or operation.")
        .default("5");
    PERSISTED_QUERIES = Var::new("PORTAL_PERSISTED_QUERIES", kind::ONE_OF,
        "`automatic` (APQ, in process or in Redis with `REDIS_URL`) or `registered` (only the operations of the manifest run).")
        .default("automatic")
        .choices(&["automatic", "registered"]);
    OPERATIONS_MANIFEST = Var::new("PORTAL_OPERATIONS_MANIFEST", kind::PATH,
        "With `registered`: the manifest file (Apollo's persisted-query manifest; `portal operations manifest` writes one).");
}

/// How persisted queries work (see `portal_schema::persisted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersistedQueries {
    /// Automatic persisted queries; any operation runs.
    Automatic,
    /// Only the operations of this manifest run.
    Registered(PathBuf),
}

/// What this section sets.
pub(super) struct Limits {
    pub max_page_size: u64,
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_body_bytes: usize,
    pub request: RequestLimits,
    pub persisted_queries: PersistedQueries,
}

pub(super) fn read(r: &Reader) -> Result<Limits, ConfigError> {
    let max_body_bytes = r.number(&MAX_BODY_BYTES)?;
    let request = RequestLimits {
        max_query_bytes: r.number(&MAX_QUERY_BYTES)?,
        max_tokens: r.number(&MAX_TOKENS)?,
        max_selections: r.number(&MAX_SELECTIONS)?,
        max_aliases: r.number(&MAX_ALIASES)?,
        max_directives: r.number(&MAX_DIRECTIVES)?,
    };
    if request.max_query_bytes > max_body_bytes {
        return Err(err(format!(
            "{} must be at least 1 and at most {}",
            MAX_QUERY_BYTES.name, MAX_BODY_BYTES.name
        )));
    }
    Ok(Limits {
        max_page_size: r.number(&MAX_PAGE_SIZE)?,
        max_depth: r.number(&MAX_DEPTH)?,
        max_complexity: r.number(&MAX_COMPLEXITY)?,
        max_body_bytes,
        request,
        persisted_queries: persisted_queries(r)?,
    })
}

fn persisted_queries(r: &Reader) -> Result<PersistedQueries, ConfigError> {
    let (mode, manifest) = (PERSISTED_QUERIES.name, OPERATIONS_MANIFEST.name);
    match (r.choice(&PERSISTED_QUERIES)?, r.set(&OPERATIONS_MANIFEST)) {
        ("registered", Some(path)) => Ok(PersistedQueries::Registered(path.into())),
        ("registered", None) => Err(err(format!(
            "{mode}=registered needs {manifest} (see `portal operations manifest`)"
        ))),
        (_, None) => Ok(PersistedQueries::Automatic),
        (_, Some(_)) => Err(err(format!(
            "{manifest} is set but {mode} is not registered"
        ))),
    }
}
