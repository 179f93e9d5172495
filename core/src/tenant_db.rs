//! A database handle bound to one tenant: on PostgreSQL every transaction it opens first sets
//! `app.tenant_id`, which the row-level security policies read; on SQLite it is the pool.
//!
//! Three shapes, all implementing sea-orm's `ConnectionTrait` and `TransactionTrait` so that
//! services take them like any connection:
//! - `Pool`: SQLite, or PostgreSQL with no tenant binding (migrations, the owner's tools).
//!   On PostgreSQL the policies then admit no tenant rows at all (fail closed).
//! - `Scoped`: PostgreSQL; every statement runs in its own short transaction bound to the
//!   tenant, and `begin()` opens a top-level transaction bound to it. Used by mutations,
//!   subscriptions (nothing is held open while a socket is idle) and background workers.
//! - `Request`: PostgreSQL; one transaction per GraphQL query, begun lazily on the first
//!   statement and shared by every resolver and the DataLoader of the request; `begin()`
//!   opens a savepoint in it. `finish()` commits it when the request is done.
//!
//! A request never holds one pool connection while waiting for a second one on its own
//! account: `Request` uses one connection for everything, and `Scoped` holds one only for the
//! duration of a statement or of the transaction the caller opened.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr,
    ExecResult, IsolationLevel, QueryResult, Statement, TransactionError, TransactionOptions,
    TransactionTrait,
};
use tokio::sync::Mutex;
use uuid::Uuid;

/// A connection bound to a tenant (see the module documentation).
#[derive(Clone)]
pub enum TenantDb {
    Pool(DatabaseConnection),
    Scoped(Scoped),
    Request(Arc<RequestScope>),
}

/// PostgreSQL, one short tenant-bound transaction per statement or per `begin()`.
#[derive(Clone)]
pub struct Scoped {
    pool: DatabaseConnection,
    tenant: Option<Uuid>,
}

/// PostgreSQL, one lazily begun tenant-bound transaction for a whole request.
pub struct RequestScope {
    pool: DatabaseConnection,
    tenant: Option<Uuid>,
    state: Mutex<RequestState>,
    /// Begun as a write transaction (`db::begin_write`: on SQLite the write lock first).
    write: bool,
}

enum RequestState {
    Idle,
    Open(Arc<DatabaseTransaction>),
    Ended,
}

impl TenantDb {
    /// The pool as it is: no tenant is set (on PostgreSQL no tenant rows are visible).
    pub fn unbound(pool: DatabaseConnection) -> Self {
        Self::Pool(pool)
    }

    /// Statement by statement (and transaction by transaction) bound to `tenant`.
    pub fn scoped(pool: DatabaseConnection, tenant: Option<Uuid>) -> Self {
        if pool.get_database_backend() == DatabaseBackend::Postgres {
            Self::Scoped(Scoped { pool, tenant })
        } else {
            Self::Pool(pool)
        }
    }

    /// One transaction bound to `tenant` for everything the request reads; see `finish`.
    pub fn request(pool: DatabaseConnection, tenant: Option<Uuid>) -> Self {
        if pool.get_database_backend() == DatabaseBackend::Postgres {
            Self::Request(Arc::new(RequestScope {
                pool,
                tenant,
                state: Mutex::new(RequestState::Idle),
                write: false,
            }))
        } else {
            Self::Pool(pool)
        }
    }

    /// One write transaction bound to `tenant` for everything the request does, on both
    /// backends (an HL7 message: stored, applied and answered as one outcome). The services'
    /// own transactions become savepoints in it; `finish` commits it with the audit rows.
    pub fn message(pool: DatabaseConnection, tenant: Option<Uuid>) -> Self {
        Self::Request(Arc::new(RequestScope {
            pool,
            tenant,
            state: Mutex::new(RequestState::Idle),
            write: true,
        }))
    }

    /// The pool underneath, for work that must not join the request's transaction.
    pub fn pool(&self) -> &DatabaseConnection {
        match self {
            Self::Pool(pool) => pool,
            Self::Scoped(s) => &s.pool,
            Self::Request(r) => &r.pool,
        }
    }

    /// The tenant this handle binds (`None` for the plain pool).
    pub fn tenant(&self) -> Option<Uuid> {
        match self {
            Self::Pool(_) => None,
            Self::Scoped(s) => s.tenant,
            Self::Request(r) => r.tenant,
        }
    }

    /// The same pool, statement by statement bound to another tenant (e.g. the tenant a
    /// walk-in link turned out to belong to).
    pub fn for_tenant(&self, tenant: Uuid) -> Self {
        Self::scoped(self.pool().clone(), Some(tenant))
    }

    /// Undoes what the request's transaction did so far (one transaction per request only):
    /// the next statement begins a fresh one. A no-op for the other shapes.
    pub async fn rollback(&self) -> Result<(), DbErr> {
        match self {
            Self::Request(r) => r.rollback().await,
            Self::Pool(_) | Self::Scoped(_) => Ok(()),
        }
    }

    /// Ends the request's transaction: commits it if it was begun. An error means what the
    /// request wrote may not be there, and the caller must not report success. Statements
    /// after `finish` fail. A no-op for the other shapes.
    pub async fn finish(&self) -> Result<(), DbErr> {
        match self {
            Self::Request(r) => r.finish().await,
            Self::Pool(_) | Self::Scoped(_) => Ok(()),
        }
    }
}

impl TenantDb {
    /// PostgreSQL: one row of the scalar subqueries `select_list` (placeholders `$1`..`$n` for
    /// `values`), with the tenant binding folded in when it can be. On a request transaction
    /// that has not begun, this is its first statement after BEGIN and binds the tenant itself:
    /// `set_config` is the row's first column, and a target list is computed left to right,
    /// each scalar subquery when its column is (so they read under the binding). That saves
    /// the separate `set_config` round trip. Otherwise the statement runs like any other, after
    /// the binding.
    pub async fn query_row_binding(
        &self,
        select_list: &str,
        mut values: Vec<sea_orm::Value>,
    ) -> Result<Option<QueryResult>, DbErr> {
        if let Self::Request(request) = self
            && self.get_database_backend() == DatabaseBackend::Postgres
        {
            let mut state = request.state.lock().await;
            if let RequestState::Idle = &*state {
                let txn = request.pool.begin().await?;
                values.push(
                    request
                        .tenant
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                        .into(),
                );
                let sql = format!(
                    "SELECT set_config('app.tenant_id', ${}, true) AS portal_bound, {select_list}",
                    values.len()
                );
                let row = txn
                    .query_one_raw(Statement::from_sql_and_values(
                        DatabaseBackend::Postgres,
                        sql,
                        values,
                    ))
                    .await;
                // Even a failed statement leaves the transaction to `finish` (which ends it).
                *state = RequestState::Open(Arc::new(txn));
                return row;
            }
        }
        self.query_one_raw(Statement::from_sql_and_values(
            self.get_database_backend(),
            format!("SELECT {select_list}"),
            values,
        ))
        .await
    }
}

impl fmt::Debug for TenantDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = match self {
            Self::Pool(_) => "Pool",
            Self::Scoped(_) => "Scoped",
            Self::Request(_) => "Request",
        };
        f.debug_struct("TenantDb")
            .field("shape", &shape)
            .field("tenant", &self.tenant())
            .finish()
    }
}

/// Sets the transaction's tenant for the row-level security policies (`set_config(..., true)`
/// is local to the transaction, so a pooled connection never carries it into the next one).
/// `None` sets the empty string, which the policies treat as "no tenant".
pub async fn bind<C: ConnectionTrait>(txn: &C, tenant: Option<Uuid>) -> Result<(), DbErr> {
    if txn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let value = tenant.map(|t| t.to_string()).unwrap_or_default();
    txn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT set_config('app.tenant_id', $1, true)",
        [value.into()],
    ))
    .await
    .map(|_| ())
}

impl Scoped {
    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        let txn = self.pool.begin().await?;
        bind(&txn, self.tenant).await?;
        Ok(txn)
    }
}

impl RequestScope {
    /// The request's transaction, begun (and bound) on first use.
    async fn txn(&self) -> Result<Arc<DatabaseTransaction>, DbErr> {
        let mut state = self.state.lock().await;
        match &*state {
            RequestState::Open(txn) => Ok(txn.clone()),
            RequestState::Ended => Err(DbErr::Custom(
                "the request's database transaction has already ended".into(),
            )),
            RequestState::Idle => {
                let txn = if self.write {
                    crate::db::begin_write(&self.pool).await?
                } else {
                    self.pool.begin().await?
                };
                bind(&txn, self.tenant).await?;
                let txn = Arc::new(txn);
                *state = RequestState::Open(txn.clone());
                Ok(txn)
            }
        }
    }

    async fn rollback(&self) -> Result<(), DbErr> {
        let mut state = self.state.lock().await;
        match std::mem::replace(&mut *state, RequestState::Idle) {
            RequestState::Open(txn) => match Arc::try_unwrap(txn) {
                Ok(txn) => txn.rollback().await,
                Err(txn) => {
                    *state = RequestState::Open(txn);
                    Err(DbErr::Custom(
                        "the request's transaction is still in use and cannot be rolled back"
                            .into(),
                    ))
                }
            },
            RequestState::Ended => {
                *state = RequestState::Ended;
                Ok(())
            }
            RequestState::Idle => Ok(()),
        }
    }

    async fn finish(&self) -> Result<(), DbErr> {
        let mut state = self.state.lock().await;
        match std::mem::replace(&mut *state, RequestState::Ended) {
            RequestState::Open(txn) => match Arc::try_unwrap(txn) {
                Ok(txn) => txn.commit().await,
                // Dropping the last clone rolls it back; the request must not report success.
                Err(_) => Err(DbErr::Custom(
                    "the request's transaction was still in use when the request ended".into(),
                )),
            },
            RequestState::Idle | RequestState::Ended => Ok(()),
        }
    }
}

/// Runs one statement in a short transaction bound to the tenant.
macro_rules! delegate {
    ($self:ident, $method:ident, $arg:expr) => {
        match $self {
            TenantDb::Pool(pool) => pool.$method($arg).await,
            TenantDb::Scoped(scoped) => {
                let txn = scoped.begin().await?;
                let out = txn.$method($arg).await?;
                txn.commit().await?;
                Ok(out)
            }
            TenantDb::Request(request) => request.txn().await?.$method($arg).await,
        }
    };
}

#[async_trait::async_trait]
impl ConnectionTrait for TenantDb {
    fn get_database_backend(&self) -> DatabaseBackend {
        self.pool().get_database_backend()
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        delegate!(self, execute_raw, stmt)
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        delegate!(self, execute_unprepared, sql)
    }

    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        delegate!(self, query_one_raw, stmt)
    }

    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        delegate!(self, query_all_raw, stmt)
    }
}

#[async_trait::async_trait]
impl TransactionTrait for TenantDb {
    type Transaction = DatabaseTransaction;

    async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        match self {
            Self::Pool(pool) => pool.begin().await,
            Self::Scoped(scoped) => scoped.begin().await,
            Self::Request(request) => request.txn().await?.begin().await,
        }
    }

    async fn begin_with_config(
        &self,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<DatabaseTransaction, DbErr> {
        match self {
            Self::Pool(pool) => pool.begin_with_config(isolation_level, access_mode).await,
            Self::Scoped(scoped) => {
                let txn = scoped
                    .pool
                    .begin_with_config(isolation_level, access_mode)
                    .await?;
                bind(&txn, scoped.tenant).await?;
                Ok(txn)
            }
            Self::Request(request) => {
                let txn = request.txn().await?;
                txn.begin_with_config(isolation_level, access_mode).await
            }
        }
    }

    async fn begin_with_options(
        &self,
        options: TransactionOptions,
    ) -> Result<DatabaseTransaction, DbErr> {
        match self {
            Self::Pool(pool) => pool.begin_with_options(options).await,
            Self::Scoped(scoped) => {
                let txn = scoped.pool.begin_with_options(options).await?;
                bind(&txn, scoped.tenant).await?;
                Ok(txn)
            }
            Self::Request(request) => request.txn().await?.begin_with_options(options).await,
        }
    }

    async fn transaction<F, T, E>(&self, callback: F) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        let txn = self.begin().await.map_err(TransactionError::Connection)?;
        run(txn, callback).await
    }

    async fn transaction_with_config<F, T, E>(
        &self,
        callback: F,
        isolation_level: Option<IsolationLevel>,
        access_mode: Option<AccessMode>,
    ) -> Result<T, TransactionError<E>>
    where
        F: for<'c> FnOnce(
                &'c DatabaseTransaction,
            ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
            + Send,
        T: Send,
        E: fmt::Display + fmt::Debug + Send,
    {
        let txn = self
            .begin_with_config(isolation_level, access_mode)
            .await
            .map_err(TransactionError::Connection)?;
        run(txn, callback).await
    }
}

/// Commits when the callback succeeds, rolls back when it fails.
async fn run<F, T, E>(txn: DatabaseTransaction, callback: F) -> Result<T, TransactionError<E>>
where
    F: for<'c> FnOnce(
            &'c DatabaseTransaction,
        ) -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'c>>
        + Send,
    T: Send,
    E: fmt::Display + fmt::Debug + Send,
{
    match callback(&txn).await {
        Ok(value) => {
            txn.commit().await.map_err(TransactionError::Connection)?;
            Ok(value)
        }
        Err(err) => {
            txn.rollback().await.map_err(TransactionError::Connection)?;
            Err(TransactionError::Transaction(err))
        }
    }
}
