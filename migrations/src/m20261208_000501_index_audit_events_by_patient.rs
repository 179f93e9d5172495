//! The index of a patient's access history (`Patient.accessLog`, newest first).
//!
//! Replaces `idx_audit_events_patient_id_occurred_at` (patient, time) by one on (tenant,
//! patient, time descending, id descending) of the rows that name a patient: the access
//! history's page is one index range in its own order, with no sort, and the trail still has
//! one patient index to maintain per append (rows without a patient — rejected tokens,
//! searches, jobs — are not in it at all).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_audit_events_patient_id_occurred_at")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_audit_events_patient_history ON audit_events \
             (tenant_id, patient_id, occurred_at DESC, id DESC) WHERE patient_id IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS idx_audit_events_patient_history")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX idx_audit_events_patient_id_occurred_at ON audit_events \
             (patient_id, occurred_at)",
        )
        .await?;
        Ok(())
    }
}
