//! The embedded default writes each batch to `<PORTAL_DATA_DIR>/public-health/<batch id>.csv`;
//! the file parses with a standard CSV reader even when names and addresses hold quotes,
//! commas and newlines, and carries the documented header and values.

use portal_entities::{patient, public_health_batch};
use portal_messaging::public_health::{COLUMNS, REQUIRED};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::*;
use crate::on_both_backends;

async fn batches_are_written_as_csv_files_that_a_standard_reader_parses(backend: Backend) {
    let h = Hospital::new(backend, &[]).await;
    let family = "O\"Brien, Jr.";
    let street = "12 Elm Street,\nApt \"3\"";
    patient::Entity::update_many()
        .col_expr(patient::Column::FamilyName, Expr::value(family))
        .col_expr(patient::Column::AddressLine1, Expr::value(Some(street)))
        .filter(patient::Column::Mrn.eq("MRN1001"))
        .exec(&h.app.owner)
        .await
        .expect("awkward name");
    h.add("MRN1001", SARS, "FINAL", coded(DETECTED)).await;
    h.drain(3).await;

    let batch = public_health_batch::Entity::find()
        .one(&h.app.owner)
        .await
        .expect("q")
        .expect("one batch");
    let path = h
        .app
        .data_dir()
        .join("public-health")
        .join(format!("{}.csv", batch.id));
    let text = std::fs::read_to_string(&path).expect("the batch file");
    assert_eq!(text, batch.payload, "the file is the stored batch");
    let (header, rows) = parse(&text);
    assert_eq!(header, COLUMNS);
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["patient_last_name"], family);
    assert_eq!(row["patient_street"], street);
    let alice = h.patient("MRN1001").await;
    let expected = [
        ("patient_first_name", "Alice"),
        ("patient_dob", "19840312"),
        ("patient_gender", "F"),
        ("patient_race", "2028-9"),
        ("patient_ethnicity", "2186-5"),
        ("patient_zip_code", "62704"),
        ("patient_county", "Sangamon"),
        ("test_performed_code", SARS),
        ("test_result", DETECTED),
        ("test_result_status", "F"),
        ("equipment_model_name", "cobas SARS-CoV-2"),
        ("specimen_type", "Nasopharyngeal swab"),
        ("ordering_provider_id", "1234567893"),
        ("ordering_provider_last_name", "Patel"),
        ("testing_lab_clia", "05D2101234"),
        ("reporting_facility_name", "Riverside Main Laboratory"),
        ("processing_mode_code", "P"),
        ("accession_number", "ACC-1"),
        ("patient_id_type", "MR"),
    ];
    for (column, value) in expected {
        assert_eq!(row[column], value, "{column}");
    }
    assert_eq!(row["patient_id"], alice.mrn);
    assert!(
        REQUIRED.iter().all(|c| !row[*c].is_empty()),
        "every required column: {row:?}"
    );
    // Running again writes nothing new.
    h.pass().await;
    let files = std::fs::read_dir(path.parent().expect("dir"))
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".csv"))
        .count();
    assert_eq!(files, 1);
}

on_both_backends!(batches_are_written_as_csv_files_that_a_standard_reader_parses);
