//! The CSV columns: every column name of ReportStream's CSV upload schema
//! (`prime-router/docs/schema_documentation/upload-covid-19.md`), once each, in the order the
//! schema lists them, and which of them the schema requires ([1..1]).

/// Every column, in order; the header row of every batch.
pub const COLUMNS: [&str; 72] = [
    "comment",
    "date_result_released",
    "employed_in_healthcare",
    "equipment_model_name",
    "testing_lab_clia",
    "accession_number",
    "first_test",
    "hospitalized",
    "icu",
    "illness_onset_date",
    "order_test_date",
    "ordering_facility_city",
    "ordering_facility_name",
    "ordering_facility_phone_number",
    "ordering_facility_state",
    "ordering_facility_street",
    "ordering_facility_street2",
    "ordering_facility_zip_code",
    "ordering_provider_city",
    "ordering_provider_first_name",
    "ordering_provider_id",
    "ordering_provider_last_name",
    "ordering_provider_middle_name",
    "ordering_provider_phone_number",
    "ordering_provider_state",
    "ordering_provider_street",
    "ordering_provider_street2",
    "ordering_provider_zip_code",
    "patient_city",
    "patient_county",
    "patient_dob",
    "patient_email",
    "patient_ethnicity",
    "patient_first_name",
    "patient_gender",
    "patient_id",
    "patient_last_name",
    "patient_middle_name",
    "patient_phone_number",
    "patient_preferred_language",
    "patient_race",
    "patient_state",
    "patient_street",
    "patient_street2",
    "patient_zip_code",
    "pregnant",
    "processing_mode_code",
    "reporting_facility_clia",
    "reporting_facility_name",
    "resident_congregate_setting",
    "specimen_collection_date",
    "specimen_type",
    "symptomatic_for_disease",
    "test_performed_code",
    "test_result",
    "test_result_date",
    "test_result_status",
    "testing_lab_city",
    "testing_lab_name",
    "testing_lab_phone_number",
    "testing_lab_specimen_received_date",
    "testing_lab_state",
    "testing_lab_street",
    "testing_lab_street2",
    "testing_lab_zip_code",
    "accession_number_temp",
    "message_id",
    "patient_county_code",
    "patient_id_type",
    "placer_order_id",
    "processing_mode_code_fromsettings",
    "sender_id",
];

/// The columns the schema marks [1..1]: a row missing one is not sent but goes to the error
/// queue, naming the column.
pub const REQUIRED: [&str; 45] = [
    "date_result_released",
    "equipment_model_name",
    "testing_lab_clia",
    "order_test_date",
    "ordering_facility_city",
    "ordering_facility_name",
    "ordering_facility_phone_number",
    "ordering_facility_state",
    "ordering_facility_street",
    "ordering_facility_zip_code",
    "ordering_provider_city",
    "ordering_provider_first_name",
    "ordering_provider_id",
    "ordering_provider_last_name",
    "ordering_provider_phone_number",
    "ordering_provider_state",
    "ordering_provider_street",
    "ordering_provider_zip_code",
    "patient_city",
    "patient_dob",
    "patient_ethnicity",
    "patient_first_name",
    "patient_gender",
    "patient_last_name",
    "patient_race",
    "patient_state",
    "patient_street",
    "patient_zip_code",
    "processing_mode_code",
    "reporting_facility_clia",
    "reporting_facility_name",
    "specimen_collection_date",
    "specimen_type",
    "test_performed_code",
    "test_result",
    "test_result_date",
    "test_result_status",
    "testing_lab_city",
    "testing_lab_name",
    "testing_lab_specimen_received_date",
    "testing_lab_state",
    "testing_lab_street",
    "testing_lab_zip_code",
    "message_id",
    "sender_id",
];

/// Position of a column in [`COLUMNS`].
pub fn index(name: &str) -> Option<usize> {
    COLUMNS.iter().position(|c| *c == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_unique_and_every_required_one_is_a_column() {
        let mut seen = std::collections::HashSet::new();
        assert!(COLUMNS.iter().all(|c| seen.insert(*c)));
        assert!(REQUIRED.iter().all(|r| index(r).is_some()), "{REQUIRED:?}");
    }
}
