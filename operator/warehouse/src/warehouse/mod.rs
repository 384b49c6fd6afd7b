//! The warehouse: where physical tables, environment views and Sluice's own state live.
//!
//! One small trait, two adapters (embedded DuckDB, PostgreSQL). Everything above it speaks
//! plain SQL that both understand, so the engine itself never imports a database driver.
//! Sluice's state lives in the warehouse itself unless a state connection is given
//! ([`connect_with_state`]): then [`StateApart`] routes the state store to it.

use sluice_engine::model::Dialect;

pub use apart::{StateApart, connect_with_state};
pub use catalog::{existing_physical_tables, physical_relations, table_columns};

mod apart;
mod catalog;
#[cfg(feature = "duckdb")]
pub mod duckdb;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "spark")]
pub mod spark;
#[cfg(feature = "postgres")]
mod tls;

/// A database error, with the statement that caused it.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("cannot connect to warehouse {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{message}\n  while running: {sql}")]
    Sql { sql: String, message: String },
    #[error("invalid warehouse URL {url:?}: {message}")]
    Url { url: String, message: String },
    /// The connection went away mid-way (closed, reset, the server shutting down or starting
    /// up): retrying later on a new connection can succeed, unlike a failed statement.
    #[error("lost the warehouse connection: {message}\n  while running: {sql}")]
    Lost { sql: String, message: String },
    /// A lock was not granted within the session's `lock_timeout` (or a deadlock was broken):
    /// someone else holds the object; the same statement can succeed a moment later.
    #[error("{message}\n  while running: {sql}")]
    Busy { sql: String, message: String },
}

impl WarehouseError {
    /// Whether the warehouse is not there (rather than a statement being wrong): worth
    /// retrying later, never the input's fault.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            WarehouseError::Connect { .. } | WarehouseError::Lost { .. }
        )
    }

    /// Whether a lock could not be had in time: another session holds it.
    pub fn is_busy(&self) -> bool {
        matches!(self, WarehouseError::Busy { .. })
    }
}

pub type Result<T> = std::result::Result<T, WarehouseError>;

/// One row of a query result, every value rendered as text (`None` = SQL NULL).
pub type Row = Vec<Option<String>>;

/// A connection to a warehouse.
pub trait Warehouse: Send {
    fn dialect(&self) -> Dialect;

    /// Runs one or more `;`-separated statements that return no rows.
    fn execute(&mut self, sql: &str) -> Result<()>;

    /// Runs a query and returns its rows with every value as text.
    fn query(&mut self, sql: &str) -> Result<Vec<Row>>;

    /// Starts a transaction; DDL inside it is transactional on both warehouses.
    fn begin(&mut self) -> Result<()> {
        self.execute("BEGIN")
    }

    fn commit(&mut self) -> Result<()> {
        self.execute("COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        self.execute("ROLLBACK")
    }

    /// The connection Sluice's own state (the `sluice` schema) lives on, when it is not this
    /// one: see [`StateApart`].
    fn state_connection(&mut self) -> Option<&mut dyn Warehouse> {
        None
    }

    /// Whether one transaction can move every view of an environment at once, so a reader
    /// never sees a mix of two releases ("atomic"); `false` where views can only be swapped
    /// one by one ("per view": Spark).
    fn atomic_flip(&self) -> bool {
        true
    }
}

/// How a warehouse's flip is seen by readers, as plans and evidence name it.
pub fn consistency_level(warehouse: &dyn Warehouse) -> &'static str {
    if warehouse.atomic_flip() {
        "atomic"
    } else {
        "per view"
    }
}

/// What follows `duckdb:` in a DuckDB URL: a path, `:memory:`, or nothing.
fn duckdb_path(url: &str) -> Option<&str> {
    let path = url.trim().strip_prefix("duckdb:")?;
    // `duckdb:///abs/path` is accepted too, for people used to URL syntax.
    Some(path.strip_prefix("//").unwrap_or(path))
}

/// The database file of a `duckdb:PATH` URL (`None` for other warehouses and
/// `duckdb::memory:`).
pub fn duckdb_file(url: &str) -> Option<&std::path::Path> {
    let path = duckdb_path(url)?;
    (!path.is_empty() && path != ":memory:").then(|| std::path::Path::new(path))
}

/// Opens a warehouse from its URL: `duckdb:PATH` (parent directories are created),
/// `duckdb::memory:` for a private in-memory database, or `postgres://...` /
/// `postgresql://...` (libpq-style URL).
pub fn connect(url: &str) -> Result<Box<dyn Warehouse>> {
    let url = url.trim();
    if let Some(path) = duckdb_path(url) {
        return connect_duckdb(url, path);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return connect_postgres(url);
    }
    if url.starts_with("sc://") {
        return connect_spark(url);
    }
    Err(WarehouseError::Url {
        url: url.to_string(),
        message: "expected duckdb:PATH, duckdb::memory:, postgres://USER@HOST:PORT/DATABASE \
                  or sc://HOST:PORT (Spark Connect)"
            .to_string(),
    })
}

#[cfg(feature = "spark")]
fn connect_spark(url: &str) -> Result<Box<dyn Warehouse>> {
    Ok(Box::new(spark::SparkWarehouse::connect(url)?))
}

#[cfg(not(feature = "spark"))]
fn connect_spark(url: &str) -> Result<Box<dyn Warehouse>> {
    Err(WarehouseError::Url {
        url: url.to_string(),
        message: "this build of sluice has no Spark support (built without the `spark` feature)"
            .to_string(),
    })
}

#[cfg(feature = "duckdb")]
fn connect_duckdb(url: &str, path: &str) -> Result<Box<dyn Warehouse>> {
    if path.is_empty() {
        return Err(WarehouseError::Url {
            url: url.to_string(),
            message: "no database file given (use duckdb:PATH or duckdb::memory:)".to_string(),
        });
    }
    let warehouse = if path == ":memory:" {
        duckdb::DuckdbWarehouse::open_in_memory()?
    } else {
        duckdb::DuckdbWarehouse::open(std::path::Path::new(path))?
    };
    Ok(Box::new(warehouse))
}

#[cfg(not(feature = "duckdb"))]
fn connect_duckdb(url: &str, _path: &str) -> Result<Box<dyn Warehouse>> {
    Err(WarehouseError::Url {
        url: url.to_string(),
        message: "this build of sluice has no DuckDB support (built without the `duckdb` feature)"
            .to_string(),
    })
}

#[cfg(feature = "postgres")]
fn connect_postgres(url: &str) -> Result<Box<dyn Warehouse>> {
    Ok(Box::new(postgres::PostgresWarehouse::connect(url)?))
}

#[cfg(not(feature = "postgres"))]
fn connect_postgres(url: &str) -> Result<Box<dyn Warehouse>> {
    Err(WarehouseError::Url {
        url: url.to_string(),
        message:
            "this build of sluice has no PostgreSQL support (built without the `postgres` feature)"
                .to_string(),
    })
}
