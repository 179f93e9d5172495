//! Puts every object of a response in the order of its selection set, as the GraphQL spec
//! requires (section 7.2.2, "Serialized Map Ordering").
//!
//! async-graphql resolves an object's fields concurrently and collects them in the order
//! they complete (its issue #612): a field that waits on the database ends up after one that
//! does not. Rather than carry a patched copy of the engine, the response is reordered here
//! once it is complete, by walking the operation's selection sets along the value: fragments
//! are expanded where they are spread, `@skip`/`@include` are evaluated, and a response key
//! takes the place of its first occurrence. The walk follows the response, so its cost is
//! that of the answer, not of the document (measured in docs/http.md).
//!
//! One corner is approximate: a key that occurs in a fragment whose type condition does not
//! apply and again later in one that does is placed at the first occurrence.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Request, Response, Value, Variables, indexmap::IndexMap};

use crate::documents::Parsed;

/// What reordering a request's response needs: its operation and variables.
pub struct ResponseOrder {
    parsed: Arc<Parsed>,
    operation_name: Option<String>,
    variables: Variables,
}

impl ResponseOrder {
    /// The order of `request`'s operation, from its document as parsed once (`Documents`).
    pub fn new(parsed: Arc<Parsed>, request: &Request) -> Self {
        Self {
            parsed,
            operation_name: request.operation_name.clone(),
            variables: request.variables.clone(),
        }
    }

    /// `response` with every object of its data in selection-set order.
    pub fn apply(&self, mut response: Response) -> Response {
        if let Some(operation) = self.operation() {
            let walk = Walk::new(&self.parsed.document, &self.variables);
            walk.value(&mut response.data, &[&operation.selection_set]);
        }
        response
    }

    fn operation(&self) -> Option<&OperationDefinition> {
        match (
            &self.parsed.document.operations,
            self.operation_name.as_deref(),
        ) {
            (DocumentOperations::Single(op), _) => Some(&op.node),
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
                ops.values().next().map(|op| &op.node)
            }
            (DocumentOperations::Multiple(_), None) => None,
        }
    }
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    /// The keys of each combination of selection sets met so far: the items of a list (and
    /// the same field in every item) share theirs, so they are collected once per answer.
    known: RefCell<HashMap<Vec<usize>, Rc<Keys<'a>>>>,
}

/// Whether the keys of `map` already come in the order of `keys` (and nothing else is there).
fn in_order(map: &IndexMap<Name, Value>, keys: &Keys<'_>) -> bool {
    let mut present = map.keys();
    let mut matched = 0;
    for (key, _) in keys.iter() {
        if map.contains_key(*key) {
            if present.next() != Some(*key) {
                return false;
            }
            matched += 1;
        }
    }
    matched == map.len()
}

/// The response keys of merged selection sets in order, each with its fields' sub-selections.
type Keys<'a> = Vec<(&'a Name, Vec<&'a Positioned<SelectionSet>>)>;

impl<'a> Walk<'a> {
    fn new(document: &'a ExecutableDocument, variables: &'a Variables) -> Self {
        Self {
            document,
            variables,
            known: RefCell::new(HashMap::new()),
        }
    }

    fn value(&self, value: &mut Value, sets: &[&'a Positioned<SelectionSet>]) {
        match value {
            Value::Object(map) => self.object(map, sets),
            Value::List(items) => items.iter_mut().for_each(|item| self.value(item, sets)),
            _ => {}
        }
    }

    fn object(&self, map: &mut IndexMap<Name, Value>, sets: &[&'a Positioned<SelectionSet>]) {
        let keys = self.keys(sets);
        if in_order(map, &keys) {
            // The common case (fields that completed in order): recurse in place.
            for (key, children) in keys.iter() {
                if let (Some(value), false) = (map.get_mut(*key), children.is_empty()) {
                    self.value(value, children);
                }
            }
            return;
        }
        let mut ordered = IndexMap::with_capacity(map.len());
        for (key, children) in keys.iter() {
            if let Some(mut value) = map.swap_remove(*key) {
                if !children.is_empty() {
                    self.value(&mut value, children);
                }
                ordered.insert((*key).clone(), value);
            }
        }
        // Nothing should be left; if something is, it comes after the rest.
        ordered.extend(map.drain(..));
        *map = ordered;
    }

    fn keys(&self, sets: &[&'a Positioned<SelectionSet>]) -> Rc<Keys<'a>> {
        let id: Vec<usize> = sets
            .iter()
            .map(|set| std::ptr::from_ref(*set) as usize)
            .collect();
        if let Some(keys) = self.known.borrow().get(&id) {
            return keys.clone();
        }
        let mut keys: Keys<'a> = Vec::new();
        let mut visiting = HashSet::new();
        for set in sets {
            self.collect(set, &mut keys, &mut visiting);
        }
        let keys = Rc::new(keys);
        self.known.borrow_mut().insert(id, keys.clone());
        keys
    }

    fn collect(
        &self,
        set: &'a Positioned<SelectionSet>,
        keys: &mut Keys<'a>,
        visiting: &mut HashSet<&'a str>,
    ) {
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if !self.included(&field.directives) {
                        continue;
                    }
                    let key = &field.response_key().node;
                    let children = &field.selection_set;
                    match keys.iter_mut().find(|(known, _)| *known == key) {
                        Some((_, sets)) => sets.push(children),
                        None => keys.push((key, vec![children])),
                    }
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    if !self.included(&spread.node.directives) || !visiting.insert(name) {
                        continue;
                    }
                    if let Some(fragment) = self.document.fragments.get(name) {
                        self.collect(&fragment.node.selection_set, keys, visiting);
                    }
                    visiting.remove(name);
                }
                Selection::InlineFragment(inline) => {
                    if self.included(&inline.node.directives) {
                        self.collect(&inline.node.selection_set, keys, visiting);
                    }
                }
            }
        }
    }

    /// `@skip(if:)` and `@include(if:)`, with literal or variable conditions.
    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().all(|directive| {
            let directive = &directive.node;
            let condition = || {
                let value = directive.get_argument("if")?;
                let value = value
                    .node
                    .clone()
                    .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()));
                match value {
                    Ok(Value::Boolean(b)) => Some(b),
                    _ => None,
                }
            };
            match directive.name.node.as_str() {
                "skip" => condition() != Some(true),
                "include" => condition() != Some(false),
                _ => true,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::value;

    use super::*;

    fn order_of(request: &Request) -> ResponseOrder {
        let parsed = Parsed::parse(&request.query, request.operation_name.as_deref());
        ResponseOrder::new(Arc::new(parsed.expect("parses")), request)
    }

    fn ordered(query: &str, data: Value, variables: serde_json::Value) -> String {
        let request = Request::new(query).variables(Variables::from_json(variables));
        let order = order_of(&request);
        let response = order.apply(Response::new(data));
        serde_json::to_string(&response.data).expect("serialises")
    }

    #[test]
    fn objects_follow_the_selection_set_at_every_level() {
        let data = value!({
            "patient": { "results": { "pageInfo": { "endCursor": "c", "hasNextPage": false }, "edges": [ { "node": { "status": "FINAL", "id": "r1" } } ] }, "id": "p1" }
        });
        let query = "{ patient(id: \"p\") { id results { edges { node { id status } } pageInfo { hasNextPage endCursor } } } }";
        assert_eq!(
            ordered(query, data, serde_json::json!({})),
            r#"{"patient":{"id":"p1","results":{"edges":[{"node":{"id":"r1","status":"FINAL"}}],"pageInfo":{"hasNextPage":false,"endCursor":"c"}}}}"#
        );
    }

    #[test]
    fn aliases_fragments_and_merged_fields_take_their_first_place() {
        let data = value!({ "b": 2, "viewer": { "roles": [], "subject": "s" }, "a": 1 });
        let query = "query { a: __typename ...F viewer { subject } b: __typename } fragment F on Query { viewer { roles } }";
        assert_eq!(
            ordered(query, data, serde_json::json!({})),
            r#"{"a":1,"viewer":{"roles":[],"subject":"s"},"b":2}"#
        );
    }

    #[test]
    fn skipped_occurrences_do_not_count() {
        let data = value!({ "y": 2, "x": 1 });
        let query = "query($s: Boolean!) { x @skip(if: $s) y x @include(if: true) }";
        assert_eq!(
            ordered(query, data, serde_json::json!({ "s": true })),
            r#"{"y":2,"x":1}"#
        );
    }

    #[test]
    fn the_named_operation_is_the_one_ordered() {
        let data = value!({ "b": 1, "a": 2 });
        let query = "query One { b a } query Two { a b }";
        let request = Request::new(query).operation_name("Two");
        let order = order_of(&request);
        let response = order.apply(Response::new(data));
        assert_eq!(
            serde_json::to_string(&response.data).expect("serialises"),
            r#"{"a":2,"b":1}"#
        );
    }
}
