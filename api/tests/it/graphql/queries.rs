//! Read API behaviour on both backends: pagination, filters, node(id), the catalog, demo
//! data, and the number of SQL statements per query.

use chrono::{Duration, Utc};
use portal_entities::ResultStatus;
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::support::ids::{patient_gid, patient_vars, result_gid, result_vars};
use crate::support::{Backend, TestApp, error_code, no_errors};

const PAGE: &str = r#"query($id: ID!, $first: Int, $after: String) {
  patient(id: $id) { results(first: $first, after: $after) {
    edges { cursor node { id issuedAt observations { code displayValue } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } } }"#;

async fn results_page_through_cursors_and_the_page_size_is_bounded(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p2, w.facility, w.cbc, None).await;
    for day in 1..=6 {
        app.result(
            w.tenant_a,
            w.p2,
            order,
            w.cbc,
            ResultStatus::Final,
            Utc::now() - Duration::days(10 + day),
            None,
        )
        .await;
    }
    let me = app.as_patient("p2", w.tenant_a, w.p2);
    let id = patient_gid(w.p2);
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let response = me
            .query(PAGE, json!({ "id": id, "first": 3, "after": after }))
            .await;
        no_errors(&response);
        let results = &response["data"]["patient"]["results"];
        seen.extend(
            results["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| e["node"]["issuedAt"].clone()),
        );
        if results["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = results["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 7, "every result exactly once");
    let mut sorted: Vec<String> = seen
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        seen,
        sorted.into_iter().map(Value::from).collect::<Vec<_>>(),
        "newest first"
    );

    let too_many = me.query(PAGE, json!({ "id": id, "first": 51 })).await;
    assert_eq!(
        error_code(&too_many),
        Some("BAD_USER_INPUT"),
        "{too_many:#}"
    );
    assert_eq!(too_many["errors"][0]["extensions"]["field"], "first");
    let bad_cursor = me
        .query(PAGE, json!({ "id": id, "after": "not-a-cursor" }))
        .await;
    assert_eq!(
        error_code(&bad_cursor),
        Some("BAD_USER_INPUT"),
        "{bad_cursor:#}"
    );
}

async fn sql_statements_do_not_grow_with_the_number_of_results(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p2, w.facility, w.cbc, None).await;
    for n in 0..24 {
        app.result(
            w.tenant_a,
            w.p2,
            order,
            w.cbc,
            ResultStatus::Final,
            Utc::now() - Duration::hours(n + 30),
            None,
        )
        .await;
    }
    let me = app.as_patient("p2", w.tenant_a, w.p2);
    let query = r#"query($id: ID!, $first: Int) { patient(id: $id) { results(first: $first) { edges { node {
        id status test { code } order { id facility { name } } history { id } observations { code displayValue } } } } } }"#;
    let id = patient_gid(w.p2);
    let (small, few) = me
        .count_statements(query, json!({ "id": id, "first": 2 }))
        .await;
    let (large, many) = me
        .count_statements(query, json!({ "id": id, "first": 20 }))
        .await;
    no_errors(&small);
    no_errors(&large);
    assert_eq!(
        large["data"]["patient"]["results"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(20)
    );
    assert!(
        few >= 5,
        "the counter sees the statements (patient, access, results, loaders, audit): {few}"
    );
    assert_eq!(few, many, "2 results took {few} statements, 20 took {many}");
}

async fn results_filter_by_category_status_and_time(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let order = app.order(w.tenant_a, w.p2, w.facility, w.cbc, None).await;
    let old = app
        .result(
            w.tenant_a,
            w.p2,
            order,
            w.cbc,
            ResultStatus::Final,
            Utc::now() - Duration::days(40),
            None,
        )
        .await;
    let me = app.as_patient("p2", w.tenant_a, w.p2);
    let query = r#"query($id: ID!, $filter: ResultFilter) { patient(id: $id) { results(filter: $filter) { edges { node { id } } } } }"#;
    let id = patient_gid(w.p2);
    let count = |response: &Value| {
        response["data"]["patient"]["results"]["edges"]
            .as_array()
            .map(Vec::len)
    };
    let until = (Utc::now() - Duration::days(30)).to_rfc3339();
    let response = me
        .query(query, json!({ "id": id, "filter": { "until": until } }))
        .await;
    no_errors(&response);
    assert_eq!(count(&response), Some(1));
    assert_eq!(
        response["data"]["patient"]["results"]["edges"][0]["node"]["id"],
        result_gid(old)
    );
    let since = (Utc::now() - Duration::days(30)).to_rfc3339();
    assert_eq!(
        count(
            &me.query(query, json!({ "id": id, "filter": { "since": since } }))
                .await
        ),
        Some(1)
    );
    assert_eq!(
        count(
            &me.query(
                query,
                json!({ "id": id, "filter": { "category": "IMAGING" } })
            )
            .await
        ),
        Some(0)
    );
    assert_eq!(
        count(
            &me.query(
                query,
                json!({ "id": id, "filter": { "status": ["CORRECTED"] } })
            )
            .await
        ),
        Some(0)
    );
    let backwards = me
        .query(
            query,
            json!({ "id": id, "filter": { "since": since, "until": until } }),
        )
        .await;
    assert_eq!(
        error_code(&backwards),
        Some("BAD_USER_INPUT"),
        "{backwards:#}"
    );
}

async fn node_resolves_global_ids_with_the_same_checks(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let query = r#"query($id: ID!) { node(id: $id) { __typename id ... on TestResult { status } ... on Patient { mrn } } }"#;
    let response = me.query(query, result_vars(w.p1_final)).await;
    no_errors(&response);
    assert_eq!(response["data"]["node"]["__typename"], "TestResult");
    let response = me.query(query, patient_vars(w.p1)).await;
    assert_eq!(response["data"]["node"]["mrn"], "P1");
    let response = me.query(query, patient_vars(w.p2)).await;
    assert_eq!(error_code(&response), Some("FORBIDDEN"));
    let response = me.query(query, json!({ "id": "garbage" })).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));
    let wrong_type = r#"query($id: ID!) { patient(id: $id) { mrn } }"#;
    let response = me.query(wrong_type, result_vars(w.p1_final)).await;
    assert_eq!(error_code(&response), Some("BAD_USER_INPUT"));
}

async fn demo_data_is_seeded_once_and_reads_like_a_hospital(backend: Backend) {
    let app = TestApp::init(backend).await;
    let (tenant, created) = portal_demo::seed(&app.db).await.expect("seed");
    assert!(created);
    let (again, created_again) = portal_demo::seed(&app.db).await.expect("seed again");
    assert_eq!((again, created_again), (tenant, false));
    let staff = app.as_staff(tenant);
    let response = staff
        .query(
            "{ viewer { patients(first: 50) { edges { node { mrn } } } } }",
            json!({}),
        )
        .await;
    no_errors(&response);
    assert_eq!(
        response["data"]["viewer"]["patients"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let catalog = r#"{ testCatalog(search: "lipid") { edges { node { code category analytes { code unit } } } } }"#;
    let response = staff.query(catalog, json!({})).await;
    no_errors(&response);
    assert_eq!(
        response["data"]["testCatalog"]["edges"][0]["node"]["code"],
        "57698-3"
    );
    assert_eq!(
        response["data"]["testCatalog"]["edges"][0]["node"]["analytes"]
            .as_array()
            .map(Vec::len),
        Some(4)
    );
    let by_code = staff
        .query(
            r#"{ testCatalog(search: "4548") { edges { node { displayName } } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(
        by_code["data"]["testCatalog"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    let alice = portal_services::patients::find_by_mrn(&app.owner, tenant, "MRN1001")
        .await
        .expect("q")
        .expect("alice");
    let me = app.as_patient("alice", tenant, alice.id);
    let query = r#"{ viewer { patient {
        results(first: 50) { edges { node { status category imagingReport { modality } } } }
        appointments { edges { node { kind status } } }
        coverages { edges { node { payer status } } }
        claims { edges { node { billed { amount currency } status } } }
        notificationPreferences { channels language holdSensitiveResults } } } }"#;
    let response = me.query(query, json!({})).await;
    no_errors(&response);
    let patient = &response["data"]["viewer"]["patient"];
    let text = patient["results"].to_string();
    assert!(
        text.contains("CORRECTED") && text.contains("IMAGING") && !text.contains("PRELIMINARY"),
        "{patient:#}"
    );
    assert_eq!(
        patient["appointments"]["edges"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(patient["claims"]["edges"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        patient["notificationPreferences"]["channels"],
        json!(["EMAIL", "SMS"])
    );
}

// On a multi-threaded runtime a DataLoader's batch timer (1 ms) can fire on the other worker
// before every sibling field has queued its key, splitting one batch in two under load. A
// current-thread runtime lets all siblings queue first, so the count is exact.
#[tokio::test(flavor = "current_thread")]
async fn sql_statements_do_not_grow_with_the_number_of_results_on_sqlite() {
    sql_statements_do_not_grow_with_the_number_of_results(Backend::Sqlite).await;
}

#[tokio::test(flavor = "current_thread")]
async fn sql_statements_do_not_grow_with_the_number_of_results_on_postgres() {
    sql_statements_do_not_grow_with_the_number_of_results(Backend::Postgres).await;
}

on_both_backends!(
    results_page_through_cursors_and_the_page_size_is_bounded,
    results_filter_by_category_status_and_time,
    node_resolves_global_ids_with_the_same_checks,
    demo_data_is_seeded_once_and_reads_like_a_hospital,
);

/// The introspection query GraphiQL sends on load (graphql-js `getIntrospectionQuery`).
const INTROSPECTION: &str = r#"query IntrospectionQuery {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name } } } } } } } }
}"#;

#[tokio::test]
async fn graphiql_introspection_fits_the_limits_and_limit_errors_carry_a_code() {
    let app = TestApp::init(Backend::Sqlite).await;
    let response = app.anonymous().query(INTROSPECTION, json!({})).await;
    no_errors(&response);
    assert!(
        response["data"]["__schema"]["types"]
            .as_array()
            .is_some_and(|t| !t.is_empty())
    );
    let nested = "order { results { ".repeat(8);
    let deep = format!(
        "{{ viewer {{ patient {{ results {{ edges {{ node {{ {nested} id {} }} }} }} }} }} }}",
        "} ".repeat(16)
    );
    let response = app.anonymous().query(&deep, json!({})).await;
    assert_eq!(
        error_code(&response),
        Some("BAD_USER_INPUT"),
        "{response:#}"
    );
    assert!(
        response["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("too deep")),
        "{response:#}"
    );
    let syntax = app.anonymous().query("{ viewer {", json!({})).await;
    assert_eq!(error_code(&syntax), Some("BAD_USER_INPUT"), "{syntax:#}");
}
