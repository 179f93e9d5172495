//! Public-health reporting, on the write path: a stored result version of a reportable test
//! is queued for the reporting worker (`portal_messaging::public_health`) in the same
//! transaction as the result, so the report commits or rolls back with it.
//!
//! Reporting is mandated by law: a patient's hold on sensitive results does not stop it.

use portal_entities::{
    ReportKind, ReportStatus, ResultStatus, public_health_report, test_catalog, test_result,
};
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

/// What a result version reports: FINAL an original, CORRECTED a correction, ENTERED_IN_ERROR
/// the withdrawal of the earlier report; PRELIMINARY nothing.
pub fn kind_of(status: ResultStatus) -> Option<ReportKind> {
    match status {
        ResultStatus::Preliminary => None,
        ResultStatus::Final => Some(ReportKind::Original),
        ResultStatus::Corrected => Some(ReportKind::Correction),
        ResultStatus::EnteredInError => Some(ReportKind::Withdrawal),
    }
}

/// The queue row of `result` when its test is reportable and its status is reported, for
/// the caller to insert with the result (unique by result, so a version is never queued
/// twice); `None` otherwise.
pub fn queue_row(
    result: &test_result::Model,
    test: &test_catalog::Model,
) -> Option<public_health_report::ActiveModel> {
    let kind = kind_of(result.status).filter(|_| test.reportable)?;
    Some(public_health_report::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(result.tenant_id),
        result_id: Set(result.id),
        kind: Set(kind),
        status: Set(ReportStatus::Queued),
        batch_id: Set(None),
        created_at: Set(portal_core::clock::now()),
        sent_at: Set(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preliminary_results_are_never_reported() {
        assert_eq!(kind_of(ResultStatus::Preliminary), None);
        assert_eq!(kind_of(ResultStatus::Final), Some(ReportKind::Original));
        assert_eq!(
            kind_of(ResultStatus::Corrected),
            Some(ReportKind::Correction)
        );
        assert_eq!(
            kind_of(ResultStatus::EnteredInError),
            Some(ReportKind::Withdrawal)
        );
    }
}
