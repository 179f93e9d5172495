//! The GraphiQL playground page of the patient portal, with its JavaScript and CSS embedded (no CDN at run time).
//!
//! [`render`] writes the HTML document that the binary serves at `/`, and
//! [`asset`] gives the files that page loads from [`ASSET_PREFIX`]: the
//! vendored React 18 and GraphiQL 3 builds (GraphiQL bundles the
//! `graphql-ws` client used for subscriptions over the
//! `graphql-transport-ws` protocol) and this crate's own `playground.js`
//! and `playground.css`.
//!
//! The page has no inline script and no inline event handler: its settings
//! travel in a JSON data block that `playground.js` reads, and every value
//! written into the document is escaped. It carries
//! [`CONTENT_SECURITY_POLICY`] in a `<meta>` tag; the binary may also send it
//! as a header (where `frame-ancestors` can be added).

mod assets;
mod escape;
mod patient;

pub use assets::{ASSET_PREFIX, Asset, asset, asset_names, asset_url, fingerprinted_asset};
pub use patient::{PatientPage, render_patient};

use escape::{html_text, script_json};
use serde_json::{Value, json};

/// What the playground page shows and where it sends operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaygroundPage<'a> {
    /// Path of the GraphQL endpoint on the page's own origin, e.g.
    /// `/graphql`; HTTP (`http(s)://`) and WebSocket (`ws(s)://`,
    /// `graphql-transport-ws`) requests share it.
    pub graphql_path: &'a str,
    /// A development JWT, pre-filled in the headers editor of the first tabs
    /// as `Authorization: Bearer …`. Each tab's headers decide the token of
    /// its queries and its subscriptions.
    pub default_token: Option<&'a str>,
    /// The operations shown in the query editor on a first visit.
    pub default_query: &'a str,
    /// Short text shown above the editor, e.g. "Development mode — demo data".
    pub banner: &'a str,
    /// Development only: what the walk-through needs (a lab tab, the live
    /// results panel, the mailbox); `None` for a plain GraphiQL page.
    pub demo: Option<DemoSession<'a>>,
}

/// The demo walk-through, ready in the page: a lab tab whose headers hold a
/// lab token and whose variables hold an `addTestResult` for the demo
/// patient, and the live results panel subscribed as that patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSession<'a> {
    /// Display name of the demo patient, e.g. "Alice Nguyen".
    pub patient_name: &'a str,
    /// The patient's global `ID`.
    pub patient_id: &'a str,
    /// A development JWT with the lab role.
    pub lab_token: &'a str,
    /// The operation of the lab tab.
    pub lab_query: &'a str,
    /// The variables of the lab tab (JSON text).
    pub lab_variables: &'a str,
    /// Path that lists the newest messages of the local mailbox folder (JSON).
    pub mailbox_path: &'a str,
    /// Path that lists the demo users with a token each (JSON), for the pickers and badges.
    pub tokens_path: &'a str,
    /// The command that mints other demo tokens, as this binary was started.
    pub token_command: &'a str,
    /// The server's clock when the page was written (milliseconds since the
    /// epoch): the panel's subscription replays from just before it.
    pub server_time_ms: i64,
}

/// The policy the page declares in its `<meta http-equiv>` tag: scripts,
/// styles and connections only from the page's own origin (`'self'` covers
/// same-host `ws:`/`wss:` in CSP level 3); inline styles are allowed because
/// GraphiQL's dialogs insert `<style>` elements, fonts and images may be
/// `data:` URLs as in GraphiQL's CSS.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; object-src 'none'";

/// Id of the JSON data block holding the page's settings.
const CONFIG_ID: &str = "playground-config";

/// The full HTML document of the playground page.
pub fn render(page: &PlaygroundPage<'_>) -> String {
    let default_headers = page.default_token.map(headers_json);
    let demo = page.demo.map(|demo| {
        json!({
            "patientName": demo.patient_name,
            "patientId": demo.patient_id,
            "labHeaders": headers_json(demo.lab_token),
            "labQuery": demo.lab_query,
            "labVariables": demo.lab_variables,
            "mailboxPath": demo.mailbox_path,
            "tokensPath": demo.tokens_path,
            "tokenCommand": demo.token_command,
            "serverTimeMs": demo.server_time_ms,
        })
    });
    let config = json!({
        "graphqlPath": page.graphql_path,
        "defaultToken": page.default_token,
        "defaultHeaders": default_headers.map_or(Value::Null, Value::String),
        "defaultQuery": page.default_query,
        "welcomeQuery": WELCOME,
        "demo": demo,
    });

    let banner = html_text(page.banner);
    let config = script_json(&config);
    let url = |name: &str| asset_url(name).unwrap_or_default();
    let (css, own_css) = (url("graphiql.min.css"), url("playground.css"));
    let (react, react_dom) = (
        url("react.production.min.js"),
        url("react-dom.production.min.js"),
    );
    let (graphiql, own_js) = (url("graphiql.min.js"), url("playground.js"));
    let head = head("GraphiQL");
    let live = if page.demo.is_some() { LIVE_PANEL } else { "" };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
{head}
<link rel="stylesheet" href="{css}">
<link rel="stylesheet" href="{own_css}">
</head>
<body>
<div id="playground-banner" role="note"><span>{banner}</span> <span id="tab-badge" role="status"></span> <a href="/playground/patient">Patient view</a></div>
<main id="playground-main">
<div id="graphiql"><noscript>The GraphQL playground needs JavaScript.</noscript></div>
{live}</main>
<script type="application/json" id="{CONFIG_ID}">{config}</script>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script src="{own_js}"></script>
</body>
</html>
"#
    )
}

/// The head both pages share: charset, the Content-Security-Policy, no referrer, no
/// indexing, the title ("Patient portal · {title}") and the favicon.
fn head(title: &str) -> String {
    // A constant without `"`, `<` or `&` (see the tests): written as is.
    let csp = CONTENT_SECURITY_POLICY;
    let title = html_text(title);
    let icon = asset_url("favicon.svg").unwrap_or_default();
    format!(
        r#"<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>Patient portal · {title}</title>
<link rel="icon" href="{icon}" type="image/svg+xml">"#
    )
}

/// The live results panel beside the editor (filled by `playground.js`).
const LIVE_PANEL: &str = r#"<aside id="live-panel" aria-label="Live results">
<h2>Live results</h2>
<label for="live-user">Listen as</label>
<select id="live-user"></select>
<p id="live-who"></p>
<button type="button" id="live-toggle">Subscribe</button>
<span id="live-status" role="status">not subscribed</span>
<ol id="live-deliveries" aria-label="Delivered results" aria-live="polite"></ol>
<h2>Mailbox</h2>
<p id="mailbox-note"></p>
<ol id="live-mailbox" aria-label="Messages sent" aria-live="polite"></ol>
</aside>
"#;

/// What a new tab's editor shows (GraphiQL's own welcome text is about GraphiQL).
const WELCOME: &str = "# Patient Portal Results API — a new tab.
#
# This tab's Headers decide who you are: {\"Authorization\": \"Bearer <token>\"}.
# In development the Live results panel's picker lists the demo users; the badge above
# shows who the current tab's token belongs to. Press Ctrl-Space for completion and
# open the Docs (book icon) for every type, field and error code.
#
# Live results: a tab's subscription stops when you switch tabs (GraphiQL runs one
# operation at a time); the Live results panel on the right keeps listening.

query Me {
  viewer { subject roles patient { givenName familyName } }
}
";

/// `{"Authorization": "Bearer <token>"}`, pretty-printed as GraphiQL shows it.
fn headers_json(token: &str) -> String {
    let headers = json!({ "Authorization": format!("Bearer {token}") });
    // Serialising a `Value` cannot fail.
    serde_json::to_string_pretty(&headers).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "</script><script>alert(1)</script>";

    fn page<'a>(token: Option<&'a str>, query: &'a str) -> PlaygroundPage<'a> {
        PlaygroundPage {
            graphql_path: "/graphql",
            default_token: token,
            default_query: query,
            banner: "Development mode — demo data",
            demo: None,
        }
    }

    /// The settings `playground.js` will read, parsed back from the page.
    fn config_of(html: &str) -> Value {
        let open = format!("<script type=\"application/json\" id=\"{CONFIG_ID}\">");
        let start = html.find(&open).map(|i| i + open.len());
        let start = start.unwrap_or_else(|| panic!("no config block in {html}"));
        let len = html[start..].find("</script>");
        let len = len.unwrap_or_else(|| panic!("config block not closed in {html}"));
        serde_json::from_str(&html[start..start + len]).expect("config block is JSON")
    }

    #[test]
    fn includes_the_path_the_token_the_query_and_the_banner() {
        let query = "query Me {\n  me { id displayName }\n}\n";
        let html = render(&page(Some("eyJhbGciOi.payload.sig"), query));
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.contains("Development mode — demo data"));
        assert_eq!(
            config_of(&html),
            json!({
                "graphqlPath": "/graphql",
                "defaultToken": "eyJhbGciOi.payload.sig",
                "defaultHeaders": "{\n  \"Authorization\": \"Bearer eyJhbGciOi.payload.sig\"\n}",
                "defaultQuery": query,
                "welcomeQuery": WELCOME,
                "demo": null,
            })
        );
        assert!(html.contains("\"graphqlPath\":\"/graphql\""));
        assert!(html.contains("Bearer eyJhbGciOi.payload.sig"));
    }

    #[test]
    fn without_a_token_there_are_no_default_headers() {
        let html = render(&page(None, "{ __typename }"));
        let config = config_of(&html);
        assert_eq!(config["defaultToken"], Value::Null);
        assert_eq!(config["defaultHeaders"], Value::Null);
        // Only the welcome text's placeholder, never a token.
        assert_eq!(
            html.matches("Bearer ").count(),
            html.matches("Bearer \\u003ctoken\\u003e").count()
        );
    }

    #[test]
    fn escapes_hostile_values() {
        let hostile = PlaygroundPage {
            graphql_path: "/graphql</script><!--",
            default_token: Some(HOSTILE),
            default_query: "# <!-- </SCRIPT> \u{2028}\u{2029}\n{ x }",
            banner: "<img src=x onerror=alert(1)> & \"quoted\" 'single'",
            demo: None,
        };
        let html = render(&hostile);

        assert!(!html.contains("alert(1)</script>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<!--"), "{html}");
        assert!(!html.to_ascii_lowercase().contains("</script><"), "{html}");
        assert!(!html.contains('\u{2028}') && !html.contains('\u{2029}'));
        // Only the page's own script elements, each closed where it should be.
        assert_eq!(html.matches("<script").count(), 5, "{html}");
        assert_eq!(html.to_ascii_lowercase().matches("</script>").count(), 5);
        assert!(html.contains(
            "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quoted&quot; &#39;single&#39;"
        ));

        // The values still arrive intact in the page's settings.
        let config = config_of(&html);
        assert_eq!(config["graphqlPath"], hostile.graphql_path);
        assert_eq!(config["defaultToken"], HOSTILE);
        assert_eq!(config["defaultQuery"], hostile.default_query);
        let headers: Value = config["defaultHeaders"]
            .as_str()
            .and_then(|h| serde_json::from_str(h).ok())
            .expect("default headers are JSON");
        assert_eq!(
            headers,
            json!({ "Authorization": format!("Bearer {HOSTILE}") })
        );
    }

    #[test]
    fn loads_only_served_assets_and_no_inline_code() {
        let html = render(&page(Some("t"), "{ __typename }"));
        let patient = render_patient(&PatientPage {
            graphql_path: "/graphql",
            tokens_path: None,
        });
        let mut referenced = Vec::new();
        for (i, _) in patient
            .match_indices(" src=\"")
            .chain(patient.match_indices(" href=\""))
        {
            let url = patient[i..].split('"').nth(1).unwrap_or_default();
            if let Some(hashed) = url.strip_prefix(ASSET_PREFIX) {
                let served = fingerprinted_asset(hashed);
                let name = asset_names().find(|n| served.is_some() && asset(n) == served);
                referenced.push(name.unwrap_or_else(|| panic!("{hashed} is not served")));
            }
        }
        for attr in ["src=\"", "href=\""] {
            for (i, _) in html.match_indices(attr) {
                let rest = &html[i + attr.len()..];
                let url = &rest[..rest.find('"').expect("attribute is closed")];
                if url == "/playground/patient" {
                    continue; // the banner's link to the patient view, a page
                }
                let hashed = url.strip_prefix(ASSET_PREFIX);
                let hashed = hashed.unwrap_or_else(|| panic!("{url} is not an asset URL"));
                let served = fingerprinted_asset(hashed);
                let name = asset_names().find(|n| served.is_some() && asset(n) == served);
                let name = name.unwrap_or_else(|| panic!("{hashed} is not served"));
                referenced.push(name);
            }
        }
        referenced.sort_unstable();
        referenced.dedup();
        let mut served: Vec<_> = asset_names().collect();
        served.sort_unstable();
        assert_eq!(
            referenced, served,
            "every served asset is used, and only those"
        );

        // No inline script: every script element loads a file, except the
        // JSON data block, which is not executed.
        for (i, _) in html.match_indices("<script") {
            let tag = &html[i..i + html[i..].find('>').expect("tag is closed")];
            assert!(
                tag.contains(" src=\"") || tag.contains("type=\"application/json\""),
                "{tag}"
            );
        }
        // No inline event handler attribute (onload=, onclick=, ...).
        let lower = html.to_ascii_lowercase();
        for (i, _) in lower.match_indices(" on") {
            let word: String = lower[i + 1..]
                .chars()
                .take_while(char::is_ascii_alphabetic)
                .collect();
            assert!(
                !lower[i + 1 + word.len()..].starts_with('='),
                "inline handler {word}"
            );
        }
        assert!(html.contains(&format!(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"{CONTENT_SECURITY_POLICY}\">"
        )));
        assert!(!CONTENT_SECURITY_POLICY.contains(['"', '<', '>', '&']));
    }
}
