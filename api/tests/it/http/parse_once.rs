//! Parse once: a query text is parsed once per distinct document and operation name, the
//! engine runs on that parse, and what depends on the variables is still checked on every
//! request.

use async_graphql::parser::parse_query;
use portal_resolvers::ids::{NodeType, encode};
use portal_schema::Documents;
use serde_json::json;

use crate::support::{Backend, TestApp, error_code, no_errors};

const RESULTS: &str = r#"query($id: ID!, $n: Int) { patient(id: $id) { results(first: $n) { edges { node { id } } } } }"#;

fn documents(app: &TestApp) -> &Documents {
    app.state.schema.data::<Documents>().expect("documents")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_text_is_parsed_once_whatever_its_variables() {
    let app = TestApp::init(Backend::Sqlite).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let before = documents(&app).parses();
    for n in 1..=5 {
        let answer = me
            .query(
                RESULTS,
                json!({ "id": encode(NodeType::Patient, w.p1).to_string(), "n": n }),
            )
            .await;
        no_errors(&answer);
    }
    assert_eq!(
        documents(&app).parses() - before,
        1,
        "five requests, one parse"
    );
    // A denied read of the same text: still no new parse.
    let denied = me
        .query(
            RESULTS,
            json!({ "id": encode(NodeType::Patient, w.p2).to_string(), "n": 1 }),
        )
        .await;
    assert_eq!(error_code(&denied), Some("FORBIDDEN"));
    assert_eq!(documents(&app).parses() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_depends_on_the_variables_is_checked_on_every_request() {
    let app = TestApp::init(Backend::Sqlite).await;
    let w = app.world().await;
    let me = app.as_patient("p1", w.tenant_a, w.p1);
    let id = encode(NodeType::Patient, w.p1).to_string();
    no_errors(&me.query(RESULTS, json!({ "id": id, "n": 1 })).await);
    for _ in 0..2 {
        // The variable's type is validated per request, on the kept parse.
        let wrong_type = me.query(RESULTS, json!({ "id": id, "n": "many" })).await;
        assert!(
            wrong_type["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Int")),
            "{wrong_type:#}"
        );
        // The page size limit is checked against this request's `first`.
        let too_many = me.query(RESULTS, json!({ "id": id, "n": 10_000 })).await;
        assert_eq!(
            error_code(&too_many),
            Some("BAD_USER_INPUT"),
            "{too_many:#}"
        );
    }
    let skipped = r#"query($id: ID!, $s: Boolean!) { patient(id: $id) { mrn @skip(if: $s) id } }"#;
    let with_mrn = me.query(skipped, json!({ "id": id, "s": false })).await;
    let without = me.query(skipped, json!({ "id": id, "s": true })).await;
    assert!(
        with_mrn["data"]["patient"]["mrn"].is_string(),
        "{with_mrn:#}"
    );
    assert!(
        without["data"]["patient"].get("mrn").is_none(),
        "{without:#}"
    );
}

/// The engine honours the parse it is given: a request whose text is not GraphQL at all runs
/// the document set on it. So the schema's own parse is skipped when `execute` hands one over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_runs_the_document_it_is_given_without_parsing_the_text() {
    let app = TestApp::init(Backend::Sqlite).await;
    let mut request = async_graphql::Request::new("this is not graphql");
    request.set_parsed_query(parse_query("{ __typename }").expect("parses"));
    let response = app.state.schema.execute(request).await;
    assert!(response.errors.is_empty(), "{:?}", response.errors);
    assert_eq!(
        serde_json::to_value(&response.data).expect("json"),
        json!({ "__typename": "Query" })
    );
}
