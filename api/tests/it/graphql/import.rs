//! CSV import of patients and of the catalog on both backends: twice is once, an edited file
//! changes exactly the edited rows, a bad row is reported by line and nothing is written;
//! and the `portal import` command end to end.

use portal_api::import::{self, ImportError, Imported, Kind, RowError};
use portal_entities::{AuditOutcome, catalog_analyte, patient, test_catalog};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Backend, TestApp, binary};

const PATIENTS: &str = "\
mrn,given_name,family_name,birth_date,sex,race,ethnicity,address_line1,city,state,postal_code,county,country,phone,email,language
CSV-1,Maria,Garcia,1985-02-03,F,2106-3,H,5 Elm St,Springfield,IL,62704,Sangamon,USA,+12175550123,maria@example.org,es
CSV-2,John,Smith,1970-07-07,M,2054-5,N,8 Oak Ave,Chatham,IL,62629,,USA,,,en
CSV-3,Lin,Wu,2001-12-31,U,2028-9,2186-5,,,,,,,,,
";

const CATALOG: &str = "\
code,code_system,display_name,category,specimen,sensitive,reportable,device_model,analyte_code,analyte_name,analyte_value_type,analyte_unit,analyte_low,analyte_high,analyte_reference_text,analyte_reportable
94500-6,LOINC,SARS-CoV-2 RNA,LAB,Nasopharyngeal swab,false,true,cobas SARS-CoV-2,94500-6,SARS-CoV-2 RNA,CODED,,,,Not detected,
24331-1,LOINC,Lipid panel,LAB,Serum,false,false,,2093-3,Cholesterol,NUMERIC,mg/dL,,200,,
24331-1,LOINC,Lipid panel,LAB,Serum,false,false,,2571-8,Triglyceride,NUMERIC,mg/dL,,150,,false
CHEST-1,LOCAL,Chest X-ray,IMAGING,,,,,,,,,,,,
";

async fn run(app: &TestApp, tenant: Uuid, kind: Kind, csv: &str) -> Result<Imported, ImportError> {
    import::run(&app.db, &app.state.cache, tenant, kind, csv.as_bytes()).await
}

fn counts(created: usize, updated: usize, unchanged: usize) -> Imported {
    Imported {
        created,
        updated,
        unchanged,
    }
}

async fn patients_of(app: &TestApp, tenant: Uuid) -> Vec<patient::Model> {
    patient::Entity::find()
        .filter(patient::Column::TenantId.eq(tenant))
        .order_by_asc(patient::Column::Mrn)
        .all(&app.owner)
        .await
        .expect("patients")
}

async fn catalog_of(
    app: &TestApp,
    tenant: Uuid,
) -> (Vec<test_catalog::Model>, Vec<catalog_analyte::Model>) {
    let tests = test_catalog::Entity::find()
        .filter(test_catalog::Column::TenantId.eq(tenant))
        .order_by_asc(test_catalog::Column::Code)
        .all(&app.owner)
        .await
        .expect("tests");
    let analytes = catalog_analyte::Entity::find()
        .filter(catalog_analyte::Column::TenantId.eq(tenant))
        .order_by_asc(catalog_analyte::Column::Code)
        .all(&app.owner)
        .await
        .expect("analytes");
    (tests, analytes)
}

fn rows_of(err: ImportError) -> Vec<RowError> {
    match err {
        ImportError::Rows(rows) => rows,
        other => panic!("expected bad rows, got {other}"),
    }
}

fn at(line: u64, column: &str) -> (u64, String) {
    (line, column.to_owned())
}

async fn importing_the_same_patient_file_twice_is_the_same_as_once(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let before = patients_of(&app, w.tenant_a).await.len();
    assert_eq!(
        run(&app, w.tenant_a, Kind::Patients, PATIENTS)
            .await
            .expect("first"),
        counts(3, 0, 0)
    );
    let first = patients_of(&app, w.tenant_a).await;
    assert_eq!(first.len(), before + 3);
    let maria = first.iter().find(|p| p.mrn == "CSV-1").expect("maria");
    assert_eq!(
        (
            maria.sex.as_deref(),
            maria.county.as_deref(),
            maria.language.as_deref()
        ),
        (Some("F"), Some("Sangamon"), Some("es"))
    );
    assert_eq!(
        run(&app, w.tenant_a, Kind::Patients, PATIENTS)
            .await
            .expect("again"),
        counts(0, 0, 3)
    );
    assert_eq!(
        patients_of(&app, w.tenant_a).await,
        first,
        "nothing changed, not even updated_at"
    );
    assert!(
        patients_of(&app, w.tenant_b)
            .await
            .iter()
            .all(|p| !p.mrn.starts_with("CSV"))
    );
    let rows = app.audit_rows().await;
    let registered: Vec<_> = rows
        .iter()
        .filter(|r| {
            r.action == "patient.register" && r.subject.as_deref() == Some(import::IMPORT_SUBJECT)
        })
        .filter_map(|r| r.reason.as_deref())
        .collect();
    assert_eq!(
        registered,
        [
            "created",
            "created",
            "created",
            "unchanged",
            "unchanged",
            "unchanged"
        ]
    );
}

async fn an_edited_patient_file_changes_exactly_the_edited_rows(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    run(&app, w.tenant_a, Kind::Patients, PATIENTS)
        .await
        .expect("first");
    let first = patients_of(&app, w.tenant_a).await;
    let edited = PATIENTS
        .replace("8 Oak Ave,Chatham", "8 Oak Ave,Rochester")
        .replace("+12175550123,maria@example.org", "+12175550123,");
    let imported = run(&app, w.tenant_a, Kind::Patients, &edited)
        .await
        .expect("edited");
    assert_eq!(imported, counts(0, 2, 1));
    let second = patients_of(&app, w.tenant_a).await;
    assert_eq!(second.len(), first.len());
    let changed: Vec<&str> = first
        .iter()
        .zip(&second)
        .filter(|(a, b)| a != b)
        .map(|(_, b)| b.mrn.as_str())
        .collect();
    assert_eq!(changed, ["CSV-1", "CSV-2"]);
    for (old, new) in first.iter().zip(&second).filter(|(a, b)| a != b) {
        assert!(new.updated_at.is_some() && new.updated_at != old.updated_at);
        assert_eq!((new.id, new.created_at), (old.id, old.created_at));
    }
    let maria = second.iter().find(|p| p.mrn == "CSV-1").expect("maria");
    assert_eq!(maria.email, None, "an empty cell clears");
    assert_eq!(
        second
            .iter()
            .find(|p| p.mrn == "CSV-2")
            .and_then(|p| p.city.as_deref()),
        Some("Rochester")
    );

    let fewer_columns = "mrn,given_name,family_name,birth_date\nCSV-3,Lin,Wu,2001-12-31\n";
    assert_eq!(
        run(&app, w.tenant_a, Kind::Patients, fewer_columns)
            .await
            .expect("narrow"),
        counts(0, 0, 1),
        "absent columns keep what is stored"
    );
}

async fn a_bad_patient_row_is_reported_by_line_and_nothing_is_written(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let before = patients_of(&app, w.tenant_a).await;
    let bad = "\
mrn,given_name,family_name,birth_date,sex,email
NEW-1,Ok,Row,1980-01-01,F,ok@example.org
NEW-2,Bad,Sex,1980-01-01,X,
NEW-3,Bad,Date,01/02/1980,M,
NEW-1,Same,Mrn,1980-01-01,,
NEW-5,,Nameless,1980-01-01,,
NEW-6,Bad,Mail,1980-01-01,,nope
";
    let rows = rows_of(
        run(&app, w.tenant_a, Kind::Patients, bad)
            .await
            .expect_err("bad rows"),
    );
    let found: Vec<(u64, String)> = rows.iter().map(|r| (r.line, r.column.clone())).collect();
    assert_eq!(
        found,
        [
            at(3, "sex"),
            at(4, "birth_date"),
            at(5, "mrn"),
            at(6, "given_name"),
            at(7, "email")
        ]
    );
    assert!(rows[2].message.contains("line 2"), "{}", rows[2].message);
    assert_eq!(
        patients_of(&app, w.tenant_a).await,
        before,
        "not even the good row is written"
    );

    let unknown = "mrn,given_name,family_name,birth_date,shoe_size\nNEW-1,A,B,1980-01-01,42\n";
    let rows = rows_of(
        run(&app, w.tenant_a, Kind::Patients, unknown)
            .await
            .expect_err("unknown column"),
    );
    assert_eq!((rows[0].line, rows[0].column.as_str()), (1, "shoe_size"));
    let ragged = "mrn,given_name,family_name,birth_date\nNEW-1,A,B,1980-01-01\nNEW-2,A,B\n";
    let rows = rows_of(
        run(&app, w.tenant_a, Kind::Patients, ragged)
            .await
            .expect_err("ragged"),
    );
    assert_eq!(rows[0].line, 3);
    assert_eq!(patients_of(&app, w.tenant_a).await, before);

    let audit = app.audit_rows().await;
    assert!(
        audit
            .iter()
            .any(|r| r.action == "import.patients" && r.outcome == AuditOutcome::Failed)
    );
    assert!(
        !audit.iter().any(|r| r.action == "patient.register"),
        "no record claims a write that was rolled back"
    );
}

async fn importing_the_same_catalog_twice_is_the_same_as_once(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    assert_eq!(
        run(&app, w.tenant_a, Kind::Catalog, CATALOG)
            .await
            .expect("first"),
        counts(3, 0, 0)
    );
    let first = catalog_of(&app, w.tenant_a).await;
    let lipid = first.0.iter().find(|t| t.code == "24331-1").expect("lipid");
    let lipid_analytes: Vec<_> = first.1.iter().filter(|a| a.test_id == lipid.id).collect();
    assert_eq!(lipid_analytes.len(), 2);
    assert!(first.0.iter().any(|t| t.code == "94500-6"
        && t.reportable
        && t.device_model.as_deref() == Some("cobas SARS-CoV-2")));
    let reported: Vec<(&str, bool)> = first
        .1
        .iter()
        .map(|a| (a.code.as_str(), a.reportable))
        .collect();
    assert!(
        reported.contains(&("2093-3", true)),
        "empty: reported with its test"
    );
    assert!(reported.contains(&("2571-8", false)));
    assert!(first.0.iter().any(|t| t.code == "CHEST-1" && !t.reportable));
    assert_eq!(
        run(&app, w.tenant_a, Kind::Catalog, CATALOG)
            .await
            .expect("again"),
        counts(0, 0, 3)
    );
    assert_eq!(
        catalog_of(&app, w.tenant_a).await,
        first,
        "same rows, same analyte ids"
    );

    let edited = CATALOG.replace(
        "Triglyceride,NUMERIC,mg/dL,,150,",
        "Triglyceride,NUMERIC,mg/dL,,175,",
    );
    assert_eq!(
        run(&app, w.tenant_a, Kind::Catalog, &edited)
            .await
            .expect("edited"),
        counts(0, 1, 2)
    );
    let second = catalog_of(&app, w.tenant_a).await;
    let changed: Vec<&str> = first
        .0
        .iter()
        .zip(&second.0)
        .filter(|(a, b)| a != b)
        .map(|(_, b)| b.code.as_str())
        .collect();
    assert_eq!(changed, ["24331-1"], "only the edited test moved");
    assert!(
        second
            .1
            .iter()
            .any(|a| a.code == "2571-8" && a.reference_high == Some(175.0))
    );
    let others = |analytes: &[catalog_analyte::Model]| -> Vec<catalog_analyte::Model> {
        analytes
            .iter()
            .filter(|a| a.test_id != lipid.id)
            .cloned()
            .collect()
    };
    assert_eq!(
        others(&second.1),
        others(&first.1),
        "other tests' analytes untouched"
    );
}

async fn a_bad_catalog_row_is_reported_by_line_and_nothing_is_written(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let before = catalog_of(&app, w.tenant_a).await;
    let bad = "\
code,code_system,display_name,category,reportable,analyte_code,analyte_name,analyte_value_type,analyte_low,analyte_high
94500-6,LOINC,SARS-CoV-2 RNA,LAB,true,94500-6,SARS-CoV-2 RNA,CODED,,
24331-1,LOINC,Lipid panel,LAB,false,2093-3,Cholesterol,NUMERIC,,200
24331-1,LOINC,Lipid panel,LAB,false,2571-8,Triglyceride,NUMERIC,150,100
9999,LOINC,Not LOINC,LAB,false,,,,,
X-1,LOCAL,Local,LABORATORY,maybe,,,,,
24331-1,LOINC,Lipid panel (renamed),LAB,false,2085-9,HDL,NUMERIC,40,
";
    let rows = rows_of(
        run(&app, w.tenant_a, Kind::Catalog, bad)
            .await
            .expect_err("bad rows"),
    );
    let found: Vec<(u64, String)> = rows.iter().map(|r| (r.line, r.column.clone())).collect();
    assert_eq!(
        found,
        [
            at(4, "analyte_high"),
            at(5, "code"),
            at(6, "category"),
            at(6, "reportable"),
            at(7, "code")
        ]
    );
    assert_eq!(
        catalog_of(&app, w.tenant_a).await,
        before,
        "nothing of the file is written"
    );
}

async fn a_large_patient_file_costs_a_few_statements_per_hundred_rows(backend: Backend) {
    let app = TestApp::init(backend).await;
    let w = app.world().await;
    let mut file = String::from("mrn,given_name,family_name,birth_date\n");
    for i in 0..600 {
        file.push_str(&format!("BIG-{i},Given{i},Family{i},1980-01-01\n"));
    }
    let before = app.statement_count();
    assert_eq!(
        run(&app, w.tenant_a, Kind::Patients, &file)
            .await
            .expect("import"),
        counts(600, 0, 0)
    );
    let first = app.statement_count() - before;
    assert!(first < 40, "600 new patients in {first} statements");
    let before = app.statement_count();
    assert_eq!(
        run(&app, w.tenant_a, Kind::Patients, &file)
            .await
            .expect("again"),
        counts(0, 0, 600)
    );
    let again = app.statement_count() - before;
    assert!(again < 30, "600 unchanged patients in {again} statements");
}

/// `portal seed`, then `portal import` on the real binary (the embedded default, SQLite):
/// the summary on success, the line of a bad row and a failing exit status otherwise.
#[tokio::test]
async fn the_import_command_reports_what_it_did() {
    let dir = tempfile::tempdir().expect("dir");
    let seeded = binary::portal(dir.path())
        .arg("seed")
        .output()
        .expect("seed");
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let file = dir.path().join("patients.csv");
    std::fs::write(&file, PATIENTS).expect("write csv");
    let import = |path: &std::path::Path| {
        binary::portal(dir.path())
            .args(["import", "patients"])
            .arg(path)
            .args(["--tenant", "demo"])
            .output()
            .expect("import")
    };
    let out = import(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 created, 0 updated, 0 unchanged"));
    let again = import(&file);
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 created, 0 updated, 3 unchanged"));
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "mrn,given_name,family_name,birth_date\nB-1,A,B,yesterday\n",
    )
    .expect("write");
    let out = import(&bad);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2, column birth_date"), "{stderr}");
    assert!(
        !stderr.contains("yesterday"),
        "cell values are not echoed: {stderr}"
    );
}

on_both_backends!(
    importing_the_same_patient_file_twice_is_the_same_as_once,
    an_edited_patient_file_changes_exactly_the_edited_rows,
    a_bad_patient_row_is_reported_by_line_and_nothing_is_written,
    importing_the_same_catalog_twice_is_the_same_as_once,
    a_bad_catalog_row_is_reported_by_line_and_nothing_is_written,
    a_large_patient_file_costs_a_few_statements_per_hundred_rows,
);
