//! The state a plan read from a DuckDB warehouse file, kept until the file changes.
//!
//! DuckDB appends every commit to the file's write-ahead log (`FILE.wal`) and moves it into the
//! database file at checkpoints, so any change to the state changes the size, times or inode
//! of one of the two. The cache is keyed by both, as they were before the warehouse was
//! opened, and is written only when they are unchanged after the state was read (DuckDB's
//! file lock keeps other processes from writing while sluice has it open). Only `sluice plan`,
//! which writes nothing, reads it: `apply` and every other command read the warehouse itself.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::state::PlanState;
use crate::warehouse::duckdb_file;

const FILE: &str = "state.json";

/// The cached state of one DuckDB warehouse file, as the file was when this was made.
pub struct StateCache {
    file: PathBuf,
    database: PathBuf,
    seen: Value,
}

impl StateCache {
    /// The cache for the warehouse at `url`, when it is a DuckDB file that exists (and caching
    /// is on).
    pub fn for_warehouse(project: &Path, url: &str) -> Option<StateCache> {
        let dir = sluice_engine::cache::dir(project)?;
        let database = duckdb_file(url)?.to_path_buf();
        let seen = identity(&database)?;
        Some(StateCache {
            file: dir.join(FILE),
            database,
            seen,
        })
    }

    /// The state read when the warehouse file was exactly as it is now.
    pub fn load(&self) -> Option<PlanState> {
        sluice_engine::cache::read(&self.file, &sluice_engine::cache::header(self.seen.clone()))
    }

    /// Keeps `state`, read from the warehouse after this cache was made, unless the file
    /// changed in between (it may then be newer than what was read).
    pub fn save(&self, state: &PlanState) {
        match identity(&self.database) {
            Some(now) if now == self.seen => {
                sluice_engine::cache::write(&self.file, &sluice_engine::cache::header(now), state)
            }
            _ => tracing::debug!("the warehouse changed while its state was read: not cached"),
        }
    }
}

/// What identifies the contents of a DuckDB database: its file's and its log's device, inode,
/// size, modification and change times. DuckDB keeps the log next to the path it was given,
/// which may be a link to the file: both places are looked at.
fn identity(given: &Path) -> Option<Value> {
    let database = given.canonicalize().ok()?;
    let stat = |path: &Path| {
        std::fs::metadata(path).ok().map(|m| {
            json!([
                m.dev(),
                m.ino(),
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.ctime(),
                m.ctime_nsec()
            ])
        })
    };
    let wal = |path: &Path| {
        let mut wal = path.as_os_str().to_owned();
        wal.push(".wal");
        stat(Path::new(&wal))
    };
    Some(json!({
        "database": database.to_string_lossy(),
        "file": stat(&database)?,
        "wal": [wal(&database), wal(given)],
    }))
}
