//! The one sequence of a master-data update — role check → validate → load in the tenant →
//! conflict → save → audit — for catalog tests, facilities, clinicians, claims, coverage and
//! patients; each kind says only what differs (`Kept`).

use std::future::Future;

use chrono::{DateTime, Utc};
use portal_core::access::Access;
use portal_core::context::{RequestContext, Writing};
use portal_core::error::{ServiceError, ServiceResult};
use portal_core::identity::Role;
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel,
    PrimaryKeyTrait, QueryFilter,
};
use uuid::Uuid;

use super::{Change, conflict_on_duplicate, done, now, require};

/// Whose record a kind's rows are, as its audit rows name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The organisation's data (catalog, directory): no patient.
    Organisation,
    /// The patient the row is: known from the id before the row is loaded.
    Itself,
    /// The patient the row belongs to (claims, coverage): known once the row is loaded, so
    /// the input's checks are reported after it.
    Patient,
}

/// A change to one kind of master-data row: how it is checked and applied, and what makes the
/// changed row clash with another.
pub trait Kept: Sized + Send + Sync {
    type Row: Clone + PartialEq + Send + Sync + IntoActiveModel<Self::Active>;
    type Entity: EntityTrait<Model = Self::Row>;
    type Active: ActiveModelTrait<Entity = Self::Entity> + ActiveModelBehavior + Send;

    /// What NOT_FOUND names when the id is no row of the viewer's tenant.
    const NAME: &'static str;
    const OWNER: Owner;
    /// The CONFLICT message when the row's key is another row's: found by `key_taken`, or
    /// refused by the database's unique index.
    const DUPLICATE: Option<&'static str> = None;

    fn tenant_column() -> <Self::Entity as EntityTrait>::Column;
    /// The patient a row is or belongs to (`Owner::Itself`, `Owner::Patient`).
    fn patient_of(_row: &Self::Row) -> Option<Uuid> {
        None
    }
    /// Moves the row's `updated_at`.
    fn touch(row: &mut Self::Row, at: DateTime<Utc>);

    /// Checks every given field and brings it to its stored form.
    fn validated(self) -> ServiceResult<Self>;
    /// The row with this change applied, checked as a whole.
    fn applied(&self, current: &Self::Row) -> ServiceResult<Self::Row>;

    /// Whether the change gives the row a key another row of the tenant has (CONFLICT with
    /// `DUPLICATE`); asked before the change is applied.
    fn key_taken(
        &self,
        _work: &Writing<'_>,
        _current: &Self::Row,
    ) -> impl Future<Output = ServiceResult<bool>> + Send {
        async { Ok(false) }
    }

    /// Whether the change replaces rows kept with this one (a catalog test's analytes).
    fn children_change(
        &self,
        _work: &Writing<'_>,
        _current: &Self::Row,
    ) -> impl Future<Output = ServiceResult<bool>> + Send {
        async { Ok(false) }
    }

    /// Writes those rows, after the row itself.
    fn save_children(
        &self,
        _work: &Writing<'_>,
        _saved: &Self::Row,
    ) -> impl Future<Output = ServiceResult<()>> + Send {
        async { Ok(()) }
    }
}

/// An update of one row: who may make it, what its audit rows record, which row.
#[derive(Debug, Clone, Copy)]
pub struct Update {
    roles: &'static [Role],
    /// The audited access, with the row's id as entity.
    what: Access,
    id: Uuid,
}

impl Update {
    pub fn new(roles: &'static [Role], what: Access, id: Uuid) -> Self {
        Self {
            roles,
            what: what.entity(id),
            id,
        }
    }

    /// Changes the row (of the viewer's tenant) by `change`, commits and audits the outcome
    /// (updated, unchanged); a refused change is audited as failed with its code.
    pub async fn run<K>(self, ctx: &RequestContext, change: K) -> ServiceResult<K::Row>
    where
        K: Kept,
        <<K::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
    {
        let (work, row, outcome) = self.saved(ctx, change).await?;
        work.commit().await?;
        done(ctx, self.what, K::patient_of(&row), outcome);
        Ok(row)
    }

    /// `run` up to the save, the transaction left open for a last step of the caller's (a
    /// patient's access decision) before it commits.
    pub async fn saved<'c, K>(
        self,
        ctx: &'c RequestContext,
        change: K,
    ) -> ServiceResult<(Writing<'c>, K::Row, Change)>
    where
        K: Kept,
        <<K::Entity as EntityTrait>::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
    {
        let (what, id) = (self.what, self.id);
        let known = (K::OWNER == Owner::Itself).then_some(id);
        let tenant_id = require(ctx, self.roles, what, known)?;
        let checked = match change.validated() {
            Err(e) if K::OWNER != Owner::Patient => return Err(ctx.failed(what, known, e)),
            checked => checked,
        };
        let work = ctx.begin_write().await?;
        let current = K::Entity::find_by_id(id)
            .filter(K::tenant_column().eq(tenant_id))
            .one(work.txn())
            .await?
            .ok_or(ServiceError::NotFound(K::NAME))?;
        let patient_id = known.or_else(|| K::patient_of(&current));
        let fail = |e| ctx.failed(what, patient_id, e);
        let change = checked.map_err(fail)?;
        if let Some(duplicate) = K::DUPLICATE
            && change.key_taken(&work, &current).await?
        {
            return Err(fail(ServiceError::Conflict(duplicate.into())));
        }
        let (row, outcome) = save(&work, &current, &change).await.map_err(fail)?;
        Ok((work, row, outcome))
    }
}

/// Writes what `change` changes of `current`, inside the caller's transaction: the row (then
/// `updated_at` moves) and the rows kept with it; a change that changes nothing writes
/// nothing.
pub async fn save<K: Kept>(
    work: &Writing<'_>,
    current: &K::Row,
    change: &K,
) -> ServiceResult<(K::Row, Change)> {
    let mut next = change.applied(current)?;
    let children = change.children_change(work, current).await?;
    if next == *current && !children {
        return Ok((next, Change::Unchanged));
    }
    K::touch(&mut next, now());
    next.clone()
        .into_active_model()
        .reset_all()
        .update(work.txn())
        .await
        .map_err(|e| match K::DUPLICATE {
            Some(duplicate) => conflict_on_duplicate(e, duplicate),
            None => e.into(),
        })?;
    if children {
        change.save_children(work, &next).await?;
    }
    Ok((next, Change::Updated))
}
