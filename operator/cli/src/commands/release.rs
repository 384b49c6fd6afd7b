//! Release records on the command line: a release's evidence, where its project came from,
//! and publishing its OpenLineage event.

use std::path::Path;

use anyhow::{Result, bail};
use sluice_warehouse::state::StateStore;
use sluice_warehouse::workspace::Workspace;

use super::LineageArgs;

/// Sends the release's OpenLineage event where asked; a failure is a warning, never an error:
/// the release has happened.
pub fn publish_lineage(
    wh: &mut dyn sluice_warehouse::warehouse::Warehouse,
    url: &str,
    evidence: &sluice_engine::evidence::Evidence,
    lineage: &LineageArgs,
) {
    if lineage.lineage_url.is_none() && lineage.lineage_file.is_none() {
        return;
    }
    let columns = sluice_warehouse::lineage::view_columns(wh, evidence).unwrap_or_default();
    let event = sluice_warehouse::lineage::event(evidence, url, &columns);
    if let Some(file) = &lineage.lineage_file {
        match sluice_warehouse::lineage::append(file, &event) {
            Ok(()) => println!("Lineage event written to {}.", file.display()),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    if let Some(endpoint) = &lineage.lineage_url {
        match sluice_warehouse::lineage::post_with_retries(endpoint, &event, 3) {
            Ok(()) => println!("Lineage event sent to {endpoint}."),
            Err(e) => eprintln!(
                "warning: the lineage event of {} was not delivered ({e}); the release stands",
                evidence.release
            ),
        }
    }
}

pub fn evidence_command(
    project: &Path,
    warehouse: Option<&str>,
    state: Option<&str>,
    release: &str,
    json: bool,
) -> Result<()> {
    let mut wh = Workspace::warehouse_only(project, warehouse, state)?;
    let mut state = StateStore::new(wh.as_mut());
    state.init()?;
    let Some(text) = state.evidence(release)? else {
        bail!("release {release:?} has no evidence in this warehouse (see `sluice releases`)");
    };
    if json {
        let value: serde_json::Value = serde_json::from_str(&text)?;
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!(
            "{}",
            sluice_engine::evidence::render(&sluice_engine::evidence::decode(&text)?)
        );
    }
    Ok(())
}

/// The project's files digest, and the git commit when the project is in a clean checkout.
pub fn source_info(project: &Path) -> Result<sluice_engine::plan::SourceInfo> {
    let digest = sluice_api::archive::digest_dir(project, &[".sluice", ".git"])
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(project)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let clean = git(&["status", "--porcelain", "--", "."]).is_some_and(|s| s.is_empty());
    let revision = git(&["rev-parse", "HEAD"]).filter(|_| clean);
    Ok(sluice_engine::plan::SourceInfo { digest, revision })
}
