//! Measures a parsed document before it is validated and run: field selections (every
//! occurrence, duplicates and `__typename` included, fragments counted where they are
//! spread), aliases, directives at one location, and string literals holding control
//! characters.

use std::collections::HashMap;

use async_graphql::Positioned;
use async_graphql::parser::types::{
    Directive, ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Value};

/// What [`measure`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Measure {
    /// Field selections the engine would resolve, before merging duplicates.
    pub selections: usize,
    pub aliases: usize,
    /// The most directives on one field, fragment or operation.
    pub directives_at_one_place: usize,
}

impl Measure {
    fn add(&mut self, other: Measure) {
        self.selections = self.selections.saturating_add(other.selections);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.directives_at_one_place = self
            .directives_at_one_place
            .max(other.directives_at_one_place);
    }

    fn directives(&mut self, directives: &[Positioned<Directive>]) {
        self.directives_at_one_place = self.directives_at_one_place.max(directives.len());
    }
}

/// Measures every operation of `doc` (a fragment is counted each time it is spread; a
/// fragment that spreads itself counts once, validation refuses it later).
pub fn measure(doc: &ExecutableDocument) -> Measure {
    let mut walk = Walk {
        fragments: &doc.fragments,
        done: HashMap::new(),
        visiting: Vec::new(),
    };
    let mut total = Measure::default();
    for (_, operation) in doc.operations.iter() {
        let mut own = Measure::default();
        own.directives(&operation.node.directives);
        own.add(walk.selection_set(&operation.node.selection_set));
        total.add(own);
    }
    total
}

struct Walk<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    done: HashMap<&'a str, Measure>,
    visiting: Vec<&'a str>,
}

impl<'a> Walk<'a> {
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>) -> Measure {
        let mut measure = Measure::default();
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    measure.selections = measure.selections.saturating_add(1);
                    measure.aliases += usize::from(field.alias.is_some());
                    measure.directives(&field.directives);
                    measure.add(self.selection_set(&field.selection_set));
                }
                Selection::FragmentSpread(spread) => {
                    measure.directives(&spread.node.directives);
                    measure.add(self.fragment(spread.node.fragment_name.node.as_str()));
                }
                Selection::InlineFragment(inline) => {
                    measure.directives(&inline.node.directives);
                    measure.add(self.selection_set(&inline.node.selection_set));
                }
            }
        }
        measure
    }

    fn fragment(&mut self, name: &'a str) -> Measure {
        if let Some(known) = self.done.get(name) {
            return *known;
        }
        let Some(fragment) = self.fragments.get(name) else {
            return Measure::default();
        };
        if self.visiting.contains(&name) {
            return Measure::default();
        }
        self.visiting.push(name);
        let mut measure = Measure::default();
        measure.directives(&fragment.node.directives);
        measure.add(self.selection_set(&fragment.node.selection_set));
        self.visiting.pop();
        self.done.insert(name, measure);
        measure
    }
}

/// The first string literal of `doc` (argument values, nested in lists and objects) that
/// holds a control character, as `field.argument`.
pub fn control_character(doc: &ExecutableDocument) -> Option<String> {
    let mut sets: Vec<&Positioned<SelectionSet>> = doc
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set)
        .collect();
    sets.extend(doc.fragments.values().map(|f| &f.node.selection_set));
    while let Some(set) = sets.pop() {
        for selection in &set.node.items {
            match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let owners = std::iter::once((&field.name.node, &field.arguments)).chain(
                        field
                            .directives
                            .iter()
                            .map(|d| (&d.node.name.node, &d.node.arguments)),
                    );
                    for (owner, arguments) in owners {
                        for (name, value) in arguments {
                            // Literals only: variables are checked with the request's values.
                            let literal = value.node.clone().into_const();
                            if literal.is_some_and(|v| has_control_character(&v)) {
                                return Some(format!("{owner}.{}", name.node));
                            }
                        }
                    }
                    sets.push(&field.selection_set);
                }
                Selection::InlineFragment(inline) => sets.push(&inline.node.selection_set),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    None
}

/// Whether a string in `value` holds a control character other than tab, line feed and
/// carriage return (NUL, escape, DEL, C1 controls…), which no text field accepts.
pub fn has_control_character(value: &Value) -> bool {
    match value {
        Value::String(text) => is_refused_text(text),
        Value::List(items) => items.iter().any(has_control_character),
        Value::Object(fields) => fields.values().any(has_control_character),
        _ => false,
    }
}

/// Whether `text` holds a control character other than tab, line feed and carriage return.
pub fn is_refused_text(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn measured(query: &str) -> Measure {
        measure(&parse_query(query).expect("parses"))
    }

    #[test]
    fn every_occurrence_counts_duplicates_and_typename_included() {
        let fields = "__typename ".repeat(500);
        assert_eq!(measured(&format!("{{ {fields} }}")).selections, 500);
        assert_eq!(measured("{ viewer { subject subject } }").selections, 3);
    }

    #[test]
    fn fragments_count_where_they_are_spread() {
        let query = "{ a: viewer { ...F } b: viewer { ...F } } fragment F on Viewer { x: subject y: subject }";
        let m = measured(query);
        assert_eq!((m.selections, m.aliases), (6, 6));
        let cyclic = "{ viewer { ...F } } fragment F on Viewer { subject ...F }";
        assert_eq!(measured(cyclic).selections, 2);
    }

    #[test]
    fn directives_are_counted_per_place() {
        let many = "@skip(if: false) ".repeat(7);
        let m = measured(&format!(
            "query @a {{ viewer {{ subject {many} }} ... @b @c {{ x }} }}"
        ));
        assert_eq!(m.directives_at_one_place, 7);
    }

    #[test]
    fn control_characters_in_literals_are_found_with_their_argument() {
        let doc = parse_query(r#"{ testCatalog(search: "a\u0000b") { edges { cursor } } }"#)
            .expect("parses");
        assert_eq!(
            control_character(&doc).as_deref(),
            Some("testCatalog.search")
        );
        let doc = parse_query("{ f(input: { list: [\"ok\", \"\\u001b[31m\"] }) }").expect("parses");
        assert_eq!(control_character(&doc).as_deref(), Some("f.input"));
        let doc = parse_query("{ f(text: \"line\\nnext\\ttab\\r\") }").expect("parses");
        assert_eq!(control_character(&doc), None);
        assert!(is_refused_text("\u{7f}") && is_refused_text("\u{85}"));
        assert!(!is_refused_text("Grüße, 体温"));
    }
}
