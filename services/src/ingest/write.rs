//! The rows a stored result adds or changes, sent together: on PostgreSQL as one statement
//! (data-modifying CTEs, whose foreign keys are checked at the end of the statement), on
//! SQLite, which has no data-modifying CTEs, one statement each in the order given.

use sea_orm::sea_query::{
    Alias, CommonTableExpression, InsertStatement, UpdateStatement, WithClause,
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryTrait};

enum Part {
    Insert(InsertStatement),
    Update(UpdateStatement),
}

/// Inserts and updates to send in one go; parents before children.
#[derive(Default)]
pub(super) struct Writes {
    parts: Vec<Part>,
}

impl Writes {
    /// One multi-row INSERT of `rows` (none for no rows).
    pub(super) fn insert<A, I>(&mut self, rows: I)
    where
        A: ActiveModelTrait,
        I: IntoIterator<Item = A>,
    {
        let rows: Vec<A> = rows.into_iter().collect();
        if !rows.is_empty() {
            self.statement(<A::Entity as EntityTrait>::insert_many(rows).into_query());
        }
    }

    pub(super) fn statement(&mut self, insert: InsertStatement) {
        self.parts.push(Part::Insert(insert));
    }

    pub(super) fn update(&mut self, update: UpdateStatement) {
        self.parts.push(Part::Update(update));
    }

    pub(super) async fn run<C: ConnectionTrait>(self, db: &C) -> Result<(), DbErr> {
        let backend = db.get_database_backend();
        if backend != DatabaseBackend::Postgres || self.parts.len() < 2 {
            for part in &self.parts {
                match part {
                    Part::Insert(insert) => db.execute(insert).await?,
                    Part::Update(update) => db.execute(update).await?,
                };
            }
            return Ok(());
        }
        let mut parts = self.parts;
        let last = parts.pop();
        let mut with = WithClause::new();
        for (i, part) in parts.into_iter().enumerate() {
            let mut cte = CommonTableExpression::new();
            match part {
                Part::Insert(insert) => cte.query(insert),
                Part::Update(update) => cte.query(update),
            };
            with.cte(cte.table_name(Alias::new(format!("w{i}"))).to_owned());
        }
        let query = match last {
            Some(Part::Insert(insert)) => with.query(insert),
            Some(Part::Update(update)) => with.query(update),
            None => return Ok(()),
        };
        db.execute(&query).await?;
        Ok(())
    }
}
