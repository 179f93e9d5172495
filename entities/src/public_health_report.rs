//! `public_health_reports`: one result version queued for public-health reporting (exactly
//! one per result), and where it is: queued, in a batch, sent, or in the error queue.

use sea_orm::entity::prelude::*;

use crate::public_health_status::{ReportKind, ReportStatus};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "public_health_reports")]
pub struct Model {
    /// Also the report's `message_id` in the CSV: the receiver's tracking id for the row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub result_id: Uuid,
    pub kind: ReportKind,
    pub status: ReportStatus,
    /// The batch holding it while BATCHED (and the one that delivered it once SENT).
    pub batch_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::test_result::Entity",
        from = "Column::ResultId",
        to = "super::test_result::Column::Id"
    )]
    TestResult,
    #[sea_orm(
        belongs_to = "super::public_health_batch::Entity",
        from = "Column::BatchId",
        to = "super::public_health_batch::Column::Id"
    )]
    Batch,
}

impl Related<super::test_result::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestResult.def()
    }
}

impl Related<super::public_health_batch::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Batch.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
