//! Keyset (cursor) pagination shared by every list: opaque cursors, bounded page sizes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{IntoCondition, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect, Select,
};
use uuid::Uuid;

use crate::error::{ServiceError, ServiceResult};

pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// A validated page request: `first` rows after `after`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub first: u64,
    pub after: Option<Cursor>,
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
        Ok(Self { first, after })
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

/// One page of rows and whether more follow.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }
}

/// The sort of a keyset-paginated list: a key column, the id column as tie-breaker.
pub struct Keyset<C> {
    pub key: C,
    pub id: C,
    pub order: Order,
}

impl<C: ColumnTrait> Keyset<C> {
    /// Orders `select`, starts after `after` (whose key is already converted to a value),
    /// and fetches one row more than asked to learn whether a next page exists.
    pub async fn fetch<E, Db>(
        &self,
        select: Select<E>,
        page: &PageRequest,
        after_key: Option<sea_orm::Value>,
        db: &Db,
    ) -> ServiceResult<Page<E::Model>>
    where
        E: EntityTrait<Column = C>,
        Db: sea_orm::ConnectionTrait,
    {
        let mut select = select
            .order_by(self.key, self.order.clone())
            .order_by(self.id, self.order.clone());
        if let (Some(cursor), Some(key)) = (&page.after, after_key) {
            select = select.filter(self.after(key, cursor.id));
        }
        let mut items = select.limit(page.first + 1).all(db).await?;
        let has_next_page = items.len() as u64 > page.first;
        items.truncate(page.first as usize);
        Ok(Page {
            items,
            has_next_page,
            has_previous_page: page.after.is_some(),
        })
    }

    fn after(&self, key: sea_orm::Value, id: Uuid) -> Condition {
        let (beyond_key, beyond_id): (SimpleExpr, SimpleExpr) = match self.order {
            Order::Asc => (self.key.gt(key.clone()), self.id.gt(id)),
            _ => (self.key.lt(key.clone()), self.id.lt(id)),
        };
        Condition::any()
            .add(beyond_key)
            .add(Condition::all().add(self.key.eq(key)).add(beyond_id))
            .into_condition()
    }
}
