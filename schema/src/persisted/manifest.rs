//! The registered operations of the production mode, in the format of Apollo's persisted
//! query manifests (`apollo-persisted-query-manifest`, version 1), so the manifest a client
//! build already produces can be used as is; `portal operations manifest` writes one from
//! `.graphql` files.
//!
//! ```json
//! { "format": "apollo-persisted-query-manifest", "version": 1,
//!   "operations": [{ "id": "<sha256 of body>", "name": "MyResults", "type": "query", "body": "query MyResults { … }" }] }
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::sha256_hex;

const FORMAT: &str = "apollo-persisted-query-manifest";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub operations: Vec<ManifestOperation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestOperation {
    /// The SHA-256 (hex) of `body`.
    pub id: String,
    pub name: String,
    /// `query`, `mutation` or `subscription`.
    #[serde(rename = "type")]
    pub kind: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read the operations manifest: {0}")]
    Read(String),
    #[error("the operations manifest is not an {FORMAT} of version 1: {0}")]
    Format(String),
    #[error("operation {0:?} of the manifest: its id is not the SHA-256 of its body")]
    HashMismatch(String),
    #[error("persisted queries: {0}")]
    Redis(String),
}

impl Manifest {
    /// Reads and checks a manifest file (every id must be the hash of its body).
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ManifestError::Read(format!("{}: {e}", path.display())))?;
        let manifest: Self =
            serde_json::from_str(&text).map_err(|e| ManifestError::Format(e.to_string()))?;
        if manifest.format != FORMAT || manifest.version != 1 {
            return Err(ManifestError::Format(format!(
                "format {:?}, version {}",
                manifest.format, manifest.version
            )));
        }
        if let Some(bad) = manifest
            .operations
            .iter()
            .find(|op| sha256_hex(&op.body) != op.id.to_ascii_lowercase())
        {
            return Err(ManifestError::HashMismatch(bad.name.clone()));
        }
        Ok(manifest)
    }

    /// A manifest of documents given as (name, text); the kind is read from the text.
    pub fn from_documents<'a>(documents: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let operations = documents
            .into_iter()
            .map(|(name, body)| ManifestOperation {
                id: sha256_hex(body),
                name: name.to_owned(),
                kind: kind_of(body).to_owned(),
                body: body.to_owned(),
            })
            .collect();
        Self {
            format: FORMAT.to_owned(),
            version: 1,
            operations,
        }
    }

    pub fn by_hash(&self) -> HashMap<String, String> {
        self.operations
            .iter()
            .map(|op| (op.id.to_ascii_lowercase(), op.body.clone()))
            .collect()
    }
}

/// The type of the document's first operation (`query` when it does not parse).
fn kind_of(body: &str) -> &'static str {
    use async_graphql::parser::types::OperationType;
    let first = async_graphql::parser::parse_query(body)
        .ok()
        .and_then(|doc| doc.operations.iter().next().map(|(_, op)| op.node.ty));
    match first {
        Some(OperationType::Mutation) => "mutation",
        Some(OperationType::Subscription) => "subscription",
        _ => "query",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_manifest_loads_back_and_a_tampered_one_does_not() {
        let dir = std::env::temp_dir().join(format!("manifest-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("operations.json");
        let manifest = Manifest::from_documents([
            ("Me", "query Me { viewer { subject } }"),
            ("Add", "mutation Add { markResultViewed(id: \"x\") { id } }"),
        ]);
        assert_eq!(manifest.operations[1].kind, "mutation");
        let json = serde_json::to_string(&manifest).expect("serialises");
        std::fs::write(&path, &json).expect("write");
        assert_eq!(Manifest::load(&path).expect("loads"), manifest);

        let tampered = json.replace("viewer { subject }", "viewer { roles }");
        std::fs::write(&path, tampered).expect("write");
        assert!(matches!(
            Manifest::load(&path),
            Err(ManifestError::HashMismatch(name)) if name == "Me"
        ));
        std::fs::remove_dir_all(&dir).ok();
    }
}
