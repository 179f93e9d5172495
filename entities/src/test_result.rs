//! `test_results`: A result of an order; append-only, corrections form a chain via `chain_id`.

use sea_orm::entity::prelude::*;

use crate::enums::{ResultStatus, TestCategory};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "test_results")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub patient_id: Uuid,
    pub order_id: Uuid,
    pub test_id: Uuid,
    pub category: TestCategory,
    pub status: ResultStatus,
    pub issued_at: DateTimeUtc,
    #[sea_orm(column_type = "Text")]
    pub performing_lab: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub conclusion: Option<String>,
    pub chain_id: Uuid,
    pub replaces_result_id: Option<Uuid>,
    #[sea_orm(column_type = "Text")]
    pub correction_reason: Option<String>,
    #[sea_orm(column_type = "Text")]
    pub idempotency_key: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tenant::Entity",
        from = "Column::TenantId",
        to = "super::tenant::Column::Id"
    )]
    Tenant,
    #[sea_orm(
        belongs_to = "super::patient::Entity",
        from = "Column::PatientId",
        to = "super::patient::Column::Id"
    )]
    Patient,
    #[sea_orm(
        belongs_to = "super::test_order::Entity",
        from = "Column::OrderId",
        to = "super::test_order::Column::Id"
    )]
    TestOrder,
    #[sea_orm(
        belongs_to = "super::test_catalog::Entity",
        from = "Column::TestId",
        to = "super::test_catalog::Column::Id"
    )]
    TestCatalog,
    #[sea_orm(
        belongs_to = "Entity",
        from = "Column::ReplacesResultId",
        to = "Column::Id"
    )]
    ReplacesResult,
    #[sea_orm(has_many = "super::observation::Entity")]
    Observation,
    #[sea_orm(has_one = "super::imaging_report::Entity")]
    ImagingReport,
    #[sea_orm(has_many = "super::result_view::Entity")]
    ResultView,
    #[sea_orm(has_one = "super::result_link::Entity")]
    ResultLink,
    #[sea_orm(has_many = "super::notification::Entity")]
    Notification,
}

impl Related<super::tenant::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tenant.def()
    }
}

impl Related<super::patient::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Patient.def()
    }
}

impl Related<super::test_order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestOrder.def()
    }
}

impl Related<super::test_catalog::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::TestCatalog.def()
    }
}

impl Related<super::observation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Observation.def()
    }
}

impl Related<super::imaging_report::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ImagingReport.def()
    }
}

impl Related<super::result_view::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ResultView.def()
    }
}

impl Related<super::result_link::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ResultLink.def()
    }
}

impl Related<super::notification::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Notification.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
