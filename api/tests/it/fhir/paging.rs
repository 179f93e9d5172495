//! Searchset paging and cost: `next` links visit every match exactly once, `_count` is
//! bounded, a patient's trend of one analyte is one request, and a DiagnosticReport search
//! issues the same number of statements however many reports it returns.

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use portal_entities::ResultStatus;
use uuid::Uuid;

use crate::fhir::kit::{Fhir, Tokens, validate};
use crate::on_both_backends;
use crate::support::fixtures::World;
use crate::support::{Backend, TestApp};

/// `count` more FINAL results of p1, a day apart; returns their ids.
async fn results(app: &TestApp, w: &World, count: i64) -> Vec<Uuid> {
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let mut ids = Vec::new();
    for day in 0..count {
        let issued = Utc::now() - Duration::days(10 + day);
        ids.push(
            app.result(
                w.tenant_a,
                w.p1,
                order,
                w.cbc,
                ResultStatus::Final,
                issued,
                None,
            )
            .await,
        );
    }
    ids
}

async fn following_next_visits_every_match_exactly_once(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let mut expected: BTreeSet<String> = results(&app, &w, 6)
        .await
        .iter()
        .map(Uuid::to_string)
        .collect();
    expected.insert(w.p1_final.to_string());
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let mut next = Some(format!(
        "DiagnosticReport?patient={}&_count=2&_sort=-date",
        w.p1
    ));
    let (mut seen, mut pages, mut last_issued) = (Vec::new(), Vec::new(), None::<String>);
    while let Some(link) = next.take() {
        let reply = fhir.get(Some(&t.p1), &link).await;
        assert_eq!(reply.status, 200, "{link}: {:#}", reply.body);
        assert_eq!(reply.body["total"], 7, "{:#}", reply.body);
        assert!(reply.ids().len() <= 2);
        for report in reply.resources() {
            let issued = report["issued"].as_str().unwrap_or_default().to_owned();
            assert!(
                last_issued.as_ref().is_none_or(|last| *last >= issued),
                "newest first"
            );
            last_issued = Some(issued);
        }
        seen.extend(reply.ids());
        next = reply.next();
        if let Some(link) = &next {
            assert!(link.starts_with(&fhir.base), "an absolute link: {link}");
            assert!(
                link.contains("_count=2"),
                "the search's parameters kept: {link}"
            );
        }
        pages.push(reply.body);
        assert!(pages.len() <= 4, "seven results in pages of two");
    }
    assert_eq!(pages.len(), 4);
    assert_eq!(seen.len(), 7, "no match twice: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected);
    validate(&pages);
    let tampered = fhir
        .get(
            Some(&t.p1),
            &format!("DiagnosticReport?patient={}&_cursor=bogus", w.p1),
        )
        .await;
    assert_eq!(tampered.status, 400, "{:#}", tampered.body);
}

/// `_count` above the server's page size (50 in tests) is lowered to it, never refused or
/// exceeded; below 1 it is a 400.
async fn count_is_bounded_by_the_page_size(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    results(&app, &w, 52).await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let big = fhir
        .ok(
            &t.p1,
            &format!("DiagnosticReport?patient={}&_count=1000", w.p1),
        )
        .await;
    assert_eq!(big["entry"].as_array().map(Vec::len), Some(50));
    assert_eq!(big["total"], 53);
    let zero = fhir
        .get(
            Some(&t.p1),
            &format!("DiagnosticReport?patient={}&_count=0", w.p1),
        )
        .await;
    assert_eq!(zero.status, 400);
}

/// One analyte over time: one request, newest first, date-bounded.
async fn a_trend_of_one_analyte_is_one_request_newest_first(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    results(&app, &w, 3).await;
    let fhir = Fhir::new(&app);
    let t = Tokens::of(&app, &w);
    let since = (Utc::now() - Duration::days(11) - Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    let trend = fhir
        .ok(
            &t.p1,
            &format!("Observation?patient={}&code=obs-1&date=ge{since}", w.p1),
        )
        .await;
    let issued: Vec<&str> = trend["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"]["issued"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        issued.len(),
        3,
        "p1's final result and two of three older ones: {trend:#}"
    );
    assert!(
        issued.windows(2).all(|p| p[0] >= p[1]),
        "newest first: {issued:?}"
    );
    let codes: BTreeSet<&str> = trend["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            e["resource"]["code"]["coding"][0]["code"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(codes, ["obs-1"].into());
    let other_system = fhir
        .ok(
            &t.p1,
            &format!("Observation?patient={}&code=http://loinc.org|obs-1", w.p1),
        )
        .await;
    assert_eq!(
        other_system["total"], 0,
        "obs-1 is a local code: {other_system:#}"
    );
    let ascending = fhir
        .get(
            Some(&t.p1),
            &format!("Observation?patient={}&_sort=date", w.p1),
        )
        .await;
    assert_eq!(
        ascending.status, 400,
        "only -date is served: {:#}",
        ascending.body
    );
}

/// The statements of one DiagnosticReport search with its observations included.
async fn statements_of_a_report_search(
    app: &TestApp,
    fhir: &Fhir,
    token: &str,
    w: &World,
) -> (usize, usize) {
    let before = app.statement_count();
    let path = format!(
        "DiagnosticReport?patient={}&_include=DiagnosticReport:result&_count=50",
        w.p1
    );
    let bundle = fhir.ok(token, &path).await;
    let reports = bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .count();
    (app.statement_count() - before, reports)
}

async fn a_report_search_costs_the_same_statements_for_two_or_twenty_reports(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let staff = Tokens::of(&app, &w).staff;
    results(&app, &w, 1).await;
    let (few, few_reports) = statements_of_a_report_search(&app, &fhir, &staff, &w).await;
    results(&app, &w, 18).await;
    let (many, many_reports) = statements_of_a_report_search(&app, &fhir, &staff, &w).await;
    assert_eq!((few_reports, many_reports), (3, 21));
    assert_eq!(
        few, many,
        "statements do not grow with the reports returned"
    );
    assert!(many <= 14, "a bounded number of statements: {many}");
}

on_both_backends!(
    following_next_visits_every_match_exactly_once,
    count_is_bounded_by_the_page_size,
    a_trend_of_one_analyte_is_one_request_newest_first,
    a_report_search_costs_the_same_statements_for_two_or_twenty_reports,
);
