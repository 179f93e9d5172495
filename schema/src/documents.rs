//! Parse once: a bounded cache of parsed GraphQL documents, keyed by the SHA-256 of the query
//! text and the operation name. What the request pipeline needs to know of a document (the
//! operation's type for the transaction shape and the read cache, whether it selects a field
//! the cache must not answer) is worked out once per distinct document too. The engine gets
//! a copy of the parsed document (`Request::set_parsed_query`), so it does not parse again;
//! validation, which depends on the variables, still runs on every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::Request;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationType, Selection, SelectionSet,
};
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

/// Distinct documents kept; past it the least recently used one goes.
pub const MAX_DOCUMENTS: usize = 1_000;
/// Query texts longer than this are parsed per request and not kept (the HTTP layer limits
/// the query length anyway).
const MAX_QUERY_BYTES: usize = 64 * 1024;

/// Root fields never served from the read cache: introspection (cheap, and not patient data)
/// and `resultLink`, which counts attempts and is rate-limited on every call.
const UNCACHED_ROOT_FIELDS: &[&str] = &["__schema", "__type", "resultLink"];

/// A parsed document and what the pipeline reads off it.
#[derive(Debug)]
pub struct Parsed {
    pub document: ExecutableDocument,
    /// The type of the operation the request's operation name selects (`None`: no such
    /// operation; the engine reports it).
    pub operation: Option<OperationType>,
    /// Whether that operation's root selection names a field the read cache must not answer.
    pub selects_uncached: bool,
}

impl Parsed {
    pub fn parse(query: &str, operation_name: Option<&str>) -> Option<Self> {
        let document = async_graphql::parser::parse_query(query).ok()?;
        let selected = operation(&document, operation_name);
        Some(Self {
            operation: selected.map(|(ty, _)| ty),
            selects_uncached: selected.is_some_and(|(_, set)| selects_uncached(&document, set, 0)),
            document,
        })
    }

    pub fn is_mutation(&self) -> bool {
        self.operation == Some(OperationType::Mutation)
    }
}

/// The cache; cheap to clone.
#[derive(Clone)]
pub struct Documents {
    kept: Cache<[u8; 32], Arc<Parsed>>,
    parses: Arc<AtomicU64>,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            kept: Cache::builder()
                .max_capacity(MAX_DOCUMENTS as u64)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            parses: Arc::default(),
        }
    }
}

impl Documents {
    /// The request's document, parsed now or found parsed; `None` when it does not parse
    /// (the engine then parses it itself and reports the error). Requests that bring the
    /// same new text at once wait for one parse.
    pub fn get(&self, request: &Request) -> Option<Arc<Parsed>> {
        let operation_name = request.operation_name.as_deref();
        if request.query.len() > MAX_QUERY_BYTES {
            return self.parse(&request.query, operation_name).map(Arc::new);
        }
        self.kept
            .optionally_get_with(key(&request.query, operation_name), || {
                self.parse(&request.query, operation_name).map(Arc::new)
            })
    }

    /// How many times a query text was parsed since start (a test and metrics figure).
    pub fn parses(&self) -> u64 {
        self.parses.load(Ordering::Relaxed)
    }

    /// Documents kept. Eventually consistent: exact after `run_pending_tasks`.
    pub fn len(&self) -> u64 {
        self.kept.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies pending evictions and counts now rather than on a later access.
    pub fn run_pending_tasks(&self) {
        self.kept.run_pending_tasks();
    }

    fn parse(&self, query: &str, operation_name: Option<&str>) -> Option<Parsed> {
        self.parses.fetch_add(1, Ordering::Relaxed);
        Parsed::parse(query, operation_name)
    }
}

/// SHA-256 over the query text and the operation name, each length-prefixed.
fn key(query: &str, operation_name: Option<&str>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in [query, operation_name.unwrap_or_default()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let name_present = [u8::from(operation_name.is_some())];
    hasher.update(name_present);
    hasher.finalize().into()
}

fn operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<(OperationType, &'a SelectionSet)> {
    let op = match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some((op.node.ty, &op.node.selection_set.node))
}

/// Whether the root selection (through fragments, to a bounded depth) names an uncached field.
fn selects_uncached(document: &ExecutableDocument, set: &SelectionSet, depth: usize) -> bool {
    if depth > 8 {
        return true;
    }
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => UNCACHED_ROOT_FIELDS.contains(&field.node.name.node.as_str()),
        Selection::InlineFragment(inline) => {
            selects_uncached(document, &inline.node.selection_set.node, depth + 1)
        }
        Selection::FragmentSpread(spread) => document
            .fragments
            .get(&spread.node.fragment_name.node)
            .is_none_or(|f| selects_uncached(document, &f.node.selection_set.node, depth + 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_parse_per_distinct_text_and_operation_name() {
        let documents = Documents::default();
        let q = "query A { viewer { subject } } query B { viewer { roles } }";
        for _ in 0..3 {
            documents.get(&Request::new(q).operation_name("A"));
            documents.get(&Request::new(q).operation_name("B"));
        }
        documents.run_pending_tasks();
        assert_eq!(documents.parses(), 2);
        assert_eq!(documents.len(), 2);
        documents.get(&Request::new("{ viewer { subject } }"));
        assert_eq!(documents.parses(), 3);
    }

    #[test]
    fn unparsable_queries_are_not_kept() {
        let documents = Documents::default();
        assert!(documents.get(&Request::new("not graphql")).is_none());
        assert!(documents.get(&Request::new("not graphql")).is_none());
        documents.run_pending_tasks();
        assert_eq!((documents.parses(), documents.len()), (2, 0));
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_what_is_used() {
        let documents = Documents::default();
        let hot = Request::new("{ hot: viewer { subject } }");
        for i in 0..MAX_DOCUMENTS + 10 {
            documents.get(&hot);
            documents.get(&Request::new(format!("{{ q{i}: viewer {{ subject }} }}")));
        }
        documents.run_pending_tasks();
        assert_eq!(documents.len(), MAX_DOCUMENTS as u64);
        let before = documents.parses();
        documents.get(&hot);
        assert_eq!(documents.parses(), before, "the hot document stayed");
    }

    #[test]
    fn the_selected_operation_decides_the_type() {
        let q = "query R { viewer { subject } } mutation W { x }";
        let read = Parsed::parse(q, Some("R")).expect("parses");
        let write = Parsed::parse(q, Some("W")).expect("parses");
        assert!(!read.is_mutation() && write.is_mutation());
        assert_eq!(Parsed::parse(q, None).expect("parses").operation, None);
    }
}
