//! The patient view (`/playground/patient`): a patient's results as a patient would see
//! them, one result's observations, and the trend of an analyte over time, drawn by
//! `patient.js` from the public GraphQL API only. It doubles as the reference client for
//! frontend developers, so its script is short and commented.

use serde_json::json;

use crate::assets::asset_url;
use crate::escape::script_json;

/// Where the patient view sends its operations and finds its demo tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientPage<'a> {
    /// Path of the GraphQL endpoint (HTTP and WebSocket) on the page's own origin.
    pub graphql_path: &'a str,
    /// Development only: the path listing the demo users and their tokens; `None` shows a
    /// field to paste a token instead.
    pub tokens_path: Option<&'a str>,
}

/// The full HTML document of the patient view.
pub fn render_patient(page: &PatientPage<'_>) -> String {
    let head = crate::head("My results");
    let config = script_json(&json!({
        "graphqlPath": page.graphql_path,
        "tokensPath": page.tokens_path,
    }));
    let url = |name: &str| asset_url(name).unwrap_or_default();
    let (css, js) = (url("patient.css"), url("patient.js"));
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
{head}
<link rel="stylesheet" href="{css}">
</head>
<body>
<header>
<h1>My results</h1>
<form id="who" aria-label="Who is signed in">
<label for="user">Signed in as</label>
<select id="user"></select>
<label for="token" hidden>Bearer token</label>
<input id="token" type="password" autocomplete="off" hidden placeholder="paste a bearer token">
<span id="live" role="status">not listening</span>
</form>
<nav><a href="/">GraphiQL</a></nav>
</header>
<main>
<p id="error" role="alert" hidden></p>
<section aria-labelledby="results-title">
<h2 id="results-title">Results</h2>
<ul id="results"></ul>
</section>
<section id="detail" aria-labelledby="detail-title" hidden>
<h2 id="detail-title" tabindex="-1">Result</h2>
<p id="detail-meta"></p>
<table>
<caption>Observations with reference ranges</caption>
<thead><tr><th scope="col">Analyte</th><th scope="col">Value</th><th scope="col">Reference range</th><th scope="col">Flag</th></tr></thead>
<tbody id="observations"></tbody>
</table>
<ol id="history" aria-label="Versions of this result"></ol>
</section>
<section aria-labelledby="trend-title">
<h2 id="trend-title">Trend</h2>
<label for="analyte">Analyte</label>
<select id="analyte"></select>
<figure id="trend"><figcaption id="trend-caption"></figcaption></figure>
</section>
</main>
<script type="application/json" id="patient-config">{config}</script>
<script src="{js}"></script>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::ASSET_PREFIX;
    use crate::fingerprinted_asset;

    #[test]
    fn loads_its_own_assets_and_carries_no_token() {
        let html = render_patient(&PatientPage {
            graphql_path: "/graphql",
            tokens_path: Some("/playground/tokens"),
        });
        for name in ["patient.js", "patient.css", "favicon.svg"] {
            let url = asset_url(name).expect("served");
            assert!(html.contains(&url), "{name}");
            let hashed = url.trim_start_matches(ASSET_PREFIX);
            assert!(fingerprinted_asset(hashed).is_some());
        }
        assert!(html.contains("\"tokensPath\":\"/playground/tokens\""));
        assert!(!html.contains("Bearer ey"));
        assert_eq!(html.matches("<script").count(), 2);
    }
}
