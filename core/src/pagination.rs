//! Keyset (cursor) pagination shared by every list: opaque cursors, bounded page sizes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::ValueType;
use sea_orm::sea_query::{IntoCondition, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, FromQueryResult, ModelTrait, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Value,
};
use uuid::Uuid;

use crate::error::{ServiceError, ServiceResult};
use crate::policy::PatientAccess;

pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// A validated page request: `first` rows after `after`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Cursor>,
    /// Also count every row the list's filters match (one more statement): FHIR's
    /// `Bundle.total`. GraphQL connections do not ask for it.
    pub total: bool,
}

impl PageRequest {
    /// Validates `first` against the configured maximum and decodes `after`.
    pub fn new(first: Option<i32>, after: Option<&str>, max: u64) -> ServiceResult<Self> {
        let first = match first {
            None => DEFAULT_PAGE_SIZE.min(max),
            Some(n) if n >= 1 && (n as u64) <= max => n as u64,
            Some(_) => {
                return Err(ServiceError::bad_input(
                    "first",
                    format!("first must be between 1 and {max}"),
                ));
            }
        };
        let after = after.map(Cursor::decode).transpose()?;
        Ok(Self {
            first,
            after,
            total: false,
        })
    }

    /// The same page, with the number of all matching rows (`Page::total`).
    pub fn with_total(mut self) -> Self {
        self.total = true;
        self
    }
}

/// Position in a list ordered by `(key, id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: String,
    pub id: Uuid,
}

impl Cursor {
    pub fn new(key: impl Into<String>, id: Uuid) -> Self {
        Self {
            key: key.into(),
            id,
        }
    }

    pub fn at_time(time: DateTime<Utc>, id: Uuid) -> Self {
        Self::new(
            time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            id,
        )
    }

    pub fn at_date(date: NaiveDate, id: Uuid) -> Self {
        Self::new(date.to_string(), id)
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1|{}|{}", self.id, self.key))
    }

    pub fn decode(s: &str) -> ServiceResult<Self> {
        let invalid = || ServiceError::bad_input("after", "invalid cursor");
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let mut parts = text.splitn(3, '|');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("v1"), Some(id), Some(key)) => Ok(Self {
                key: key.to_owned(),
                id: Uuid::parse_str(id).map_err(|_| invalid())?,
            }),
            _ => Err(invalid()),
        }
    }

    pub fn time(&self) -> ServiceResult<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(&self.key)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| ServiceError::bad_input("after", "invalid cursor"))
    }

    pub fn date(&self) -> ServiceResult<NaiveDate> {
        self.key
            .parse()
            .map_err(|_| ServiceError::bad_input("after", "invalid cursor"))
    }
}

/// One page of rows, each with its cursor, and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of each item, in the same order: what a client passes as `after`.
    pub cursors: Vec<Cursor>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
    /// How many rows match the list's filters on all pages, when the request asked for it.
    pub total: Option<u64>,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            cursors: Vec::new(),
            has_next_page: false,
            has_previous_page: false,
            total: Some(0),
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            cursors: self.cursors,
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
            total: self.total,
        }
    }

    /// Each item with its cursor.
    pub fn into_edges(self) -> impl Iterator<Item = (Cursor, T)> {
        self.cursors.into_iter().zip(self.items)
    }
}

/// What a list's sort key holds, which decides how its cursors are written and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Time,
    Date,
    Text,
    Id,
}

/// The sort of a keyset-paginated list: a key column, the id column as tie-breaker.
pub struct Keyset<C> {
    pub key: C,
    pub id: C,
    pub kind: KeyKind,
    pub order: Order,
}

impl<C: ColumnTrait> Keyset<C> {
    /// Orders `select`, starts after the page's cursor, fetches one row more than asked to
    /// learn whether a next page exists, and gives every row its cursor.
    pub async fn fetch<E, Db>(
        &self,
        select: Select<E>,
        page: &PageRequest,
        db: &Db,
    ) -> ServiceResult<Page<E::Model>>
    where
        E: EntityTrait<Column = C>,
        E::Model: Sync,
        Db: ConnectionTrait,
    {
        self.fetch_into(select, page, db, |row: &E::Model| row)
            .await
    }

    /// Like `fetch`, each row decoded as `R` (the model and columns the caller added to
    /// `select`); `model` finds the model in it for the cursor.
    pub async fn fetch_into<E, Db, R>(
        &self,
        select: Select<E>,
        page: &PageRequest,
        db: &Db,
        model: impl Fn(&R) -> &E::Model,
    ) -> ServiceResult<Page<R>>
    where
        E: EntityTrait<Column = C>,
        E::Model: Sync,
        Db: ConnectionTrait,
        R: FromQueryResult,
    {
        let total = if page.total {
            Some(select.clone().count(db).await?)
        } else {
            None
        };
        let mut select = select
            .order_by(self.key, self.order.clone())
            .order_by(self.id, self.order.clone());
        if let Some(cursor) = &page.after {
            select = select.filter(self.after(self.key_value(cursor)?, cursor.id));
        }
        let mut items = select
            .limit(page.first + 1)
            .into_model::<R>()
            .all(db)
            .await?;
        let has_next_page = items.len() as u64 > page.first;
        items.truncate(page.first as usize);
        let cursors = items
            .iter()
            .map(|row| {
                let row = model(row);
                self.cursor(row.get(self.key), row.get(self.id))
            })
            .collect::<ServiceResult<_>>()?;
        Ok(Page {
            items,
            cursors,
            has_next_page,
            has_previous_page: page.after.is_some(),
            total,
        })
    }

    fn key_value(&self, cursor: &Cursor) -> ServiceResult<Value> {
        Ok(match self.kind {
            KeyKind::Time => cursor.time()?.into(),
            KeyKind::Date => cursor.date()?.into(),
            KeyKind::Text => cursor.key.clone().into(),
            KeyKind::Id => cursor.id.into(),
        })
    }

    fn cursor(&self, key: Value, id: Value) -> ServiceResult<Cursor> {
        let broken = |_| ServiceError::Internal("a sort key of an unexpected type".into());
        let id = <Uuid as ValueType>::try_from(id).map_err(broken)?;
        Ok(match self.kind {
            KeyKind::Time => Cursor::at_time(
                <DateTime<Utc> as ValueType>::try_from(key).map_err(broken)?,
                id,
            ),
            KeyKind::Date => {
                Cursor::at_date(<NaiveDate as ValueType>::try_from(key).map_err(broken)?, id)
            }
            KeyKind::Text => Cursor::new(<String as ValueType>::try_from(key).map_err(broken)?, id),
            KeyKind::Id => Cursor::new(id.to_string(), id),
        })
    }

    fn after(&self, key: Value, id: Uuid) -> Condition {
        beyond(self.key, self.id, &self.order, key, id)
    }
}

/// The rows past `(key, id)` in a list sorted by `(key_column, id_column)` in `order`; the two
/// columns may belong to different tables of a join (a child listed in its parent's order).
pub fn beyond<K: ColumnTrait, I: ColumnTrait>(
    key_column: K,
    id_column: I,
    order: &Order,
    key: Value,
    id: Uuid,
) -> Condition {
    let (beyond_key, beyond_id): (SimpleExpr, SimpleExpr) = match order {
        Order::Asc => (key_column.gt(key.clone()), id_column.gt(id)),
        _ => (key_column.lt(key.clone()), id_column.lt(id)),
    };
    Condition::any()
        .add(beyond_key)
        .add(Condition::all().add(key_column.eq(key)).add(beyond_id))
        .into_condition()
}

/// A list of one patient's rows (results, orders, appointments, coverages, claims, grants):
/// the rows of the patient in the tenant the access proves, in keyset order, with cursors.
/// Every patient list ends here, so the tail is written once.
pub struct PatientList<C> {
    pub tenant: C,
    pub patient: C,
    pub sort: Keyset<C>,
}

impl<C: ColumnTrait> PatientList<C> {
    /// One page of `select` (the caller's filters) for the patient `access` is about.
    pub async fn fetch<E, Db>(
        &self,
        db: &Db,
        access: &PatientAccess,
        select: Select<E>,
        page: &PageRequest,
    ) -> ServiceResult<Page<E::Model>>
    where
        E: EntityTrait<Column = C>,
        E::Model: Sync,
        Db: ConnectionTrait,
    {
        self.fetch_into(db, access, select, page, |row: &E::Model| row)
            .await
    }

    /// Like `fetch`, each row decoded as `R` (see `Keyset::fetch_into`).
    pub async fn fetch_into<E, Db, R>(
        &self,
        db: &Db,
        access: &PatientAccess,
        select: Select<E>,
        page: &PageRequest,
        model: impl Fn(&R) -> &E::Model,
    ) -> ServiceResult<Page<R>>
    where
        E: EntityTrait<Column = C>,
        E::Model: Sync,
        Db: ConnectionTrait,
        R: FromQueryResult,
    {
        let select = select
            .filter(self.tenant.eq(access.tenant_id))
            .filter(self.patient.eq(access.patient_id));
        self.sort.fetch_into(select, page, db, model).await
    }
}
