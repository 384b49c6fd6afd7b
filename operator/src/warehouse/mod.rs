//! The warehouse: where physical tables, environment views and Sluice's own state live.
//!
//! One small trait, two adapters (embedded DuckDB, PostgreSQL). Everything above it speaks
//! plain SQL that both understand, so the engine itself never imports a database driver.

use crate::model::Dialect;

/// A database error, with the statement that caused it.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("cannot connect to warehouse {url}: {message}")]
    Connect { url: String, message: String },
    #[error("{message}\n  while running: {sql}")]
    Sql { sql: String, message: String },
    #[error("invalid warehouse URL {url:?}: {message}")]
    Url { url: String, message: String },
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
}
