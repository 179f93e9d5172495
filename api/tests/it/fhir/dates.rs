//! R4 date search on every date parameter served: each prefix against values of every
//! precision (year to microsecond, with and without a zone) just before, around and just
//! after a resource's instant, including the very value the resource shows.

use chrono::{DateTime, Utc};
use portal_entities::ResultStatus;
use serde_json::Value;

use crate::fhir::kit::{self, Fhir, Tokens, validate};
use crate::on_both_backends;
use crate::support::{Backend, TestApp};

/// The instant every searched resource holds (microseconds, as both databases keep).
const AT: &str = "2024-03-05T10:15:30.123456Z";

/// Where a value's range lies against [`AT`].
#[derive(Debug, Clone, Copy)]
enum Lies {
    /// The range holds the instant.
    Around,
    /// The whole range is later than the instant.
    After,
    /// The whole range is earlier.
    Before,
}

const VALUES: &[(&str, Lies)] = &[
    ("2024", Lies::Around),
    ("2024-03", Lies::Around),
    ("2024-03-05", Lies::Around),
    ("2024-03-05T10:15Z", Lies::Around),
    ("2024-03-05T10:15", Lies::Around),
    ("2024-03-05T10:15:30Z", Lies::Around),
    ("2024-03-05T10:15:30", Lies::Around),
    ("2024-03-05T12:15:30+02:00", Lies::Around),
    ("2024-03-05T05:15:30-05:00", Lies::Around),
    ("2024-03-05T10:15:30.1Z", Lies::Around),
    ("2024-03-05T10:15:30.12345Z", Lies::Around),
    ("2024-03-05T10:15:30.123Z", Lies::Around),
    ("2024-03-05T10:15:30.123456000Z", Lies::Around),
    ("2025", Lies::After),
    ("2024-04", Lies::After),
    ("2024-03-06", Lies::After),
    ("2024-03-05T10:16Z", Lies::After),
    ("2024-03-05T10:15:31Z", Lies::After),
    ("2024-03-05T12:15:31+02:00", Lies::After),
    ("2024-03-05T10:15:30.124Z", Lies::After),
    ("2024-03-05T10:15:30.123457Z", Lies::After),
    ("2023", Lies::Before),
    ("2024-02", Lies::Before),
    ("2024-03-04", Lies::Before),
    ("2024-03-05T10:14Z", Lies::Before),
    ("2024-03-05T10:15:29Z", Lies::Before),
    ("2024-03-05T11:15:30+02:00", Lies::Before),
    ("2024-03-05T10:15:30.122Z", Lies::Before),
    ("2024-03-05T10:15:30.123455Z", Lies::Before),
];

const PREFIXES: [&str; 8] = ["eq", "ne", "lt", "le", "gt", "ge", "sa", "eb"];

/// Whether `prefix` with a value lying so finds the instant (R4 search, "date").
fn expected(prefix: &str, lies: Lies) -> bool {
    matches!(
        (prefix, lies),
        ("eq" | "le" | "ge", Lies::Around)
            | ("ne" | "lt" | "le" | "eb", Lies::After)
            | ("ne" | "gt" | "ge" | "sa", Lies::Before)
    )
}

/// A search of one date parameter and how a match is recognised.
struct Searched {
    /// The search without the date: `DiagnosticReport?patient=…&`.
    path: String,
    param: &'static str,
    /// The id an entry has when it is the resource at [`AT`].
    ids: Vec<String>,
}

impl Searched {
    async fn finds(&self, fhir: &Fhir, token: &str, dates: &[&str]) -> bool {
        let query: String = dates
            .iter()
            .map(|d| format!("&{}={}", self.param, d.replace('+', "%2B")))
            .collect();
        let path = format!("{}_count=100{query}", self.path);
        let reply = fhir.get(Some(token), &path).await;
        assert_eq!(reply.status, 200, "{path}: {:#}", reply.body);
        reply.ids().iter().any(|id| self.ids.contains(id))
    }
}

async fn every_prefix_and_precision_finds_what_r4_says(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let at: DateTime<Utc> = AT.parse().expect("instant");
    let order = app.order(w.tenant_a, w.p1, w.facility, w.cbc, None).await;
    let result = app
        .result(
            w.tenant_a,
            w.p1,
            order,
            w.cbc,
            ResultStatus::Final,
            at,
            None,
        )
        .await;
    let visit = kit::appointment_at(&app, w.tenant_a, w.p1, w.facility, None, at).await;
    let fhir = Fhir::new(&app);
    let staff = Tokens::of(&app, &w).staff;

    let report = fhir.ok(&staff, &format!("DiagnosticReport/{result}")).await;
    assert_eq!(report["issued"], AT, "shown as stored: {report:#}");
    assert_eq!(report["effectiveDateTime"], AT);
    let observations: Vec<String> = report["result"]
        .as_array()
        .expect("observations")
        .iter()
        .filter_map(|r| r["reference"].as_str()?.strip_prefix("Observation/"))
        .map(str::to_owned)
        .collect();
    let observation = fhir
        .ok(&staff, &format!("Observation/{}", observations[0]))
        .await;
    assert_eq!(observation["effectiveDateTime"], AT);
    let appointment = fhir.ok(&staff, &format!("Appointment/{visit}")).await;
    assert_eq!(appointment["start"], AT);
    validate(&[report, observation, appointment]);

    let p = w.p1;
    let searched = [
        Searched {
            path: format!("DiagnosticReport?patient={p}&"),
            param: "date",
            ids: vec![result.to_string()],
        },
        Searched {
            path: format!("DiagnosticReport?patient={p}&"),
            param: "issued",
            ids: vec![result.to_string()],
        },
        Searched {
            path: format!("Observation?patient={p}&"),
            param: "date",
            ids: observations,
        },
        Searched {
            path: format!("Appointment?patient={p}&"),
            param: "date",
            ids: vec![visit.to_string()],
        },
    ];
    for s in &searched {
        for (value, lies) in VALUES {
            for prefix in PREFIXES {
                let date = format!("{prefix}{value}");
                assert_eq!(
                    s.finds(&fhir, &staff, &[&date]).await,
                    expected(prefix, *lies),
                    "{}{}={date} ({lies:?} {AT})",
                    s.path,
                    s.param
                );
            }
        }
        // The value shown, with each prefix; no prefix is eq.
        for (prefix, found) in [("", true), ("eq", true), ("le", true), ("ge", true)] {
            let date = format!("{prefix}{AT}");
            assert_eq!(s.finds(&fhir, &staff, &[&date]).await, found, "{date}");
        }
        for prefix in ["ne", "lt", "gt", "sa", "eb"] {
            let date = format!("{prefix}{AT}");
            assert!(!s.finds(&fhir, &staff, &[&date]).await, "{date}");
        }
        // ap: about the value (a tenth of its distance from now on either side).
        assert!(s.finds(&fhir, &staff, &[&format!("ap{AT}")]).await);
        assert!(s.finds(&fhir, &staff, &["ap2024-03-04"]).await);
        assert!(!s.finds(&fhir, &staff, &["ap1990"]).await);
        // A comma is OR, a repeat is AND.
        assert!(s.finds(&fhir, &staff, &["2023,2024"]).await);
        assert!(!s.finds(&fhir, &staff, &["lt2024,gt2024"]).await);
        assert!(
            s.finds(&fhir, &staff, &["ge2024-03-05", "lt2024-03-05T10:15:31Z"])
                .await
        );
        assert!(
            !s.finds(&fhir, &staff, &["ge2024-03-05", "lt2024-03-05T10:15:30Z"])
                .await
        );
    }
}

/// The report's own served value finds it through a patient's token too (the question a
/// FHIR client asked first), and `total` counts it.
async fn a_report_is_found_by_the_issued_value_it_shows(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let fhir = Fhir::new(&app);
    let me = Tokens::of(&app, &w).p1;
    let report = fhir
        .ok(&me, &format!("DiagnosticReport/{}", w.p1_final))
        .await;
    let issued = report["issued"].as_str().expect("issued").to_owned();
    let seconds = format!("{}Z", &issued[..19]);
    for date in [issued.as_str(), seconds.as_str()] {
        for param in ["date", "issued"] {
            let path = format!(
                "DiagnosticReport?patient={}&{param}={}",
                w.p1,
                date.replace('+', "%2B")
            );
            let found: Value = fhir.ok(&me, &path).await;
            assert_eq!(found["total"], 1, "{path}: {found:#}");
            assert_eq!(found["entry"][0]["resource"]["id"], w.p1_final.to_string());
        }
    }
}

on_both_backends!(
    every_prefix_and_precision_finds_what_r4_says,
    a_report_is_found_by_the_issued_value_it_shows,
);
