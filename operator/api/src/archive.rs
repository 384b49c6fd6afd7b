//! The project archive a Plan's source carries: the project directory as a gzipped tar, built
//! the same way every time (`archive_project`, what `kubectl sluice render` puts in the source
//! ConfigMap), its digest over the files (`digest_dir`), and unpacking an archive defensively
//! (`unpack`: no absolute paths, no `..`, no links or devices, bounded size and entries).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

/// Unpacked projects larger than this are refused.
const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;
const MAX_ENTRIES: usize = 100_000;

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive is not the one its source names (a Flux artifact's digest).
    #[error("{what}: digest is {actual}, but the source says {expected}; refusing it")]
    DigestMismatch {
        what: String,
        actual: String,
        expected: String,
    },
    /// Not an archive, or one that would escape its directory or grow too large.
    #[error("{what}: {message}")]
    Invalid { what: String, message: String },
    /// The project's `path` is not a directory inside the source.
    #[error("{0}")]
    Path(String),
    #[error("writing the project: {0}")]
    Io(#[from] std::io::Error),
}

/// A project unpacked on local disk.
pub struct Unpacked {
    pub dir: tempfile::TempDir,
    /// The project's root inside `dir` (a sub-directory for `path`).
    pub root: PathBuf,
    /// `sha256:...` of the project's files (paths and contents).
    pub digest: String,
}

/// Unpacks a gzipped tar into a new directory. `expected`: the archive's `sha256:<hex>` (Flux).
pub fn unpack(
    archive: &[u8],
    what: &str,
    expected: Option<&str>,
    path: Option<&str>,
) -> Result<Unpacked, ArchiveError> {
    let invalid = |message: String| ArchiveError::Invalid {
        what: what.to_string(),
        message,
    };
    if let Some(expected) = expected {
        let actual = format!("sha256:{}", hex::encode(Sha256::digest(archive)));
        if actual != expected {
            return Err(ArchiveError::DigestMismatch {
                what: what.to_string(),
                actual,
                expected: expected.to_string(),
            });
        }
    }
    let dir = tempfile::Builder::new()
        .prefix("sluice-project-")
        .tempdir()?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let entries = tar
        .entries()
        .map_err(|e| invalid(format!("not a gzipped tar: {e}")))?;
    let (mut total, mut count) = (0u64, 0usize);
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("not a gzipped tar: {e}")))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(invalid(format!("more than {MAX_ENTRIES} entries")));
        }
        let name = entry
            .path()
            .map_err(|e| invalid(format!("bad entry name: {e}")))?
            .into_owned();
        let relative = safe_relative(&name).ok_or_else(|| {
            invalid(format!(
                "entry {} escapes the project directory",
                name.display()
            ))
        })?;
        let kind = entry.header().entry_type();
        let target = dir.path().join(&relative);
        if kind.is_dir() {
            std::fs::create_dir_all(&target)?;
            continue;
        }
        if !kind.is_file() {
            return Err(invalid(format!(
                "entry {} is a {:?}: only files and directories are allowed",
                name.display(),
                kind
            )));
        }
        total += entry.header().size().unwrap_or(0);
        if total > MAX_UNPACKED_BYTES {
            return Err(invalid(format!(
                "unpacks to more than {MAX_UNPACKED_BYTES} bytes"
            )));
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut content = Vec::new();
        entry
            .read_to_end(&mut content)
            .map_err(|e| invalid(format!("reading {}: {e}", name.display())))?;
        std::fs::write(&target, content)?;
    }
    let root = sub_dir(dir.path(), path)?;
    let digest = digest_dir(&root, &[])?;
    Ok(Unpacked { dir, root, digest })
}

/// `name` as a path inside the project, or `None` if it is absolute or climbs out.
fn safe_relative(name: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// The project's directory `path` inside an unpacked source.
pub fn sub_dir(base: &Path, path: Option<&str>) -> Result<PathBuf, ArchiveError> {
    let Some(path) = path.filter(|p| !p.is_empty() && *p != ".") else {
        return Ok(base.to_path_buf());
    };
    let relative = safe_relative(Path::new(path))
        .ok_or_else(|| ArchiveError::Path(format!("path {path:?} escapes the source")))?;
    let root = base.join(relative);
    if !root.is_dir() {
        return Err(ArchiveError::Path(format!(
            "the source has no directory {path:?}"
        )));
    }
    Ok(root)
}

/// `sha256:` over every file's relative path and contents, in path order (`skip`: top-level
/// names left out, like `.git`).
pub fn digest_dir(root: &Path, skip: &[&str]) -> std::io::Result<String> {
    let mut files = Vec::new();
    collect(root, root, skip, &mut files)?;
    files.sort();
    let mut h = Sha256::new();
    for rel in files {
        let content = std::fs::read(root.join(&rel))?;
        let rel = rel.to_string_lossy();
        h.update((rel.len() as u64).to_le_bytes());
        h.update(rel.as_bytes());
        h.update((content.len() as u64).to_le_bytes());
        h.update(&content);
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

fn collect(root: &Path, dir: &Path, skip: &[&str], out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
        if dir == root && skip.iter().any(|s| rel.as_os_str() == *s) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            collect(root, &path, skip, out)?;
        } else if kind.is_file() {
            out.push(rel);
        }
    }
    Ok(())
}

/// A gzipped tar of a project directory (what `sluice render` puts in the source ConfigMap):
/// files only, sorted, without the `.sluice/` working directory, with fixed metadata so the
/// same files always give the same archive.
pub fn archive_project(root: &Path) -> std::io::Result<Vec<u8>> {
    let mut files = Vec::new();
    collect(root, root, &[".sluice", ".git"], &mut files)?;
    files.sort();
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for rel in files {
        let content = std::fs::read(root.join(&rel))?;
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &rel, content.as_slice())?;
    }
    tar.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(*kind);
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                header.set_size(0);
                tar.append_link(&mut header, name, "/etc/passwd").unwrap();
            } else {
                // Bypass the builder's own path checks: write the raw name.
                let bytes = header.as_old_mut();
                bytes.name[..name.len()].copy_from_slice(name.as_bytes());
                header.set_cksum();
                tar.append(&header, *data).unwrap();
            }
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_project_archive_round_trips_with_a_stable_digest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("models")).unwrap();
        std::fs::write(dir.path().join("config.yaml"), "model_defaults: {}\n").unwrap();
        std::fs::write(dir.path().join("models/a.sql"), "SELECT 1").unwrap();
        std::fs::create_dir_all(dir.path().join(".sluice")).unwrap();
        std::fs::write(dir.path().join(".sluice/warehouse.duckdb"), "x").unwrap();
        let archive = archive_project(dir.path()).unwrap();
        assert_eq!(
            archive,
            archive_project(dir.path()).unwrap(),
            "deterministic"
        );
        let fetched = unpack(&archive, "test", None, None).unwrap();
        assert_eq!(
            std::fs::read_to_string(fetched.root.join("models/a.sql")).unwrap(),
            "SELECT 1"
        );
        assert!(!fetched.root.join(".sluice").exists());
        assert_eq!(
            fetched.digest,
            digest_dir(dir.path(), &[".sluice"]).unwrap()
        );
    }

    #[test]
    fn hostile_archives_are_refused() {
        for (name, kind) in [
            ("../escape.sql", tar::EntryType::Regular),
            ("/etc/cron.d/x", tar::EntryType::Regular),
            ("models/link", tar::EntryType::Symlink),
        ] {
            let archive = tar_with(&[(name, kind, b"x")]);
            let error = unpack(&archive, "ConfigMap ns/p", None, None)
                .err()
                .unwrap();
            assert!(
                matches!(error, ArchiveError::Invalid { .. }),
                "{name}: {error}"
            );
            assert!(error.to_string().contains("ConfigMap ns/p"), "{error}");
        }
        let error = unpack(b"not gzip", "ConfigMap ns/p", None, None)
            .err()
            .unwrap();
        assert!(error.to_string().contains("not a gzipped tar"), "{error}");
    }

    #[test]
    fn an_artifact_with_the_wrong_digest_is_refused() {
        let archive = tar_with(&[("config.yaml", tar::EntryType::Regular, b"x")]);
        let error = unpack(&archive, "artifact", Some("sha256:00"), None)
            .err()
            .unwrap();
        assert!(
            matches!(error, ArchiveError::DigestMismatch { .. }),
            "{error}"
        );
    }
}
