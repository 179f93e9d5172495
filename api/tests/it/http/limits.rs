//! Request limits with coded errors (LIMIT_EXCEEDED naming the limit), the hostile requests
//! of issue 16 among them; JWT `nbf`; and text inputs with control characters, refused as
//! BAD_USER_INPUT on both backends.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portal_entities::test_result;
use portal_resolvers::ids::{NodeType, encode};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::http::client::{Reply, post, post_json};
use crate::on_both_backends;
use crate::support::{Backend, TestApp, error_code};

fn limit(reply: &Reply) -> (u16, String, String) {
    let body = reply.json();
    let ext = &body["errors"][0]["extensions"];
    (
        reply.status,
        ext["code"].as_str().unwrap_or_default().to_owned(),
        ext["limit"].as_str().unwrap_or_default().to_owned(),
    )
}

fn expect_limit(reply: &Reply, status: u16, name: &str) {
    assert_eq!(
        limit(reply),
        (status, "LIMIT_EXCEEDED".to_owned(), name.to_owned()),
        "{}",
        &reply.body[..reply.body.len().min(500)]
    );
}

async fn query(addr: std::net::SocketAddr, query: &str) -> Reply {
    post_json(addr, None, None, &json!({ "query": query })).await
}

#[tokio::test]
async fn the_hostile_requests_of_a_scanner_are_refused_with_the_limit_they_broke() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let addr = server.addr;

    let huge = vec![b' '; 20 * 1024 * 1024];
    let reply = post(addr, Some("application/json"), None, None, huge).await;
    expect_limit(&reply, 413, "body_bytes");

    let whitespace = format!("{{ __typename {} }}", " ".repeat(1024 * 1024));
    expect_limit(&query(addr, &whitespace).await, 413, "body_bytes");
    let whitespace = format!("{{ __typename {} }}", " ".repeat(100 * 1024));
    expect_limit(&query(addr, &whitespace).await, 400, "query_bytes");

    let duplicated = format!("{{ {} }}", "__typename ".repeat(50_000));
    expect_limit(&query(addr, &duplicated).await, 400, "query_bytes");
    let directives = format!("{{ __typename {} }}", "@skip(if: false) ".repeat(5_000));
    expect_limit(&query(addr, &directives).await, 400, "query_bytes");
}

#[tokio::test]
async fn each_limit_has_its_own_name_and_the_defaults_let_real_queries_through() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let addr = server.addr;

    let tokens = format!("{{ {} }}", "a ".repeat(6_000));
    expect_limit(&query(addr, &tokens).await, 400, "tokens");
    let selections = format!("{{ {} }}", "__typename ".repeat(2_001));
    expect_limit(&query(addr, &selections).await, 400, "selections");
    let aliases: String = (0..51).map(|i| format!("a{i}: __typename ")).collect();
    expect_limit(
        &query(addr, &format!("{{ {aliases} }}")).await,
        400,
        "aliases",
    );
    let directives = "@skip(if: false) ".repeat(6);
    expect_limit(
        &query(addr, &format!("{{ __typename {directives} }}")).await,
        400,
        "directives",
    );

    let aliases: String = (0..50).map(|i| format!("a{i}: __typename ")).collect();
    let reply = query(addr, &format!("{{ {aliases} }}")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.json().get("errors").is_none(),
        "50 aliases pass: {}",
        reply.body
    );
    // Five directives are within the limit (the engine then refuses the repeated one).
    let directives = "@include(if: true) ".repeat(5);
    let reply = query(addr, &format!("{{ __typename {directives} }}")).await;
    assert_ne!(reply.code(), "LIMIT_EXCEEDED", "{}", reply.body);
}

#[tokio::test]
async fn limits_follow_the_configuration() {
    let app = TestApp::init(Backend::Sqlite)
        .with_config(|c| {
            c.request_limits.max_aliases = 2;
            c.max_body_bytes = 2048;
            c.request_limits.max_query_bytes = 1024;
        })
        .await;
    let server = app.serve().await;
    expect_limit(
        &query(server.addr, "{ a: __typename b: __typename c: __typename }").await,
        400,
        "aliases",
    );
    let reply = query(server.addr, "{ a: __typename b: __typename }").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    expect_limit(
        &query(server.addr, &format!("{{ {} }}", " ".repeat(3000))).await,
        413,
        "body_bytes",
    );
}

#[tokio::test]
async fn a_token_that_is_not_valid_yet_is_refused() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let secret = portal_api::auth::load_or_create_dev_secret(app.data_dir()).expect("dev secret");
    let now = chrono::Utc::now().timestamp();
    let mint = |nbf: i64| {
        let claims = json!({
            "sub": "lis", "tid": uuid::Uuid::now_v7().to_string(), "roles": ["lab"],
            "iss": "portal-dev", "aud": "portal", "iat": now, "exp": now + 7200, "nbf": nbf,
        });
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&secret),
        )
        .expect("token")
    };
    let body = json!({ "query": "{ viewer { subject } }" });
    let ahead = post_json(server.addr, None, Some(&mint(now + 3600)), &body).await;
    assert_eq!(ahead.code(), "UNAUTHENTICATED", "{}", ahead.body);
    let valid = post_json(server.addr, None, Some(&mint(now - 10)), &body).await;
    assert_eq!(
        valid.json()["data"]["viewer"]["subject"],
        "lis",
        "{}",
        valid.body
    );
}

/// Runs an operation through the schema, past the HTTP edge's checks: the service's own
/// rule is what answers.
async fn past_the_edge(
    app: &TestApp,
    viewer: &portal_api::auth::Viewer,
    query: &str,
    variables: Value,
) -> Value {
    let origin = portal_core::context::Origin::new(
        Some(viewer.clone()),
        uuid::Uuid::now_v7().to_string(),
        None,
    );
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    let response = portal_schema::execute(&app.state.schema, request, origin).await;
    serde_json::to_value(&response).expect("serialises")
}

const ADD: &str =
    r#"mutation($input: AddTestResultInput!) { addTestResult(input: $input) { result { id } } }"#;

async fn nul_bytes_in_text_inputs_are_bad_user_input_on_every_backend(backend: Backend) {
    let app = TestApp::init(backend).await;
    let (tenant, _) = portal_demo::seed(&app.db).await.expect("seed");
    let alice = portal_services::patients::find_by_mrn(&app.owner, tenant, "MRN1001")
        .await
        .expect("query")
        .expect("alice");
    let facility = portal_entities::facility::Entity::find()
        .one(&app.owner)
        .await
        .expect("query")
        .expect("facility");
    let before = test_result::Entity::find()
        .count(&app.owner)
        .await
        .expect("count");
    let input = |conclusion: &str| -> Value {
        json!({
            "patientId": encode(NodeType::Patient, alice.id).to_string(),
            "order": { "facilityId": encode(NodeType::Facility, facility.id).to_string(), "testCode": "4548-4" },
            "status": "FINAL",
            "issuedAt": chrono::Utc::now().to_rfc3339(),
            "conclusion": conclusion,
            "observations": [{ "code": "4548-4", "valueNumeric": 6.1 }],
        })
    };

    // The service's own rule (every interface goes through it).
    let lab = app.as_lab(tenant);
    let viewer = lab.viewer().await;
    for bad in ["stable\0", "\u{1b}[2J cleared", "bell\u{7}"] {
        let response = past_the_edge(&app, &viewer, ADD, json!({ "input": input(bad) })).await;
        assert_eq!(
            error_code(&response),
            Some("BAD_USER_INPUT"),
            "{bad:?}: {response}"
        );
        assert_eq!(
            response["errors"][0]["extensions"]["field"], "input.conclusion",
            "{response}"
        );
    }

    // And the HTTP edge, before anything runs, for variables and literals alike.
    let server = app.serve().await;
    let token = lab.token();
    let by_variable = post_json(
        server.addr,
        None,
        Some(&token),
        &json!({ "query": ADD, "variables": { "input": input("a\0b") } }),
    )
    .await;
    assert_eq!(by_variable.code(), "BAD_USER_INPUT", "{}", by_variable.body);
    assert_eq!(
        by_variable.json()["errors"][0]["extensions"]["field"],
        "variables.input.conclusion"
    );
    let literal = r#"{ testCatalog(search: "a\u0000") { edges { cursor } } }"#;
    let by_literal = post(
        server.addr,
        Some("application/json"),
        Some("application/graphql-response+json"),
        Some(&token),
        json!({ "query": literal }).to_string(),
    )
    .await;
    assert_eq!(
        (by_literal.status, by_literal.code().as_str()),
        (400, "BAD_USER_INPUT"),
        "{}",
        by_literal.body
    );

    let after = test_result::Entity::find()
        .count(&app.owner)
        .await
        .expect("count");
    assert_eq!(before, after, "nothing was stored");
    let fine = lab
        .query(ADD, json!({ "input": input("line one\nline two\ttabbed") }))
        .await;
    assert!(
        fine.get("errors").is_none(),
        "line breaks and tabs are text: {fine}"
    );
}

on_both_backends!(nul_bytes_in_text_inputs_are_bad_user_input_on_every_backend);

#[tokio::test]
async fn websocket_operations_meet_the_same_limits() {
    let app = TestApp::init(Backend::Sqlite).await;
    let server = app.serve().await;
    let mut client = crate::support::ws::WsClient::connect(server.addr, None).await;
    let aliases: String = (0..51).map(|i| format!("a{i}: __typename ")).collect();
    client
        .subscribe("1", &format!("subscription {{ {aliases} }}"), json!({}))
        .await;
    assert_eq!(client.expect_error("1").await, "LIMIT_EXCEEDED");
    client
        .subscribe(
            "2",
            "subscription($t: String) { __typename }",
            json!({ "t": "a\u{0}" }),
        )
        .await;
    assert_eq!(client.expect_error("2").await, "BAD_USER_INPUT");
}
