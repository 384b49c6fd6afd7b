//! Sluice's warehouse side: connections (DuckDB, PostgreSQL), Sluice's own state kept in the
//! warehouse, the units of work a plan runs (`executor`), applying and promoting plans,
//! scheduled runs, the janitor, OpenLineage events, and opening a project with its warehouse
//! (`workspace`). It stands on the engine (`sluice_engine`) and knows nothing of Kubernetes.

pub mod apply;
pub mod executor;
pub mod janitor;
pub mod lineage;
pub mod promote;
pub mod run;
pub mod state;
pub mod state_cache;
pub mod unit_tests;
pub mod warehouse;
pub mod workspace;

/// Whether an error means the warehouse is not there (it could not be reached, or the
/// connection went away), rather than something wrong with what was asked: decided from the
/// types in its chain.
pub fn is_unavailable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        if let Some(e) = cause.downcast_ref::<warehouse::WarehouseError>() {
            return e.is_unavailable();
        }
        match cause.downcast_ref::<state::StateError>() {
            Some(state::StateError::Warehouse(e)) => return e.is_unavailable(),
            Some(_) => return false,
            None => {}
        }
        match cause.downcast_ref::<promote::PromoteError>() {
            Some(promote::PromoteError::Warehouse { error, .. }) => error.is_unavailable(),
            Some(promote::PromoteError::State(state::StateError::Warehouse(e))) => {
                e.is_unavailable()
            }
            _ => false,
        }
    })
}
