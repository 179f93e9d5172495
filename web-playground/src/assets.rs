//! The files the playground page loads, embedded in the binary.
//!
//! The third-party builds live in `vendor/` (see `vendor/README.md` for the
//! versions and how to refresh them); `playground.*`, `patient.*` and the
//! favicon are this crate's own, in `assets/`.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// URL path under which the binary serves [`asset`]s: a request for
/// `/playground/assets/{name}` is answered with `asset(name)`.
pub const ASSET_PREFIX: &str = "/playground/assets/";

/// An embedded file, ready to be sent with its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    /// Value for the `Content-Type` response header.
    pub content_type: &'static str,
    /// The file's bytes, exactly as vendored.
    pub body: &'static [u8],
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every served file: name under [`ASSET_PREFIX`], content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "react.production.min.js",
        JS,
        include_bytes!("../vendor/react/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        JS,
        include_bytes!("../vendor/react-dom/react-dom.production.min.js"),
    ),
    (
        "graphiql.min.js",
        JS,
        include_bytes!("../vendor/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        CSS,
        include_bytes!("../vendor/graphiql/graphiql.min.css"),
    ),
    (
        "playground.js",
        JS,
        include_bytes!("../assets/playground.js"),
    ),
    (
        "playground.css",
        CSS,
        include_bytes!("../assets/playground.css"),
    ),
    ("patient.js", JS, include_bytes!("../assets/patient.js")),
    ("patient.css", CSS, include_bytes!("../assets/patient.css")),
    ("favicon.svg", SVG, include_bytes!("../assets/favicon.svg")),
];

/// The embedded file called `name` (the part of the URL path after
/// [`ASSET_PREFIX`]), or `None` for any other name.
///
/// Names are matched exactly against a fixed list, so `../Cargo.toml`,
/// `graphiql/graphiql.min.js` or an empty name never reach the file system.
pub fn asset(name: &str) -> Option<Asset> {
    ASSETS
        .iter()
        .find(|(known, _, _)| *known == name)
        .map(|&(_, content_type, body)| Asset { content_type, body })
}

/// Names of all embedded files, in the order the page loads them.
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|&(name, _, _)| name)
}

/// The URL the page loads `name` from: its name with a fingerprint of its
/// content (`graphiql.min.3f2a….js`), so a browser may keep it for good and
/// a new build is fetched at once.
pub fn asset_url(name: &str) -> Option<String> {
    fingerprinted()
        .iter()
        .find(|(plain, _)| *plain == name)
        .map(|(_, hashed)| format!("{ASSET_PREFIX}{hashed}"))
}

/// The file behind a fingerprinted name from [`asset_url`] (without the
/// prefix); `None` for a stale or unknown fingerprint.
pub fn fingerprinted_asset(hashed_name: &str) -> Option<Asset> {
    fingerprinted()
        .iter()
        .find(|(_, hashed)| hashed == hashed_name)
        .and_then(|(plain, _)| asset(plain))
}

/// (plain name, fingerprinted name) of every asset, computed once.
fn fingerprinted() -> &'static [(&'static str, String)] {
    static NAMES: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|&(name, _, body)| {
                let digest = hex::encode(&Sha256::digest(body)[..8]);
                let hashed = match name.rsplit_once('.') {
                    Some((stem, ext)) => format!("{stem}.{digest}.{ext}"),
                    None => format!("{name}.{digest}"),
                };
                (name, hashed)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_each_vendored_file_with_its_content_type() {
        let expected: &[(&str, &str, &[u8])] = &[
            (
                "react.production.min.js",
                JS,
                include_bytes!("../vendor/react/react.production.min.js"),
            ),
            (
                "react-dom.production.min.js",
                JS,
                include_bytes!("../vendor/react-dom/react-dom.production.min.js"),
            ),
            (
                "graphiql.min.js",
                JS,
                include_bytes!("../vendor/graphiql/graphiql.min.js"),
            ),
            (
                "graphiql.min.css",
                CSS,
                include_bytes!("../vendor/graphiql/graphiql.min.css"),
            ),
            (
                "playground.js",
                JS,
                include_bytes!("../assets/playground.js"),
            ),
            (
                "playground.css",
                CSS,
                include_bytes!("../assets/playground.css"),
            ),
            ("patient.js", JS, include_bytes!("../assets/patient.js")),
            ("patient.css", CSS, include_bytes!("../assets/patient.css")),
            ("favicon.svg", SVG, include_bytes!("../assets/favicon.svg")),
        ];
        for &(name, content_type, body) in expected {
            let found = asset(name).unwrap_or_else(|| panic!("{name} is not served"));
            assert_eq!(found.content_type, content_type, "{name}");
            assert_eq!(found.body, body, "{name}");
            assert!(!found.body.is_empty(), "{name}");
        }
        assert_eq!(asset_names().count(), expected.len());
        assert_eq!(
            asset("graphiql.min.js").map(|a| a.content_type),
            Some("text/javascript; charset=utf-8")
        );
        assert_eq!(
            asset("graphiql.min.css").map(|a| a.content_type),
            Some("text/css; charset=utf-8")
        );
    }

    #[test]
    fn fingerprinted_urls_name_the_content() {
        for name in asset_names() {
            let url = asset_url(name).unwrap_or_else(|| panic!("{name} has a URL"));
            let hashed = url.strip_prefix(ASSET_PREFIX).expect("under the prefix");
            assert_ne!(hashed, name);
            assert_eq!(fingerprinted_asset(hashed), asset(name), "{name}");
        }
        assert_eq!(
            fingerprinted_asset("graphiql.min.0000000000000000.js"),
            None
        );
        assert_eq!(fingerprinted_asset("graphiql.min.js"), None);
    }

    #[test]
    fn unknown_names_and_paths_are_not_served() {
        for name in [
            "",
            "/",
            ".",
            "..",
            "../Cargo.toml",
            "../../Cargo.toml",
            "..%2FCargo.toml",
            "../src/lib.rs",
            "/etc/passwd",
            "graphiql/graphiql.min.js",
            "vendor/graphiql/graphiql.min.js",
            "./graphiql.min.js",
            "/graphiql.min.js",
            "graphiql.min.js/",
            "GRAPHIQL.MIN.JS",
            "graphiql.min.js.map",
            "index.umd.js.map",
            "LICENSE",
            "README.md",
            "graphql-ws.min.js",
        ] {
            assert_eq!(asset(name), None, "{name:?} must not be served");
        }
    }

    #[test]
    fn vendored_builds_are_the_expected_ones() {
        let text = |name: &str| {
            String::from_utf8_lossy(asset(name).map_or(&[][..], |a| a.body)).into_owned()
        };
        let react = text("react.production.min.js");
        assert!(react.contains("c.version=\"18.3.1\""));
        let react_dom = text("react-dom.production.min.js");
        assert!(react_dom.contains("\"18.3.1\""));
        // The GraphiQL UMD build bundles the graphql-ws client that
        // `GraphiQL.createFetcher({ subscriptionUrl })` uses, so no separate
        // graphql-ws script is vendored.
        let graphiql = text("graphiql.min.js");
        assert!(graphiql.contains(".GraphiQL=t(e.React,e.ReactDOM)"));
        assert!(graphiql.contains("graphql-transport-ws"));
        assert!(graphiql.contains("wsConnectionParams"));
        let css = text("graphiql.min.css");
        assert!(css.contains(".graphiql-container"));
    }
}
