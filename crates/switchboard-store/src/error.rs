//! Store errors, classified once so callers never inspect database messages.

/// What went wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated; carries the constraint or index name when known.
    #[error("conflict on {0}")]
    Conflict(String),
    /// A referenced row does not exist.
    #[error("reference to a missing row ({0})")]
    MissingReference(String),
    /// A CHECK / NOT NULL constraint failed, or a stored value could not be decoded.
    #[error("invalid data: {0}")]
    Invalid(String),
    /// The pool had no connection in time, or the database is locked/unreachable for now.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Anything else the database reported.
    #[error("database error: {0}")]
    Backend(#[source] sqlx::Error),
    /// Anything else SQLite's in-place writer reported.
    #[error("database error: {0}")]
    Sqlite(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match err {
            sqlx::Error::Database(db) => {
                let name = db.constraint().unwrap_or_default().to_owned();
                match db.kind() {
                    ErrorKind::UniqueViolation => Self::Conflict(name),
                    ErrorKind::ForeignKeyViolation => Self::MissingReference(name),
                    ErrorKind::NotNullViolation | ErrorKind::CheckViolation => {
                        Self::Invalid(db.message().to_owned())
                    }
                    // `ErrorKind` is non-exhaustive; SQLite reports lock contention as `Other`.
                    _ => {
                        if is_sqlite_busy(db.code().as_deref()) {
                            Self::Unavailable(db.message().to_owned())
                        } else {
                            Self::Backend(sqlx::Error::Database(db))
                        }
                    }
                }
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                Self::Unavailable(err.to_string())
            }
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => Self::Unavailable(err.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnIndexOutOfBounds { .. } => Self::Invalid(err.to_string()),
            sqlx::Error::RowNotFound => Self::Invalid("expected a row".to_owned()),
            // sqlx::Error is non-exhaustive: configuration, protocol, migration and worker errors.
            other => Self::Backend(other),
        }
    }
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), including their extended codes.
fn is_sqlite_busy(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

impl StoreError {
    /// True for conflicts on a given constraint/index name (names are ours, from the migrations).
    pub fn is_conflict_on(&self, fragment: &str) -> bool {
        matches!(self, Self::Conflict(name) if name.contains(fragment))
    }
}
