//! Fetching a Plan's project: from a ConfigMap holding a gzipped tar, a git repository at a
//! revision (`git`), or a Flux source's artifact (`flux`). Archives are unpacked defensively (no
//! absolute paths, no `..`, no links or devices, bounded size), and every source gets a digest
//! of the files planned, so the Plan records exactly what it computed.

mod flux;
pub mod git;

use std::path::PathBuf;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use sluice_api::archive::{self, ArchiveError, Unpacked};
use sluice_api::plan::{ConfigMapSource, PlanSource};

use super::error::{Error, Result};

pub use git::GitLimits;

/// A project on local disk, ready to load.
pub struct FetchedProject {
    pub dir: tempfile::TempDir,
    /// The project's root inside `dir` (a sub-directory for `path`).
    pub root: PathBuf,
    /// `sha256:...` of the project's files (paths and contents).
    pub digest: String,
    /// The git commit or artifact revision, when the source has one.
    pub revision: Option<String>,
}

/// Fetches the project a Plan names.
pub async fn fetch(
    client: &kube::Client,
    namespace: &str,
    source: &PlanSource,
    limits: &GitLimits,
) -> Result<FetchedProject> {
    match (&source.config_map, &source.git, &source.flux) {
        (Some(cm), None, None) => from_config_map(client, namespace, cm).await,
        (None, Some(git), None) => {
            let (git, limits) = (git.clone(), limits.clone());
            tokio::task::spawn_blocking(move || git::clone(&git, &limits)).await?
        }
        (None, None, Some(flux)) => flux::fetch(client, namespace, flux).await,
        _ => Err(Error::stalled(
            "InvalidSource",
            "spec.source must set exactly one of configMap, git and flux",
        )),
    }
}

async fn from_config_map(
    client: &kube::Client,
    namespace: &str,
    source: &ConfigMapSource,
) -> Result<FetchedProject> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = api.get_opt(&source.name).await?.ok_or_else(|| {
        Error::stalled(
            "SourceNotFound",
            format!(
                "ConfigMap {namespace}/{} (the project) does not exist",
                source.name
            ),
        )
    })?;
    let archive = cm
        .binary_data
        .as_ref()
        .and_then(|d| d.get(&source.key))
        .map(|b| b.0.clone())
        .ok_or_else(|| {
            Error::stalled(
                "InvalidSource",
                format!(
                    "ConfigMap {namespace}/{} has no binaryData key {:?} holding the project \
                     (a gzipped tar; `kubectl sluice render` writes one)",
                    source.name, source.key
                ),
            )
        })?;
    let what = format!("ConfigMap {namespace}/{} key {}", source.name, source.key);
    tokio::task::spawn_blocking(move || unpack(&archive, &what, None, None)).await?
}

/// Unpacks a source archive (`expected`: its `sha256:<hex>`, for a Flux artifact); a refused
/// archive Stalls the Plan, naming what was wrong.
pub fn unpack(
    archive: &[u8],
    what: &str,
    expected: Option<&str>,
    path: Option<&str>,
) -> Result<FetchedProject> {
    let Unpacked { dir, root, digest } =
        archive::unpack(archive, what, expected, path).map_err(refused)?;
    Ok(FetchedProject {
        dir,
        root,
        digest,
        revision: None,
    })
}

/// A refused archive, as the Plan's condition says it.
pub fn refused(error: ArchiveError) -> Error {
    match error {
        ArchiveError::DigestMismatch { .. } => {
            Error::stalled("ArtifactDigestMismatch", error.to_string())
        }
        ArchiveError::Invalid { .. } | ArchiveError::Path(_) => {
            Error::stalled("InvalidSource", error.to_string())
        }
        ArchiveError::Io(e) => Error::Io(e),
    }
}
