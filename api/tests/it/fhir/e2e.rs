//! The FHIR walk-through (docs/fhir.md, "Try it") against the real binary over HTTP, on the demo data: the
//! token from `portal token`, every search a patient app makes, paging by `next` links, the
//! corrected HbA1c and its history, all through the R4 validator.

use serde_json::Value;

use crate::fhir::kit::validate;
use crate::support::binary::{start, token};

async fn get(client: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("GET");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/fhir+json"),
        "{url}: {content_type}"
    );
    (status, response.json().await.expect("JSON"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_fhir_walk_through_works_on_the_demo_data() {
    let dir = tempfile::tempdir().expect("dir");
    let server = start(dir.path()).await;
    let alice = token(dir.path(), &["--patient", "MRN1001"]);
    let client = reqwest::Client::new();
    let fhir = format!("{}/fhir/R4", server.base);
    let mut validated = Vec::new();

    let (status, statement) = get(&client, &format!("{fhir}/metadata"), None).await;
    assert_eq!(status, 200);
    validated.push(statement);
    let (status, _) = get(&client, &format!("{fhir}/Patient?identifier=MRN1001"), None).await;
    assert_eq!(status, 401);

    let (_, found) = get(
        &client,
        &format!("{fhir}/Patient?identifier=MRN1001"),
        Some(&alice),
    )
    .await;
    assert_eq!(found["total"], 1, "{found:#}");
    let pid = found["entry"][0]["resource"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    validated.push(found);

    let mut reports = Vec::new();
    let mut next = Some(format!("{fhir}/DiagnosticReport?patient={pid}&_count=2"));
    while let Some(url) = next.take() {
        let (status, page) = get(&client, &url, Some(&alice)).await;
        assert_eq!(status, 200, "{url}: {page:#}");
        for entry in page["entry"].as_array().into_iter().flatten() {
            reports.push(entry["resource"].clone());
        }
        next = page["link"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|l| l["relation"] == "next")
            .and_then(|l| l["url"].as_str())
            .map(str::to_owned);
        validated.push(page);
    }
    let statuses: Vec<&str> = reports
        .iter()
        .filter_map(|r| r["status"].as_str())
        .collect();
    assert!(
        !statuses.contains(&"preliminary"),
        "Alice never sees this morning's CBC: {statuses:?}"
    );
    assert!(
        statuses.contains(&"corrected"),
        "the corrected HbA1c: {statuses:?}"
    );
    let corrected = reports
        .iter()
        .find(|r| r["status"] == "corrected")
        .expect("corrected report");
    let id = corrected["id"].as_str().expect("id");
    assert_ne!(
        corrected["meta"]["versionId"], corrected["id"],
        "the chain's id, the correction's version"
    );
    let (_, history) = get(
        &client,
        &format!("{fhir}/DiagnosticReport/{id}/_history"),
        Some(&alice),
    )
    .await;
    assert_eq!(history["total"], 2, "{history:#}");
    validated.push(history);

    for search in [
        format!("DiagnosticReport?patient={pid}&category=LAB&_include=DiagnosticReport:result"),
        format!("DiagnosticReport?patient={pid}&category=RAD"),
        format!("Observation?patient={pid}&code=http://loinc.org|4548-4"),
        format!("Observation?patient={pid}&category=laboratory&date=ge2020-01-01&_count=5"),
        format!("Appointment?patient={pid}"),
        format!("Coverage?patient={pid}"),
        format!("ExplanationOfBenefit?patient={pid}"),
        format!("ServiceRequest?patient={pid}"),
    ] {
        let (status, bundle) = get(&client, &format!("{fhir}/{search}"), Some(&alice)).await;
        assert_eq!(status, 200, "{search}: {bundle:#}");
        assert!(bundle["total"].as_u64() > Some(0), "{search}: {bundle:#}");
        validated.push(bundle);
    }
    let (_, imaging) = get(
        &client,
        &format!("{fhir}/DiagnosticReport?patient={pid}&category=RAD"),
        Some(&alice),
    )
    .await;
    assert!(
        imaging["entry"][0]["resource"]["imagingStudy"][0]["identifier"]["value"]
            .as_str()
            .is_some_and(|uid| uid.starts_with("urn:oid:"))
    );

    let staff = token(dir.path(), &["--role", "staff"]);
    let (_, by_name) = get(
        &client,
        &format!("{fhir}/Patient?name=nguyen&birthdate=1984-03-12"),
        Some(&staff),
    )
    .await;
    assert_eq!(by_name["total"], 1, "{by_name:#}");
    validated.push(by_name);
    validate(&validated);
}
