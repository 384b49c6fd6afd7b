//! A warehouse whose Sluice state lives on another connection (SQLMesh's `state_connection`).
//!
//! Everything Sluice runs goes to the data connection, except the state store's statements,
//! which it sends to [`Warehouse::state_connection`]. A transaction spans both connections:
//! `begin` opens one on each, `commit` commits the data first and the state second. Two
//! databases cannot commit as one, so the order is chosen for crashes: state never records
//! something the data does not have (a table, an interval, a flipped view). A crash between
//! the two commits leaves data ahead of the state, and every step that writes state is safe to
//! repeat: the next attempt finds the state as it was and does the step again.

use sluice_engine::model::Dialect;

use super::{Result, Row, Warehouse, connect};

/// Data on one connection, Sluice's state on another.
pub struct StateApart {
    data: Box<dyn Warehouse>,
    state: Box<dyn Warehouse>,
}

impl StateApart {
    pub fn new(data: Box<dyn Warehouse>, state: Box<dyn Warehouse>) -> StateApart {
        StateApart { data, state }
    }
}

impl Warehouse for StateApart {
    fn dialect(&self) -> Dialect {
        self.data.dialect()
    }

    fn execute(&mut self, sql: &str) -> Result<()> {
        self.data.execute(sql)
    }

    fn query(&mut self, sql: &str) -> Result<Vec<Row>> {
        self.data.query(sql)
    }

    fn begin(&mut self) -> Result<()> {
        self.data.begin()?;
        if let Err(e) = self.state.begin() {
            let _ = self.data.rollback();
            return Err(e);
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<()> {
        if let Err(e) = self.data.commit() {
            let _ = self.state.rollback();
            return Err(e);
        }
        self.state.commit()
    }

    fn rollback(&mut self) -> Result<()> {
        let data = self.data.rollback();
        let state = self.state.rollback();
        data.and(state)
    }

    fn state_connection(&mut self) -> Option<&mut dyn Warehouse> {
        Some(self.state.as_mut())
    }

    fn atomic_flip(&self) -> bool {
        self.data.atomic_flip()
    }
}

/// Opens the warehouse at `url`, with Sluice's state at `state` when given (and not the same
/// URL): a PostgreSQL database (or a DuckDB file) of its own.
pub fn connect_with_state(url: &str, state: Option<&str>) -> Result<Box<dyn Warehouse>> {
    let state = state
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != url.trim());
    let Some(state_url) = state else {
        if url.trim().starts_with("sc://") {
            return Err(super::WarehouseError::Url {
                url: url.trim().to_string(),
                message: "Spark has no transactions, so Sluice keeps its state in a PostgreSQL \
                          database of its own: give one with --state / SLUICE_STATE (the \
                          Environment's spec.warehouse.stateSecretRef, or the gateway's \
                          state_connection)"
                    .to_string(),
            });
        }
        return connect(url);
    };
    if state_url.starts_with("sc://") {
        return Err(super::WarehouseError::Url {
            url: state_url.to_string(),
            message: "Sluice's state cannot live on Spark (no transactions): use a PostgreSQL \
                      database"
                .to_string(),
        });
    }
    let data = connect(url)?;
    let state = connect(state_url)?;
    Ok(Box::new(StateApart::new(data, state)))
}
