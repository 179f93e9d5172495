//! Bundles: searchsets with `total` and self/next links (the next link carries the last
//! entry's opaque cursor, as GraphQL's `endCursor`), and the history of a correction chain.

use portal_core::pagination::Page;
use serde_json::{Value, json};

use crate::params::Search;

/// One resource of a searchset: a match, or included because a match points to it.
pub struct Entry {
    pub resource: Value,
    pub included: bool,
}

impl Entry {
    pub fn matched(resource: Value) -> Self {
        Self {
            resource,
            included: false,
        }
    }

    pub fn included(resource: Value) -> Self {
        Self {
            resource,
            included: true,
        }
    }
}

/// A searchset over `page` (whose items became `entries`, includes after them).
pub fn searchset<T>(
    base: &str,
    kind: &str,
    search: &Search,
    page: &Page<T>,
    entries: Vec<Entry>,
) -> Value {
    let query = search.link_query();
    let mut links = vec![link("self", base, kind, query, None)];
    if page.has_next_page
        && let Some(last) = page.cursors.last()
    {
        links.push(link("next", base, kind, query, Some(&last.encode())));
    }
    let mut bundle = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "link": links,
        "entry": entries.into_iter().map(|e| entry(base, e)).collect::<Vec<_>>(),
    });
    if let Some(total) = page.total {
        bundle["total"] = json!(total);
    }
    if bundle["entry"].as_array().is_some_and(Vec::is_empty) {
        bundle.as_object_mut().map(|b| b.remove("entry"));
    }
    bundle
}

fn entry(base: &str, entry: Entry) -> Value {
    let kind = entry.resource["resourceType"].as_str().unwrap_or_default();
    let id = entry.resource["id"].as_str().unwrap_or_default();
    let mode = if entry.included { "include" } else { "match" };
    json!({
        "fullUrl": format!("{base}/{kind}/{id}"),
        "resource": entry.resource,
        "search": { "mode": mode },
    })
}

fn link(
    relation: &str,
    base: &str,
    kind: &str,
    query: &[(String, String)],
    cursor: Option<&str>,
) -> Value {
    let mut pairs: Vec<(&str, &str)> = query
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if let Some(cursor) = cursor {
        pairs.push(("_cursor", cursor));
    }
    let encoded = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    let url = if encoded.is_empty() {
        format!("{base}/{kind}")
    } else {
        format!("{base}/{kind}?{encoded}")
    };
    json!({ "relation": relation, "url": url })
}

/// The history of one resource: its versions, newest first (`versions` come oldest first).
pub fn history(base: &str, versions: Vec<Value>) -> Value {
    let total = versions.len();
    let mut entries: Vec<Value> = versions
        .into_iter()
        .enumerate()
        .map(|(position, resource)| history_entry(base, position, resource))
        .collect();
    entries.reverse();
    json!({
        "resourceType": "Bundle",
        "type": "history",
        "total": total,
        "entry": entries,
    })
}

/// The first version was created (POST), every later one replaced it (PUT).
fn history_entry(base: &str, position: usize, resource: Value) -> Value {
    let kind = resource["resourceType"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let id = resource["id"].as_str().unwrap_or_default().to_owned();
    let version = resource["meta"]["versionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let updated = resource["meta"]["lastUpdated"].clone();
    let method = if position == 0 { "POST" } else { "PUT" };
    json!({
        "fullUrl": format!("{base}/{kind}/{id}"),
        "resource": resource,
        "request": { "method": method, "url": format!("{kind}/{id}/_history/{version}") },
        "response": { "status": "200", "lastModified": updated },
    })
}
