//! Where a notification goes: the patient's address for its channel and their language.

use portal_entities::{
    NotificationChannel, notification, notification_preference, patient, push_token,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};

use super::Language;
use portal_core::error::ServiceResult;

/// The recipient of one notification; addresses are PHI and never logged.
pub struct Contact {
    pub language: Language,
    /// Email address or phone number, or the active push tokens (empty: nowhere to send).
    pub addresses: Vec<String>,
}

pub async fn load(db: &impl ConnectionTrait, row: &notification::Model) -> ServiceResult<Contact> {
    let language = language(db, row).await?;
    let addresses = match row.channel {
        NotificationChannel::Email | NotificationChannel::Sms => {
            patient_address(db, row).await?.into_iter().collect()
        }
        NotificationChannel::Push => push_tokens(db, row).await?,
    };
    Ok(Contact {
        language,
        addresses,
    })
}

async fn language(db: &impl ConnectionTrait, row: &notification::Model) -> ServiceResult<Language> {
    let code: Option<String> = notification_preference::Entity::find_by_id(row.patient_id)
        .filter(notification_preference::Column::TenantId.eq(row.tenant_id))
        .select_only()
        .column(notification_preference::Column::Language)
        .into_tuple()
        .one(db)
        .await?;
    Ok(Language::from_code(code.as_deref()))
}

async fn patient_address(
    db: &impl ConnectionTrait,
    row: &notification::Model,
) -> ServiceResult<Option<String>> {
    let column = match row.channel {
        NotificationChannel::Sms => patient::Column::Phone,
        _ => patient::Column::Email,
    };
    let address: Option<Option<String>> = patient::Entity::find_by_id(row.patient_id)
        .filter(patient::Column::TenantId.eq(row.tenant_id))
        .select_only()
        .column(column)
        .into_tuple()
        .one(db)
        .await?;
    Ok(address
        .flatten()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty()))
}

async fn push_tokens(
    db: &impl ConnectionTrait,
    row: &notification::Model,
) -> ServiceResult<Vec<String>> {
    Ok(push_token::Entity::find()
        .filter(push_token::Column::PatientId.eq(row.patient_id))
        .filter(push_token::Column::TenantId.eq(row.tenant_id))
        .filter(push_token::Column::RevokedAt.is_null())
        .select_only()
        .column(push_token::Column::Token)
        .into_tuple()
        .all(db)
        .await?)
}
