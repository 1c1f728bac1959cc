//! One query API over the two ways a transaction reaches its database: sqlx (PostgreSQL, and
//! SQLite's read-only readers) and the in-thread SQLite writer ([`super::lite`]).
//!
//! Statements are written once, with `$n` placeholders, and bound with owned [`Value`]s; rows come
//! back as a [`Row`] that decodes the same way from either side. Typed NULLs matter: PostgreSQL
//! must know a parameter's type even when its value is NULL.

use super::lite::{LiteRow, LiteTx};
use crate::StoreError;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

/// A value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    Int(i64),
    Real(f64),
    Text(String),
    NullInt,
    NullText,
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Self::Text(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Self::NullInt, Self::Int)
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        v.map_or(Self::NullText, Self::Text)
    }
}

impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        v.map_or(Self::NullText, |s| Self::Text(s.to_owned()))
    }
}

/// A statement and its arguments, run by one of the `fetch_*`/`execute` methods.
#[derive(Debug)]
#[must_use = "a query does nothing until it is executed"]
pub(super) struct Query<'q> {
    sql: &'q str,
    args: Vec<Value>,
}

/// Starts a statement; `$1`, `$2`, … refer to the arguments in binding order.
pub(super) fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
    }
}

/// What a statement without rows reports.
#[derive(Debug, Clone, Copy)]
pub(super) struct Done {
    rows_affected: u64,
}

impl Done {
    pub(super) fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

impl<'q> Query<'q> {
    pub(super) fn bind(mut self, value: impl Into<Value>) -> Self {
        self.args.push(value.into());
        self
    }

    fn into_sqlx(self) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        let mut q = sqlx::query(self.sql);
        for v in self.args {
            q = match v {
                Value::Int(i) => q.bind(i),
                Value::Real(r) => q.bind(r),
                Value::Text(s) => q.bind(s),
                Value::NullInt => q.bind(None::<i64>),
                Value::NullText => q.bind(None::<String>),
            };
        }
        q
    }

    pub(super) async fn execute(self, conn: &mut Conn) -> Result<Done, StoreError> {
        match conn {
            Conn::Sqlx(tx) => {
                let done = self.into_sqlx().execute(&mut **tx).await?;
                Ok(Done {
                    rows_affected: done.rows_affected(),
                })
            }
            Conn::Lite(tx) => Ok(Done {
                rows_affected: tx.run(self.sql, &self.args, 0)?.1,
            }),
        }
    }

    pub(super) async fn fetch_all(self, conn: &mut Conn) -> Result<Vec<Row>, StoreError> {
        match conn {
            Conn::Sqlx(tx) => Ok(self
                .into_sqlx()
                .fetch_all(&mut **tx)
                .await?
                .into_iter()
                .map(Row::Sqlx)
                .collect()),
            Conn::Lite(tx) => Ok(tx
                .run(self.sql, &self.args, usize::MAX)?
                .0
                .into_iter()
                .map(Row::Lite)
                .collect()),
        }
    }

    pub(super) async fn fetch_optional(self, conn: &mut Conn) -> Result<Option<Row>, StoreError> {
        match conn {
            Conn::Sqlx(tx) => Ok(self
                .into_sqlx()
                .fetch_optional(&mut **tx)
                .await?
                .map(Row::Sqlx)),
            Conn::Lite(tx) => Ok(tx
                .run(self.sql, &self.args, 1)?
                .0
                .into_iter()
                .next()
                .map(Row::Lite)),
        }
    }

    pub(super) async fn fetch_one(self, conn: &mut Conn) -> Result<Row, StoreError> {
        self.fetch_optional(conn)
            .await?
            .ok_or_else(|| StoreError::Invalid("expected a row".to_owned()))
    }
}

/// An open transaction on either side.
#[derive(Debug)]
pub(super) enum Conn {
    Sqlx(Transaction<'static, Any>),
    Lite(LiteTx),
}

impl Conn {
    pub(super) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Self::Sqlx(tx) => Ok(tx.commit().await?),
            Self::Lite(tx) => tx.commit().await,
        }
    }
}

/// A result row from either side.
pub(super) enum Row {
    Sqlx(AnyRow),
    Lite(LiteRow),
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlx(_) => f.write_str("Row::Sqlx(..)"),
            Self::Lite(row) => row.fmt(f),
        }
    }
}

/// A column by name or by position.
pub(super) trait ColumnIndex: sqlx::ColumnIndex<AnyRow> + std::fmt::Debug + Copy {
    fn position(&self, row: &LiteRow) -> Option<usize>;
}

impl ColumnIndex for &str {
    fn position(&self, row: &LiteRow) -> Option<usize> {
        row.position(self)
    }
}

impl ColumnIndex for usize {
    fn position(&self, row: &LiteRow) -> Option<usize> {
        (*self < row.len()).then_some(*self)
    }
}

/// A type a column decodes into, from either side.
pub(super) trait Decode: Sized {
    fn from_sqlx<I: ColumnIndex>(row: &AnyRow, index: I) -> Result<Self, sqlx::Error>;
    fn from_lite(value: &Value) -> Option<Self>;
}

macro_rules! decode_via_sqlx {
    ($t:ty) => {
        fn from_sqlx<I: ColumnIndex>(row: &AnyRow, index: I) -> Result<Self, sqlx::Error> {
            sqlx::Row::try_get::<$t, I>(row, index)
        }
    };
}

impl Decode for i64 {
    decode_via_sqlx!(i64);
    fn from_lite(value: &Value) -> Option<Self> {
        match value {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

impl Decode for String {
    decode_via_sqlx!(String);
    fn from_lite(value: &Value) -> Option<Self> {
        match value {
            Value::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

impl<T: Decode> Decode for Option<T>
where
    Option<T>: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    fn from_sqlx<I: ColumnIndex>(row: &AnyRow, index: I) -> Result<Self, sqlx::Error> {
        sqlx::Row::try_get::<Option<T>, I>(row, index)
    }
    fn from_lite(value: &Value) -> Option<Self> {
        match value {
            Value::NullInt | Value::NullText => Some(None),
            v => T::from_lite(v).map(Some),
        }
    }
}

impl Row {
    /// The column's value, decoded; a missing column or a value of another type is
    /// [`StoreError::Invalid`].
    pub(super) fn try_get<T: Decode, I: ColumnIndex>(&self, index: I) -> Result<T, StoreError> {
        match self {
            Self::Sqlx(row) => Ok(T::from_sqlx(row, index)?),
            Self::Lite(row) => {
                let value = index
                    .position(row)
                    .map(|i| row.value(i))
                    .ok_or_else(|| StoreError::Invalid(format!("no column {index:?}")))?;
                T::from_lite(value)
                    .ok_or_else(|| StoreError::Invalid(format!("column {index:?} holds {value:?}")))
            }
        }
    }
}
