//! Caches that make a repeated plan cheap, kept in the project's `.sluice/cache/`.
//!
//! - [`queries`]: parsed model queries, keyed by their text: only edited models are parsed
//!   (every command that loads the project uses it).
//! - the state a plan reads from a DuckDB warehouse (the warehouse side's `state_cache`),
//!   keyed by the identity of the database file and its write-ahead log. Opening a DuckDB file reads its whole catalog
//!   (20,000 tables and views for a 10,000-model prod: most of a plan's time), while a plan
//!   needs a small part of it.
//!
//! Each file starts with a header line naming the sluice build that wrote it and what it was
//! computed from; a file whose header does not match exactly is ignored and rewritten, so a
//! cache can be stale only in ways that are never read. Caches are only ever an
//! optimization: failing to read or write one is logged at debug level and otherwise
//! ignored, and deleting the directory is always safe. `SLUICE_PLAN_CACHE=off` turns both
//! off.

pub mod queries;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Bumped when a cache file's layout changes.
const FORMAT: u32 = 1;

/// The project's cache directory, unless caching is turned off.
pub fn dir(project: &Path) -> Option<PathBuf> {
    let off = std::env::var("SLUICE_PLAN_CACHE").is_ok_and(|v| v == "off" || v == "0");
    (!off).then(|| project.join(".sluice").join("cache"))
}

/// The sluice build: its version and its executable's size and modification time, so that a
/// rebuilt binary (whose parser or state decoding may differ) never reads another's cache.
fn build() -> Value {
    let exe = std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| json!([m.len(), m.mtime(), m.mtime_nsec()]))
        .unwrap_or(Value::Null);
    json!({"format": FORMAT, "version": env!("CARGO_PKG_VERSION"), "exe": exe})
}

/// The header a cache file computed from `source` carries.
pub fn header(source: Value) -> Value {
    json!({"build": build(), "source": source})
}

/// The body of the cache file at `path` if its header is exactly `header`.
pub fn read<T: DeserializeOwned>(path: &Path, header: &Value) -> Option<T> {
    let text = std::fs::read(path).ok()?;
    let newline = text.iter().position(|&b| b == b'\n')?;
    let found: Value = serde_json::from_slice(&text[..newline]).ok()?;
    if &found != header {
        tracing::debug!(cache = %path.display(), "cache written from something else: ignored");
        return None;
    }
    match serde_json::from_slice(&text[newline + 1..]) {
        Ok(body) => Some(body),
        Err(e) => {
            tracing::debug!(cache = %path.display(), error = %e, "unreadable cache: ignored");
            None
        }
    }
}

/// Replaces the cache file at `path` (written aside and renamed, so a reader never sees half a
/// file and concurrent writers leave one whole file).
pub fn write<T: Serialize>(path: &Path, header: &Value, body: &T) {
    let aside = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let dir = path
            .parent()
            .expect("cache files are in the cache directory");
        std::fs::create_dir_all(dir)?;
        // Never part of the project's sources: git ignores the whole directory.
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(&ignore, "*\n")?;
        }
        let mut out = std::io::BufWriter::new(std::fs::File::create(&aside)?);
        serde_json::to_writer(&mut out, header)?;
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut out, body)?;
        out.into_inner().map_err(|e| e.into_error())?;
        std::fs::rename(&aside, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&aside);
        tracing::debug!(cache = %path.display(), error = %e, "cache not written");
    }
}
